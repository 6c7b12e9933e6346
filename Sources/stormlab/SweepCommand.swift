import ArgumentParser
import Foundation
import Reports

struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a lab over a range of one variable and find where it stops healing.",
        discussion: """
            --vary KEY=FROM..TO sets the lab's Compose variable KEY (as the environment would) to \
            each value from FROM to TO by --step, one run each, and prints recovery time and \
            outcome against the value: the tipping point is the first value whose run did not \
            recover. Also writes an SVG chart (--chart).
            """
    )

    @Argument(help: "The lab folder.")
    var lab: String

    @Option(help: "KEY=FROM..TO, a variable of the lab's compose file and a range of whole numbers.")
    var vary: String

    @Option(help: "The step between values.")
    var step = 1

    @Option(help: "Folder for run folders.")
    var runs = ".stormlab/runs"

    @Option(help: "Write the chart of recovery time against the value here.")
    var chart = "sweep.svg"

    struct Point {
        var value: Int
        var outcome: String
        var recovery: Double?
        var passed: Bool
    }

    func run() async throws {
        guard let equals = vary.firstIndex(of: "="),
            case let range = vary[vary.index(after: equals)...].components(separatedBy: ".."), range.count == 2,
            let from = Int(range[0]), let to = Int(range[1]), from <= to, step > 0
        else { throw ValidationError("--vary takes KEY=FROM..TO with whole numbers, FROM <= TO") }
        let key = String(vary[..<equals])
        var progress = Progress()
        var points: [Point] = []
        for value in stride(from: from, through: to, by: step) {
            progress.line("── \(key)=\(value)")
            let json = "\(NSTemporaryDirectory())/stormlab-sweep-\(getpid())-\(value).json"
            defer { try? FileManager.default.removeItem(atPath: json) }
            _ = try SuiteCommand.runLab(lab, json: json, runs: runs, variables: [key: String(value)])
            guard let report = SuiteCommand.readReport(json) else {
                points.append(Point(value: value, outcome: "error", recovery: nil, passed: false))
                continue
            }
            // The headline figure: the first recovers SLO's time to recover.
            let recovers = report.slos.first { $0.form.kind == "recovers" }
            points.append(Point(
                value: value, outcome: report.outcome.rawValue,
                recovery: recovers?.figures.timeToRecover.map { Double($0) / 1000 }, passed: report.passed))
            progress.line("── \(key)=\(value): \(report.outcome.rawValue), recovered after \(points.last!.recovery.map { String(format: "%.2f s", $0) } ?? "never")")
        }
        progress.line("")
        progress.line("\(key.padding(toLength: max(8, key.count), withPad: " ", startingAt: 0))  OUTCOME     RECOVERED AFTER  SLOS")
        for point in points {
            progress.line(
                String(point.value).padding(toLength: max(8, key.count), withPad: " ", startingAt: 0) + "  "
                    + point.outcome.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                    + (point.recovery.map { String(format: "%.2f s", $0) } ?? "never").padding(toLength: 15, withPad: " ", startingAt: 0)
                    + "  " + (point.passed ? "pass" : "FAIL"))
        }
        let healing: Set<String> = ["healthy", "recovered"]
        if let tip = points.first(where: { !healing.contains($0.outcome) }) {
            progress.line("tipping point: \(key)=\(tip.value) is the first value whose run did not recover (\(tip.outcome))")
        } else {
            progress.line("no tipping point in \(from)…\(to): every run recovered")
        }
        try Self.svg(points, key: key).write(toFile: chart, atomically: true, encoding: .utf8)
        progress.line("chart: \(chart)")
    }

    /// Recovery time against the value, one self-contained SVG; runs that never recovered are
    /// drawn as red crosses at the top.
    static func svg(_ points: [Point], key: String) -> String {
        let width = 640.0, height = 320.0, left = 60.0, bottom = 40.0, top = 20.0, right = 20.0
        let values = points.map { Double($0.value) }
        let lowest = values.min() ?? 0, highest = max(values.max() ?? 1, lowest + 1)
        let ceiling = max(1, (points.compactMap(\.recovery).max() ?? 1) * 1.2)
        func x(_ v: Double) -> Double { left + (v - lowest) / (highest - lowest) * (width - left - right) }
        func y(_ s: Double) -> Double { height - bottom - min(s, ceiling) / ceiling * (height - top - bottom) }
        var body = ""
        let recovered = points.filter { $0.recovery != nil }
        if recovered.count > 1 {
            body += "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\""
                + recovered.map { String(format: "%.1f,%.1f", x(Double($0.value)), y($0.recovery!)) }.joined(separator: " ") + "\"/>"
        }
        for point in points {
            let px = x(Double(point.value))
            if let recovery = point.recovery, ["healthy", "recovered"].contains(point.outcome) {
                body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f6feb\"/>", px, y(recovery))
            } else {
                let py = y(point.recovery ?? ceiling)
                body += String(format: "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"#d1242f\" stroke-width=\"2\"/>", px - 4, py - 4)
            }
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%d</text>", px, height - bottom + 16, point.value)
        }
        for tick in 0...4 {
            let s = ceiling * Double(tick) / 4
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.2f s</text>", left - 6, y(s) + 4, s)
            body += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, width - right, y(s), y(s))
        }
        let label = key.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            \(body)
            <text x="\(Int((left + width - right) / 2))" y="\(Int(height - 6))" text-anchor="middle" font-size="12">\(label)</text>
            <text x="14" y="\(Int(height / 2))" transform="rotate(-90 14 \(Int(height / 2)))" text-anchor="middle" font-size="12">time to recover (red: did not recover)</text>
            </svg>

            """
    }
}
