import LabSpec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the process runtime runs a lab. Every property has a default.
public struct RunConfiguration: Sendable {
    /// The folder holding run folders; default `.stormlab/runs` (relative to the current folder).
    public var runsFolder: String
    /// How long each instance has, from its first start, to become ready; default 60 s.
    public var startTimeout: Duration
    /// The grace period between the stop signal and SIGKILL at teardown; nil (the default) uses
    /// each service's `stop_grace_period`.
    public var stopGracePeriod: Duration?
    /// Executables by name, looked up before `PATH`: the CLI maps `stormlab` to itself, so labs
    /// run the role commands of the binary that runs them. Default empty.
    public var executables: [String: String]
    /// The loopback addresses of the run; nil (the default) picks a random block.
    public var addressBlock: AddressBlock?
    /// Give every instance a second address where the fault proxy listens for it, and resolve
    /// host references to those, so that instance-to-instance traffic crosses the proxy (for
    /// latency, reset and blackhole faults). Default false: traffic goes direct.
    public var routeThroughProxy = false
    /// The host environment every instance starts with, under the lab's `environment`; default
    /// `PATH`, `HOME`, `USER`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR` and `LD_LIBRARY_PATH` from ours.
    public var inheritedEnvironment: [String: String]
    /// Whether instances get `PR_SET_PDEATHSIG` (SIGKILL); default true. Turning it off is for
    /// testing that `stormlab cleanup` finds what a killed run left.
    public var parentDeathSignal: Bool
    /// How often the supervisor looks at notify messages, exits and probes; default 10 ms.
    public var tickInterval: Duration
    /// What runs the instances; default ``RuntimeKind/process``.
    public var runtime = RuntimeKind.process
    /// The Docker engine's socket under the docker runtime; nil for `DOCKER_HOST` or
    /// `/var/run/docker.sock`.
    public var dockerSocket: String?
    /// The docker runtime's subnet; nil picks a free one.
    public var dockerSubnet: DockerSubnet?

    /// Creates a configuration with the defaults.
    public init(
        runsFolder: String = ".stormlab/runs", startTimeout: Duration = .seconds(60),
        stopGracePeriod: Duration? = nil, executables: [String: String] = [:],
        addressBlock: AddressBlock? = nil,
        inheritedEnvironment: [String: String] = RunConfiguration.hostEnvironment(),
        parentDeathSignal: Bool = true, tickInterval: Duration = .milliseconds(10)
    ) {
        self.runsFolder = runsFolder
        self.startTimeout = startTimeout
        self.stopGracePeriod = stopGracePeriod
        self.executables = executables
        self.addressBlock = addressBlock
        self.inheritedEnvironment = inheritedEnvironment
        self.parentDeathSignal = parentDeathSignal
        self.tickInterval = tickInterval
    }

    /// The values of `keys` in this process's environment.
    public static func hostEnvironment(
        _ keys: [String] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "LD_LIBRARY_PATH"]
    ) -> [String: String] {
        var environment: [String: String] = [:]
        for key in keys {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return environment
    }
}

/// How the orchestrator decides that an instance is ready, in order of preference.
public enum Readiness: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The instance sends `READY=1` on the notify socket (`x-stormlab.notify: true`).
    case notify
    /// The Compose healthcheck passes once.
    case healthCheck
    /// A TCP connection to the instance's address and this port (the first TCP port of `ports`,
    /// then `expose`) succeeds.
    case tcp(port: Int)
    /// Nothing to wait for: ready once started.
    case started

    /// `notify`, `healthcheck`, `tcp:PORT` or `started`.
    public var description: String {
        switch self {
        case .notify: "notify"
        case .healthCheck: "healthcheck"
        case .tcp(let port): "tcp:\(port)"
        case .started: "started"
        }
    }
}

/// One instance as the process runtime starts it: everything resolved.
public struct InstancePlan: Sendable, Hashable, Codable {
    /// Name, service, index and address.
    public var address: InstanceAddress
    /// The executable's path.
    public var executable: String
    /// The arguments after `argv[0]`, names resolved.
    public var arguments: [String]
    /// The lab's environment for the instance, names resolved, plus the per-instance variables,
    /// `NOTIFY_SOCKET` and, with a watchdog, `WATCHDOG_USEC`. (The inherited host environment is
    /// not recorded.)
    public var environment: [String: String]
    /// The sockets bound by the orchestrator and passed as fds 3, 4, …
    public var activatedSockets: [ActivatedSocket]
    /// How readiness is decided.
    public var readiness: Readiness
    /// The log file, relative to the run folder.
    public var log: String

    /// The instance's name.
    public var name: String { address.name }
    /// The service's name.
    public var service: String { address.service }
}

/// A signal name as Compose writes it (`SIGTERM`, `TERM`, `15`) as a number.
func signalNumber(_ name: String) -> Int32? {
    if let number = Int32(name) { return number }
    let bare = name.uppercased().hasPrefix("SIG") ? String(name.uppercased().dropFirst(3)) : name.uppercased()
    let table: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "USR1": SIGUSR1, "USR2": SIGUSR2,
        "TERM": SIGTERM, "ALRM": SIGALRM, "STOP": SIGSTOP, "CONT": SIGCONT, "ABRT": SIGABRT,
        "PWR": SIGPWR, "WINCH": SIGWINCH,
    ]
    return table[bare]
}
