import Assertions
import Testing

@Suite struct SLOTests {
    // Steps of 250 ms from 0 to 3500 (15 points); the SLI is a latency, higher is worse.
    //   time:   0    250  500  750  1000 1250 1500 1750 2000 2250 2500 2750 3000 3250 3500
    //   holds:  T    T    T    F    F    F    F    T    F    T    T    T    T    T    T
    static let condition = ConditionSeries(
        step: 250,
        holds: [true, true, true, false, false, false, false, true, false, true, true, true, true, true, true],
        values: [0.1, 0.1, 0.1, 0.9, 1.2, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1],
        worst: .highest)

    @Test func recoversWithExactTimeToRecover() {
        // After R = 750 the first 1 s holding run starts at 2250 (1750 is cut short at 2000).
        let verdict = SLO(name: "latency", form: .recovers(within: 2000, hold: 1000), from: 750, to: 3500)
            .evaluate(Self.condition)
        #expect(verdict.passed)
        #expect(verdict.figures.timeToRecover == 1500)
        #expect(verdict.figures.worstValue == 1.2)
        #expect(verdict.figures.worstTime == 1000)
        #expect(verdict.figures.violations == [
            ViolationInterval(start: 750, end: 1500), ViolationInterval(start: 2000, end: 2000),
        ])
        #expect(verdict.figures.steps == 12)
        #expect(abs(verdict.figures.badFraction - 5.0 / 12) < 1e-12)
        #expect(
            verdict.summary
                == "latency: PASS recovers within 2s hold 1s — recovered after 1.500s; worst 1.2 at 1.000s; 2 violations [0.750s, 1.500s], [2.000s, 2.000s]"
        )
    }

    @Test func recoversTooLate() {
        let verdict = SLO(name: "latency", form: .recovers(within: 1000, hold: 1000), from: 750, to: 3500)
            .evaluate(Self.condition)
        #expect(!verdict.passed)
        #expect(verdict.figures.timeToRecover == 1500)
    }

    @Test func recoversNeedsTheWholeHoldInTheWindow() {
        // 2250 + 2000 = 4250 lies past the last step: no recovery observed.
        let verdict = SLO(name: "latency", form: .recovers(within: 5000, hold: 2000), from: 750, to: 3500)
            .evaluate(Self.condition)
        #expect(!verdict.passed)
        #expect(verdict.figures.timeToRecover == nil)
        #expect(verdict.summary.hasPrefix("latency: FAIL recovers within 5s hold 2s — did not recover"))
        // Hold 0 means: the first step that holds.
        let immediate = SLO(name: "l", form: .recovers(within: 1000, hold: 0), from: 750, to: 3500).evaluate(Self.condition)
        #expect(immediate.figures.timeToRecover == 1000)
        #expect(immediate.passed)
    }

    @Test func always() {
        let good = SLO(name: "a", form: .always, from: 0, to: 500).evaluate(Self.condition)
        #expect(good.passed && good.figures.violations.isEmpty && good.figures.steps == 3)
        let bad = SLO(name: "a", form: .always, from: 0, to: 3500).evaluate(Self.condition)
        #expect(!bad.passed)
        #expect(bad.figures.violations.map(\.start) == [750, 2000])
        #expect(bad.figures.worstValue == 1.2 && bad.figures.worstTime == 1000)
        let empty = SLO(name: "a", form: .always, from: 10_000, to: 20_000).evaluate(Self.condition)
        #expect(!empty.passed && empty.figures.steps == 0)
    }

    @Test func eventually() {
        let met = SLO(name: "e", form: .eventually(within: 1000), from: 750, to: 3500).evaluate(Self.condition)
        #expect(met.passed && met.figures.timeToRecover == 1000)
        let missed = SLO(name: "e", form: .eventually(within: 999), from: 750, to: 3500).evaluate(Self.condition)
        #expect(!missed.passed && missed.figures.timeToRecover == 1000)
        let never = SLO(name: "e", form: .eventually(within: 999), from: 750, to: 1500).evaluate(Self.condition)
        #expect(!never.passed && never.figures.timeToRecover == nil)
        #expect(never.figures.violations == [ViolationInterval(start: 750, end: 1500, ongoing: true)])
    }

    @Test func budget() {
        // 5 bad steps of 15.
        let within = SLO(name: "b", form: .budget(maxBadFraction: 0.34), from: 0, to: 3500).evaluate(Self.condition)
        #expect(within.passed)
        #expect(abs(within.figures.badFraction - 1.0 / 3) < 1e-12)
        let over = SLO(name: "b", form: .budget(maxBadFraction: 0.3), from: 0, to: 3500).evaluate(Self.condition)
        #expect(!over.passed)
        #expect(over.summary == "b: FAIL budget 30% — bad 33.33% of 15 steps; worst 1.2 at 1.000s; 2 violations [0.750s, 1.500s], [2.000s, 2.000s]")
    }

    @Test func conditionFromAnExpression() throws {
        let latencies: [Double] = [0.1, 0.1, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
        let store = makeStore([
            (["__name__": "latency", "service": "api", "instance": "api-1"], evenly(every: 250, latencies)),
            (["__name__": "latency", "service": "api", "instance": "api-2"], evenly(every: 250, latencies.map { $0 / 2 })),
        ])
        let evaluator = SLIEvaluator(store: store, lookbackDelta: 1000)
        for text in ["max(latency) < 0.5", "0.5 > bool latency", "(latency < 0.5)"] {
            let condition = try ConditionSeries.evaluate(SLIExpression.parse(text), with: evaluator, from: 0, to: 2750, step: 250)
            #expect(condition.worst == .highest)
            #expect(condition.points.map(\.holds) == latencies.map { $0 < 0.5 }, "\(text)")
            #expect(condition.points.map(\.value) == latencies, "\(text)")
            let verdict = SLO(name: "p99", form: .recovers(within: 1000, hold: 1000), from: 500, to: 2750).evaluate(condition)
            #expect(verdict.passed)
            #expect(verdict.figures.timeToRecover == 750)
            #expect(verdict.figures.violations == [ViolationInterval(start: 500, end: 1000)])
            #expect(verdict.figures.worstValue == 0.9 && verdict.figures.worstTime == 500)
        }
        // A lower bound: worst is the lowest; no data at all fails.
        let lower = try ConditionSeries.evaluate(SLIExpression.parse("sum(latency) >= 0.3"), with: evaluator, from: 0, to: 750, step: 250)
        #expect(lower.worst == .lowest)
        #expect(lower.points.map(\.holds) == [false, false, true, true])
        let missing = try ConditionSeries.evaluate(SLIExpression.parse("nothing < 1"), with: evaluator, from: 0, to: 250, step: 250)
        #expect(missing.points.map(\.holds) == [false, false])
        // Filtering comparison between vectors: presence is the answer.
        let present = try ConditionSeries.evaluate(
            SLIExpression.parse("latency{instance=\"api-1\"} >= ignoring(instance) latency{instance=\"api-2\"}"),
            with: evaluator, from: 0, to: 250, step: 250)
        #expect(present.points.map(\.holds) == [true, true])
    }
}

@Suite struct OutcomeTests {
    static func verdict(_ name: String, _ form: SLOForm, holds: [Bool]) -> Verdict {
        SLO(name: name, form: form, from: 0, to: Int64(holds.count - 1) * 250)
            .evaluate(ConditionSeries(step: 250, holds: holds))
    }

    static let recoverForm = SLOForm.recovers(within: 1000, hold: 500)

    @Test func healthy() {
        let result = OutcomeClassifier.classify(verdicts: [
            Self.verdict("a", .always, holds: [true, true, true]),
            Self.verdict("r", Self.recoverForm, holds: [true, true, true]),
        ])
        #expect(result.outcome == .healthy)
        #expect(result.decidedBy == ["a", "r"])
    }

    @Test func recovered() {
        let result = OutcomeClassifier.classify(verdicts: [
            Self.verdict("a", .always, holds: [true, false, true, true, true]),
            Self.verdict("r", Self.recoverForm, holds: [false, false, true, true, true]),
        ])
        #expect(result.outcome == .recovered)
        #expect(result.decidedBy == ["r"])
    }

    @Test func degraded() {
        let result = OutcomeClassifier.classify(verdicts: [
            Self.verdict("r1", Self.recoverForm, holds: [false, false, true, true, true]),
            Self.verdict("r2", Self.recoverForm, holds: [false, false, false, false, false, false, true, true, true]),
        ])
        #expect(result.outcome == .degraded)
        #expect(result.decidedBy == ["r2"])
    }

    @Test func withoutRecoversSLOsAnOngoingViolationIsDegraded() {
        let stuck = OutcomeClassifier.classify(verdicts: [Self.verdict("a", .always, holds: [true, false, false])])
        #expect(stuck.outcome == .degraded && stuck.decidedBy == ["a"])
        let over = OutcomeClassifier.classify(verdicts: [Self.verdict("a", .always, holds: [true, false, true])])
        #expect(over.outcome == .recovered && over.decidedBy == ["a"])
    }

    static let badAfterTrigger = ConditionSeries(step: 250, holds: [true, true, false, false, false, false, false, false])

    @Test func metastable() {
        let verdicts = [Self.verdict("logins", Self.recoverForm, holds: Self.badAfterTrigger.points.map(\.holds))]
        let retries = AmplificationSignal(
            name: "retry_rate", samples: (0..<8).map { Sample(time: Int64($0) * 250, value: $0 < 2 ? 1 : 40) }, threshold: 10)
        let load = AmplificationSignal(
            name: "load_ratio", samples: (0..<8).map { Sample(time: Int64($0) * 250, value: $0 < 6 ? 3 : 0.5) }, threshold: 1)
        let check = MetastabilityCheck(
            name: "logins_ok", triggerEnd: 750, condition: Self.badAfterTrigger, signals: [retries, load], minimumDuration: 1000)
        let result = OutcomeClassifier.classify(verdicts: verdicts, metastability: check)
        #expect(result.outcome == .metastable)
        #expect(result.decidedBy == ["logins_ok", "retry_rate"])

        // The amplifier died down: just degraded.
        var calm = check
        calm.signals = [load]
        #expect(OutcomeClassifier.classify(verdicts: verdicts, metastability: calm).outcome == .degraded)

        // The bad state did not outlast the trigger long enough.
        var short = check
        short.minimumDuration = 2000
        #expect(OutcomeClassifier.classify(verdicts: verdicts, metastability: short).outcome == .degraded)

        // The condition came back after the trigger: not metastable.
        var healed = check
        healed.condition = ConditionSeries(step: 250, holds: [true, true, false, false, false, true, true, true])
        #expect(OutcomeClassifier.classify(verdicts: verdicts, metastability: healed).outcome == .degraded)
    }
}
