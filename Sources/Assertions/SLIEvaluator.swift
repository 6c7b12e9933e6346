/// One element of an instant vector: a series' labels and its value at the evaluation time.
public struct InstantSample: Sendable, Hashable {
    /// The labels; `__name__` is gone after functions, arithmetic and aggregation.
    public var labels: Labels
    /// The value.
    public var value: Double

    /// Creates an element.
    public init(labels: Labels, value: Double) {
        self.labels = labels
        self.value = value
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.labels == rhs.labels && (lhs.value == rhs.value || (lhs.value.isNaN && rhs.value.isNaN))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(labels)
        hasher.combine(value.isNaN ? Double.nan.bitPattern : value.bitPattern)
    }
}

/// The value of an expression at one time.
public enum SLIValue: Sendable, Hashable {
    /// A scalar.
    case scalar(Double)
    /// An instant vector, sorted by labels.
    case vector([InstantSample])
}

/// An expression that could not be evaluated (valid syntax, but data that does not fit).
public struct SLIEvaluationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case matching, duplicateLabels, invalidArgument
        }
        private let base: Base

        /// One-to-one vector matching found several series on one side for a match group.
        public static let matching = Code(base: .matching)
        /// A result held two series with the same labels (after the metric name was dropped).
        public static let duplicateLabels = Code(base: .duplicateLabels)
        /// An argument of the evaluation itself was invalid (a step ≤ 0, from > to, a range vector).
        public static let invalidArgument = Code(base: .invalidArgument)

        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public var code: Code
    /// What went wrong, in Prometheus' words where it has them.
    public var message: String

    public var description: String { message }
}

/// Evaluates ``SLIExpression``s over a ``SeriesStore`` with Prometheus' semantics.
///
/// Times are milliseconds since the start of the run. An instant selector at time `t` takes,
/// per series, the newest sample in `(t − offset − lookbackDelta, t − offset]`, and nothing if
/// that sample is a staleness marker. A range selector `[r]` takes the samples in
/// `(t − offset − r, t − offset]` without staleness markers (both left-open, as Prometheus 3).
/// `time()` is `t / 1000` (seconds since the start of the run).
public struct SLIEvaluator: Sendable {
    /// The series to read.
    public var store: SeriesStore
    /// How far back an instant selector looks for a sample, in milliseconds. Prometheus'
    /// default is 5 minutes; with 250 ms scrapes a few seconds is more useful.
    public var lookbackDelta: Int64

    /// Creates an evaluator.
    public init(store: SeriesStore, lookbackDelta: Int64 = 300_000) {
        self.store = store
        self.lookbackDelta = lookbackDelta
    }

    /// Evaluates `expression` at time `time` (ms). A range-vector expression is an error.
    public func evaluate(_ expression: SLIExpression, at time: Int64) throws(SLIEvaluationError) -> SLIValue {
        switch try eval(expression, at: time) {
        case .scalar(let value): return .scalar(value)
        case .vector(let vector): return .vector(vector.sorted { $0.labels < $1.labels })
        case .matrix:
            throw SLIEvaluationError(
                code: .invalidArgument, message: "a range vector cannot be the result of an evaluation")
        }
    }

    /// Evaluates `expression` at `from`, `from + step`, … up to and including `to` (ms).
    ///
    /// Returns one series per label set seen at any step, sorted by labels, with a sample at
    /// each step where it had a value; a scalar expression gives one series with no labels.
    public func evaluateRange(
        _ expression: SLIExpression, from: Int64, to: Int64, step: Int64
    ) throws(SLIEvaluationError) -> [TimeSeries] {
        guard step > 0 else { throw SLIEvaluationError(code: .invalidArgument, message: "step must be positive") }
        guard from <= to else { throw SLIEvaluationError(code: .invalidArgument, message: "from must not be after to") }
        var series: [Labels: [Sample]] = [:]
        var time = from
        while time <= to {
            switch try evaluate(expression, at: time) {
            case .scalar(let value):
                series[Labels(), default: []].append(Sample(time: time, value: value))
            case .vector(let vector):
                for element in vector {
                    series[element.labels, default: []].append(Sample(time: time, value: element.value))
                }
            }
            let (next, overflow) = time.addingReportingOverflow(step)
            if overflow { break }
            time = next
        }
        return series.map { TimeSeries(labels: $0.key, samples: $0.value) }.sorted { $0.labels < $1.labels }
    }

    // MARK: - Evaluation

    enum Value {
        case scalar(Double)
        case vector([InstantSample])
        case matrix([TimeSeries])
    }

    func eval(_ expression: SLIExpression, at time: Int64) throws(SLIEvaluationError) -> Value {
        switch expression {
        case .number(let value):
            return .scalar(value)
        case .parenthesized(let inner):
            return try eval(inner, at: time)
        case .vectorSelector(let selector):
            return .vector(selectInstant(selector, at: time))
        case .matrixSelector(let selector, let range):
            return .matrix(selectRange(selector, range: range, at: time))
        case .negation(let inner):
            switch try eval(inner, at: time) {
            case .scalar(let value): return .scalar(-value)
            case .vector(let vector):
                return .vector(try unique(vector.map { InstantSample(labels: $0.labels.droppingMetricName, value: -$0.value) }))
            case .matrix: throw rangeVectorMisuse()
            }
        case .call(let function, let arguments):
            return try call(function, arguments, at: time)
        case .aggregation(let op, let grouping, let inner):
            return .vector(aggregate(op, grouping: grouping, try vector(inner, at: time)))
        case .binary(let op, let lhs, let rhs, let modifiers):
            return try binary(op, lhs, rhs, modifiers, at: time)
        }
    }

    private func rangeVectorMisuse() -> SLIEvaluationError {
        SLIEvaluationError(code: .invalidArgument, message: "unexpected range vector")
    }

    func scalar(_ expression: SLIExpression, at time: Int64) throws(SLIEvaluationError) -> Double {
        guard case .scalar(let value) = try eval(expression, at: time) else {
            throw SLIEvaluationError(code: .invalidArgument, message: "expected a scalar: \(expression)")
        }
        return value
    }

    func vector(_ expression: SLIExpression, at time: Int64) throws(SLIEvaluationError) -> [InstantSample] {
        guard case .vector(let value) = try eval(expression, at: time) else {
            throw SLIEvaluationError(code: .invalidArgument, message: "expected an instant vector: \(expression)")
        }
        return value
    }

    func selectInstant(_ selector: VectorSelector, at time: Int64) -> [InstantSample] {
        let reference = time - selector.offset
        var result: [InstantSample] = []
        for (labels, buffer) in store.select(selector.matchers) {
            guard let sample = buffer.latest(after: reference - lookbackDelta, through: reference),
                !sample.isStaleMarker
            else { continue }
            result.append(InstantSample(labels: labels, value: sample.value))
        }
        return result
    }

    func selectRange(_ selector: VectorSelector, range: Int64, at time: Int64) -> [TimeSeries] {
        let reference = time - selector.offset
        var result: [TimeSeries] = []
        for (labels, buffer) in store.select(selector.matchers) {
            let samples = buffer.samples(after: reference - range, through: reference).filter { !$0.isStaleMarker }
            if !samples.isEmpty { result.append(TimeSeries(labels: labels, samples: samples)) }
        }
        return result
    }

    /// Fails, as Prometheus does, if two elements share their labels.
    func unique(_ vector: [InstantSample]) throws(SLIEvaluationError) -> [InstantSample] {
        var seen = Set<Labels>()
        for element in vector where !seen.insert(element.labels).inserted {
            throw SLIEvaluationError(
                code: .duplicateLabels, message: "vector cannot contain metrics with the same labelset \(element.labels)")
        }
        return vector
    }

    // MARK: Functions

    private func call(_ function: SLIFunction, _ arguments: [SLIExpression], at time: Int64) throws(SLIEvaluationError) -> Value {
        switch function {
        case .time:
            return .scalar(Double(time) / 1000)
        case .vector:
            return .vector([InstantSample(labels: Labels(), value: try scalar(arguments[0], at: time))])
        case .scalar:
            let input = try vector(arguments[0], at: time)
            return .scalar(input.count == 1 ? input[0].value : .nan)
        case .abs:
            return .vector(try unique(try vector(arguments[0], at: time).map {
                InstantSample(labels: $0.labels.droppingMetricName, value: Swift.abs($0.value))
            }))
        case .clampMin, .clampMax:
            let input = try vector(arguments[0], at: time)
            let bound = try scalar(arguments[1], at: time)
            return .vector(try unique(input.map {
                InstantSample(
                    labels: $0.labels.droppingMetricName,
                    value: function == .clampMin ? goMax(bound, $0.value) : goMin(bound, $0.value))
            }))
        case .histogramQuantile:
            let q = try scalar(arguments[0], at: time)
            return .vector(histogramQuantile(q, try vector(arguments[1], at: time)))
        case .rate, .increase, .irate, .delta, .avgOverTime, .maxOverTime, .minOverTime, .sumOverTime, .countOverTime:
            guard case .matrixSelector(let selector, let range) = arguments[0].unparenthesized else {
                throw SLIEvaluationError(code: .invalidArgument, message: "\(function.rawValue) needs a range selector")
            }
            let rangeEnd = time - selector.offset
            var output: [InstantSample] = []
            for series in selectRange(selector, range: range, at: time) {
                let value = RangeFunctions.apply(
                    function, series.samples, rangeStart: rangeEnd - range, rangeEnd: rangeEnd)
                if let value { output.append(InstantSample(labels: series.labels.droppingMetricName, value: value)) }
            }
            return .vector(try unique(output))
        }
    }

    func histogramQuantile(_ q: Double, _ input: [InstantSample]) -> [InstantSample] {
        var groups: [Labels: [HistogramBucket]] = [:]
        for element in input {
            guard let le = element.labels["le"].flatMap(parseFloat) else { continue }  // ignored, as Prometheus does
            let key = element.labels.removing([Labels.metricNameLabel, "le"])
            groups[key, default: []].append(HistogramBucket(upperBound: le, count: element.value))
        }
        return groups.map { InstantSample(labels: $0.key, value: bucketQuantile(q, $0.value)) }
    }

    // MARK: Aggregation

    func aggregate(_ op: AggregationOperator, grouping: Grouping?, _ input: [InstantSample]) -> [InstantSample] {
        var groups: [Labels: [Double]] = [:]
        var order: [Labels] = []
        for element in input {
            let key: Labels =
                switch grouping {
                case nil: Labels()
                case let grouping? where grouping.without:
                    element.labels.removing(grouping.labels + [Labels.metricNameLabel])
                case let grouping?: element.labels.keeping(grouping.labels)
                }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(element.value)
        }
        return order.map { key in
            let values = groups[key]!
            let value: Double
            switch op {
            case .sum:
                var sum = KahanSum()
                values.forEach { sum.add($0) }
                value = sum.value
            case .avg:
                var sum = KahanSum()
                values.forEach { sum.add($0) }
                value = sum.value / Double(values.count)
            case .count:
                value = Double(values.count)
            case .min, .max:
                // NaN only wins when every value is NaN.
                var best = Double.nan
                for candidate in values where best.isNaN || (op == .min ? candidate < best : candidate > best) {
                    best = candidate
                }
                value = best
            }
            return InstantSample(labels: key, value: value)
        }
    }

    // MARK: Binary operators

    private func binary(
        _ op: BinaryOperator, _ lhsExpression: SLIExpression, _ rhsExpression: SLIExpression,
        _ modifiers: BinaryModifiers, at time: Int64
    ) throws(SLIEvaluationError) -> Value {
        let lhs = try eval(lhsExpression, at: time)
        let rhs = try eval(rhsExpression, at: time)
        switch (lhs, rhs) {
        case (.scalar(let l), .scalar(let r)):
            let (value, keep) = Self.apply(op, l, r)
            return .scalar(op.isComparison ? (keep ? 1 : 0) : value)
        case (.vector(let vector), .scalar(let s)):
            return .vector(try vectorScalar(op, vector, s, scalarOnLeft: false, returnBool: modifiers.returnBool))
        case (.scalar(let s), .vector(let vector)):
            return .vector(try vectorScalar(op, vector, s, scalarOnLeft: true, returnBool: modifiers.returnBool))
        case (.vector(let l), .vector(let r)):
            if op.isSetOperator { return .vector(setOperation(op, l, r, modifiers)) }
            return .vector(try vectorVector(op, l, r, modifiers))
        default:
            throw rangeVectorMisuse()
        }
    }

    /// The arithmetic result, or for comparisons the left value and whether it passed.
    static func apply(_ op: BinaryOperator, _ l: Double, _ r: Double) -> (value: Double, keep: Bool) {
        switch op {
        case .add: (l + r, true)
        case .subtract: (l - r, true)
        case .multiply: (l * r, true)
        case .divide: (l / r, true)
        case .modulo: (l.truncatingRemainder(dividingBy: r), true)
        case .power: (power(l, r), true)
        case .equal: (l, l == r)
        case .notEqual: (l, l != r)
        case .greater: (l, l > r)
        case .less: (l, l < r)
        case .greaterOrEqual: (l, l >= r)
        case .lessOrEqual: (l, l <= r)
        case .and, .or, .unless: (l, true)
        }
    }

    private func vectorScalar(
        _ op: BinaryOperator, _ vector: [InstantSample], _ scalar: Double, scalarOnLeft: Bool, returnBool: Bool
    ) throws(SLIEvaluationError) -> [InstantSample] {
        var output: [InstantSample] = []
        for element in vector {
            let (l, r) = scalarOnLeft ? (scalar, element.value) : (element.value, scalar)
            var (value, keep) = Self.apply(op, l, r)
            // A comparison keeps the vector's value, whichever side it is on.
            if op.isComparison { value = element.value }
            if returnBool {
                value = keep ? 1 : 0
                keep = true
            }
            guard keep else { continue }
            let dropName = !op.isComparison || returnBool
            output.append(InstantSample(labels: dropName ? element.labels.droppingMetricName : element.labels, value: value))
        }
        return try unique(output)
    }

    private func signature(_ labels: Labels, _ modifiers: BinaryModifiers) -> Labels {
        if modifiers.on { return labels.keeping(modifiers.matchingLabels ?? []) }
        return labels.removing((modifiers.matchingLabels ?? []) + [Labels.metricNameLabel])
    }

    private func vectorVector(
        _ op: BinaryOperator, _ lhs: [InstantSample], _ rhs: [InstantSample], _ modifiers: BinaryModifiers
    ) throws(SLIEvaluationError) -> [InstantSample] {
        var right: [Labels: InstantSample] = [:]
        for element in rhs {
            let key = signature(element.labels, modifiers)
            guard right[key] == nil else {
                throw SLIEvaluationError(
                    code: .matching,
                    message: "found duplicate series for the match group \(key) on the right hand-side of the operation")
            }
            right[key] = element
        }
        var matchedLeft = Set<Labels>()
        var output: [InstantSample] = []
        for element in lhs {
            let key = signature(element.labels, modifiers)
            guard let other = right[key] else { continue }
            guard matchedLeft.insert(key).inserted else {
                throw SLIEvaluationError(
                    code: .matching,
                    message: "multiple matches for labels \(key): many-to-one matching must be explicit (group_left/group_right)")
            }
            var (value, keep) = Self.apply(op, element.value, other.value)
            if modifiers.returnBool {
                value = keep ? 1 : 0
                keep = true
            }
            guard keep else { continue }
            var labels = element.labels
            if !op.isComparison || modifiers.returnBool { labels = labels.droppingMetricName }
            if let matching = modifiers.matchingLabels {
                labels = modifiers.on ? labels.keeping(matching) : labels.removing(matching)
            }
            output.append(InstantSample(labels: labels, value: value))
        }
        return try unique(output)
    }

    private func setOperation(
        _ op: BinaryOperator, _ lhs: [InstantSample], _ rhs: [InstantSample], _ modifiers: BinaryModifiers
    ) -> [InstantSample] {
        let rightKeys = Set(rhs.map { signature($0.labels, modifiers) })
        switch op {
        case .and:
            return lhs.filter { rightKeys.contains(signature($0.labels, modifiers)) }
        case .unless:
            return lhs.filter { !rightKeys.contains(signature($0.labels, modifiers)) }
        default:
            let leftKeys = Set(lhs.map { signature($0.labels, modifiers) })
            return lhs + rhs.filter { !leftKeys.contains(signature($0.labels, modifiers)) }
        }
    }
}

extension SLIExpression {
    /// The expression without enclosing parentheses.
    var unparenthesized: SLIExpression {
        if case .parenthesized(let inner) = self { return inner.unparenthesized }
        return self
    }
}
