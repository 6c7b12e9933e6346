import Assertions
import Foundation
import LabSpec
import Orchestrator
import Reports

/// Builds the run's report from what the plan session measured, writes `series.jsonl` and every
/// report into the run folder (and to the paths asked for), and prints the summary table.
struct RunReporting {
    /// The lab's name in reports: its folder's name (two labs may share one compose file).
    let lab: String
    var runtime = RuntimeKind.process
    let runID: String
    let folder: String
    let events: [RunEvent]
    let plan: FaultPlan
    let timeline: Timeline
    let result: PlanResult
    let step: Int64

    func report() -> RunReport {
        let evaluator = SLIEvaluator(store: result.store, lookbackDelta: max(1000, step * 4))
        func slo(_ verdict: Verdict, _ definition: LabSpec.SLO?) -> SLOReport {
            guard let definition, let expression = try? Assertions.SLIExpression.parse(definition.expr.text) else {
                return SLOReport(verdict: verdict, expression: .number(.nan))
            }
            let from = max(0, min(verdict.from, result.planStart) - 5000)
            let to = max(verdict.to, from)
            let chart = (try? SLOReport.chart(of: expression, with: evaluator, from: from - from % step, to: to, step: step)) ?? []
            return SLOReport(verdict: verdict, expression: expression, chart: chart)
        }
        let byName = Dictionary((plan.slos + plan.steadyState.slos).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let slos = result.verdicts.map { slo($0, byName[$0.name]) }
        let steady = result.steady.map { slo($0, byName[$0.name]) }
        let outcome = RunReport.Outcome(rawValue: result.outcome) ?? .error
        let expected = RunReport.Expectation.Result(rawValue: plan.expect.rawValue) ?? .pass
        let outcomes = plan.expectOutcome.compactMap { RunReport.Outcome(rawValue: $0.rawValue) }
        let faults = timeline.events.map { event -> RunReport.FaultWindow in
            let end: Int64? = switch event.revert {
            case .at(let time): result.planStart + time.milliseconds
            case .atRunEnd: result.planStart + plan.duration.milliseconds
            case .none: nil
            }
            return RunReport.FaultWindow(
                step: event.step, kind: event.kind.name, targets: event.instances, start: result.planStart + event.time.milliseconds,
                end: end, mechanism: event.mechanism ?? PlanExecution.mechanismName(for: event.fault, runtime: runtime))
        }
        // Event times in the report share the series' clock: the collector started when the lab was ready.
        let allReady = self.events.first { $0.kind == .allReady }?.monotonic ?? 0
        let events = self.events.map { event in
            RunReport.Event(
                time: Int64((event.monotonic - allReady) * 1000), kind: event.kind.rawValue, instance: event.instance,
                detail: event.detail ?? "")
        }
        return RunReport(
            lab: lab, runtime: RunReport.Runtime(rawValue: runtime.rawValue) ?? .process, seed: plan.seed, runID: runID,
            startedAt: self.events.first?.wall ?? "", duration: plan.duration.milliseconds, outcome: outcome,
            decidedBy: result.decidedBy, explanation: result.explanation,
            expectation: RunReport.Expectation.judge(expected, outcomes: outcomes, outcome: outcome, steadyState: steady, slos: slos),
            steadyState: steady, slos: slos, faults: faults, events: events)
    }

    /// Writes everything (the series and `run.json` too, unless `rewriting` a recorded run);
    /// returns the report.
    @discardableResult
    func write(_ copies: ReportPaths, rewriting: Bool = false, progress: inout Progress) -> RunReport {
        let report = report()
        do {
            if !rewriting {
                try ReportFiles.write(result.store.jsonLines(), to: "\(folder)/series.jsonl")
                let record = RunRecord(lab: lab, planFile: plan.file, seed: plan.seed, planStart: result.planStart, step: step)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try ReportFiles.write(String(decoding: try encoder.encode(record), as: UTF8.self) + "\n", to: "\(folder)/run.json")
            }
            try ReportFiles.writeAll(report, to: folder)
            if let json = copies.json { try ReportFiles.write(JSONReport.render(report), to: json) }
            if let junit = copies.junit { try ReportFiles.write(JUnitReport.render(report), to: junit) }
            if let html = copies.html { try ReportFiles.write(HTMLReport.render(report), to: html) }
        } catch {
            progress.line("error: could not write a report: \(error)")
        }
        let style = TerminalStyle.detect(isTerminal: progress.isTerminal, noColor: ProcessInfo.processInfo.environment["NO_COLOR"])
        for line in SummaryTable.render(report, style: style).split(separator: "\n", omittingEmptySubsequences: false) {
            progress.line(String(line))
        }
        progress.line("reports: \(folder)/report.html, report.json, junit.xml, series.jsonl")
        return report
    }
}

/// What `stormlab report` needs to judge a recorded run again, in `run.json`: the plan (by
/// file, re-resolved with the same seed to the same timeline), and where the fault phase began
/// on the series' clock.
struct RunRecord: Codable {
    var lab: String
    var planFile: String
    var seed: UInt64
    /// Milliseconds from the start of collection to the start of the fault phase.
    var planStart: Int64
    /// The evaluation step (the scrape interval), ms.
    var step: Int64
}
