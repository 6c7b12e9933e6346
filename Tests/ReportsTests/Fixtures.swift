import Assertions
import Reports

/// Reports built from real Assertions verdicts over synthetic series.
enum Fixtures {
    static let step: Int64 = 250

    /// A recovers SLO on a latency that spikes during the storm (2 s – 6 s) and comes back.
    static func latencySLO(points: Int = 161, seriesCount: Int = 2) -> SLOReport {
        let expression = try! SLIExpression.parse("histogram_quantile(0.99, sum by (le, instance) (rate(login_seconds_bucket[10s]))) < 0.5")
        let values: [Double] = (0..<points).map { index in
            let time = Int64(index) * step
            return time >= 2000 && time < 6000 ? 1.25 : 0.1
        }
        let condition = ConditionSeries(step: step, holds: values.map { $0 < 0.5 }, values: values, worst: .highest)
        let verdict = SLO(name: "login-latency", form: .recovers(within: 10_000, hold: 5000), from: 2000, to: 40_000)
            .evaluate(condition)
        let chart = (0..<seriesCount).map { series in
            ChartSeries(
                labels: ["instance": "auth-\(series + 1)"],
                points: values.enumerated().map { Sample(time: Int64($0.offset) * step, value: $0.element * Double(series + 1)) })
        }
        return SLOReport(verdict: verdict, expression: expression, chart: chart)
    }

    /// An always SLO on a success ratio that dips below 0.99 and stays down (fails).
    static func successSLO() -> SLOReport {
        let expression = try! SLIExpression.parse("sum(rate(logins_ok_total[30s])) / sum(rate(logins_total[30s])) >= 0.99")
        let values: [Double] = (0..<161).map { Int64($0) * step >= 3000 ? 0.8 : 0.999 }
        let condition = ConditionSeries(step: step, holds: values.map { $0 >= 0.99 }, values: values, worst: .lowest)
        let verdict = SLO(name: "login-success", form: .always, from: 0, to: 40_000).evaluate(condition)
        let chart = [ChartSeries(labels: Labels(), points: values.enumerated().map { Sample(time: Int64($0.offset) * step, value: $0.element) })]
        return SLOReport(verdict: verdict, expression: expression, chart: chart)
    }

    /// A budget SLO without a threshold (a presence condition) and without chart data.
    static func presenceSLO() -> SLOReport {
        let expression = try! SLIExpression.parse("up{service=\"supernode\"}")
        let condition = ConditionSeries(step: step, holds: Array(repeating: true, count: 41))
        let verdict = SLO(name: "supernodes-up", form: .budget(maxBadFraction: 0.1), from: 0, to: 10_000).evaluate(condition)
        return SLOReport(verdict: verdict, expression: expression)
    }

    static func steadySLO() -> SLOReport {
        let expression = try! SLIExpression.parse("up == 1")
        let condition = ConditionSeries(step: step, holds: Array(repeating: true, count: 9))
        let verdict = SLO(name: "all-up", form: .always, from: 0, to: 2000).evaluate(condition)
        return SLOReport(verdict: verdict, expression: expression)
    }

    static let faults = [
        RunReport.FaultWindow(step: "storm", kind: "mass-restart", targets: ["client-1", "client-2"], start: 2000, end: 6000, mechanism: "signal"),
        RunReport.FaultWindow(step: "cut", kind: "partition", targets: ["supernode-2"], start: 8000, end: nil, mechanism: "fault-proxy"),
    ]

    static let events = [
        RunReport.Event(time: 0, kind: "start", instance: "auth-1", detail: "pid 100"),
        RunReport.Event(time: 150, kind: "ready", instance: "auth-1"),
        RunReport.Event(time: 2000, kind: "step-start", detail: "storm"),
        RunReport.Event(time: 2010, kind: "exit", instance: "client-1", detail: "signal 9"),
        RunReport.Event(time: 6000, kind: "fault-reverted", detail: "storm"),
    ]

    /// A report with three SLOs (one failing) and a steady-state check.
    static func report(expected: RunReport.Expectation.Result = .pass, lab: String = "patch-tuesday", runID: String = "run-1") -> RunReport {
        let slos = [latencySLO(), successSLO(), presenceSLO()]
        return RunReport(
            lab: lab, runtime: .process, seed: 42, runID: runID, startedAt: "2025-01-01T12:00:00Z", duration: 40_000,
            outcome: .degraded, decidedBy: ["login-success"], explanation: "still violated at the end of the window: login-success",
            expectation: RunReport.Expectation.judge(expected, outcome: .degraded, steadyState: [steadySLO()], slos: slos),
            steadyState: [steadySLO()], slos: slos, faults: faults, events: events)
    }

    /// A report whose every SLO passed.
    static func passingReport() -> RunReport {
        let slos = [latencySLO(), presenceSLO()]
        return RunReport(
            lab: "quiet", runtime: .docker, seed: 7, runID: "run-2", startedAt: "2025-01-02T08:00:00Z", duration: 40_000,
            outcome: .recovered, decidedBy: ["login-latency"], explanation: "every recovers SLO met: login-latency",
            steadyState: [steadySLO()], slos: slos, faults: faults, events: events)
    }
}
