import Assertions
import Testing

@Suite struct SeriesStoreTests {
    @Test func boundedSamplesPerSeriesDropsOldest() {
        var store = SeriesStore(configuration: .init(maxSamplesPerSeries: 3, maxSeries: 10))
        let labels: Labels = ["__name__": "x"]
        for t in 0..<5 { store.append(labels, time: Int64(t) * 250, value: Double(t)) }
        #expect(store.samples(for: labels).map(\.value) == [2, 3, 4])
        #expect(store.droppedSamples == 2)
    }

    @Test func boundedSeriesDropsLeastRecentlyAppended() {
        var store = SeriesStore(configuration: .init(maxSamplesPerSeries: 10, maxSeries: 2))
        store.append(["__name__": "a"], time: 0, value: 1)
        store.append(["__name__": "b"], time: 0, value: 1)
        store.append(["__name__": "a"], time: 250, value: 2)
        store.append(["__name__": "c"], time: 500, value: 1)
        #expect(store.allLabels == [["__name__": "a"], ["__name__": "c"]])
        #expect(store.droppedSeries == 1)
        #expect(store.count == 2)
    }

    @Test func outOfOrderSamplesAreRejected() {
        var store = SeriesStore()
        let labels: Labels = ["__name__": "x"]
        let stored = [
            store.append(labels, time: 1000, value: 1),
            store.append(labels, time: 500, value: 2),
            store.append(labels, time: 1000, value: 3),
            store.append(labels, time: 1000, value: 1),  // an exact repeat is not an error
        ]
        #expect(stored == [true, false, false, false])
        #expect(store.rejectedSamples == 2)
        #expect(store.samples(for: labels) == [Sample(time: 1000, value: 1)])
    }

    @Test func scrapeAddsTargetLabelsUpAndStaleness() throws {
        var store = SeriesStore()
        let first = Exposition(parsing: """
            requests_total{code="200"} 10
            requests_total{code="500"} 1
            build_info{instance="inner"} 1
            """).samples
        store.appendScrape(first, service: "api", instance: "api-1", at: 0)
        let ok: Labels = ["__name__": "requests_total", "code": "200", "service": "api", "instance": "api-1"]
        #expect(store.samples(for: ok) == [Sample(time: 0, value: 10)])
        let info: Labels = ["__name__": "build_info", "exported_instance": "inner", "service": "api", "instance": "api-1"]
        #expect(store.samples(for: info).count == 1)
        let up: Labels = ["__name__": "up", "service": "api", "instance": "api-1"]
        #expect(store.samples(for: up) == [Sample(time: 0, value: 1)])

        // The 500 series disappears: it gets a staleness marker.
        store.appendScrape(Exposition(parsing: "requests_total{code=\"200\"} 12").samples, service: "api", instance: "api-1", at: 250)
        var errors = ok
        errors["code"] = "500"
        #expect(store.samples(for: errors).last?.isStaleMarker == true)

        // A failed scrape: up = 0 and every remaining series goes stale.
        store.appendFailedScrape(service: "api", instance: "api-1", at: 500)
        #expect(store.samples(for: up).map(\.value) == [1, 1, 0])
        #expect(store.samples(for: ok).last?.isStaleMarker == true)

        let evaluator = SLIEvaluator(store: store, lookbackDelta: 5000)
        let expression = try SLIExpression.parse("requests_total")
        #expect(try evaluator.evaluate(expression, at: 400) == .vector([InstantSample(labels: ok, value: 12)]))
        #expect(try evaluator.evaluate(expression, at: 600) == .vector([]))
        #expect(try evaluator.evaluate(SLIExpression.parse("up == 0"), at: 600) == .vector([InstantSample(labels: up, value: 0)]))
    }

    @Test func jsonLinesRoundTrip() throws {
        var store = SeriesStore()
        store.append(["__name__": "up", "service": "auth", "instance": "auth-1"], time: 0, value: 1)
        store.append(["__name__": "up", "service": "auth", "instance": "auth-1"], time: 250, value: 0)
        store.append(["__name__": "odd", "path": "C:\\x \"q\"\n"], time: 0, value: .nan)
        store.append(["__name__": "odd", "path": "C:\\x \"q\"\n"], time: 250, value: .infinity)
        store.append(["__name__": "odd", "path": "C:\\x \"q\"\n"], time: 500, value: -0.125)
        store.append(["__name__": "odd", "path": "C:\\x \"q\"\n"], time: 750, value: Sample.staleMarkerValue)
        let text = store.jsonLines()
        #expect(text == """
            {"metric":{"__name__":"odd","path":"C:\\\\x \\"q\\"\\n"},"values":[[0,"NaN"],[250,"+Inf"],[500,"-0.125"],[750,"stale"]]}
            {"metric":{"__name__":"up","instance":"auth-1","service":"auth"},"values":[[0,"1"],[250,"0"]]}

            """)
        let decoded = try SeriesStore(jsonLines: text)
        #expect(decoded.allSeries == store.allSeries)
        #expect(decoded.samples(for: ["__name__": "odd", "path": "C:\\x \"q\"\n"]).last?.isStaleMarker == true)
    }

    @Test func jsonLinesAcceptsNumbersAndReportsBadLines() throws {
        let store = try SeriesStore(jsonLines: "{\"metric\":{\"__name__\":\"x\"},\"values\":[[1000,2.5],[2000,\"3\"]]}\n\n")
        #expect(store.samples(for: ["__name__": "x"]) == [Sample(time: 1000, value: 2.5), Sample(time: 2000, value: 3)])
        #expect(throws: SeriesDecodingError(line: 2, message: "a sample must be [integer milliseconds, value]")) {
            try SeriesStore(jsonLines: "{\"metric\":{},\"values\":[]}\n{\"metric\":{},\"values\":[[1.5,\"1\"]]}")
        }
        #expect(throws: SeriesDecodingError.self) { try SeriesStore(jsonLines: "{\"metric\":") }
    }

    @Test func labelsDropEmptyValuesAndSort() {
        var labels: Labels = ["b": "2", "a": "1", "c": ""]
        #expect(labels.labels.map(\.name) == ["a", "b"])
        labels["a"] = ""
        #expect(labels == ["b": "2"])
        #expect(Labels(["__name__": "up", "x": "q\""]).description == "up{x=\"q\\\"\"}")
    }
}
