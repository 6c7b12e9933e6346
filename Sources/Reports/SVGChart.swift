import Assertions

/// Draws an SLO's SLI as an inline SVG line chart, and the run's compact timeline strip.
///
/// The SVG uses CSS classes (styled by ``HTMLReport``'s stylesheet) rather than colours, so
/// light and dark schemes both work; it carries no `xmlns` and no external references.
struct SVGChart {
    var width = 800
    var height = 300
    var left = 64.0
    var right = 24.0
    var top = 30.0
    var bottom = 46.0
    /// The most series drawn per chart; the worst ones are kept.
    var maxSeries = 12

    var plotWidth: Double { Double(width) - left - right }
    var plotHeight: Double { Double(height) - top - bottom }

    /// What a chart drew, for the legend.
    struct Drawn {
        var svg: String
        /// The legend text of each drawn series, with its colour index.
        var legend: [(text: String, colour: Int)]
        /// How many series were left out.
        var hidden: Int
    }

    /// The chart of one SLO over `[0, end]` (ms).
    func chart(_ slo: SLOReport, faults: [RunReport.FaultWindow], end runEnd: Int64, id: String) -> Drawn {
        // The x domain: the whole run, so that every chart lines up.
        var xMax = Swift.max(runEnd, slo.to, 1)
        var xMin: Int64 = 0
        for series in slo.chart {
            if let last = series.points.last { xMax = Swift.max(xMax, last.time) }
            if let first = series.points.first { xMin = Swift.min(xMin, first.time) }
        }
        let xScale = Scale(domain: (Double(xMin), Double(xMax)), range: (left, left + plotWidth))

        // The series to draw: all, or the worst `maxSeries` in their original order.
        var chosen = Array(slo.chart.indices)
        if chosen.count > maxSeries {
            let upper = slo.threshold?.upperBound ?? true
            let extremes = slo.chart.map { series -> Double in
                let finite = series.points.lazy.map(\.value).filter(\.isFinite)
                return (upper ? finite.max() : finite.min().map { -$0 }) ?? -.infinity
            }
            chosen = Array(chosen.sorted { extremes[$0] > extremes[$1] }.prefix(maxSeries)).sorted()
        }
        let segments = chosen.map {
            downsample(slo.chart[$0].points, columns: Int(plotWidth), xMin: Double(xMin), xMax: Double(xMax))
        }

        // The y domain: every drawn value, the threshold and the worst value.
        var yLow = Double.infinity
        var yHigh = -Double.infinity
        func include(_ value: Double) {
            guard value.isFinite else { return }
            yLow = Swift.min(yLow, value)
            yHigh = Swift.max(yHigh, value)
        }
        for series in segments { for segment in series { for point in segment { include(point.value) } } }
        if let threshold = slo.threshold { include(threshold.value) }
        if let worst = slo.figures.worstValue { include(worst) }
        let hasData = segments.contains { !$0.isEmpty }
        if yLow > yHigh {
            yLow = 0
            yHigh = 1
        }
        let yTicks = niceTicks(low: yLow, high: yHigh, count: 5)
        let yScale = Scale(
            domain: (yTicks.first ?? yLow, yTicks.last ?? yHigh), range: (top + plotHeight, top))

        var svg =
            "<svg class=\"chart\" id=\"\(id)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\">"
        svg += "<title id=\"\(id)-title\">\(escapeMarkup(slo.name)): \(escapeMarkup(slo.expression))</title>"
        let plotBottom = top + plotHeight
        let plotRight = left + plotWidth

        // Fault windows, behind everything, labelled with the step name in the top margin: once
        // per step, and only where the label does not run into the previous one (a wave of many
        // windows would otherwise print its name on top of itself).
        var labelled: Set<String> = []
        var labelEnd = -Double.infinity
        for fault in faults.sorted(by: { $0.start < $1.start }) {
            let x0 = xScale.map(Double(fault.start))
            let x1 = xScale.map(Double(fault.end ?? xMax))
            guard x1 >= left, x0 <= plotRight else { continue }
            let clipped0 = Swift.max(x0, left)
            let clipped1 = Swift.min(Swift.max(x1, clipped0 + 1), plotRight)
            svg += "<g class=\"fault\"><title>\(escapeMarkup(faultTitle(fault)))</title>"
            svg += "<rect x=\"\(coordinate(clipped0))\" y=\"\(coordinate(top))\" width=\"\(coordinate(clipped1 - clipped0))\""
            svg += " height=\"\(coordinate(plotHeight))\"/>"
            // About 6 px a character at the label's font size; a label pushed right by the one
            // before it still has to start inside its own window.
            let labelX = Swift.max(clipped0 + 2, labelEnd)
            if !labelled.contains(fault.step), labelX < Swift.max(clipped1, clipped0 + 3) {
                labelled.insert(fault.step)
                labelEnd = labelX + Double(fault.step.count) * 6 + 6
                svg += "<text x=\"\(coordinate(labelX))\" y=\"\(coordinate(top - 6))\">\(escapeMarkup(fault.step))</text>"
            }
            svg += "</g>"
        }

        // Violation intervals: a translucent band over the plot and a solid bar under the x axis
        // (inside the plot it would hide a series running along the bottom).
        for violation in slo.figures.violations {
            let x0 = Swift.max(xScale.map(Double(violation.start)), left)
            let x1 = Swift.min(Swift.max(xScale.map(Double(violation.end)), x0 + 2), plotRight)
            let title = "violation \(formatDuration(violation.start)) to \(formatDuration(violation.end))\(violation.ongoing ? " (ongoing)" : "")"
            svg += "<g class=\"violation\"><title>\(escapeMarkup(title))</title>"
            svg += "<rect x=\"\(coordinate(x0))\" y=\"\(coordinate(top))\" width=\"\(coordinate(x1 - x0))\" height=\"\(coordinate(plotHeight))\"/>"
            svg += "<rect class=\"bar\" x=\"\(coordinate(x0))\" y=\"\(coordinate(plotBottom + 1))\" width=\"\(coordinate(x1 - x0))\" height=\"4\"/></g>"
        }

        // Grid and axes with ticks.
        svg += "<g class=\"grid\">"
        for tick in yTicks {
            let y = coordinate(yScale.map(tick))
            svg += "<line x1=\"\(coordinate(left))\" y1=\"\(y)\" x2=\"\(coordinate(plotRight))\" y2=\"\(y)\"/>"
        }
        svg += "</g><g class=\"axis\">"
        svg += "<line x1=\"\(coordinate(left))\" y1=\"\(coordinate(plotBottom))\" x2=\"\(coordinate(plotRight))\" y2=\"\(coordinate(plotBottom))\"/>"
        svg += "<line x1=\"\(coordinate(left))\" y1=\"\(coordinate(top))\" x2=\"\(coordinate(left))\" y2=\"\(coordinate(plotBottom))\"/>"
        for tick in yTicks {
            let y = yScale.map(tick)
            svg += "<line x1=\"\(coordinate(left - 4))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(left))\" y2=\"\(coordinate(y))\"/>"
            svg += "<text class=\"ytick\" x=\"\(coordinate(left - 7))\" y=\"\(coordinate(y + 4))\">\(escapeMarkup(formatNumber(tick, significant: 3)))</text>"
        }
        for tick in timeTicks(low: xMin, high: xMax, count: 8) {
            let x = xScale.map(Double(tick))
            svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(plotBottom))\" x2=\"\(coordinate(x))\" y2=\"\(coordinate(plotBottom + 4))\"/>"
            svg += "<text class=\"xtick\" x=\"\(coordinate(x))\" y=\"\(coordinate(plotBottom + 16))\">\(tick == 0 ? "0" : formatDuration(tick))</text>"
        }
        svg += "</g>"
        svg += "<text class=\"axis-title\" x=\"\(coordinate(left + plotWidth / 2))\" y=\"\(height - 8)\">time since run start</text>"
        let yTitle = slo.unit.map { "SLI (\($0))" } ?? "SLI"
        svg += "<text class=\"axis-title\" transform=\"translate(14 \(coordinate(top + plotHeight / 2))) rotate(-90)\">\(escapeMarkup(yTitle))</text>"

        // The threshold, dashed, labelled at the right.
        if let threshold = slo.threshold, threshold.value.isFinite {
            let y = coordinate(yScale.map(threshold.value))
            svg += "<g class=\"threshold\"><title>threshold \(escapeMarkup(threshold.description))</title>"
            svg += "<line x1=\"\(coordinate(left))\" y1=\"\(y)\" x2=\"\(coordinate(plotRight))\" y2=\"\(y)\"/>"
            svg += "<text x=\"\(coordinate(plotRight - 2))\" y=\"\(coordinate(yScale.map(threshold.value) - 4))\">threshold \(escapeMarkup(threshold.description))</text></g>"
        }

        // The series.
        for (position, series) in segments.enumerated() {
            var path = ""
            for segment in series {
                for (index, point) in segment.enumerated() {
                    path += index == 0 ? "M" : "L"
                    path += "\(coordinate(xScale.map(Double(point.time)))) \(coordinate(yScale.map(point.value)))"
                }
                if segment.count == 1 { path += "h0.1" }
            }
            if !path.isEmpty {
                svg += "<path class=\"series c\(position % palette)\" d=\"\(path)\"/>"
            }
        }
        if !hasData {
            svg += "<text class=\"nodata\" x=\"\(coordinate(left + plotWidth / 2))\" y=\"\(coordinate(top + plotHeight / 2))\">no SLI data</text>"
        }

        // The worst value, and the reference and recovery times for recovery forms.
        if let value = slo.figures.worstValue, let time = slo.figures.worstTime, value.isFinite {
            svg += "<circle class=\"worst\" cx=\"\(coordinate(xScale.map(Double(time))))\" cy=\"\(coordinate(yScale.map(value)))\" r=\"4\">"
            svg += "<title>worst \(escapeMarkup(formatNumber(value))) at \(formatDuration(time))</title></circle>"
        }
        if slo.form.measuresRecovery {
            let reference = xScale.map(Double(slo.from))
            svg += "<g class=\"reference\"><line x1=\"\(coordinate(reference))\" y1=\"\(coordinate(top))\" x2=\"\(coordinate(reference))\" y2=\"\(coordinate(plotBottom))\"/></g>"
            if let recovery = slo.figures.timeToRecover {
                let x = xScale.map(Double(slo.from + recovery))
                let label = "recovered after \(formatDuration(recovery))"
                svg += "<g class=\"recovery\"><title>\(escapeMarkup(label))</title>"
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(top))\" x2=\"\(coordinate(x))\" y2=\"\(coordinate(plotBottom))\"/>"
                svg += "<line class=\"span\" x1=\"\(coordinate(reference))\" y1=\"\(coordinate(top + 12))\" x2=\"\(coordinate(x))\" y2=\"\(coordinate(top + 12))\"/>"
                let anchor = x > left + plotWidth * 0.75 ? " end" : ""
                svg += "<text class=\"ttr\(anchor)\" x=\"\(coordinate(x + (anchor.isEmpty ? 4 : -4)))\" y=\"\(coordinate(top + 16))\">\(escapeMarkup(label))</text></g>"
            } else {
                svg += "<text class=\"ttr bad\" x=\"\(coordinate(reference + 4))\" y=\"\(coordinate(top + 16))\">did not recover</text>"
            }
        }
        svg += "</svg>"
        let legend = chosen.enumerated().map { (text: slo.chart[$0.element].legend, colour: $0.offset % palette) }
        return Drawn(svg: svg, legend: legend, hidden: slo.chart.count - chosen.count)
    }

    /// The timeline strip: one row per fault, one row of event ticks, a time axis.
    func timeline(faults: [RunReport.FaultWindow], events: [RunReport.Event], end runEnd: Int64) -> String {
        var xMax = Swift.max(runEnd, 1)
        for fault in faults { xMax = Swift.max(xMax, fault.end ?? fault.start) }
        for event in events { xMax = Swift.max(xMax, event.time) }
        let labelWidth = 120.0
        let xScale = Scale(domain: (0, Double(xMax)), range: (labelWidth, Double(width) - right))
        let rowHeight = 16.0
        let rows = faults.count + 1
        let axisY = 8 + Double(rows) * rowHeight + 4
        let totalHeight = Int(axisY + 26)
        var svg = "<svg class=\"timeline\" viewBox=\"0 0 \(width) \(totalHeight)\" role=\"img\" aria-label=\"timeline\">"
        for (row, fault) in faults.enumerated() {
            let y = 8 + Double(row) * rowHeight
            let x0 = xScale.map(Double(fault.start))
            let x1 = Swift.max(xScale.map(Double(fault.end ?? xMax)), x0 + 2)
            svg += "<g class=\"fault-bar\"><title>\(escapeMarkup(faultTitle(fault)))</title>"
            svg += "<text class=\"row-label\" x=\"\(coordinate(labelWidth - 6))\" y=\"\(coordinate(y + 11))\">\(escapeMarkup(clip(fault.step, 18)))</text>"
            svg += "<rect x=\"\(coordinate(x0))\" y=\"\(coordinate(y + 2))\" width=\"\(coordinate(x1 - x0))\" height=\"\(coordinate(rowHeight - 4))\"/></g>"
        }
        let eventsY = 8 + Double(faults.count) * rowHeight
        svg += "<text class=\"row-label\" x=\"\(coordinate(labelWidth - 6))\" y=\"\(coordinate(eventsY + 11))\">events</text>"
        for event in events {
            let x = coordinate(xScale.map(Double(event.time)))
            let title = "\(formatDuration(event.time)) \(event.kind)\(event.instance.map { " " + $0 } ?? "") \(event.detail)"
            svg += "<line class=\"event \(eventClass(event.kind))\" x1=\"\(x)\" y1=\"\(coordinate(eventsY + 2))\" x2=\"\(x)\" y2=\"\(coordinate(eventsY + rowHeight - 2))\">"
            svg += "<title>\(escapeMarkup(title))</title></line>"
        }
        svg += "<g class=\"axis\"><line x1=\"\(coordinate(labelWidth))\" y1=\"\(coordinate(axisY))\" x2=\"\(coordinate(Double(width) - right))\" y2=\"\(coordinate(axisY))\"/>"
        for tick in timeTicks(low: 0, high: xMax, count: 8) {
            let x = coordinate(xScale.map(Double(tick)))
            svg += "<line x1=\"\(x)\" y1=\"\(coordinate(axisY))\" x2=\"\(x)\" y2=\"\(coordinate(axisY + 4))\"/>"
            svg += "<text class=\"xtick\" x=\"\(x)\" y=\"\(coordinate(axisY + 16))\">\(tick == 0 ? "0" : formatDuration(tick))</text>"
        }
        svg += "</g></svg>"
        return svg
    }

    /// The number of series colours in the stylesheet (`.c0` … `.c7`).
    let palette = 8
}

/// A linear map from a domain to a range of pixels.
struct Scale {
    var domain: (Double, Double)
    var range: (Double, Double)

    func map(_ value: Double) -> Double {
        let span = domain.1 - domain.0
        guard span > 0 else { return (range.0 + range.1) / 2 }
        return range.0 + (value - domain.0) / span * (range.1 - range.0)
    }
}

/// A pixel coordinate with one decimal.
func coordinate(_ value: Double) -> String {
    formatFixed(value, decimals: 1)
}

/// Reduces a series to at most four points per pixel column (first, lowest, highest, last, in
/// time order), split into segments at non-finite values, which are gaps in the line.
func downsample(_ points: [Sample], columns: Int, xMin: Double, xMax: Double) -> [[Sample]] {
    let columns = Swift.max(1, columns)
    let span = Swift.max(xMax - xMin, 1)
    var segments: [[Sample]] = []
    var segment: [Sample] = []
    var bucket: (column: Int, first: Sample, low: Sample, high: Sample, last: Sample)?

    func flushBucket() {
        guard let current = bucket else { return }
        var picked = [current.first, current.low, current.high, current.last].sorted { $0.time < $1.time }
        var unique: [Sample] = []
        for point in picked where unique.last?.time != point.time { unique.append(point) }
        picked = unique
        segment += picked
        bucket = nil
    }
    func flushSegment() {
        flushBucket()
        if !segment.isEmpty { segments.append(segment) }
        segment = []
    }

    for point in points {
        guard point.value.isFinite else {
            flushSegment()
            continue
        }
        let column = Swift.min(columns - 1, Swift.max(0, Int((Double(point.time) - xMin) / span * Double(columns))))
        if var current = bucket, current.column == column {
            if point.value < current.low.value { current.low = point }
            if point.value > current.high.value { current.high = point }
            current.last = point
            bucket = current
        } else {
            flushBucket()
            bucket = (column, point, point, point, point)
        }
    }
    flushSegment()
    return segments
}

/// About `count` round ticks covering `[low, high]`: steps of 1, 2 or 5 times a power of ten.
func niceTicks(low: Double, high: Double, count: Int) -> [Double] {
    var low = low
    var high = high
    if low == high {
        let pad = low == 0 ? 1 : Swift.abs(low) * 0.1
        low -= pad
        high += pad
    }
    let raw = (high - low) / Double(Swift.max(1, count))
    guard raw.isFinite, raw > 0 else { return [low, high] }
    var magnitude = 1.0
    while magnitude * 10 <= raw { magnitude *= 10 }
    while magnitude > raw { magnitude /= 10 }
    let ratio = raw / magnitude
    let step = magnitude * (ratio <= 1 ? 1 : ratio <= 2 ? 2 : ratio <= 5 ? 5 : 10)
    let first = (low / step).rounded(.down)
    let last = (high / step).rounded(.up)
    guard last - first < 100 else { return [low, high] }
    return stride(from: first, through: last, by: 1).map { $0 * step }
}

/// Round time ticks (ms) covering `[low, high]`, at most about `count` of them.
func timeTicks(low: Int64, high: Int64, count: Int) -> [Int64] {
    let steps: [Int64] = [
        100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
        1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
    ]
    let span = Swift.max(high - low, 1)
    let step = steps.first { span / $0 <= Int64(count) } ?? Swift.max(span / Int64(Swift.max(count, 1)), 1)
    var ticks: [Int64] = []
    var tick = (low / step) * step
    if tick < low { tick += step }
    while tick <= high {
        ticks.append(tick)
        tick += step
    }
    return ticks
}

/// The tooltip of a fault window.
func faultTitle(_ fault: RunReport.FaultWindow) -> String {
    let end = fault.end.map(formatDuration) ?? "end of run"
    return "\(fault.step): \(fault.kind) on \(fault.targets.joined(separator: ", ")) via \(fault.mechanism), \(formatDuration(fault.start)) to \(end)"
}

/// The CSS class of an event kind: `bad` for exits, kills and misses, `good` for readiness.
func eventClass(_ kind: String) -> String {
    let kind = kind.lowercased()
    for word in ["exit", "kill", "crash", "watchdog", "abort", "fail", "error", "violat"] where kind.contains(word) {
        return "bad"
    }
    for word in ["ready", "start", "recover", "revert", "healthy"] where kind.contains(word) { return "good" }
    return "neutral"
}

/// `text` cut to `length` characters with an ellipsis.
func clip(_ text: String, _ length: Int) -> String {
    text.count <= length ? text : String(text.prefix(Swift.max(0, length - 1))) + "…"
}
