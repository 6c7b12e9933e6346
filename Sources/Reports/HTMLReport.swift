/// Writes `report.html`: one self-contained page with a chart per SLO and the event timeline.
///
/// The page has no external references at all: inline CSS (light and dark through
/// `prefers-color-scheme`), inline SVG, system fonts, no scripts. It holds, in order: a
/// summary (outcome badge, what decided it, the run's identity, an SLO overview table), the
/// steady-state checks, one section per SLO (verdict, figures, and an SVG line chart of its SLI
/// with a legend, axes, the threshold dashed, fault windows shaded and named, violations
/// marked, the time to recover annotated), the fault windows, and the event timeline as an SVG
/// strip and a table. Series are reduced to at most four points per pixel column, so a chart
/// of 100 000 points stays a few tens of kilobytes. All text is escaped.
public enum HTMLReport {
    /// How the page is drawn.
    public struct Options: Sendable, Hashable {
        /// The charts' width in SVG user units (pixels at 100%); default 800.
        public var chartWidth: Int
        /// The charts' height; default 300.
        public var chartHeight: Int
        /// The most series drawn per chart, the worst first; default 12.
        public var maxSeriesPerChart: Int
        /// The most rows of the event table; default 5 000 (the strip shows every event).
        public var maxEventRows: Int

        /// Creates options; every value has a default.
        public init(chartWidth: Int = 800, chartHeight: Int = 300, maxSeriesPerChart: Int = 12, maxEventRows: Int = 5000) {
            self.chartWidth = Swift.max(200, chartWidth)
            self.chartHeight = Swift.max(120, chartHeight)
            self.maxSeriesPerChart = Swift.max(1, maxSeriesPerChart)
            self.maxEventRows = Swift.max(0, maxEventRows)
        }
    }

    /// The report as one HTML document.
    public static func render(_ report: RunReport, options: Options = Options()) -> String {
        let chart = SVGChart(width: options.chartWidth, height: options.chartHeight, maxSeries: options.maxSeriesPerChart)
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        html += "<meta name=\"color-scheme\" content=\"light dark\">\n"
        html += "<title>Stormlab: \(escapeMarkup(report.lab)) — \(report.outcome.rawValue)</title>\n"
        html += "<style>\n\(stylesheet)</style>\n</head>\n<body>\n"
        html += summary(report)
        if !report.steadyState.isEmpty {
            html += "<section id=\"steady-state\">\n<h2>Steady state</h2>\n"
            html += overview(report.steadyState, anchorPrefix: "steady")
            for (index, slo) in report.steadyState.enumerated() where !slo.chart.isEmpty {
                html += section(slo, id: "steady-\(index + 1)", heading: "h3", report: report, chart: chart)
            }
            html += "</section>\n"
        }
        html += "<section id=\"slos\">\n<h2>SLOs</h2>\n"
        if report.slos.isEmpty { html += "<p class=\"muted\">No SLO was evaluated.</p>\n" }
        for (index, slo) in report.slos.enumerated() {
            html += section(slo, id: "slo-\(index + 1)", heading: "h3", report: report, chart: chart)
        }
        html += "</section>\n"
        html += faultsSection(report)
        html += timelineSection(report, chart: chart, maxRows: options.maxEventRows)
        html += "<footer class=\"muted\">Stormlab report, schema \(RunReport.schemaVersion). Times are since the start of the run.</footer>\n"
        html += "</body>\n</html>\n"
        return html
    }

    private static func summary(_ report: RunReport) -> String {
        var html = "<header>\n<h1>\(escapeMarkup(report.lab)) "
        html += "<span class=\"badge outcome-\(report.outcome.rawValue)\">\(report.outcome.rawValue)</span></h1>\n"
        html += "<p class=\"explanation\">\(escapeMarkup(report.explanation))</p>\n"
        if !report.decidedBy.isEmpty {
            html += "<p>Decided by: "
            html += report.decidedBy.map { "<code>\(escapeMarkup($0))</code>" }.joined(separator: ", ")
            html += "</p>\n"
        }
        let expectation = report.expectation
        html += "<p>Expected <strong>\(escapeMarkup(expectation.summary))</strong>: "
        html += expectation.met ? "<span class=\"good\">met</span>" : "<span class=\"bad\">not met</span>"
        html += " · SLOs passed: \(report.slos.filter(\.passed).count) of \(report.slos.count)</p>\n"
        html += "<dl class=\"facts\">"
        let facts: [(String, String)] = [
            ("run", report.runID), ("runtime", report.runtime.rawValue), ("seed", String(report.seed)),
            ("started", report.startedAt), ("duration", formatDuration(report.duration)),
        ]
        for (name, value) in facts {
            html += "<div><dt>\(name)</dt><dd>\(escapeMarkup(value))</dd></div>"
        }
        html += "</dl>\n</header>\n"
        if !report.slos.isEmpty {
            html += "<section id=\"overview\">\n<h2>Overview</h2>\n" + overview(report.slos, anchorPrefix: "slo") + "</section>\n"
        }
        return html
    }

    private static func overview(_ slos: [SLOReport], anchorPrefix: String) -> String {
        var html = "<table class=\"overview\">\n<thead><tr><th>SLO</th><th>form</th><th>verdict</th>"
        html += "<th>time to recover</th><th>worst</th><th>violations</th></tr></thead>\n<tbody>\n"
        for (index, slo) in slos.enumerated() {
            let name =
                slo.chart.isEmpty && anchorPrefix == "steady"
                ? escapeMarkup(slo.name) : "<a href=\"#\(anchorPrefix)-\(index + 1)\">\(escapeMarkup(slo.name))</a>"
            html += "<tr><td>\(name)</td><td>\(escapeMarkup(slo.form.text))</td><td>\(verdictBadge(slo.passed))</td>"
            html += "<td class=\"num\">\(escapeMarkup(SummaryTable.recoveryText(slo)))</td>"
            html += "<td class=\"num\">\(escapeMarkup(SummaryTable.worstText(slo)))</td>"
            html += "<td class=\"num\">\(escapeMarkup(SummaryTable.violationsText(slo)))</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }

    private static func verdictBadge(_ passed: Bool) -> String {
        passed ? "<span class=\"badge pass\">PASS</span>" : "<span class=\"badge fail\">FAIL</span>"
    }

    private static func section(_ slo: SLOReport, id: String, heading: String, report: RunReport, chart: SVGChart)
        -> String
    {
        var html = "<article class=\"slo\" id=\"\(id)\">\n"
        html += "<\(heading)>\(escapeMarkup(slo.name)) \(verdictBadge(slo.passed)) <small>\(escapeMarkup(slo.form.text))</small></\(heading)>\n"
        html += "<p><code>\(escapeMarkup(slo.expression))</code></p>\n"
        if !slo.summary.isEmpty { html += "<p class=\"muted\">\(escapeMarkup(slo.summary))</p>\n" }
        let figures = slo.figures
        var rows: [(String, String)] = [
            ("window", "\(formatDuration(slo.from)) to \(formatDuration(slo.to))")
        ]
        if let threshold = slo.threshold { rows.append(("threshold", threshold.description + (slo.unit.map { " " + $0 } ?? ""))) }
        if slo.form.measuresRecovery { rows.append(("time to recover", SummaryTable.recoveryText(slo))) }
        rows.append(("worst value", SummaryTable.worstText(slo)))
        let intervals = figures.violations.prefix(8).map {
            "\(formatDuration($0.start))–\(formatDuration($0.end))\($0.ongoing ? " (ongoing)" : "")"
        }
        rows.append(
            ("violations",
             "\(figures.violations.count)"
                + (intervals.isEmpty ? "" : ": " + intervals.joined(separator: ", ") + (figures.violations.count > 8 ? ", …" : ""))))
        rows.append(("bad fraction", "\(formatPercent(figures.badFraction)) of \(figures.steps) steps"))
        html += "<dl class=\"figures\">"
        for (name, value) in rows { html += "<div><dt>\(name)</dt><dd>\(escapeMarkup(value))</dd></div>" }
        html += "</dl>\n"
        let drawn = chart.chart(slo, faults: report.faults, end: report.duration, id: "\(id)-chart")
        html += "<figure>\n\(drawn.svg)\n<figcaption><ul class=\"legend\">"
        for entry in drawn.legend {
            html += "<li><span class=\"swatch c\(entry.colour)\"></span>\(escapeMarkup(entry.text))</li>"
        }
        if let threshold = slo.threshold {
            html += "<li><span class=\"swatch threshold-swatch\"></span>threshold \(escapeMarkup(threshold.description))</li>"
        }
        if !report.faults.isEmpty { html += "<li><span class=\"swatch fault-swatch\"></span>fault window</li>" }
        if !figures.violations.isEmpty { html += "<li><span class=\"swatch violation-swatch\"></span>violation</li>" }
        html += "</ul>"
        if drawn.hidden > 0 {
            html += "<p class=\"muted\">\(drawn.hidden) more series not drawn (the \(drawn.legend.count) worst are shown).</p>"
        }
        html += "</figcaption>\n</figure>\n</article>\n"
        return html
    }

    private static func faultsSection(_ report: RunReport) -> String {
        guard !report.faults.isEmpty else { return "" }
        var html = "<section id=\"faults\">\n<h2>Faults</h2>\n<table>\n<thead><tr><th>step</th><th>kind</th>"
        html += "<th>targets</th><th>start</th><th>end</th><th>mechanism</th></tr></thead>\n<tbody>\n"
        for fault in report.faults {
            html += "<tr><td>\(escapeMarkup(fault.step))</td><td>\(escapeMarkup(fault.kind))</td>"
            html += "<td>\(escapeMarkup(fault.targets.joined(separator: ", ")))</td>"
            html += "<td class=\"num\">\(formatDuration(fault.start))</td>"
            html += "<td class=\"num\">\(fault.end.map(formatDuration) ?? "end of run")</td>"
            html += "<td>\(escapeMarkup(fault.mechanism))</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    private static func timelineSection(_ report: RunReport, chart: SVGChart, maxRows: Int) -> String {
        var html = "<section id=\"timeline\">\n<h2>Timeline</h2>\n"
        html += chart.timeline(faults: report.faults, events: report.events, end: report.duration) + "\n"
        if report.events.isEmpty { return html + "<p class=\"muted\">No events.</p>\n</section>\n" }
        html += "<table class=\"events\">\n<thead><tr><th>time</th><th>kind</th><th>instance</th><th>detail</th></tr></thead>\n<tbody>\n"
        for event in report.events.prefix(maxRows) {
            html += "<tr class=\"\(eventClass(event.kind))\"><td class=\"num\">\(formatFixed(Double(event.time) / 1000, decimals: 3, trim: false))s</td>"
            html += "<td>\(escapeMarkup(event.kind))</td><td>\(escapeMarkup(event.instance ?? ""))</td>"
            html += "<td>\(escapeMarkup(event.detail))</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        if report.events.count > maxRows {
            html += "<p class=\"muted\">\(report.events.count - maxRows) more events not listed (see events.jsonl).</p>\n"
        }
        return html + "</section>\n"
    }

    private static let stylesheet = """
        :root{color-scheme:light dark;--bg:#fff;--fg:#1d1d1f;--muted:#6e6e73;--line:#d2d2d7;--grid:#ececf0;
        --axis:#8e8e93;--good:#1f7a35;--bad:#c9001a;--warn:#a35200;--fault:rgba(255,149,0,.16);--fault-bar:#e08a00;
        --violation:rgba(215,0,21,.10);--violation-bar:#d70015;--threshold:#c9001a;--recovery:#1f7a35;
        --c0:#0a66c2;--c1:#c2410c;--c2:#15803d;--c3:#7e22ce;--c4:#be185d;--c5:#0e7490;--c6:#4d7c0f;--c7:#57534e}
        @media (prefers-color-scheme:dark){:root{--bg:#161618;--fg:#ececef;--muted:#a1a1a6;--line:#3a3a3c;
        --grid:#2a2a2d;--axis:#8e8e93;--good:#4ade80;--bad:#ff6b6b;--warn:#fbbf24;--fault:rgba(255,176,32,.18);
        --fault-bar:#ffb020;--violation:rgba(255,80,80,.16);--violation-bar:#ff5050;--threshold:#ff6b6b;
        --recovery:#4ade80;--c0:#60a5fa;--c1:#fb923c;--c2:#4ade80;--c3:#c084fc;--c4:#f472b6;--c5:#22d3ee;
        --c6:#a3e635;--c7:#d6d3d1}}
        body{margin:0 auto;max-width:860px;padding:16px 20px 40px;background:var(--bg);color:var(--fg);
        font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
        h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line)}
        h3{font-size:16px;margin:22px 0 4px}small,.muted{color:var(--muted)}code{font-size:13px;word-break:break-all}
        a{color:var(--c0)}.good{color:var(--good)}.bad{color:var(--bad)}
        .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
        vertical-align:middle;color:#fff;background:var(--axis)}
        .pass,.outcome-healthy,.outcome-recovered{background:var(--good)}
        .fail,.outcome-degraded,.outcome-metastable,.outcome-error,.outcome-not-steady{background:var(--bad)}
        .outcome-aborted{background:var(--warn)}
        @media (prefers-color-scheme:dark){.badge{color:#111}}
        table{border-collapse:collapse;width:100%;margin:8px 0}th,td{text-align:left;padding:3px 8px;
        border-bottom:1px solid var(--line);vertical-align:top}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
        tr.bad td:nth-child(2){color:var(--bad)}tr.good td:nth-child(2){color:var(--good)}
        dl{display:flex;flex-wrap:wrap;gap:4px 20px;margin:8px 0}dl div{display:flex;gap:6px}dt{color:var(--muted)}dd{margin:0}
        figure{margin:8px 0 16px}svg{display:block;width:100%;max-width:800px;height:auto}
        svg text{fill:var(--fg);font-size:11px;font-family:inherit}
        .grid line{stroke:var(--grid)}.axis line{stroke:var(--axis)}
        .ytick,.row-label{text-anchor:end}.xtick,.axis-title,.nodata{text-anchor:middle}.axis-title{fill:var(--muted)}
        .series{fill:none;stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round}
        .c0{stroke:var(--c0);background:var(--c0)}.c1{stroke:var(--c1);background:var(--c1)}
        .c2{stroke:var(--c2);background:var(--c2)}.c3{stroke:var(--c3);background:var(--c3)}
        .c4{stroke:var(--c4);background:var(--c4)}.c5{stroke:var(--c5);background:var(--c5)}
        .c6{stroke:var(--c6);background:var(--c6)}.c7{stroke:var(--c7);background:var(--c7)}
        .fault rect{fill:var(--fault)}.fault text{fill:var(--fault-bar);font-size:10px}
        .violation rect{fill:var(--violation)}.violation rect.bar{fill:var(--violation-bar)}
        .threshold line{stroke:var(--threshold);stroke-width:1.5;stroke-dasharray:6 4}
        .threshold text{fill:var(--threshold);text-anchor:end;font-size:10px}
        .reference line{stroke:var(--axis);stroke-dasharray:2 3}
        .recovery line{stroke:var(--recovery);stroke-width:1.5}.recovery line.span{stroke-dasharray:3 2}
        .ttr{fill:var(--recovery);font-size:10px}.ttr.end{text-anchor:end}.ttr.bad{fill:var(--bad)}
        .worst{fill:none;stroke:var(--bad);stroke-width:2}
        .fault-bar rect{fill:var(--fault-bar)}.event{stroke:var(--axis);stroke-width:1.5}
        .event.bad{stroke:var(--bad)}.event.good{stroke:var(--good)}
        .legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:2px 16px;font-size:12px}
        .swatch{display:inline-block;width:14px;height:3px;margin-right:6px;vertical-align:middle}
        .threshold-swatch{border-top:2px dashed var(--threshold);height:0}
        .fault-swatch{background:var(--fault);height:10px;border:1px solid var(--fault-bar)}
        .violation-swatch{background:var(--violation-bar);height:4px}
        footer{margin-top:32px;font-size:12px}

        """
}
