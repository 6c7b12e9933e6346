import Foundation
import Orchestrator
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Cleanup acts only on what a ledger names and only when pid and start time still match.
@Suite(.timeLimit(.minutes(1)))
struct CleanupTests {
    func withRunsFolder(_ body: (String) async throws -> Void) async rethrows {
        var template = Array("/tmp/stormlab-cleanup-XXXXXX".utf8CString)
        let folder = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await body(folder)
    }

    func writeLedger(_ entries: [LedgerEntry], run: String, in folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: "\(folder)/\(run)", withIntermediateDirectories: true)
        let ledger = try Ledger(path: "\(folder)/\(run)/ledger.jsonl")
        for entry in entries { ledger.append(entry) }
        return ledger.path
    }

    @Test func aRecycledPidIsNotKilled() async throws {
        try await withRunsFolder { folder in
            let pid = try ChildProcess.spawn(SpawnOptions(executable: "/bin/sleep", arguments: ["30"]))
            defer { kill(pid, SIGKILL); _ = ChildProcess.wait(pid) }
            let start = try #require(ProcessRecord.read(pid: pid)?.startTime)
            // A dead orchestrator (pid 1's start time never matches a stale entry) and a process
            // group entry whose start time is not this process's: the pid was "recycled".
            _ = try writeLedger(
                [LedgerEntry(kind: .run, pid: 999_999, startTime: 1),
                 LedgerEntry(kind: .processGroup, instance: "a-1", pid: pid, startTime: start + 1)],
                run: "20260101-000000-000-0001", in: folder)
            let reports = await Cleanup.sweep(runsFolder: folder)
            #expect(reports.count == 1)
            #expect(reports[0].killed.isEmpty)
            #expect(ProcessRecord.read(pid: pid)?.isAlive == true)
        }
    }

    @Test func aMatchingProcessGroupIsKilledOnce() async throws {
        try await withRunsFolder { folder in
            let pid = try ChildProcess.spawn(SpawnOptions(executable: "/bin/sleep", arguments: ["30"]))
            let start = ProcessRecord.read(pid: pid)?.startTime ?? 0
            // Reaped below when the test passes; never signal a pid that may have been reused.
            defer {
                if ProcessRecord.read(pid: pid)?.startTime == start {
                    kill(pid, SIGKILL)
                    _ = ChildProcess.wait(pid)
                }
            }
            let ledger = try writeLedger(
                [LedgerEntry(kind: .run, pid: 999_999, startTime: 1),
                 LedgerEntry(kind: .processGroup, instance: "a-1", pid: pid, startTime: start)],
                run: "20260101-000000-000-0002", in: folder)
            let reports = await Cleanup.sweep(runsFolder: folder)
            #expect(reports.first?.killed == ["a-1 (pid \(pid))"])
            #expect(ChildProcess.wait(pid) == .signaled(SIGKILL))
            #expect(Ledger.read(path: ledger).last?.kind == .cleaned)
            #expect(await Cleanup.sweep(runsFolder: folder).first?.skipped == "closed")
        }
    }

    @Test func aRunWhoseOrchestratorStillRunsIsLeftAlone() async throws {
        try await withRunsFolder { folder in
            let pid = try ChildProcess.spawn(SpawnOptions(executable: "/bin/sleep", arguments: ["30"]))
            defer { kill(pid, SIGKILL); _ = ChildProcess.wait(pid) }
            let start = try #require(ProcessRecord.read(pid: pid)?.startTime)
            _ = try writeLedger(
                [LedgerEntry(kind: .run, pid: pid, startTime: start),
                 LedgerEntry(kind: .processGroup, instance: "a-1", pid: pid, startTime: start)],
                run: "20260101-000000-000-0003", in: folder)
            let report = try #require(await Cleanup.sweep(runsFolder: folder).first)
            #expect(report.skipped?.hasPrefix("still running") == true)
            #expect(ProcessRecord.read(pid: pid)?.isAlive == true)
        }
    }

    @Test func runIDsSortByTime() async throws {
        let first = RunID.make()
        try await Task.sleep(for: .milliseconds(5))
        let second = RunID.make()
        #expect(first < second)
        #expect(first.value.count == "20260714-101502-123-4f2a".count)
    }
}
