import Foundation
import Synchronization
import Systemd

/// One line of `events.jsonl`: a process event or a run event, with monotonic and wall time.
public struct RunEvent: Sendable, Hashable, Codable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The run began (the run folder exists, nothing started yet).
        case runStarted = "run-start"
        /// An instance's process was started (also after a restart); ``pid`` is set.
        case start
        /// An instance became ready; ``detail`` says how (notify, healthcheck, tcp, started).
        case ready
        /// An instance's process ended; ``status`` or ``signal`` is set.
        case exit
        /// An instance is restarted by its restart policy; ``detail`` says why.
        case restart
        /// An instance sent no `WATCHDOG=1` within its watchdog interval.
        case watchdogMiss = "watchdog-miss"
        /// An instance's healthcheck passed after failing (or for the first time after ready).
        case healthy
        /// An instance's healthcheck failed `retries` times in a row.
        case unhealthy
        /// The orchestrator sent the instance its stop signal.
        case stop
        /// The lab failed to start; ``detail`` says why.
        case startFailed = "start-failed"
        /// Every instance is ready.
        case allReady = "all-ready"
        /// The run ended: every instance stopped.
        case runStopped = "run-stop"
        /// The steady-state check began, passed or failed; ``detail`` says which.
        case steadyState = "steady-state"
        /// The plan's fault phase began (time zero of the timeline).
        case planStarted = "plan-start"
        /// A fault was applied: ``detail`` names the step, kind, targets, mechanism, and the
        /// scheduled and actual offsets.
        case faultApplied = "fault-apply"
        /// A fault was reverted, with the same details.
        case faultReverted = "fault-revert"
        /// A fault could not be applied or reverted; ``detail`` says why.
        case faultFailed = "fault-error"
        /// A guard SLO was violated and the run was aborted.
        case aborted = "abort"
        /// The plan's fault phase ended.
        case planEnded = "plan-end"
        /// The Docker engine reported an event of an instance's container (docker runtime):
        /// ``detail`` is the engine's action (`start`, `die`, `kill`, `pause`, `oom`,
        /// `health_status: healthy`, …) with its exit code or signal.
        case container
    }

    /// Seconds since the run started, on the monotonic clock.
    public var monotonic: Double
    /// Wall-clock time, ISO 8601 UTC with milliseconds.
    public var wall: String
    /// What happened.
    public var kind: Kind
    /// The instance it happened to, if any.
    public var instance: String?
    /// More about it, in words.
    public var detail: String?
    /// The process id, for process events.
    public var pid: Int32?
    /// The exit status, for an ``Kind/exit`` by `exit()`.
    public var status: Int32?
    /// The signal number, for an ``Kind/exit`` by a signal.
    public var signal: Int32?

    /// Creates an event.
    public init(
        monotonic: Double, wall: String, kind: Kind, instance: String? = nil, detail: String? = nil,
        pid: Int32? = nil, status: Int32? = nil, signal: Int32? = nil
    ) {
        self.monotonic = monotonic
        self.wall = wall
        self.kind = kind
        self.instance = instance
        self.detail = detail
        self.pid = pid
        self.status = status
        self.signal = signal
    }

    /// Reads an `events.jsonl` file; lines that do not decode are skipped.
    public static func read(path: String) -> [RunEvent] {
        guard let bytes = ProcFS.contents(of: path) else { return [] }
        let decoder = JSONDecoder()
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(RunEvent.self, from: Data($0)) }
    }
}

/// The run's event log: `events.jsonl` on disk, one line per event written as it happens, and
/// the same events in memory.
final class EventLog: Sendable {
    let path: String
    private let fd: Int32
    private let start: ContinuousClock.Instant
    private let recorded = Mutex<[RunEvent]>([])

    init(path: String, start: ContinuousClock.Instant) throws(OrchestratorError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw OrchestratorError(code: .system, message: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.fd = descriptor
        self.start = start
    }

    deinit { close(fd) }

    var events: [RunEvent] { recorded.withLock { $0 } }

    @discardableResult
    func record(
        _ kind: RunEvent.Kind, instance: String? = nil, detail: String? = nil, pid: Int32? = nil,
        termination: Termination? = nil
    ) -> RunEvent {
        let elapsed = ContinuousClock.now - start
        var event = RunEvent(
            monotonic: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            wall: Timestamp.now(), kind: kind, instance: instance, detail: detail, pid: pid)
        switch termination {
        case .exited(let status)?: event.status = status
        case .signaled(let signal)?: event.signal = signal
        case nil: break
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        recorded.withLock { events in
            events.append(event)
            // Under the lock, so lines are in the order of the array.
            if var line = try? encoder.encode(event) {
                line.append(UInt8(ascii: "\n"))
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        return event
    }
}
