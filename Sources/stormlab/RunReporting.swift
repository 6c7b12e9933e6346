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
    let run: LabRun
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
        let milliseconds = { (duration: Duration) in duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000 }
        let faults = timeline.events.map { event -> RunReport.FaultWindow in
            let end: Int64? = switch event.revert {
            case .at(let time): result.planStart + milliseconds(time)
            case .atRunEnd: result.planStart + milliseconds(plan.duration)
            case .none: nil
            }
            return RunReport.FaultWindow(
                step: event.step, kind: event.kind.name, targets: event.instances, start: result.planStart + milliseconds(event.time),
                end: end, mechanism: event.mechanism ?? PlanExecution.mechanismName(for: event.fault))
        }
        // Event times in the report share the series' clock: the collector started when the lab was ready.
        let allReady = run.events.first { $0.kind == .allReady }?.monotonic ?? 0
        let events = run.events.map { event in
            RunReport.Event(
                time: Int64((event.monotonic - allReady) * 1000), kind: event.kind.rawValue, instance: event.instance,
                detail: event.detail ?? "")
        }
        return RunReport(
            lab: lab, runtime: .process, seed: plan.seed, runID: run.id.description,
            startedAt: run.events.first?.wall ?? "", duration: milliseconds(plan.duration), outcome: outcome,
            decidedBy: result.decidedBy, explanation: result.explanation,
            expectation: RunReport.Expectation.judge(expected, outcome: outcome, steadyState: steady, slos: slos),
            steadyState: steady, slos: slos, faults: faults, events: events)
    }

    /// Writes everything; returns the report.
    @discardableResult
    func write(json: String?, junit: String?, html: String?, progress: inout Progress) -> RunReport {
        let report = report()
        do {
            try ReportFiles.write(result.store.jsonLines(), to: "\(run.folder)/series.jsonl")
            try ReportFiles.writeAll(report, to: run.folder)
            if let json { try ReportFiles.write(JSONReport.render(report), to: json) }
            if let junit { try ReportFiles.write(JUnitReport.render(report), to: junit) }
            if let html { try ReportFiles.write(HTMLReport.render(report), to: html) }
        } catch {
            progress.line("error: could not write a report: \(error)")
        }
        let style = TerminalStyle.detect(isTerminal: progress.isTerminal, noColor: ProcessInfo.processInfo.environment["NO_COLOR"])
        for line in SummaryTable.render(report, style: style).split(separator: "\n", omittingEmptySubsequences: false) {
            progress.line(String(line))
        }
        progress.line("reports: \(run.folder)/report.html, report.json, junit.xml, series.jsonl")
        return report
    }
}
