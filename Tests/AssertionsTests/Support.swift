import Assertions
import Testing

/// Builds a store from `(labels, [(ms, value)])` pairs.
func makeStore(_ series: [(Labels, [(Int64, Double)])]) -> SeriesStore {
    var store = SeriesStore()
    for (labels, samples) in series {
        for (time, value) in samples { store.append(labels, time: time, value: value) }
    }
    return store
}

/// Samples every `every` ms from `start`, one per value.
func evenly(start: Int64 = 0, every: Int64, _ values: [Double]) -> [(Int64, Double)] {
    values.enumerated().map { (start + Int64($0.offset) * every, $0.element) }
}

/// Parses and evaluates at `time`, failing the test on errors.
func eval(
    _ text: String, _ store: SeriesStore, at time: Int64, lookback: Int64 = 300_000,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> SLIValue {
    let expression = try SLIExpression.parse(text)
    return try SLIEvaluator(store: store, lookbackDelta: lookback).evaluate(expression, at: time)
}

/// The vector result as `[labels description: value]`.
func vectorResult(_ value: SLIValue) -> [String: Double] {
    guard case .vector(let vector) = value else { return ["<scalar>": .nan] }
    return Dictionary(uniqueKeysWithValues: vector.map { ($0.labels.description, $0.value) })
}

func scalarResult(_ value: SLIValue) -> Double? {
    if case .scalar(let v) = value { return v }
    return nil
}

/// The single element's value of a one-element vector.
func single(_ value: SLIValue) -> Double? {
    guard case .vector(let vector) = value, vector.count == 1 else { return nil }
    return vector[0].value
}

func approximately(_ a: Double?, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance * max(1, abs(b))
}
