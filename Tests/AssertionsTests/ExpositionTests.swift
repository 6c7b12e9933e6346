import Assertions
import Testing

@Suite struct ExpositionTests {
    static let text = """
        # HELP overlay_logins_total Logins handled.\\nBackslash: \\\\ done.
        # TYPE overlay_logins_total counter
        overlay_logins_total{result="ok",node="sn-1"} 1027
        overlay_logins_total{result="busy", node="sn-1"}   3 1700000000000
        # just a comment
        overlay_queue_depth NaN
        path_info{path="C:\\\\tmp\\\\x",msg="say \\"hi\\"\\nbye"} 1

        temperature_celsius{probe="a",} -Inf
        overlay_ratio +Inf
        # TYPE overlay_latency_seconds histogram
        overlay_latency_seconds_bucket{le="0.1"} 10
        overlay_latency_seconds_bucket{le="0.5"} 20
        overlay_latency_seconds_bucket{le="+Inf"} 20
        overlay_latency_seconds_sum 4.5
        overlay_latency_seconds_count 20
        # TYPE rpc_seconds summary
        rpc_seconds{quantile="0.5"} 0.012
        rpc_seconds{quantile="0.99"} 3e-1
        rpc_seconds_sum 1.7560473e+01
        rpc_seconds_count 2693
        overlay_broken{node="sn-1"
        overlay_noval{node="a"}
        overlay_badval 12abc
        overlay_esc{a="x\\q"} 1
        overlay_latency_seconds_bucket{le="fast"} 3
        overlay_latency_seconds_bucket 3
        9metric 1
        overlay_dup{a="1",a="2"} 1
        overlay_ts 1 notatime
        # TYPE overlay_x flavour
        overlay_last 42
        """

    @Test func samplesAndEscaping() {
        let exposition = Exposition(parsing: Self.text)
        let samples = exposition.samples
        #expect(samples.count == 16)
        #expect(samples[0] == ExpositionSample(name: "overlay_logins_total", labels: ["result": "ok", "node": "sn-1"], value: 1027))
        #expect(samples[1].timestamp == 1_700_000_000_000)
        #expect(samples[1].value == 3)
        #expect(samples[2].name == "overlay_queue_depth" && samples[2].value.isNaN)
        #expect(samples[3].labels["path"] == "C:\\tmp\\x")
        #expect(samples[3].labels["msg"] == "say \"hi\"\nbye")
        #expect(samples[4].labels == ["probe": "a"] && samples[4].value == -.infinity)
        #expect(samples[5].value == .infinity)
        #expect(samples[8].labels["le"] == "+Inf" && samples[8].value == 20)
        #expect(samples[12].value == 0.3)
        #expect(samples[13].value == 17.560473)
        #expect(samples.last?.name == "overlay_last")
        #expect(samples[0].series.metricName == "overlay_logins_total")
    }

    @Test func metadata() {
        let exposition = Exposition(parsing: Self.text)
        #expect(exposition.metadata["overlay_logins_total"]?.type == .counter)
        #expect(exposition.metadata["overlay_logins_total"]?.help == "Logins handled.\nBackslash: \\ done.")
        #expect(exposition.metadata["overlay_latency_seconds"]?.type == .histogram)
        #expect(exposition.metadata["rpc_seconds"]?.type == .summary)
        #expect(exposition.metadata["overlay_x"] == nil)
    }

    @Test func malformedLinesAreReportedAndSkipped() {
        let issues = Exposition(parsing: Self.text).issues
        #expect(issues.map(\.line) == [22, 23, 24, 25, 26, 27, 28, 29, 30, 31])
        #expect(issues[0].reason == "unterminated label set")
        #expect(issues[1].reason == "missing value")
        #expect(issues[2].reason == "invalid value \"12abc\"")
        #expect(issues[3].reason.hasPrefix("invalid escape sequence"))
        #expect(issues[4].reason.contains("invalid \"le\" value \"fast\""))
        #expect(issues[5].reason.contains("without an \"le\" label"))
        #expect(issues[6].reason == "invalid metric name \"9metric\"")
        #expect(issues[7].reason == "duplicate label name a")
        #expect(issues[8].reason == "invalid timestamp \"notatime\"")
        #expect(issues[9].reason.contains("invalid metric type \"flavour\""))
    }

    @Test(arguments: [
        "", "\n\n", "#", "# HELP", "{", "}", "\"", "a{", "a{b", "a{b=", "a{b=\"", "a{b=\"\\", "a 1 2 3", "# TYPE a",
        "a{b=\"c\"}}", "\u{0}", "a\t1", "a{b=\"c\" d=\"e\"} 1",
    ])
    func neverCrashes(text: String) {
        let exposition = Exposition(parsing: text)
        #expect(exposition.samples.count + exposition.issues.count <= text.split(separator: "\n", omittingEmptySubsequences: false).count)
    }

    @Test func tabSeparatedSampleIsRead() {
        #expect(Exposition(parsing: "a\t1").samples.first?.value == 1)
        #expect(Exposition(parsing: "a{b=\"c\" d=\"e\"} 1").issues.count == 1)
    }
}
