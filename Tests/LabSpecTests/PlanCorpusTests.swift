import Foundation
import LabSpec
import Testing

/// The plan fixture corpus: every invalid file declares the exact diagnostics it must produce,
/// all of them reported in one round.
@Suite struct PlanCorpusTests {
    @Test(arguments: PlanFixture.files(in: "invalid"))
    func invalidPlanReportsEveryProblemExactly(_ file: String) throws {
        let load = PlanFixture.load(file)
        let expected = PlanFixture.expectedDiagnostics(file)
        try #require(!expected.isEmpty, "the fixture declares no # expect: lines")
        #expect(load.diagnostics.map(\.description) == expected)
        #expect(load.plan == nil)
        #expect(load.timeline == nil)
        let error = #expect(throws: LabSpecError.self) { try load.get() }
        #expect(error?.description == expected.joined(separator: "\n"))
    }

    @Test(arguments: PlanFixture.files(in: "valid"))
    func validPlanLoadsAndResolves(_ file: String) throws {
        let load = PlanFixture.load(file)
        #expect(load.diagnostics.map(\.description) == [])
        let plan = try load.get()
        let timeline = try #require(load.timeline)
        #expect(timeline == (try PlanTimeline.resolve(plan, in: PlanFixture.project)))
        // Without a project the plan loads too; only the cross-checks are skipped.
        #expect(try PlanFixture.load(file, project: nil).get() == plan)
    }

    @Test func invalidPlansAreInvalidWithoutAProjectToo() {
        // Problems of the file itself do not need the services to be found; conflicts do.
        let load = PlanFixture.load("invalid/times.yaml", project: nil)
        let expected = PlanFixture.expectedDiagnostics("invalid/times.yaml").filter { !$0.contains("process fault") }
        #expect(expected.count == PlanFixture.expectedDiagnostics("invalid/times.yaml").count - 1)
        #expect(load.diagnostics.map(\.description) == expected)
    }

    @Test func syntaxErrorIsADiagnosticWithTheYAMLError() {
        let load = PlanFixture.load("syntax.yaml")
        #expect(load.code == .invalidYAML)
        #expect(load.underlying != nil)
        #expect(load.diagnostics.count == 1)
        #expect(load.diagnostics.first?.message.hasPrefix("invalid YAML: ") == true)
    }

    @Test func errorCodesSayWhatKindOfFailureItWas() {
        #expect(PlanFixture.load("invalid/values.yaml").code == .invalidPlan)
        #expect(PlanFixture.load("no-such-plan.yaml").code == .fileUnreadable)
        #expect(
            PlanFixture.load("no-such-plan.yaml").diagnostics.map(\.message) == ["cannot read plan file: no such file"])
    }

    @Test func theFlagshipPlanReadsAsWritten() throws {
        let plan = try PlanFixture.load("valid/patch-tuesday.yaml").get()
        #expect(plan.seed == 2007)
        #expect(plan.duration == .seconds(180))
        #expect(plan.expect == .pass)
        #expect(plan.scrapeInterval == .milliseconds(250))
        #expect(plan.steadyState.timeout == .seconds(90))
        #expect(plan.steadyState.slos.map(\.form) == [.always(.run), .eventually(within: .seconds(30), after: .offset(.zero))])
        #expect(plan.steps.map(\.label) == ["patch-day", "supernodes-down", "storm"])
        #expect(plan.steps[2].start == .after(step: "patch-day", delay: .seconds(1)))
        guard case .massRestart(let wave) = plan.steps[0].fault else {
            Issue.record("patch-day is not a mass restart")
            return
        }
        #expect(wave.target.service == "client")
        #expect(wave.target.sample == .fraction(0.8))
        #expect(wave.spread == .seconds(2))
        #expect(wave.downtime == DurationRange(min: .seconds(1), max: .seconds(5)))
        #expect(plan.steps[1].fault == .kill(KillFault(target: plan.steps[1].fault.target!, signal: "SIGKILL")))
        #expect(plan.steps[1].fault.target?.sample == .fraction(0.3))
        #expect(plan.guards == ["never-total-outage", "login-latency"])
        #expect(
            plan.slos.map(\.form) == [
                .recovers(after: .lastFault, within: .seconds(60), hold: .seconds(10)),
                .always(.run),
                .budget(maxBad: 0.05, window: .step("storm")),
                .always(.range(from: .start(step: "patch-day"), to: .offset(.seconds(120)))),
                .eventually(within: .seconds(60), after: .end(step: "storm")),
            ])
        #expect(plan.probes.map(\.name) == ["auth-port", "auth-metrics", "disk"])
        #expect(plan.probes[2].check == .exec(command: ["test", "-w", "/tmp"]))
        #expect(plan.probes[0].interval == .seconds(1))
        #expect(plan.probes[1].interval == nil)
    }

    @Test func expectFailIsReadForSuites() throws {
        #expect(try PlanFixture.load("valid/churn.yaml").get().expect == .fail)
        #expect(try PlanFixture.load("valid/churn.yaml").get().expectOutcome == [.degraded, .metastable])
        #expect(try PlanFixture.load("valid/minimal.yaml").get().expect == .pass)
        #expect(try PlanFixture.load("valid/minimal.yaml").get().expectOutcome == [])
    }

    @Test func variablesAreInterpolatedButExpressionsAreNot() throws {
        let text = """
            duration: ${LENGTH:-1m}
            steps:
              - at: 1s
                kill: {service: client, fraction: "${STORM}"}
            slos:
              - name: x
                expr: up{job="${JOB}"} == 1
                always:
            """
        let plan = try PlanLoader.load(yaml: text, project: PlanFixture.project, variables: ["STORM": "0.25"]).get()
        #expect(plan.duration == .seconds(60))
        #expect(plan.steps[0].fault.target?.sample == .fraction(0.25))
        #expect(plan.slos[0].expr.text == "up{job=\"${JOB}\"} == 1")
    }
}
