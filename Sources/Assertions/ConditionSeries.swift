/// Which way an SLI value gets worse.
public enum WorstDirection: String, Sendable, Hashable {
    /// Higher is worse (an upper bound such as `latency < 0.5`).
    case highest
    /// Lower is worse (a lower bound such as `success_ratio > 0.99`).
    case lowest
}

/// The condition of an SLO at one evaluation step.
public struct ConditionPoint: Sendable, Hashable {
    /// The step's time, in milliseconds since the start of the run.
    public var time: Int64
    /// Whether the condition held at this step.
    public var holds: Bool
    /// The SLI value at this step (the worst one over the series), if there was one.
    public var value: Double?

    /// Creates a point.
    public init(time: Int64, holds: Bool, value: Double? = nil) {
        self.time = time
        self.holds = holds
        self.value = value
    }
}

/// An SLO condition evaluated at a fixed step: whether it held at each step, and the value.
///
/// Each point stands for one evaluation step. Build it by hand, or with
/// ``evaluate(_:with:from:to:step:)`` from an SLI expression.
public struct ConditionSeries: Sendable, Hashable {
    /// The evaluation step, in milliseconds (> 0).
    public var step: Int64
    /// The points, in increasing time.
    public var points: [ConditionPoint]
    /// Which way the values get worse, for the worst-value figure.
    public var worst: WorstDirection

    /// Creates a series from points.
    public init(step: Int64, points: [ConditionPoint], worst: WorstDirection = .highest) {
        precondition(step > 0, "step must be positive")
        self.step = step
        self.points = points
        self.worst = worst
    }

    /// Creates a series with a point every `step` from `start`, from parallel arrays.
    public init(start: Int64 = 0, step: Int64, holds: [Bool], values: [Double?]? = nil, worst: WorstDirection = .highest) {
        let points = holds.indices.map { index in
            ConditionPoint(time: start + Int64(index) * step, holds: holds[index], value: values?[index])
        }
        self.init(step: step, points: points, worst: worst)
    }

    /// Evaluates a condition expression at `from`, `from + step`, … `to` (ms).
    ///
    /// - A comparison between an instant vector and a scalar (`x < 0.5`, with or without
    ///   `bool`, either order) holds at a step iff the vector side has at least one series and
    ///   every series satisfies the comparison; the point's value is the worst series value,
    ///   where "worst" follows the comparison (`<`, `<=`: highest; `>`, `>=`: lowest). No data
    ///   is a failure.
    /// - Any other vector expression holds iff its result is non-empty and, unless it is a
    ///   filtering comparison or a set operation (where presence is the answer), every value
    ///   is neither 0 nor NaN. A scalar expression holds iff it is neither 0 nor NaN.
    public static func evaluate(
        _ expression: SLIExpression, with evaluator: SLIEvaluator, from: Int64, to: Int64, step: Int64
    ) throws(SLIEvaluationError) -> ConditionSeries {
        guard step > 0, from <= to else {
            throw SLIEvaluationError(code: .invalidArgument, message: "step must be positive and from not after to")
        }
        let root = expression.unparenthesized
        var points: [ConditionPoint] = []
        var worst = WorstDirection.lowest
        if case .binary(let op, let lhs, let rhs, _) = root, op.isComparison,
            (lhs.valueType == .scalar) != (rhs.valueType == .scalar)
        {
            let vectorOnLeft = rhs.valueType == .scalar
            let vectorSide = vectorOnLeft ? lhs : rhs
            let scalarSide = vectorOnLeft ? rhs : lhs
            // `0.5 > x` bounds x from above, like `x < 0.5`.
            let upperBound: Bool =
                switch op {
                case .less, .lessOrEqual: vectorOnLeft
                case .greater, .greaterOrEqual: !vectorOnLeft
                default: true
                }
            worst = upperBound ? .highest : .lowest
            var time = from
            while time <= to {
                let vector = try evaluator.vector(vectorSide, at: time)
                let bound = try evaluator.scalar(scalarSide, at: time)
                let holds = !vector.isEmpty && vector.allSatisfy { element in
                    (vectorOnLeft
                        ? SLIEvaluator.apply(op, element.value, bound) : SLIEvaluator.apply(op, bound, element.value)).keep
                }
                let values = vector.map(\.value).filter { !$0.isNaN }
                let value = upperBound ? values.max() : values.min()
                points.append(ConditionPoint(time: time, holds: holds, value: value ?? (vector.isEmpty ? nil : .nan)))
                time += step
            }
        } else {
            var presenceIsAnswer = false
            if case .binary(let op, _, _, let modifiers) = root {
                presenceIsAnswer = op.isSetOperator || (op.isComparison && !modifiers.returnBool)
            }
            var time = from
            while time <= to {
                switch try evaluator.evaluate(expression, at: time) {
                case .scalar(let value):
                    points.append(ConditionPoint(time: time, holds: value != 0 && !value.isNaN, value: value))
                case .vector(let vector):
                    let holds = !vector.isEmpty && (presenceIsAnswer || vector.allSatisfy { $0.value != 0 && !$0.value.isNaN })
                    points.append(ConditionPoint(time: time, holds: holds, value: vector.map(\.value).min()))
                }
                time += step
            }
        }
        return ConditionSeries(step: step, points: points, worst: worst)
    }
}
