import LabSpec
import Testing

/// The small syntaxes of a plan and where expressions' characters are.
@Suite struct PlanSyntaxTests {
    @Test(arguments: [
        ("1mbit", 1_000_000), ("100kbit", 100_000), ("512KiB/s", 512 * 1024 * 8), ("10MB/s", 80_000_000),
        ("1.5gbit", 1_500_000_000), ("8bit", 8), ("2MiB/s", 2 * 1_048_576 * 8), ("1B/s", 8),
    ] as [(String, Int64)])
    func bandwidths(_ text: String, _ bits: Int64) throws {
        #expect(try Bandwidth.parse(text).get().bitsPerSecond == bits)
    }

    @Test(arguments: ["1mbps", "fast", "0kbit", "", "kbit", "-1mbit"])
    func badBandwidths(_ text: String) {
        #expect(throws: PlanSyntaxError.self) { try Bandwidth.parse(text).get() }
    }

    @Test func instanceReferences() throws {
        let here = SourceLocation(file: "plan.yaml", line: 1, column: 1)
        #expect(try InstanceReference.parse("supernode-1..4", at: here).get().form == .range(service: "supernode", low: 1, high: 4))
        #expect(try InstanceReference.parse("auth", at: here).get().form == .name("auth"))
        #expect(try InstanceReference.parse("my-svc-3", at: here).get().form == .name("my-svc-3"))
        #expect(try InstanceReference.parse("my-svc-2..3", at: here).get().form == .range(service: "my-svc", low: 2, high: 3))
        for bad in ["supernode-0..2", "supernode-4..1", "supernode..4", "a b", "-1..2", ""] {
            #expect(throws: PlanSyntaxError.self, "\(bad)") { try InstanceReference.parse(bad, at: here).get() }
        }
    }

    @Test func ratesAndShares() throws {
        let plan = try PlanFixture.plan(
            """
            duration: 1m
            steps:
              - {at: 1s, for: 1s, malformed-flood: {service: auth, port: 7000, rate: 30000/m}}
              - {at: 2s, for: 1s, login-storm: {service: auth, rate: 250}}
              - {at: 3s, for: 1s, loss: {service: client, probability: 25%}}
            """)
        guard case .malformedFlood(let flood) = plan.steps[0].fault, case .loginStorm(let storm) = plan.steps[1].fault,
            case .loss(let loss) = plan.steps[2].fault
        else {
            Issue.record("unexpected faults: \(plan.steps.map(\.fault.kind))")
            return
        }
        #expect(flood.rate == 500)
        #expect(flood.connections == 8 && flood.payloads == [.garbage])
        #expect(storm.load == .rate(250))
        #expect(loss.probability == 0.25)
    }

    @Test func downtimeIsARangeOrOneDuration() throws {
        let plan = try PlanFixture.plan(
            """
            duration: 2m
            steps:
              - {at: 1s, mass-restart: {service: client, spread: 1s, downtime: 3s}}
              - {at: 9s, mass-restart: {service: supernode, spread: 1s, downtime: 500ms..1m, distribution: normal}}
            """)
        guard case .massRestart(let first) = plan.steps[0].fault, case .massRestart(let second) = plan.steps[1].fault else {
            Issue.record("not mass restarts")
            return
        }
        #expect(first.downtime == DurationRange(exactly: .seconds(3)))
        #expect(second.downtime == DurationRange(min: .milliseconds(500), max: .seconds(60)))
        #expect(second.distribution == .normal)
        #expect(second.downtime.description == "500ms..1m")
    }

    /// The assertion engine's parse errors point into the plan through these locations.
    @Test func expressionCharactersKnowWhereTheyAre() throws {
        let plan = try PlanFixture.plan(
            """
            duration: 1m
            slos:
              - name: plain
                expr: sum(up) >= 3
                always:
              - name: quoted
                expr: "rate(x[1m]) > 0"
                always:
              - name: block
                expr: |
                  sum(a)
                    / sum(b) > 0.5
                always:
            """)
        let plain = plan.slos[0].expr, quoted = plan.slos[1].expr, block = plan.slos[2].expr
        #expect(plain.location(ofOffset: 0).description == "plan.yaml:4:11")
        #expect(plain.location(ofOffset: 8).description == "plan.yaml:4:19")
        #expect(quoted.location(ofOffset: 5).description == "plan.yaml:7:17")
        #expect(block.text == "sum(a)\n  / sum(b) > 0.5\n")
        #expect(block.location(ofOffset: 0).description == "plan.yaml:11:7")
        // Offset 9 is the second line's "/" after two spaces.
        #expect(block.location(ofOffset: 9).description == "plan.yaml:12:9")
    }

    @Test func unknownKeysEverywhereGetSuggestions() {
        let problems = PlanFixture.problems(
            """
            duration: 1m
            steady-state: {timout: 10s}
            steps:
              - {at: 1s, latency: {service: auth, delya: 5ms, delay: 5ms}}
              - at: 2s
                churn:
                  service: client
                  window: 10s
                  session: {exponential: {mena: 1s}}
                  downtime: {exponential: {mean: 1s}}
            probes:
              - {name: p, tcp: {service: auth, prot: 7000, port: 7000}}
            """)
        #expect(
            problems == [
                "2:16: error: unknown key \"timout\" in steady-state; did you mean \"timeout\"?",
                "4:39: error: unknown key \"delya\" in steps[0].latency; did you mean \"delay\"?",
                "9:31: error: unknown key \"mena\" in steps[1].churn.session.exponential; did you mean \"mean\"?",
                "9:30: error: steps[1].churn.session.exponential has no \"mean\" (as 30s)",
                "12:36: error: unknown key \"prot\" in probes[0].tcp; did you mean \"port\"?",
            ].sorted(by: Self.byPosition))
    }

    private static func byPosition(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ":").prefix(2).map { Int($0)! }, y = b.split(separator: ":").prefix(2).map { Int($0)! }
        return (x[0], x[1]) < (y[0], y[1])
    }
}
