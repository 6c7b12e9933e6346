import Assertions
import Testing

@Suite struct SelectorTests {
    static let store = makeStore([
        (["__name__": "c", "i": "a"], evenly(start: 10_000, every: 10_000, [10, 20, 30, 40, 50, 60])),
        (["__name__": "c", "i": "b"], evenly(start: 10_000, every: 10_000, [5, 15, 25, 35, 45, 55])),
        (["__name__": "c", "i": "reset"], evenly(start: 10_000, every: 10_000, [10, 20, 30, 5, 15, 25])),
        (["__name__": "c", "i": "drop"], evenly(start: 10_000, every: 10_000, [10, 20, 30, 40, 50, 5])),
        (["__name__": "c", "i": "late"], evenly(start: 40_000, every: 10_000, [100, 110, 120])),
        (["__name__": "d", "i": "a"], [(60_000, 7)]),
    ])

    @Test(arguments: [
        ("c{i=~\"a|b\"}", ["c{i=\"a\"}": 60.0, "c{i=\"b\"}": 55]),
        ("c{i!~\"a|b|late\"}", ["c{i=\"reset\"}": 25, "c{i=\"drop\"}": 5]),
        ("c{i!=\"a\", i!=\"b\", i!=\"drop\"}", ["c{i=\"reset\"}": 25, "c{i=\"late\"}": 120]),
        ("{__name__=~\"c|d\", i=\"a\"}", ["c{i=\"a\"}": 60, "d{i=\"a\"}": 7]),
        ("c{i=\"a\"} offset 20s", ["c{i=\"a\"}": 40]),
        ("c{i=\"nope\"}", [:]),
    ] as [(String, [String: Double])])
    func selectors(text: String, expected: [String: Double]) throws {
        #expect(vectorResult(try eval(text, Self.store, at: 60_000)) == expected)
    }

    @Test func lookbackIsLeftOpen() throws {
        #expect(single(try eval("c{i=\"a\"}", Self.store, at: 62_000, lookback: 5000)) == 60)
        #expect(single(try eval("c{i=\"a\"}", Self.store, at: 64_999, lookback: 5000)) == 60)
        #expect(vectorResult(try eval("c{i=\"a\"}", Self.store, at: 65_000, lookback: 5000)) == [:])
        #expect(vectorResult(try eval("c{i=\"a\"}", Self.store, at: 9_999)) == [:])
    }

    @Test func rangeIsLeftOpen() throws {
        // (10s, 70s] excludes the sample at exactly 10s.
        #expect(single(try eval("count_over_time(c{i=\"a\"}[1m])", Self.store, at: 70_000)) == 5)
        #expect(single(try eval("count_over_time(c{i=\"a\"}[1m])", Self.store, at: 60_000)) == 6)
    }

    @Test func evaluateRange() throws {
        let evaluator = SLIEvaluator(store: Self.store, lookbackDelta: 5000)
        let matrix = try evaluator.evaluateRange(SLIExpression.parse("c{i=\"a\"}"), from: 10_000, to: 37_500, step: 7500)
        #expect(matrix == [
            TimeSeries(labels: ["__name__": "c", "i": "a"], samples: [
                Sample(time: 10_000, value: 10), Sample(time: 32_500, value: 30),
            ])
        ])
        let times = try evaluator.evaluateRange(SLIExpression.parse("time()"), from: 0, to: 500, step: 250)
        #expect(times == [TimeSeries(labels: Labels(), samples: [
            Sample(time: 0, value: 0), Sample(time: 250, value: 0.25), Sample(time: 500, value: 0.5),
        ])])
        #expect(throws: SLIEvaluationError.self) {
            try evaluator.evaluateRange(SLIExpression.parse("time()"), from: 0, to: 500, step: 0)
        }
    }
}

@Suite struct RateTests {
    static let store = SelectorTests.store

    @Test(arguments: [
        // 6 samples 10s apart, window (0, 60]: start gap 10s < 1.1 × 10s, extrapolated 10s; 50 × 60/50.
        ("increase(c{i=\"a\"}[1m])", 60_000, 60.0),
        ("rate(c{i=\"a\"}[1m])", 60_000, 1.0),
        // First value 5: the zero point (5s before the first sample) is nearer than the edge.
        ("increase(c{i=\"b\"}[1m])", 60_000, 55.0),
        ("rate(c{i=\"b\"}[1m])", 60_000, 55.0 / 60),
        // Counter reset 30 → 5: 15 + 30 = 45 raw, × 60/50.
        ("increase(c{i=\"reset\"}[1m])", 60_000, 54.0),
        ("rate(c{i=\"reset\"}[1m])", 60_000, 0.9),
        ("increase(c{i=\"drop\"}[1m])", 60_000, 54.0),
        // Window (20s, 80s]: samples 30…60; end gap 20s ≥ 11s, so only half an interval (5s).
        ("increase(c{i=\"a\"}[1m])", 80_000, 45.0),
        ("rate(c{i=\"a\"}[1m])", 80_000, 0.75),
        // Start gap 40s ≥ 11s: extrapolate by 5s only; 20 × 25/20.
        ("increase(c{i=\"late\"}[1m])", 60_000, 25.0),
        // delta: no reset handling, no zero clamp: 15 × 60/50.
        ("delta(c{i=\"reset\"}[1m])", 60_000, 18.0),
        ("irate(c{i=\"a\"}[1m])", 60_000, 1.0),
        ("irate(c{i=\"drop\"}[1m])", 60_000, 0.5),
        ("avg_over_time(c{i=\"a\"}[1m])", 60_000, 35.0),
        ("sum_over_time(c{i=\"a\"}[1m])", 60_000, 210.0),
        ("max_over_time(c{i=\"reset\"}[1m])", 60_000, 30.0),
        ("min_over_time(c{i=\"reset\"}[1m])", 60_000, 5.0),
        ("count_over_time(c{i=\"a\"}[1m] offset 30s)", 60_000, 3.0),
    ] as [(String, Int64, Double)])
    func rangeFunctions(text: String, time: Int64, expected: Double) throws {
        let result = try eval(text, Self.store, at: time)
        #expect(approximately(single(result), expected), "\(text) = \(String(describing: single(result)))")
        // Functions drop the metric name.
        guard case .vector(let vector) = result else { return }
        #expect(vector.allSatisfy { $0.labels.metricName == nil })
    }

    @Test func fewerThanTwoSamplesGiveNothing() throws {
        #expect(vectorResult(try eval("rate(c{i=\"a\"}[5s])", Self.store, at: 60_000)) == [:])
        #expect(vectorResult(try eval("irate(c{i=\"a\"}[5s])", Self.store, at: 60_000)) == [:])
    }

    @Test func sameLabelsAfterDroppingNameIsAnError() {
        #expect(throws: SLIEvaluationError.self) {
            try eval("max_over_time({__name__=~\"c|d\", i=\"a\"}[1m])", Self.store, at: 60_000)
        }
    }
}

@Suite struct HistogramQuantileTests {
    static let store = makeStore([
        (["__name__": "h_bucket", "le": "0.1", "service": "a"], [(0, 10)]),
        (["__name__": "h_bucket", "le": "0.5", "service": "a"], [(0, 20)]),
        (["__name__": "h_bucket", "le": "+Inf", "service": "a"], [(0, 20)]),
        (["__name__": "h_bucket", "le": "0.1", "service": "b"], [(0, 10)]),
        (["__name__": "h_bucket", "le": "0.5", "service": "b"], [(0, 20)]),
        (["__name__": "h_bucket", "le": "+Inf", "service": "b"], [(0, 30)]),
        (["__name__": "n_bucket", "le": "0.1"], [(0, 1)]),
        (["__name__": "n_bucket", "le": "0.5"], [(0, 2)]),
        (["__name__": "m_bucket", "le": "-1"], [(0, 5)]),
        (["__name__": "m_bucket", "le": "0"], [(0, 10)]),
        (["__name__": "m_bucket", "le": "+Inf"], [(0, 10)]),
        (["__name__": "m_bucket"], [(0, 99)]),  // no le: ignored
        (["__name__": "z_bucket", "le": "1"], [(0, 0)]),
        (["__name__": "z_bucket", "le": "+Inf"], [(0, 0)]),
    ])

    @Test(arguments: [
        // rank 10 falls at the top of the first bucket: 0 + 0.1 × 10/10.
        ("histogram_quantile(0.5, h_bucket{service=\"a\"})", 0.1),
        // rank 18: second bucket, 0.1 + 0.4 × 8/10.
        ("histogram_quantile(0.9, h_bucket{service=\"a\"})", 0.42),
        // Lowest bucket: interpolated from 0: 0.1 × 5/10.
        ("histogram_quantile(0.25, h_bucket{service=\"a\"})", 0.05),
        // rank 27 of 30 is in the +Inf bucket: the highest finite bound.
        ("histogram_quantile(0.9, h_bucket{service=\"b\"})", 0.5),
        ("histogram_quantile(1.5, h_bucket{service=\"a\"})", .infinity),
        ("histogram_quantile(-1, h_bucket{service=\"a\"})", -.infinity),
        // Lowest bound ≤ 0 is returned as is.
        ("histogram_quantile(0.2, m_bucket)", -1),
        // Aggregated: 20, 40, 50 per le; rank 45 of 50 → +Inf bucket → 0.5.
        ("histogram_quantile(0.9, sum by (le) (h_bucket))", 0.5),
        // rank 25: 0.1 + 0.4 × 5/20.
        ("histogram_quantile(0.5, sum by (le) (h_bucket))", 0.2),
    ] as [(String, Double)])
    func quantiles(text: String, expected: Double) throws {
        let value = single(try eval(text, Self.store, at: 0))
        #expect(approximately(value, expected) || value == expected, "\(text) = \(String(describing: value))")
    }

    @Test func nanCases() throws {
        // No +Inf bucket.
        #expect(single(try eval("histogram_quantile(0.5, n_bucket)", Self.store, at: 0))?.isNaN == true)
        // No observations.
        #expect(single(try eval("histogram_quantile(0.5, z_bucket)", Self.store, at: 0))?.isNaN == true)
        #expect(single(try eval("histogram_quantile(NaN, m_bucket)", Self.store, at: 0))?.isNaN == true)
    }

    @Test func groupsByLabelsOtherThanLe() throws {
        let result = vectorResult(try eval("histogram_quantile(0.9, h_bucket)", Self.store, at: 0))
        #expect(result.keys.sorted() == ["{service=\"a\"}", "{service=\"b\"}"])
        #expect(approximately(result["{service=\"a\"}"], 0.42))
    }
}

@Suite struct AggregationTests {
    static let store = makeStore([
        (["__name__": "up", "service": "auth", "instance": "auth-1"], [(0, 1)]),
        (["__name__": "up", "service": "auth", "instance": "auth-2"], [(0, 0)]),
        (["__name__": "up", "service": "sn", "instance": "sn-1"], [(0, 1)]),
        (["__name__": "load", "service": "sn", "instance": "sn-1"], [(0, .nan)]),
        (["__name__": "load", "service": "sn", "instance": "sn-2"], [(0, 4)]),
    ])

    @Test(arguments: [
        ("sum by (service) (up)", ["{service=\"auth\"}": 1.0, "{service=\"sn\"}": 1]),
        ("sum(up) by (service)", ["{service=\"auth\"}": 1, "{service=\"sn\"}": 1]),
        ("count without (instance) (up)", ["{service=\"auth\"}": 2, "{service=\"sn\"}": 1]),
        ("count(up) without (instance)", ["{service=\"auth\"}": 2, "{service=\"sn\"}": 1]),
        ("min by (service) (up)", ["{service=\"auth\"}": 0, "{service=\"sn\"}": 1]),
        ("max by (service) (up)", ["{service=\"auth\"}": 1, "{service=\"sn\"}": 1]),
        ("avg by (service) (up)", ["{service=\"auth\"}": 0.5, "{service=\"sn\"}": 1]),
        ("sum(up)", ["{}": 2]),
        ("count(up == 1)", ["{}": 2]),
        ("max(load)", ["{}": 4]),
        ("min(load)", ["{}": 4]),
        ("sum without (service, instance) (up)", ["{}": 2]),
        ("sum by (__name__) (up)", ["up": 2]),
        ("sum(nothing)", [:]),
    ] as [(String, [String: Double])])
    func aggregations(text: String, expected: [String: Double]) throws {
        #expect(vectorResult(try eval(text, Self.store, at: 0)) == expected)
    }

    @Test func averageOfAll() throws {
        #expect(approximately(single(try eval("avg(up)", Self.store, at: 0)), 2.0 / 3))
    }
}

@Suite struct BinaryOperatorTests {
    static let store = makeStore([
        (["__name__": "errors", "service": "api", "code": "500"], [(0, 5)]),
        (["__name__": "errors", "service": "web", "code": "500"], [(0, 1)]),
        (["__name__": "requests", "service": "api"], [(0, 100)]),
        (["__name__": "requests", "service": "web"], [(0, 50)]),
        (["__name__": "x", "service": "api"], [(0, 3)]),
        (["__name__": "x", "service": "web"], [(0, 1)]),
        (["__name__": "y", "service": "api"], [(0, 2)]),
        (["__name__": "y", "service": "web"], [(0, 1)]),
        (["__name__": "y", "service": "db"], [(0, 7)]),
    ])

    @Test(arguments: [
        ("x * 2", ["{service=\"api\"}": 6.0, "{service=\"web\"}": 2]),
        ("2 - x", ["{service=\"api\"}": -1, "{service=\"web\"}": 1]),
        ("x ^ 2 % 4", ["{service=\"api\"}": 1, "{service=\"web\"}": 1]),
        ("x > 1", ["x{service=\"api\"}": 3]),
        ("x > bool 1", ["{service=\"api\"}": 1, "{service=\"web\"}": 0]),
        ("1 < x", ["x{service=\"api\"}": 3]),
        ("1 >= bool x", ["{service=\"api\"}": 0, "{service=\"web\"}": 1]),
        ("x + y", ["{service=\"api\"}": 5, "{service=\"web\"}": 2]),
        ("x == y", ["x{service=\"web\"}": 1]),
        ("x != bool y", ["{service=\"api\"}": 1, "{service=\"web\"}": 0]),
        ("x >= y", ["x{service=\"api\"}": 3, "x{service=\"web\"}": 1]),
        ("errors / requests", [:]),
        ("errors / ignoring(code) requests", ["{service=\"api\"}": 0.05, "{service=\"web\"}": 0.02]),
        ("errors / on(service) requests", ["{service=\"api\"}": 0.05, "{service=\"web\"}": 0.02]),
        ("errors > ignoring(code) requests / 25", ["errors{service=\"api\"}": 5]),
        ("sum by (service) (errors) / requests", ["{service=\"api\"}": 0.05, "{service=\"web\"}": 0.02]),
        ("x and y", ["x{service=\"api\"}": 3, "x{service=\"web\"}": 1]),
        ("y unless x", ["y{service=\"db\"}": 7]),
        ("x or y", ["x{service=\"api\"}": 3, "x{service=\"web\"}": 1, "y{service=\"db\"}": 7]),
        ("x and on() y{service=\"db\"}", ["x{service=\"api\"}": 3, "x{service=\"web\"}": 1]),
        ("y > 1 and x", ["y{service=\"api\"}": 2]),
        ("-x", ["{service=\"api\"}": -3, "{service=\"web\"}": -1]),
        ("abs(-x)", ["{service=\"api\"}": 3, "{service=\"web\"}": 1]),
        ("clamp_max(x, 2)", ["{service=\"api\"}": 2, "{service=\"web\"}": 1]),
        ("clamp_min(x, 2)", ["{service=\"api\"}": 3, "{service=\"web\"}": 2]),
        ("vector(2) * 3", ["{}": 6]),
        ("x * on() group(y)", [:]),
    ] as [(String, [String: Double])])
    func operators(text: String, expected: [String: Double]) throws {
        if text.contains("group(") {
            #expect(throws: SLIParseError.self) { try SLIExpression.parse(text) }
            return
        }
        #expect(vectorResult(try eval(text, Self.store, at: 0)) == expected)
    }

    @Test func scalarFunctions() throws {
        #expect(scalarResult(try eval("scalar(x)", Self.store, at: 0))?.isNaN == true)
        #expect(scalarResult(try eval("scalar(x{service=\"api\"}) * 2", Self.store, at: 0)) == 6)
        #expect(scalarResult(try eval("time()", Self.store, at: 1500)) == 1.5)
    }

    @Test func matchingErrors() throws {
        do {
            _ = try eval("x / on() y", Self.store, at: 0)
            Issue.record("expected an error")
        } catch let error as SLIEvaluationError {
            #expect(error.code == .matching)
            #expect(error.message.contains("duplicate series"))
        }
        do {
            _ = try eval("x / on() vector(1)", Self.store, at: 0)
            Issue.record("expected an error")
        } catch let error as SLIEvaluationError {
            #expect(error.code == .matching)
            #expect(error.message.contains("many-to-one matching must be explicit"))
        }
    }
}
