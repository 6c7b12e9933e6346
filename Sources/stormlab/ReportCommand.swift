import ArgumentParser
import Assertions
import Foundation
import LabSpec
import Orchestrator

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Judge a recorded run again and rewrite its reports.",
        discussion: """
            Reads RUN-FOLDER/run.json, series.jsonl, events.jsonl and lab.json, loads the plan \
            again (edited SLOs take effect; the same seed gives the same timeline), evaluates every \
            SLO and rewrites report.json, junit.xml and report.html. Exit status as for run: 0 all \
            SLOs passed, 1 one failed, 2 the run folder or plan is unreadable.
            """
    )

    @Argument(help: "A run folder (.stormlab/runs/ID) of a run with a plan.")
    var run: String

    @OptionGroup var reports: ReportPaths

    struct LabRecordProject: Decodable {
        var project: ComposeProject
    }

    func run() async throws {
        var progress = Progress()
        func read(_ name: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: "\(run)/\(name)") else {
                printError("\(run)/\(name): cannot read it (is this the folder of a run with a plan?)")
                throw LabExit.invalidInput
            }
            return data
        }
        let record: RunRecord
        let project: ComposeProject
        let store: SeriesStore
        do {
            record = try JSONDecoder().decode(RunRecord.self, from: try read("run.json"))
            project = try JSONDecoder().decode(LabRecordProject.self, from: try read("lab.json")).project
            store = try SeriesStore(jsonLines: String(decoding: try read("series.jsonl"), as: UTF8.self))
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("\(run): \(error)")
            throw LabExit.invalidInput
        }
        let load = PlanLoader.load(file: record.planFile, project: project, variables: ProcessInfo.processInfo.environment)
        for diagnostic in load.diagnostics { printError(diagnostic.description) }
        guard let plan = load.plan, !load.diagnostics.containsErrors else { throw LabExit.invalidInput }
        let timeline: Timeline
        do {
            timeline = try PlanTimeline.resolve(plan, in: project, seed: record.seed)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw LabExit.invalidInput
        }
        let events = RunEvent.read(path: "\(run)/events.jsonl")
        // Steady state held over the `hold` just before the fault phase began.
        let judge = SLOJudge(plan: plan, timeline: timeline, planStart: record.planStart, step: record.step)
        let hold = plan.steadyState.hold.milliseconds
        let steady = plan.steadyState.slos.map {
            judge.judge($0, form: .always, from: max(0, record.planStart - hold), to: record.planStart, store: store)
        }
        let result = PlanVerdicts(plan: plan, timeline: timeline, step: record.step)
            .judged(store, planStart: record.planStart, steady: steady)
        let runID = (run as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? run
        let reporting = RunReporting(
            lab: record.lab, runID: runID, folder: run, events: events, plan: plan, timeline: timeline, result: result,
            step: record.step)
        reporting.write(reports, rewriting: true, progress: &progress)
        progress.line("outcome: \(result.outcome) — \(result.explanation)")
        if !result.passed { throw ExitCode(1) }
    }
}
