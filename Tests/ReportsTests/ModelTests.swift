import Assertions
import Foundation
import Testing

@testable import Reports

@Suite("model")
struct ModelTests {
    @Test(arguments: [
        ("x < 0.5", "<", 0.5),
        ("0.99 <= x", ">=", 0.99),
        ("(x > bool 2 * 3)", ">", 6),
        ("sum(rate(ok_total[1m])) / sum(rate(all_total[1m])) >= 0.99", ">=", 0.99),
        ("x != -1", "!=", -1),
        ("1 > x", "<", 1),
    ])
    func extractsThresholds(expression: String, comparison: String, value: Double) throws {
        let threshold = try #require(SLOReport.Threshold(condition: try SLIExpression.parse(expression)))
        #expect(threshold.comparison == comparison)
        #expect(threshold.value == value)
    }

    @Test(arguments: ["x", "x < time()", "x < y", "up == 1 and x", "rate(x[1m])"])
    func noThresholdWithoutAConstantBound(expression: String) throws {
        #expect(SLOReport.Threshold(condition: try SLIExpression.parse(expression)) == nil)
    }

    @Test(arguments: [
        ("histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[1m]))) < 0.5", "s"),
        ("rate(requests_total[1m]) > 1", "/s"),
        ("rate(sent_bytes_total[1m]) < 1e6", "B/s"),
        ("sum(rate(ok_total[1m])) / sum(rate(all_total[1m])) >= 0.99", nil),
        ("max(queue_wait_seconds) * 1000 < 20", "s"),
        ("up == 1", nil),
    ] as [(String, String?)])
    func infersUnits(expression: String, unit: String?) throws {
        #expect(SLOReport.inferUnit(try SLIExpression.parse(expression)) == unit)
    }

    @Test func chartEvaluatesTheIndicatorSide() throws {
        var store = SeriesStore()
        for time in stride(from: Int64(0), through: 2000, by: 250) {
            store.append(["__name__": "queue_depth", "instance": "auth-1"], time: time, value: Double(time) / 100)
            store.append(["__name__": "queue_depth", "instance": "auth-2"], time: time, value: 1)
        }
        let condition = try SLIExpression.parse("queue_depth < 10")
        let chart = try SLOReport.chart(of: condition, with: SLIEvaluator(store: store, lookbackDelta: 1000), from: 0, to: 2000, step: 500)
        #expect(chart.count == 2)
        #expect(chart[0].legend == "queue_depth{instance=\"auth-1\"}")
        #expect(chart[0].points.map(\.value) == [0, 5, 10, 15, 20])
        #expect(chart[1].points.map(\.time) == [0, 500, 1000, 1500, 2000])
    }

    @Test func buildsFromAVerdictAndAClassification() throws {
        let expression = try SLIExpression.parse("errors_ratio < 0.01")
        let verdict = SLO(name: "errors", form: .eventually(within: 1000), from: 0, to: 2000)
            .evaluate(ConditionSeries(step: 250, holds: [false, false, true, true, true, true, true, true, true]))
        let slo = SLOReport(verdict: verdict, expression: expression)
        #expect(slo.form == SLOReport.Form(.eventually(within: 1000)))
        #expect(slo.form.sloForm == .eventually(within: 1000))
        #expect(slo.figures.timeToRecover == 500)
        #expect(slo.figures.violations == [SLOReport.Violation(start: 0, end: 250)])
        #expect(slo.threshold == SLOReport.Threshold(comparison: "<", value: 0.01))
        let classification = OutcomeClassifier.classify(verdicts: [verdict])
        let report = RunReport(
            lab: "l", runtime: .process, seed: 1, runID: "r", startedAt: "now", duration: 2000,
            classification: classification, expected: .pass, slos: [slo])
        #expect(report.outcome == .recovered)
        #expect(report.decidedBy == ["errors"])
        #expect(report.expectation == RunReport.Expectation(expected: .pass, met: true))
        #expect(report.passed)
        for form in [SLOForm.always, .eventually(within: 5), .recovers(within: 5, hold: 2), .budget(maxBadFraction: 0.25)] {
            #expect(SLOReport.Form(form).sloForm == form)
        }
    }

    @Test func expectationJudgement() {
        let failing = SLOReport(name: "x", form: SLOReport.Form(.always), passed: false, from: 0, to: 1, expression: "x")
        #expect(RunReport.Expectation.judge(.fail, outcome: .degraded, steadyState: [], slos: [failing]).met)
        #expect(!RunReport.Expectation.judge(.pass, outcome: .degraded, steadyState: [], slos: [failing]).met)
        #expect(!RunReport.Expectation.judge(.fail, outcome: .notSteady, steadyState: [], slos: [failing]).met)
        // With expected outcomes, the outcome must be one of them too.
        #expect(RunReport.Expectation.judge(.fail, outcomes: [.metastable, .degraded], outcome: .degraded, steadyState: [], slos: [failing]).met)
        #expect(!RunReport.Expectation.judge(.fail, outcomes: [.metastable, .degraded], outcome: .recovered, steadyState: [], slos: [failing]).met)
        #expect(RunReport.Expectation(expected: .fail, outcomes: [.metastable], met: true).summary == "fail, outcome metastable")
        #expect(!RunReport.Expectation.judge(.pass, outcome: .error, steadyState: [], slos: []).met)
        #expect(RunReport.Expectation.judge(.pass, outcome: .healthy, steadyState: [], slos: []).met)
    }

    @Test(arguments: [
        (0.0, "0"), (0.123456, "0.1235"), (1234.5678, "1235"), (1.5e-7, "1.5e-7"), (2.5e12, "2.5e12"), (-0.25, "-0.25"),
        (.nan, "NaN"), (.infinity, "+Inf"), (99.99999, "100"),
    ])
    func formatsNumbers(value: Double, text: String) {
        #expect(formatNumber(value) == text)
    }

    @Test(arguments: [
        (Int64(0), "0ms"), (250, "250ms"), (1000, "1s"), (12_250, "12.25s"), (65_000, "1m05s"), (120_000, "2m"),
        (3_723_500, "1h02m03.5s"), (-1500, "-1.5s"),
    ])
    func formatsDurations(milliseconds: Int64, text: String) {
        #expect(formatDuration(milliseconds) == text)
    }

    @Test func writesAllFilesAtomically() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = Fixtures.report()
        try ReportFiles.writeAll(report, to: directory.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names == ["junit.xml", "report.html", "report.json"])
        let json = try String(contentsOf: directory.appendingPathComponent("report.json"), encoding: .utf8)
        #expect(json == JSONReport.render(report))
        #expect(throws: ReportWriteError.self) {
            try ReportFiles.write("x", to: directory.path + "/missing/report.json")
        }
    }
}
