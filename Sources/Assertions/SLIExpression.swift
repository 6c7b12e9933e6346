/// An SLI expression: a parsed PromQL subset with the same meaning as in Prometheus.
///
/// Parse with ``parse(_:)``; evaluate with ``SLIEvaluator``. Durations are milliseconds.
public indirect enum SLIExpression: Sendable, Hashable, CustomStringConvertible {
    /// A number literal (also `Inf`, `NaN`).
    case number(Double)
    /// An instant vector selector: `name{matchers} offset d`.
    case vectorSelector(VectorSelector)
    /// A range vector selector: `name{matchers}[range] offset d`; `range` in milliseconds.
    case matrixSelector(VectorSelector, range: Int64)
    /// A function call.
    case call(SLIFunction, [SLIExpression])
    /// An aggregation such as `sum by (service) (x)`.
    case aggregation(AggregationOperator, grouping: Grouping?, SLIExpression)
    /// A binary operation.
    case binary(BinaryOperator, SLIExpression, SLIExpression, BinaryModifiers)
    /// Unary minus.
    case negation(SLIExpression)
    /// An expression in parentheses.
    case parenthesized(SLIExpression)

    /// The type the expression evaluates to.
    public var valueType: SLIValueType {
        switch self {
        case .number: .scalar
        case .vectorSelector: .instantVector
        case .matrixSelector: .rangeVector
        case .call(let function, _): function.signature.result
        case .aggregation: .instantVector
        case .binary(_, let lhs, let rhs, _):
            lhs.valueType == .scalar && rhs.valueType == .scalar ? .scalar : .instantVector
        case .negation(let inner), .parenthesized(let inner): inner.valueType
        }
    }

    /// The expression in PromQL syntax.
    public var description: String {
        switch self {
        case .number(let value): formatFloat(value)
        case .vectorSelector(let selector): selector.description
        case .matrixSelector(let selector, let range):
            "\(selector.descriptionWithoutOffset)[\(formatDuration(range))]"
                + (selector.offset != 0 ? " offset \(formatDuration(selector.offset))" : "")
        case .call(let function, let arguments):
            "\(function.rawValue)(\(arguments.map(\.description).joined(separator: ", ")))"
        case .aggregation(let op, let grouping, let inner):
            "\(op.rawValue)\(grouping.map { " \($0)" } ?? "")(\(inner))"
        case .binary(let op, let lhs, let rhs, let modifiers):
            "\(lhs) \(op.rawValue)\(modifiers.description) \(rhs)"
        case .negation(let inner): "-\(inner)"
        case .parenthesized(let inner): "(\(inner))"
        }
    }
}

/// The type of an expression's value.
public enum SLIValueType: String, Sendable, Hashable {
    /// A single number.
    case scalar
    /// One sample per series, at the evaluation time.
    case instantVector = "instant vector"
    /// A range of samples per series; only valid as a function argument.
    case rangeVector = "range vector"
}

/// A vector selector: an optional metric name, label matchers, and an offset.
public struct VectorSelector: Sendable, Hashable, CustomStringConvertible {
    /// All matchers, including `__name__="…"` for a metric name written in front.
    public var matchers: [LabelMatcher]
    /// How far back to look, in milliseconds (may be negative).
    public var offset: Int64

    /// Creates a selector.
    public init(matchers: [LabelMatcher], offset: Int64 = 0) {
        self.matchers = matchers
        self.offset = offset
    }

    /// The metric name, if an `=` matcher on `__name__` gives one.
    public var metricName: String? {
        matchers.first { $0.name == Labels.metricNameLabel && $0.kind == .equal }?.value
    }

    var descriptionWithoutOffset: String {
        let name = metricName
        let rest = matchers.filter { !($0.name == Labels.metricNameLabel && $0.kind == .equal) }
        let braces = rest.isEmpty ? "" : "{\(rest.map(\.description).joined(separator: ", "))}"
        return (name ?? "") + (name == nil && braces.isEmpty ? "{}" : braces)
    }

    public var description: String {
        descriptionWithoutOffset + (offset != 0 ? " offset \(formatDuration(offset))" : "")
    }
}

/// The functions of the subset.
public enum SLIFunction: String, Sendable, Hashable, CaseIterable {
    case rate, increase, irate, delta
    case avgOverTime = "avg_over_time"
    case maxOverTime = "max_over_time"
    case minOverTime = "min_over_time"
    case sumOverTime = "sum_over_time"
    case countOverTime = "count_over_time"
    case histogramQuantile = "histogram_quantile"
    case abs
    case clampMin = "clamp_min"
    case clampMax = "clamp_max"
    case vector, scalar, time

    /// The argument types and the result type.
    public var signature: (arguments: [SLIValueType], result: SLIValueType) {
        switch self {
        case .rate, .increase, .irate, .delta, .avgOverTime, .maxOverTime, .minOverTime, .sumOverTime,
            .countOverTime:
            ([.rangeVector], .instantVector)
        case .histogramQuantile: ([.scalar, .instantVector], .instantVector)
        case .abs: ([.instantVector], .instantVector)
        case .clampMin, .clampMax: ([.instantVector, .scalar], .instantVector)
        case .vector: ([.scalar], .instantVector)
        case .scalar: ([.instantVector], .scalar)
        case .time: ([], .scalar)
        }
    }
}

/// The aggregation operators of the subset.
public enum AggregationOperator: String, Sendable, Hashable, CaseIterable {
    case sum, avg, min, max, count
}

/// `by (labels)` or `without (labels)` on an aggregation.
public struct Grouping: Sendable, Hashable, CustomStringConvertible {
    /// Whether the labels are kept (`by`) or removed (`without`).
    public var without: Bool
    /// The label names.
    public var labels: [String]

    /// Creates a grouping.
    public init(without: Bool, labels: [String]) {
        self.without = without
        self.labels = labels
    }

    public var description: String { "\(without ? "without" : "by") (\(labels.joined(separator: ", ")))" }
}

/// The binary operators, by precedence from lowest: `or`; `and unless`; comparisons;
/// `+ -`; `* / %`; `^` (right-associative).
public enum BinaryOperator: String, Sendable, Hashable, CaseIterable {
    case or, and, unless
    case equal = "==", notEqual = "!=", greater = ">", less = "<", greaterOrEqual = ">=", lessOrEqual = "<="
    case add = "+", subtract = "-"
    case multiply = "*", divide = "/", modulo = "%"
    case power = "^"

    /// Higher binds tighter.
    var precedence: Int {
        switch self {
        case .or: 1
        case .and, .unless: 2
        case .equal, .notEqual, .greater, .less, .greaterOrEqual, .lessOrEqual: 3
        case .add, .subtract: 4
        case .multiply, .divide, .modulo: 5
        case .power: 6
        }
    }

    /// Whether this is a comparison (`==`, `!=`, `>`, `<`, `>=`, `<=`).
    public var isComparison: Bool { precedence == 3 }
    /// Whether this is a set operator (`and`, `or`, `unless`).
    public var isSetOperator: Bool { precedence <= 2 }
}

/// The modifiers of a binary operation: `bool` and `on(…)` / `ignoring(…)`.
public struct BinaryModifiers: Sendable, Hashable, CustomStringConvertible {
    /// `bool`: a comparison returns 0 or 1 instead of filtering.
    public var returnBool: Bool
    /// The label names of `on(…)` or `ignoring(…)`; `nil` when neither was given.
    public var matchingLabels: [String]?
    /// Whether ``matchingLabels`` came from `on` (true) or `ignoring` (false).
    public var on: Bool

    /// Creates modifiers; the default is none.
    public init(returnBool: Bool = false, matchingLabels: [String]? = nil, on: Bool = false) {
        self.returnBool = returnBool
        self.matchingLabels = matchingLabels
        self.on = on
    }

    public var description: String {
        var text = returnBool ? " bool" : ""
        if let matchingLabels {
            text += " \(on ? "on" : "ignoring")(\(matchingLabels.joined(separator: ", ")))"
        }
        return text
    }
}

/// Formats milliseconds as a PromQL duration: `1h30m`, `250ms`.
func formatDuration(_ milliseconds: Int64) -> String {
    if milliseconds == 0 { return "0s" }
    var rest = milliseconds.magnitude
    var text = milliseconds < 0 ? "-" : ""
    for (unit, size) in [("y", 31_536_000_000), ("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] as [(String, UInt64)] where rest >= size {
        text += "\(rest / size)\(unit)"
        rest %= size
    }
    return text
}
