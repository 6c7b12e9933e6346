import Foundation
import Testing

@testable import Reports

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element.
final class XMLElementNode {
    let name: String
    let attributes: [String: String]
    var children: [XMLElementNode] = []
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    func all(_ name: String) -> [XMLElementNode] {
        children.flatMap { ($0.name == name ? [$0] : []) + $0.all(name) }
    }
}

/// Parses XML with Foundation's XMLParser (libxml2 underneath), strictly: any error fails.
final class XMLTree: NSObject, XMLParserDelegate {
    private var stack: [XMLElementNode] = []
    private(set) var root: XMLElementNode?

    static func parse(_ text: String) throws -> XMLElementNode {
        let tree = XMLTree()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = tree
        guard parser.parse(), let root = tree.root else {
            throw XMLTreeError(message: parser.parserError.map { "\($0)" } ?? "no root")
        }
        return root
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        let node = XMLElementNode(name: elementName, attributes: attributes)
        stack.last?.children.append(node)
        if stack.isEmpty { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }
}

struct XMLTreeError: Error {
    var message: String
}

@Suite("junit.xml")
struct JUnitReportTests {
    @Test func isWellFormedWithRightCounts() throws {
        let report = Fixtures.report()
        let root = try XMLTree.parse(JUnitReport.render(report))
        #expect(root.name == "testsuites")
        let suites = root.all("testsuite")
        #expect(suites.count == 1)
        let suite = try #require(suites.first)
        let cases = suite.all("testcase")
        // steady state + three SLOs.
        #expect(cases.map { $0.attributes["name"] } == ["steady-state", "login-latency", "login-success", "supernodes-up"])
        #expect(suite.attributes["tests"] == "4")
        #expect(suite.attributes["failures"] == "1")
        #expect(suite.attributes["errors"] == "0")
        #expect(suite.attributes["time"] == "40.000")
        #expect(suite.attributes["timestamp"] == "2025-01-01T12:00:00Z")
        #expect(root.attributes["tests"] == "4")
        #expect(root.attributes["failures"] == "1")
        #expect(cases.allSatisfy { $0.attributes["time"] != nil && $0.attributes["classname"] == "stormlab.patch-tuesday" })
        #expect(cases[1].attributes["time"] == "38.000")
        let failures = suite.all("failure")
        #expect(failures.count == 1)
        let failure = try #require(failures.first)
        #expect(failure.attributes["type"] == "SLOViolation")
        #expect(failure.attributes["message"]?.hasPrefix("login-success: FAIL always") == true)
        #expect(failure.text.contains("worst value: 0.8 at 3s"))
        #expect(failure.text.contains("violations: 1 [3s, 40s, ongoing]"))
        #expect(failure.text.contains("threshold: >= 0.99"))
        let properties = Dictionary(
            uniqueKeysWithValues: suite.all("property").map { ($0.attributes["name"] ?? "", $0.attributes["value"] ?? "") })
        #expect(properties["seed"] == "42")
        #expect(properties["outcome"] == "degraded")
        #expect(properties["runtime"] == "process")
    }

    @Test func escapesMarkupAndControlCharacters() throws {
        var report = Fixtures.report()
        let nasty = "a<b>&c\"d'e]]>f\u{1B}[31mg\u{0}h\u{7}\ti\nj"
        report.lab = nasty
        report.slos[1].name = nasty
        report.slos[1].summary = nasty
        report.events.append(RunReport.Event(time: 10, kind: nasty, instance: nasty, detail: "</system-out>" + nasty))
        let xml = JUnitReport.render(report)
        #expect(!xml.contains("\u{1B}") && !xml.contains("\u{0}") && !xml.contains("\u{7}"))
        let root = try XMLTree.parse(xml)
        let visible = "a<b>&c\"d'e]]>f\\u{1B}[31mg\\u{0}h\\u{7}\ti\nj"
        let cases = root.all("testcase")
        #expect(cases[2].attributes["name"] == visible)
        #expect(root.all("failure").first?.attributes["message"] == visible)
        #expect(root.all("testsuite").first?.attributes["name"] == "stormlab." + visible)
        #expect(root.all("system-out").last?.text.contains("</system-out>") == true)
    }

    @Test func expectedFailureIsNotACIFailure() throws {
        let report = Fixtures.report(expected: .fail)
        #expect(report.expectation.met)
        let root = try XMLTree.parse(JUnitReport.render(report))
        let suite = try #require(root.all("testsuite").first)
        #expect(suite.attributes["failures"] == "0")
        #expect(suite.attributes["tests"] == "5")
        let expectation = try #require(suite.all("testcase").last)
        #expect(expectation.attributes["name"] == "expectation")
        #expect(expectation.all("failure").isEmpty)
        #expect(suite.all("testcase")[2].all("system-out").first?.text.hasPrefix("failed as expected") == true)

        // Expected to fail but everything passed: the expectation case fails.
        var passing = Fixtures.passingReport()
        passing.expectation = RunReport.Expectation.judge(.fail, outcome: passing.outcome, steadyState: passing.steadyState, slos: passing.slos)
        #expect(!passing.expectation.met)
        let passingRoot = try XMLTree.parse(JUnitReport.render(passing))
        #expect(passingRoot.attributes["failures"] == "1")
        #expect(passingRoot.all("failure").first?.attributes["type"] == "ExpectationNotMet")
    }

    @Test func notSteadyAndErrorRuns() throws {
        var notSteady = Fixtures.passingReport()
        notSteady.outcome = .notSteady
        notSteady.slos = []
        notSteady.steadyState[0].passed = false
        notSteady.explanation = "all-up did not hold before the first fault"
        let root = try XMLTree.parse(JUnitReport.render(notSteady))
        #expect(root.all("failure").first?.attributes["type"] == "NotSteady")
        #expect(root.attributes["tests"] == "1")

        var broken = Fixtures.passingReport()
        broken.outcome = .error
        broken.explanation = "auth-1 exited with status 1 before it was ready"
        let brokenRoot = try XMLTree.parse(JUnitReport.render(broken))
        #expect(brokenRoot.attributes["errors"] == "1")
        #expect(brokenRoot.all("error").first?.attributes["message"] == broken.explanation)
    }

    @Test func combinesRunsIntoOneSuitePerLab() throws {
        let runs = [
            Fixtures.report(lab: "patch-tuesday", runID: "a"), Fixtures.passingReport(),
            Fixtures.report(lab: "patch-tuesday", runID: "b"),
        ]
        let root = try XMLTree.parse(JUnitReport.render(runs, name: "suite"))
        #expect(root.attributes["name"] == "suite")
        let suites = root.all("testsuite")
        #expect(suites.map { $0.attributes["name"] } == ["stormlab.patch-tuesday", "stormlab.quiet"])
        #expect(suites[0].all("testcase").count == 8)
        #expect(suites[0].attributes["failures"] == "2")
        #expect(Set(suites[0].all("testcase").compactMap { $0.attributes["classname"] }) == ["stormlab.patch-tuesday.a", "stormlab.patch-tuesday.b"])
        #expect(suites[1].all("testcase").count == 3)
        #expect(root.attributes["tests"] == "11")
        #expect(root.attributes["failures"] == "2")
        #expect(root.attributes["time"] == "120.000")
    }
}
