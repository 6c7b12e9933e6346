import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Removes what runs left behind, working only from their ledgers: it kills the process groups a
/// ledger names whose leader is still the same process (same pid *and* `/proc` start time), and
/// any process that still carries the run's id in its environment (`STORMLAB_RUN`), and removes
/// the socket files a ledger names. A run whose orchestrator still runs is left alone.
public enum Cleanup {
    /// What cleanup did to one run.
    public struct RunReport: Sendable, Hashable {
        /// The run's id.
        public var run: RunID
        /// The processes killed, as `INSTANCE (pid N)` or `pid N`.
        public var killed: [String]
        /// The files removed.
        public var removed: [String]
        /// Why the run was skipped, if it was (still running, already closed).
        public var skipped: String?
    }

    /// Cleans up every run under `runsFolder` that was not closed, oldest first.
    public static func sweep(runsFolder: String) -> [RunReport] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runsFolder)) ?? []
        return names.sorted().compactMap { name in
            let ledger = "\(runsFolder)/\(name)/ledger.jsonl"
            guard FileManager.default.fileExists(atPath: ledger) else { return nil }
            return clean(run: RunID(name), ledgerPath: ledger)
        }
    }

    /// Cleans up the run whose ledger is at `ledgerPath`.
    public static func clean(run: RunID, ledgerPath: String) -> RunReport {
        let entries = Ledger.read(path: ledgerPath)
        var report = RunReport(run: run, killed: [], removed: [], skipped: nil)
        if entries.contains(where: { $0.kind == .closed || $0.kind == .cleaned }) {
            report.skipped = "closed"
            return report
        }
        if let owner = entries.first(where: { $0.kind == .run }), let pid = owner.pid,
            let record = ProcessRecord.read(pid: pid), record.isAlive, record.startTime == owner.startTime, pid != getpid()
        {
            report.skipped = "still running (orchestrator pid \(pid))"
            return report
        }
        // 1. Process groups whose leader is the very process the run started.
        var killedPIDs: Set<Int32> = []
        for entry in entries where entry.kind == .processGroup {
            guard let pid = entry.pid, let record = ProcessRecord.read(pid: pid), record.isAlive,
                record.startTime == entry.startTime
            else { continue }
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            killedPIDs.insert(pid)
            report.killed.append("\(entry.instance ?? "?") (pid \(pid))")
        }
        // 2. Anything else that carries the run's id: members of a group whose leader is gone,
        //    double-forked children, instances started just before the orchestrator died.
        for pid in ProcFS.pids() where !killedPIDs.contains(pid) && pid != getpid() {
            guard ProcFS.environmentValue(pid: pid, key: "STORMLAB_RUN") == run.value,
                let record = ProcessRecord.read(pid: pid), record.isAlive
            else { continue }
            kill(pid, SIGKILL)
            let instance = ProcFS.environmentValue(pid: pid, key: "STORMLAB_INSTANCE")
            report.killed.append(instance.map { "\($0) (pid \(pid))" } ?? "pid \(pid)")
        }
        // 3. Socket files.
        for entry in entries where entry.kind == .socketFile {
            guard let path = entry.path else { continue }
            var info = stat()
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK, unlink(path) == 0 {
                report.removed.append(path)
            }
        }
        Ledger.append(LedgerEntry(kind: .cleaned), toFileAt: ledgerPath)
        return report
    }
}
