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
    private let addresses: ClientAddresses

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
        self.addresses = ClientAddresses(configuration)
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
            "start-spread": "\(configuration.startSpread)",
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

    /// One virtual client: log in, attach, keep the session, and on any failure wait per the
    /// retry policy and go again, until cancelled. One task; the session itself runs on the
    /// connection's event loop (``VirtualSessionHandler``).
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
            let (end, attached) = await session(at: endpoint, token: token!, user: user, group: group)
            if attached { retry.succeeded() }
            switch end {
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
        let reply: Message?
        if let auth = addresses.auth {
            let request = Message.login(user: user, password: password)
            reply = await exchange(with: auth, group: group) { loop in
                FirstReplyHandler(request: request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)), eventLoop: loop)
            } ?? nil
        } else {
            reply = nil
        }
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

    /// Attaches at `endpoint` and, once attached, keeps the session alive until it ends.
    private func session(at endpoint: Endpoint, token: SignedToken, user: String, group: any EventLoopGroup) async -> (SessionEnd, attached: Bool) {
        guard let address = try? endpoint.socketAddress() else {
            metrics.attaches.increment("failed")
            return (.failed, false)
        }
        let attach = Message.attach(token: token, process: configuration.name, onlineSeconds: UInt32(max(0, now.seconds)))
        let timing = sessionTiming
        let population = configuration.users ?? (configuration.firstUser + configuration.virtualClients - 1)
        let outcome = await exchange(with: address, group: group) { loop in
            VirtualSessionHandler(attach: attach, timing: timing, population: population, delegate: self, eventLoop: loop)
        }
        guard let outcome else {
            metrics.attaches.increment("failed")
            return (.failed, false)
        }
        return outcome
    }

    /// A session's timing from the configuration: a lookup every `lookupInterval` (rounded to
    /// whole heartbeats), and the session counted lost after two heartbeats and a response
    /// timeout without a word (never sooner than twice the response timeout).
    private var sessionTiming: SessionTiming {
        let heartbeat = configuration.heartbeatInterval
        return SessionTiming(
            heartbeat: .nanoseconds(Int64(heartbeat.seconds * 1e9)),
            lookupEvery: max(1, Int((configuration.lookupInterval.seconds / heartbeat.seconds).rounded())),
            responseTimeout: .nanoseconds(Int64(configuration.responseTimeout.seconds * 1e9)),
            silence: .nanoseconds(Int64(max(configuration.responseTimeout * 2, heartbeat * 2 + configuration.responseTimeout).seconds * 1e9))
        )
    }

    /// Connects to `address` with `make`'s handler behind the frame codec and waits for the
    /// handler's result; nil when the connection could not be made. Cancellation closes the
    /// connection, which completes the handler's result.
    ///
    /// The result future is taken when the handler is made, not looked up in the pipeline after
    /// the connect: a fast answer (a BUSY) can close the connection before this task resumes.
    private func exchange<Handler: ConnectionOutcome>(
        with address: SocketAddress, group: any EventLoopGroup, make: @escaping @Sendable (any EventLoop) -> Handler
    ) async -> Handler.Result? {
        let loop = group.next()
        let result = Slot<EventLoopFuture<Handler.Result>>()
        let connected = Framing.connect(to: address, from: addresses.bind, on: loop) {
            let handler = make(loop)
            result.value.withLock { $0 = handler.result }
            return handler
        }
        guard let channel = try? await connected.get(), let future = result.value.withLock({ $0 }) else { return nil }
        return await withTaskCancellationHandler {
            try? await future.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// A value set once from an event loop and read from a task.
final class Slot<Value: Sendable>: Sendable {
    let value = Mutex<Value?>(nil)
}

/// The resolved addresses a client process connects with.
struct ClientAddresses: Sendable {
    var auth: SocketAddress?
    var bind: SocketAddress?

    init(_ configuration: ClientConfiguration) {
        auth = try? configuration.auth.socketAddress()
        bind = configuration.bind.flatMap { try? SocketAddress(ipAddress: $0, port: 0) }
    }
}

extension ClientSwarm: SessionDelegate {
    func sessionAttached(peers: [PeerInfo]) {
        learn(peers)
        state.withLock { $0.online += 1 }
        metrics.online.increment()
    }

    func sessionDetached() {
        state.withLock { $0.online -= 1 }
        metrics.online.decrement()
    }

    func learned(_ peers: [PeerInfo]) {
        learn(peers)
    }

    func promoteRequested() {
        promote()
    }

    func count(_ event: SessionEvent) {
        switch event {
        case .attach(let outcome): metrics.attaches.increment(outcome)
        case .lookup(let outcome): metrics.lookups.increment(outcome)
        case .malformed(let reason): metrics.common.malformedFrames.increment(reason)
        }
    }
}
