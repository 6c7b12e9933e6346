/// The range-vector functions, over one series' samples in `(rangeStart, rangeEnd]`.
enum RangeFunctions {
    /// The function's value, or `nil` when Prometheus gives no element for this series.
    static func apply(_ function: SLIFunction, _ samples: [Sample], rangeStart: Int64, rangeEnd: Int64) -> Double? {
        switch function {
        case .rate:
            extrapolatedRate(samples, rangeStart: rangeStart, rangeEnd: rangeEnd, isCounter: true, isRate: true)
        case .increase:
            extrapolatedRate(samples, rangeStart: rangeStart, rangeEnd: rangeEnd, isCounter: true, isRate: false)
        case .delta:
            extrapolatedRate(samples, rangeStart: rangeStart, rangeEnd: rangeEnd, isCounter: false, isRate: false)
        case .irate:
            instantRate(samples)
        case .avgOverTime:
            samples.isEmpty ? nil : sum(samples) / Double(samples.count)
        case .sumOverTime:
            samples.isEmpty ? nil : sum(samples)
        case .countOverTime:
            samples.isEmpty ? nil : Double(samples.count)
        case .maxOverTime:
            extreme(samples) { $0 > $1 }
        case .minOverTime:
            extreme(samples) { $0 < $1 }
        default:
            nil
        }
    }

    private static func sum(_ samples: [Sample]) -> Double {
        var sum = KahanSum()
        for sample in samples { sum.add(sample.value) }
        return sum.value
    }

    /// The extreme value; a NaN is replaced by any later number, as Prometheus does.
    private static func extreme(_ samples: [Sample], better: (Double, Double) -> Bool) -> Double? {
        guard var best = samples.first?.value else { return nil }
        for sample in samples.dropFirst() where better(sample.value, best) || best.isNaN {
            best = sample.value
        }
        return best
    }

    /// Prometheus' `extrapolatedRate`: the change over the window, corrected for counter
    /// resets, extrapolated to the window's edges.
    ///
    /// The first and last samples are extended towards the window edges by the distance to
    /// the edge if that is less than 1.1 × the average sample interval, else by half an
    /// average interval. For counters, the extension to the start stops where the counter
    /// would reach zero. `rate` divides by the window length in seconds.
    static func extrapolatedRate(
        _ samples: [Sample], rangeStart: Int64, rangeEnd: Int64, isCounter: Bool, isRate: Bool
    ) -> Double? {
        guard samples.count >= 2, let first = samples.first, let last = samples.last else { return nil }
        var result = last.value - first.value
        if isCounter {
            var previous = first.value
            for sample in samples.dropFirst() {
                if sample.value < previous { result += previous }  // a reset: the counter restarted from 0
                previous = sample.value
            }
        }
        var durationToStart = Double(first.time - rangeStart) / 1000
        var durationToEnd = Double(rangeEnd - last.time) / 1000
        let sampledInterval = Double(last.time - first.time) / 1000
        let averageInterval = sampledInterval / Double(samples.count - 1)
        let threshold = averageInterval * 1.1

        if durationToStart >= threshold { durationToStart = averageInterval / 2 }
        if isCounter && result > 0 && first.value >= 0 {
            let durationToZero = sampledInterval * (first.value / result)
            if durationToZero < durationToStart { durationToStart = durationToZero }
        }
        if durationToEnd >= threshold { durationToEnd = averageInterval / 2 }

        var factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval
        if isRate { factor /= Double(rangeEnd - rangeStart) / 1000 }
        return result * factor
    }

    /// Prometheus' `irate`: the per-second change between the last two samples.
    static func instantRate(_ samples: [Sample]) -> Double? {
        guard samples.count >= 2 else { return nil }
        let last = samples[samples.count - 1]
        let previous = samples[samples.count - 2]
        let change = last.value < previous.value ? last.value : last.value - previous.value
        let interval = last.time - previous.time
        guard interval > 0 else { return nil }
        return change / (Double(interval) / 1000)
    }
}

/// One bucket of a classic histogram: cumulative count of observations ≤ `upperBound`.
struct HistogramBucket: Sendable, Hashable {
    var upperBound: Double
    var count: Double
}

/// The `q`-quantile of a classic histogram, as Prometheus' `histogram_quantile` computes it.
///
/// - `q` < 0 gives −Inf, `q` > 1 gives +Inf, NaN gives NaN.
/// - Without a `+Inf` bucket, with fewer than two buckets, or with no observations: NaN.
/// - Buckets with the same bound are merged; counts are made monotonic.
/// - The quantile is interpolated linearly inside the bucket where the rank falls; the lowest
///   bucket is taken to start at 0 (if its bound is ≤ 0 that bound is returned); a rank in the
///   `+Inf` bucket returns the highest finite bound.
func bucketQuantile(_ q: Double, _ input: [HistogramBucket]) -> Double {
    if q.isNaN { return .nan }
    if q < 0 { return -.infinity }
    if q > 1 { return .infinity }
    let sorted = input.sorted { $0.upperBound < $1.upperBound }
    guard let highest = sorted.last, highest.upperBound == .infinity else { return .nan }
    var buckets: [HistogramBucket] = []
    for bucket in sorted {
        if let last = buckets.last, last.upperBound == bucket.upperBound {
            buckets[buckets.count - 1].count += bucket.count
        } else {
            buckets.append(bucket)
        }
    }
    var maximum = -Double.infinity
    for index in buckets.indices {
        if buckets[index].count < maximum { buckets[index].count = maximum }
        maximum = Swift.max(maximum, buckets[index].count)
    }
    guard buckets.count >= 2 else { return .nan }
    let observations = buckets[buckets.count - 1].count
    guard observations > 0 else { return .nan }
    var rank = q * observations
    let b = buckets[..<(buckets.count - 1)].firstIndex { $0.count >= rank } ?? buckets.count - 1
    if b == buckets.count - 1 { return buckets[buckets.count - 2].upperBound }
    if b == 0 && buckets[0].upperBound <= 0 { return buckets[0].upperBound }
    var bucketStart = 0.0
    let bucketEnd = buckets[b].upperBound
    var count = buckets[b].count
    if b > 0 {
        bucketStart = buckets[b - 1].upperBound
        count -= buckets[b - 1].count
        rank -= buckets[b - 1].count
    }
    return bucketStart + (bucketEnd - bucketStart) * (rank / count)
}
