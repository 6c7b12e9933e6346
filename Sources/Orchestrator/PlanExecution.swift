import Injectors
import LabSpec
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Load that only a program-aware component can generate (a login storm speaks the overlay's
/// protocol): the CLI plugs one in; the orchestrator itself knows no program.
public protocol LoadGenerator: Sendable {
    /// Whether this generator produces `fault`.
    func handles(_ fault: Fault) -> Bool
    /// Generates the load against `targets` (instance name and address) until cancelled; returns
    /// a one-line summary of what it did.
    func run(_ fault: Fault, targets: [(name: String, address: String)]) async -> String
}

/// The fault proxy as the plan sees it: toxics by name on directed links between instances. The
/// CLI plugs the real proxy in when the run routes traffic through it.
public protocol ProxyControl: Sendable {
    /// Applies `fault` (latency, reset or blackhole) to traffic from each link's `from` instance
    /// to its `to` instance, under `name`.
    func apply(_ fault: Fault, links: [Link], named name: String) async throws
    /// Removes what `apply` did under `name`; harmless when nothing is there.
    func revert(named name: String) async
}

/// Carries out a resolved timeline against a running lab: every fault applied at its offset from
/// the plan's start and reverted at its end, with the scheduled and actual times and the
/// mechanism in the event log. Cancelling ``execute()`` reverts everything still applied, and
/// reverting twice is harmless.
///
/// Mechanisms under the process runtime: signals to process groups for process faults (with the
/// instance held down, not restarted, until the fault's end); nftables rules between instance
/// addresses for partition, loss and bandwidth (needs root); raw TCP from the orchestrator for
/// malformed floods; a ``LoadGenerator`` for program-specific load. Under the docker runtime,
/// process faults go through the Docker engine (kill, pause/unpause), packet faults into the
/// containers' own network namespaces, and latency too, as tc netem, where the kernel has netem.
public final class PlanExecution: Sendable {
    public let run: LabRun
    public let timeline: Timeline
    private let load: (any LoadGenerator)?
    private let proxy: (any ProxyControl)?
    private let nftables: NFTables?
    /// Whether latency goes into the senders' namespaces as tc netem (docker, netem available).
    private let netem: Bool
    private let applied = Mutex<[Int: TimelineEvent]>([:])
    private let loadTasks = Mutex<[Int: Task<String, Never>]>([:])
    /// Under docker: the network namespaces (sandbox pids) each packet or netem fault went into.
    private let namespaces = Mutex<[String: [Int32]]>([:])

    /// - Parameters:
    ///   - nftables: whether packet faults may use nftables (root); nil decides by whether it is
    ///     usable here.
    ///   - netem: whether latency under docker uses tc netem; nil decides by
    ///     ``latencyUsesNetem(runtime:)``.
    public init(
        run: LabRun, timeline: Timeline, load: (any LoadGenerator)? = nil, proxy: (any ProxyControl)? = nil,
        nftables: Bool? = nil, netem: Bool? = nil
    ) {
        self.run = run
        self.timeline = timeline
        self.load = load
        self.proxy = proxy
        self.nftables = (nftables ?? NFTables.isUsable) ? NFTables(runID: run.id.description) : nil
        self.netem = run.runtime == .docker && (netem ?? Self.latencyUsesNetem(runtime: run.runtime))
    }

    /// Whether latency under `runtime` goes in as tc netem rather than through the fault proxy:
    /// under docker, where this kernel has netem and this process may use it (root).
    public static func latencyUsesNetem(runtime: RuntimeKind) -> Bool {
        runtime == .docker && TrafficControl.netemIsAvailable
    }

    /// The mechanism that would serve `fault` on a host with root and nftables: for the report
    /// and `stormlab plan`.
    public static func mechanismName(for fault: Fault, runtime: RuntimeKind = .process, nftables: Bool = NFTables.isUsable) -> String {
        switch fault {
        case .kill, .terminate, .restart, .massRestart, .churn: runtime == .docker ? "docker-engine" : "signals"
        case .pause: runtime == .docker ? "docker-engine" : "signals"
        case .partition, .loss, .bandwidth:
            nftables ? (runtime == .docker ? "nftables-netns" : "nftables") : "unavailable (needs root)"
        case .latency: latencyUsesNetem(runtime: runtime) ? "tc-netem" : "fault-proxy"
        case .reset, .blackhole: "fault-proxy"
        case .malformedFlood: "raw-tcp"
        case .loginStorm: "load"
        }
    }

    /// The mechanism that serves `event` here, or nil with the reason it cannot be served.
    public func mechanism(for event: TimelineEvent) -> Result<String, PlanExecutionError> {
        switch event.fault {
        case .kill, .terminate, .restart, .pause, .massRestart, .churn:
            return .success(run.runtime == .docker ? "docker-engine" : "signals")
        case .partition, .loss, .bandwidth:
            if nftables != nil { return .success(run.runtime == .docker ? "nftables-netns" : "nftables") }
            return .failure(PlanExecutionError(message: "\(event.kind) needs nftables (run as root with nft installed); the fault proxy path is not wired into the process runtime yet"))
        case .latency where netem:
            return .success("tc-netem")
        case .latency, .reset, .blackhole:
            if proxy != nil { return .success("fault-proxy") }
            return .failure(PlanExecutionError(message: "\(event.kind) needs the fault proxy in the path, and this run does not route through it"))
        case .malformedFlood:
            return .success("raw-tcp")
        case .loginStorm:
            if let load, load.handles(event.fault) { return .success("load") }
            return .failure(PlanExecutionError(message: "no load generator for \(event.kind) in this run"))
        }
    }

    /// Runs the timeline from `origin` (time zero of the plan) until its last event and the end
    /// of `duration`, then reverts what remains. Cancellation reverts at once.
    public func execute(origin: ContinuousClock.Instant, duration: Duration) async {
        run.record(.planStarted, detail: "\(timeline.events.count) fault events over \(Timeline.format(duration))")
        // Every action (apply or revert) in time order.
        var actions: [(time: Duration, index: Int, apply: Bool)] = []
        for (index, event) in timeline.events.enumerated() {
            actions.append((event.time, index, true))
            if case .at(let end) = event.revert { actions.append((end, index, false)) }
        }
        actions.sort { ($0.time, $0.apply ? 1 : 0, $0.index) < ($1.time, $1.apply ? 1 : 0, $1.index) }
        await withTaskGroup(of: Void.self) { group in
            for action in actions {
                try? await Task.sleep(until: origin + action.time, clock: .continuous)
                if Task.isCancelled { break }
                let due = origin + action.time
                // Actions at the same moment run side by side (a wave hits many instances at once).
                group.addTask {
                    if action.apply {
                        await self.apply(action.index, scheduled: action.time, due: due)
                    } else {
                        await self.revert(action.index, scheduled: action.time, due: due)
                    }
                }
            }
            if !Task.isCancelled { try? await Task.sleep(until: origin + duration, clock: .continuous) }
            await group.waitForAll()
        }
        await revertAll()
        run.record(.planEnded)
    }

    /// Adds a packet fault's rules: in this host's namespace, or under docker in the network
    /// namespace of every container that sends on one of its links (entered with nsenter).
    private func applyPacketFault(_ fault: PacketFault, event: TimelineEvent) throws {
        guard run.runtime == .docker else {
            try nftables?.apply(fault)
            return
        }
        for sender in Set(event.links.map(\.from)).sorted() {
            let pid = try namespacePID(of: sender)
            try NFTables(runID: run.id.description, namespacePID: pid).apply(fault)
            namespaces.withLock { $0[fault.name, default: []].append(pid) }
        }
    }

    private func revertPacketFault(_ name: String) throws {
        guard run.runtime == .docker else {
            try nftables?.revert(name)
            return
        }
        for pid in namespaces.withLock({ $0.removeValue(forKey: name) ?? [] }) {
            try? NFTables(runID: run.id.description, namespacePID: pid).revert(name)
        }
    }

    /// Adds latency as tc netem in the network namespace of every container that sends on one
    /// of the event's links, delaying what it sends to the link's other end.
    private func applyNetem(_ latency: LatencyFault, event: TimelineEvent, index: Int) throws {
        let addresses = self.addresses
        let name = ruleName(event, index: index)
        for (sender, links) in Dictionary(grouping: event.links, by: \.from).sorted(by: { $0.key < $1.key }) {
            let pid = try namespacePID(of: sender)
            let delay = NetemDelay(
                name: name, slot: netemSlot(index), destinations: links.compactMap { addresses[$0.to] },
                delay: latency.delay, jitter: latency.jitter)
            try TrafficControl(namespacePID: pid).apply(delay)
            namespaces.withLock { $0[name, default: []].append(pid) }
        }
    }

    private func revertNetem(_ name: String, index: Int) {
        for pid in namespaces.withLock({ $0.removeValue(forKey: name) ?? [] }) {
            try? TrafficControl(namespacePID: pid).revert(slot: netemSlot(index))
        }
    }

    /// The event's tc class and filter priority: 1…65534, distinct for any two events in flight.
    private func netemSlot(_ index: Int) -> Int { index % 0xFFFE + 1 }

    /// The pid of the sender's sandbox, whose network namespace the sender's container shares
    /// for the whole run (so restarts keep a fault in it in force).
    private func namespacePID(of sender: String) throws(PlanExecutionError) -> Int32 {
        guard let pid = run.containers?.namespacePIDs[sender] else {
            throw PlanExecutionError(message: "\(sender) has no network namespace (no sandbox)")
        }
        return pid
    }

    /// Reverts every fault still applied (run end, Ctrl-C, abort, error).
    public func revertAll() async {
        let remaining = applied.withLock { $0.keys.sorted() }
        for index in remaining {
            await revert(index, scheduled: nil, due: nil)
        }
        if let nftables, run.runtime == .process { try? nftables.removeTable() }
    }

    /// The event in words; `late` is when the mechanism had done its work, minus the schedule.
    private func describe(_ event: TimelineEvent, scheduled: Duration?, due: ContinuousClock.Instant?, mechanism: String) -> String {
        var text = "\(event.step): \(event.kind) \(event.targetSummary) via \(mechanism)"
        if !event.detail.isEmpty { text += " (\(event.detail))" }
        if let scheduled, let due {
            text += "; scheduled \(Timeline.format(scheduled)), late \(Self.milliseconds(ContinuousClock.now - due)) ms"
        }
        return text
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(Double(Int(ms * 10)) / 10)
    }

    private func apply(_ index: Int, scheduled: Duration, due: ContinuousClock.Instant) async {
        let event = timeline.events[index]
        let mechanism: String
        switch self.mechanism(for: event) {
        case .failure(let error):
            run.record(.faultFailed, detail: "\(event.step): \(event.kind) \(event.targetSummary): \(error.message)")
            return
        case .success(let name):
            mechanism = name
        }
        applied.withLock { $0[index] = event }
        do {
            try await perform(event, index: index)
            run.record(.faultApplied, detail: describe(event, scheduled: scheduled, due: due, mechanism: mechanism))
        } catch {
            run.record(.faultFailed, detail: "\(describe(event, scheduled: scheduled, due: due, mechanism: mechanism)): \(error)")
        }
    }

    private func revert(_ index: Int, scheduled: Duration?, due: ContinuousClock.Instant?) async {
        guard let event = applied.withLock({ $0.removeValue(forKey: index) }) else { return }
        let mechanism = (try? self.mechanism(for: event).get()) ?? "-"
        do {
            let summary = try await undo(event, index: index)
            var detail = describe(event, scheduled: scheduled, due: due, mechanism: mechanism)
            if let summary { detail += "; \(summary)" }
            run.record(.faultReverted, detail: detail)
        } catch {
            run.record(.faultFailed, detail: "revert \(describe(event, scheduled: scheduled, due: due, mechanism: mechanism)): \(error)")
        }
    }

    // MARK: Mechanisms

    private func perform(_ event: TimelineEvent, index: Int) async throws {
        switch event.fault {
        case .kill(let fault):
            let signal = Self.signalNumber(fault.signal)
            await forEach(event.instances) { await self.run.hold($0, signal: signal) }
        case .terminate(let fault):
            await forEach(event.instances) { await self.run.hold($0, signal: SIGTERM, escalateAfter: fault.timeout) }
        case .restart(let fault):
            await forEach(event.instances) { await self.run.hold($0, signal: SIGTERM, escalateAfter: fault.timeout) }
        case .massRestart(let fault):
            let signal = Self.signalNumber(fault.signal)
            await forEach(event.instances) { await self.run.hold($0, signal: signal) }
        case .churn:
            await forEach(event.instances) { await self.run.hold($0, signal: SIGKILL) }
        case .pause:
            for name in event.instances { run.signal(name, SIGSTOP) }
        case .partition:
            try applyPacketFault(packetFault(event, index: index, effect: .drop), event: event)
        case .loss(let fault):
            try applyPacketFault(packetFault(event, index: index, effect: .loss(fault.probability)), event: event)
        case .bandwidth(let fault):
            try applyPacketFault(packetFault(event, index: index, effect: .bandwidth(bytesPerSecond: Int(fault.rate.bitsPerSecond / 8))), event: event)
        case .malformedFlood(let fault):
            let targets = addresses(of: event.instances)
            startLoad(index) { await MalformedFlood(fault: fault, targets: targets.map(\.address)).run() }
        case .loginStorm:
            guard let load else { return }
            let targets = addresses(of: event.instances)
            startLoad(index) { await load.run(event.fault, targets: targets) }
        case .latency(let latency) where netem:
            try applyNetem(latency, event: event, index: index)
        case .latency, .reset, .blackhole:
            try await proxy?.apply(event.fault, links: event.links, named: ruleName(event, index: index))
        }
    }

    /// Undoes `event`; returns a summary for load faults.
    private func undo(_ event: TimelineEvent, index: Int) async throws -> String? {
        switch event.fault {
        case .kill, .terminate, .restart, .massRestart, .churn:
            for name in event.instances { run.release(name) }
        case .pause:
            for name in event.instances { run.signal(name, SIGCONT) }
        case .partition, .loss, .bandwidth:
            try revertPacketFault(ruleName(event, index: index))
        case .malformedFlood, .loginStorm:
            guard let task = loadTasks.withLock({ $0.removeValue(forKey: index) }) else { return nil }
            task.cancel()
            return await task.value
        case .latency where netem:
            revertNetem(ruleName(event, index: index), index: index)
        case .latency, .reset, .blackhole:
            await proxy?.revert(named: ruleName(event, index: index))
        }
        return nil
    }

    private func forEach(_ names: [String], _ body: @escaping @Sendable (String) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { await body(name) } }
        }
    }

    /// Load runs beside the plan until its revert; the task is the load's own lifetime, ended by
    /// the revert (or by ``revertAll()``), so it is tracked here rather than in a task group.
    private func startLoad(_ index: Int, _ body: @escaping @Sendable () async -> String) {
        let task = Task { await body() }
        loadTasks.withLock { $0[index] = task }
    }

    /// Each instance's address, by instance name.
    private var addresses: [String: String] {
        Dictionary(uniqueKeysWithValues: run.instances.map { ($0.name, $0.address.address) })
    }

    private func addresses(of names: [String]) -> [(name: String, address: String)] {
        let addresses = self.addresses
        return names.compactMap { name in addresses[name].map { (name, $0) } }
    }

    private func ruleName(_ event: TimelineEvent, index: Int) -> String { "\(event.step)#\(index)" }

    private func packetFault(_ event: TimelineEvent, index: Int, effect: PacketFault.Effect) -> PacketFault {
        let addresses = self.addresses
        // Links are directed; a two-way fault lists both directions already.
        let links = event.links.compactMap { link -> PacketFault.Link? in
            guard let from = addresses[link.from], let to = addresses[link.to] else { return nil }
            return PacketFault.Link(from: from, to: to)
        }
        return PacketFault(name: ruleName(event, index: index), links: links, effect: effect)
    }

    /// A signal number for a name such as `SIGKILL`, `KILL` or `9`.
    static func signalNumber(_ name: String) -> Int32 {
        if let number = Int32(name) { return number }
        let bare = name.uppercased().hasPrefix("SIG") ? String(name.uppercased().dropFirst(3)) : name.uppercased()
        let table: [String: Int32] = [
            "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "TERM": SIGTERM, "USR1": SIGUSR1,
            "USR2": SIGUSR2, "STOP": SIGSTOP, "CONT": SIGCONT, "ABRT": SIGABRT, "SEGV": SIGSEGV,
        ]
        return table[bare] ?? SIGKILL
    }
}

/// Why a fault cannot be served by this run.
public struct PlanExecutionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
