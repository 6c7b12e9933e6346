import Logging
import NIOCore
import NIOPosix
import OverlayWire
import Prometheus
import ServiceLifecycle
import Synchronization

/// How a client process runs its virtual clients.
public struct ClientConfiguration: Sendable {
    /// The process's name (its instance name); supernodes see it in attaches.
    public var name = "client-1"
    /// The local address every connection is made from, so the far side knows the instance.
    public var bind: String?
    public var auth = Endpoint(host: "127.0.0.1", port: 7100)
    /// Supernodes to start from; more are learned from gossip.
    public var supernodes: [Endpoint] = []
    public var metrics: ListenAddress? = .endpoint(Endpoint(host: "127.0.0.1", port: 9300))
    /// The lab seed: passwords derive from it.
    public var seed = "stormlab"
    /// How many virtual clients this process hosts, each with its own TCP connection.
    public var virtualClients = 100
    /// The first user's number: this process logs in `user-firstUser … user-(firstUser+virtual-1)`.
    public var firstUser = 1
    /// Users in the whole lab, looked up at random; nil for this process's own.
    public var users: Int?
    public var policy = Policy.adaptive
    public var heartbeatInterval = Duration.seconds(1)
    public var lookupInterval = Duration.seconds(5)
    /// A request with no answer for this long counts as failed, and a silent session as lost.
    public var responseTimeout = Duration.seconds(3)
    /// How long a login may take before the client gives up and tries again; nil for the
    /// policy's: legacy 500 ms (the 2007 client's impatience, which turns a slow auth into a retry
    /// storm), adaptive 30 s.
    public var loginTimeout: Duration?
    /// Virtual clients start spread evenly over this window (zero: all at once, as after a reboot).
    public var startSpread = Duration.zero
    /// Where this process serves as a supernode once promoted; nil: it cannot be promoted.
    public var promoteListen: ListenAddress?
    public var promoteAdvertise: Endpoint?
    /// The capacity it takes on as a supernode.
    public var promotedCapacity = 1000

    public init() {}
}

struct ClientMetrics: Sendable {
    let common: CommonMetrics
    let online: Gauge
    let logins: LabelledCounters
    let loginDuration: DurationHistogram
    let attaches: LabelledCounters
    let retries: LabelledCounters
    let lookups: LabelledCounters
    let sessionsLost: Counter
    let promoted: Gauge
    let knownSupernodes: Gauge

    init(_ registry: PrometheusCollectorRegistry, virtualClients: Int) {
        common = CommonMetrics(registry, role: "client")
        registry.gauge("stormlab_client_virtual_clients", help: "Virtual clients this process hosts.").set(to: Double(virtualClients))
        online = registry.gauge("stormlab_client_online", help: "Virtual clients attached to a supernode now.")
        logins = LabelledCounters(
            registry, name: "stormlab_client_logins_total", label: "outcome",
            values: ["ok", "busy", "rejected", "failed"], help: "Login attempts, by outcome."
        )
        loginDuration = registry.durationHistogram(
            "stormlab_client_login_duration_seconds", help: "Time from sending a login to receiving a token."
        )
        attaches = LabelledCounters(
            registry, name: "stormlab_client_attaches_total", label: "outcome",
            values: ["accepted", "redirected", "busy", "rejected", "failed"], help: "Attach attempts, by outcome."
        )
        retries = LabelledCounters(
            registry, name: "stormlab_client_retries_total", label: "stage",
            values: ["login", "attach", "session"], help: "Waits before trying again, by what failed."
        )
        lookups = LabelledCounters(
            registry, name: "stormlab_client_lookups_total", label: "outcome",
            values: ["found", "not_found", "failed"], help: "Lookups of other users, by outcome."
        )
        sessionsLost = registry.counter("stormlab_client_sessions_lost_total", help: "Attached sessions that ended without shutdown.")
        promoted = registry.gauge("stormlab_client_promoted", help: "1 once this process also serves as a supernode.")
        knownSupernodes = registry.gauge("stormlab_client_known_supernodes", help: "Supernodes this process knows.")
    }
}

/// A client process: many virtual clients, each logging in, attaching to a supernode, sending
/// heartbeats and lookups, and coming back per its retry policy when anything fails. Promoted by
/// a supernode, the process also serves as a supernode on its own address.
public final class ClientSwarm: Service, Sendable {
    public let configuration: ClientConfiguration
    public let registry = PrometheusCollectorRegistry()
    let metrics: ClientMetrics
    private let logger: Logger
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private let state: Mutex<SwarmState>
    private let promotions: AsyncStream<Void>
    private let promotionSink: AsyncStream<Void>.Continuation

    struct KnownSupernode: Sendable {
        var loadPerMille: UInt16 = 0
        var failedAt: Duration?
    }

    struct SwarmState: Sendable {
        var known: [Endpoint: KnownSupernode] = [:]
        var order: [Endpoint] = []
        var online = 0
        var promoted = false
    }

    public init(configuration: ClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = ClientMetrics(registry, virtualClients: configuration.virtualClients)
        self.started = ContinuousClock.now
        var initial = SwarmState()
        for endpoint in configuration.supernodes where initial.known[endpoint] == nil {
            initial.known[endpoint] = KnownSupernode()
            initial.order.append(endpoint)
        }
        self.state = Mutex(initial)
        (promotions, promotionSink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    private var now: Duration { clock.now - started }

    /// Virtual clients attached now.
    public var online: Int { state.withLock { $0.online } }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var metricsChannel: (any Channel)?
        if let address = configuration.metrics {
            metricsChannel = try await MetricsServer(registry: registry, address: address).start()
        }
        let supervision = Supervision(logger: logger)
        metrics.knownSupernodes.set(to: Double(state.withLock { $0.order.count }))
        logger.info("client swarm starting", metadata: [
            "virtual": "\(configuration.virtualClients)", "policy": "\(configuration.policy)",
            "auth": "\(configuration.auth)", "supernodes": "\(configuration.supernodes.count)",
        ])
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await supervision.keepAlive { "\(self.online)/\(self.configuration.virtualClients) online" } }
            tasks.addTask { await self.serveWhenPromoted() }
            let spread = configuration.startSpread / max(1, configuration.virtualClients)
            for index in 0..<configuration.virtualClients {
                tasks.addTask {
                    try? await Task.sleep(for: spread * index)
                    await cancelWhenGracefulShutdown { await self.runVirtualClient(index: index, group: group) }
                }
            }
            supervision.ready(status: "0/\(configuration.virtualClients) online")
            await cancelWhenGracefulShutdown { await Self.waitForever() }
            supervision.stopping()
            tasks.cancelAll()
        }
        promotionSink.finish()
        try? await metricsChannel?.close().get()
        logger.info("client swarm stopped")
    }

    private static func waitForever() async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    // MARK: Promotion

    private func promote() {
        guard configuration.promoteListen != nil else { return }
        let first = state.withLock { state -> Bool in
            defer { state.promoted = true }
            return !state.promoted
        }
        if first { promotionSink.yield() }
    }

    private func serveWhenPromoted() async {
        guard let listen = configuration.promoteListen else { return }
        for await _ in promotions {
            metrics.promoted.set(to: 1)
            var supernode = SupernodeConfiguration()
            supernode.name = "promoted-\(configuration.name)"
            supernode.listen = listen
            supernode.advertise = configuration.promoteAdvertise
            supernode.metrics = nil  // served with this process's own metrics
            supernode.seed = configuration.seed
            supernode.peers = state.withLock { $0.order }
            supernode.policy = configuration.policy
            supernode.capacity = configuration.promotedCapacity
            supernode.promoted = true
            logger.notice("promoted: serving as a supernode too", metadata: ["listen": "\(listen)"])
            let server = SupernodeServer(configuration: supernode, logger: logger, registry: registry)
            do {
                try await server.run()
            } catch {
                logger.error("promoted supernode failed", metadata: ["error": "\(error)"])
            }
            return
        }
    }

    // MARK: Supernode choice

    private func learn(_ peers: [PeerInfo]) {
        let count = state.withLock { state in
            for peer in peers {
                if state.known[peer.endpoint] == nil { state.order.append(peer.endpoint) }
                state.known[peer.endpoint, default: KnownSupernode()].loadPerMille = UInt16(clamping: Int(peer.load * 1000))
                state.known[peer.endpoint]?.failedAt = nil
            }
            return state.order.count
        }
        metrics.knownSupernodes.set(to: Double(count))
    }

    private func markFailed(_ endpoint: Endpoint) {
        let now = self.now
        state.withLock { $0.known[endpoint]?.failedAt = now }
    }

    /// Legacy walks its list in order from a fixed start, with no regard for load. Adaptive takes
    /// the less loaded of two random supernodes that have not failed in the last few seconds.
    private func chooseSupernode(index: Int, attempt: Int) -> Endpoint? {
        let now = self.now
        return state.withLock { state -> Endpoint? in
            guard !state.order.isEmpty else { return nil }
            switch configuration.policy {
            case .legacy:
                return state.order[(index + attempt) % state.order.count]
            default:
                let healthy = state.order.filter { state.known[$0]?.failedAt.map { now - $0 > .seconds(3) } ?? true }
                let pool = healthy.isEmpty ? state.order : healthy
                let a = pool.randomElement()!, b = pool.randomElement()!
                return (state.known[a]?.loadPerMille ?? 0) <= (state.known[b]?.loadPerMille ?? 0) ? a : b
            }
        }
    }

    // MARK: A virtual client

    enum SessionEnd {
        case redirected(Endpoint)
        case busy(Duration)
        case tokenRejected
        case failed
        case lost
    }

    private func runVirtualClient(index: Int, group: any EventLoopGroup) async {
        let user = "user-\(configuration.firstUser + index)"
        let password = SyntheticUsers.password(for: user, seed: configuration.seed)
        var retry = RetryPolicy(policy: configuration.policy)
        var token: SignedToken?
        var redirect: Endpoint?
        var attempt = 0
        while !Task.isCancelled {
            if token == nil || token!.expiresAt <= unixSeconds() + 30 {
                switch await login(user: user, password: password, group: group) {
                case .token(let fresh):
                    token = fresh
                case .busy(let millis, _):
                    metrics.retries.increment("login")
                    await wait(&retry, retryAfter: .milliseconds(millis))
                    continue
                case nil, .some:
                    metrics.retries.increment("login")
                    await wait(&retry, retryAfter: nil)
                    continue
                }
            }
            guard let endpoint = redirect ?? chooseSupernode(index: index, attempt: attempt) else {
                await wait(&retry, retryAfter: nil)
                continue
            }
            redirect = nil
            attempt += 1
            switch await session(at: endpoint, token: token!, user: user, group: group, retry: &retry) {
            case .redirected(let target):
                redirect = target
            case .busy(let retryAfter):
                metrics.retries.increment("attach")
                await wait(&retry, retryAfter: retryAfter)
            case .tokenRejected:
                token = nil
                metrics.retries.increment("attach")
                await wait(&retry, retryAfter: nil)
            case .failed:
                markFailed(endpoint)
                metrics.retries.increment("attach")
                await wait(&retry, retryAfter: nil)
            case .lost:
                if Task.isCancelled { return }
                markFailed(endpoint)
                metrics.sessionsLost.increment()
                metrics.retries.increment("session")
                await wait(&retry, retryAfter: nil)
            }
        }
    }

    private func wait(_ retry: inout RetryPolicy, retryAfter: Duration?) async {
        let action = retry.failed(now: now, retryAfter: retryAfter, random: Double.random(in: 0..<1))
        if case .wait(let delay) = action { try? await Task.sleep(for: delay) }
    }

    /// One login round trip; nil when auth could not be reached or did not answer in time.
    private func login(user: String, password: String, group: any EventLoopGroup) async -> Message? {
        let sent = clock.now
        let timeout = configuration.loginTimeout ?? (configuration.policy == .legacy ? .milliseconds(500) : .seconds(30))
        let reply = await request(.login(user: user, password: password), to: configuration.auth, group: group, timeout: timeout)
        switch reply {
        case .token:
            metrics.logins.increment("ok")
            metrics.loginDuration.recordNanoseconds(Int64((clock.now - sent).seconds * 1e9))
        case .busy: metrics.logins.increment("busy")
        case .error: metrics.logins.increment("rejected")
        default: metrics.logins.increment("failed")
        }
        return reply
    }

    /// Opens a connection, sends one message, returns the first answer (nil on failure or timeout).
    private func request(_ message: Message, to endpoint: Endpoint, group: any EventLoopGroup, timeout: Duration) async -> Message? {
        guard let channel = try? await Framing.connect(to: endpoint, from: configuration.bind, group: group) else { return nil }
        return try? await channel.executeThenClose { inbound, outbound in
            try await outbound.write(message)
            return try await Self.first(of: inbound, within: timeout, closing: channel.channel)
        }
    }

    /// The first message from `inbound`, or nil when none comes within `timeout` (the channel is
    /// then closed, which ends the read).
    private static func first(
        of inbound: NIOAsyncChannelInboundStream<Inbound>, within timeout: Duration, closing channel: any Channel
    ) async throws -> Message? {
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.seconds * 1e9))) { channel.close(promise: nil) }
        defer { timer.cancel() }
        for try await item in inbound { return item.message }
        return nil
    }

    /// Attaches at `endpoint` and, once attached, keeps the session alive until it fails.
    private func session(
        at endpoint: Endpoint, token: SignedToken, user: String, group: any EventLoopGroup, retry: inout RetryPolicy
    ) async -> SessionEnd {
        guard let channel = try? await Framing.connect(to: endpoint, from: configuration.bind, group: group) else {
            metrics.attaches.increment("failed")
            return .failed
        }
        let onlineSeconds = UInt32(max(0, now.seconds))
        let attach = Message.attach(token: token, process: configuration.name, onlineSeconds: onlineSeconds)
        let outcome: (SessionEnd, Bool)? = try? await channel.executeThenClose { inbound, outbound in
            try await outbound.write(attach)
            var iterator = inbound.makeAsyncIterator()
            let timer = channel.channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(configuration.responseTimeout.seconds * 1e9))) {
                channel.channel.close(promise: nil)
            }
            let reply = try await iterator.next()
            timer.cancel()
            switch reply?.message {
            case .attached(_, let peers):
                metrics.attaches.increment("accepted")
                learn(peers)
            case .redirect(let target, _):
                metrics.attaches.increment("redirected")
                return (.redirected(target), false)
            case .busy(let millis, _):
                metrics.attaches.increment("busy")
                return (.busy(.milliseconds(millis)), false)
            case .error(.badToken, _), .error(.expiredToken, _):
                metrics.attaches.increment("rejected")
                return (.tokenRejected, false)
            default:
                metrics.attaches.increment("failed")
                return (.failed, false)
            }
            state.withLock { $0.online += 1 }
            metrics.online.increment()
            defer {
                state.withLock { $0.online -= 1 }
                metrics.online.decrement()
            }
            await keepAlive(channel: channel.channel, iterator: &iterator, outbound: outbound)
            return (.lost, true)
        }
        guard let outcome else {
            metrics.attaches.increment("failed")
            return .failed
        }
        if outcome.1 { retry.succeeded() }
        return outcome.0
    }

    /// Heartbeats and lookups on an attached session, until the supernode closes it, stops
    /// answering, or the task is cancelled.
    private func keepAlive(
        channel: any Channel,
        iterator: inout NIOAsyncChannelInboundStream<Inbound>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<Message>
    ) async {
        let lastAnswer = Mutex(now)
        let pendingLookup = Mutex<(id: UInt64, sent: Duration)?>(nil)
        let population = configuration.users ?? (configuration.firstUser + configuration.virtualClients - 1)
        let writer = Task {
            var sequence: UInt64 = 0
            var sinceLookup = Duration.zero
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.heartbeatInterval)
                let now = self.now
                if now - lastAnswer.withLock({ $0 }) > configuration.responseTimeout * 2 { break }
                sequence += 1
                do {
                    try await outbound.write(.heartbeat(sequence: sequence))
                    sinceLookup += configuration.heartbeatInterval
                    if sinceLookup >= configuration.lookupInterval {
                        sinceLookup = .zero
                        let stale = pendingLookup.withLock { pending -> Bool in
                            defer { pending = (sequence, now) }
                            return pending.map { now - $0.sent > configuration.responseTimeout } ?? false
                        }
                        if stale { metrics.lookups.increment("failed") }
                        try await outbound.write(.lookup(requestID: sequence, user: "user-\(Int.random(in: 1...max(1, population)))"))
                    }
                } catch {
                    break
                }
            }
            channel.close(promise: nil)
        }
        defer { writer.cancel() }
        while let item = try? await iterator.next() {
            lastAnswer.withLock { $0 = now }
            switch item {
            case .message(.heartbeatAck): break
            case .message(.lookupResult(let id, _, let location)):
                let matched = pendingLookup.withLock { pending -> Bool in
                    guard pending?.id == id else { return false }
                    pending = nil
                    return true
                }
                if matched { metrics.lookups.increment(location == nil ? "not_found" : "found") }
            case .message(.error(.unavailable, _)):
                pendingLookup.withLock { $0 = nil }
                metrics.lookups.increment("failed")
            case .message(.peers(let peers)):
                learn(peers)
            case .message(.promote):
                promote()
            case .malformed(let error):
                metrics.common.malformedFrames.increment(error.code.description)
                channel.close(promise: nil)
            case .message:
                break
            }
        }
    }
}
