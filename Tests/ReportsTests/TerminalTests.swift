import Foundation
import Testing

@testable import Reports

@Suite("terminal")
struct TerminalTests {
    static let slis = [
        SLIStatus(name: "login-latency", value: 0.123456, unit: "s", state: .passing),
        SLIStatus(name: "login-success", value: 0.8, state: .failing),
        SLIStatus(name: "supernodes-up-for-a-very-long-time-indeed", value: nil, state: .pending),
    ]

    /// The text without ANSI escape sequences.
    static func visible(_ text: String) -> String {
        var out = ""
        var inEscape = false
        for character in text {
            if inEscape {
                if character == "m" { inEscape = false }
            } else if character == "\u{1B}" {
                inEscape = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    @Test(arguments: [0, 5, 12, 20, 30, 40, 50, 60, 80, 100, 120, 200])
    func statusLineFitsTheWidth(width: Int) {
        for style in [TerminalStyle.plain, .ansi] {
            let line = StatusLine.render(
                elapsed: 83_000, total: 300_000, step: "storm-of-logins-after-patch-tuesday", slis: Self.slis,
                width: width, style: style)
            #expect(Self.visible(line).count <= width, "\(line)")
            #expect(!line.contains("\n") && !line.contains("\r"))
            if !style.color { #expect(!line.contains("\u{1B}")) }
        }
    }

    @Test func statusLineContents() {
        let wide = StatusLine.render(elapsed: 83_000, total: 300_000, step: "storm", slis: Self.slis, width: 200, style: .plain)
        #expect(wide == "01:23/05:00 [##--------] 28% storm | ok login-latency 0.123s | FAIL login-success 0.8 | .. supernodes-up-for-a… -")
        let narrow = StatusLine.render(elapsed: 83_000, total: 300_000, step: "storm", slis: Self.slis, width: 60, style: .plain)
        #expect(narrow == "01:23/05:00 storm | ok login-latency 0.123s | +2")
        let coloured = StatusLine.render(elapsed: 83_000, total: 300_000, step: "storm", slis: Self.slis, width: 200, style: .ansi)
        #expect(coloured.contains("\u{1B}[31m✗\u{1B}[0m"))
        #expect(Self.visible(coloured).contains("✓ login-latency 0.123s"))
        let unknownTotal = StatusLine.render(elapsed: 3_723_000, total: 0, step: nil, slis: [], width: 80, style: .plain)
        #expect(unknownTotal == "1:02:03")
    }

    @Test func styleDetection() {
        #expect(TerminalStyle.detect(isTerminal: true, noColor: nil).color)
        #expect(TerminalStyle.detect(isTerminal: true, noColor: "").color)
        #expect(!TerminalStyle.detect(isTerminal: true, noColor: "1").color)
        #expect(!TerminalStyle.detect(isTerminal: false, noColor: nil).color)
    }

    @Test func summaryTableAligns() throws {
        let report = Fixtures.report()
        let text = SummaryTable.render(report, style: .plain)
        #expect(!text.contains("\u{1B}"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let table = Array(lines.prefix(report.slos.count + 1))
        #expect(table[0].hasPrefix("SLO"))
        // Every row is as wide as the header, and each column starts at the header's offset.
        #expect(Set(table.map(\.count)).count == 1)
        for column in ["form", "verdict"] {
            let offset = try #require(table[0].range(of: column)).lowerBound.utf16Offset(in: table[0])
            for row in table.dropFirst() {
                let index = row.index(row.startIndex, offsetBy: offset)
                #expect(row[row.index(before: index)] == " ")
                #expect(row[index] != " ")
            }
        }
        #expect(table[1].contains("login-latency") && table[1].contains("PASS") && table[1].contains("4s"))
        #expect(table[1].contains("1.25 s at 2s"))
        #expect(table[2].contains("FAIL") && table[2].contains("1 (37s)"))
        #expect(lines.contains("steady state: PASS (1 check)"))
        #expect(lines.contains { $0.hasPrefix("outcome: degraded - still violated") && $0.hasSuffix("(decided by login-success)") })
        #expect(lines.contains("expected pass: not met"))

        let coloured = SummaryTable.render(report, style: .ansi)
        #expect(coloured.contains("\u{1B}[32mPASS   \u{1B}[0m"))
        #expect(TerminalTests.visible(coloured) == text)
    }

    @Test func sanitizesNames() {
        var report = Fixtures.report()
        report.slos[0].name = "evil\u{1B}[2Jname\n"
        let text = SummaryTable.render(report, style: .plain)
        #expect(!text.contains("\u{1B}"))
        #expect(text.contains("evil\\u{1B}[2Jname\\u{A}"))
    }
}
