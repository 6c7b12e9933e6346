import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Injectors
import LabSpec
import Orchestrator
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The overlay lab's services at a small size, for plans to act on (under the docker runtime
/// too: the image is the labs').
let overlayCompose = """
    x-role: &role
      image: stormlab:latest
      stop_grace_period: 3s
    services:
      auth:
        <<: *role
        command: [auth, "--listen=${STORMLAB_ADDRESS}:7100", "--metrics=${STORMLAB_ADDRESS}:9100", --hash-iterations=10, --log-level=warning]
        expose: ["7100", "9100"]
        x-stormlab: {notify: true, metrics: {port: 9100}}
      supernode:
        <<: *role
        command: [supernode, "--peers=supernode:7200", "--listen=${STORMLAB_ADDRESS}:7200", "--metrics=${STORMLAB_ADDRESS}:9200", --log-level=warning]
        deploy: {replicas: 2}
        depends_on: {auth: {condition: service_healthy}}
        expose: ["7200", "9200"]
        x-stormlab: {notify: true, metrics: {port: 9200}}
      client:
        <<: *role
        command: [client, "--bind=${STORMLAB_ADDRESS}", "--auth=auth:7100", "--supernodes=supernode:7200",
                  "--metrics=${STORMLAB_ADDRESS}:9300", --virtual=10, "--first-user=${STORMLAB_INDEX}0001", --log-level=warning]
        depends_on: {supernode: {condition: service_healthy}}
        expose: ["9300"]
        x-stormlab: {notify: true, metrics: {port: 9300}}
    """

/// A lab of `replicas` sleeping processes that are restarted whenever they exit: cheap targets for
/// process faults.
private func sleepers(_ service: String, replicas: Int) -> String {
    """
    services:
      \(service):
        image: sleeper
        command: ["3600"]
        deploy: {replicas: \(replicas)}
        restart: always
        x-stormlab: {executable: [/bin/sleep]}
    """
}

/// Plans carried out on real processes: the exit status is the verdict of the plan's SLOs, and
/// the event log shows every apply and revert.
@Suite(.serialized, .timeLimit(.minutes(2)), .enabled(if: Libsystemd.isAvailable, "libsystemd.so.0 is not installed on this host"))
struct PlanRunTests {
    static func run(compose: String, plan: String, runtime: RuntimeKind = .process) async throws -> (Termination, String, [RunEvent], LabFixture) {
        let fixture = try LabFixture(compose: compose)
        try plan.write(toFile: "\(fixture.lab)/plan.yaml", atomically: true, encoding: .utf8)
        let (end, output) = try await stormlab(
            ["run", fixture.lab, "--runs", fixture.runs, "--runtime", runtime.rawValue], in: fixture.root, timeout: .seconds(90))
        let events = fixture.runFolders.last.map { RunEvent.read(path: "\($0)/events.jsonl") } ?? []
        return (end, output, events, fixture)
    }

    /// 300 ms each way between the client and auth, through the fault proxy, while client-1
    /// logs in again; and once more after the latency is reverted. Each restart starts a new
    /// histogram, so the SLOs read the process's own logins whole rather than an `increase`: a
    /// restarted container is unreachable for a scrape or more, and a counter back at the same
    /// value after a gap shows no reset.
    static let latencyPlan = latencyPlan(slowedBelow: "1")

    /// With `slowedBelow` the upper bound, in seconds, on the median login under the delay.
    static func latencyPlan(slowedBelow bound: String) -> String {
        """
        seed: 1
        duration: 16s
        steady-state:
          timeout: 30s
          hold: 1s
          slos:
            - {name: online, expr: "sum(stormlab_client_online) >= 10", always: {}}
        steps:
          - {name: slow, at: 1s, for: 8s, latency: {from: {service: client}, to: {service: auth}, delay: 300ms}}
          - {name: relogin, at: 2s, restart: {instances: [client-1], downtime: 500ms}}
          - {name: relogin-after, at: 10s, restart: {instances: [client-1], downtime: 500ms}}
        slos:
          - name: slowed
            expr: 'histogram_quantile(0.5, sum by (le) (stormlab_client_login_duration_seconds_bucket)) > 0.5 and histogram_quantile(0.5, sum by (le) (stormlab_client_login_duration_seconds_bucket)) < \(bound)'
            eventually: {after: relogin, within: 6s}
          - name: fast-again
            expr: 'histogram_quantile(0.5, sum by (le) (stormlab_client_login_duration_seconds_bucket)) < 0.1'
            eventually: {after: relogin-after, within: 4s}
        """
    }

    /// The two supernodes cut apart for 7 s.
    static let partitionPlan = """
        seed: 1
        duration: 16s
        steady-state:
          timeout: 30s
          hold: 1s
          slos:
            - {name: joined, expr: "min(stormlab_supernode_known_supernodes) == 2", always: {}}
        steps:
          - {name: cut, at: 1s, for: 7s, partition: {groups: [[supernode-1], [supernode-2]]}}
        slos:
          # Each side drops the other once it has been silent for the peer timeout (4 s)…
          - {name: split, expr: "max(stormlab_supernode_known_supernodes) == 1", eventually: {within: 8s}}
          # …and they find each other again after the heal.
          - {name: rejoined, expr: "min(stormlab_supernode_known_supernodes) == 2", recovers: {after: cut, within: 6s, hold: 1s}}
        """

    /// A restart whose downtime (200 ms) is shorter than the instance's stop (1.5 s after
    /// SIGTERM): the fault's end comes before its exit, and the instance, whose restart policy is
    /// `no`, still starts again once it has exited.
    @Test func anInstanceSlowerToStopThanItsRestartsDowntimeStillComesBack() async throws {
        let compose = """
            services:
              slow:
                image: slow-stopper
                command: ["-c", "trap 'sleep 1.5; exit 0' TERM; while :; do sleep 0.1; done"]
                x-stormlab: {executable: [/bin/sh]}
            """
        let plan = """
            seed: 1
            duration: 4s
            steps:
              - {name: bounce, at: 500ms, restart: {instances: [slow-1], downtime: 200ms, timeout: 5s}}
            """
        let (end, output, events, fixture) = try await Self.run(compose: compose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        let released = try #require(events.first { $0.kind == .faultReverted })
        let exit = try #require(events.first { $0.kind == .exit && $0.instance == "slow-1" })
        #expect(exit.monotonic > released.monotonic, "the fault ended before the exit")
        #expect(exit.detail?.contains("starting again") == true, "\(exit.detail ?? "")")
        #expect(events.contains { $0.kind == .start && $0.instance == "slow-1" && $0.monotonic > exit.monotonic })
    }

    @Test func aMassRestartOfEightyPercentOfTwentyHitsExactlySixteenEachBackAfterItsDowntime() async throws {
        let compose = sleepers("node", replicas: 20)
        let plan = """
            seed: 7
            duration: 6s
            steps:
              - name: wave
                at: 500ms
                mass-restart: {service: node, fraction: 0.8, spread: 2s, distribution: uniform, downtime: 1s..2s}
            """
        let (end, output, events, fixture) = try await Self.run(compose: compose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        let applied = events.filter { $0.kind == .faultApplied }
        let reverted = events.filter { $0.kind == .faultReverted }
        #expect(applied.count == 16)
        #expect(reverted.count == 16)
        let hit = Set(applied.compactMap { $0.detail?.split(separator: " ").dropFirst(2).first.map(String.init) })
        #expect(hit.count == 16, "distinct instances: \(hit)")
        for name in hit {
            guard let killed = events.first(where: { $0.kind == .exit && $0.instance == name && $0.signal == SIGKILL }),
                let back = events.first(where: { $0.kind == .start && $0.instance == name && $0.monotonic > killed.monotonic })
            else {
                Issue.record("\(name) was not killed and started again")
                continue
            }
            // Downtime 1…2 s, give or take the supervisor's 50 ms tick.
            #expect(back.monotonic - killed.monotonic >= 0.9 && back.monotonic - killed.monotonic < 2.5, "\(name)")
        }
        let untouched = (1...20).map { "node-\($0)" }.filter { !hit.contains($0) }
        #expect(untouched.count == 4)
        for name in untouched {
            #expect(!events.contains { $0.kind == .exit && $0.instance == name && $0.signal == SIGKILL })
        }
        // Faults happen when planned: every apply within 100 ms of its schedule.
        for event in applied {
            let late = event.detail?.split(separator: " ").last { $0.contains(".") && Double($0) != nil }.flatMap { Double($0) }
            #expect((late ?? 0) < 100, "\(event.detail ?? "")")
        }
    }

    /// Seeded churn: each targeted instance goes down and comes back on its own schedule within
    /// the window, and everything runs again afterwards.
    @Test func churnTakesInstancesDownAndBringsThemBackWithinTheWindow() async throws {
        let compose = sleepers("peer", replicas: 6)
        let plan = """
            seed: 11
            duration: 6s
            steps:
              - name: churn
                at: 500ms
                churn:
                  service: peer
                  count: 4
                  window: 4s
                  session: {exponential: {mean: 800ms}}
                  downtime: {exponential: {mean: 300ms}}
            """
        let (end, output, events, fixture) = try await Self.run(compose: compose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        let applied = events.filter { $0.kind == .faultApplied && $0.detail?.contains("churn") == true }
        let reverted = events.filter { $0.kind == .faultReverted && $0.detail?.contains("churn") == true }
        #expect(applied.count >= 4, "several down periods: \(applied.count)")
        #expect(reverted.count == applied.count)
        let churned = Set(events.filter { $0.kind == .exit && $0.signal == SIGKILL }.compactMap(\.instance))
        #expect(churned.count == 4, "exactly the 4 chosen instances went down: \(churned)")
        // Every churned instance started again after each kill.
        for name in churned {
            let kills = events.filter { $0.kind == .exit && $0.instance == name && $0.signal == SIGKILL }.count
            let starts = events.filter { $0.kind == .start && $0.instance == name }.count
            #expect(starts == kills + 1, "\(name): \(kills) kills, \(starts) starts")
        }
    }

    @Test func pauseStopsAnInstanceAndResumeBringsItBack() async throws {
        let plan = """
            seed: 1
            duration: 10s
            steady-state:
              timeout: 30s
              hold: 1s
              slos:
                - {name: online, expr: "sum(stormlab_client_online) >= 10", always: {}}
            steps:
              - {name: freeze, at: 1s, for: 3s, pause: {instances: [client-1]}}
            slos:
              # Paused, it answers no scrape: down for most of the pause…
              - {name: silent, expr: 'up{instance="client-1"} == 0', budget: {max-bad: 0.5, during: freeze}}
              # …and back, scraped and online again, soon after the resume.
              - {name: back, expr: 'min(up{instance="client-1"}) == 1 and sum(stormlab_client_online) >= 10', recovers: {after: freeze, within: 5s, hold: 1s}}
            """
        let (end, output, events, fixture) = try await Self.run(compose: overlayCompose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.contains { $0.kind == .faultApplied && $0.detail?.contains("pause") == true })
        #expect(events.contains { $0.kind == .faultReverted && $0.detail?.contains("pause") == true })
        let report = try String(contentsOfFile: "\(fixture.runFolders.last!)/report.json", encoding: .utf8)
        #expect(report.contains("\"outcome\""))
        #expect(FileManager.default.fileExists(atPath: "\(fixture.runFolders.last!)/junit.xml"))
        #expect(FileManager.default.fileExists(atPath: "\(fixture.runFolders.last!)/report.html"))
        #expect(FileManager.default.fileExists(atPath: "\(fixture.runFolders.last!)/series.jsonl"))

        // The JUnit file is well-formed XML with a testcase per SLO.
        let junit = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.runFolders.last!)/junit.xml"))
        let parser = XMLParser(data: junit)
        #expect(parser.parse(), "junit.xml parses: \(String(describing: parser.parserError))")
        #expect(String(decoding: junit, as: UTF8.self).components(separatedBy: "<testcase").count - 1 >= 2)

        // Judged again from the recorded run: the same verdict.
        try FileManager.default.removeItem(atPath: "\(fixture.runFolders.last!)/report.json")
        let (again, text) = try await stormlab(["report", fixture.runFolders.last!], in: fixture.root)
        #expect(again == .exited(0), "\(text)")
        #expect(FileManager.default.fileExists(atPath: "\(fixture.runFolders.last!)/report.json"))
    }

    @Test func aMalformedFloodAtAuthLeavesItServingValidLogins() async throws {
        let plan = """
            seed: 1
            duration: 8s
            steps:
              - {name: flood, at: 1s, for: 3s, malformed-flood: {service: auth, port: 7100, rate: 300, connections: 4}}
              - {name: storm, at: 2s, login-storm: {service: auth, users: 50}}
            slos:
              - {name: auth-up, expr: 'up{service="auth"} == 1', always: {}}
              - {name: flood-seen, expr: 'sum(stormlab_malformed_frames_total{service="auth"}) > 100', eventually: {within: 6s}}
              - {name: logins-served, expr: 'sum(stormlab_auth_logins_total{outcome="ok"}) >= 60', eventually: {within: 7s}}
            """
        let (end, output, events, fixture) = try await Self.run(compose: overlayCompose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.contains { $0.kind == .faultReverted && $0.detail?.contains("malformed requests sent") == true })
        #expect(!events.contains { $0.kind == .exit && $0.instance == "auth-1" && $0.monotonic < (events.first { $0.kind == .planEnded }?.monotonic ?? 0) })
    }

    /// 300 ms each way between the client and auth, through the fault proxy: a login's round
    /// trip takes 600 ms more. Tolerance: the median login (histogram-interpolated, buckets at
    /// 0.5 s and 1 s) of the client process started under the latency lands between 0.5 s and
    /// 1 s; of the one started after it, under 0.1 s.
    @Test func latencyThroughTheFaultProxySlowsLoginsByTheConfiguredDelay() async throws {
        let (end, output, events, fixture) = try await Self.run(compose: overlayCompose, plan: Self.latencyPlan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.contains { $0.kind == .faultApplied && $0.detail?.contains("via fault-proxy") == true })
        #expect(events.contains { $0.kind == .faultReverted && $0.detail?.contains("latency") == true })
    }

    @Test func aViolatedGuardAbortsTheRunAndRevertsItsFaults() async throws {
        let plan = """
            seed: 1
            duration: 40s
            steps:
              - {name: freeze-clients, at: 500ms, pause: {service: client}}
              - {name: down, at: 1s, kill: {service: auth}}
            slos:
              - {name: auth-up, expr: 'min(up{service="auth"}) == 1', always: {}, abort: true}
            """
        let started = ContinuousClock.now
        let (end, output, events, fixture) = try await Self.run(compose: overlayCompose, plan: plan)
        defer { fixture.remove() }
        #expect(end == .exited(1), "\(output)")
        #expect(ContinuousClock.now - started < .seconds(30), "aborted long before the 40 s plan ended")
        #expect(events.contains { $0.kind == .aborted && $0.detail?.contains("auth-up") == true })
        // The pause was reverted on abort: the clients were resumed (SIGCONT) before the stop.
        #expect(events.contains { $0.kind == .faultReverted && $0.detail?.contains("pause") == true })
        let report = try String(contentsOfFile: "\(fixture.runFolders.last!)/report.json", encoding: .utf8)
        #expect(report.contains("\"outcome\": \"aborted\"") || report.contains("\"outcome\":\"aborted\""))
    }

    @Test(.enabled(if: NFTables.isUsable, "needs root and nft for partitions between instance addresses"))
    func aPartitionSplitsTheSupernodesUntilItHeals() async throws {
        let (end, output, events, fixture) = try await Self.run(compose: overlayCompose, plan: Self.partitionPlan)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.contains { $0.kind == .faultApplied && $0.detail?.contains("via nftables") == true })
        #expect(NFTables.stormlabTables().isEmpty, "the run's table is gone")
    }
}
