/// How terminal text is styled: with ANSI colours, or plain for CI logs and pipes.
///
/// Renderers never look at the environment; the caller decides, usually with
/// ``detect(isTerminal:noColor:)``.
public struct TerminalStyle: Sendable, Hashable {
    /// Whether to use ANSI colour and Unicode glyphs; plain text is ASCII-only markup.
    public var color: Bool

    /// Creates a style.
    public init(color: Bool) { self.color = color }

    /// Plain text: no escape sequences, ASCII glyphs.
    public static let plain = TerminalStyle(color: false)
    /// ANSI colours and Unicode glyphs.
    public static let ansi = TerminalStyle(color: true)

    /// The style for an output: colour only on a terminal and when `NO_COLOR` is unset or empty
    /// (as no-color.org says). Pass `isatty(1) == 1` and the value of `NO_COLOR`.
    public static func detect(isTerminal: Bool, noColor: String?) -> TerminalStyle {
        TerminalStyle(color: isTerminal && (noColor ?? "").isEmpty)
    }

    enum Colour: String {
        case red = "31"
        case green = "32"
        case yellow = "33"
        case dim = "2"
        case bold = "1"
    }

    /// `text` wrapped in a colour when colour is on.
    func paint(_ text: String, _ colour: Colour?) -> String {
        guard color, let colour, !text.isEmpty else { return text }
        return "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m"
    }
}

/// The current state of one SLO's SLI, for the live status line.
public struct SLIStatus: Sendable, Hashable {
    /// Whether the SLO's condition holds right now.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// The condition holds.
        case passing
        /// The condition does not hold.
        case failing
        /// Not judged yet (no data, or the window has not started).
        case pending
    }

    /// The SLO's name.
    public var name: String
    /// The SLI's current value (the worst series), if there is one.
    public var value: Double?
    /// The SLI's unit, appended to the value (`s`, `/s`).
    public var unit: String?
    /// Whether the condition holds.
    public var state: State

    /// Creates a status.
    public init(name: String, value: Double?, unit: String? = nil, state: State) {
        self.name = name
        self.value = value
        self.unit = unit
        self.state = state
    }
}

/// The live status line shown while a run goes on.
///
/// `01:23/05:00 [####------] 27% storm | ok login-success 0.995 | FAIL p99-latency 1.2s`, or
/// with colour `✓`/`✗` glyphs and a block bar. The line never exceeds `width` characters
/// (counting one column per `Character`; escape sequences take none): it sheds, in order, the
/// progress bar, the end of a long step name, SLIs from the end (replaced by `+N`), and the
/// step; as a last resort it is cut, without colour. It has no newline or carriage return:
/// the caller writes `\r` + line + erase-to-end on a terminal, or whole lines elsewhere.
public enum StatusLine {
    /// Renders the line. `elapsed` and `total` are milliseconds; `total` ≤ 0 means unknown.
    public static func render(
        elapsed: Int64, total: Int64, step: String?, slis: [SLIStatus], width: Int, style: TerminalStyle
    ) -> String {
        let width = Swift.max(0, width)
        var showBar = true
        var stepLimit = 24
        var shown = slis.count
        while true {
            let pieces = compose(
                elapsed: elapsed, total: total, step: step, stepLimit: stepLimit, slis: slis, shown: shown,
                showBar: showBar, style: style)
            if pieces.reduce(0, { $0 + $1.text.count }) <= width {
                return pieces.map { style.paint($0.text, $0.colour) }.joined()
            }
            if showBar {
                showBar = false
            } else if let step, step.count > 10, stepLimit > 10 {
                stepLimit = 10
            } else if shown > 0 {
                shown -= 1
            } else if stepLimit > 0 {
                stepLimit = 0
            } else {
                return String(pieces.map(\.text).joined().prefix(width))
            }
        }
    }

    private typealias Piece = (text: String, colour: TerminalStyle.Colour?)

    private static func compose(
        elapsed: Int64, total: Int64, step: String?, stepLimit: Int, slis: [SLIStatus], shown: Int, showBar: Bool,
        style: TerminalStyle
    ) -> [Piece] {
        var pieces: [Piece] = []
        let separator = style.color ? " │ " : " | "
        pieces.append((formatClock(elapsed) + (total > 0 ? "/" + formatClock(total) : ""), .bold))
        if showBar && total > 0 {
            let fraction = Swift.min(1, Swift.max(0, Double(elapsed) / Double(total)))
            let cells = 10
            let filled = Int((fraction * Double(cells)).rounded(.down))
            let bar =
                style.color
                ? String(repeating: "█", count: filled) + String(repeating: "░", count: cells - filled)
                : "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: cells - filled) + "]"
            pieces.append((" " + bar + " " + formatFixed(fraction * 100, decimals: 0) + "%", nil))
        }
        if let step, !step.isEmpty, stepLimit > 0 {
            pieces.append((" " + clip(sanitize(step), stepLimit), .yellow))
        }
        for status in slis.prefix(shown) {
            pieces.append((separator, .dim))
            let (glyph, colour): (String, TerminalStyle.Colour) =
                switch status.state {
                case .passing: (style.color ? "✓" : "ok", .green)
                case .failing: (style.color ? "✗" : "FAIL", .red)
                case .pending: (style.color ? "…" : "..", .dim)
                }
            pieces.append((glyph, colour))
            let value = status.value.map { formatNumber($0, significant: 3) + (status.unit ?? "") } ?? "-"
            pieces.append((" " + clip(sanitize(status.name), 20) + " " + value, status.state == .failing ? .red : nil))
        }
        if shown < slis.count {
            pieces.append((separator + "+\(slis.count - shown)", .dim))
        }
        return pieces
    }
}

/// The end-of-run summary: one row per SLO, then the steady state, outcome and expectation.
///
/// ```
/// SLO             form                          verdict  recovered after  worst            violations
/// login-success   recovers within 30s hold 10s  PASS     12.25s           0.42 at 21s       1 (9.75s)
/// outcome: recovered — every recovers SLO met: login-success (decided by login-success)
/// ```
/// Columns are padded on the plain text, so rows align with or without colour.
public enum SummaryTable {
    /// Renders the table and the lines under it, each line ending with a newline.
    public static func render(_ report: RunReport, style: TerminalStyle) -> String {
        let header = ["SLO", "form", "verdict", "recovered after", "worst", "violations"]
        let rows = report.slos.map { slo in
            [sanitize(slo.name), slo.form.text, slo.passed ? "PASS" : "FAIL", recoveryText(slo), worstText(slo), violationsText(slo)]
        }
        var widths = header.map(\.count)
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = Swift.max(widths[column], cell.count) } }
        let rightAligned: Set<Int> = [3, 5]
        func line(_ cells: [String], colours: [TerminalStyle.Colour?]) -> String {
            cells.enumerated().map { column, cell in
                style.paint(pad(cell, widths[column], right: rightAligned.contains(column)), colours[column])
            }.joined(separator: "  ") + "\n"
        }
        var out = ""
        if !rows.isEmpty {
            out += line(header, colours: Array(repeating: .bold, count: header.count))
            for (index, row) in rows.enumerated() {
                let verdict: TerminalStyle.Colour = report.slos[index].passed ? .green : .red
                out += line(row, colours: [nil, nil, verdict, nil, nil, nil])
            }
        } else {
            out += "no SLO was evaluated\n"
        }
        let steadyFailed = report.steadyState.filter { !$0.passed }
        if !report.steadyState.isEmpty || report.outcome == .notSteady {
            let text =
                steadyFailed.isEmpty && report.outcome != .notSteady
                ? "steady state: " + style.paint("PASS", .green) + " (\(report.steadyState.count) check\(report.steadyState.count == 1 ? "" : "s"))"
                : "steady state: " + style.paint("FAIL", .red)
                    + (steadyFailed.isEmpty ? "" : " (" + steadyFailed.map { sanitize($0.name) }.joined(separator: ", ") + ")")
            out += text + "\n"
        }
        let outcomeColour: TerminalStyle.Colour =
            report.outcome.isGood ? .green : report.outcome == .aborted ? .yellow : .red
        out += "outcome: " + style.paint(report.outcome.rawValue, outcomeColour)
        if !report.explanation.isEmpty { out += " - " + sanitize(report.explanation) }
        if !report.decidedBy.isEmpty { out += " (decided by " + report.decidedBy.map(sanitize).joined(separator: ", ") + ")" }
        out += "\n"
        out += "expected \(report.expectation.summary): "
            + (report.expectation.met ? style.paint("met", .green) : style.paint("not met", .red)) + "\n"
        return out
    }

    /// The time to recover of a recovery form, `never` if it did not, `-` for other forms.
    static func recoveryText(_ slo: SLOReport) -> String {
        guard slo.form.measuresRecovery else { return "-" }
        return slo.figures.timeToRecover.map(formatDuration) ?? "never"
    }

    /// The worst value with its unit and time: `1.2s at 25.5s`, or `-`.
    static func worstText(_ slo: SLOReport) -> String {
        guard let value = slo.figures.worstValue else { return "-" }
        let unit = slo.unit.map { $0.hasPrefix("/") ? $0 : " " + $0 } ?? ""
        return formatNumber(value, significant: 3) + unit + (slo.figures.worstTime.map { " at " + formatDuration($0) } ?? "")
    }

    /// The number of violations and the time they cover: `2 (12.5s)`, or `0`.
    static func violationsText(_ slo: SLOReport) -> String {
        let violations = slo.figures.violations
        guard !violations.isEmpty else { return "0" }
        return "\(violations.count) (\(formatDuration(slo.figures.violatedTime)))"
    }
}

/// `text` with control characters (escape sequences, newlines) made visible, so that names
/// cannot move the cursor or break a line.
func sanitize(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) }) else {
        return text
    }
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value <= 0x9F) {
            out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
