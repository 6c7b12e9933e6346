import DockerEngine
import Foundation
import LabSpec
import Logging
import Synchronization
import Systemd

/// One run of a lab under the process runtime: the run folder, the ledger, the notify socket,
/// the instances' sockets and processes, and their supervision.
///
/// Creating a run checks what only the host can tell (executables, ports) and reports every
/// problem as an ``OrchestratorError`` with code ``OrchestratorError/Code/invalidLab`` before
/// anything is created. Then ``run(_:)`` starts supervising, runs its body (which typically calls
/// ``waitUntilReady(onProgress:)``) and always tears everything down afterwards: SIGTERM (or the
/// service's stop signal) to every instance's process group, the grace period, SIGKILL.
public final class LabRun: Sendable {
    /// The run's id, also its folder's name.
    public let id: RunID
    /// The run folder, `RUNS/ID`.
    public let folder: String
    /// The lab as loaded.
    public let project: ComposeProject
    /// Every instance, in start order.
    public let instances: [InstancePlan]
    /// The loopback addresses of the run.
    public let addressBlock: AddressBlock
    /// The notify socket every instance gets as `NOTIFY_SOCKET` (under the docker runtime, its
    /// folder is mounted into the containers).
    public let notifySocketPath: String
    /// What runs the instances.
    public let runtime: RuntimeKind
    /// The docker runtime's network, under it.
    public let dockerSubnet: DockerSubnet?

    let configuration: RunConfiguration
    let logger: Logger
    let ledger: Ledger
    let eventLog: EventLog
    let notify: NotifyReceiver
    let pump = LogPump()
    /// Socket-activated listeners by instance, until ``closeListenSockets()`` takes them.
    private let listenSockets: Mutex<[String: [ListenSocket]]>
    let logFiles: [String: Int32]
    let inherited: [String: String]
    let resolver: NameResolver
    /// Where instances and health checks start: the lab folder, when it exists.
    let workingDirectory: String?
    let state: Mutex<SupervisorState>
    let torn = Mutex(false)
    let containers: ContainerRuntime?
    private let prepared = Mutex<Result<Void, OrchestratorError>?>(nil)

    struct ListenSocket: Sendable {
        var fd: Int32
        var name: String
    }

    /// Checks the lab against the host and creates the run folder, its ledger and notify socket,
    /// and every socket-activated listener. Starts no process.
    ///
    /// - Throws: ``OrchestratorError`` with ``OrchestratorError/Code/invalidLab`` and one
    ///   diagnostic per problem (the service's position in the compose file), or
    ///   ``OrchestratorError/Code/system`` when the run folder cannot be made.
    public init(project: ComposeProject, configuration: RunConfiguration = RunConfiguration(), logger: Logger) throws(OrchestratorError) {
        let id = RunID.make()
        let block = configuration.addressBlock ?? .random()
        let docker = configuration.runtime == .docker
        let subnet: DockerSubnet? = docker ? configuration.dockerSubnet ?? .free() : nil
        self.runtime = configuration.runtime
        self.dockerSubnet = subnet
        // The n-th instance's address and the proxy's address for it.
        func address(_ n: Int) -> String? { subnet.map { $0.address(n) } ?? block.address(n) }
        func proxyAddress(_ n: Int, of count: Int) -> String? { subnet.map { $0.proxyAddress(n) } ?? block.address(count + n) }
        let addressRange = subnet.map(\.description) ?? block.description
        self.id = id
        self.project = project
        self.configuration = configuration
        self.addressBlock = block
        self.inherited = configuration.inheritedEnvironment
        var logger = logger
        logger[metadataKey: "lab.run"] = "\(id)"
        self.logger = logger

        // Addresses and names.
        var addresses: [InstanceAddress] = []
        var diagnostics: [Diagnostic] = []
        for service in project.services {
            for index in 1...max(service.replicas, 1) where service.replicas > 0 {
                guard let address = address(addresses.count) else {
                    diagnostics.append(Diagnostic(.error, at: service.location, "too many instances for the addresses from \(addressRange)"))
                    break
                }
                addresses.append(InstanceAddress(service: service.name, name: "\(service.name)-\(index)", index: index, address: address))
            }
        }
        if configuration.routeThroughProxy {
            // The proxy's addresses follow the instances' in the same block.
            let count = addresses.count
            for index in addresses.indices {
                guard let proxy = proxyAddress(index, of: count) else {
                    diagnostics.append(Diagnostic(.error, at: SourceLocation(file: project.file, line: 1, column: 1), "too many instances to route through the fault proxy with the addresses from \(addressRange)"))
                    break
                }
                addresses[index].proxyAddress = proxy
            }
        }
        let resolver = NameResolver(instances: addresses, serviceNames: project.services.map(\.name), run: id.value)
        self.resolver = resolver

        // The run folder's place, for the notify socket path given to instances.
        let runsFolder = Self.absolute(configuration.runsFolder)
        let folder = "\(runsFolder)/\(id)"
        // Under docker the socket's folder is mounted into the containers: a folder of its own.
        let socketFolder = docker ? "\(folder)/notify" : folder
        let socketPath = "\(socketFolder)/notify.sock".utf8.count < 100 ? "\(socketFolder)/notify.sock" : "/tmp/stormlab-\(id)/notify.sock"
        self.folder = folder
        self.notifySocketPath = socketPath

        // Executables, arguments, environment, readiness.
        let labFolder = Self.absolute(folderOf(project.file))
        var isFolder: ObjCBool = false
        workingDirectory = FileManager.default.fileExists(atPath: labFolder, isDirectory: &isFolder) && isFolder.boolValue ? labFolder : nil
        diagnostics += Self.hostDiagnostics(project: project, configuration: configuration)
        var plans: [InstancePlan] = []
        for service in project.services where service.replicas > 0 {
            let vector = docker ? (service.entrypoint ?? []) + (service.command ?? []) : service.processArguments
            let executable: String
            if docker {
                guard let image = service.image else { continue }
                executable = image
            } else {
                guard let first = vector.first,
                    let path = Self.locate(first, labFolder: labFolder, overrides: configuration.executables, path: configuration.inheritedEnvironment["PATH"])
                else { continue }
                executable = path
            }
            let readiness: Readiness
            if service.stormlab.notify {
                readiness = .notify
            } else if let check = service.healthCheck, !check.isDisabled {
                readiness = .healthCheck
            } else if let port = (service.ports + service.expose).first(where: { $0.protocol == .tcp }) {
                readiness = .tcp(port: port.target)
            } else {
                readiness = .started
            }
            for address in addresses where address.service == service.name {
                var environment: [String: String] = [:]
                for (key, value) in service.environment { environment[key] = resolver.resolve(value, for: address) }
                for (key, value) in resolver.variables(for: address) { environment[key] = value }
                environment["NOTIFY_SOCKET"] = socketPath
                if environment["STORMLAB_LOG"] == nil { environment["STORMLAB_LOG"] = "stderr" }
                if let watchdog = service.stormlab.watchdog {
                    environment["WATCHDOG_USEC"] = String(watchdog.components.seconds * 1_000_000 + watchdog.components.attoseconds / 1_000_000_000_000)
                }
                plans.append(InstancePlan(
                    address: address, executable: executable,
                    arguments: vector.dropFirst(docker ? 0 : 1).map { resolver.resolve($0, for: address) },
                    environment: environment, activatedSockets: service.stormlab.socketActivation,
                    readiness: readiness, log: "logs/\(address.name).log"))
            }
        }

        // Ports: bind the activated ones for real, check the others are free.
        var sockets: [String: [ListenSocket]] = [:]
        if diagnostics.isEmpty && !docker {
            for plan in plans {
                guard let service = project[service: plan.service] else { continue }
                for activated in plan.activatedSockets {
                    switch Sockets.bind(host: plan.address.address, port: activated.port, udp: activated.protocol == .udp) {
                    case .success(let fd): sockets[plan.name, default: []].append(ListenSocket(fd: fd, name: activated.name))
                    case .failure(let error):
                        diagnostics.append(Diagnostic(
                            .error, at: service.location,
                            "services.\(service.name): port \(activated.port) on \(plan.address.address) (\(plan.name)) cannot be bound: \(error)"))
                    }
                }
                let activated = Set(plan.activatedSockets.map(\.port))
                for port in service.ports + service.expose where !activated.contains(port.target) && port.protocol != .sctp {
                    if let error = Sockets.checkFree(host: plan.address.address, port: port.target, udp: port.protocol == .udp) {
                        diagnostics.append(Diagnostic(
                            .error, at: service.location,
                            "services.\(service.name): port \(port.target) on \(plan.address.address) (\(plan.name)) is not free: \(error)"))
                    }
                }
            }
        }
        if !diagnostics.isEmpty {
            for socket in sockets.values.joined() { close(socket.fd) }
            throw OrchestratorError(
                code: .invalidLab, message: diagnostics.map(\.description).joined(separator: "\n"), diagnostics: diagnostics)
        }
        self.instances = plans
        self.listenSockets = Mutex(sockets)

        // The run folder, ledger first.
        func fail(_ what: String) -> OrchestratorError {
            for socket in sockets.values.joined() { close(socket.fd) }
            return OrchestratorError(code: .system, message: "\(what): \(String(cString: strerror(errno)))")
        }
        guard Self.makeFolders(folder + "/logs"), Self.makeFolders(folderOf(socketPath)) else {
            throw fail("cannot create \(folder)/logs")
        }
        let ledger: Ledger
        do { ledger = try Ledger(path: "\(folder)/ledger.jsonl") } catch {
            for socket in sockets.values.joined() { close(socket.fd) }
            throw error
        }
        self.ledger = ledger
        ledger.append(LedgerEntry(kind: .run, pid: getpid(), startTime: ProcessRecord.read(pid: getpid())?.startTime))
        ledger.append(LedgerEntry(kind: .socketFile, path: socketPath))
        do {
            notify = try NotifyReceiver(path: socketPath)
            // Containers may run as any user.
            if docker { chmod(socketPath, 0o777) }
        } catch {
            for socket in sockets.values.joined() { close(socket.fd) }
            throw OrchestratorError(code: .system, message: "cannot bind the notify socket: \(error)", underlying: error)
        }
        let start = ContinuousClock.now
        do { eventLog = try EventLog(path: "\(folder)/events.jsonl", start: start) } catch {
            for socket in sockets.values.joined() { close(socket.fd) }
            notify.close()
            throw error
        }
        var logs: [String: Int32] = [:]
        for plan in plans {
            logs[plan.name] = open("\(folder)/\(plan.log)", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        self.logFiles = logs
        if docker, let subnet {
            let engine = configuration.dockerSocket.map { DockerEngine(socketPath: $0) } ?? (try? DockerEngine.fromEnvironment()) ?? DockerEngine()
            containers = ContainerRuntime(
                engine: engine, run: id, subnet: subnet, eventLog: eventLog, ledger: ledger, notifyFolder: folderOf(socketPath))
        } else {
            containers = nil
        }
        self.state = Mutex(SupervisorState(plans: plans, services: project.services, start: start))

        let record = LabRecord(run: id, runtime: configuration.runtime, addressBlock: addressRange, project: project, instances: plans)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(record) {
            _ = FileManager.default.createFile(atPath: "\(folder)/lab.json", contents: data)
        }
        eventLog.record(
            .runStarted, detail: "\(plans.count) instances of \(project.services.count) services, \(configuration.runtime) runtime, addresses from \(addressRange)")
        logger.info("run prepared", metadata: ["lab.folder": "\(folder)"])
    }

    deinit {
        closeListenSockets()
        for fd in logFiles.values where fd >= 0 { close(fd) }
    }

    /// The socket-activated listeners `name` is started with.
    func listenSockets(of name: String) -> [ListenSocket] { listenSockets.withLock { $0[name] ?? [] } }

    /// Closes every socket-activated listener, once: closing a descriptor twice could close
    /// whatever took its number in between (an event loop's socket, in another part of the process).
    func closeListenSockets() {
        let sockets = listenSockets.withLock { sockets in
            defer { sockets = [:] }
            return sockets
        }
        for socket in sockets.values.joined() { close(socket.fd) }
    }

    /// Every event so far, in order (as in `events.jsonl`).
    public var events: [RunEvent] { eventLog.events }

    /// Records an event of a component that acts on the run (the plan, the assertions).
    @discardableResult
    public func record(_ kind: RunEvent.Kind, instance: String? = nil, detail: String? = nil) -> RunEvent {
        eventLog.record(kind, instance: instance, detail: detail)
    }

    /// The path of `events.jsonl`.
    public var eventsPath: String { eventLog.path }

    /// The path of the ledger.
    public var ledgerPath: String { ledger.path }

    /// Supervises the instances while `body` runs, then tears everything down, also when `body`
    /// throws or the task is cancelled. The run folder is complete when this returns.
    public func run<Result: Sendable>(_ body: (LabRun) async throws -> Result) async throws -> Result {
        do {
            try await prepare()
        } catch {
            await teardown()
            throw error
        }
        let outcome = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.supervise() }
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(self))
            } catch {
                outcome = .failure(error)
            }
            group.cancelAll()
            return outcome
        }
        await teardown()
        return try outcome.get()
    }

    /// Makes what the runtime needs before anything starts: under docker, checks the engine and
    /// the images and creates the network and the containers. Done once; ``run(_:)`` calls it
    /// too. Call it first to set up what must exist before the instances (the fault proxy).
    ///
    /// - Throws: ``OrchestratorError`` with ``OrchestratorError/Code/runtimeUnavailable`` (no
    ///   engine, no permission, an image missing) after removing whatever it created.
    public func prepare() async throws(OrchestratorError) {
        if let done = prepared.withLock({ $0 }) { return try done.get() }
        var result: Result<Void, OrchestratorError> = .success(())
        if let containers {
            let grace = configuration.stopGracePeriod
            let specs = instances.compactMap { plan -> (InstancePlan, ContainerSpec)? in
                guard let service = project[service: plan.service] else { return nil }
                return (plan, ContainerRuntime.spec(
                    for: plan, service: service, resolver: resolver, network: containers.networkName,
                    notifyFolder: containers.notifyFolder, run: id, project: containers.projectName,
                    stopGrace: grace ?? service.stop.gracePeriod))
            }
            do {
                try await containers.prepare(specs, proxyAddresses: instances.compactMap(\.address.proxyAddress))
            } catch {
                eventLog.record(.startFailed, detail: error.message)
                result = .failure(error)
            }
        }
        prepared.withLock { $0 = result }
        try result.get()
    }

    /// Removes everything a run that will not ``run(_:)`` made (a failed ``prepare()``, a fault
    /// proxy that could not start) and closes its ledger.
    public func abandon() async {
        await teardown()
    }

    /// What the host says about a lab that loaded: every service's executable must exist (under
    /// docker: every service names an image). Ports are checked when a run binds them, with the
    /// run's addresses.
    public static func hostDiagnostics(project: ComposeProject, configuration: RunConfiguration = RunConfiguration()) -> [Diagnostic] {
        let labFolder = absolute(folderOf(project.file))
        var diagnostics: [Diagnostic] = []
        if configuration.runtime == .docker {
            for service in project.services where service.replicas > 0 && service.image == nil {
                diagnostics.append(Diagnostic(.error, at: service.location, "services.\(service.name): the docker runtime needs an image"))
            }
            return diagnostics
        }
        for service in project.services where service.replicas > 0 {
            guard let first = service.processArguments.first else {
                diagnostics.append(Diagnostic(
                    .error, at: service.location,
                    "services.\(service.name): nothing to run: set image, entrypoint or x-stormlab.executable"))
                continue
            }
            if locate(first, labFolder: labFolder, overrides: configuration.executables, path: configuration.inheritedEnvironment["PATH"]) == nil {
                diagnostics.append(Diagnostic(
                    .error, at: service.location,
                    "services.\(service.name): executable \"\(first)\" not found"
                        + (first.contains("/") ? " (a relative path is taken from the lab folder)" : " on PATH")))
            }
        }
        return diagnostics
    }

    // MARK: Helpers

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let current = FileManager.default.currentDirectoryPath
        if path.isEmpty || path == "." { return current }
        return current + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    static func makeFolders(_ path: String) -> Bool {
        (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
    }

    /// The path of an executable: an override, a path (relative to the lab folder), or a `PATH` entry.
    static func locate(_ name: String, labFolder: String, overrides: [String: String], path: String?) -> String? {
        if let override = overrides[name] { return override }
        func runnable(_ candidate: String) -> Bool {
            var info = stat()
            return stat(candidate, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0
        }
        if name.contains("/") {
            let candidate = name.hasPrefix("/") ? name : "\(labFolder)/\(name)"
            return runnable(candidate) ? candidate : nil
        }
        for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if runnable(candidate) { return candidate }
        }
        return nil
    }
}

/// What `lab.json` holds: the lab as loaded and every instance as started.
struct LabRecord: Codable {
    var run: RunID
    var runtime: RuntimeKind
    var addressBlock: String
    var project: ComposeProject
    var instances: [InstancePlan]
}

/// The folder part of a file path; `.` for a bare name.
func folderOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
