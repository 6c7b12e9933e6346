import Foundation
import LabSpec
import Logging
import Orchestrator
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repository's root, found from this file, for `labs/`.
let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A temporary folder holding `LAB/compose.yaml`, and the run folders under `runs/`.
struct LabFixture {
    let root: String
    var lab: String { "\(root)/lab" }
    var runs: String { "\(root)/runs" }

    init(compose: String) throws {
        root = makeTemporaryFolder()
        try FileManager.default.createDirectory(atPath: "\(root)/lab", withIntermediateDirectories: true)
        try compose.write(toFile: "\(root)/lab/compose.yaml", atomically: true, encoding: .utf8)
    }

    /// Every run folder's path.
    var runFolders: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).sorted().map { "\(runs)/\($0)" }
    }

    /// Kills whatever any run of this fixture left (also when a test failed), then removes the folder.
    func remove() {
        _ = Cleanup.sweepHost(runsFolder: runs)
        for folder in runFolders {
            let run = String(folder.split(separator: "/").last ?? "")
            for pid in pidsCarrying(run: run) { kill(pid, SIGKILL) }
        }
        removeTemporaryFolder(root)
    }
}

/// Live processes whose environment says `STORMLAB_RUN=run`.
func pidsCarrying(run: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
        let needle = Array("STORMLAB_RUN=\(run)".utf8)
        return data.split(separator: 0).contains { Array($0) == needle } && (ProcessRecord.read(pid: pid)?.isAlive ?? false)
    }
}

/// A lab loaded the way the CLI loads it.
func loadLab(_ path: String, variables: [String: String] = [:]) throws -> ComposeProject {
    try LabFolder.load(path, variables: ProcessInfo.processInfo.environment.merging(variables) { _, new in new }).get()
}

func runConfiguration(runs: String) -> RunConfiguration {
    var configuration = RunConfiguration(runsFolder: runs, startTimeout: .seconds(30), stopGracePeriod: .seconds(3))
    configuration.executables = ["stormlab": stormlabExecutable]
    return configuration
}

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// A `stormlab` command run as a child process, its output collected.
final class StormlabProcess: Sendable {
    let pid: Int32
    let outputPath: String

    init(_ arguments: [String], in folder: String, environment: [String: String] = [:]) throws {
        outputPath = "\(folder)/output-\(UInt32.random(in: 0...UInt32.max)).txt"
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(output) }
        var variables = RunConfiguration.hostEnvironment()
        variables["CI"] = "1"
        for (key, value) in environment { variables[key] = value }
        pid = try ChildProcess.spawn(SpawnOptions(
            executable: stormlabExecutable, arguments: arguments, environment: variables,
            standardOutput: output, standardError: output, workingDirectory: folder))
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Waits up to `timeout` for the exit; kills the process group on timeout.
    func wait(timeout: Duration = .seconds(60)) async -> Termination {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let end = ChildProcess.poll(pid) { return end }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(-pid, SIGKILL)
        return ChildProcess.wait(pid) ?? .signaled(SIGKILL)
    }

    /// Kills it with SIGKILL (the process only, not its group) and reaps it.
    func kill9() {
        kill(pid, SIGKILL)
        _ = ChildProcess.wait(pid)
    }
}

/// Runs a `stormlab` command to its end.
func stormlab(
    _ arguments: [String], in folder: String, environment: [String: String] = [:], timeout: Duration = .seconds(60)
) async throws -> (Termination, String) {
    let process = try StormlabProcess(arguments, in: folder, environment: environment)
    let end = await process.wait(timeout: timeout)
    return (end, process.output)
}

/// The events of the only run under `runs`, once `condition` holds for them (or the timeout).
func waitForEvents(in runs: String, within timeout: Duration, until condition: ([RunEvent]) -> Bool) async -> [RunEvent] {
    let deadline = ContinuousClock.now + timeout
    var events: [RunEvent] = []
    while ContinuousClock.now < deadline {
        if let run = ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).sorted().last {
            events = RunEvent.read(path: "\(runs)/\(run)/events.jsonl")
            if condition(events) { return events }
        }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return events
}
