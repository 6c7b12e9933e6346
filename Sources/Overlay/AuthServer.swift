import Crypto
import CryptoExtras
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

/// How an auth server runs. Every field has a default fit for a laptop-sized lab.
public struct AuthConfiguration: Sendable {
    public var name = "auth"
    public var listen = ListenAddress.endpoint(Endpoint(host: "127.0.0.1", port: 7100))
    public var metrics: ListenAddress? = .endpoint(Endpoint(host: "127.0.0.1", port: 9100))
    /// The lab seed: passwords and the signing key derive from it.
    public var seed = "stormlab"
    public var policy = Policy.adaptive
    /// Threads hashing passwords.
    public var workers = 2
    /// Adaptive: logins waiting beyond which auth answers BUSY.
    public var queueLimit = 256
    /// PBKDF2-SHA256 iterations per login: the CPU cost of one login.
    public var hashIterations = 2000
    /// The least time a login holds a worker (hashing included), like a database round trip:
    /// makes auth's capacity (workers ÷ this) the same on every machine and build. Zero: none.
    public var loginDelay = Duration.zero
    /// Token lifetime in seconds.
    public var tokenLifetime: UInt64 = 3600
    /// Users `user-1 … user-N` exist; nil for any N.
    public var users: Int?

    public init() {}
}

struct AuthMetrics: Sendable {
    let common: CommonMetrics
    let logins: LabelledCounters
    let loginDuration: DurationHistogram
    let queueDepth: Gauge
    let connections: Gauge

    init(_ registry: PrometheusCollectorRegistry, configuration: AuthConfiguration) {
        common = CommonMetrics(registry, role: "auth")
        logins = LabelledCounters(
            registry, name: "stormlab_auth_logins_total", label: "outcome",
            values: ["ok", "busy", "bad_credentials"],
            help: "Login requests answered, by outcome."
        )
        loginDuration = registry.durationHistogram(
            "stormlab_auth_login_duration_seconds",
            help: "Time from a login's arrival to its answer, queueing included."
        )
        queueDepth = registry.gauge("stormlab_auth_queue_depth", help: "Logins accepted and not yet answered.")
        connections = registry.gauge("stormlab_auth_connections", help: "Open client connections.")
        registry.gauge("stormlab_auth_workers", help: "Password-hashing threads.").set(to: Double(configuration.workers))
        registry.gauge("stormlab_auth_queue_limit", help: "Queue depth at which adaptive auth answers BUSY (0: unbounded).")
            .set(to: Double(configuration.policy == .adaptive ? configuration.queueLimit : 0))
    }
}

/// The auth server: checks logins of synthetic users with real password hashing on a bounded
/// pool of workers, and returns Ed25519-signed tokens.
public final class AuthServer: Service, Sendable {
    public let configuration: AuthConfiguration
    public let registry = PrometheusCollectorRegistry()
    let metrics: AuthMetrics
    private let logger: Logger
    private let signer: TokenSigner
    private let admission: AuthAdmission
    private let state = Mutex(QueueState())
    /// Stored password hashes, filled on each user's first successful login (the user database).
    private let storedHashes = Mutex([String: [UInt8]]())

    private struct QueueState {
        var queued = 0
        /// Exponentially weighted mean of one hash's time on a worker.
        var serviceTime = Duration.milliseconds(5)
    }

    public init(configuration: AuthConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.signer = TokenSigner(seed: configuration.seed)
        self.admission = AuthAdmission(policy: configuration.policy, queueLimit: configuration.queueLimit, workers: configuration.workers)
        self.metrics = AuthMetrics(registry, configuration: configuration)
    }

    /// The key supernodes verify tokens with.
    public var verifier: TokenVerifier { signer.verifier }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.workers))
        pool.start()
        let server = try await FramedHandlerServer.bind(configuration.listen, group: group) {
            AuthConnectionHandler(server: self, pool: pool)
        }
        var metricsChannel: (any Channel)?
        if let address = configuration.metrics {
            metricsChannel = try await MetricsServer(registry: registry, address: address).start()
        }
        let supervision = Supervision(logger: logger)
        logger.info("auth serving", metadata: [
            "listen": "\(server.localAddress.map { "\($0)" } ?? "?")", "policy": "\(configuration.policy)",
            "workers": "\(configuration.workers)", "hash.iterations": "\(configuration.hashIterations)",
        ])
        supervision.ready(status: "serving logins")
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await supervision.keepAlive { "queue \(self.state.withLock { $0.queued })" } }
            // Connections are served on the event loops (``AuthConnectionHandler``) until graceful
            // shutdown closes the listener.
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            try? await server.close().get()
            tasks.cancelAll()
        }
        supervision.stopping()
        try? await metricsChannel?.close().get()
        try? await pool.shutdownGracefully()
        logger.info("auth stopped")
    }

    /// Answers one login on `loop`: BUSY when the queue is full (adaptive), otherwise hashes on
    /// a worker.
    func login(user: String, password: String, pool: NIOThreadPool, on loop: any EventLoop) -> EventLoopFuture<Message> {
        let clock = ContinuousClock()
        let arrived = clock.now
        let decision = state.withLock { state -> AuthAdmission.Action in
            let action = admission.admit(queued: state.queued, serviceTime: state.serviceTime)
            if action == .enqueue { state.queued += 1 }
            return action
        }
        if case .busy(let retryAfter) = decision {
            metrics.logins.increment("busy")
            return loop.makeSucceededFuture(
                .busy(retryAfterMillis: UInt32(clamping: Int64(retryAfter.seconds * 1000)), reason: "auth queue full"))
        }
        metrics.queueDepth.increment()
        let iterations = configuration.hashIterations
        let seed = configuration.seed
        let work = pool.runIfActive(eventLoop: loop) { () -> (Bool, Duration) in
            let started = clock.now
            let ok = self.verify(user: user, password: password, seed: seed, iterations: iterations)
            let spent = clock.now - started
            if spent < self.configuration.loginDelay {
                let rest = self.configuration.loginDelay - spent
                usleep(UInt32(clamping: rest.components.seconds * 1_000_000 + rest.components.attoseconds / 1_000_000_000_000))
            }
            return (ok, clock.now - started)
        }
        return work.recover { _ in (false, .zero) }.map { accepted in
            defer {
                self.metrics.queueDepth.decrement()
                self.state.withLock { $0.queued -= 1 }
                self.metrics.loginDuration.recordNanoseconds(Int64((clock.now - arrived).seconds * 1e9))
            }
            self.state.withLock { $0.serviceTime = $0.serviceTime * 0.9 + accepted.1 * 0.1 }
            guard accepted.0 else {
                self.metrics.logins.increment("bad_credentials")
                return .error(code: .badCredentials, message: "unknown user or wrong password")
            }
            self.metrics.logins.increment("ok")
            return .token(self.signer.issue(
                user: user, now: unixSeconds(), lifetime: self.configuration.tokenLifetime, nonce: UInt64.random(in: 0...UInt64.max)))
        }
    }

    func countConnection(_ delta: Int) {
        if delta > 0 { metrics.connections.increment() } else { metrics.connections.decrement() }
    }

    /// The error frame for a malformed or unexpected frame, counted.
    func rejection(_ item: Inbound) -> Message {
        switch item {
        case .malformed(let error):
            metrics.common.malformedFrames.increment(error.code.description)
            return .error(code: .malformedFrame, message: error.description)
        case .message(let other):
            metrics.common.malformedFrames.increment("unexpected_message")
            return .error(code: .unexpectedMessage, message: "auth does not take \(other.kind)")
        }
    }

    /// One PBKDF2-SHA256 of the given password, compared with the user's stored hash. The stored
    /// hash is the same function over the seed-derived password, recorded at the first login.
    private func verify(user: String, password: String, seed: String, iterations: Int) -> Bool {
        guard let number = SyntheticUsers.number(of: user), configuration.users.map({ number <= $0 }) ?? true else {
            return false
        }
        guard let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: Array("stormlab-salt:\(user)".utf8),
            using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: max(1, iterations)
        ) else { return false }
        let hash = key.withUnsafeBytes { Array($0) }
        if let stored = storedHashes.withLock({ $0[user] }) {
            return constantTimeEqual(hash, stored)
        }
        // First login of this user: the database row is created from the seed-derived password.
        guard constantTimeEqual(Array(password.utf8), Array(SyntheticUsers.password(for: user, seed: seed).utf8)) else {
            return false
        }
        storedHashes.withLock { $0[user] = hash }
        return true
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Wall-clock seconds since the Unix epoch (token expiry is wall time, shared between processes).
func unixSeconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return UInt64(spec.tv_sec)
}

/// One connection to auth, served on its event loop: logins are answered one after another, in
/// order, each hashed on the worker pool; a malformed or unexpected frame gets an error frame
/// and the connection closes once the answers before it are out. A client that half-closes
/// after its last login still gets every answer.
final class AuthConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Inbound
    typealias OutboundOut = Message

    private let server: AuthServer
    private let pool: NIOThreadPool
    /// The last answer still being worked on; the next one starts after it.
    private var tail: EventLoopFuture<Void>?
    private var closing = false

    init(server: AuthServer, pool: NIOThreadPool) {
        self.server = server
        self.pool = pool
    }

    func channelActive(context: ChannelHandlerContext) {
        server.countConnection(1)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.countConnection(-1)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let item = unwrapInboundIn(data)
        let channel = context.channel
        let loop = context.eventLoop
        let server = self.server
        let pool = self.pool
        if case .message(.login(let user, let password)) = item {
            enqueue(on: loop) {
                server.login(user: user, password: password, pool: pool, on: loop).map { reply in
                    channel.writeAndFlush(reply, promise: nil)
                }
            }
        } else {
            closing = true
            enqueue(on: loop) {
                channel.writeAndFlush(server.rejection(item)).always { _ in channel.close(promise: nil) }.map { _ in }
            }
        }
    }

    private func enqueue(on loop: any EventLoop, _ next: @escaping @Sendable () -> EventLoopFuture<Void>) {
        let previous = tail ?? loop.makeSucceededVoidFuture()
        tail = previous.flatMap(next)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // Half-closed: answer what was asked, then close.
            closing = true
            let channel = context.channel
            (tail ?? context.eventLoop.makeSucceededVoidFuture()).whenComplete { _ in channel.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
