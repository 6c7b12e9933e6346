import LabSpec
import Testing

/// Resolution: exact instances, waves, repetitions, churn, shapes, determinism.
@Suite struct PlanTimelineTests {
    private func timeline(_ yaml: String, seed: UInt64? = nil) throws -> Timeline {
        try PlanTimeline.resolve(PlanFixture.plan(yaml), in: PlanFixture.project, seed: seed)
    }

    private static let wave = """
        seed: 2007
        duration: 1m
        steps:
          - name: patch-day
            at: 20s
            mass-restart: {service: client, fraction: 0.8, spread: 2s, downtime: 1s..5s}
        """

    @Test func massRestartOf80PercentOf20HitsExactly16WithinTheWindow() throws {
        for seed in [0, 1, 2007, 123_456_789] as [UInt64] {
            let events = try timeline(Self.wave, seed: seed).events
            #expect(events.count == 16)
            #expect(Set(events.flatMap(\.instances)).count == 16)
            #expect(events.allSatisfy { $0.instances.count == 1 && $0.instances[0].hasPrefix("client-") })
            for event in events {
                #expect(event.time >= .seconds(20) && event.time <= .seconds(22), "\(event.time)")
                guard case .at(let back) = event.revert else {
                    Issue.record("a mass restart event without a restart time")
                    continue
                }
                #expect(back - event.time >= .seconds(1) && back - event.time <= .seconds(5))
            }
        }
    }

    @Test func sameSeedGivesTheSameTimelineAndAnotherSeedAnotherChoice() throws {
        let plan = try PlanFixture.plan(Self.wave)
        let first = try PlanTimeline.resolve(plan, in: PlanFixture.project)
        let again = try PlanTimeline.resolve(plan, in: PlanFixture.project)
        #expect(first == again)
        #expect(first.rendered() == again.rendered())
        let other = try PlanTimeline.resolve(plan, in: PlanFixture.project, seed: 2008)
        #expect(Set(first.events.flatMap(\.instances)) != Set(other.events.flatMap(\.instances)))
        #expect(other.seed == 2008 && first.seed == 2007)
    }

    /// The exact choice for a seed is part of the format: changing it changes users' timelines.
    @Test func exactInstancesForASeed() throws {
        let yaml = """
            seed: 42
            duration: 1m
            steps:
              - name: k
                at: 1s
                kill: {service: supernode, count: 3}
            """
        let events = try timeline(yaml).events
        var generator = PlanRandom.stream(seed: 42, label: "select/k/0")
        let pool = (1...8).map { "supernode-\($0)" }
        let expected = PlanRandom.choose(3, from: pool, using: &generator)
        #expect(events.map(\.instances) == [expected])
        #expect(events.map(\.instances) == [["supernode-3", "supernode-7", "supernode-8"]])
    }

    @Test func addingAStepDoesNotChangeTheOthersChoices() throws {
        let one = """
            seed: 9
            duration: 1m
            steps:
              - {name: k, at: 1s, kill: {service: client, count: 4}}
            """
        let two = one + "\n  - {name: j, at: 2s, kill: {service: supernode, count: 2}}"
        #expect(try timeline(one).events(ofStep: "k") == (try timeline(two).events(ofStep: "k")))
    }

    @Test func everyTimesExpandsAndRedrawsEachOccurrence() throws {
        let yaml = """
            seed: 3
            duration: 2m
            steps:
              - name: monkey
                at: 10s
                every: 30s
                times: 3
                for: 5s
                kill: {service: client, count: 2}
            """
        let events = try timeline(yaml).events
        #expect(events.map(\.time) == [.seconds(10), .seconds(40), .seconds(70)])
        #expect(events.map(\.revert) == [.at(.seconds(15)), .at(.seconds(45)), .at(.seconds(75))])
        #expect(events.map(\.occurrence) == [0, 1, 2])
        #expect(events.allSatisfy { $0.instances.count == 2 })
        #expect(Set(events.map(\.instances)).count > 1, "each occurrence draws its own instances")
    }

    @Test func everyUntilIncludesTheLastTimeAndPlanEndFillsTheRun() throws {
        let yaml = """
            duration: 1m
            steps:
              - {at: 0s, every: 20s, until: 40s, restart: {instances: [client-1]}}
              - {at: 5s, every: 25s, for: 10s, latency: {service: auth, delay: 10ms}}
            """
        let result = try timeline(yaml)
        #expect(result.events(ofStep: "#1").map(\.time) == [.zero, .seconds(20), .seconds(40)])
        // 5s, 30s and 55s would end at 65s, past the end of the plan.
        #expect(result.events(ofStep: "#2").map(\.time) == [.seconds(5), .seconds(30)])
    }

    @Test func afterStartsWhenTheStepHasEnded() throws {
        let yaml = """
            duration: 2m
            steps:
              - {name: wave, at: 10s, mass-restart: {service: client, count: 3, spread: 2s, downtime: 4s}}
              - {name: storm, after: wave, delay: 1s, for: 20s, login-storm: {service: auth, rate: 100/s}}
              - {name: last, after: storm, kill: {instances: [auth-1]}}
            """
        let result = try timeline(yaml)
        #expect(result.spans.map(\.start) == [.seconds(10), .seconds(17), .seconds(37)])
        #expect(result.spans.map(\.end) == [.seconds(16), .seconds(37), .seconds(37)])
        #expect(result.time(of: .lastFault) == .seconds(37))
        #expect(result.interval(of: .step("storm")) == .seconds(17)..<(.seconds(37)))
        #expect(result.interval(of: .range(from: .start(step: "storm"), to: nil)) == .seconds(17)..<(.seconds(120)))
        #expect(result.interval(of: .run) == .zero..<(.seconds(120)))
    }

    @Test func churnStaysInItsWindowAndNeverOverlapsPerInstance() throws {
        let yaml = """
            seed: 11
            duration: 5m
            steps:
              - name: churn
                at: 30s
                churn:
                  service: client
                  window: 2m
                  session: {exponential: {mean: 20s}}
                  downtime: {pareto: {shape: 2.5, scale: 2s}}
            """
        let events = try timeline(yaml).events
        #expect(events.count > 40, "20 instances over 2 minutes with 20 s sessions go down often")
        var lastUp: [String: Duration] = [:]
        for event in events.sorted(by: { $0.time < $1.time }) {
            let name = event.instances[0]
            guard case .at(let up) = event.revert else {
                Issue.record("churn events come back")
                continue
            }
            #expect(event.time >= .seconds(30) && event.time < .seconds(150))
            #expect(up > event.time && up <= .seconds(150))
            #expect(event.time > lastUp[name] ?? .zero, "\(name) goes down while down")
            lastUp[name] = up
        }
    }

    @Test func partitionShapes() throws {
        let yaml = """
            seed: 5
            duration: 10m
            steps:
              - {name: halves, at: 0s, for: 10s, partition: {shape: halves, service: supernode}}
              - {name: ring, at: 1m, for: 10s, partition: {shape: majority-ring, service: supernode}}
              - {name: bridge, at: 2m, for: 10s, partition: {shape: bridge, service: supernode}}
              - {name: isolate, at: 3m, for: 10s, partition: {shape: isolate, service: supernode, count: 2}}
              - {name: one-way, at: 4m, for: 10s, partition: {groups: [[supernode-1], [supernode-2, auth]], one-way: true}}
            """
        let result = try timeline(yaml)
        let halves = try #require(result.events(ofStep: "halves").first)
        #expect(halves.groups == [(1...4).map { "supernode-\($0)" }, (5...8).map { "supernode-\($0)" }])
        #expect(halves.links.count == 32)
        #expect(halves.targetSummary == "supernode-1..4 | supernode-5..8")

        // 8 on a ring, a majority is 5: each keeps the 2 nearest on each side, loses the other 3.
        let ring = try #require(result.events(ofStep: "ring").first)
        #expect(ring.links.count == 8 * 3)
        #expect(ring.links.contains(Link(from: "supernode-1", to: "supernode-5")))
        #expect(!ring.links.contains(Link(from: "supernode-1", to: "supernode-7")))

        let bridge = try #require(result.events(ofStep: "bridge").first)
        let bridgeNode = try #require((1...8).map { "supernode-\($0)" }.first { name in !bridge.groups.joined().contains(name) })
        #expect(bridge.groups.map(\.count) == [4, 3])
        #expect(!bridge.links.contains { $0.from == bridgeNode || $0.to == bridgeNode })
        #expect(bridge.detail == "bridge \(bridgeNode)")

        let isolate = try #require(result.events(ofStep: "isolate").first)
        #expect(isolate.groups.map(\.count) == [1, 1, 6])

        let oneWay = try #require(result.events(ofStep: "one-way").first)
        #expect(oneWay.links == [Link(from: "supernode-1", to: "auth-1"), Link(from: "supernode-1", to: "supernode-2")])
        #expect(oneWay.targetSummary == "supernode-1 -> auth-1, supernode-2")
    }

    @Test func linkFaultsBetweenGroupsAndAroundInstances() throws {
        let yaml = """
            duration: 1m
            steps:
              - {name: slow, at: 0s, for: 10s, latency: {from: [client-1..2], to: auth, delay: 100ms, jitter: 20ms}}
              - {name: around, at: 20s, reset: {instances: [auth-1], one-way: true}}
            """
        let result = try timeline(yaml)
        let slow = try #require(result.events.first)
        #expect(
            slow.links == [
                Link(from: "auth-1", to: "client-1"), Link(from: "auth-1", to: "client-2"),
                Link(from: "client-1", to: "auth-1"), Link(from: "client-2", to: "auth-1"),
            ])
        #expect(slow.detail == "delay 100ms ± 20ms")
        #expect(slow.targetSummary == "client-1..2 <-> auth-1")
        let reset = try #require(result.events.last)
        #expect(reset.links.count == 28)
        #expect(reset.links.allSatisfy { $0.from == "auth-1" })
        #expect(reset.revert == .none)
    }

    @Test func sampledTargetsAvoidInstancesHeldByOtherProcessFaults() throws {
        let yaml = """
            seed: 1
            duration: 1m
            steps:
              - {at: 10s, for: 20s, pause: {instances: [client-1..10]}}
              - {at: 15s, for: 5s, kill: {service: client, count: 10}}
            """
        let kill = try #require(try timeline(yaml).events.last)
        #expect(kill.instances == (11...20).map { "client-\($0)" })
    }

    @Test func renderedTableHasTheMechanismColumnToFillIn() throws {
        let yaml = """
            seed: 1
            duration: 2m
            steps:
              - {name: stop, at: 1s, for: 10s, pause: {instances: [supernode-1..3, supernode-5]}}
              - {name: cut, at: 1m30.5s, partition: {groups: [[auth], [client]]}}
            """
        var result = try timeline(yaml)
        result.events[0].mechanism = "signals"
        #expect(
            result.rendered() == """
                seed 1, duration 2m, 2 events
                TIME      STEP  FAULT      TARGETS                      REVERT    DETAIL                      MECHANISM
                0:01.000  stop  pause      supernode-1..3, supernode-5  0:11.000  SIGSTOP, SIGCONT at revert  signals
                1:30.500  cut   partition  auth-1 | client-1..20        end       -                           -

                """)
    }

    @Test func timesAreFormattedToTheMillisecond() {
        #expect(Timeline.format(.milliseconds(1500)) == "0:01.500")
        #expect(Timeline.format(.seconds(3725)) == "1:02:05.000")
        #expect(Timeline.format(.zero) == "0:00.000")
    }

    @Test func resolvingAgainstTheWrongProjectReportsEveryUnknownTarget() throws {
        let plan = try PlanFixture.plan(
            """
            duration: 1m
            steps:
              - {at: 1s, kill: {service: supernode, count: 3}}
              - {at: 2s, pause: {instances: [client-7]}}
            """)
        let small = ComposeProject(name: "small", file: "compose.yaml", services: [ServiceSpec(name: "supernode", replicas: 2)])
        let error = #expect(throws: LabSpecError.self) { try PlanTimeline.resolve(plan, in: small) }
        #expect(error?.code == .invalidPlan)
        #expect(
            error?.diagnostics.map(\.message) == [
                "count 3 is more than the 2 instances of the target (supernode-1..2)",
                "unknown service or instance \"client-7\"",
            ])
    }
}
