/// Writes `junit.xml` in the JUnit XML dialect that Jenkins, GitLab and GitHub read.
///
/// Shape: a `<testsuites>` root with one `<testsuite>` per lab, whose `classname` is
/// `stormlab.LAB`. Each run gives these `<testcase>`s:
/// - `steady-state`: fails when a steady-state check failed or the run ended `not-steady`;
/// - one per SLO, named after it, `time` the SLO's window in seconds; a failed SLO carries
///   `<failure type="SLOViolation" message="summary">` with the figures in the body;
/// - `expectation` when the plan expects failure (a lab that reproduces an outage): then SLO
///   failures are expected and reported in `<system-out>`, and this case fails iff every SLO passed;
/// - `run` when the lab itself failed (outcome `error`), with an `<error type="LabError">`.
///
/// The suite's `<properties>` hold the run's identity and outcome, its `<system-out>` the
/// outcome and the event timeline. When several runs of one lab are combined, each run's
/// cases get `classname` `stormlab.LAB.RUN-ID`. All text is escaped (``escapeMarkup(_:attribute:)``).
public enum JUnitReport {
    /// The `junit.xml` of one run: a `<testsuites>` root holding the run's `<testsuite>`.
    public static func render(_ report: RunReport) -> String {
        render([report])
    }

    /// One `junit.xml` for many runs (the suite command): a `<testsuite>` per lab, in order of
    /// first appearance, each holding the cases of every run of that lab.
    public static func render(_ reports: [RunReport], name: String = "stormlab") -> String {
        var labs: [String] = []
        var runsByLab: [String: [RunReport]] = [:]
        for report in reports {
            if runsByLab[report.lab] == nil { labs.append(report.lab) }
            runsByLab[report.lab, default: []].append(report)
        }
        let suites = labs.map { suite(lab: $0, runs: runsByLab[$0] ?? []) }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(escapeMarkup(name, attribute: true))\""
        out += " tests=\"\(suites.map(\.tests).reduce(0, +))\" failures=\"\(suites.map(\.failures).reduce(0, +))\""
        out += " errors=\"\(suites.map(\.errors).reduce(0, +))\" skipped=\"0\""
        out += " time=\"\(seconds(reports.map(\.duration).reduce(0, +)))\">\n"
        for suite in suites { out += suite.xml }
        out += "</testsuites>\n"
        return out
    }

    // MARK: - Building

    private enum Result {
        case passed(output: String?)
        case failure(message: String, type: String, body: String)
        case error(message: String, type: String, body: String)
    }

    private struct TestCase {
        var name: String
        var classname: String
        var time: Int64
        var result: Result
    }

    private struct Suite {
        var tests = 0
        var failures = 0
        var errors = 0
        var xml = ""
    }

    private static func suite(lab: String, runs: [RunReport]) -> Suite {
        let baseClass = "stormlab." + lab
        var cases: [TestCase] = []
        for run in runs {
            cases += testCases(run, classname: runs.count > 1 ? baseClass + "." + run.runID : baseClass)
        }
        var suite = Suite(tests: cases.count)
        for testCase in cases {
            switch testCase.result {
            case .passed: break
            case .failure: suite.failures += 1
            case .error: suite.errors += 1
            }
        }
        let first = runs.first
        var xml = "  <testsuite name=\"\(escapeMarkup(baseClass, attribute: true))\""
        xml += " tests=\"\(suite.tests)\" failures=\"\(suite.failures)\" errors=\"\(suite.errors)\" skipped=\"0\""
        xml += " time=\"\(seconds(runs.map(\.duration).reduce(0, +)))\""
        if let first { xml += " timestamp=\"\(escapeMarkup(first.startedAt, attribute: true))\"" }
        xml += ">\n"
        xml += "    <properties>\n"
        for run in runs {
            let prefix = runs.count > 1 ? run.runID + "." : ""
            let properties: [(String, String)] = [
                ("lab", run.lab), ("runtime", run.runtime.rawValue), ("seed", String(run.seed)),
                ("run-id", run.runID), ("started-at", run.startedAt), ("outcome", run.outcome.rawValue),
                ("decided-by", run.decidedBy.joined(separator: ", ")), ("explanation", run.explanation),
                ("expected", run.expectation.expected.rawValue), ("expectation-met", String(run.expectation.met)),
            ]
            for (name, value) in properties {
                xml += "      <property name=\"\(escapeMarkup(prefix + name, attribute: true))\""
                xml += " value=\"\(escapeMarkup(value, attribute: true))\"/>\n"
            }
        }
        xml += "    </properties>\n"
        for testCase in cases { xml += render(testCase) }
        xml += "    <system-out>\(escapeMarkup(runs.map(runLog).joined(separator: "\n")))</system-out>\n"
        xml += "  </testsuite>\n"
        suite.xml = xml
        return suite
    }

    private static func testCases(_ run: RunReport, classname: String) -> [TestCase] {
        var cases: [TestCase] = []
        let steadyFailed = run.steadyState.filter { !$0.passed }
        let steadyTime = run.steadyState.map { $0.to - $0.from }.max() ?? 0
        if !steadyFailed.isEmpty || run.outcome == .notSteady {
            let message =
                steadyFailed.isEmpty
                ? "not steady: \(run.explanation)" : "not steady: " + steadyFailed.map(\.summary).joined(separator: "; ")
            let body = ([run.explanation] + run.steadyState.map(figuresText)).joined(separator: "\n\n")
            cases.append(
                TestCase(
                    name: "steady-state", classname: classname, time: steadyTime,
                    result: .failure(message: message, type: "NotSteady", body: body)))
        } else {
            let output = run.steadyState.map(\.summary).joined(separator: "\n")
            cases.append(
                TestCase(
                    name: "steady-state", classname: classname, time: steadyTime,
                    result: .passed(output: output.isEmpty ? nil : output)))
        }
        let expectFailure = run.expectation.expected == .fail
        for slo in run.slos {
            let result: Result
            if slo.passed {
                result = .passed(output: slo.summary)
            } else if expectFailure {
                result = .passed(output: "failed as expected\n" + figuresText(slo))
            } else {
                result = .failure(message: slo.summary, type: "SLOViolation", body: figuresText(slo))
            }
            cases.append(TestCase(name: slo.name, classname: classname, time: slo.to - slo.from, result: result))
        }
        if expectFailure {
            let result: Result =
                run.expectation.met
                ? .passed(output: "expected an SLO to fail, and one did")
                : .failure(
                    message: "expected at least one SLO to fail, but the run ended \(run.outcome.rawValue) with every SLO passing",
                    type: "ExpectationNotMet", body: run.explanation)
            cases.append(TestCase(name: "expectation", classname: classname, time: 0, result: result))
        }
        if run.outcome == .error {
            cases.append(
                TestCase(
                    name: "run", classname: classname, time: run.duration,
                    result: .error(message: run.explanation, type: "LabError", body: run.explanation)))
        }
        return cases
    }

    private static func render(_ testCase: TestCase) -> String {
        var xml = "    <testcase name=\"\(escapeMarkup(testCase.name, attribute: true))\""
        xml += " classname=\"\(escapeMarkup(testCase.classname, attribute: true))\" time=\"\(seconds(testCase.time))\""
        switch testCase.result {
        case .passed(let output):
            guard let output else { return xml + "/>\n" }
            xml += ">\n      <system-out>\(escapeMarkup(output))</system-out>\n"
        case .failure(let message, let type, let body), .error(let message, let type, let body):
            let element = if case .failure = testCase.result { "failure" } else { "error" }
            xml += ">\n      <\(element) message=\"\(escapeMarkup(message, attribute: true))\""
            xml += " type=\"\(escapeMarkup(type, attribute: true))\">\(escapeMarkup(body))</\(element)>\n"
        }
        return xml + "    </testcase>\n"
    }

    /// The figures of an SLO as plain text lines, for failure bodies and logs.
    static func figuresText(_ slo: SLOReport) -> String {
        let figures = slo.figures
        var lines = [
            "\(slo.name): \(slo.passed ? "PASS" : "FAIL") \(slo.form.text)",
            "expression: \(slo.expression)",
        ]
        if let threshold = slo.threshold { lines.append("threshold: \(threshold)") }
        lines.append("window: \(formatDuration(slo.from)) to \(formatDuration(slo.to))")
        if slo.form.measuresRecovery {
            lines.append("time to recover: \(figures.timeToRecover.map(formatDuration) ?? "never")")
        }
        if let value = figures.worstValue {
            let unit = slo.unit.map { " " + $0 } ?? ""
            lines.append("worst value: \(formatNumber(value))\(unit) at \(figures.worstTime.map(formatDuration) ?? "?")")
        }
        let intervals = figures.violations.prefix(10).map {
            "[\(formatDuration($0.start)), \(formatDuration($0.end))\($0.ongoing ? ", ongoing" : "")]"
        }
        let more = figures.violations.count > 10 ? ", …" : ""
        lines.append(
            "violations: \(figures.violations.count)"
                + (intervals.isEmpty ? "" : " " + intervals.joined(separator: ", ") + more))
        lines.append("bad fraction: \(formatPercent(figures.badFraction)) of \(figures.steps) steps")
        return lines.joined(separator: "\n")
    }

    private static func runLog(_ run: RunReport) -> String {
        var lines = [
            "run \(run.runID) of \(run.lab) (\(run.runtime.rawValue), seed \(run.seed)) started \(run.startedAt), lasted \(formatDuration(run.duration))",
            "outcome: \(run.outcome.rawValue) — \(run.explanation)"
                + (run.decidedBy.isEmpty ? "" : " (decided by \(run.decidedBy.joined(separator: ", ")))"),
        ]
        for fault in run.faults {
            lines.append(
                "fault \(fault.step): \(fault.kind) on \(fault.targets.joined(separator: ", ")) via \(fault.mechanism), \(formatDuration(fault.start)) to \(fault.end.map(formatDuration) ?? "end")"
            )
        }
        for event in run.events {
            lines.append(
                "\(formatFixed(Double(event.time) / 1000, decimals: 3, trim: false))s \(event.kind)\(event.instance.map { " " + $0 } ?? "") \(event.detail)"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// Milliseconds as JUnit seconds: `12.250`.
    private static func seconds(_ milliseconds: Int64) -> String {
        formatFixed(Double(Swift.max(0, milliseconds)) / 1000, decimals: 3, trim: false)
    }
}
