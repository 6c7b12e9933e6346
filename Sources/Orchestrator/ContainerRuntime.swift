import DockerEngine
import Foundation
import LabSpec
import Synchronization
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// What runs a lab's instances.
public enum RuntimeKind: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Child processes of the orchestrator, each on its own loopback address.
    case process
    /// Containers, through the Docker engine, on one internal network per run.
    case docker

    public var description: String { rawValue }
}

/// Why an instance could not be started.
struct StartError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The network of a docker-runtime run: `10.199.N.0/24`, internal, with the host's bridge at `.1`,
/// instances from `.10` and the fault proxy's addresses (on the host's bridge) from `.130`.
public struct DockerSubnet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// N, the third octet.
    public var third: UInt8
    /// Instances (and proxy addresses) a subnet holds.
    public static let capacity = 110

    /// The subnet `10.199.third.0/24`.
    public init(third: UInt8) {
        self.third = third
    }

    /// `10.199.N.0/24`.
    public var description: String { "10.199.\(third).0/24" }
    /// The host's address on the bridge.
    public var gateway: String { "10.199.\(third).1" }

    /// The `offset`-th instance's address (from 0); nil past ``capacity``.
    public func address(_ offset: Int) -> String? {
        (0..<Self.capacity).contains(offset) ? "10.199.\(third).\(offset + 10)" : nil
    }

    /// Where the fault proxy listens for the `offset`-th instance, on the host's bridge.
    public func proxyAddress(_ offset: Int) -> String? {
        (0..<Self.capacity).contains(offset) ? "10.199.\(third).\(offset + 130)" : nil
    }

    /// A subnet that no route of this host overlaps (another run's network, a VPN), at random.
    public static func free() -> DockerSubnet {
        let routes = routedPrefixes()
        let candidates = (0...255).map { UInt8($0) }.shuffled()
        let free = candidates.first { third in
            let network = UInt32(10) << 24 | UInt32(199) << 16 | UInt32(third) << 8
            return !routes.contains { route in
                let mask = min(route.mask, 0xFFFF_FF00)
                return route.mask != 0 && network & mask == route.network & mask
            }
        }
        return DockerSubnet(third: free ?? candidates[0])
    }

    /// The IPv4 routes of `/proc/net/route`, as host-order network and mask.
    static func routedPrefixes() -> [(network: UInt32, mask: UInt32)] {
        guard let bytes = ProcFS.contents(of: "/proc/net/route") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 7, let destination = UInt32(fields[1], radix: 16), let mask = UInt32(fields[7], radix: 16)
            else { return nil }
            // The kernel prints them in network byte order as a little-endian number.
            return (destination.byteSwapped, mask.byteSwapped)
        }
    }
}

/// The docker runtime's side of a run: the run's internal network, one container per instance
/// (created before anything starts, started and restarted by the supervisor), the engine's events
/// into the event log, and the containers' output into the instances' log files.
///
/// Each instance's container joins the network namespace of a sandbox container made for it
/// (`stormlab sandbox`, from ``sandboxImage``), which holds the instance's address and aliases on
/// the network and runs for the whole run, as a pause container does for a Kubernetes pod. A
/// restarted or killed instance so keeps its namespace, and the nftables rules and netem delays
/// a plan put there stay in force without a gap.
///
/// Containers carry the labels `stormlab.run`, `stormlab.instance`, `stormlab.orchestrator` (see
/// ``OrchestratorIdentity``) and Compose's own
/// (`com.docker.compose.project` = `stormlab-RUN`, `.service`, `.container-number`), so `docker
/// compose -p stormlab-RUN ps` lists them. Their restart policy is `no`: the orchestrator applies
/// the lab's restart policies exactly as under the process runtime.
final class ContainerRuntime: Sendable {
    let engine: DockerEngine
    let run: RunID
    let subnet: DockerSubnet
    let eventLog: EventLog
    let ledger: Ledger
    /// The folder holding the notify socket, mounted at `/run/stormlab` in every container.
    let notifyFolder: String
    /// Where the notify socket is inside a container.
    static let notifySocket = "/run/stormlab/notify.sock"
    /// The image of the sandbox containers: Stormlab's own (`Docker/build-image.sh`).
    static let sandboxImage = "stormlab:latest"
    /// Where a container reads how often it was restarted (`STORMLAB_RESTARTS_FILE`): its
    /// environment was fixed when it was created, so `STORMLAB_RESTARTS` there stays 0.
    static func restartsFile(_ instance: String, in folder: String = "/run/stormlab") -> String {
        "\(restartsFolder(in: folder))/\(instance)"
    }

    static func restartsFolder(in folder: String) -> String { "\(folder)/restarts" }

    private struct State {
        var containers: [String: String] = [:]
        var sandboxes: [String: String] = [:]
        /// The host pid of each sandbox's process: the handle on the instance's network namespace.
        var namespacePIDs: [String: Int32] = [:]
        /// Set once ``removeAll()`` begins: the sandboxes' ends are expected from then on.
        var removing = false
        var exits: [String: Termination] = [:]
        var health: [String: Bool] = [:]
        /// When the current incarnation was started (Unix ns): older `die` events are stale.
        var started: [String: Int64] = [:]
        var network: String?
        var proxyAddresses: [String] = []
        var watcher: Task<Void, Never>?
        var followers: [String: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    init(engine: DockerEngine, run: RunID, subnet: DockerSubnet, eventLog: EventLog, ledger: Ledger, notifyFolder: String) {
        self.engine = engine
        self.run = run
        self.subnet = subnet
        self.eventLog = eventLog
        self.ledger = ledger
        self.notifyFolder = notifyFolder
    }

    /// The Compose project the run's containers belong to.
    var projectName: String { "stormlab-" + run.value.lowercased() }
    var networkName: String { projectName }
    /// The host's bridge interface: at most 15 characters.
    var bridgeName: String { "stl" + String(run.value.filter { $0.isLetter || $0.isNumber }.suffix(12)) }

    /// The container's name for an instance.
    func containerName(_ instance: String) -> String { "\(projectName)-\(instance)" }
    /// The name of the sandbox container holding an instance's network namespace.
    func sandboxName(_ instance: String) -> String { "\(containerName(instance))-sandbox" }

    /// The host pid of each instance's sandbox, whose network namespace the instance's container
    /// shares, by instance: where faults in the instance's namespace go (with nsenter).
    var namespacePIDs: [String: Int32] { state.withLock { $0.namespacePIDs } }

    /// Checks the engine and the images, creates the network, the proxy's addresses on its bridge
    /// and every container. On failure removes whatever it created and throws a
    /// ``OrchestratorError/Code/runtimeUnavailable`` error that says what to do.
    func prepare(_ containers: [(instance: InstancePlan, spec: ContainerSpec)], proxyAddresses: [String]) async throws(OrchestratorError) {
        do {
            _ = try await engine.version()
            var missing: [String] = []
            for image in Set(containers.map(\.spec.image) + [Self.sandboxImage]).sorted() where try await engine.imageExists(image) == nil {
                missing.append(image)
            }
            if !missing.isEmpty {
                throw OrchestratorError(code: .runtimeUnavailable, message: Self.missingImages(missing))
            }
            let watchFrom = Date()
            ledger.append(LedgerEntry(kind: .network, path: networkName))
            let network = try await engine.createNetwork(NetworkSpec(
                name: networkName, subnet: subnet.description, gateway: subnet.gateway, isInternal: true,
                labels: [
                    "stormlab.run": run.value, OrchestratorIdentity.label: OrchestratorIdentity.current.labelValue,
                    "com.docker.compose.project": projectName, "com.docker.compose.network": "lab",
                ],
                bridgeName: bridgeName))
            state.withLock { $0.network = network }
            eventLog.record(.container, detail: "network \(networkName) (\(subnet), internal, bridge \(bridgeName))")
            for address in proxyAddresses {
                try Self.addAddress(address, to: bridgeName)
                state.withLock { $0.proxyAddresses.append(address) }
            }
            watch(from: watchFrom)
            mkdir(Self.restartsFolder(in: notifyFolder), 0o755)
            try await startSandboxes(for: containers)
            for (instance, spec) in containers {
                var joined = spec
                joined.networkNamespaceOf = sandboxName(instance.name)
                ledger.append(LedgerEntry(kind: .container, instance: instance.name, path: containerName(instance.name)))
                let id = try await engine.createContainer(name: containerName(instance.name), joined)
                state.withLock { $0.containers[instance.name] = id }
            }
        } catch let error as OrchestratorError {
            await removeAll()
            throw error
        } catch let error as DockerError {
            await removeAll()
            throw OrchestratorError(code: .runtimeUnavailable, message: "docker runtime: \(error)", underlying: error)
        } catch {
            await removeAll()
            throw OrchestratorError(code: .runtimeUnavailable, message: "docker runtime: \(error)", underlying: error)
        }
    }

    /// What to do about images that are not on this machine: Stormlab's own are built by
    /// `Docker/build-image.sh`, any other by whoever makes it.
    static func missingImages(_ images: [String]) -> String {
        let own = images.filter { $0.hasPrefix("stormlab:") }
        let others = images.filter { !$0.hasPrefix("stormlab:") }
        func list(_ images: [String]) -> String { images.map { "\"\($0)\"" }.joined(separator: ", ") }
        var advice: [String] = []
        if !own.isEmpty { advice.append("image \(list(own)) is not on this machine: build it with Docker/build-image.sh") }
        if !others.isEmpty { advice.append("image \(list(others)) is not on this machine: build it or load it (docker build, docker load)") }
        return advice.joined(separator: "; ") + " (Stormlab never pulls images)"
    }

    /// Creates and starts each instance's sandbox, on the network with the instance's address,
    /// aliases and hostname, all at once; records their pids.
    private func startSandboxes(for containers: [(instance: InstancePlan, spec: ContainerSpec)]) async throws {
        let engine = self.engine
        let owner = OrchestratorIdentity.current.labelValue
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (instance, spec) in containers {
                let name = sandboxName(instance.name)
                let sandbox = ContainerSpec(
                    image: Self.sandboxImage, command: ["sandbox"],
                    labels: ["stormlab.run": run.value, "stormlab.sandbox": instance.name, OrchestratorIdentity.label: owner],
                    hostname: spec.hostname, stopTimeout: 1,
                    network: spec.network, ipv4Address: spec.ipv4Address, aliases: spec.aliases)
                ledger.append(LedgerEntry(kind: .container, instance: instance.name, path: name))
                group.addTask {
                    let id = try await engine.createContainer(name: name, sandbox)
                    self.state.withLock { $0.sandboxes[instance.name] = id }
                    try await engine.start(id)
                    let info = try await engine.inspect(id)
                    guard info.running, info.pid > 0 else {
                        throw OrchestratorError(code: .runtimeUnavailable, message: "the sandbox of \(instance.name) (\(name)) did not keep running: \(info.status) \(info.error)")
                    }
                    self.state.withLock { $0.namespacePIDs[instance.name] = Int32(info.pid) }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Starts an instance's container (its `attempt`-th restart; 0 the first start) and follows
    /// its output into `log`; returns the host pid of its first process, or -1 when it exited at
    /// once (its `die` event follows).
    func start(_ instance: String, attempt: Int, log: Int32) async -> Result<Int32, StartError> {
        guard let id = state.withLock({ $0.containers[instance] }) else { return .failure(StartError("no container for \(instance)")) }
        let restarts = Self.restartsFile(instance, in: notifyFolder)
        guard (try? "\(attempt)\n".write(toFile: restarts, atomically: true, encoding: .utf8)) != nil else {
            return .failure(StartError("cannot write \(restarts)"))
        }
        let since = Date()
        state.withLock { state in
            state.exits[instance] = nil
            state.health[instance] = nil
            state.started[instance] = Int64(since.timeIntervalSince1970 * 1e9)
            state.followers.removeValue(forKey: instance)?.cancel()
        }
        do {
            try await engine.start(id)
            let info = try await engine.inspect(id)
            let engine = self.engine
            let follower = Task { _ = try? await engine.followLogs(id, into: log, since: since) }
            state.withLock { $0.followers[instance] = follower }
            return .success(info.running && info.pid > 0 ? Int32(info.pid) : -1)
        } catch {
            return .failure(StartError("\(error)"))
        }
    }

    /// The exit of an instance's container since its last start, once.
    func takeExit(_ instance: String) -> Termination? {
        state.withLock { $0.exits.removeValue(forKey: instance) }
    }

    /// The engine's latest health verdict for an instance's container, once.
    func takeHealth(_ instance: String) -> Bool? {
        state.withLock { $0.health.removeValue(forKey: instance) }
    }

    /// Delivers a signal through the engine: SIGSTOP and SIGCONT pause and unpause (the freezer),
    /// anything else is `docker kill --signal`. Asynchronous; errors go to the event log.
    func signal(_ instance: String, _ signal: Int32) {
        guard let id = state.withLock({ $0.containers[instance] }) else { return }
        let engine = self.engine
        let eventLog = self.eventLog
        Task {
            do {
                switch signal {
                case SIGSTOP: try await engine.pause(id)
                case SIGCONT: try await engine.unpause(id)
                default: try await engine.kill(id, signal: String(signal))
                }
            } catch let error as DockerError where [.notRunning, .conflict, .notFound].contains(error.code) {
                // Already stopped, paused or gone: the engine's events say what happened.
            } catch {
                eventLog.record(.container, instance: instance, detail: "signal \(signal) failed: \(error)")
            }
        }
    }

    /// Stops every running container (its stop signal, then SIGKILL after `grace`, by the engine)
    /// and returns how each ended.
    func stop(_ stopping: [(name: String, signal: String, grace: Duration)]) async -> [String: Termination] {
        let ids = state.withLock { $0.containers }
        let engine = self.engine
        return await withTaskGroup(of: (String, Termination?).self) { group in
            for entry in stopping {
                guard let id = ids[entry.name] else { continue }
                group.addTask {
                    // A paused container must run to act on its stop signal.
                    try? await engine.unpause(id)
                    try? await engine.kill(id, signal: entry.signal)
                    let deadline = ContinuousClock.now + entry.grace
                    while ContinuousClock.now < deadline {
                        if let info = try? await engine.inspect(id), !info.running {
                            return (entry.name, Self.termination(exitCode: info.exitCode))
                        }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                    try? await engine.kill(id, signal: "SIGKILL")
                    for _ in 0..<100 {
                        if let info = try? await engine.inspect(id), !info.running {
                            return (entry.name, Self.termination(exitCode: info.exitCode))
                        }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                    return (entry.name, nil)
                }
            }
            var ends: [String: Termination] = [:]
            for await (name, end) in group { ends[name] = end }
            return ends
        }
    }

    /// Removes every container and sandbox, the proxy's addresses, the network and the restart
    /// counts; stops watching. Harmless to call twice.
    func removeAll() async {
        let (containers, sandboxes, network, followers, watcher) = state.withLock { state in
            state.removing = true
            defer {
                state.containers = [:]
                state.sandboxes = [:]
                state.namespacePIDs = [:]
                state.network = nil
                state.followers = [:]
                state.watcher = nil
            }
            return (state.containers, state.sandboxes, state.network, state.followers, state.watcher)
        }
        let engine = self.engine
        // The instances first: a sandbox goes once nothing shares its namespace.
        for group in [containers, sandboxes] {
            await withTaskGroup(of: Void.self) { tasks in
                for id in group.values { tasks.addTask { try? await engine.remove(id, force: true) } }
            }
        }
        for follower in followers.values { follower.cancel() }
        if let network { try? await engine.removeNetwork(network) }
        watcher?.cancel()
        try? FileManager.default.removeItem(atPath: Self.restartsFolder(in: notifyFolder))
    }

    // MARK: Events

    /// Follows the engine's events for the run's containers into the event log, and keeps the
    /// exits and health verdicts the supervisor asks for. Reconnects if the stream breaks.
    private func watch(from start: Date) {
        let engine = self.engine
        let filters = ["type": ["container"], "label": ["stormlab.run=\(run.value)"]]
        let task = Task {
            var since = start
            while !Task.isCancelled {
                do {
                    for try await event in engine.events(filters: filters, since: since) {
                        since = Date(timeIntervalSince1970: Double(event.timeNano) / 1e9 + 1e-6)
                        handle(event)
                    }
                } catch {
                    if Task.isCancelled { return }
                    eventLog.record(.container, detail: "engine event stream broke (\(error)); reconnecting")
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        state.withLock { $0.watcher = task }
    }

    private func handle(_ event: DockerEvent) {
        // Healthchecks run as execs: one pair of events a check, noise in a run's log.
        guard !event.action.hasPrefix("exec_") else { return }
        if let instance = event.attributes["stormlab.sandbox"] {
            // A sandbox ends only with the run; before that, its instance is off the network.
            if event.action == "die", !state.withLock({ $0.removing }) { eventLog.record(.container, instance: instance, detail: "sandbox die: \(instance) has no network until the run ends") }
            return
        }
        guard let instance = event.attributes["stormlab.instance"] else { return }
        var detail = event.action
        if let code = event.attributes["exitCode"] { detail += " exitCode=\(code)" }
        if let signal = event.attributes["signal"] { detail += " signal=\(signal)" }
        eventLog.record(.container, instance: instance, detail: detail)
        state.withLock { state in
            switch event.action {
            case "die":
                guard event.timeNano >= state.started[instance] ?? 0 else { return }
                state.exits[instance] = Self.termination(exitCode: Int(event.attributes["exitCode"] ?? "") ?? -1)
            case "health_status: healthy":
                state.health[instance] = true
            case "health_status: unhealthy":
                state.health[instance] = false
            default:
                break
            }
        }
    }

    /// A container's exit code as a termination: above 128 is `128 + signal`, as a shell says.
    static func termination(exitCode: Int) -> Termination {
        (129...192).contains(exitCode) ? .signaled(Int32(exitCode - 128)) : .exited(Int32(truncatingIfNeeded: exitCode))
    }

    // MARK: The host's bridge

    /// Adds `address/32` to the bridge `device` (the fault proxy listens there for an instance).
    static func addAddress(_ address: String, to device: String) throws(OrchestratorError) {
        let pid: Int32
        do {
            pid = try ChildProcess.spawn(SpawnOptions(
                executable: "ip", arguments: ["address", "add", "\(address)/32", "dev", device],
                environment: ["PATH": "/usr/sbin:/sbin:/usr/bin:/bin"], parentDeathSignal: SIGKILL))
        } catch {
            throw OrchestratorError(code: .runtimeUnavailable, message: "cannot run ip (apt-get install iproute2): \(error)")
        }
        guard ChildProcess.wait(pid) == .exited(0) else {
            throw OrchestratorError(
                code: .runtimeUnavailable,
                message: "cannot add the fault proxy's address \(address) to \(device): latency, reset and blackhole faults under the docker runtime need root")
        }
    }
}

extension ContainerRuntime {
    /// The container an instance runs in.
    static func spec(
        for plan: InstancePlan, service: ServiceSpec, resolver: NameResolver, network: String, notifyFolder: String,
        run: RunID, project: String, stopGrace: Duration
    ) -> ContainerSpec {
        let address = plan.address
        var environment = plan.environment
        environment["NOTIFY_SOCKET"] = notifySocket
        environment["STORMLAB_RESTARTS"] = "0"
        environment["STORMLAB_RESTARTS_FILE"] = restartsFile(plan.name)
        var labels = service.labels
        labels["stormlab.run"] = run.value
        labels["stormlab.instance"] = plan.name
        labels[OrchestratorIdentity.label] = OrchestratorIdentity.current.labelValue
        labels["com.docker.compose.project"] = project
        labels["com.docker.compose.service"] = service.name
        labels["com.docker.compose.container-number"] = String(address.index)
        labels["com.docker.compose.oneoff"] = "False"
        var healthcheck: HealthcheckSpec?
        if let check = service.healthCheck {
            let test: [String]
            switch check.test {
            case .exec(let arguments): test = ["CMD"] + arguments.map { resolver.resolve($0, for: address) }
            case .shell(let command): test = ["CMD-SHELL", resolver.resolve(command, for: address)]
            case .none: test = ["NONE"]
            }
            healthcheck = HealthcheckSpec(
                test: test, interval: check.interval, timeout: check.timeout, startPeriod: check.startPeriod, retries: check.retries)
        }
        return ContainerSpec(
            image: service.image ?? plan.executable,
            entrypoint: service.entrypoint.map { $0.map { resolver.resolve($0, for: address) } },
            command: service.command.map { $0.map { resolver.resolve($0, for: address) } },
            environment: environment, labels: labels, hostname: plan.name,
            stopSignal: service.stop.signal, stopTimeout: Int(stopGrace.components.seconds),
            network: network, ipv4Address: address.address, aliases: [service.name, plan.name],
            binds: ["\(notifyFolder):/run/stormlab"], healthcheck: healthcheck)
    }
}
