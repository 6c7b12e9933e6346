/// What a service's `x-stormlab` extension says: what only Stormlab needs to run it.
///
/// Schema (every key optional; unknown keys are errors):
/// ```yaml
/// x-stormlab:
///   executable: [stormlab, supernode]  # or a string, split like a shell does
///   notify: true                       # instances send READY=1 on the notify socket
///   watchdog: 10s                      # WatchdogSec: WATCHDOG=1 expected at least this often
///   socket-activation: [7000, "7001/udp", {port: 7002, name: peers}]
///   metrics: {port: 9100, path: /metrics}
/// ```
public struct StormlabExtension: Sendable, Hashable, Codable {
    /// The executable and leading arguments that stand for the image under the process runtime;
    /// ``ServiceSpec/command`` follows them.
    ///
    /// Default, derived from the image: its last path component without tag or digest, so
    /// `ghcr.io/acme/stormlab:1.2` runs `stormlab` and `postgres@sha256:…` runs `postgres`. Empty
    /// when the service has no image either; the loader reports that as an error.
    public var executable: [String]
    /// Whether instances send `READY=1` on the notify socket, which then decides readiness;
    /// default `false`.
    public var notify: Bool
    /// The watchdog interval (systemd's `WatchdogSec`): an instance that sends no `WATCHDOG=1`
    /// for this long is a watchdog miss. `nil` (the default) turns the watchdog off.
    public var watchdog: Duration?
    /// The sockets the orchestrator binds and passes as fds 3, 4, … in this order
    /// (`LISTEN_FDS`, `LISTEN_FDNAMES`); each is one of the service's `ports` or `expose` targets.
    public var socketActivation: [ActivatedSocket]
    /// Where instances serve Prometheus metrics; `nil` when they do not.
    public var metrics: MetricsEndpoint?

    /// Creates an extension; the defaults are those of a service without `x-stormlab`.
    public init(
        executable: [String] = [], notify: Bool = false, watchdog: Duration? = nil,
        socketActivation: [ActivatedSocket] = [], metrics: MetricsEndpoint? = nil
    ) {
        self.executable = executable
        self.notify = notify
        self.watchdog = watchdog
        self.socketActivation = socketActivation
        self.metrics = metrics
    }

    /// The executable the process runtime runs for `image` when `x-stormlab.executable` is not
    /// given: the image's last path component without its tag or digest.
    public static func defaultExecutable(forImage image: String) -> [String] {
        var name = Substring(image)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        return name.isEmpty ? [] : [String(name)]
    }

    private enum CodingKeys: String, CodingKey {
        case executable, notify, watchdog, socketActivation, metrics
    }

    /// Decodes the form ``encode(to:)`` writes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        executable = try container.decode([String].self, forKey: .executable)
        notify = try container.decode(Bool.self, forKey: .notify)
        watchdog = try container.decodeDurationIfPresent(forKey: .watchdog)
        socketActivation = try container.decode([ActivatedSocket].self, forKey: .socketActivation)
        metrics = try container.decodeIfPresent(MetricsEndpoint.self, forKey: .metrics)
    }

    /// Encodes the watchdog interval as a Compose duration string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(executable, forKey: .executable)
        try container.encode(notify, forKey: .notify)
        try container.encodeDurationIfPresent(watchdog, forKey: .watchdog)
        try container.encode(socketActivation, forKey: .socketActivation)
        try container.encodeIfPresent(metrics, forKey: .metrics)
    }
}

/// A listening socket the orchestrator binds for an instance and passes to it by socket activation.
public struct ActivatedSocket: Sendable, Hashable, Codable {
    /// The port, one of the service's `ports` or `expose` targets.
    public var port: Int
    /// The protocol; default TCP (a stream socket), UDP gives a datagram socket.
    public var `protocol`: PortProtocol
    /// The fd's name in `LISTEN_FDNAMES`; default the port number (`"7000"`). At most 255
    /// printable ASCII characters, no `:`.
    public var name: String

    /// Creates a socket; the name defaults to the port number.
    public init(port: Int, protocol: PortProtocol = .tcp, name: String? = nil) {
        self.port = port
        self.protocol = `protocol`
        self.name = name ?? String(port)
    }
}

/// Where an instance serves metrics in the Prometheus text format.
public struct MetricsEndpoint: Sendable, Hashable, Codable {
    /// The port, 1–65535, on the instance's own address.
    public var port: Int
    /// The HTTP path; default `/metrics`.
    public var path: String

    /// Creates an endpoint.
    public init(port: Int, path: String = "/metrics") {
        self.port = port
        self.path = path
    }
}
