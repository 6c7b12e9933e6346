import ArgumentParser
import Foundation
import Orchestrator
import Overlay
import OverlayWire

struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Run the auth server: checks logins, issues signed tokens."
    )

    @OptionGroup var role: RoleOptions

    @Option(help: "Address to serve logins on, unless a socket named 'overlay' is passed (LISTEN_FDS).")
    var listen = Endpoint(host: "127.0.0.1", port: 7100)

    @Option(help: "Address to serve /metrics on, unless a socket named 'metrics' is passed.")
    var metrics = Endpoint(host: "127.0.0.1", port: 9100)

    @Flag(help: "Serve no metrics.")
    var noMetrics = false

    @Option(help: "Threads hashing passwords.")
    var workers = 2

    @Option(help: "Adaptive policy: logins waiting beyond which auth answers BUSY.")
    var queueLimit = 256

    @Option(help: "PBKDF2-SHA256 iterations per login (the cost of one login).")
    var hashIterations = 2000

    @Option(help: "Milliseconds a login holds a worker at least (a database round trip); fixes auth's capacity at workers ÷ this.")
    var loginDelay = 0.0

    @Option(help: "Token lifetime in seconds.")
    var tokenLifetime: UInt64 = 3600

    @Option(help: "Users user-1 … user-N exist (default: any N).")
    var users: Int?

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard queueLimit >= 1 else { throw ValidationError("--queue-limit must be at least 1") }
        guard hashIterations >= 1 else { throw ValidationError("--hash-iterations must be at least 1") }
        guard loginDelay >= 0 else { throw ValidationError("--login-delay must not be negative") }
    }

    func run() async throws {
        let name = role.instanceName(default: "auth")
        let logger = role.makeLogger(role: "auth", instance: name)
        let listeners = try Listeners.resolve(overlay: listen, metrics: metrics, noMetrics: noMetrics)
        var configuration = AuthConfiguration()
        configuration.name = name
        configuration.listen = listeners.overlay
        configuration.metrics = listeners.metrics
        configuration.seed = role.seed
        configuration.policy = role.policy
        configuration.workers = workers
        configuration.queueLimit = queueLimit
        configuration.hashIterations = hashIterations
        configuration.tokenLifetime = tokenLifetime
        configuration.loginDelay = .milliseconds(loginDelay)
        configuration.users = users
        try await runRole(AuthServer(configuration: configuration, logger: logger), logger: logger)
    }
}

struct SupernodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supernode",
        abstract: "Run a supernode: attaches clients, answers lookups, gossips with other supernodes."
    )

    @OptionGroup var role: RoleOptions

    @Option(help: "Address to serve on, unless a socket named 'overlay' is passed (LISTEN_FDS).")
    var listen = Endpoint(host: "127.0.0.1", port: 7200)

    @Option(help: "Address others reach this supernode at (default: the bound address; for 0.0.0.0, the host name's address).")
    var advertise: Endpoint?

    @Option(help: "Address to serve /metrics on, unless a socket named 'metrics' is passed.")
    var metrics = Endpoint(host: "127.0.0.1", port: 9200)

    @Flag(help: "Serve no metrics.")
    var noMetrics = false

    @Option(help: "Other supernodes to gossip with, host:port,… (its own address is skipped).")
    var peers = EndpointList([])

    @Option(help: "Clients this supernode is meant to hold.")
    var capacity = 1000

    @Option(help: "Legacy policy: the supernode falls over past capacity × this factor.")
    var overloadFactor = 1.25

    @Option(help: "Adaptive promotion starts above this pool load (attached / capacity).")
    var promoteHigh = 0.8

    @Option(help: "Adaptive promotion stops below this pool load.")
    var promoteLow = 0.6

    @Option(help: "Seconds a client process must be online to qualify for promotion (default: legacy 3600, adaptive 2).")
    var promoteMinimumOnline: UInt32?

    @Option(help: "Seconds without a word after which a client session is dropped (default: 10, or 4 heartbeats when --client-heartbeat is longer than 2.5 s).")
    var sessionTimeout: Double?

    @Option(help: "Seconds between the clients' heartbeats, so the session timeout can follow them.")
    var clientHeartbeat = 1.0

    func validate() throws {
        guard capacity >= 1 else { throw ValidationError("--capacity must be at least 1") }
        guard overloadFactor >= 1 else { throw ValidationError("--overload-factor must be at least 1") }
        guard promoteLow <= promoteHigh else { throw ValidationError("--promote-low must not exceed --promote-high") }
        guard clientHeartbeat > 0, sessionTimeout.map({ $0 > 0 }) ?? true else {
            throw ValidationError("--client-heartbeat and --session-timeout must be positive")
        }
    }

    func run() async throws {
        let name = role.instanceName(default: "supernode")
        let logger = role.makeLogger(role: "supernode", instance: name)
        let listeners = try Listeners.resolve(overlay: listen, metrics: metrics, noMetrics: noMetrics)
        var configuration = SupernodeConfiguration()
        configuration.name = name
        configuration.listen = listeners.overlay
        configuration.advertise = advertisedEndpoint(listen: listen, advertise: advertise)
        configuration.metrics = listeners.metrics
        configuration.seed = role.seed
        configuration.peers = peers.endpoints
        configuration.policy = role.policy
        configuration.capacity = capacity
        configuration.overloadFactor = overloadFactor
        configuration.promoteHigh = promoteHigh
        configuration.promoteLow = promoteLow
        configuration.promoteMinimumOnline = promoteMinimumOnline
        configuration.sessionTimeout = .seconds(sessionTimeout ?? max(10, 4 * clientHeartbeat))
        try await runRole(SupernodeServer(configuration: configuration, logger: logger), logger: logger)
    }
}

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Run a client process hosting many virtual clients."
    )

    @OptionGroup var role: RoleOptions

    @Option(help: "Local address every connection is made from.")
    var bind: String?

    @Option(help: "The auth server.")
    var auth = Endpoint(host: "127.0.0.1", port: 7100)

    @Option(help: "Supernodes to start from, host:port,…")
    var supernodes = EndpointList([Endpoint(host: "127.0.0.1", port: 7200)])

    @Option(help: "Address to serve /metrics on, unless a socket named 'metrics' is passed.")
    var metrics = Endpoint(host: "127.0.0.1", port: 9300)

    @Flag(help: "Serve no metrics.")
    var noMetrics = false

    @Option(name: .customLong("virtual"), help: "Virtual clients in this process, each with its own connection.")
    var virtualClients = 100

    @Option(help: "Number of this process's first user (user-N).")
    var firstUser = 1

    @Option(help: "Users in the whole lab, for lookups (default: this process's own).")
    var users: Int?

    @Option(help: "Seconds between heartbeats.")
    var heartbeat = 1.0

    @Option(help: "Seconds between lookups of a random user.")
    var lookupInterval = 5.0

    @Option(help: "Seconds over which the virtual clients start (0: all at once).")
    var startSpread = 0.0

    @Option(help: "Seconds over which the virtual clients start on the process's first start (a deployment's ramp); a restart (the orchestrator's $STORMLAB_RESTARTS or $STORMLAB_RESTARTS_FILE above 0) uses --start-spread (default: --start-spread).")
    var ramp: Double?

    @Option(help: "Seconds before a login is given up and retried (default: legacy 0.5, adaptive 30).")
    var loginTimeout: Double?

    @Option(help: "Where to serve as a supernode once promoted (default: not promotable).")
    var promoteListen: Endpoint?

    @Option(help: "Capacity taken on when promoted.")
    var promotedCapacity = 1000

    func validate() throws {
        guard virtualClients >= 0 else { throw ValidationError("--virtual must not be negative") }
        guard firstUser >= 1 else { throw ValidationError("--first-user must be at least 1") }
        guard heartbeat > 0, lookupInterval > 0 else { throw ValidationError("intervals must be positive") }
        guard startSpread >= 0, ramp.map({ $0 >= 0 }) ?? true else { throw ValidationError("--start-spread and --ramp must not be negative") }
        guard !supernodes.endpoints.isEmpty else { throw ValidationError("--supernodes needs at least one host:port") }
    }

    func run() async throws {
        let name = role.instanceName(default: "client")
        let logger = role.makeLogger(role: "client", instance: name)
        let listeners = try Listeners.resolve(overlay: promoteListen ?? Endpoint(host: "127.0.0.1", port: 0), metrics: metrics, noMetrics: noMetrics)
        var configuration = ClientConfiguration()
        configuration.name = name
        configuration.bind = bind
        configuration.auth = auth
        configuration.supernodes = supernodes.endpoints
        configuration.metrics = listeners.metrics
        configuration.seed = role.seed
        configuration.virtualClients = virtualClients
        configuration.firstUser = firstUser
        configuration.users = users
        configuration.policy = role.policy
        configuration.heartbeatInterval = .seconds(heartbeat)
        configuration.lookupInterval = .seconds(lookupInterval)
        configuration.startSpread = .seconds(restartCount() == 0 ? ramp ?? startSpread : startSpread)
        configuration.loginTimeout = loginTimeout.map { .seconds($0) }
        if promoteListen != nil || listeners.overlay != .endpoint(Endpoint(host: "127.0.0.1", port: 0)) {
            configuration.promoteListen = listeners.overlay
        }
        configuration.promoteAdvertise = promoteListen.flatMap { advertisedEndpoint(listen: $0, advertise: nil) ?? $0 }
        configuration.promotedCapacity = promotedCapacity
        try await runRole(ClientSwarm(configuration: configuration, logger: logger), logger: logger)
    }
}
