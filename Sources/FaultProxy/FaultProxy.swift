import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A fault-injecting TCP proxy: routes listen on addresses and forward to upstream instances,
/// and toxics disturb chosen links while the proxy runs.
///
/// Every accepted connection is attributed to a ``Link``: its client instance, found by source
/// IP address in the instance table (every instance has its own loopback address), and the
/// route's upstream instance. Toxics are applied by name to the links a ``LinkSelector`` covers,
/// on live connections and on every new one, until reverted by the same name.
///
/// With no toxic active a connection is two channels on one event loop joined by a forwarding
/// handler: no locks, no allocation per chunk beyond NIO's. Upstream connections are bound to
/// the client's loopback address (when both are loopback), so the server sees the real client
/// address.
///
/// ```swift
/// let proxy = FaultProxy(configuration: .init(instances: ["127.0.1.1": "a-1", "127.0.2.1": "b-1"]))
/// let address = try await proxy.addRoute(.init(
///     name: "b-1", listen: try .init(ipAddress: "127.0.2.1", port: 7000),
///     upstream: try .init(ipAddress: "127.0.2.1", port: 7001), upstreamInstance: "b-1"))
/// try await proxy.apply(PartitionToxic(), named: "cut", to: .between(["a-1"], ["b-1"]))
/// await proxy.revert(named: "cut")
/// await proxy.shutdown()
/// ```
public final class FaultProxy: Sendable {
    /// How a proxy behaves. Every field has a default.
    public struct Configuration: Sendable {
        /// The instance table: IP address (`"127.0.1.1"`) → instance name. Sources not in the
        /// table are named by their IP address. Default: empty.
        public var instances: [String: String]
        /// Bytes a toxic may hold per connection and direction before it pauses reading from
        /// the sender. Bounds memory; with latency `d` it also bounds throughput to `limit / d`.
        /// Default: 4 MiB.
        public var toxicBufferLimit: Int
        /// Seed for the toxics' random choices (jitter, loss). Default: 0.
        public var seed: UInt64
        /// Bind upstream connections to the client's address, so servers see the real client.
        /// Only done when both addresses are loopback. Default: `true`.
        public var bindsUpstreamToClientAddress: Bool
        /// How long connecting upstream may take before the client is reset. Default: 5 s.
        public var connectTimeout: Duration

        /// Makes a configuration.
        public init(
            instances: [String: String] = [:],
            toxicBufferLimit: Int = 4 << 20,
            seed: UInt64 = 0,
            bindsUpstreamToClientAddress: Bool = true,
            connectTimeout: Duration = .seconds(5)
        ) {
            self.instances = instances
            self.toxicBufferLimit = toxicBufferLimit
            self.seed = seed
            self.bindsUpstreamToClientAddress = bindsUpstreamToClientAddress
            self.connectTimeout = connectTimeout
        }
    }

    /// One listening address forwarded to one upstream instance.
    public struct Route: Sendable, Hashable {
        /// A unique name (the orchestrator uses the upstream's instance and port).
        public var name: String
        /// Where the proxy listens (port 0: any free port; ``FaultProxy/addRoute(_:)`` returns it).
        public var listen: SocketAddress
        /// Where the proxy connects to.
        public var upstream: SocketAddress
        /// The instance at ``upstream``: the `to` of this route's links.
        public var upstreamInstance: String

        /// Makes a route.
        public init(name: String, listen: SocketAddress, upstream: SocketAddress, upstreamInstance: String) {
            self.name = name
            self.listen = listen
            self.upstream = upstream
            self.upstreamInstance = upstreamInstance
        }
    }

    private struct ToxicRecord: Sendable {
        var sequence: UInt64
        var toxic: any Toxic
        var selector: LinkSelector
    }

    /// A toxic as it applies to one link.
    struct ActiveToxic {
        var name: String
        var sequence: UInt64
        var toxic: any Toxic
        var directions: Directions
    }

    private struct ConnectionHandle: Sendable {
        var link: Link
        var route: String
        var eventLoop: any EventLoop
        var connection: NIOLoopBound<ProxiedConnection>
    }

    private struct State: ~Copyable {
        var instances: [String: String]
        var routes: [String: (any Channel)?] = [:]
        var toxics: [String: ToxicRecord] = [:]
        var sequence: UInt64 = 0
        var connections: [UInt64: ConnectionHandle] = [:]
        var nextConnection: UInt64 = 0
        var links: [Link: LinkStatistics] = [:]
        var applied = 0
        var reverted = 0
        var isShutDown = false

        mutating func statistics(for link: Link) -> LinkStatistics {
            if let statistics = self.links[link] { return statistics }
            let statistics = LinkStatistics()
            self.links[link] = statistics
            return statistics
        }

        func active(on link: Link) -> [ActiveToxic] {
            var result: [ActiveToxic] = []
            for (name, record) in self.toxics {
                let directions = record.selector.directions(for: link)
                if !directions.isEmpty {
                    result.append(ActiveToxic(name: name, sequence: record.sequence, toxic: record.toxic, directions: directions))
                }
            }
            return result.sorted { $0.sequence < $1.sequence }
        }

        func handles(matching selector: LinkSelector?) -> [ConnectionHandle] {
            self.connections.values.filter { selector?.matches($0.link) ?? true }
        }
    }

    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<State>

    /// Makes a proxy; it listens on nothing until routes are added.
    ///
    /// - Parameters:
    ///   - configuration: Behaviour; see ``Configuration``.
    ///   - eventLoopGroup: Where connections run. Default: NIO's shared singleton group.
    ///   - logger: For route and toxic events (debug level). Default: discards everything.
    public init(
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "stormlab.faultproxy", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.state = Mutex(State(instances: configuration.instances))
    }

    // MARK: Instances and routes

    /// Names the instance at IP address `address` (`"127.0.1.1"`); later connections from that
    /// address are attributed to `instance`.
    public func setInstance(_ instance: String, address: String) {
        self.state.withLock { $0.instances[address] = instance }
    }

    /// Starts listening for a route and returns the address bound (useful with port 0).
    ///
    /// - Throws: ``FaultProxyError`` with code `duplicateRoute`, `bindFailed` or `shutDown`.
    @discardableResult
    public func addRoute(_ route: Route) async throws -> SocketAddress {
        try self.state.withLock { state in
            guard !state.isShutDown else {
                throw FaultProxyError(code: .shutDown, message: "the proxy is shut down")
            }
            guard state.routes[route.name] == nil else {
                throw FaultProxyError(code: .duplicateRoute, message: "route '\(route.name)' exists")
            }
            state.routes[route.name] = .some(nil)
        }
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.recvAllocator, value: Self.receiveAllocator)
                .childChannelOption(.writeBufferWaterMark, value: Self.writeWaterMark)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try self.accept(channel, route: route)
                    }
                }
                .bind(to: route.listen)
                .get()
        } catch {
            _ = self.state.withLock { $0.routes.removeValue(forKey: route.name) }
            throw FaultProxyError(
                code: .bindFailed,
                message: "route '\(route.name)' cannot listen on \(route.listen)",
                cause: error
            )
        }
        let stillWanted = self.state.withLock { state in
            guard !state.isShutDown, state.routes[route.name] != nil else { return false }
            state.routes[route.name] = channel
            return true
        }
        guard stillWanted else {
            try? await channel.close()
            throw FaultProxyError(code: .shutDown, message: "the proxy shut down while route '\(route.name)' started")
        }
        self.logger.debug(
            "route listening",
            metadata: ["proxy.route": "\(route.name)", "proxy.listen": "\(channel.localAddress.map { "\($0)" } ?? "?")"]
        )
        return channel.localAddress ?? route.listen
    }

    /// Stops a route: closes its listener and its live connections. Removing an absent route
    /// does nothing.
    public func removeRoute(named name: String) async {
        let (listener, handles) = self.state.withLock { state in
            let listener = state.routes.removeValue(forKey: name) ?? nil
            return (listener, state.connections.values.filter { $0.route == name })
        }
        try? await listener?.close()
        await Self.close(handles)
    }

    // MARK: Toxics

    /// Applies `toxic` under `name` to every link `selector` covers: on the live connections
    /// before this returns, and on every new connection until ``revert(named:)``.
    ///
    /// - Throws: ``FaultProxyError`` with code `duplicateToxic` (the name is in use: revert it
    ///   first) or `shutDown`.
    public func apply(_ toxic: some Toxic, named name: String, to selector: LinkSelector) async throws {
        let handles = try self.state.withLock { state in
            guard !state.isShutDown else {
                throw FaultProxyError(code: .shutDown, message: "the proxy is shut down")
            }
            guard state.toxics[name] == nil else {
                throw FaultProxyError(code: .duplicateToxic, message: "a toxic named '\(name)' is already applied")
            }
            state.sequence += 1
            state.toxics[name] = ToxicRecord(sequence: state.sequence, toxic: toxic, selector: selector)
            state.applied += 1
            return state.handles(matching: selector)
        }
        self.logger.debug(
            "toxic applied",
            metadata: ["proxy.toxic": "\(name)", "proxy.kind": "\(toxic)", "proxy.links": "\(selector)"]
        )
        await self.reconcile(handles)
    }

    /// Reverts the toxic applied under `name`: live connections forward normally again, with
    /// nothing the toxic held lost. Returns whether such a toxic was active; reverting twice is
    /// harmless.
    @discardableResult
    public func revert(named name: String) async -> Bool {
        let (removed, handles) = self.state.withLock { state in
            guard let record = state.toxics.removeValue(forKey: name) else {
                return (false, [ConnectionHandle]())
            }
            state.reverted += 1
            return (true, state.handles(matching: record.selector))
        }
        if removed {
            self.logger.debug("toxic reverted", metadata: ["proxy.toxic": "\(name)"])
            await self.reconcile(handles)
        }
        return removed
    }

    /// Reverts every active toxic.
    public func revertAll() async {
        let handles = self.state.withLock { state in
            state.reverted += state.toxics.count
            state.toxics.removeAll()
            return state.handles(matching: nil)
        }
        await self.reconcile(handles)
    }

    /// The active toxics: name → (toxic, selector).
    public var activeToxics: [String: (toxic: any Toxic, selector: LinkSelector)] {
        self.state.withLock { state in state.toxics.mapValues { ($0.toxic, $0.selector) } }
    }

    // MARK: Counters and lifecycle

    /// A snapshot of the counters.
    public func counters() -> FaultProxyCounters {
        self.state.withLock { state in
            FaultProxyCounters(
                links: state.links.mapValues(\.snapshot),
                toxicsApplied: state.applied,
                toxicsReverted: state.reverted,
                activeToxics: state.toxics.keys.sorted()
            )
        }
    }

    /// Closes every listener and connection. Further routes and toxics are refused; calling it
    /// again does nothing.
    public func shutdown() async {
        let (listeners, handles) = self.state.withLock { state in
            state.isShutDown = true
            let listeners = state.routes.values.compactMap { $0 }
            state.routes.removeAll()
            return (listeners, state.handles(matching: nil))
        }
        for listener in listeners {
            try? await listener.close()
        }
        await Self.close(handles)
    }

    /// Runs until the task is cancelled, then shuts the proxy down (a service's `run()`).
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                break
            }
        }
        await self.shutdown()
    }

    // MARK: Connections

    private static func close(_ handles: [ConnectionHandle]) async {
        let futures = handles.map { handle in
            handle.eventLoop.submit { handle.connection.value.close() }.flatMap { $0 }
        }
        for future in futures {
            try? await future.get()
        }
    }

    /// Sets up an accepted connection (on its event loop): refuse it, or connect upstream.
    private func accept(_ channel: any Channel, route: Route) throws {
        let clientAddress = channel.remoteAddress?.ipAddress ?? "unknown"
        let decision = self.state.withLock { state -> (Link, LinkStatistics, ConnectionEffect?, UInt64) in
            let link = Link(from: state.instances[clientAddress] ?? clientAddress, to: route.upstreamInstance)
            let statistics = state.statistics(for: link)
            statistics.accepted.add(1, ordering: .relaxed)
            var refusal: ConnectionEffect?
            for active in state.active(on: link) {
                guard let toxic = active.toxic as? any ConnectionToxic,
                    let effect = toxic.connectionEffect(covering: active.directions)
                else { continue }
                refusal = ConnectionEffect(
                    resetsNewConnections: effect.resetsNewConnections || (refusal?.resetsNewConnections ?? false)
                )
            }
            state.nextConnection += 1
            return (link, statistics, refusal, state.nextConnection)
        }
        let (link, statistics, refusal, id) = decision
        if let refusal {
            statistics.refused.add(1, ordering: .relaxed)
            try channel.pipeline.syncOperations.addHandler(RefusingHandler(reset: refusal.resetsNewConnections))
            return
        }

        let forwarder = ForwardingHandler(reading: .upstream, statistics: statistics)
        try channel.pipeline.syncOperations.addHandler(forwarder)
        let connection = ProxiedConnection(
            id: id,
            link: link,
            client: channel,
            clientForwarder: forwarder,
            statistics: statistics
        )
        statistics.active.add(1, ordering: .relaxed)
        let handle = ConnectionHandle(
            link: link,
            route: route.name,
            eventLoop: channel.eventLoop,
            connection: NIOLoopBound(connection, eventLoop: channel.eventLoop)
        )
        self.state.withLock { $0.connections[id] = handle }
        forwarder.onInactive = { [self] in
            self.state.withLock { _ = $0.connections.removeValue(forKey: id) }
            statistics.active.subtract(1, ordering: .relaxed)
            connection.close().whenComplete { _ in }
        }

        var bootstrap = ClientBootstrap(group: channel.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.recvAllocator, value: Self.receiveAllocator)
            .channelOption(.writeBufferWaterMark, value: Self.writeWaterMark)
            .connectTimeout(TimeAmount(self.configuration.connectTimeout))
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(
                        ForwardingHandler(reading: .downstream, statistics: statistics)
                    )
                }
            }
        if self.configuration.bindsUpstreamToClientAddress,
            Self.isLoopback(clientAddress),
            let upstreamAddress = route.upstream.ipAddress, Self.isLoopback(upstreamAddress),
            let source = try? SocketAddress(ipAddress: clientAddress, port: 0)
        {
            bootstrap = bootstrap.bind(to: source)
        }
        bootstrap.connect(to: route.upstream).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let upstream):
                guard let upstreamForwarder = try? upstream.pipeline.syncOperations.handler(type: ForwardingHandler.self),
                    connection.connected(upstream, forwarder: upstreamForwarder)
                else {
                    upstream.close(promise: nil)
                    return
                }
                self.reconcile(connection)
            case .failure(let error):
                // What a client would see connecting to a closed port: a reset.
                statistics.refused.add(1, ordering: .relaxed)
                self.logger.debug(
                    "upstream unreachable",
                    metadata: ["proxy.route": "\(route.name)", "error": "\(error)"]
                )
                channel.reset()
            }
        }
    }

    private func reconcile(_ handles: [ConnectionHandle]) async {
        let futures = handles.map { handle in
            handle.eventLoop.submit { self.reconcile(handle.connection.value) }
        }
        for future in futures {
            try? await future.get()
        }
    }

    /// Brings one connection in line with the toxic table (on its event loop). Idempotent.
    private func reconcile(_ connection: ProxiedConnection) {
        guard connection.isForwarding else { return }
        let active = self.state.withLock { $0.active(on: connection.link) }
        for toxic in active {
            if let connectionToxic = toxic.toxic as? any ConnectionToxic,
                connectionToxic.connectionEffect(covering: toxic.directions) != nil
            {
                connection.statistics.reset.add(1, ordering: .relaxed)
                connection.reset()
                return
            }
        }
        var wanted: [ProxiedConnection.Stage: (any Toxic)] = [:]
        var order: [ProxiedConnection.Stage] = []
        for toxic in active {
            for direction in Direction.allCases where toxic.directions.contains(direction) {
                let stage = ProxiedConnection.Stage(name: toxic.name, sequence: toxic.sequence, direction: direction)
                wanted[stage] = toxic.toxic
                order.append(stage)
            }
        }
        for stage in connection.installed where wanted[stage] == nil {
            connection.remove(stage)
        }
        for stage in order where !connection.installed.contains(stage) {
            let toxic = wanted[stage]!
            let random = ToxicRandom(
                seed: ToxicRandom.seed(self.configuration.seed, stage.name, connection.id, stage.direction)
            )
            let handler = makeToxicHandler(
                policy: toxic.makePolicy(for: stage.direction, random: random),
                bufferLimit: self.configuration.toxicBufferLimit,
                statistics: connection.statistics,
                resetConnection: { [weak connection] in
                    guard let connection else { return }
                    connection.statistics.reset.add(1, ordering: .relaxed)
                    connection.reset()
                }
            )
            connection.install(handler, as: stage)
        }
    }

    /// Reads grow up to 256 KiB, so a bulk transfer takes few system calls per MiB.
    private static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 16 << 10, maximum: 256 << 10)
    /// Up to 512 KiB waiting to be written per channel before reading from its partner pauses:
    /// a few reads in flight, still bounded.
    private static let writeWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 << 10, high: 512 << 10)

    private static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1"
    }
}

/// The two channels of one proxied connection and the toxic stages in their pipelines.
/// Confined to the connection's event loop.
final class ProxiedConnection {
    struct Stage: Hashable {
        var name: String
        var sequence: UInt64
        var direction: Direction

        var handlerName: String { "toxic.\(self.name)#\(self.sequence).\(self.direction)" }
    }

    let id: UInt64
    let link: Link
    let statistics: LinkStatistics
    private let client: any Channel
    private let clientForwarder: ForwardingHandler
    private var server: (any Channel)?
    private var serverForwarder: ForwardingHandler?
    private var isClosed = false
    private(set) var installed: [Stage] = []

    init(id: UInt64, link: Link, client: any Channel, clientForwarder: ForwardingHandler, statistics: LinkStatistics) {
        self.id = id
        self.link = link
        self.client = client
        self.clientForwarder = clientForwarder
        self.statistics = statistics
    }

    /// Both channels are up and joined.
    var isForwarding: Bool { !self.isClosed && self.server != nil }

    /// Joins the upstream channel; `false` if the client has gone meanwhile.
    func connected(_ server: any Channel, forwarder: ForwardingHandler) -> Bool {
        guard !self.isClosed else { return false }
        self.server = server
        self.serverForwarder = forwarder
        ForwardingHandler.join(self.clientForwarder, forwarder)
        return true
    }

    func install(_ handler: any RemovableChannelHandler, as stage: Stage) {
        let (channel, forwarder): ((any Channel)?, ForwardingHandler?) =
            stage.direction == .upstream
            ? (self.client, self.clientForwarder) : (self.server, self.serverForwarder)
        guard let channel, let forwarder else { return }
        do {
            try channel.pipeline.syncOperations.addHandler(handler, name: stage.handlerName, position: .before(forwarder))
            self.installed.append(stage)
        } catch {
            // The channel is closing; nothing to disturb.
        }
    }

    func remove(_ stage: Stage) {
        self.installed.removeAll { $0 == stage }
        let channel = stage.direction == .upstream ? self.client : self.server
        channel?.pipeline.syncOperations.removeHandler(name: stage.handlerName, promise: nil)
    }

    /// Resets both sides with an RST.
    func reset() {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.client.reset()
        self.server?.reset()
    }

    /// Closes both sides.
    func close() -> EventLoopFuture<Void> {
        self.isClosed = true
        self.server?.close(promise: nil)
        let promise = self.client.eventLoop.makePromise(of: Void.self)
        self.client.close(promise: promise)
        return promise.futureResult.recover { _ in }
    }
}
