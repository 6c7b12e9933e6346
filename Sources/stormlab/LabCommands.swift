import ArgumentParser
import Foundation
import LabSpec
import Logging
import Orchestrator
import Systemd
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Exit statuses of the lab commands (DESIGN.md): 0 every SLO passed, 1 an SLO failed, 2 invalid
/// input, 3 the lab itself failed; 130 when interrupted by Ctrl-C or SIGTERM before the end.
enum LabExit {
    static let invalidInput = ExitCode(2)
    static let labFailed = ExitCode(3)
    static let interrupted = ExitCode(130)
}

/// Options every command that starts a lab takes.
struct LabOptions: ParsableArguments {
    @Argument(help: "The lab: a folder holding compose.yaml (labs/NAME), or a compose file.")
    var lab: String

    @Option(help: "Folder for run folders.")
    var runs = ".stormlab/runs"

    @Option(help: "Seconds each instance has to become ready.")
    var startTimeout = 60.0

    @Option(help: "Seconds between the stop signal and SIGKILL at teardown (default: each service's stop_grace_period).")
    var stopGrace: Double?

    @Option(help: "Loopback block for instance addresses, 127.A.B (default: random in 127.200-250.x).")
    var subnet: String?

    @Option(help: "What runs the instances: process (local processes) or docker (containers through the Docker engine; build the image with Docker/build-image.sh). Default: $STORMLAB_RUNTIME, else process.")
    var runtime: RuntimeKind = ProcessInfo.processInfo.environment["STORMLAB_RUNTIME"].flatMap(RuntimeKind.init(rawValue:)) ?? .process

    @Flag(help: .hidden)
    var noParentDeathSignal = false

    func validate() throws {
        if let subnet, AddressBlock(parsing: subnet) == nil { throw ValidationError("--subnet must look like 127.A.B") }
        guard startTimeout > 0 else { throw ValidationError("--start-timeout must be positive") }
    }

    var configuration: RunConfiguration {
        var configuration = RunConfiguration(runsFolder: runs, startTimeout: .milliseconds(Int64(startTimeout * 1000)))
        configuration.stopGracePeriod = stopGrace.map { .milliseconds(Int64($0 * 1000)) }
        configuration.executables = ["stormlab": ownExecutablePath()]
        configuration.addressBlock = subnet.flatMap(AddressBlock.init(parsing:))
        configuration.parentDeathSignal = !noParentDeathSignal
        configuration.runtime = runtime
        return configuration
    }

    /// The lab's name: its folder's name, or the compose file's folder's.
    var labName: String {
        var isFolder: ObjCBool = false
        let path = FileManager.default.fileExists(atPath: lab, isDirectory: &isFolder) && isFolder.boolValue
            ? lab : (lab as NSString).deletingLastPathComponent
        let name = ((path as NSString).standardizingPath as NSString).lastPathComponent
        return name.isEmpty ? lab : name
    }

    /// Loads and validates the lab, prints every diagnostic, and exits 2 on errors.
    func load() throws -> ComposeProject {
        let load = LabFolder.load(lab, variables: ProcessInfo.processInfo.environment)
        for diagnostic in load.diagnostics { printError(diagnostic.description) }
        guard let project = load.project, !load.diagnostics.containsErrors else { throw LabExit.invalidInput }
        return project
    }

    /// Prepares a run, mapping an invalid lab to exit 2 and other failures to exit 3.
    func prepare(_ project: ComposeProject, routeThroughProxy: Bool = false) throws -> LabRun {
        do {
            var logger = Logger(label: "stormlab.orchestrator") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            var configuration = self.configuration
            configuration.routeThroughProxy = routeThroughProxy
            return try LabRun(project: project, configuration: configuration, logger: logger)
        } catch {
            printError(error.description)
            throw error.code == .invalidLab ? LabExit.invalidInput : LabExit.labFailed
        }
    }
}

extension RuntimeKind: ExpressibleByArgument {}

/// Makes what the runtime needs before the instances start (under docker: checks the engine and
/// the images, creates the network and the containers); on failure says what to do, removes what
/// was made, and exits 3.
func prepareRuntime(_ run: LabRun, progress: inout Progress) async throws {
    if run.runtime == .docker {
        progress.line("docker: creating network \(run.dockerSubnet.map { "\($0)" } ?? "") and \(run.instances.count) containers, each in its own sandbox")
    }
    do {
        try await run.prepare()
    } catch {
        progress.line("error: \(error.message)")
        await run.abandon()
        throw LabExit.labFailed
    }
}

func printError(_ text: String) {
    writeText(text + "\n", to: 2)
}

/// Runs `body` until it returns or SIGINT/SIGTERM arrives; returns nil on a signal (the body is
/// cancelled first).
func untilSignal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            for await _ in signals { return nil }
            return nil
        }
        group.addTask { try await body() }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

/// Starts a run: waits for every instance with a progress line, prints the table.
func startLab(_ run: LabRun, progress: inout Progress) async throws {
    let clock = ContinuousClock()
    let started = clock.now
    try await run.waitUntilReady { step in
        let waiting = step.waiting.prefix(3).joined(separator: ", ") + (step.waiting.count > 3 ? ", …" : "")
        progress.update("starting: \(step.ready)/\(step.total) ready, \(step.started) started" + (waiting.isEmpty ? "" : "; waiting for \(waiting)"))
    }
    progress.line("all \(run.instances.count) instances ready in \(formatSeconds(clock.now - started))")
    for line in instanceTable(run.status()) { progress.line(line) }
}

func instanceTable(_ statuses: [InstanceStatus]) -> [String] {
    let header = ["INSTANCE", "ADDRESS", "PID", "STATE", "READY BY", "RESTARTS", "STATUS"]
    let rows = statuses.map { status in
        [status.name, status.address, status.pid.map(String.init) ?? "-", "\(status.phase)", "\(status.readiness)",
         String(status.restarts), status.statusLine ?? ""]
    }
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    return ([header] + rows).map { row in
        row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}

/// Reports a start failure and turns it into exit status 3.
func reportStartFailure(_ error: any Error, run: LabRun, progress: inout Progress) -> any Error {
    if let failure = error as? OrchestratorError {
        progress.line("error: \(failure.message)")
        if !failure.logTail.isEmpty {
            progress.line("last lines of \(run.folder)/logs/\(failure.instance ?? "?").log:")
            for line in failure.logTail { progress.line("  | \(line)") }
        }
        return LabExit.labFailed
    }
    return error
}

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start a lab's instances, print them, and keep them running until Ctrl-C.",
        discussion: "Exit status 0 after Ctrl-C or SIGTERM, 2 when the lab is invalid, 3 when it did not start."
    )

    @OptionGroup var options: LabOptions

    func run() async throws {
        let project = try options.load()
        let run = try options.prepare(project)
        var progress = Progress()
        progress.line("run \(run.id): \(run.instances.count) instances (\(run.runtime) runtime); folder \(run.folder)")
        try await prepareRuntime(run, progress: &progress)
        try await run.run { run in
            _ = try await untilSignal {
                var progress = Progress()
                do {
                    try await startLab(run, progress: &progress)
                } catch {
                    throw reportStartFailure(error, run: run, progress: &progress)
                }
                progress.line("up; Ctrl-C to stop")
                var seen = run.events.count
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    let events = run.events
                    for event in events.dropFirst(seen) where [.exit, .restart, .watchdogMiss, .unhealthy, .healthy].contains(event.kind) {
                        progress.line("\(event.instance ?? "-"): \(event.kind.rawValue) \(event.detail ?? "")")
                    }
                    seen = events.count
                }
            }
            progress.line("stopping …")
        }
        progress.line("stopped; events in \(run.eventsPath)")
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a lab, run its plan, stop it, and say how it went.",
        discussion: """
            With a plan.yaml beside the compose file: wait for steady state, carry out the fault \
            timeline, judge every SLO, write the reports into the run folder. Without one: wait \
            for every instance to be ready, hold for --duration seconds, stop. Exit status 0 when \
            every SLO passed, 1 when one failed (or a guard aborted the run), 2 when the lab or \
            plan is invalid, 3 when the lab did not start or was not steady, 130 when interrupted.
            """
    )

    @OptionGroup var options: LabOptions

    @Option(help: "Seconds to hold the lab once every instance is ready, when it has no plan.")
    var duration = 5.0

    @Option(help: "Seed for the plan's random choices (default: the plan's).")
    var seed: UInt64?

    @OptionGroup var reports: ReportPaths

    func run() async throws {
        let project = try options.load()
        let planned = try loadPlan(lab: options.lab, project: project, seed: seed)
        let routed = planned?.0.needsProxy(runtime: options.runtime) ?? false
        let run = try options.prepare(project, routeThroughProxy: routed)
        var progress = Progress()
        progress.line("run \(run.id): \(run.instances.count) instances (\(run.runtime) runtime); folder \(run.folder)")
        try await prepareRuntime(run, progress: &progress)
        // Latency, reset and blackhole need the fault proxy between the instances.
        let proxy: ProxyRouting?
        do {
            proxy = routed ? try await ProxyRouting(run: run, project: project) : nil
        } catch {
            progress.line("error: could not start the fault proxy: \(error)")
            await run.abandon()
            throw LabExit.labFailed
        }
        if routed { progress.line("traffic between instances goes through the fault proxy") }
        let hold = Duration.milliseconds(Int64(duration * 1000))
        let reports = self.reports
        let labName = options.labName
        let finished = try await run.run { run in
            try await untilSignal { () async throws -> Int32 in
                var progress = Progress()
                do {
                    try await startLab(run, progress: &progress)
                } catch {
                    throw reportStartFailure(error, run: run, progress: &progress)
                }
                guard let (plan, timeline) = planned else {
                    progress.line("holding for \(formatSeconds(hold)) (the lab has no plan.yaml)")
                    try await Task.sleep(for: hold)
                    return 0
                }
                let session = PlanSession(run: run, project: project, plan: plan, timeline: timeline, proxy: proxy)
                let result = await session.execute(progress: &progress)
                let reporting = RunReporting(
                    lab: labName, runtime: run.runtime, runID: run.id.description, folder: run.folder, events: run.events, plan: plan,
                    timeline: timeline, result: result, step: session.step)
                reporting.write(reports, progress: &progress)
                progress.line("outcome: \(result.outcome) — \(result.explanation)")
                if result.outcome == "not-steady" { return 3 }
                return result.passed ? 0 : 1
            }
        }
        await proxy?.shutdown()
        progress.line("stopped; events in \(run.eventsPath)")
        guard let status = finished else { throw LabExit.interrupted }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Where to write copies of a run's reports, besides its run folder.
struct ReportPaths: ParsableArguments {
    @Option(help: "Also write the JUnit XML report here.")
    var junit: String?

    @Option(help: "Also write report.json here.")
    var json: String?

    @Option(help: "Also write the HTML report here.")
    var html: String?
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print a lab's resolved fault timeline without starting anything.",
        discussion: "The same seed prints the same timeline: which instance gets which fault when, and by which mechanism."
    )

    @OptionGroup var options: LabOptions

    @Option(help: "Seed for the plan's random choices (default: the plan's).")
    var seed: UInt64?

    func run() async throws {
        let project = try options.load()
        guard let loaded = try loadPlan(lab: options.lab, project: project, seed: seed) else {
            printError("\(options.lab): no plan.yaml beside the compose file")
            throw LabExit.invalidInput
        }
        var timeline = loaded.1
        for index in timeline.events.indices {
            timeline.events[index].mechanism = PlanExecution.mechanismName(for: timeline.events[index].fault, runtime: options.runtime)
        }
        print(timeline.rendered())
    }
}

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a lab without starting it: every problem, each as file:line:col.",
        discussion: "Exit status 0 when the lab is valid (warnings allowed), 2 when it has errors."
    )

    @OptionGroup var options: LabOptions

    func run() async throws {
        let project = try options.load()
        let plan = try loadPlan(lab: options.lab, project: project, seed: nil)
        let problems = LabRun.hostDiagnostics(project: project, configuration: options.configuration)
        for problem in problems { printError(problem.description) }
        if problems.containsErrors { throw LabExit.invalidInput }
        let instances = project.services.reduce(0) { $0 + $1.replicas }
        print("\(project.file): valid: \(project.services.count) services, \(instances) instances (\(project.services.map(\.name).joined(separator: ", ")))")
        if let (plan, timeline) = plan {
            print("\(plan.file): valid: \(plan.steps.count) steps, \(timeline.events.count) fault events, \(plan.slos.count) SLOs")
        }
    }
}

struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove what crashed runs left behind (processes, socket files, containers, networks).",
        discussion: """
            Reads every run's ledger under --runs. For a run that was not closed and whose \
            orchestrator is gone, kills the process groups it recorded (only when pid and start \
            time still match), any process carrying its STORMLAB_RUN id, removes its socket files, \
            and under the docker runtime removes the containers and networks labelled with the run. \
            Then asks the Docker engine, if there is one, for containers and networks of docker runs \
            no ledger named (their run folder deleted, or under another --runs) and removes those \
            whose orchestrator is gone. Exit 1 when the engine could not be asked or could not \
            remove something; run it again.
            """
    )

    @Option(help: "Folder holding run folders.")
    var runs = ".stormlab/runs"

    func run() async throws {
        var reports = await Cleanup.sweep(runsFolder: runs)
        var unfinished = 0
        do {
            reports += try await Cleanup.sweepOrphans()
        } catch {
            print("runs without a ledger: not checked: \(error)")
            unfinished += 1
        }
        var cleaned = 0
        for report in reports where report.skipped != "closed" {
            if let reason = report.skipped {
                print("run \(report.run): skipped: \(reason)")
                continue
            }
            let killed = report.killed.isEmpty ? "no process left" : "killed \(report.killed.joined(separator: ", "))"
            let removed = report.removed.isEmpty ? "" : "removed \(report.removed.joined(separator: ", "))"
            let what = report.fromLedger ? killed + (removed.isEmpty ? "" : "; " + removed) : "no ledger; " + (removed.isEmpty ? "nothing left" : removed)
            print("run \(report.run): \(what)")
            for problem in report.problems { print("run \(report.run): not cleaned: \(problem)") }
            if report.problems.isEmpty { cleaned += 1 } else { unfinished += 1 }
        }
        print("\(reports.count) runs checked, \(cleaned) cleaned up" + (unfinished > 0 ? ", \(unfinished) not finished (run cleanup again)" : ""))
        if unfinished > 0 { throw ExitCode(1) }
    }
}
