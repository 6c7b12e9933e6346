import LabSpec
import Logging
import Synchronization
import Systemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where one instance is in its life, as ``LabRun/status()`` reports it.
public enum InstancePhase: Sendable, Hashable, CustomStringConvertible {
    /// Not started: its service waits for its dependencies.
    case waiting
    /// Started, not ready yet.
    case starting
    /// Ready.
    case ready
    /// Exited; its restart policy starts it again soon.
    case restarting
    /// Exited with status 0 and is not restarted.
    case completed
    /// Exited and is not restarted.
    case exited(Termination)

    /// A short word for a table.
    public var description: String {
        switch self {
        case .waiting: "waiting"
        case .starting: "starting"
        case .ready: "ready"
        case .restarting: "restarting"
        case .completed: "completed"
        case .exited(let termination): "\(termination)"
        }
    }
}

/// One instance's state, for tables and tests.
public struct InstanceStatus: Sendable, Hashable {
    /// The instance's name.
    public var name: String
    /// Its service.
    public var service: String
    /// Its own address.
    public var address: String
    /// The pid of its process (also its process group), while it runs.
    public var pid: Int32?
    /// Where it is in its life.
    public var phase: InstancePhase
    /// How readiness is decided.
    public var readiness: Readiness
    /// How many times it was restarted.
    public var restarts: Int
    /// The last `STATUS=` line it sent, if any.
    public var statusLine: String?
    /// How many watchdog misses were recorded.
    public var watchdogMisses: Int
}

/// How far the start is, for a progress line.
public struct StartProgress: Sendable, Hashable {
    /// Instances ready (or completed).
    public var ready: Int
    /// Instances started at least once.
    public var started: Int
    /// All instances.
    public var total: Int
    /// The names of the instances not ready yet, in start order.
    public var waiting: [String]
}

struct HealthState {
    var pid: Int32?
    var deadline: ContinuousClock.Instant?
    var next: ContinuousClock.Instant?
    var failures = 0
    var healthy: Bool?
    var last: Termination?
}

struct InstanceState {
    var plan: InstancePlan
    var service: ServiceSpec
    var pid: Int32?
    var firstStart: ContinuousClock.Instant?
    var startedAt: ContinuousClock.Instant?
    var started = false
    var spawning = false
    var ready = false
    var everReady = false
    var completed = false
    var lastExit: Termination?
    var restarts = 0
    var backoff = 0
    var restartAt: ContinuousClock.Instant?
    var statusLine: String?
    var lastWatchdog: ContinuousClock.Instant?
    var watchdogMissed = false
    var watchdogMisses = 0
    var probe: TCPProbe?
    var nextProbe: ContinuousClock.Instant?
    var probeStarted: ContinuousClock.Instant?
    var health = HealthState()
    /// Held down by a fault: when it exits it is not restarted (nor counted as a failure) until
    /// the fault releases it.
    var held = false
    /// Released by its fault before the exit the fault caused was seen (a stop slower than the
    /// fault's downtime): the exit, when it comes, starts it again whatever its restart policy.
    var releasedBeforeExit = false

    var isDone: Bool { (ready && pid != nil) || completed }
}

struct SupervisorState {
    var instances: [String: InstanceState] = [:]
    var order: [String]
    var services: [ServiceSpec]
    var startedServices: Set<String> = []
    var failure: OrchestratorError?
    var allReady = false
    var stopping = false
    let start: ContinuousClock.Instant

    init(plans: [InstancePlan], services: [ServiceSpec], start: ContinuousClock.Instant) {
        order = plans.map(\.name)
        self.services = services
        self.start = start
        for plan in plans {
            guard let service = services.first(where: { $0.name == plan.service }) else { continue }
            instances[plan.name] = InstanceState(plan: plan, service: service)
        }
    }

    func instances(of service: String) -> [InstanceState] {
        order.compactMap { instances[$0] }.filter { $0.plan.service == service }
    }
}

/// A process the supervisor is to start in this tick.
private enum Launch {
    case instance(String)
    case healthCheck(String)
}

extension LabRun {
    /// Every instance's state now, in start order.
    public func status() -> [InstanceStatus] {
        state.withLock { state in
            state.order.compactMap { state.instances[$0] }.map { instance in
                let phase: InstancePhase
                if instance.completed {
                    phase = .completed
                } else if instance.pid != nil || instance.spawning {
                    phase = instance.ready ? .ready : .starting
                } else if instance.restartAt != nil {
                    phase = .restarting
                } else if let exit = instance.lastExit {
                    phase = .exited(exit)
                } else {
                    phase = .waiting
                }
                return InstanceStatus(
                    name: instance.plan.name, service: instance.plan.service, address: instance.plan.address.address,
                    pid: instance.pid, phase: phase, readiness: instance.plan.readiness, restarts: instance.restarts,
                    statusLine: instance.statusLine, watchdogMisses: instance.watchdogMisses)
            }
        }
    }

    /// Whether `instance` is known to have no process or container running now: exited, held
    /// down by a fault, or waiting to restart. False for a name the run does not know.
    public func isDown(_ instance: String) -> Bool {
        state.withLock { $0.instances[instance].map { $0.pid == nil && !$0.spawning } ?? false }
    }

    /// Waits until every instance is ready (or ran to completion with status 0), calling
    /// `onProgress` whenever the count changes.
    ///
    /// - Throws: ``OrchestratorError`` with ``OrchestratorError/Code/startFailed`` when an
    ///   instance exits before it is ready (and is not restarted) or is not ready within the start
    ///   timeout; the error names the instance and carries the tail of its log.
    ///   `CancellationError` when the task is cancelled.
    public func waitUntilReady(onProgress: (StartProgress) -> Void = { _ in }) async throws {
        var last: StartProgress?
        while true {
            let (failure, progress) = state.withLock { state in
                let instances = state.order.compactMap { state.instances[$0] }
                return (
                    state.failure,
                    StartProgress(
                        ready: instances.filter(\.isDone).count, started: instances.filter(\.started).count,
                        total: instances.count, waiting: instances.filter { !$0.isDone }.map(\.plan.name))
                )
            }
            if let failure { throw failure }
            if progress != last {
                onProgress(progress)
                last = progress
            }
            if progress.ready == progress.total { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends `signal` to the instance's process group. Returns false when it does not run.
    @discardableResult
    public func signal(_ instance: String, _ signal: Int32) -> Bool {
        guard let pid = state.withLock({ $0.instances[instance]?.pid }) else { return false }
        return deliver(signal, to: instance, pid: pid)
    }

    /// Sends `signal` to an instance: to its process group, or through the Docker engine (where
    /// SIGSTOP and SIGCONT pause and unpause the container).
    @discardableResult
    func deliver(_ signal: Int32, to instance: String, pid: Int32) -> Bool {
        if let containers {
            containers.signal(instance, signal)
            return true
        }
        return pid > 0 && kill(-pid, signal) == 0
    }

    /// How the instance's current process (or container) ended, once it has.
    private func exitStatus(_ instance: String, pid: Int32) -> Termination? {
        if let containers { return containers.takeExit(instance) }
        return ChildProcess.poll(pid)
    }

    /// Takes an instance down for a fault: sends `signal` to its process group and keeps it from
    /// being restarted until ``release(_:)``. With `escalateAfter`, SIGKILL follows if it still
    /// runs then. Returns false when the instance does not run.
    @discardableResult
    public func hold(_ instance: String, signal: Int32, escalateAfter: Duration? = nil) async -> Bool {
        let pid = state.withLock { state -> Int32? in
            state.instances[instance]?.held = true
            state.instances[instance]?.restartAt = nil
            return state.instances[instance]?.pid
        }
        guard let pid else { return false }
        deliver(signal, to: instance, pid: pid)
        if let escalateAfter {
            let deadline = ContinuousClock.now + escalateAfter
            while ContinuousClock.now < deadline {
                if state.withLock({ $0.instances[instance]?.pid }) != pid { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            deliver(SIGKILL, to: instance, pid: pid)
        }
        return true
    }

    /// Lets a held instance run again: it starts at the next supervision tick.
    public func release(_ instance: String) {
        state.withLock { state in
            guard state.instances[instance]?.held == true else { return }
            state.instances[instance]?.held = false
            if state.instances[instance]?.pid == nil, !state.stopping {
                state.instances[instance]?.restartAt = .now
            } else {
                state.instances[instance]?.releasedBeforeExit = true
            }
        }
    }

    /// The supervision loop: runs until the task is cancelled.
    func supervise() async throws {
        while true {
            await tick()
            try await Task.sleep(for: configuration.tickInterval)
        }
    }

    /// One look at everything: notify messages, exits, health checks, probes, watchdogs,
    /// timeouts; then starts what is due.
    func tick() async {
        var messages: [NotifyMessage] = []
        while messages.count < 4096, let message = try? notify.receive(timeout: .zero) { messages.append(message) }
        // Senders other than an instance's main process speak for its process group.
        let knownPIDs = state.withLock { Set($0.instances.values.compactMap(\.pid)) }
        var groups: [Int32: Int32] = [:]
        for message in messages where !knownPIDs.contains(message.pid) {
            if let group = ProcessRecord.read(pid: message.pid)?.processGroup { groups[message.pid] = group }
        }
        let now = ContinuousClock.now
        var launches: [Launch] = []
        state.withLock { state in
            for message in messages {
                let pid = knownPIDs.contains(message.pid) ? message.pid : groups[message.pid]
                guard let pid, let name = state.order.first(where: { state.instances[$0]?.pid == pid }) else { continue }
                handle(message, instance: name, state: &state, now: now)
            }
            reap(&state, now: now)
            guard !state.stopping else { return }
            launches = due(&state, now: now)
            probe(&state, now: now)
            checkWatchdogs(&state, now: now)
            checkTimeouts(&state, now: now)
            if !state.allReady, !state.order.isEmpty, state.order.allSatisfy({ state.instances[$0]?.isDone == true }) {
                state.allReady = true
                let elapsed = now - state.start
                eventLog.record(.allReady, detail: "\(state.order.count) instances ready in \(Self.seconds(elapsed))")
            } else if state.order.isEmpty && !state.allReady {
                state.allReady = true
                eventLog.record(.allReady, detail: "no instances")
            }
        }
        for launch in launches {
            switch launch {
            case .instance(let name): await start(name)
            case .healthCheck(let name): await startHealthCheck(name)
            }
        }
    }

    private func handle(_ message: NotifyMessage, instance name: String, state: inout SupervisorState, now: ContinuousClock.Instant) {
        guard var instance = state.instances[name] else { return }
        defer { state.instances[name] = instance }
        if let status = message["STATUS"] { instance.statusLine = status }
        if message["WATCHDOG"] == "1" {
            instance.lastWatchdog = now
            instance.watchdogMissed = false
        }
        if message["WATCHDOG"] == "trigger" {
            instance.watchdogMisses += 1
            eventLog.record(.watchdogMiss, instance: name, detail: "WATCHDOG=trigger", pid: instance.pid)
        }
        if message["READY"] == "1", instance.plan.readiness == .notify, !instance.ready {
            markReady(&instance, how: "READY=1 on the notify socket", now: now)
        }
    }

    private func markReady(_ instance: inout InstanceState, how: String, now: ContinuousClock.Instant) {
        instance.ready = true
        instance.everReady = true
        instance.lastWatchdog = now
        let since = instance.startedAt.map { " \(Self.seconds(now - $0)) after start" } ?? ""
        eventLog.record(.ready, instance: instance.plan.name, detail: "\(how)\(since)", pid: instance.pid)
    }

    /// Reaps instances and health checks that ended, and decides restarts.
    private func reap(_ state: inout SupervisorState, now: ContinuousClock.Instant) {
        for name in state.order {
            guard var instance = state.instances[name] else { continue }
            defer { state.instances[name] = instance }
            if let pid = instance.health.pid, let end = ChildProcess.poll(pid) {
                instance.health.pid = nil
                instance.health.deadline = nil
                healthCheckEnded(&instance, end, now: now)
            }
            if let containers, let healthy = containers.takeHealth(name) {
                containerHealth(&instance, healthy: healthy, now: now)
            }
            guard let pid = instance.pid, let end = exitStatus(name, pid: pid) else { continue }
            instance.pid = nil
            instance.ready = false
            instance.lastExit = end
            instance.probe?.cancel()
            instance.probe = nil
            if state.stopping {
                // Anything the instance left in its process group goes with it.
                deliver(SIGKILL, to: name, pid: pid)
                eventLog.record(.exit, instance: name, detail: "\(end) after the stop signal", pid: pid, termination: end)
                continue
            }
            if instance.held {
                eventLog.record(.exit, instance: name, detail: "\(end); held down by a fault", pid: pid, termination: end)
                continue
            }
            if instance.releasedBeforeExit {
                instance.releasedBeforeExit = false
                instance.restartAt = now
                eventLog.record(.exit, instance: name, detail: "\(end); the fault that took it down has ended: starting again", pid: pid, termination: end)
                continue
            }
            eventLog.record(.exit, instance: name, detail: "\(end)", pid: pid, termination: end)
            let failed = end != .exited(0)
            let restart: Bool
            switch instance.service.restart {
            case .no: restart = false
            case .always, .unlessStopped: restart = true
            case .onFailure(let maxRetries): restart = failed && maxRetries.map { instance.restarts < $0 } ?? true
            }
            if restart {
                if let startedAt = instance.startedAt, now - startedAt >= .seconds(10) { instance.backoff = 0 }
                let delay = min(Duration.milliseconds(100) * (1 << min(instance.backoff, 10)), .seconds(5))
                instance.backoff += 1
                instance.restartAt = now + delay
                eventLog.record(
                    .restart, instance: name,
                    detail: "\(end); restart: \(instance.service.restart), attempt \(instance.restarts + 1) in \(Self.seconds(delay))",
                    pid: pid)
            } else if !failed {
                instance.completed = true
            } else if !state.allReady, state.failure == nil {
                fail(&state, instance: name, "\(name) \(end) before \(instance.everReady ? "the lab was" : "it was") ready")
            }
        }
    }

    /// Records the first start failure; later ones are only events.
    private func fail(_ state: inout SupervisorState, instance: String, _ message: String) {
        eventLog.record(.startFailed, instance: instance, detail: message)
        guard state.failure == nil else { return }
        let tail = logTail(instance)
        state.failure = OrchestratorError(code: .startFailed, message: message, instance: instance, logTail: tail)
    }

    /// What to start now: services whose dependencies are met, restarts that are due, health checks.
    private func due(_ state: inout SupervisorState, now: ContinuousClock.Instant) -> [Launch] {
        var launches: [Launch] = []
        guard state.failure == nil else { return [] }
        for service in state.services where !state.startedServices.contains(service.name) {
            let met = service.dependsOn.allSatisfy { dependency in
                let instances = state.instances(of: dependency.service)
                let failed = instances.contains { !$0.completed && $0.pid == nil && $0.restartAt == nil && $0.lastExit != nil }
                if !dependency.required && failed { return true }
                switch dependency.condition {
                case .serviceStarted: return instances.allSatisfy(\.started)
                case .serviceHealthy: return instances.allSatisfy { $0.everReady || $0.completed }
                case .serviceCompletedSuccessfully: return instances.allSatisfy(\.completed)
                }
            }
            guard met else { continue }
            state.startedServices.insert(service.name)
            for instance in state.instances(of: service.name) {
                state.instances[instance.plan.name]?.spawning = true
                launches.append(.instance(instance.plan.name))
            }
        }
        for name in state.order {
            guard var instance = state.instances[name] else { continue }
            defer { state.instances[name] = instance }
            if let at = instance.restartAt, at <= now, instance.pid == nil, !instance.spawning {
                instance.restartAt = nil
                instance.restarts += 1
                instance.spawning = true
                launches.append(.instance(name))
            }
            // Under docker the engine runs the healthcheck in the container.
            if containers == nil, let check = instance.service.healthCheck, !check.isDisabled, instance.pid != nil, instance.health.pid == nil,
                let next = instance.health.next, next <= now
            {
                instance.health.next = nil
                launches.append(.healthCheck(name))
            }
            if let pid = instance.health.pid, let deadline = instance.health.deadline, deadline <= now {
                kill(-pid, SIGKILL)
                instance.health.deadline = nil
            }
        }
        return launches
    }

    private func healthCheckEnded(_ instance: inout InstanceState, _ end: Termination, now: ContinuousClock.Instant) {
        guard let check = instance.service.healthCheck else { return }
        instance.health.last = end
        let inStartPeriod = instance.startedAt.map { now - $0 < check.startPeriod } ?? false
        if end == .exited(0) {
            instance.health.failures = 0
            if instance.plan.readiness == .healthCheck && !instance.ready && instance.pid != nil {
                markReady(&instance, how: "healthcheck passed", now: now)
            } else if instance.health.healthy == false {
                eventLog.record(.healthy, instance: instance.plan.name, detail: "healthcheck passed", pid: instance.pid)
            }
            instance.health.healthy = true
        } else if !inStartPeriod {
            instance.health.failures += 1
            if instance.health.failures >= check.retries && instance.health.healthy != false {
                instance.health.healthy = false
                eventLog.record(
                    .unhealthy, instance: instance.plan.name,
                    detail: "healthcheck failed \(instance.health.failures) times in a row (last: \(end))", pid: instance.pid)
            }
        }
        // Before the first pass, check at the shorter of interval and start_interval.
        let wait = instance.health.healthy == true ? check.interval : min(check.interval, check.startInterval)
        instance.health.next = instance.pid == nil ? nil : now + wait
    }

    /// The engine's verdict on a container's healthcheck (docker runtime): `healthy` is a passing
    /// check; `unhealthy` means the engine saw `retries` failures in a row.
    private func containerHealth(_ instance: inout InstanceState, healthy: Bool, now: ContinuousClock.Instant) {
        if healthy {
            if instance.plan.readiness == .healthCheck && !instance.ready && instance.pid != nil {
                markReady(&instance, how: "healthcheck passed (Docker engine)", now: now)
            } else if instance.health.healthy == false {
                eventLog.record(.healthy, instance: instance.plan.name, detail: "healthcheck passed (Docker engine)", pid: instance.pid)
            }
        } else if instance.health.healthy != false {
            eventLog.record(.unhealthy, instance: instance.plan.name, detail: "healthcheck failed (Docker engine)", pid: instance.pid)
        }
        instance.health.healthy = healthy
    }

    private func probe(_ state: inout SupervisorState, now: ContinuousClock.Instant) {
        for name in state.order {
            guard var instance = state.instances[name], case .tcp(let port) = instance.plan.readiness,
                instance.pid != nil, !instance.ready
            else { continue }
            defer { state.instances[name] = instance }
            if var probe = instance.probe {
                switch probe.check() {
                case .connected:
                    instance.probe = nil
                    markReady(&instance, how: "TCP connect to \(instance.plan.address.address):\(port)", now: now)
                case .refused:
                    instance.probe = nil
                    instance.nextProbe = now + .milliseconds(50)
                case .pending:
                    if let started = instance.probeStarted, now - started > .seconds(1) {
                        probe.cancel()
                        instance.probe = nil
                        instance.nextProbe = now
                    } else {
                        instance.probe = probe
                    }
                }
            } else if instance.nextProbe.map({ $0 <= now }) ?? true {
                instance.probe = TCPProbe(host: instance.plan.address.address, port: port)
                instance.probeStarted = now
            }
        }
    }

    private func checkWatchdogs(_ state: inout SupervisorState, now: ContinuousClock.Instant) {
        for name in state.order {
            guard var instance = state.instances[name], let interval = instance.service.stormlab.watchdog,
                instance.ready, instance.pid != nil, !instance.watchdogMissed, let last = instance.lastWatchdog,
                now - last > interval
            else { continue }
            instance.watchdogMissed = true
            instance.watchdogMisses += 1
            eventLog.record(
                .watchdogMiss, instance: name,
                detail: "no WATCHDOG=1 for \(Self.seconds(now - last)) (watchdog \(Self.seconds(interval)))", pid: instance.pid)
            state.instances[name] = instance
        }
    }

    private func checkTimeouts(_ state: inout SupervisorState, now: ContinuousClock.Instant) {
        guard !state.allReady, state.failure == nil else { return }
        for name in state.order {
            guard let instance = state.instances[name], let first = instance.firstStart, !instance.everReady,
                !instance.completed, now - first > configuration.startTimeout
            else { continue }
            var message = "\(name) not ready within \(Self.seconds(configuration.startTimeout)) (readiness: \(instance.plan.readiness)"
            if instance.restarts > 0 { message += ", \(instance.restarts) restarts" }
            if let last = instance.health.last { message += ", last healthcheck \(last)" }
            fail(&state, instance: name, message + ")")
            return
        }
    }

    // MARK: Starting processes

    /// Starts (or restarts) one instance's process.
    private func start(_ name: String) async {
        guard let plan = instances.first(where: { $0.name == name }), let log = logFiles[name] else { return }
        let attempt = state.withLock { $0.instances[name]?.restarts ?? 0 }
        let what = containers == nil ? ([plan.executable] + plan.arguments).joined(separator: " ") : "container of \(plan.executable)"
        let header = "\(Timestamp.now()) === stormlab: starting \(name)\(attempt > 0 ? " (restart \(attempt))" : ""): \(what)\n"
        _ = Array(header.utf8).withUnsafeBytes { write(log, $0.baseAddress, $0.count) }
        let result: Result<Int32, StartError>
        if let containers {
            result = await containers.start(name, attempt: attempt, log: log)
        } else {
            result = await spawn(plan, attempt: attempt, log: log)
        }
        let now = ContinuousClock.now
        switch result {
        case .success(let pid):
            state.withLock { state in
                guard var instance = state.instances[name] else { return }
                defer { state.instances[name] = instance }
                instance.pid = pid
                instance.spawning = false
                instance.started = true
                instance.releasedBeforeExit = false
                instance.startedAt = now
                if instance.firstStart == nil { instance.firstStart = now }
                instance.ready = false
                instance.watchdogMissed = false
                instance.health = HealthState(next: now + .milliseconds(200))
                instance.nextProbe = now
                eventLog.record(.start, instance: name, detail: attempt > 0 ? "restart \(attempt)" : nil, pid: pid)
                if state.stopping {
                    deliver(SIGKILL, to: name, pid: pid)
                } else if plan.readiness == .started {
                    markReady(&instance, how: "started (no readiness check)", now: now)
                }
            }
        case .failure(let error):
            state.withLock { state in
                state.instances[name]?.spawning = false
                let message = "cannot start \(name): \(error)"
                guard var instance = state.instances[name], instance.started, !state.stopping else {
                    fail(&state, instance: name, message)
                    return
                }
                // A restart that cannot exec (the binary being replaced, say) is tried again with
                // the restart backoff; only a lab that cannot start at all fails the run.
                let delay = min(Duration.milliseconds(100) * (1 << min(instance.backoff, 10)), .seconds(5))
                instance.backoff += 1
                instance.restartAt = .now + delay
                state.instances[name] = instance
                eventLog.record(.startFailed, instance: name, detail: "\(message); trying again in \(Self.seconds(delay))")
            }
        }
    }

    /// Spawns an instance's process with its output piped into `log`.
    private func spawn(_ plan: InstancePlan, attempt: Int, log: Int32) async -> Result<Int32, StartError> {
        var fds: [Int32] = [-1, -1]
        guard makePipe(&fds) else { return .failure(StartError("pipe: \(Errno(errno))")) }
        ledger.append(LedgerEntry(kind: .spawning, instance: plan.name))
        let options = SpawnOptions(
            executable: plan.executable, arguments: plan.arguments,
            // STORMLAB_RESTARTS: 0 on the first start, N on the Nth restart, so a program can tell
            // a deployment's first start from coming back (a client ramps up only the first time).
            environment: inherited.merging(plan.environment) { _, lab in lab }.merging(["STORMLAB_RESTARTS": "\(attempt)"]) { _, restarts in restarts },
            listenFDs: listenSockets(of: plan.name).map { ($0.fd, $0.name) },
            newProcessGroup: true, parentDeathSignal: configuration.parentDeathSignal ? SIGKILL : nil,
            standardOutput: fds[1], standardError: fds[1], workingDirectory: workingDirectory)
        let result = await Spawner.shared.spawn(options)
        close(fds[1])
        switch result {
        case .success(let pid):
            pump.add(pipe: fds[0], log: log)
            let startTime = ProcessRecord.read(pid: pid)?.startTime
            ledger.append(LedgerEntry(kind: .processGroup, instance: plan.name, pid: pid, startTime: startTime))
            return .success(pid)
        case .failure(let error):
            close(fds[0])
            return .failure(StartError("\(plan.executable): \(error)"))
        }
    }

    /// Runs one healthcheck of `name` as a child process, next to the instance.
    private func startHealthCheck(_ name: String) async {
        guard let plan = instances.first(where: { $0.name == name }),
            let check = project[service: plan.service]?.healthCheck
        else { return }
        let vector: [String]
        switch check.test {
        case .exec(let arguments): vector = arguments.map { resolver.resolve($0, for: plan.address) }
        case .shell(let command): vector = ["/bin/sh", "-c", resolver.resolve(command, for: plan.address)]
        case .none: return
        }
        guard let executable = vector.first else { return }
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let result = await Spawner.shared.spawn(SpawnOptions(
            executable: executable, arguments: Array(vector.dropFirst()),
            environment: inherited.merging(plan.environment) { _, lab in lab },
            newProcessGroup: true, parentDeathSignal: SIGKILL,
            standardOutput: null >= 0 ? null : nil, standardError: null >= 0 ? null : nil,
            workingDirectory: workingDirectory))
        let now = ContinuousClock.now
        state.withLock { state in
            guard var instance = state.instances[name] else { return }
            defer { state.instances[name] = instance }
            switch result {
            case .success(let pid):
                instance.health.pid = pid
                instance.health.deadline = now + check.timeout
            case .failure:
                // A check that cannot run counts as a failed check (status 127, as a shell says).
                healthCheckEnded(&instance, .exited(127), now: now)
            }
        }
    }

    // MARK: Teardown

    /// Stops every instance (stop signal, grace, SIGKILL), closes the sockets, flushes the logs,
    /// and closes the ledger. Runs once.
    func teardown() async {
        guard torn.withLock({ torn in defer { torn = true }; return !torn }) else { return }
        let clock = ContinuousClock()
        let stopping = state.withLock { state -> [(name: String, pid: Int32, deadline: ContinuousClock.Instant)] in
            state.stopping = true
            var stopping: [(String, Int32, ContinuousClock.Instant)] = []
            for name in state.order {
                guard var instance = state.instances[name] else { continue }
                if let pid = instance.health.pid { kill(-pid, SIGKILL) }
                instance.probe?.cancel()
                instance.probe = nil
                instance.restartAt = nil
                state.instances[name] = instance
                guard let pid = instance.pid else { continue }
                let signal = signalNumber(instance.service.stop.signal) ?? SIGTERM
                let grace = configuration.stopGracePeriod ?? instance.service.stop.gracePeriod
                eventLog.record(.stop, instance: name, detail: "\(instance.service.stop.signal), then SIGKILL after \(Self.seconds(grace))", pid: pid)
                stopping.append((name, pid, clock.now + grace))
                guard containers == nil else { continue }
                kill(-pid, signal)
                // A paused instance (SIGSTOP, a pause fault) must run to act on its stop signal.
                kill(-pid, SIGCONT)
            }
            return stopping
        }
        var killed: Set<String> = []
        if let containers {
            let signals = state.withLock { state in
                Dictionary(uniqueKeysWithValues: stopping.map { ($0.name, state.instances[$0.name]?.service.stop.signal ?? "SIGTERM") })
            }
            let ends = await containers.stop(stopping.map { ($0.name, signals[$0.name] ?? "SIGTERM", $0.deadline - clock.now) })
            state.withLock { state in
                for entry in stopping {
                    state.instances[entry.name]?.pid = nil
                    state.instances[entry.name]?.ready = false
                    guard let end = ends[entry.name] else { continue }
                    if end == .signaled(SIGKILL) { killed.insert(entry.name) }
                    eventLog.record(.exit, instance: entry.name, detail: "\(end) after the stop signal", pid: entry.pid, termination: end)
                }
            }
            await containers.removeAll()
        }
        let latest = (stopping.map(\.deadline).max() ?? clock.now) + .seconds(5)
        while containers == nil, clock.now < latest {
            let remaining = state.withLock { state in
                reap(&state, now: clock.now)
                for name in state.order {
                    guard var instance = state.instances[name], let pid = instance.health.pid else { continue }
                    if ChildProcess.poll(pid) != nil { instance.health.pid = nil }
                    state.instances[name] = instance
                }
                return state.order.compactMap { name in state.instances[name].flatMap { $0.pid != nil || $0.health.pid != nil || $0.spawning ? name : nil } }
            }
            if remaining.isEmpty { break }
            for entry in stopping where remaining.contains(entry.name) && clock.now >= entry.deadline && !killed.contains(entry.name) {
                kill(-entry.pid, SIGKILL)
                killed.insert(entry.name)
            }
            await pause(.milliseconds(10))
        }
        closeListenSockets()
        notify.close()
        let drainDeadline = clock.now + .seconds(1)
        while !pump.isDrained && clock.now < drainDeadline { await pause(.milliseconds(10)) }
        pump.stop()
        eventLog.record(.runStopped, detail: killed.isEmpty ? "every instance stopped" : "SIGKILL after the grace period: \(killed.sorted().joined(separator: ", "))")
        ledger.append(LedgerEntry(kind: .closed))
    }

    // MARK: Helpers

    /// The last `count` lines of an instance's log.
    func logTail(_ name: String, count: Int = 20) -> [String] {
        guard let bytes = ProcFS.contents(of: "\(folder)/logs/\(name).log") else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        return lines.suffix(count).map(String.init)
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let rounded = (value * 1000).rounded() / 1000
        return "\(rounded) s"
    }
}
