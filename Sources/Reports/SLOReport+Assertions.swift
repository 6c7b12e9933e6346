import Assertions

extension SLOReport {
    /// A report of an Assertions verdict on the condition `expression`.
    ///
    /// The threshold is taken from the expression when it compares a vector with a constant
    /// (``Threshold/init(condition:)``), and the unit is guessed from it when not given
    /// (``inferUnit(_:)``).
    public init(verdict: Verdict, expression: SLIExpression, chart: [ChartSeries] = [], unit: String? = nil) {
        self.init(
            name: verdict.name, form: Form(verdict.form), passed: verdict.passed, from: verdict.from, to: verdict.to,
            expression: expression.description, threshold: Threshold(condition: expression),
            unit: unit ?? Self.inferUnit(expression), figures: Measured(verdict.figures), summary: verdict.summary,
            chart: chart)
    }

    /// The SLI that a condition bounds: the vector side of a comparison with a scalar, or the
    /// condition itself. This is the expression to evaluate over the run for the chart.
    public static func indicator(of condition: SLIExpression) -> SLIExpression {
        guard case .binary(let op, let lhs, let rhs, _) = condition.strippingParentheses, op.isComparison,
            (lhs.valueType == .scalar) != (rhs.valueType == .scalar)
        else { return condition }
        return lhs.valueType == .scalar ? rhs : lhs
    }

    /// Evaluates the SLI of `condition` (see ``indicator(of:)``) at every `step` of `[from, to]`
    /// for the chart. A scalar SLI gives one series with no labels.
    public static func chart(
        of condition: SLIExpression, with evaluator: SLIEvaluator, from: Int64, to: Int64, step: Int64
    ) throws(SLIEvaluationError) -> [ChartSeries] {
        try evaluator.evaluateRange(indicator(of: condition), from: from, to: to, step: step).map(ChartSeries.init)
    }

    /// A guess at the SLI's unit from its expression: `s` or `B` from a `_seconds` or `_bytes`
    /// metric name, `/s` appended for `rate` and `irate`, none for a ratio of two vectors;
    /// `nil` when unsure.
    public static func inferUnit(_ condition: SLIExpression) -> String? {
        func walk(_ expression: SLIExpression) -> String? {
            switch expression {
            case .number: return nil
            case .vectorSelector(let selector), .matrixSelector(let selector, _):
                guard let name = selector.metricName else { return nil }
                for (suffix, unit) in [("_seconds", "s"), ("_bytes", "B")] {
                    for ending in ["", "_total", "_bucket", "_sum"] where name.hasSuffix(suffix + ending) {
                        return unit
                    }
                }
                return nil
            case .call(let function, let arguments):
                switch function {
                case .rate, .irate:
                    return arguments.first.flatMap(walk).map { $0 + "/s" } ?? "/s"
                case .histogramQuantile:
                    // The quantile has the unit of the buckets' `le`, however the buckets were rated.
                    return arguments.last.flatMap(walk).map { $0.hasSuffix("/s") ? String($0.dropLast(2)) : $0 }
                case .countOverTime, .vector, .scalar, .time: return nil
                default: return arguments.first.flatMap(walk)
                }
            case .aggregation(let op, _, let inner): return op == .count ? nil : walk(inner)
            case .binary(let op, let lhs, let rhs, _):
                switch op {
                case .add, .subtract, .or, .and, .unless: return walk(lhs) ?? walk(rhs)
                case .multiply, .divide:
                    // A ratio of two like things has no unit; a scaled thing keeps its own.
                    if lhs.valueType == .scalar { return walk(rhs) }
                    if rhs.valueType == .scalar { return walk(lhs) }
                    return nil
                default: return lhs.valueType == .scalar ? walk(rhs) : walk(lhs)
                }
            case .negation(let inner), .parenthesized(let inner): return walk(inner)
            }
        }
        let unit = walk(indicator(of: condition))
        return unit == "s/s" || unit == "B/s/s" ? nil : unit
    }
}

extension SLOReport.Threshold {
    /// The threshold of a condition that compares an instant vector with a constant scalar
    /// (`x < 0.5`, `0.99 <= x`, `x > bool 2 * 3`), written with the SLI on the left; `nil` for
    /// any other condition, or when the scalar side is not constant (`time()`, `scalar(…)`).
    public init?(condition: SLIExpression) {
        guard case .binary(let op, let lhs, let rhs, _) = condition.strippingParentheses, op.isComparison,
            (lhs.valueType == .scalar) != (rhs.valueType == .scalar)
        else { return nil }
        let vectorOnLeft = rhs.valueType == .scalar
        guard let value = (vectorOnLeft ? rhs : lhs).constantValue else { return nil }
        let comparison: String =
            switch op {
            case .less: vectorOnLeft ? "<" : ">"
            case .lessOrEqual: vectorOnLeft ? "<=" : ">="
            case .greater: vectorOnLeft ? ">" : "<"
            case .greaterOrEqual: vectorOnLeft ? ">=" : "<="
            default: op.rawValue
            }
        self.init(comparison: comparison, value: value)
    }
}

extension SLIExpression {
    /// The expression without enclosing parentheses.
    var strippingParentheses: SLIExpression {
        if case .parenthesized(let inner) = self { return inner.strippingParentheses }
        return self
    }

    /// The value of a constant scalar expression (numbers and arithmetic on them), else `nil`.
    var constantValue: Double? {
        switch self {
        case .number(let value): return value
        case .parenthesized(let inner): return inner.constantValue
        case .negation(let inner): return inner.constantValue.map { -$0 }
        case .binary(let op, let lhs, let rhs, _):
            guard let l = lhs.constantValue, let r = rhs.constantValue else { return nil }
            switch op {
            case .add: return l + r
            case .subtract: return l - r
            case .multiply: return l * r
            case .divide: return l / r
            default: return nil
            }
        default: return nil
        }
    }
}

extension RunReport {
    /// A report whose outcome comes from the Assertions classifier.
    public init(
        lab: String, runtime: Runtime, seed: UInt64, runID: String, startedAt: String, duration: Int64,
        classification: OutcomeClassification, expected: Expectation.Result = .pass,
        steadyState: [SLOReport] = [], slos: [SLOReport] = [], faults: [FaultWindow] = [],
        events: [Event] = []
    ) {
        let outcome = Outcome(classification.outcome)
        self.init(
            lab: lab, runtime: runtime, seed: seed, runID: runID, startedAt: startedAt, duration: duration,
            outcome: outcome, decidedBy: classification.decidedBy, explanation: classification.explanation,
            expectation: Expectation.judge(expected, outcome: outcome, steadyState: steadyState, slos: slos),
            steadyState: steadyState, slos: slos, faults: faults, events: events)
    }
}
