import Logging
import OverlayWire
import Synchronization
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// The shape of a small overlay on loopback: one auth, some supernodes, some client processes.
public struct LocalClusterLayout: Sendable {
    /// The `stormlab` executable whose role commands run the instances.
    public var executable: String
    /// Where the notify socket and the instances' logs go.
    public var directory: String
    public var supernodes = 3
    public var clientProcesses = 2
    public var virtualClientsPerProcess = 500
    public var policy = Policy.adaptive
    public var seed = "demo"
    public var supernodeCapacity = 1000
    public var hashIterations = 1000
    /// Instances get addresses `127.A.B.N`; pick A.B apart from other clusters on the host.
    public var subnet: (UInt8, UInt8) = (UInt8.random(in: 100...199), UInt8.random(in: 1...254))
    /// More arguments per role (`auth`, `supernode`, `client`).
    public var extraArguments: [String: [String]] = [:]

    public init(executable: String, directory: String) {
        self.executable = executable
        self.directory = directory
    }
}

/// A small overlay of real processes on loopback, each with its own address, supervised through
/// the notify protocol. For the demo, the benchmarks and end-to-end tests; labs go through the
/// orchestrator instead.
public final class LocalCluster: Sendable {
    /// One running role process.
    public struct Instance: Sendable {
        public var name: String
        public var role: String
        public var address: String
        public var endpoint: Endpoint
        public var metrics: Endpoint
        public var arguments: [String]

        public init(name: String, role: String, address: String, endpoint: Endpoint, metrics: Endpoint, arguments: [String]) {
            self.name = name
            self.role = role
            self.address = address
            self.endpoint = endpoint
            self.metrics = metrics
            self.arguments = arguments
        }
    }

    public let layout: LocalClusterLayout
    public let instances: [Instance]
    private let receiver: NotifyReceiver
    private let state = Mutex(State())

    struct State {
        var pids: [String: Int32] = [:]
        var ready: Set<String> = []
        var exits: [String: Termination] = [:]
    }

    public init(layout: LocalClusterLayout) throws {
        self.layout = layout
        let prefix = "127.\(layout.subnet.0).\(layout.subnet.1)"
        var instances: [Instance] = []
        let auth = Endpoint(host: "\(prefix).1", port: 7100)
        let supernodes = (1...max(1, layout.supernodes)).map { Endpoint(host: "\(prefix).\(10 + $0)", port: 7200) }
        let common = ["--seed", layout.seed, "--policy", "\(layout.policy)", "--log-level", "notice"]
        instances.append(Instance(
            name: "auth", role: "auth", address: auth.host, endpoint: auth, metrics: Endpoint(host: auth.host, port: 9100),
            arguments: ["auth", "--name", "auth", "--listen", "\(auth)", "--metrics", "\(auth.host):9100",
                        "--hash-iterations", "\(layout.hashIterations)"] + common + (layout.extraArguments["auth"] ?? [])
        ))
        let peerList = supernodes.map(\.description).joined(separator: ",")
        for (index, endpoint) in supernodes.enumerated() where index < layout.supernodes {
            let name = "supernode-\(index + 1)"
            instances.append(Instance(
                name: name, role: "supernode", address: endpoint.host, endpoint: endpoint,
                metrics: Endpoint(host: endpoint.host, port: 9200),
                arguments: ["supernode", "--name", name, "--listen", "\(endpoint)", "--metrics", "\(endpoint.host):9200",
                            "--peers", peerList, "--capacity", "\(layout.supernodeCapacity)"] + common
                    + (layout.extraArguments["supernode"] ?? [])
            ))
        }
        let users = layout.clientProcesses * layout.virtualClientsPerProcess
        for index in 0..<layout.clientProcesses {
            let name = "client-\(index + 1)"
            let address = "\(prefix).\(100 + index)"
            instances.append(Instance(
                name: name, role: "client", address: address, endpoint: Endpoint(host: address, port: 7200),
                metrics: Endpoint(host: address, port: 9300),
                arguments: ["client", "--name", name, "--bind", address, "--auth", "\(auth)", "--supernodes", peerList,
                            "--metrics", "\(address):9300", "--virtual", "\(layout.virtualClientsPerProcess)",
                            "--first-user", "\(1 + index * layout.virtualClientsPerProcess)", "--users", "\(users)",
                            "--promote-listen", "\(address):7200"] + common + (layout.extraArguments["client"] ?? [])
            ))
        }
        self.instances = instances
        mkdir(layout.directory, 0o755)
        // sd_notify takes only absolute socket paths.
        var absolute = [CChar](repeating: 0, count: Int(PATH_MAX))
        let directory = realpath(layout.directory, &absolute) != nil
            ? absolute.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : layout.directory
        self.receiver = try NotifyReceiver(path: "\(directory)/notify.sock")
    }

    /// The instances of one role.
    public func instances(role: String) -> [Instance] { instances.filter { $0.role == role } }

    /// Starts every instance (auth first, then supernodes, then clients).
    public func start() throws {
        for instance in instances { try start(instance) }
    }

    /// Starts (or restarts) one instance; its output is appended to `DIRECTORY/NAME.log`.
    public func start(_ instance: Instance) throws {
        let log = open("\(layout.directory)/\(instance.name).log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { if log >= 0 { close(log) } }
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LD_LIBRARY_PATH"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        environment["NOTIFY_SOCKET"] = receiver.path
        environment["STORMLAB_INSTANCE"] = instance.name
        environment["STORMLAB_LOG"] = "stderr"
        let pid = try ChildProcess.spawn(SpawnOptions(
            executable: layout.executable, arguments: instance.arguments, environment: environment,
            standardOutput: log >= 0 ? log : nil, standardError: log >= 0 ? log : nil
        ))
        state.withLock { state in
            state.pids[instance.name] = pid
            state.ready.remove(instance.name)
            state.exits[instance.name] = nil
        }
    }

    /// Reads pending notify messages and reaps exited instances.
    public func poll() throws {
        while let message = try receiver.receive(timeout: .zero) {
            guard message["READY"] == "1" else { continue }
            state.withLock { state in
                if let name = state.pids.first(where: { $0.value == message.pid })?.key { state.ready.insert(name) }
            }
        }
        state.withLock { state in
            for (name, pid) in state.pids {
                if let end = ChildProcess.poll(pid) {
                    state.exits[name] = end
                    state.pids[name] = nil
                    state.ready.remove(name)
                }
            }
        }
    }

    /// Waits until every instance has said READY=1; throws naming the laggards and the first
    /// instance that exited.
    public func waitReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            try poll()
            let (ready, exits) = state.withLock { ($0.ready, $0.exits) }
            if let exit = exits.first {
                throw LocalClusterError(message: "\(exit.key) \(exit.value) before it was ready; see \(layout.directory)/\(exit.key).log")
            }
            if ready.count == instances.count { return }
            if ContinuousClock.now > deadline {
                let missing = instances.map(\.name).filter { !ready.contains($0) }
                throw LocalClusterError(message: "not ready within \(timeout): \(missing.joined(separator: ", "))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The pid of a running instance.
    public func pid(of name: String) -> Int32? { state.withLock { $0.pids[name] } }

    /// How an instance ended, once it has (after ``poll()``).
    public func exit(of name: String) -> Termination? { state.withLock { $0.exits[name] } }

    /// Sends `signal` to the instance's process group.
    public func signal(_ name: String, _ signal: Int32) {
        guard let pid = pid(of: name) else { return }
        Glibc.kill(-pid, signal)
    }

    /// The sum of one metric over every instance of `role` that answers.
    public func total(_ metric: String, role: String) async -> Double {
        var total = 0.0
        for instance in instances(role: role) where pid(of: instance.name) != nil {
            if let page = try? await MetricsFetch.get(instance.metrics) { total += MetricsFetch.sums(page)[metric] ?? 0 }
        }
        return total
    }

    /// SIGTERM to every instance, up to `grace` for them to exit, then SIGKILL; all reaped.
    public func shutdown(grace: Duration = .seconds(2)) async {
        let pids = state.withLock { $0.pids }
        for pid in pids.values { Glibc.kill(-pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        var remaining = pids
        while !remaining.isEmpty && ContinuousClock.now < deadline {
            for (name, pid) in remaining {
                if let end = ChildProcess.poll(pid) {
                    remaining[name] = nil
                    state.withLock { $0.exits[name] = end }
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for (name, pid) in remaining {
            Glibc.kill(-pid, SIGKILL)
            if let end = ChildProcess.wait(pid) { state.withLock { $0.exits[name] = end } }
        }
        state.withLock { $0.pids = [:] }
        receiver.close()
    }

    /// How each instance ended after ``shutdown(grace:)``.
    public var exits: [String: Termination] { state.withLock { $0.exits } }
}

/// Why a local cluster could not be started or did not become ready.
public struct LocalClusterError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
