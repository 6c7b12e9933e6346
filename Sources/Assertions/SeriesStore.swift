/// One point of a series: a time in milliseconds since the run started, and a value.
public struct Sample: Sendable, Hashable {
    /// Milliseconds since the start of the run.
    public var time: Int64
    /// The value; may be NaN or ±Inf, or the staleness marker (see ``isStaleMarker``).
    public var value: Double

    /// Creates a sample.
    public init(time: Int64, value: Double) {
        self.time = time
        self.value = value
    }

    /// The NaN that Prometheus writes when a series disappears (`StaleNaN`).
    public static let staleMarkerValue = Double(bitPattern: 0x7ff0_0000_0000_0002)

    /// Whether this sample is a staleness marker rather than a value.
    public var isStaleMarker: Bool { value.bitPattern == Sample.staleMarkerValue.bitPattern }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.time == rhs.time && (lhs.value == rhs.value || lhs.value.bitPattern == rhs.value.bitPattern)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(time)
        hasher.combine(value.isNaN ? Double.nan.bitPattern : value.bitPattern)
    }
}

/// A series: its labels and its samples in time order.
public struct TimeSeries: Sendable, Hashable {
    /// The series' labels, including `__name__` when it has one.
    public var labels: Labels
    /// The samples, oldest first, strictly increasing in time.
    public var samples: [Sample]

    /// Creates a series.
    public init(labels: Labels, samples: [Sample]) {
        self.labels = labels
        self.samples = samples
    }
}

/// The samples of one series, oldest first, bounded: appending past the bound drops the oldest.
struct SampleBuffer: Sendable {
    private var storage: [Sample] = []
    private var head = 0

    var count: Int { storage.count - head }
    var last: Sample? { storage.last }
    var elements: ArraySlice<Sample> { storage[head...] }

    /// Appends and returns how many old samples were dropped to stay within `limit`.
    mutating func append(_ sample: Sample, limit: Int) -> Int {
        storage.append(sample)
        var dropped = 0
        while count > limit {
            head += 1
            dropped += 1
        }
        if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return dropped
    }

    /// The index (into ``elements``' indices) of the first sample with time > `time`.
    func firstIndex(after time: Int64) -> Int {
        var low = head
        var high = storage.count
        while low < high {
            let mid = (low + high) / 2
            if storage[mid].time <= time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The samples with `lower < time <= upper`.
    func samples(after lower: Int64, through upper: Int64) -> ArraySlice<Sample> {
        let start = firstIndex(after: lower)
        let end = Swift.max(start, firstIndex(after: upper))
        return storage[start..<end]
    }

    /// The last sample with time in `(lower, upper]`, if any.
    func latest(after lower: Int64, through upper: Int64) -> Sample? {
        let end = firstIndex(after: upper)
        guard end > head, storage[end - 1].time > lower else { return nil }
        return storage[end - 1]
    }
}

/// An in-memory store of series, bounded in series and in samples per series.
///
/// Series are keyed by metric name and sorted label set. Times are milliseconds since the
/// start of the run. Within a series, time must increase: a sample at or before the last one
/// is rejected (counted in ``rejectedSamples``) unless it repeats the last sample exactly.
/// When a series exceeds ``Configuration/maxSamplesPerSeries`` its oldest sample is dropped;
/// when a new series would exceed ``Configuration/maxSeries`` the series that was appended to
/// least recently is dropped. Both are counted.
///
/// ``appendScrape(_:service:instance:at:)`` and ``appendFailedScrape(service:instance:at:)``
/// behave as a Prometheus scrape: they add the target labels, record `up`, and write
/// staleness markers for series that disappeared, so instant selectors stop seeing them at
/// once instead of after the lookback delta.
public struct SeriesStore: Sendable {
    /// The store's bounds.
    public struct Configuration: Sendable, Hashable {
        /// The most samples kept per series; default 100 000 (≈ 7 hours at 250 ms).
        public var maxSamplesPerSeries: Int
        /// The most series kept; default 50 000.
        public var maxSeries: Int

        /// Creates a configuration; both bounds must be at least 1.
        public init(maxSamplesPerSeries: Int = 100_000, maxSeries: Int = 50_000) {
            precondition(maxSamplesPerSeries >= 1 && maxSeries >= 1, "bounds must be at least 1")
            self.maxSamplesPerSeries = maxSamplesPerSeries
            self.maxSeries = maxSeries
        }
    }

    /// The bounds in force.
    public let configuration: Configuration
    /// Samples dropped because their series was full (the oldest go first).
    public private(set) var droppedSamples = 0
    /// Series dropped because the store held ``Configuration/maxSeries`` series.
    public private(set) var droppedSeries = 0
    /// Samples refused because they were not newer than their series' last sample.
    public private(set) var rejectedSamples = 0

    /// Series by metric name (`""` for none), then by full label set.
    private var series: [String: [Labels: SampleBuffer]] = [:]
    private var seriesCount = 0
    /// The series each target exposed at its last scrape, for staleness markers.
    private var lastScraped: [Labels: Set<Labels>] = [:]

    /// Creates an empty store.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The number of series held.
    public var count: Int { seriesCount }

    /// The label sets of every series held, sorted.
    public var allLabels: [Labels] {
        series.values.flatMap(\.keys).sorted()
    }

    /// Appends one sample to the series `labels`; returns whether it was stored.
    @discardableResult
    public mutating func append(_ labels: Labels, time: Int64, value: Double) -> Bool {
        let name = labels.metricName ?? ""
        if let last = series[name]?[labels]?.last {
            guard time > last.time else {
                if !(time == last.time && Sample(time: time, value: value) == last) { rejectedSamples += 1 }
                return false
            }
        } else {
            if seriesCount >= configuration.maxSeries { evictLeastRecentlyAppended() }
            seriesCount += 1
        }
        droppedSamples += series[name, default: [:]][labels, default: SampleBuffer()]
            .append(Sample(time: time, value: value), limit: configuration.maxSamplesPerSeries)
        return true
    }

    /// Records a successful scrape of `instance` of `service` at `time`.
    ///
    /// Every sample gets the labels `service` and `instance` (a scraped label of the same name
    /// is kept as `exported_service` / `exported_instance`, as Prometheus does without
    /// `honor_labels`); its own timestamp is ignored, the scrape time is used. Records
    /// `up{service, instance} = 1`, and a staleness marker for every series this target
    /// exposed last time but not now.
    public mutating func appendScrape(
        _ samples: [ExpositionSample], service: String, instance: String, at time: Int64
    ) {
        let target: Labels = ["service": service, "instance": instance]
        var seen = Set<Labels>()
        for sample in samples {
            var labels = sample.series
            for targetLabel in target {
                if let clash = labels[targetLabel.name] { labels["exported_" + targetLabel.name] = clash }
                labels[targetLabel.name] = targetLabel.value
            }
            if seen.insert(labels).inserted {
                append(labels, time: time, value: sample.value)
            }
        }
        for gone in lastScraped[target, default: []] where !seen.contains(gone) {
            append(gone, time: time, value: Sample.staleMarkerValue)
        }
        lastScraped[target] = seen
        append(Self.upLabels(target), time: time, value: 1)
    }

    /// Records a failed scrape of `instance` of `service` at `time`: `up = 0`, and a staleness
    /// marker for every series the target exposed at its last successful scrape.
    public mutating func appendFailedScrape(service: String, instance: String, at time: Int64) {
        let target: Labels = ["service": service, "instance": instance]
        for gone in lastScraped[target, default: []] {
            append(gone, time: time, value: Sample.staleMarkerValue)
        }
        lastScraped[target] = []
        append(Self.upLabels(target), time: time, value: 0)
    }

    private static func upLabels(_ target: Labels) -> Labels {
        var labels = target
        labels[Labels.metricNameLabel] = "up"
        return labels
    }

    /// The samples of the series with exactly `labels`, oldest first (staleness markers included).
    public func samples(for labels: Labels) -> [Sample] {
        guard let buffer = series[labels.metricName ?? ""]?[labels] else { return [] }
        return Array(buffer.elements)
    }

    /// Every series, sorted by labels, with all its samples.
    public var allSeries: [TimeSeries] {
        allLabels.map { TimeSeries(labels: $0, samples: samples(for: $0)) }
    }

    /// The buffers of the series whose labels satisfy every matcher.
    func select(_ matchers: [LabelMatcher]) -> [(labels: Labels, buffer: SampleBuffer)] {
        var result: [(labels: Labels, buffer: SampleBuffer)] = []
        let nameMatcher = matchers.first { $0.name == Labels.metricNameLabel && $0.kind == .equal }
        let candidates: [[Labels: SampleBuffer]] =
            if let nameMatcher { series[nameMatcher.value].map { [$0] } ?? [] } else { Array(series.values) }
        for group in candidates {
            for (labels, buffer) in group where matchers.allSatisfy({ $0.matches(labels) }) {
                result.append((labels, buffer))
            }
        }
        return result
    }

    private mutating func evictLeastRecentlyAppended() {
        var oldest: (name: String, labels: Labels, time: Int64)?
        for (name, group) in series {
            for (labels, buffer) in group {
                let time = buffer.last?.time ?? .min
                if oldest == nil || time < oldest!.time || (time == oldest!.time && labels < oldest!.labels) {
                    oldest = (name, labels, time)
                }
            }
        }
        guard let oldest else { return }
        series[oldest.name]?[oldest.labels] = nil
        if series[oldest.name]?.isEmpty == true { series[oldest.name] = nil }
        seriesCount -= 1
        droppedSeries += 1
    }
}
