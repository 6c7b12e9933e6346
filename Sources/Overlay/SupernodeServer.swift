import Logging
import NIOCore
import NIOPosix
import OverlayWire
import Prometheus
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a supernode runs.
public struct SupernodeConfiguration: Sendable {
    /// Unique name in the overlay (the instance name).
    public var name = "supernode-1"
    public var listen = ListenAddress.endpoint(Endpoint(host: "127.0.0.1", port: 7200))
    /// The address others reach it at; defaults to the bound address.
    public var advertise: Endpoint?
    public var metrics: ListenAddress? = .endpoint(Endpoint(host: "127.0.0.1", port: 9200))
    /// The lab seed: the auth verifying key derives from it unless `authKey` is given.
    public var seed = "stormlab"
    public var authKey: TokenVerifier?
    /// Other supernodes to gossip with at start; more are learned from gossip.
    public var peers: [Endpoint] = []
    public var policy = Policy.adaptive
    /// Clients it is meant to hold.
    public var capacity = 1000
    /// Legacy: falls over past `capacity × overloadFactor`.
    public var overloadFactor = 1.25
    public var gossipInterval = Duration.seconds(1)
    /// A peer not heard from for this long is dropped.
    public var peerTimeout = Duration.seconds(4)
    /// A client session silent for this long is dropped (a paused or vanished client).
    public var sessionTimeout = Duration.seconds(10)
    /// Directory entries live this long unless refreshed (refresh runs at a third of it).
    public var directoryTTL = Duration.seconds(6)
    /// Promotion thresholds (pool load) and pacing; see ``PromotionPolicy``.
    public var promoteHigh = 0.8
    public var promoteLow = 0.6
    public var promoteInterval = Duration.seconds(2)
    /// Legacy's minimum online time for a client to qualify for promotion, in seconds.
    public var promoteMinimumOnline: UInt32?
    /// True when this supernode runs inside a promoted client process.
    public var promoted = false

    public init() {}

    /// The exit status of a legacy supernode that fell over from overload.
    public static let overloadExitStatus: Int32 = 86
}

struct SupernodeMetrics: Sendable {
    let common: CommonMetrics
    let clients: Gauge
    let attaches: LabelledCounters
    let knownSupernodes: Gauge
    let promotions: Counter
    let lookups: LabelledCounters
    let directoryEntries: Gauge
    let peerLinks: Gauge

    init(_ registry: PrometheusCollectorRegistry, capacity: Int) {
        common = CommonMetrics(registry, role: "supernode")
        clients = registry.gauge("stormlab_supernode_clients", help: "Clients attached now.")
        registry.gauge("stormlab_supernode_capacity", help: "Clients this supernode is meant to hold.").set(to: Double(capacity))
        attaches = LabelledCounters(
            registry, name: "stormlab_supernode_attaches_total", label: "outcome",
            values: ["accepted", "redirected", "busy", "rejected"], help: "Attach requests, by outcome."
        )
        knownSupernodes = registry.gauge("stormlab_supernode_known_supernodes", help: "Live supernodes known, itself included.")
        promotions = registry.counter("stormlab_supernode_promotions_total", help: "Client processes this supernode asked to become supernodes.")
        lookups = LabelledCounters(
            registry, name: "stormlab_supernode_lookups_total", label: "outcome",
            values: ["found", "not_found", "unavailable"], help: "Lookups answered for attached clients, by outcome."
        )
        directoryEntries = registry.gauge("stormlab_supernode_directory_entries", help: "Directory entries this supernode owns.")
        peerLinks = registry.gauge("stormlab_supernode_peer_links", help: "Connected links to other supernodes.")
    }
}

/// A supernode: attaches clients with valid tokens up to its capacity, answers their lookups
/// through a directory spread over all supernodes, gossips membership, and promotes clients to
/// supernodes when the pool runs hot (per policy).
public final class SupernodeServer: Service, Sendable {
    public let configuration: SupernodeConfiguration
    public let registry: PrometheusCollectorRegistry
    let metrics: SupernodeMetrics
    private let logger: Logger
    private let verifier: TokenVerifier
    private let admission: SupernodeAdmission
    private let state: Mutex<State>
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let nextRequestID = Atomic<UInt64>(1)
    private let pending = Mutex([UInt64: EventLoopPromise<Message?>]())
    private let linkRequests: AsyncStream<Endpoint>
    private let linkRequestSink: AsyncStream<Endpoint>.Continuation

    struct Session: Sendable {
        var user: String
        var process: String
        var onlineSeconds: UInt32
        var attachedAt: Duration
        var lastHeard: Duration
        var channel: any Channel
    }

    struct Link: Sendable {
        var outbound: NIOAsyncChannelOutboundWriter<Message>?
        /// The link's channel, for requests written without a task (lookups forwarded to the owner).
        var channel: (any Channel)?
    }

    struct State: Sendable {
        var advertised: Endpoint
        var membership: Membership
        var promotion: PromotionPolicy
        var sessions: [UInt64: Session] = [:]
        var nextSession: UInt64 = 1
        var directory: [String: (location: String, expires: Duration)] = [:]
        var links: [Endpoint: Link] = [:]
        var promotedProcesses: Set<String> = []
        /// The configured peers with host names resolved to every address they have (a
        /// Compose service name resolves to all its replicas).
        var seeds: [Endpoint] = []
    }

    public init(configuration: SupernodeConfiguration, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.configuration = configuration
        self.logger = logger
        self.registry = registry
        self.verifier = configuration.authKey ?? TokenSigner(seed: configuration.seed).verifier
        self.admission = SupernodeAdmission(policy: configuration.policy, capacity: configuration.capacity, overloadFactor: configuration.overloadFactor)
        self.metrics = SupernodeMetrics(registry, capacity: configuration.capacity)
        self.start = ContinuousClock.now
        let placeholder = configuration.advertise ?? Endpoint(host: "0.0.0.0", port: 0)
        self.state = Mutex(State(
            advertised: placeholder,
            membership: Membership(selfName: configuration.name, timeout: configuration.peerTimeout),
            promotion: PromotionPolicy(
                policy: configuration.policy, high: configuration.promoteHigh, low: configuration.promoteLow,
                interval: configuration.promoteInterval, minimumOnline: configuration.promoteMinimumOnline
            )
        ))
        (linkRequests, linkRequestSink) = AsyncStream.makeStream(of: Endpoint.self)
    }

    private var now: Duration { clock.now - start }

    /// This node as gossip describes it.
    private func selfInfo(_ state: State) -> PeerInfo {
        PeerInfo(
            name: configuration.name, endpoint: state.advertised, clients: UInt32(state.sessions.count),
            capacity: UInt32(configuration.capacity), promoted: configuration.promoted
        )
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await FramedHandlerServer.bind(configuration.listen, group: group) { SupernodeConnectionHandler(server: self) }
        if configuration.advertise == nil, let bound = server.localAddress?.endpoint {
            state.withLock { $0.advertised = bound }
        }
        var metricsChannel: (any Channel)?
        if let address = configuration.metrics {
            metricsChannel = try await MetricsServer(registry: registry, address: address).start()
        }
        let supervision = Supervision(logger: logger)
        let advertised = state.withLock { $0.advertised }
        logger.info("supernode serving", metadata: [
            "advertise": "\(advertised)", "policy": "\(configuration.policy)", "capacity": "\(configuration.capacity)",
        ])
        supervision.ready(status: "serving, capacity \(configuration.capacity)")
        let seeds = Self.resolve(configuration.peers)
        state.withLock { $0.seeds = seeds }
        for seed in seeds where seed != advertised { linkRequestSink.yield(seed) }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await supervision.keepAlive { self.statusLine() } }
            tasks.addTask { await self.runLinks(group: group) }
            tasks.addTask { await self.maintain() }
            // Connections are served on the event loops (``SupernodeConnectionHandler``) until
            // graceful shutdown closes the listener and every open connection.
            await cancelWhenGracefulShutdown { await Self.waitForever() }
            try? await server.close().get()
            for channel in state.withLock({ $0.sessions.values.map(\.channel) }) { channel.close(promise: nil) }
            tasks.cancelAll()
        }
        supervision.stopping()
        linkRequestSink.finish()
        try? await metricsChannel?.close().get()
        logger.info("supernode stopped")
    }

    private func statusLine() -> String {
        state.withLock { "\($0.sessions.count)/\(configuration.capacity) clients, \($0.membership.members.count + 1) supernodes" }
    }

    // MARK: Connections

    private static func waitForever() async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    static func isPeerMessage(_ message: Message) -> Bool {
        switch message {
        case .peers, .register, .lookup: true
        default: false
        }
    }

    /// The error frame for something a supernode does not take here, counted as malformed.
    func rejection(_ item: Inbound) -> Message {
        switch item {
        case .malformed(let error):
            metrics.common.malformedFrames.increment(error.code.description)
            return .error(code: .malformedFrame, message: error.description)
        case .message(let message):
            metrics.common.malformedFrames.increment("unexpected_message")
            return .error(code: .unexpectedMessage, message: "supernode does not take \(message.kind) here")
        }
    }

    /// What a supernode answers an attach with; `session` is set when the client was accepted.
    struct AttachAnswer {
        var reply: Message
        var session: UInt64?
        var user: String
    }

    /// Decides an attach: verifies the token, applies the admission policy, registers the
    /// session when accepted (the caller publishes the user once the answer is out). A legacy
    /// supernode past its hard limit falls over here.
    func attach(token: SignedToken, process: String, onlineSeconds: UInt32, channel: any Channel) -> AttachAnswer {
        do {
            try verifier.verify(token, now: unixSeconds())
        } catch {
            metrics.attaches.increment("rejected")
            let code: ErrorCode = if case .expired = error { .expiredToken } else { .badToken }
            return AttachAnswer(reply: .error(code: code, message: error.description), user: token.user)
        }
        let now = self.now
        let decision = state.withLock { state -> (SupernodeAdmission.Action, UInt64, [PeerInfo]) in
            let peers = state.membership.peers.filter { !$0.promoted || $0.capacity > 0 }
            let action = admission.admit(attached: state.sessions.count, peers: peers.map { ($0.name, $0.load) })
            guard action == .accept else { return (action, 0, []) }
            let id = state.nextSession
            state.nextSession += 1
            state.sessions[id] = Session(
                user: token.user, process: process, onlineSeconds: onlineSeconds, attachedAt: now, lastHeard: now,
                channel: channel
            )
            return (action, id, [selfInfo(state)] + state.membership.peers)
        }
        switch decision.0 {
        case .overload:
            logger.critical("overloaded: more clients than the hard limit, falling over", metadata: [
                "hard.limit": "\(admission.hardLimit)",
            ])
            exit(SupernodeConfiguration.overloadExitStatus)
        case .redirect(let name):
            metrics.attaches.increment("redirected")
            let target = state.withLock { $0.membership.members[name]?.info.endpoint }
            let reply: Message = if let target {
                .redirect(to: target, reason: "\(configuration.name) is full")
            } else {
                .busy(retryAfterMillis: 1000, reason: "full")
            }
            return AttachAnswer(reply: reply, user: token.user)
        case .busy(let retryAfter):
            metrics.attaches.increment("busy")
            return AttachAnswer(
                reply: .busy(retryAfterMillis: UInt32(retryAfter.seconds * 1000), reason: "\(configuration.name) is full"),
                user: token.user)
        case .accept:
            metrics.attaches.increment("accepted")
            metrics.clients.increment()
            return AttachAnswer(reply: .attached(supernode: configuration.name, peers: decision.2), session: decision.1, user: token.user)
        }
    }

    /// An attached session ended.
    func detach(_ session: UInt64) {
        state.withLock { _ = $0.sessions.removeValue(forKey: session) }
        metrics.clients.decrement()
    }

    /// A message on an attached session: notes it as heard, and returns what a heartbeat
    /// answers (its load) and the membership version, so peers are re-announced only on change.
    func heard(_ session: UInt64) -> (loadPerMille: UInt16, version: Int) {
        let now = self.now
        return state.withLock { state in
            state.sessions[session]?.lastHeard = now
            return (UInt16(clamping: state.sessions.count * 1000 / configuration.capacity), state.membership.version)
        }
    }

    /// This node and its peers, as a peers message announces them.
    func announcement() -> [PeerInfo] {
        state.withLock { [selfInfo($0)] + $0.membership.peers }
    }

    func peerMessage(_ message: Message) -> Message? {
        handlePeer(message)
    }

    // MARK: Directory

    /// Answers a client's lookup: locally when this node owns the user's entry, else by asking
    /// the owner over the link; the answer completes on `loop`.
    func lookup(requestID: UInt64, user: String, on loop: any EventLoop) -> EventLoopFuture<Message> {
        let owner = state.withLock { state -> (String, Endpoint?) in
            let names = [configuration.name] + state.membership.members.keys
            let owner = DirectoryOwnership.owner(of: user, among: names) ?? configuration.name
            return (owner, state.membership.members[owner]?.info.endpoint)
        }
        let answer: EventLoopFuture<Message?>
        if owner.0 == configuration.name {
            answer = loop.makeSucceededFuture(localLookup(requestID: requestID, user: user))
        } else if let endpoint = owner.1 {
            answer = forward(user: user, to: endpoint, on: loop).map { reply in
                if case .lookupResult(_, let user, let location) = reply {
                    return .lookupResult(requestID: requestID, user: user, location: location)
                }
                return reply
            }
        } else {
            answer = loop.makeSucceededFuture(nil)
        }
        return answer.map { answer in
            switch answer {
            case .lookupResult(_, _, .some):
                self.metrics.lookups.increment("found")
                return answer!
            case .lookupResult(_, _, .none):
                self.metrics.lookups.increment("not_found")
                return answer!
            default:
                self.metrics.lookups.increment("unavailable")
                return .error(code: .unavailable, message: "directory owner \(owner.0) did not answer")
            }
        }
    }

    private func localLookup(requestID: UInt64, user: String) -> Message {
        let now = self.now
        let location = state.withLock { state -> String? in
            guard let entry = state.directory[user], entry.expires > now else { return nil }
            return entry.location
        }
        return .lookupResult(requestID: requestID, user: user, location: location)
    }

    /// Handles a message on a link from another supernode; returns the reply, if any.
    private func handlePeer(_ message: Message) -> Message? {
        switch message {
        case .peers(let peers):
            let count = state.withLock { state in
                state.membership.merge(peers, now: self.now)
                return state.membership.members.count + 1
            }
            metrics.knownSupernodes.set(to: Double(count))
            for peer in peers where peer.name != configuration.name { linkRequestSink.yield(peer.endpoint) }
            return nil
        case .register(let location, let users):
            let expires = now + configuration.directoryTTL
            let entries = state.withLock { state in
                for user in users { state.directory[user] = (location, expires) }
                return state.directory.count
            }
            metrics.directoryEntries.set(to: Double(entries))
            return nil
        case .lookup(let requestID, let user):
            return localLookup(requestID: requestID, user: user)
        default:
            return nil
        }
    }

    /// Registers `users` (attached here) with the nodes that own their entries.
    func publish(users: [String]) {
        let (byOwner, endpoints) = state.withLock { state -> ([String: [String]], [String: Endpoint]) in
            let names = [configuration.name] + state.membership.members.keys
            var byOwner: [String: [String]] = [:]
            for user in users {
                byOwner[DirectoryOwnership.owner(of: user, among: names) ?? configuration.name, default: []].append(user)
            }
            return (byOwner, state.membership.members.mapValues(\.info.endpoint))
        }
        for (owner, users) in byOwner {
            for batch in stride(from: 0, to: users.count, by: FrameCodec.maximumListCount) {
                let chunk = Array(users[batch..<min(batch + FrameCodec.maximumListCount, users.count)])
                let message = Message.register(supernode: configuration.name, users: chunk)
                if owner == configuration.name {
                    _ = handlePeer(message)
                } else if let endpoint = endpoints[owner] {
                    send(message, to: endpoint)
                }
            }
        }
    }

    // MARK: Links to other supernodes

    /// Writes `message` on the link to `endpoint`, or asks for the link when there is none.
    private func send(_ message: Message, to endpoint: Endpoint) {
        guard let channel = state.withLock({ $0.links[endpoint]?.channel }) else {
            linkRequestSink.yield(endpoint)
            return
        }
        channel.writeAndFlush(message, promise: nil)
    }

    /// Asks the owner at `endpoint` for `user`'s entry and completes on `loop` with the answer, or
    /// nil after 2 s. The request goes straight to the link's channel and the timeout is a timer
    /// on its event loop: no task per forwarded lookup.
    private func forward(user: String, to endpoint: Endpoint, on loop: any EventLoop) -> EventLoopFuture<Message?> {
        guard let channel = state.withLock({ $0.links[endpoint]?.channel }) else {
            linkRequestSink.yield(endpoint)
            return loop.makeSucceededFuture(nil)
        }
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        let promise = loop.makePromise(of: Message?.self)
        pending.withLock { $0[id] = promise }
        channel.eventLoop.scheduleTask(in: .seconds(2)) { self.resolve(id, with: nil) }
        channel.writeAndFlush(Message.lookup(requestID: id, user: user)).whenFailure { _ in self.resolve(id, with: nil) }
        return promise.futureResult
    }

    private func resolve(_ id: UInt64, with message: Message?) {
        pending.withLock { $0.removeValue(forKey: id) }?.succeed(message)
    }

    /// Keeps one outbound link per known supernode, as requested on `linkRequests`.
    private func runLinks(group: any EventLoopGroup) async {
        await withDiscardingTaskGroup { links in
            for await endpoint in linkRequests {
                let isNew = state.withLock { state -> Bool in
                    guard state.links[endpoint] == nil, endpoint != state.advertised else { return false }
                    state.links[endpoint] = Link(outbound: nil)
                    return true
                }
                if isNew { links.addTask { await self.runLink(to: endpoint, group: group) } }
            }
        }
    }

    /// One link: connect, announce, relay answers to waiting lookups; reconnect while the peer is
    /// a member or a configured seed; give up once it is neither.
    private func runLink(to endpoint: Endpoint, group: any EventLoopGroup) async {
        defer { state.withLock { _ = $0.links.removeValue(forKey: endpoint) } }
        let source = state.withLock { $0.advertised.host }
        while !Task.isCancelled {
            do {
                let channel = try await Framing.connect(to: endpoint, from: source == "0.0.0.0" ? nil : source, group: group)
                try await channel.executeThenClose { inbound, outbound in
                    state.withLock {
                        $0.links[endpoint]?.outbound = outbound
                        $0.links[endpoint]?.channel = channel.channel
                    }
                    metrics.peerLinks.increment()
                    defer {
                        metrics.peerLinks.decrement()
                        state.withLock {
                            $0.links[endpoint]?.outbound = nil
                            $0.links[endpoint]?.channel = nil
                        }
                    }
                    try await outbound.write(.peers(state.withLock { [selfInfo($0)] + $0.membership.peers }))
                    for try await item in inbound {
                        if case .message(.lookupResult(let id, _, _)) = item {
                            resolve(id, with: item.message)
                        }
                    }
                }
            } catch {
                logger.debug("link failed", metadata: ["peer": "\(endpoint)", "error": "\(error)"])
            }
            let keep = state.withLock { state in
                state.seeds.contains(endpoint) || state.membership.members.values.contains { $0.info.endpoint == endpoint }
            }
            if !keep { return }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    // MARK: Periodic work

    /// Gossip, expiry, directory refresh, idle sessions and promotion, once per gossip interval.
    private func maintain() async {
        var sinceRefresh = Duration.zero
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.gossipInterval)
            let now = self.now
            let (gossip, endpoints, idle, known, users, promote) = state.withLock { state in
                let dead = state.membership.expire(now: now)
                if !dead.isEmpty { logger.info("supernodes expired", metadata: ["names": "\(dead)"]) }
                state.directory = state.directory.filter { $0.value.expires > now }
                let idle = state.sessions.values.filter { now - $0.lastHeard > configuration.sessionTimeout }.map(\.channel)
                let pool = ([selfInfo(state)] + state.membership.peers)
                let load = Double(pool.map { Int($0.clients) }.reduce(0, +)) / Double(max(1, pool.map { Int($0.capacity) }.reduce(0, +)))
                // The longest-online session of each client process, then the processes that
                // are neither promoted already nor serving as supernodes.
                var longest: [String: UInt32] = [:]
                for session in state.sessions.values {
                    let online = session.onlineSeconds + UInt32(max(0, (now - session.attachedAt).seconds))
                    if online >= longest[session.process] ?? 0 { longest[session.process] = online }
                }
                let supernodes = Set(pool.map(\.name))
                var candidates: [String: PromotionPolicy.Candidate] = [:]
                for (process, online) in longest
                where !state.promotedProcesses.contains(process) && !supernodes.contains("promoted-\(process)") {
                    candidates[process] = .init(process: process, onlineSeconds: online)
                }
                var promote: (any Channel)?
                if case .promote(let process) = state.promotion.evaluate(now: now, poolLoad: load, candidates: Array(candidates.values)) {
                    state.promotedProcesses.insert(process)
                    promote = state.sessions.values.first { $0.process == process }?.channel
                }
                return (
                    [selfInfo(state)] + state.membership.peers,
                    Set(state.membership.peers.map(\.endpoint)).union(state.seeds),
                    idle, state.membership.members.count + 1, state.sessions.values.map(\.user), promote
                )
            }
            metrics.knownSupernodes.set(to: Double(known))
            if known == 1 && !configuration.peers.isEmpty {
                // Alone: look the seeds up again, replicas may have come up since.
                let seeds = Self.resolve(configuration.peers)
                state.withLock { $0.seeds = seeds }
                for seed in seeds { linkRequestSink.yield(seed) }
            }
            for channel in idle { channel.close(promise: nil) }
            for endpoint in endpoints { send(.peers(gossip), to: endpoint) }
            if let promote {
                metrics.promotions.increment()
                logger.info("promoting a client process to supernode")
                promote.writeAndFlush(Message.promote(reason: "pool load high"), promise: nil)
            }
            sinceRefresh += configuration.gossipInterval
            if sinceRefresh >= configuration.directoryTTL / 3 {
                sinceRefresh = .zero
                publish(users: users)
            }
        }
    }
}

extension Inbound {
    var message: Message? {
        if case .message(let message) = self { message } else { nil }
    }
}
