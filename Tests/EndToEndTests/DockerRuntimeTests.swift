import DockerEngine
import Foundation
import Injectors
import LabSpec
import Orchestrator
import Overlay
import OverlayWire
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Labs run by the docker runtime, in real containers of image `stormlab:latest` (the labs'
/// image; `Docker/build-image.sh` tags it): the overlay comes up healthy through the notify
/// socket, a killed container is restarted by its policy, latency and a partition have their
/// effect, and a SIGKILLed orchestrator's containers and network are removed by `stormlab cleanup`.
@Suite(
    .serialized,
    .enabled(if: Libsystemd.isAvailable, "libsystemd.so.0 is not installed on this host"),
    .enabled("needs a running Docker engine and image stormlab:latest (Docker/build-image.sh)") {
        ((try? await DockerEngine.fromEnvironment().imageExists("stormlab:latest")) ?? nil) != nil
    }
)
struct DockerRuntimeTests {
    /// A small patch-tuesday: 1 auth, 2 supernodes, 1 client process of 10 virtual clients.
    static let small = ["SUPERNODES": "2", "CLIENTS": "1", "VIRTUAL": "10"]

    @Test(.timeLimit(.minutes(3)))
    func theOverlayComesUpInContainersAndAKilledContainerIsRestarted() async throws {
        try await withDockerFixture { fixture in
            var configuration = runConfiguration(runs: fixture.runs)
            configuration.runtime = .docker
            let project = try loadLab("\(repositoryRoot)/labs/patch-tuesday", variables: Self.small)
            let run = try LabRun(project: project, configuration: configuration, logger: quietLogger)
            let engine = try DockerEngine.fromEnvironment()
            let label = "stormlab.run=\(run.id.value)"

            try await run.run { run in
                try await run.waitUntilReady()
                #expect(run.status().allSatisfy { $0.phase == .ready && $0.readiness == .notify })
                // One container per instance, and one sandbox each holding its network namespace.
                let containers = try await engine.containers(label: label)
                #expect(containers.count == 8)
                #expect(containers.allSatisfy { $0.state == "running" })
                #expect(Set(containers.compactMap { $0.labels["com.docker.compose.service"] }) == ["auth", "supernode", "client"])
                #expect(Set(containers.compactMap { $0.labels["stormlab.sandbox"] }) == Set(run.instances.map(\.name)))
                #expect(try await engine.networks(label: label).count == 1)

                // The names resolved inside the containers: all 10 clients go online, and the
                // orchestrator reads that from the client's container address.
                let client = try #require(run.instances.first { $0.service == "client" })
                let metrics = Endpoint(host: client.address.address, port: 9300)
                let online = await eventually(within: .seconds(60)) {
                    guard let page = try? await MetricsFetch.get(metrics) else { return false }
                    return (MetricsFetch.sums(page)["stormlab_client_online"] ?? 0) >= 10
                }
                #expect(online, "10 virtual clients online")

                // SIGKILL through the engine; the policy (on-failure) brings the container back.
                let before = try #require(run.status().first { $0.name == "supernode-1" }?.pid)
                #expect(run.signal("supernode-1", SIGKILL))
                let back = await eventually(within: .seconds(60)) {
                    guard let status = run.status().first(where: { $0.name == "supernode-1" }) else { return false }
                    return status.restarts == 1 && status.phase == .ready && status.pid != before
                }
                #expect(back, "supernode-1 restarted and ready: \(run.status())")
                // Its fixed environment says 0; the mounted file tells the new incarnation it is a
                // restart (the client reads it to choose its restart spread over its first ramp).
                let restarts = try? String(contentsOfFile: "\(run.folder)/notify/restarts/supernode-1", encoding: .utf8)
                #expect(restarts == "1\n")
            }

            let events = RunEvent.read(path: run.eventsPath)
            #expect(events.contains { $0.kind == .exit && $0.instance == "supernode-1" && $0.signal == SIGKILL })
            #expect(events.contains { $0.kind == .container })
            #expect(Ledger.read(path: run.ledgerPath).last?.kind == .closed)
            // Torn down: nothing of the run is left on the engine.
            #expect(try await engine.containers(label: label).isEmpty)
            #expect(try await engine.networks(label: label).isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func cleanupRemovesTheContainersAndNetworkOfASIGKILLedOrchestrator() async throws {
        try await withDockerFixture { fixture in
            let up = try StormlabProcess(
                ["up", "\(repositoryRoot)/labs/patch-tuesday", "--runtime", "docker", "--runs", fixture.runs],
                in: fixture.root, environment: Self.small)
            let events = await waitForEvents(in: fixture.runs, within: .seconds(90)) { $0.contains { $0.kind == .allReady } }
            up.kill9()
            guard events.contains(where: { $0.kind == .allReady }) else {
                Issue.record("not ready: \(up.output)")
                return
            }
            let run = try #require(fixture.runFolders.first.map { String($0.split(separator: "/").last!) })
            let engine = try DockerEngine.fromEnvironment()
            let label = "stormlab.run=\(run)"
            // Containers (4, and a sandbox each) do not die with their orchestrator.
            #expect(try await engine.containers(label: label).count == 8)

            let (end, output) = try await stormlab(["cleanup", "--runs", fixture.runs], in: fixture.root)
            #expect(end == .exited(0), "\(output)")
            #expect(output.contains("container stormlab-\(run)-auth-1"), "\(output)")
            #expect(output.contains("network stormlab-\(run)"), "\(output)")
            #expect(try await engine.containers(label: label).isEmpty)
            #expect(try await engine.networks(label: label).isEmpty)
            #expect(Ledger.read(path: "\(fixture.runs)/\(run)/ledger.jsonl").last?.kind == .cleaned)
        }
    }

    /// A run folder deleted after its orchestrator died leaves no ledger to clean up from: the
    /// containers and network are found by their `stormlab.orchestrator` label, whose process is
    /// gone. A live run's are left alone.
    @Test(.timeLimit(.minutes(2)))
    func cleanupFindsADeadRunsContainersWithoutItsRunFolder() async throws {
        try await withDockerFixture(compose: """
            services:
              auth:
                image: stormlab:latest
                command: [auth, "--listen=${STORMLAB_ADDRESS}:7100", "--no-metrics", --hash-iterations=10]
                expose: ["7100"]
                x-stormlab: {notify: true}
            """) { fixture in
            let engine = try DockerEngine.fromEnvironment()
            let elsewhere = "\(fixture.root)/other-runs"
            let up = try StormlabProcess(["up", fixture.lab, "--runtime", "docker", "--runs", fixture.runs], in: fixture.root)
            let events = await waitForEvents(in: fixture.runs, within: .seconds(60)) { $0.contains { $0.kind == .allReady } }
            guard events.contains(where: { $0.kind == .allReady }), let folder = fixture.runFolders.first else {
                up.kill9()
                Issue.record("not ready: \(up.output)")
                return
            }
            let run = String(folder.split(separator: "/").last!)
            let label = "stormlab.run=\(run)"
            // While the orchestrator runs, its run is not an orphan, ledger or not.
            var (end, output) = (try? await stormlab(["cleanup", "--runs", elsewhere], in: fixture.root)) ?? (.exited(-1), "")
            #expect(end == .exited(0), "\(output)")
            #expect(!output.contains("run \(run)"), "\(output)")
            #expect((try? await engine.containers(label: label))?.count == 2, "auth-1 and its sandbox")

            up.kill9()
            try FileManager.default.removeItem(atPath: folder)
            (end, output) = try await stormlab(["cleanup", "--runs", elsewhere], in: fixture.root)
            #expect(end == .exited(0), "\(output)")
            #expect(output.contains("run \(run): no ledger; removed container stormlab-\(run.lowercased())-auth-1"), "\(output)")
            #expect(output.contains("network stormlab-\(run.lowercased())"), "\(output)")
            #expect(try await engine.containers(label: label).isEmpty)
            #expect(try await engine.networks(label: label).isEmpty)
        }
    }

    /// An image missing: one message that says what to do, exit 3, and nothing made on the
    /// engine (the check comes before the network and the sandboxes).
    @Test(.timeLimit(.minutes(1)))
    func aMissingImageSaysWhatToDoAndLeavesNothing() async throws {
        try await withDockerFixture(compose: """
            services:
              app:
                image: stormlab-test-no-such-image:1
                command: [serve]
            """) { fixture in
            let (end, output) = try await stormlab(["run", fixture.lab, "--runtime", "docker", "--runs", fixture.runs], in: fixture.root)
            #expect(end == .exited(3), "\(output)")
            #expect(output.contains(#"image "stormlab-test-no-such-image:1" is not on this machine: build it or load it"#), "\(output)")
            let run = try #require(fixture.runFolders.first)
            #expect(Ledger.read(path: "\(run)/ledger.jsonl").last?.kind == .closed)
            try await expectNothingLeft(of: fixture)
        }
    }

    /// The process runtime's latency test, in containers. Where the kernel has netem, the delay
    /// goes into each client container's namespace as tc netem, on packets, so a login's new
    /// connection also waits a round trip of 600 ms for its handshake (the median login lands
    /// between 0.5 s and 2.5 s). Without netem (as on this project's CI host) the fault proxy
    /// listens on the run's bridge and delays data only, as under the process runtime.
    @Test(.timeLimit(.minutes(2)))
    func latencyInContainersSlowsLoginsByTheConfiguredDelay() async throws {
        let netem = TrafficControl.netemIsAvailable
        let plan = netem ? PlanRunTests.latencyPlan(slowedBelow: "2.5") : PlanRunTests.latencyPlan
        let (end, output, events, fixture) = try await PlanRunTests.run(compose: overlayCompose, plan: plan, runtime: .docker)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        let mechanism = netem ? "via tc-netem" : "via fault-proxy"
        #expect(events.contains { $0.kind == .faultApplied && $0.detail?.contains(mechanism) == true })
        #expect(events.contains { $0.kind == .faultReverted && $0.detail?.contains("latency") == true })
        try await expectNothingLeft(of: fixture)
    }

    /// The process runtime's partition test, in containers: nftables rules inside each
    /// supernode's network namespace split them, and they find each other after the heal.
    @Test(.timeLimit(.minutes(2)), .enabled(if: NFTables.isUsable, "needs root and nft to enter the containers' network namespaces"))
    func aPartitionInContainersSplitsTheSupernodesUntilItHeals() async throws {
        let (end, output, events, fixture) = try await PlanRunTests.run(compose: overlayCompose, plan: PlanRunTests.partitionPlan, runtime: .docker)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.contains { $0.kind == .faultApplied && $0.detail?.contains("via nftables") == true })
        try await expectNothingLeft(of: fixture)
    }

    /// A container restarted during a partition comes back into the network namespace its
    /// sandbox holds, with the cut's rules still in it: supernode-2 never hears from the
    /// restarted supernode-1 until the cut ends, then both rejoin. The cut is one-way, so its
    /// rules live only in supernode-1's namespace: were the namespace new, nothing would keep
    /// them apart.
    @Test(.timeLimit(.minutes(2)), .enabled(if: NFTables.isUsable, "needs root and nft to enter the containers' network namespaces"))
    func aContainerRestartedDuringAPartitionIsStillCutOff() async throws {
        let plan = """
            seed: 1
            duration: 22s
            steady-state:
              timeout: 30s
              hold: 1s
              slos:
                - {name: joined, expr: "min(stormlab_supernode_known_supernodes) == 2", always: {}}
            steps:
              - {name: cut, at: 1s, for: 9s, partition: {groups: [[supernode-1], [supernode-2]], one-way: true}}
              - {name: bounce, at: 2s, restart: {instances: [supernode-1], downtime: 500ms}}
            slos:
              # Neither side hears the other: the restarted supernode-1 has no moment outside the cut.
              - {name: still-split, expr: "max(stormlab_supernode_known_supernodes) == 1", always: {from: 7s, to: cut}}
              - {name: rejoined, expr: "min(stormlab_supernode_known_supernodes) == 2", recovers: {after: cut, within: 10s, hold: 1s}}
            """
        // No clients: a promoted client would be a third supernode, and count in what they know.
        let supernodes = String(overlayCompose[..<overlayCompose.range(of: "  client:")!.lowerBound])
        let (end, output, events, fixture) = try await PlanRunTests.run(compose: supernodes, plan: plan, runtime: .docker)
        defer { fixture.remove() }
        #expect(end == .exited(0), "\(output)")
        #expect(events.filter { $0.kind == .start && $0.instance == "supernode-1" }.count == 2, "supernode-1 restarted inside the cut")
        // The sandboxes ran until the run removed them.
        #expect(!events.contains { $0.detail?.hasPrefix("sandbox die") == true }, "\(events.filter { $0.kind == .container })")
        try await expectNothingLeft(of: fixture)
    }

    /// No container or network of the fixture's runs is left on the engine.
    private func expectNothingLeft(of fixture: LabFixture) async throws {
        let engine = try DockerEngine.fromEnvironment()
        for folder in fixture.runFolders {
            let label = "stormlab.run=\(folder.split(separator: "/").last ?? "")"
            #expect(try await engine.containers(label: label).isEmpty)
            #expect(try await engine.networks(label: label).isEmpty)
        }
    }

    /// Runs `body` with a fresh fixture, then removes whatever its runs left on the engine and
    /// the host, however `body` ended.
    private func withDockerFixture(compose: String = "services: {}\n", _ body: (LabFixture) async throws -> Void) async throws {
        let fixture = try LabFixture(compose: compose)
        do {
            try await body(fixture)
        } catch {
            await sweep(fixture)
            throw error
        }
        await sweep(fixture)
    }

    /// Removes what the fixture's runs left, also those whose run folder a test deleted.
    private func sweep(_ fixture: LabFixture) async {
        _ = await Cleanup.sweep(runsFolder: fixture.runs)
        _ = try? await Cleanup.sweepOrphans()
        fixture.remove()
    }
}
