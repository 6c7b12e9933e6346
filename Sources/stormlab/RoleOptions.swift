import ArgumentParser
import Logging
import Overlay
import OverlayWire
import ServiceLifecycle
import Systemd
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

extension Endpoint: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(parsing: argument)
    }
}

extension Policy: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(name: argument)
    }

    public static var allValueStrings: [String] { Policy.all.map(\.description) }
}

/// A comma-separated list of `host:port`.
struct EndpointList: ExpressibleByArgument {
    var endpoints: [Endpoint]

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
        let parsed = parts.compactMap(Endpoint.init(parsing:))
        guard parsed.count == parts.count else { return nil }
        endpoints = parsed
    }

    init(_ endpoints: [Endpoint]) {
        self.endpoints = endpoints
    }

    var defaultValueDescription: String { endpoints.map(\.description).joined(separator: ",") }
}

/// Options every role takes.
struct RoleOptions: ParsableArguments {
    @Option(help: "This instance's name (default: $STORMLAB_INSTANCE, else the host name).")
    var name: String?

    @Option(help: "The lab seed: passwords and the auth signing key derive from it.")
    var seed = "stormlab"

    @Option(help: "Behaviour: legacy (the 2007 overlay) or adaptive (heals).")
    var policy = Policy.adaptive

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func instanceName(default fallback: String) -> String {
        if let name { return name }
        if let environment = getenv("STORMLAB_INSTANCE") { return String(cString: environment) }
        var host = [CChar](repeating: 0, count: 256)
        if gethostname(&host, host.count) == 0 {
            let name = host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if !name.isEmpty { return name }
        }
        return fallback
    }

    func makeLogger(role: String, instance: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        var logger = Logger(label: "stormlab.\(role)")
        logger[metadataKey: "lab.instance"] = "\(instance)"
        return logger
    }
}

/// The listening sockets a role serves on: taken from socket activation (fds named `overlay`
/// and `metrics`, or the first and second when unnamed) or bound from the options.
struct Listeners {
    var overlay: ListenAddress
    var metrics: ListenAddress?

    static func resolve(overlay: Endpoint, metrics: Endpoint?, noMetrics: Bool) throws -> Listeners {
        let passed = try SocketAddress.activated()
        func pick(_ name: String, position: Int) -> ListenFD? {
            passed.first { $0.name == name } ?? (passed.indices.contains(position) && passed[position].name == "unknown" ? passed[position] : nil)
        }
        let overlayAddress = pick("overlay", position: 0).map { ListenAddress.descriptor($0.fd) } ?? .endpoint(overlay)
        var metricsAddress = pick("metrics", position: 1).map { ListenAddress.descriptor($0.fd) } ?? metrics.map { .endpoint($0) }
        if noMetrics { metricsAddress = nil }
        return Listeners(overlay: overlayAddress, metrics: metricsAddress)
    }
}

private enum SocketAddress {
    static func activated() throws -> [ListenFD] {
        try SocketActivation.listenFDs()
    }
}

/// Runs one role as a service until SIGTERM or SIGINT, then exits 0.
func runRole(_ service: some Service, logger: Logger) async throws {
    // Thousands of virtual clients or attached clients each hold a socket.
    do {
        let limit = try ChildProcess.raiseOpenFileLimit()
        logger.debug("open file limit raised", metadata: ["limit": "\(limit)"])
    } catch {
        logger.warning("could not raise the open file limit", metadata: ["error": "\(error)"])
    }
    let group = ServiceGroup(configuration: .init(
        services: [.init(service: service)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    ))
    try await group.run()
}

/// The address others reach a server at: `advertise` when given, else the listen address, except
/// that a wildcard listen address (`0.0.0.0`, as in a container) is replaced by the first IPv4
/// address the host name resolves to (in a container, its address on the lab network).
func advertisedEndpoint(listen: Endpoint, advertise: Endpoint?) -> Endpoint? {
    if let advertise { return advertise }
    guard listen.host == "0.0.0.0" else { return nil }
    var host = [CChar](repeating: 0, count: 256)
    guard gethostname(&host, host.count) == 0 else { return nil }
    let name = host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return SupernodeServer.resolve([Endpoint(host: name, port: listen.port)]).first { !$0.host.hasPrefix("127.") && $0.host != name }
}
