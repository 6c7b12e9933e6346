/// A lab's services, read from its `compose.yaml` and validated: what the orchestrator starts.
///
/// ``services`` are in start order: every service comes after the services it depends on, and
/// services that do not depend on each other keep the order of the file. The type is `Codable`
/// so the orchestrator can write the resolved model as `lab.json`; durations are encoded as
/// Compose duration strings (`"1m30s"`).
public struct ComposeProject: Sendable, Hashable, Codable {
    /// The project name: the top-level `name`, or else the compose file's folder name.
    public var name: String
    /// The compose file the project was read from, as given to the loader.
    public var file: String
    /// The services in start order (see ``ComposeProject/startOrder(of:)``).
    public var services: [ServiceSpec]
    /// The names of the networks: those declared at the top level, plus `default` when a
    /// service uses it.
    public var networks: [String]
    /// The names of the volumes declared at the top level; the process runtime mounts none.
    public var volumes: [String]

    /// Creates a project; `services` is kept in the order given.
    public init(
        name: String, file: String, services: [ServiceSpec], networks: [String] = [],
        volumes: [String] = []
    ) {
        self.name = name
        self.file = file
        self.services = services
        self.networks = networks
        self.volumes = volumes
    }

    /// The service with that name, if there is one.
    public subscript(service name: String) -> ServiceSpec? {
        services.first { $0.name == name }
    }

    /// Every instance of every service, in start order: `auth-1`, `supernode-1`, `supernode-2`, …
    public var instanceNames: [String] { services.flatMap(\.instanceNames) }

    /// Orders `services` so that each comes after the services it depends on.
    ///
    /// Among services whose dependencies are met, the one given first goes first, so the order is
    /// the same on every run. Dependencies on services that are not in `services` are ignored (the
    /// loader reports them). Throws a ``LabSpecError`` with code
    /// ``LabSpecError/Code/dependencyCycle`` and one diagnostic per cycle, like
    /// `dependency cycle: a -> b -> a`, placed at the `depends_on` entry that closes it.
    public static func startOrder(of services: [ServiceSpec]) throws(LabSpecError) -> [ServiceSpec] {
        let graph = DependencyGraph(services)
        let cycles = graph.cycles()
        if !cycles.isEmpty {
            throw LabSpecError(code: .dependencyCycle, diagnostics: cycles.map(\.diagnostic))
        }
        return graph.order().map { services[$0] }
    }
}

/// One Compose service: what each of its instances runs, how many there are, and how they start,
/// stop and report readiness.
public struct ServiceSpec: Sendable, Hashable, Codable {
    /// The service name, the key under `services`.
    public var name: String
    /// The `image`; the process runtime derives the default executable from it (see
    /// ``StormlabExtension/executable``).
    public var image: String?
    /// The `command` (arguments after the entrypoint); `nil` when not set, so the image's default
    /// applies. The string form is split like a shell does.
    public var command: [String]?
    /// The `entrypoint`; `nil` when not set. When set it replaces the executable.
    public var entrypoint: [String]?
    /// The environment of every instance: `env_file` entries, then `environment` over them.
    ///
    /// A bare `KEY` (list form) or `KEY:` with no value takes its value from the loader's variables;
    /// when that is unset too, the key is left out, as Compose does.
    public var environment: [String: String]
    /// `deploy.replicas`: how many instances run; 0 or more, default 1.
    public var replicas: Int
    /// `depends_on`, in the order of the file.
    public var dependsOn: [ServiceDependency]
    /// The `healthcheck`, with Docker's defaults filled in; `nil` when there is none. A disabled
    /// one (`disable: true` or `test: ["NONE"]`) has ``HealthCheck/Test/none``.
    public var healthCheck: HealthCheck?
    /// `ports`: published ports. Ranges are expanded to one mapping per port.
    public var ports: [PortMapping]
    /// `expose`: ports reachable from other services but not published (``PortMapping/published``
    /// is `nil`).
    public var expose: [PortMapping]
    /// `restart`; default ``RestartPolicy/no``.
    public var restart: RestartPolicy
    /// The names of the networks the service joins; `["default"]` when none is given.
    public var networks: [String]
    /// `labels`.
    public var labels: [String: String]
    /// `stop_signal` and `stop_grace_period`.
    public var stop: StopPolicy
    /// What the `x-stormlab` extension says, with defaults filled in.
    public var stormlab: StormlabExtension
    /// Where the service is defined (its key under `services`).
    public var location: SourceLocation

    /// Creates a service with Compose's defaults: one replica, no ports, no healthcheck.
    public init(
        name: String, image: String? = nil, command: [String]? = nil,
        entrypoint: [String]? = nil, environment: [String: String] = [:], replicas: Int = 1,
        dependsOn: [ServiceDependency] = [], healthCheck: HealthCheck? = nil,
        ports: [PortMapping] = [], expose: [PortMapping] = [], restart: RestartPolicy = .no,
        networks: [String] = ["default"], labels: [String: String] = [:],
        stop: StopPolicy = StopPolicy(), stormlab: StormlabExtension = StormlabExtension(),
        location: SourceLocation = SourceLocation(file: "", line: 1, column: 1)
    ) {
        self.name = name
        self.image = image
        self.command = command
        self.entrypoint = entrypoint
        self.environment = environment
        self.replicas = replicas
        self.dependsOn = dependsOn
        self.healthCheck = healthCheck
        self.ports = ports
        self.expose = expose
        self.restart = restart
        self.networks = networks
        self.labels = labels
        self.stop = stop
        self.stormlab = stormlab
        self.location = location
    }

    /// The instances' names, `NAME-1` … `NAME-N` for N = ``replicas``.
    public var instanceNames: [String] {
        replicas > 0 ? (1...replicas).map { "\(name)-\($0)" } : []
    }

    /// The argument vector the process runtime executes: the entrypoint (or else
    /// ``StormlabExtension/executable``), then the command.
    ///
    /// This mirrors Docker, where the image's ENTRYPOINT is what `executable` stands for. The
    /// first element is looked up on `PATH` by the runtime. Empty when there is nothing to run.
    public var processArguments: [String] {
        (entrypoint ?? stormlab.executable) + (command ?? [])
    }
}

/// One `depends_on` entry: a service that must reach a condition before this one starts.
public struct ServiceDependency: Sendable, Hashable, Codable {
    /// What the dependency must reach before the dependent service starts.
    public enum Condition: String, Sendable, Hashable, Codable, CaseIterable {
        /// The dependency's instances were started (Compose's default).
        case serviceStarted = "service_started"
        /// The dependency's instances are healthy: their healthcheck passes, or they sent
        /// `READY=1` when ``StormlabExtension/notify`` is on.
        case serviceHealthy = "service_healthy"
        /// The dependency's instances ran to completion with exit status 0.
        case serviceCompletedSuccessfully = "service_completed_successfully"
    }

    /// The name of the service depended on.
    public var service: String
    /// The condition to wait for; default ``Condition/serviceStarted``.
    public var condition: Condition
    /// Whether the dependent service must not start without it; default `true`.
    public var required: Bool
    /// Where the entry is in the compose file.
    public var location: SourceLocation

    /// Creates a dependency; the defaults are Compose's.
    public init(
        service: String, condition: Condition = .serviceStarted, required: Bool = true,
        location: SourceLocation = SourceLocation(file: "", line: 1, column: 1)
    ) {
        self.service = service
        self.condition = condition
        self.required = required
        self.location = location
    }
}

/// A Compose `healthcheck`: a command run at intervals inside (or, for processes, next to) each
/// instance, whose exit status 0 means healthy.
public struct HealthCheck: Sendable, Hashable, Codable {
    /// What the healthcheck runs.
    public enum Test: Sendable, Hashable, Codable {
        /// `["CMD", executable, args...]`: run directly, without a shell.
        case exec(arguments: [String])
        /// `["CMD-SHELL", "command"]` or a plain string: run with `/bin/sh -c`.
        case shell(command: String)
        /// `["NONE"]` or `disable: true`: no healthcheck.
        case none
    }

    /// What to run; ``Test/none`` when disabled.
    public var test: Test
    /// Time between checks; default 30 s.
    public var interval: Duration
    /// How long one check may run before it counts as failed; default 30 s.
    public var timeout: Duration
    /// Consecutive failures before the instance is unhealthy; default 3.
    public var retries: Int
    /// Time after start during which failures do not count; default 0.
    public var startPeriod: Duration
    /// Time between checks during the start period; default 5 s.
    public var startInterval: Duration

    /// Creates a healthcheck with Docker's defaults.
    public init(
        test: Test, interval: Duration = .seconds(30), timeout: Duration = .seconds(30),
        retries: Int = 3, startPeriod: Duration = .zero, startInterval: Duration = .seconds(5)
    ) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
        self.startInterval = startInterval
    }

    /// Whether the healthcheck is turned off.
    public var isDisabled: Bool { test == .none }

    private enum CodingKeys: String, CodingKey {
        case test, interval, timeout, retries, startPeriod, startInterval
    }

    /// Decodes the form ``encode(to:)`` writes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        test = try container.decode(Test.self, forKey: .test)
        interval = try container.decodeDuration(forKey: .interval)
        timeout = try container.decodeDuration(forKey: .timeout)
        retries = try container.decode(Int.self, forKey: .retries)
        startPeriod = try container.decodeDuration(forKey: .startPeriod)
        startInterval = try container.decodeDuration(forKey: .startInterval)
    }

    /// Encodes durations as Compose duration strings.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(test, forKey: .test)
        try container.encodeDuration(interval, forKey: .interval)
        try container.encodeDuration(timeout, forKey: .timeout)
        try container.encode(retries, forKey: .retries)
        try container.encodeDuration(startPeriod, forKey: .startPeriod)
        try container.encodeDuration(startInterval, forKey: .startInterval)
    }
}

/// A transport protocol of a port.
public enum PortProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    /// TCP, the default.
    case tcp
    /// UDP.
    case udp
    /// SCTP (accepted by Compose; the process runtime's fault proxy does not handle it).
    case sctp
}

/// One container port, and the host port it is published on, if any.
public struct PortMapping: Sendable, Hashable, Codable {
    /// The port the instance listens on (Compose's `target`), 1–65535.
    public var target: Int
    /// The host port (Compose's `published`), 1–65535; `nil` in `ports` means an ephemeral port
    /// chosen at start, and in `expose` means not published.
    public var published: Int?
    /// The host address to publish on (`host_ip`); `nil` means all addresses.
    public var hostIP: String?
    /// The protocol; default TCP.
    public var `protocol`: PortProtocol

    /// Creates a port mapping.
    public init(target: Int, published: Int? = nil, hostIP: String? = nil, protocol: PortProtocol = .tcp) {
        self.target = target
        self.published = published
        self.hostIP = hostIP
        self.protocol = `protocol`
    }
}

/// A Compose `restart` policy: what happens when an instance exits.
public enum RestartPolicy: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `no`: never restart (the default).
    case no
    /// `always`: restart whatever the exit status.
    case always
    /// `on-failure[:N]`: restart after a non-zero exit, at most `maxRetries` times if given.
    case onFailure(maxRetries: Int?)
    /// `unless-stopped`: restart unless the orchestrator stopped it.
    case unlessStopped

    /// Reads the Compose form: `no`, `always`, `on-failure`, `on-failure:N`, `unless-stopped`.
    public init?(compose text: String) {
        switch text {
        case "no": self = .no
        case "always": self = .always
        case "unless-stopped": self = .unlessStopped
        case "on-failure": self = .onFailure(maxRetries: nil)
        default:
            guard text.hasPrefix("on-failure:"), let count = Int(text.dropFirst("on-failure:".count)),
                count >= 0
            else { return nil }
            self = .onFailure(maxRetries: count)
        }
    }

    /// The Compose form, as ``init(compose:)`` reads it.
    public var description: String {
        switch self {
        case .no: "no"
        case .always: "always"
        case .unlessStopped: "unless-stopped"
        case .onFailure(let maxRetries): maxRetries.map { "on-failure:\($0)" } ?? "on-failure"
        }
    }

    /// Decodes the Compose string form.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let policy = RestartPolicy(compose: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid restart policy \"\(text)\""))
        }
        self = policy
    }

    /// Encodes the Compose string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// How instances of a service are stopped: a signal, then SIGKILL after a grace period.
public struct StopPolicy: Sendable, Hashable, Codable {
    /// The signal name (`stop_signal`), normalised to `SIGTERM` form, or a number; default `SIGTERM`.
    public var signal: String
    /// How long to wait after the signal before SIGKILL (`stop_grace_period`); default 10 s.
    public var gracePeriod: Duration

    /// Creates a stop policy; the defaults are Docker's.
    public init(signal: String = "SIGTERM", gracePeriod: Duration = .seconds(10)) {
        self.signal = signal
        self.gracePeriod = gracePeriod
    }

    private enum CodingKeys: String, CodingKey { case signal, gracePeriod }

    /// Decodes the form ``encode(to:)`` writes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        signal = try container.decode(String.self, forKey: .signal)
        gracePeriod = try container.decodeDuration(forKey: .gracePeriod)
    }

    /// Encodes the grace period as a Compose duration string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(signal, forKey: .signal)
        try container.encodeDuration(gracePeriod, forKey: .gracePeriod)
    }
}
