/// The form of an SLO: how its condition is judged over time. Durations in milliseconds.
public enum SLOForm: Sendable, Hashable, CustomStringConvertible {
    /// The condition holds at every step of the window.
    case always
    /// After the reference time, the condition holds at some step within `within`.
    case eventually(within: Int64)
    /// After the reference time, the condition starts to hold and then holds for `hold`,
    /// starting no later than `within` after the reference time.
    case recovers(within: Int64, hold: Int64)
    /// The condition fails at no more than `maxBadFraction` (0…1) of the window's steps.
    case budget(maxBadFraction: Double)

    public var description: String {
        switch self {
        case .always: "always"
        case .eventually(let within): "eventually within \(formatDuration(within))"
        case .recovers(let within, let hold): "recovers within \(formatDuration(within)) hold \(formatDuration(hold))"
        case .budget(let fraction): "budget \(formatFloat(fraction * 100))%"
        }
    }
}

/// A run of consecutive evaluation steps at which the condition did not hold.
public struct ViolationInterval: Sendable, Hashable, CustomStringConvertible {
    /// The time of the first failing step (ms).
    public var start: Int64
    /// The time of the last failing step (ms); equal to ``start`` for a single step.
    public var end: Int64
    /// Whether the violation lasted to the last step of the window (it may go on).
    public var ongoing: Bool

    /// Creates an interval.
    public init(start: Int64, end: Int64, ongoing: Bool = false) {
        self.start = start
        self.end = end
        self.ongoing = ongoing
    }

    public var description: String {
        "[\(formatMilliseconds(start)), \(formatMilliseconds(end))\(ongoing ? "…" : "")]"
    }
}

/// What was measured while judging an SLO.
public struct Figures: Sendable, Hashable {
    /// For `recovers`: reference time to the start of the holding period; for `eventually`:
    /// reference time to the first step where the condition held. Exact at the step. `nil`
    /// if that never happened in the window (or for other forms).
    public var timeToRecover: Int64?
    /// The worst SLI value in the window (per ``ConditionSeries/worst``), ignoring NaN.
    public var worstValue: Double?
    /// When ``worstValue`` was first reached (ms).
    public var worstTime: Int64?
    /// The runs of failing steps in the window.
    public var violations: [ViolationInterval]
    /// Failing steps divided by all steps in the window (0 when there were none).
    public var badFraction: Double
    /// The number of evaluation steps in the window.
    public var steps: Int

    /// Creates figures.
    public init(
        timeToRecover: Int64? = nil, worstValue: Double? = nil, worstTime: Int64? = nil,
        violations: [ViolationInterval] = [], badFraction: Double = 0, steps: Int = 0
    ) {
        self.timeToRecover = timeToRecover
        self.worstValue = worstValue
        self.worstTime = worstTime
        self.violations = violations
        self.badFraction = badFraction
        self.steps = steps
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.timeToRecover == rhs.timeToRecover && lhs.worstTime == rhs.worstTime && lhs.violations == rhs.violations
            && lhs.badFraction == rhs.badFraction && lhs.steps == rhs.steps
            && (lhs.worstValue == rhs.worstValue || (lhs.worstValue?.isNaN == true && rhs.worstValue?.isNaN == true))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(timeToRecover)
        hasher.combine(worstTime)
        hasher.combine(violations)
        hasher.combine(steps)
    }
}

/// The judgement of one SLO.
public struct Verdict: Sendable, Hashable {
    /// The SLO's name.
    public var name: String
    /// Whether the SLO held.
    public var passed: Bool
    /// The SLO's form.
    public var form: SLOForm
    /// The window's start (the reference time for `eventually` and `recovers`), ms.
    public var from: Int64
    /// The window's end, inclusive, ms.
    public var to: Int64
    /// What was measured.
    public var figures: Figures
    /// One line for humans: `name: PASS recovers within 30s hold 10s — recovered after 12.250s; …`.
    public var summary: String
}

/// An SLO over a condition series: a name, a form, and a window.
///
/// The window is `[from, to]` (inclusive, ms). For `eventually` and `recovers`, `from` is the
/// reference time (the moment the fault ended, say) and the condition is observed up to `to`.
public struct SLO: Sendable, Hashable {
    /// The SLO's name, used in verdicts and outcome reasons.
    public var name: String
    /// How the condition is judged.
    public var form: SLOForm
    /// The window's start, or the reference time (ms).
    public var from: Int64
    /// The window's end, inclusive (ms).
    public var to: Int64

    /// Creates an SLO.
    public init(name: String, form: SLOForm, from: Int64, to: Int64) {
        self.name = name
        self.form = form
        self.from = from
        self.to = to
    }

    /// Judges the condition series; pure and total (an empty window fails, with 0 steps).
    public func evaluate(_ condition: ConditionSeries) -> Verdict {
        let window = condition.points.filter { $0.time >= from && $0.time <= to }
        var figures = Self.measure(window, worst: condition.worst)
        let passed: Bool
        var outcome: String
        switch form {
        case .always:
            passed = !window.isEmpty && figures.violations.isEmpty
            outcome = passed ? "held at all \(window.count) steps" : "violated"
        case .budget(let maxBadFraction):
            passed = !window.isEmpty && figures.badFraction <= maxBadFraction
            outcome = "bad \(formatPercent(figures.badFraction)) of \(window.count) steps"
        case .eventually(let within):
            figures.timeToRecover = window.first { $0.holds }.map { $0.time - from }
            passed = figures.timeToRecover.map { $0 <= within } ?? false
            outcome = figures.timeToRecover.map { "held after \(formatMilliseconds($0))" } ?? "never held"
        case .recovers(let within, let hold):
            figures.timeToRecover = Self.recoveryStart(window, step: condition.step, hold: hold).map { $0 - from }
            passed = figures.timeToRecover.map { $0 <= within } ?? false
            outcome = figures.timeToRecover.map { "recovered after \(formatMilliseconds($0))" } ?? "did not recover"
        }
        if window.isEmpty { outcome = "no evaluation steps in the window" }
        var parts = [outcome]
        if let value = figures.worstValue, let time = figures.worstTime {
            parts.append("worst \(formatFloat(value)) at \(formatMilliseconds(time))")
        }
        if !figures.violations.isEmpty {
            let shown = figures.violations.prefix(3).map(\.description).joined(separator: ", ")
            let more = figures.violations.count > 3 ? ", …" : ""
            parts.append("\(figures.violations.count) violation\(figures.violations.count == 1 ? "" : "s") \(shown)\(more)")
        }
        let summary = "\(name): \(passed ? "PASS" : "FAIL") \(form) — \(parts.joined(separator: "; "))"
        return Verdict(name: name, passed: passed, form: form, from: from, to: to, figures: figures, summary: summary)
    }

    /// The first time T at which the condition holds at every step of `[T, T + hold]` with no
    /// gap longer than one step; `nil` if the window has no such period.
    static func recoveryStart(_ window: [ConditionPoint], step: Int64, hold: Int64) -> Int64? {
        var runStart: Int64?
        var previous: Int64?
        for point in window {
            if !point.holds {
                runStart = nil
            } else {
                if let previousTime = previous, point.time - previousTime > step { runStart = nil }
                if runStart == nil { runStart = point.time }
                if point.time - runStart! >= hold { return runStart }
            }
            previous = point.time
        }
        return nil
    }

    static func measure(_ window: [ConditionPoint], worst: WorstDirection) -> Figures {
        var figures = Figures(steps: window.count)
        var failing = 0
        var open: ViolationInterval?
        for point in window {
            if let value = point.value, !value.isNaN {
                let worse = figures.worstValue.map { worst == .highest ? value > $0 : value < $0 } ?? true
                if worse {
                    figures.worstValue = value
                    figures.worstTime = point.time
                }
            }
            if point.holds {
                if let interval = open { figures.violations.append(interval) }
                open = nil
            } else {
                failing += 1
                if open == nil { open = ViolationInterval(start: point.time, end: point.time) }
                open!.end = point.time
            }
        }
        if var interval = open {
            interval.ongoing = true
            figures.violations.append(interval)
        }
        figures.badFraction = window.isEmpty ? 0 : Double(failing) / Double(window.count)
        return figures
    }
}

private func formatPercent(_ fraction: Double) -> String {
    let hundredths = (fraction * 10_000).rounded()
    return formatFloat(hundredths / 100) + "%"
}
