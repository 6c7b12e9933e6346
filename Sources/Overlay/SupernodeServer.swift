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
    private let pending = Mutex([UInt64: CheckedContinuation<Message?, Never>]())
    private let linkRequests: AsyncStream<Endpoint>
    private let linkRequestSink: AsyncStream<Endpoint>.Continuation

    struct Session: Sendable {
        var user: String
        var process: String
        var onlineSeconds: UInt32
        var attachedAt: Duration
        var lastHeard: Duration
        var channel: any Channel
        var outbound: NIOAsyncChannelOutboundWriter<Message>
    }

    struct Link: Sendable {
        var outbound: NIOAsyncChannelOutboundWriter<Message>?
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
        let server = try await FramedServer.bind(configuration.listen, group: group)
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
            // Returns once graceful shutdown has closed the listener and every connection.
            try? await server.serve { connection in try await self.serve(connection) }
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

    private func serve(_ connection: FramedChannel) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            guard let first = try await iterator.next() else { return }
            switch first {
            case .message(.attach(let token, let process, let onlineSeconds)):
                try await serveClient(
                    token: token, process: process, onlineSeconds: onlineSeconds,
                    channel: connection.channel, iterator: &iterator, outbound: outbound
                )
            case .message(let message) where Self.isPeerMessage(message):
                var next: Inbound? = first
                while let item = next {
                    guard case .message(let message) = item, Self.isPeerMessage(message) else {
                        try await reject(item, outbound)
                        return
                    }
                    if let reply = handlePeer(message) { try await outbound.write(reply) }
                    next = try await iterator.next()
                }
            default:
                try await reject(first, outbound)
            }
        }
    }

    private static func isPeerMessage(_ message: Message) -> Bool {
        switch message {
        case .peers, .register, .lookup: true
        default: false
        }
    }

    private func reject(_ item: Inbound, _ outbound: NIOAsyncChannelOutboundWriter<Message>) async throws {
        switch item {
        case .malformed(let error):
            metrics.common.malformedFrames.increment(error.code.description)
            try await outbound.write(.error(code: .malformedFrame, message: error.description))
        case .message(let message):
            metrics.common.malformedFrames.increment("unexpected_message")
            try await outbound.write(.error(code: .unexpectedMessage, message: "supernode does not take \(message.kind) here"))
        }
    }

    private func serveClient(
        token: SignedToken, process: String, onlineSeconds: UInt32, channel: any Channel,
        iterator: inout NIOAsyncChannelInboundStream<Inbound>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<Message>
    ) async throws {
        do {
            try verifier.verify(token, now: unixSeconds())
        } catch {
            metrics.attaches.increment("rejected")
            let code: ErrorCode = if case .expired = error { .expiredToken } else { .badToken }
            try await outbound.write(.error(code: code, message: error.description))
            return
        }
        let decision = state.withLock { state -> (SupernodeAdmission.Action, UInt64, [PeerInfo], Int) in
            let peers = state.membership.peers.filter { !$0.promoted || $0.capacity > 0 }
            let action = admission.admit(attached: state.sessions.count, peers: peers.map { ($0.name, $0.load) })
            guard action == .accept else { return (action, 0, [], 0) }
            let id = state.nextSession
            state.nextSession += 1
            let now = self.now
            state.sessions[id] = Session(
                user: token.user, process: process, onlineSeconds: onlineSeconds, attachedAt: now, lastHeard: now,
                channel: channel, outbound: outbound
            )
            return (action, id, [selfInfo(state)] + state.membership.peers, state.membership.version)
        }
        var announcedVersion = decision.3
        switch decision.0 {
        case .overload:
            logger.critical("overloaded: more clients than the hard limit, falling over", metadata: [
                "hard.limit": "\(admission.hardLimit)",
            ])
            exit(SupernodeConfiguration.overloadExitStatus)
        case .redirect(let name):
            metrics.attaches.increment("redirected")
            let target = state.withLock { $0.membership.members[name]?.info.endpoint }
            if let target {
                try await outbound.write(.redirect(to: target, reason: "\(configuration.name) is full"))
            } else {
                try await outbound.write(.busy(retryAfterMillis: 1000, reason: "full"))
            }
            return
        case .busy(let retryAfter):
            metrics.attaches.increment("busy")
            try await outbound.write(.busy(retryAfterMillis: UInt32(retryAfter.seconds * 1000), reason: "\(configuration.name) is full"))
            return
        case .accept:
            break
        }
        let sessionID = decision.1
        metrics.attaches.increment("accepted")
        metrics.clients.increment()
        defer {
            state.withLock { _ = $0.sessions.removeValue(forKey: sessionID) }
            metrics.clients.decrement()
        }
        try await outbound.write(.attached(supernode: configuration.name, peers: decision.2))
        await publish(users: [token.user])

        while let item = try await iterator.next() {
            state.withLock { $0.sessions[sessionID]?.lastHeard = self.now }
            switch item {
            case .message(.heartbeat(let sequence)):
                let (load, version, peers) = state.withLock { state in
                    (UInt16(clamping: state.sessions.count * 1000 / configuration.capacity), state.membership.version,
                     [selfInfo(state)] + state.membership.peers)
                }
                try await outbound.write(.heartbeatAck(sequence: sequence, loadPerMille: load))
                if version != announcedVersion {
                    announcedVersion = version
                    try await outbound.write(.peers(peers))
                }
            case .message(.lookup(let requestID, let user)):
                try await outbound.write(await lookup(requestID: requestID, user: user))
            default:
                try await reject(item, outbound)
                return
            }
        }
    }

    // MARK: Directory

    /// Answers a client's lookup: locally when this node owns the user's entry, else by asking the owner.
    private func lookup(requestID: UInt64, user: String) async -> Message {
        let owner = state.withLock { state -> (String, Endpoint?) in
            let names = [configuration.name] + state.membership.members.keys
            let owner = DirectoryOwnership.owner(of: user, among: names) ?? configuration.name
            return (owner, state.membership.members[owner]?.info.endpoint)
        }
        let answer: Message?
        if owner.0 == configuration.name {
            answer = localLookup(requestID: requestID, user: user)
        } else if let endpoint = owner.1 {
            answer = await forward(.lookup(requestID: 0, user: user), to: endpoint).map { reply in
                if case .lookupResult(_, let user, let location) = reply {
                    return .lookupResult(requestID: requestID, user: user, location: location)
                }
                return reply
            }
        } else {
            answer = nil
        }
        switch answer {
        case .lookupResult(_, _, .some):
            metrics.lookups.increment("found")
            return answer!
        case .lookupResult(_, _, .none):
            metrics.lookups.increment("not_found")
            return answer!
        default:
            metrics.lookups.increment("unavailable")
            return .error(code: .unavailable, message: "directory owner \(owner.0) did not answer")
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
    private func publish(users: [String]) async {
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
                    await send(message, to: endpoint)
                }
            }
        }
    }

    // MARK: Links to other supernodes

    private func send(_ message: Message, to endpoint: Endpoint) async {
        guard let outbound = state.withLock({ $0.links[endpoint]?.outbound }) else {
            linkRequestSink.yield(endpoint)
            return
        }
        try? await outbound.write(message)
    }

    /// Sends a request on the link to `endpoint` and waits up to 2 s for the answer.
    private func forward(_ request: Message, to endpoint: Endpoint) async -> Message? {
        guard case .lookup(_, let user) = request else { return nil }
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        return await withTaskGroup(of: Message?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.pending.withLock { $0[id] = continuation }
                    Task { await self.send(.lookup(requestID: id, user: user), to: endpoint) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                self.resolve(id, with: nil)
                return nil
            }
            let answer = await group.next() ?? nil
            group.cancelAll()
            return answer
        }
    }

    private func resolve(_ id: UInt64, with message: Message?) {
        pending.withLock { $0.removeValue(forKey: id) }?.resume(returning: message)
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
                    state.withLock { $0.links[endpoint]?.outbound = outbound }
                    metrics.peerLinks.increment()
                    defer {
                        metrics.peerLinks.decrement()
                        state.withLock { $0.links[endpoint]?.outbound = nil }
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
                var candidates: [String: PromotionPolicy.Candidate] = [:]
                let supernodes = Set(pool.map(\.name))
                for session in state.sessions.values
                where !state.promotedProcesses.contains(session.process) && !supernodes.contains("promoted-\(session.process)") {
                    let online = session.onlineSeconds + UInt32(max(0, (now - session.attachedAt).seconds))
                    if online > candidates[session.process]?.onlineSeconds ?? 0 || candidates[session.process] == nil {
                        candidates[session.process] = .init(process: session.process, onlineSeconds: online)
                    }
                }
                var promote: NIOAsyncChannelOutboundWriter<Message>?
                if case .promote(let process) = state.promotion.evaluate(now: now, poolLoad: load, candidates: Array(candidates.values)) {
                    state.promotedProcesses.insert(process)
                    promote = state.sessions.values.first { $0.process == process }?.outbound
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
            for endpoint in endpoints { await send(.peers(gossip), to: endpoint) }
            if let promote {
                metrics.promotions.increment()
                logger.info("promoting a client process to supernode")
                try? await promote.write(.promote(reason: "pool load high"))
            }
            sinceRefresh += configuration.gossipInterval
            if sinceRefresh >= configuration.directoryTTL / 3 {
                sinceRefresh = .zero
                await publish(users: users)
            }
        }
    }
}

extension Inbound {
    var message: Message? {
        if case .message(let message) = self { message } else { nil }
    }
}
