import Prometheus

/// Bucket bounds for request latencies, 1 ms to 30 s.
let latencyBuckets: [Duration] = [
    .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
    .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
    .seconds(5), .seconds(10), .seconds(30),
]

extension PrometheusCollectorRegistry {
    private func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func counter(_ name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: descriptor(name, help), labels: labels)
    }

    func gauge(_ name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: descriptor(name, help), labels: labels)
    }

    func durationHistogram(_ name: String, help: String) -> DurationHistogram {
        makeDurationHistogram(descriptor: descriptor(name, help), buckets: latencyBuckets)
    }
}

/// Counters of one metric name, one per value of a single label, all created up front so every
/// series exists (at zero) from the first scrape on.
struct LabelledCounters: Sendable {
    private let counters: [String: Counter]

    init(_ registry: PrometheusCollectorRegistry, name: String, label: String, values: [String], help: String) {
        var counters: [String: Counter] = [:]
        for value in values {
            counters[value] = registry.counter(name, labels: [(label, value)], help: help)
        }
        self.counters = counters
    }

    func increment(_ value: String, by amount: Int64 = 1) {
        counters[value]?.increment(by: amount)
    }
}

/// Metrics every role serves.
struct CommonMetrics: Sendable {
    let malformedFrames: LabelledCounters

    init(_ registry: PrometheusCollectorRegistry, role: String) {
        malformedFrames = LabelledCounters(
            registry,
            name: "stormlab_malformed_frames_total",
            label: "reason",
            values: [
                "oversized_frame", "empty_frame", "unknown_kind", "truncated_field", "trailing_bytes",
                "invalid_utf8", "too_many_elements", "invalid_value", "unexpected_message",
            ],
            help: "Frames that could not be decoded or were not expected, by reason."
        )
        registry.gauge("stormlab_role_info", labels: [("role", role)], help: "The role this process plays.").set(to: 1)
    }
}
