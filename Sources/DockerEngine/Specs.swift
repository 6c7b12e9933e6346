import NIOCore

/// A network to create: a bridge, cut off from the outside unless ``isInternal`` is false.
public struct NetworkSpec: Sendable, Hashable {
    /// The engine's option that names the host's bridge interface.
    public static let bridgeNameOption = "com.docker.network.bridge.name"

    /// The network's name, unique on the engine.
    public var name: String
    /// The subnet in CIDR notation, for example `172.31.7.0/24`; `nil` lets the engine pick one.
    public var subnet: String?
    /// The gateway address inside ``subnet``; `nil` lets the engine take the first address.
    public var gateway: String?
    /// Whether the network has no route out (`docker network create --internal`). Defaults to true:
    /// a lab's containers must never reach the outside.
    public var isInternal: Bool
    /// The network's labels, for finding what a run left behind.
    public var labels: [String: String]
    /// The network driver; `bridge`.
    public var driver: String
    /// The host's bridge interface name (at most 15 characters); `nil` lets the engine name it
    /// `br-<id prefix>`.
    public var bridgeName: String?

    /// Makes a network spec.
    public init(
        name: String,
        subnet: String? = nil,
        gateway: String? = nil,
        isInternal: Bool = true,
        labels: [String: String] = [:],
        driver: String = "bridge",
        bridgeName: String? = nil
    ) {
        self.name = name
        self.subnet = subnet
        self.gateway = gateway
        self.isInternal = isInternal
        self.labels = labels
        self.driver = driver
        self.bridgeName = bridgeName
    }

    /// The `POST /networks/create` body.
    func requestBody() -> ByteBuffer {
        WireJSON.encode(NetworkCreateBody(self))
    }
}

/// A container's healthcheck, run by the engine inside the container.
public struct HealthcheckSpec: Sendable, Hashable {
    /// The command to run, exec form: `["/usr/bin/stormlab", "probe", "tcp", "127.0.0.1:7200"]`.
    /// `CMD` is put in front unless the first element is already `CMD`, `CMD-SHELL` or `NONE`.
    public var test: [String]
    /// Time between checks; `nil` for the engine's default (30 s). At least 1 ms.
    public var interval: Duration?
    /// How long one check may take; `nil` for the engine's default (30 s).
    public var timeout: Duration?
    /// How long after start failures do not count; `nil` for none.
    public var startPeriod: Duration?
    /// Consecutive failures before the container is `unhealthy`; `nil` for the engine's default (3).
    public var retries: Int?

    /// Makes a healthcheck.
    public init(
        test: [String],
        interval: Duration? = nil,
        timeout: Duration? = nil,
        startPeriod: Duration? = nil,
        retries: Int? = nil
    ) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.retries = retries
    }
}

/// A container to create (the `POST /containers/create` body).
///
/// The restart policy is always `no`: the orchestrator supervises restarts. A container joins
/// only ``network``, by name, or the network namespace of another container
/// (``networkNamespaceOf``); without either it gets no network at all (`NetworkMode: none`),
/// never the default bridge with its route to the outside.
public struct ContainerSpec: Sendable, Hashable {
    /// The image reference, for example `stormlab:local`. It must be on this machine.
    public var image: String
    /// Replaces the image's entrypoint; `nil` keeps it.
    public var entrypoint: [String]?
    /// The arguments after the entrypoint (`Cmd`); `nil` keeps the image's.
    public var command: [String]?
    /// Environment variables, added to the image's.
    public var environment: [String: String]
    /// The container's labels.
    public var labels: [String: String]
    /// The container's hostname; `nil` for the engine's (the id's first 12 digits).
    public var hostname: String?
    /// The user to run as, `uid[:gid]` or a name; `nil` for the image's.
    public var user: String?
    /// The working directory; `nil` for the image's.
    public var workingDirectory: String?
    /// The signal `stop` sends first, for example `SIGTERM`; `nil` for the image's.
    public var stopSignal: String?
    /// Seconds `stop` waits before SIGKILL; `nil` for the engine's default (10).
    public var stopTimeout: Int?
    /// The network to join, by name; `nil` for none.
    public var network: String?
    /// A static IPv4 address on ``network``; it needs a network created with a subnet.
    public var ipv4Address: String?
    /// Extra DNS names for the container on ``network``.
    public var aliases: [String]
    /// Another container (name or id) whose network namespace this one joins instead of a
    /// network (`NetworkMode: container:NAME`): its addresses, routes and firewall are that
    /// container's, and outlive this one's restarts. Excludes ``network`` and ``hostname``.
    public var networkNamespaceOf: String?
    /// Bind mounts, `host-path:container-path[:ro]`.
    public var binds: [String]
    /// The healthcheck; `nil` keeps the image's.
    public var healthcheck: HealthcheckSpec?
    /// Capabilities to add, for example `NET_ADMIN`.
    public var capAdd: [String]
    /// Whether to run the engine's init (tini) as PID 1; `nil` for the engine's default.
    public var `init`: Bool?
    /// The memory limit in bytes; `nil` for none.
    public var memoryBytes: Int?
    /// The CPU limit in billionths of a CPU (`1_500_000_000` is 1.5 CPUs); `nil` for none.
    public var nanoCPUs: Int?

    /// Makes a container spec.
    public init(
        image: String,
        entrypoint: [String]? = nil,
        command: [String]? = nil,
        environment: [String: String] = [:],
        labels: [String: String] = [:],
        hostname: String? = nil,
        user: String? = nil,
        workingDirectory: String? = nil,
        stopSignal: String? = nil,
        stopTimeout: Int? = nil,
        network: String? = nil,
        ipv4Address: String? = nil,
        aliases: [String] = [],
        networkNamespaceOf: String? = nil,
        binds: [String] = [],
        healthcheck: HealthcheckSpec? = nil,
        capAdd: [String] = [],
        init: Bool? = nil,
        memoryBytes: Int? = nil,
        nanoCPUs: Int? = nil
    ) {
        self.image = image
        self.entrypoint = entrypoint
        self.command = command
        self.environment = environment
        self.labels = labels
        self.hostname = hostname
        self.user = user
        self.workingDirectory = workingDirectory
        self.stopSignal = stopSignal
        self.stopTimeout = stopTimeout
        self.network = network
        self.ipv4Address = ipv4Address
        self.aliases = aliases
        self.networkNamespaceOf = networkNamespaceOf
        self.binds = binds
        self.healthcheck = healthcheck
        self.capAdd = capAdd
        self.`init` = `init`
        self.memoryBytes = memoryBytes
        self.nanoCPUs = nanoCPUs
    }

    /// The `POST /containers/create` body.
    func requestBody() -> ByteBuffer {
        WireJSON.encode(ContainerCreateBody(self))
    }
}

// MARK: - Request bodies, with the engine's key spellings

struct NetworkCreateBody: Encodable {
    struct AddressPools: Encodable {
        struct Pool: Encodable {
            var Subnet: String?
            var Gateway: String?
        }
        var Driver = "default"
        var Config: [Pool]
    }
    var Name: String
    var CheckDuplicate = true
    var Driver: String
    var Internal: Bool
    var Attachable = false
    var EnableIPv6 = false
    var IPAM: AddressPools
    var Options: [String: String]
    var Labels: [String: String]

    init(_ spec: NetworkSpec) {
        Name = spec.name
        Driver = spec.driver
        Internal = spec.isInternal
        let pools =
            spec.subnet == nil && spec.gateway == nil
            ? [] : [AddressPools.Pool(Subnet: spec.subnet, Gateway: spec.gateway)]
        IPAM = AddressPools(Config: pools)
        Options = spec.bridgeName.map { [NetworkSpec.bridgeNameOption: $0] } ?? [:]
        Labels = spec.labels
    }
}

struct ContainerCreateBody: Encodable {
    struct Health: Encodable {
        var Test: [String]
        var Interval: Int64?
        var Timeout: Int64?
        var StartPeriod: Int64?
        var Retries: Int?
    }
    struct Host: Encodable {
        struct Restart: Encodable { var Name = "no" }
        var NetworkMode: String
        var Binds: [String]?
        var CapAdd: [String]?
        var Init: Bool?
        var Memory: Int?
        var NanoCpus: Int?
        var RestartPolicy = Restart()
    }
    struct Networking: Encodable {
        struct Endpoint: Encodable {
            struct IPAM: Encodable { var IPv4Address: String }
            var IPAMConfig: IPAM?
            var Aliases: [String]?
        }
        var EndpointsConfig: [String: Endpoint]
    }
    var Image: String
    var Entrypoint: [String]?
    var Cmd: [String]?
    var Env: [String]?
    var Labels: [String: String]
    var Hostname: String?
    var User: String?
    var WorkingDir: String?
    var StopSignal: String?
    var StopTimeout: Int?
    var Healthcheck: Health?
    var HostConfig: Host
    var NetworkingConfig: Networking?

    init(_ spec: ContainerSpec) {
        Image = spec.image
        Entrypoint = spec.entrypoint
        Cmd = spec.command
        Env =
            spec.environment.isEmpty ? nil : spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        Labels = spec.labels
        // The engine refuses a hostname or a network beside a joined namespace.
        let joins = spec.networkNamespaceOf != nil
        Hostname = joins ? nil : spec.hostname
        User = spec.user
        WorkingDir = spec.workingDirectory
        StopSignal = spec.stopSignal
        StopTimeout = spec.stopTimeout
        Healthcheck = spec.healthcheck.map { check in
            let forms: Set<String> = ["CMD", "CMD-SHELL", "NONE"]
            let test = check.test.first.map(forms.contains) == true ? check.test : ["CMD"] + check.test
            return Health(
                Test: test,
                Interval: check.interval.map(Self.nanoseconds),
                Timeout: check.timeout.map(Self.nanoseconds),
                StartPeriod: check.startPeriod.map(Self.nanoseconds),
                Retries: check.retries
            )
        }
        HostConfig = Host(
            NetworkMode: spec.networkNamespaceOf.map { "container:\($0)" } ?? spec.network ?? "none",
            Binds: spec.binds.isEmpty ? nil : spec.binds,
            CapAdd: spec.capAdd.isEmpty ? nil : spec.capAdd,
            Init: spec.`init`,
            Memory: spec.memoryBytes,
            NanoCpus: spec.nanoCPUs
        )
        NetworkingConfig = (joins ? nil : spec.network).map { network in
            let endpoint = Networking.Endpoint(
                IPAMConfig: spec.ipv4Address.map { Networking.Endpoint.IPAM(IPv4Address: $0) },
                Aliases: spec.aliases.isEmpty ? nil : spec.aliases
            )
            return Networking(EndpointsConfig: [network: endpoint])
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
