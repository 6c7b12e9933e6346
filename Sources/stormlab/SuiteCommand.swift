import ArgumentParser
import Foundation
import Orchestrator
import Reports
import Systemd

struct SuiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Run every lab in the folders one after another; one JUnit file for all.",
        discussion: """
            A lab is a folder with compose.yaml and plan.yaml. A lab whose plan says `expect: fail` \
            is met when one of its SLOs fails, so a suite can include demonstrations of failures; \
            `expect-outcome: [metastable, degraded]` also requires one of those outcomes. Exit \
            status 0 only when every lab met its expectation.
            """
    )

    @Argument(help: "Folders holding labs (default: labs).")
    var folders: [String] = ["labs"]

    @Option(help: "Write one JUnit XML file for all labs here (a testsuite per lab).")
    var junit: String?

    @Option(help: "Folder for run folders.")
    var runs = ".stormlab/runs"

    @Option(help: "Only labs whose folder name contains this.")
    var only: String?

    @Option(help: "What runs the labs' instances: process or docker (default: $STORMLAB_RUNTIME, else process).")
    var runtime: RuntimeKind?

    func run() async throws {
        var progress = Progress()
        let labs = folders.flatMap(Self.labs(in:)).filter { only.map($0.contains) ?? true }
        guard !labs.isEmpty else {
            printError("no labs (folders with compose.yaml and plan.yaml) in \(folders.joined(separator: ", "))")
            throw LabExit.invalidInput
        }
        progress.line("suite: \(labs.count) labs: \(labs.joined(separator: ", "))")
        var rows: [(lab: String, expected: String, outcome: String, met: Bool, seconds: Double)] = []
        var reports: [RunReport] = []
        for lab in labs {
            let started = ContinuousClock.now
            progress.line("── \(lab)")
            let json = "\(NSTemporaryDirectory())/stormlab-suite-\(getpid())-\(rows.count).json"
            defer { try? FileManager.default.removeItem(atPath: json) }
            let status = try Self.runLab(lab, json: json, runs: runs, variables: runtime.map { ["STORMLAB_RUNTIME": $0.rawValue] } ?? [:])
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if let report = Self.readReport(json) {
                reports.append(report)
                rows.append((lab, report.expectation.expected.rawValue, report.outcome.rawValue, report.expectation.met, seconds))
            } else {
                rows.append((lab, "?", "error (exit \(status))", false, seconds))
            }
            progress.line("── \(lab): \(rows.last!.outcome), expectation \(rows.last!.met ? "met" : "NOT met") in \(formatSeconds(elapsed))")
        }
        if let junit {
            try JUnitReport.render(reports, name: "stormlab suite").write(toFile: junit, atomically: true, encoding: .utf8)
        }
        progress.line("")
        let width = rows.map(\.lab.count).max() ?? 3
        progress.line("LAB".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXPECT  OUTCOME     MET  SECONDS")
        for row in rows {
            progress.line(
                row.lab.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + row.expected.padding(toLength: 6, withPad: " ", startingAt: 0) + "  "
                    + row.outcome.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                    + (row.met ? "yes" : "NO ") + "  " + String(format: "%.0f", row.seconds))
        }
        let failed = rows.filter { !$0.met }.count
        progress.line(failed == 0 ? "every lab met its expectation" : "\(failed) of \(rows.count) labs did not meet their expectation")
        if failed > 0 { throw ExitCode(1) }
    }

    /// The lab folders directly under `folder`, sorted; `folder` itself when it is a lab.
    static func labs(in folder: String) -> [String] {
        let manager = FileManager.default
        func isLab(_ path: String) -> Bool {
            manager.fileExists(atPath: "\(path)/compose.yaml") && manager.fileExists(atPath: "\(path)/plan.yaml")
        }
        if isLab(folder) { return [folder] }
        let names = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().map { "\(folder)/\($0)" }.filter(isLab)
    }

    /// Runs `stormlab run LAB` as a child process (each lab in its own orchestrator) with its
    /// output passed through, `variables` added to its environment; returns the exit status.
    static func runLab(_ lab: String, json: String, runs: String, variables: [String: String] = [:]) throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["STORMLAB_SUITE"] = "1"
        environment.merge(variables) { $1 }
        let pid = try ChildProcess.spawn(SpawnOptions(
            executable: ownExecutablePath(), arguments: ["run", lab, "--runs", runs, "--json", json],
            environment: environment, newProcessGroup: false))
        switch ChildProcess.wait(pid) {
        case .exited(let status)?: return status
        case .signaled(let signal)?: return 128 + signal
        case nil: return 3
        }
    }

    static func readReport(_ path: String) -> RunReport? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
        return try? decoder.decode(RunReport.self, from: data)
    }
}
