import Assertions
import Foundation
import Testing

@testable import Reports

@Suite("report.html")
struct HTMLReportTests {
    static func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// Every `<svg …>…</svg>` fragment of a page.
    static func svgs(_ html: String) -> [String] {
        var result: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            result.append(String(rest[start.lowerBound..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        return result
    }

    @Test func isSelfContained() {
        let html = HTMLReport.render(Fixtures.report())
        for forbidden in ["http://", "https://", "src=", "url(", "@import", "<script", "<link", "<img", "<iframe", "xlink:href"] {
            #expect(!html.lowercased().contains(forbidden), "found \(forbidden)")
        }
        // The only links are anchors within the page.
        for match in html.components(separatedBy: "href=\"").dropFirst() {
            #expect(match.hasPrefix("#"))
        }
        #expect(html.contains("prefers-color-scheme:dark"))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
    }

    @Test func hasOneWellFormedChartPerSLO() throws {
        let report = Fixtures.report()
        let html = HTMLReport.render(report)
        #expect(Self.occurrences(of: "<svg class=\"chart\"", in: html) == report.slos.count)
        #expect(Self.occurrences(of: "<svg class=\"timeline\"", in: html) == 1)
        let svgs = Self.svgs(html)
        #expect(svgs.count == report.slos.count + 1)
        for svg in svgs {
            _ = try XMLTree.parse(svg)  // SVG fragments are well-formed XML.
        }
        // Legends name the series.
        #expect(html.contains("{instance=&quot;auth-1&quot;}"))
        #expect(html.contains("{instance=&quot;auth-2&quot;}"))
    }

    @Test func drawsThresholdsFaultWindowsViolationsAndRecovery() throws {
        let report = Fixtures.report()
        let svgs = Self.svgs(HTMLReport.render(report)).filter { $0.hasPrefix("<svg class=\"chart\"") }
        #expect(svgs.count == 3)
        // login-latency (< 0.5) and login-success (>= 0.99) have thresholds; supernodes-up has none.
        #expect(svgs[0].contains("<g class=\"threshold\">") && svgs[0].contains("threshold &lt; 0.5"))
        #expect(svgs[1].contains("<g class=\"threshold\">") && svgs[1].contains("threshold &gt;= 0.99"))
        #expect(!svgs[2].contains("<g class=\"threshold\">"))
        #expect(svgs[2].contains("no SLI data"))
        for svg in svgs {
            #expect(Self.occurrences(of: "<g class=\"fault\">", in: svg) == 2)
            #expect(svg.contains(">storm</text>") && svg.contains(">cut</text>"))
            let tree = try XMLTree.parse(svg)
            let faultRects = tree.all("g").filter { $0.attributes["class"] == "fault" }.flatMap { $0.all("rect") }
            #expect(faultRects.count == 2)
            // The storm (2 s – 6 s of 40 s) over a 712-unit plot starting at 64.
            #expect(faultRects.first?.attributes["x"] == "99.6")
            #expect(faultRects.first?.attributes["width"] == "71.2")
        }
        #expect(svgs[0].contains("<g class=\"violation\">"))
        #expect(svgs[0].contains("recovered after 4s"))
        #expect(Self.occurrences(of: "<path class=\"series", in: svgs[0]) == 2)
        #expect(svgs[1].contains("<circle class=\"worst\""))
    }

    @Test func downsamplesLargeSeriesToASmallFile() throws {
        var report = Fixtures.report()
        let count = 100_000
        // A noisy series: 100 000 points at 10 ms over 1 000 s.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let points = (0..<count).map { index -> Sample in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Sample(time: Int64(index) * 10, value: Double(state >> 11) / Double(1 << 53))
        }
        report.duration = 1_000_000
        report.slos = [report.slos[0]]
        report.slos[0].chart = [ChartSeries(labels: ["instance": "auth-1"], points: points)]
        let html = HTMLReport.render(report)
        // Stated bound: a 100k-point chart keeps the page under 150 KB.
        #expect(html.utf8.count < 150_000, "\(html.utf8.count) bytes")
        let path = try #require(Self.svgs(html).first?.components(separatedBy: " d=\"").dropFirst().first)
        let drawnPoints = Self.occurrences(of: "L", in: String(path.prefix { $0 != "\"" })) + 1
        #expect(drawnPoints <= 4 * 712)
        #expect(drawnPoints > 712)
    }

    @Test func downsampleKeepsExtremesAndGaps() {
        var points: [Sample] = (0..<10_000).map { (index: Int) -> Sample in
            let value: Double = index == 5_000 ? 100 : index == 7_000 ? -100 : 1
            return Sample(time: Int64(index), value: value)
        }
        points.append(Sample(time: 10_000, value: .nan))
        for index in 10_001..<10_100 { points.append(Sample(time: Int64(index), value: 2)) }
        let segments = downsample(points, columns: 100, xMin: 0, xMax: 10_100)
        #expect(segments.count == 2)
        let all = segments.flatMap { $0 }
        #expect(all.count <= 4 * 100)
        #expect(all.contains { $0.value == 100 } && all.contains { $0.value == -100 })
        #expect(all.map(\.time) == all.map(\.time).sorted())
        #expect(segments[0].first?.time == 0 && segments[0].last?.time == 9_999)
    }

    @Test func capsTheNumberOfSeriesKeepingTheWorst() {
        var report = Fixtures.report()
        report.slos = [report.slos[0]]
        report.slos[0].chart = (0..<30).map { series in
            ChartSeries(labels: ["instance": "auth-\(series)"], points: [Sample(time: 0, value: Double(series)), Sample(time: 1000, value: 0)])
        }
        let html = HTMLReport.render(report, options: HTMLReport.Options(maxSeriesPerChart: 5))
        #expect(Self.occurrences(of: "<path class=\"series", in: html) == 5)
        #expect(html.contains("25 more series not drawn"))
        #expect(html.contains("auth-29") && !html.contains("auth-3&quot;}"))
    }

    @Test func escapesAllText() throws {
        var report = Fixtures.report()
        let nasty = "<script>alert('x')</script>&\"\u{1B}"
        report.lab = nasty
        report.slos[0].name = nasty
        report.slos[0].chart[0].labels = ["instance": nasty]
        report.faults[0].step = nasty
        report.events[0].detail = nasty
        report.decidedBy = [nasty]
        let html = HTMLReport.render(report)
        #expect(!html.contains("<script"))
        #expect(!html.contains("\u{1B}"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\u{1B}"))
        for svg in Self.svgs(html) { _ = try XMLTree.parse(svg) }
    }

    @Test func ticksAreRound() {
        #expect(niceTicks(low: 0.1, high: 1.25, count: 5) == [0, 0.5, 1, 1.5])
        #expect(Swift.abs((niceTicks(low: 0.8, high: 0.999, count: 5).first ?? 0) - 0.8) < 1e-9)
        #expect(niceTicks(low: 3, high: 3, count: 5).count >= 2)
        #expect(timeTicks(low: 0, high: 40_000, count: 8) == Array(stride(from: 0, through: 40_000, by: 5_000)))
        #expect(timeTicks(low: 0, high: 1_000_000, count: 8).count <= 9)
    }
}
