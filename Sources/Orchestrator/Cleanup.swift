import DockerEngine
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Removes what runs left behind, working only from their ledgers: it kills the process groups a
/// ledger names whose leader is still the same process (same pid *and* `/proc` start time), and
/// any process that still carries the run's id in its environment (`STORMLAB_RUN`), removes
/// the socket files a ledger names, and for a docker run removes the containers and networks
/// the engine holds under the run's label (`stormlab.run=ID`). A run whose
/// orchestrator still runs is left alone.
public enum Cleanup {
    /// What cleanup did to one run.
    public struct RunReport: Sendable, Hashable {
        /// The run's id.
        public var run: RunID
        /// The processes killed, as `INSTANCE (pid N)` or `pid N`.
        public var killed: [String]
        /// The files, containers (`container NAME`) and networks (`network NAME`) removed.
        public var removed: [String]
        /// Why the run was skipped, if it was (still running, already closed).
        public var skipped: String?
        /// What could not be removed and why (the Docker engine unreachable); such a run is not
        /// marked cleaned, so the next sweep tries again.
        public var problems: [String] = []
        /// Whether a ledger named the run; without one, its containers and networks were found
        /// by their labels (``sweepOrphans()``).
        public var fromLedger = true
    }

    /// Cleans up every run under `runsFolder` that was not closed, oldest first.
    public static func sweep(runsFolder: String) async -> [RunReport] {
        var reports: [RunReport] = []
        for (run, ledger) in ledgers(in: runsFolder) {
            reports.append(await clean(run: run, ledgerPath: ledger))
        }
        return reports
    }

    /// The host's part of ``sweep(runsFolder:)`` (processes and socket files), for callers that
    /// cannot wait on the Docker engine; a run with containers or networks is left unmarked for a
    /// full sweep.
    public static func sweepHost(runsFolder: String) -> [RunReport] {
        ledgers(in: runsFolder).map { run, ledger in
            let entries = Ledger.read(path: ledger)
            let report = cleanHost(run: run, entries: entries)
            if report.skipped == nil, !hasDockerObjects(entries) {
                Ledger.append(LedgerEntry(kind: .cleaned), toFileAt: ledger)
            }
            return report
        }
    }

    /// Removes the containers and networks of docker runs whose orchestrator is gone though no
    /// ledger here names them (their run folder was deleted, or lies under another runs folder),
    /// found by the label `stormlab.orchestrator` that every run's containers and network carry.
    /// A run whose orchestrator still runs, or ran on another machine, is left alone. Without a
    /// Docker engine there is nothing to find.
    public static func sweepOrphans() async throws(DockerError) -> [RunReport] {
        guard let engine = try? DockerEngine.fromEnvironment() else { return [] }
        let containers: [ContainerSummary]
        let networks: [NetworkInfo]
        do {
            containers = try await engine.containers(label: OrchestratorIdentity.label)
            networks = try await engine.networks(label: OrchestratorIdentity.label)
        } catch where error.code == .noEngine {
            return []
        }
        var owners: [String: String] = [:]
        for labels in containers.map(\.labels) + networks.map(\.labels) {
            guard let run = labels["stormlab.run"], let owner = labels[OrchestratorIdentity.label] else { continue }
            owners[run] = owner
        }
        var reports: [RunReport] = []
        for (run, owner) in owners.sorted(by: { $0.key < $1.key }) {
            var report = RunReport(run: RunID(run), killed: [], removed: [], fromLedger: false)
            switch OrchestratorIdentity(label: owner)?.liveness {
            case .running: continue
            case .elsewhere: report.skipped = "made by an orchestrator on another machine (\(owner))"
            case nil: report.skipped = "its \(OrchestratorIdentity.label) label is unreadable (\(owner))"
            case .gone: await removeDockerObjects(of: report.run, into: &report)
            }
            reports.append(report)
        }
        return reports
    }

    /// Cleans up the run whose ledger is at `ledgerPath`.
    private static func clean(run: RunID, ledgerPath: String) async -> RunReport {
        let entries = Ledger.read(path: ledgerPath)
        var report = cleanHost(run: run, entries: entries)
        guard report.skipped == nil else { return report }
        if hasDockerObjects(entries) {
            await removeDockerObjects(of: run, into: &report)
        }
        if report.problems.isEmpty {
            Ledger.append(LedgerEntry(kind: .cleaned), toFileAt: ledgerPath)
        }
        return report
    }

    /// Whether the ledger names containers or networks (a docker run).
    private static func hasDockerObjects(_ entries: [LedgerEntry]) -> Bool {
        entries.contains { $0.kind == .container || $0.kind == .network }
    }

    private static func ledgers(in runsFolder: String) -> [(RunID, String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runsFolder)) ?? []
        return names.sorted().compactMap { name in
            let ledger = "\(runsFolder)/\(name)/ledger.jsonl"
            return FileManager.default.fileExists(atPath: ledger) ? (RunID(name), ledger) : nil
        }
    }

    /// Kills the run's processes and removes its socket files, unless it was closed or its
    /// orchestrator still runs (then the report says why it was skipped).
    private static func cleanHost(run: RunID, entries: [LedgerEntry]) -> RunReport {
        var report = RunReport(run: run, killed: [], removed: [], skipped: nil)
        if entries.contains(where: { $0.kind == .closed || $0.kind == .cleaned }) {
            report.skipped = "closed"
            return report
        }
        if let owner = entries.first(where: { $0.kind == .run }), let pid = owner.pid,
            ProcessRecord.isRunning(pid: pid, startTime: owner.startTime), pid != getpid()
        {
            report.skipped = "still running (orchestrator pid \(pid))"
            return report
        }
        // 1. Process groups whose leader is the very process the run started.
        var killedPIDs: Set<Int32> = []
        for entry in entries where entry.kind == .processGroup {
            guard let pid = entry.pid, ProcessRecord.isRunning(pid: pid, startTime: entry.startTime) else { continue }
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
        return report
    }

    /// Removes (forcibly: a running container is killed) every container labelled with the run,
    /// then the run's networks. The ledger names them before they are created, and every one is
    /// created with the label, so the label finds all that exist.
    private static func removeDockerObjects(of run: RunID, into report: inout RunReport) async {
        let label = "stormlab.run=\(run.value)"
        do {
            let engine = try DockerEngine.fromEnvironment()
            for container in try await engine.containers(label: label) {
                try await engine.remove(container.id, force: true)
                report.removed.append("container \(container.name)")
            }
            for network in try await engine.networks(label: label) {
                try await engine.removeNetwork(network.id)
                report.removed.append("network \(network.name)")
            }
        } catch {
            report.problems.append("containers and networks labelled \(label) may remain: \(error)")
        }
    }
}
