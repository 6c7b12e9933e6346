import Assertions
import Foundation
import Testing

@testable import Reports

@Suite("report.json")
struct JSONReportTests {
    static func decode(_ text: String) throws -> RunReport {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
        return try decoder.decode(RunReport.self, from: Data(text.utf8))
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func roundTripsThroughJSONDecoder() throws {
        let report = Fixtures.report()
        let text = JSONReport.render(report)
        #expect(try Self.decode(text) == report)
        #expect(JSONReport.render(try Self.decode(text)) == text)
    }

    @Test func hasTheDocumentedKeysInTheDocumentedOrder() throws {
        let text = JSONReport.render(Fixtures.report())
        let root = try Self.object(text)
        let topKeys = [
            "schema", "lab", "runtime", "seed", "runId", "startedAt", "durationMs", "outcome", "decidedBy", "explanation",
            "passed", "expectation", "steadyState", "slos", "faults", "events",
        ]
        #expect(Set(root.keys) == Set(topKeys))
        // Keys come in the documented order.
        let positions = topKeys.map { text.range(of: "\n  \"\($0)\": ")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(root["schema"] as? Int == 1)
        #expect(root["outcome"] as? String == "degraded")
        #expect(root["runtime"] as? String == "process")
        #expect(root["passed"] as? Bool == false)
        let expectation = try #require(root["expectation"] as? [String: Any])
        #expect(expectation["expected"] as? String == "pass")
        #expect(expectation["met"] as? Bool == false)

        let slos = try #require(root["slos"] as? [[String: Any]])
        #expect(slos.count == 3)
        #expect(
            Set(slos[0].keys)
                == ["name", "form", "passed", "fromMs", "toMs", "expression", "threshold", "unit", "figures", "summary", "chart"])
        let form = try #require(slos[0]["form"] as? [String: Any])
        #expect(Set(form.keys) == ["kind", "withinMs", "holdMs", "maxBadFraction", "text"])
        #expect(form["kind"] as? String == "recovers")
        #expect(form["withinMs"] as? Int == 10_000)
        #expect(form["maxBadFraction"] is NSNull)
        let figures = try #require(slos[0]["figures"] as? [String: Any])
        #expect(Set(figures.keys) == ["timeToRecoverMs", "worstValue", "worstTimeMs", "violations", "badFraction", "steps"])
        #expect(figures["timeToRecoverMs"] as? Int == 4000)
        let violations = try #require(figures["violations"] as? [[String: Any]])
        #expect(violations.first.map { Set($0.keys) } == ["startMs", "endMs", "ongoing"])
        let threshold = try #require(slos[0]["threshold"] as? [String: Any])
        #expect(threshold["comparison"] as? String == "<")
        #expect(threshold["value"] as? Double == 0.5)
        #expect(slos[0]["unit"] as? String == "s")
        // No threshold: the key is there, as null.
        #expect(slos[2]["threshold"] is NSNull)
        let chart = try #require(slos[0]["chart"] as? [[String: Any]])
        #expect(chart.first.map { Set($0.keys) } == ["labels", "points"])
        #expect((chart.first?["labels"] as? [String: String]) == ["instance": "auth-1"])
        let firstPoint = try #require((chart.first?["points"] as? [[Double]])?.first)
        #expect(firstPoint == [0, 0.1])

        let faults = try #require(root["faults"] as? [[String: Any]])
        #expect(Set(faults[0].keys) == ["step", "kind", "targets", "startMs", "endMs", "mechanism"])
        #expect(faults[1]["endMs"] is NSNull)
        let events = try #require(root["events"] as? [[String: Any]])
        #expect(Set(events[0].keys) == ["timeMs", "kind", "instance", "detail"])
        #expect(events[2]["instance"] is NSNull)
    }

    @Test func writesNonFiniteNumbersAsStringsAndEscapesText() throws {
        var report = Fixtures.passingReport()
        report.lab = "quote\" back\\slash \u{1B}[31m\n\t\u{2028}"
        report.slos[0].figures.worstValue = .infinity
        report.slos[0].chart = [
            ChartSeries(labels: ["a": "x", "b": "y\"z"], points: [Sample(time: 0, value: .nan), Sample(time: 1, value: -.infinity)])
        ]
        let text = JSONReport.render(report)
        let root = try Self.object(text)  // valid JSON
        #expect(root["lab"] as? String == report.lab)
        #expect(text.contains("\"worstValue\": \"+Inf\""))
        #expect(text.contains("[[0, \"NaN\"], [1, \"-Inf\"]]"))
        let decoded = try Self.decode(text)
        #expect(decoded.lab == report.lab)
        #expect(decoded.slos[0].figures.worstValue == .infinity)
        #expect(decoded.slos[0].chart[0].points[0].value.isNaN)
        #expect(decoded.slos[0].chart[0].labels == report.slos[0].chart[0].labels)
    }

    @Test func isDeterministicWithSortedLabels() {
        let report = Fixtures.report()
        #expect(JSONReport.render(report) == JSONReport.render(report))
        let series = ChartSeries(labels: ["zeta": "1", "alpha": "2", "mid": "3"], points: [])
        var withLabels = report
        withLabels.slos[0].chart = [series]
        let text = JSONReport.render(withLabels)
        let positions = ["alpha", "mid", "zeta"].map { text.range(of: "\"\($0)\"")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }

    @Test func refusesAnotherSchema() throws {
        let text = JSONReport.render(Fixtures.report()).replacingOccurrences(of: "\"schema\": 1", with: "\"schema\": 2")
        #expect(throws: DecodingError.self) { try Self.decode(text) }
    }

    @Test func outcomesHaveTheDocumentedRawValues() {
        #expect(RunReport.Outcome.allCases.map(\.rawValue) == ["healthy", "recovered", "degraded", "metastable", "aborted", "not-steady", "error"])
        #expect(RunOutcome.allCases.map { RunReport.Outcome($0).rawValue } == RunOutcome.allCases.map(\.rawValue))
    }
}
