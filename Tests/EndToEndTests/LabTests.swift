import Foundation
import LabSpec
import Orchestrator
import Overlay
import OverlayWire
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Labs run by the process runtime with real processes: the overlay lab, teardown, SIGKILL of the
/// orchestrator, cleanup from ledgers, and every kind of bad input.
@Suite(.serialized, .enabled(if: Libsystemd.isAvailable, "libsystemd.so.0 is not installed on this host"))
struct LabTests {
    @Test(.timeLimit(.minutes(2)))
    func overlayLabComesOnlineThroughTheNotifySocketAndStopsCleanly() async throws {
        let fixture = try LabFixture(compose: "services: {}\n")
        defer { fixture.remove() }
        let project = try loadLab("\(repositoryRoot)/labs/patch-tuesday", variables: ["VIRTUAL": "20", "CLIENTS": "2", "POLICY": "adaptive"])
        let run = try LabRun(project: project, configuration: runConfiguration(runs: fixture.runs), logger: quietLogger)
        let names = run.instances.map(\.name)
        #expect(names == ["auth-1", "supernode-1", "supernode-2", "supernode-3", "client-1", "client-2"])

        let online = try await run.run { run in
            try await run.waitUntilReady()
            #expect(run.status().allSatisfy { $0.phase == .ready && $0.readiness == .notify })
            // The names resolved: every client reaches the supernodes, so all 40 go online.
            let clients = run.instances.filter { $0.service == "client" }
            return await eventually(within: .seconds(30)) {
                var total = 0.0
                for client in clients {
                    let endpoint = Endpoint(host: client.address.address, port: 9300)
                    if let page = try? await MetricsFetch.get(endpoint) { total += MetricsFetch.sums(page)["stormlab_client_online"] ?? 0 }
                }
                return total >= 40
            }
        }
        #expect(online, "40 virtual clients online")

        let events = RunEvent.read(path: run.eventsPath)
        for name in names {
            #expect(events.contains { $0.kind == .start && $0.instance == name && $0.pid != nil }, "\(name) start")
            #expect(events.contains { $0.kind == .ready && $0.instance == name && $0.detail?.contains("READY=1") == true }, "\(name) ready")
            let exit = events.last { $0.kind == .exit && $0.instance == name }
            #expect(exit?.status == 0, "\(name) exited 0 on SIGTERM, not \(String(describing: exit))")
        }
        #expect(events.first?.kind == .runStarted)
        #expect(events.last?.kind == .runStopped)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.monotonic <= $1.monotonic })
        // The run folder is complete; nothing is left.
        for file in ["lab.json", "events.jsonl", "ledger.jsonl", "logs/auth-1.log", "logs/client-2.log"] {
            #expect(FileManager.default.fileExists(atPath: "\(run.folder)/\(file)"), "\(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: run.notifySocketPath))
        #expect(Ledger.read(path: run.ledgerPath).last?.kind == .closed)
        #expect(pidsCarrying(run: run.id.value).isEmpty)
        let log = try String(contentsOfFile: "\(run.folder)/logs/supernode-1.log", encoding: .utf8)
        #expect(log.hasPrefix("20"), "lines are timestamped")
        #expect(log.contains("--peers=\(run.instances[1].address.address):7200,"))
    }

    @Test(.timeLimit(.minutes(1)))
    func sigkillOfTheOrchestratorLeavesNoInstanceAliveAndCleanupRemovesItsSocket() async throws {
        let fixture = try LabFixture(compose: "services: {}\n")
        defer { fixture.remove() }
        let up = try StormlabProcess(
            ["up", "\(repositoryRoot)/labs/patch-tuesday", "--runs", fixture.runs],
            in: fixture.root, environment: ["SUPERNODES": "2", "CLIENTS": "1", "VIRTUAL": "10"])
        let events = await waitForEvents(in: fixture.runs, within: .seconds(30)) { $0.contains { $0.kind == .allReady } }
        guard events.contains(where: { $0.kind == .allReady }) else {
            up.kill9()
            Issue.record("not ready: \(up.output)")
            return
        }
        let pids = events.filter { $0.kind == .start }.compactMap(\.pid)
        #expect(pids.count == 4)
        up.kill9()
        let allGone = await eventually(within: .seconds(5)) {
            pids.allSatisfy { ProcessRecord.read(pid: $0)?.isAlive != true }
        }
        #expect(allGone, "PDEATHSIG took every instance down")

        let run = try #require(fixture.runFolders.first)
        #expect(FileManager.default.fileExists(atPath: "\(run)/notify.sock"), "a SIGKILLed run leaves its socket")
        let (end, output) = try await stormlab(["cleanup", "--runs", fixture.runs], in: fixture.root)
        #expect(end == .exited(0))
        #expect(output.contains("removed \(run)/notify.sock"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: "\(run)/notify.sock"))
    }

    /// A double-forked child escapes PDEATHSIG (it is not inherited across fork); cleanup finds it
    /// through the ledger and the run id in its environment, and nothing else is touched.
    @Test(.timeLimit(.minutes(1)))
    func cleanupKillsWhatAKilledRunLeftAndOnlyThat() async throws {
        let fixture = try LabFixture(compose: """
            services:
              leaker:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "sleep 300 & exec sleep 301"]
                deploy: {replicas: 2}
            """)
        defer { fixture.remove() }
        // A bystander that is not part of any run.
        let bystander = try ChildProcess.spawn(SpawnOptions(executable: "/bin/sleep", arguments: ["300"]))
        defer { kill(bystander, SIGKILL); _ = ChildProcess.wait(bystander) }

        let up = try StormlabProcess(["up", fixture.lab, "--runs", fixture.runs], in: fixture.root)
        let events = await waitForEvents(in: fixture.runs, within: .seconds(20)) { $0.contains { $0.kind == .allReady } }
        guard events.contains(where: { $0.kind == .allReady }) else {
            up.kill9()
            Issue.record("not ready: \(up.output)")
            return
        }
        up.kill9()
        let run = try #require(fixture.runFolders.first.map { String($0.split(separator: "/").last!) })
        // The instances' main processes die with the orchestrator; the background sleeps remain.
        let leftovers = await eventually(within: .seconds(5)) { pidsCarrying(run: run).count == 2 }
        #expect(leftovers, "two double-forked sleeps survive: \(pidsCarrying(run: run))")

        let (end, output) = try await stormlab(["cleanup", "--runs", fixture.runs], in: fixture.root)
        #expect(end == .exited(0))
        #expect(output.contains("run \(run): killed"), "\(output)")
        #expect(await eventually(within: .seconds(5)) { pidsCarrying(run: run).isEmpty })
        #expect(ProcessRecord.read(pid: bystander)?.isAlive == true, "cleanup leaves other processes alone")
        #expect(Ledger.read(path: "\(fixture.runs)/\(run)/ledger.jsonl").last?.kind == .cleaned)

        // A second sweep has nothing to do.
        let (_, again) = try await stormlab(["cleanup", "--runs", fixture.runs], in: fixture.root)
        #expect(again.contains("0 cleaned up"), "\(again)")
    }

    @Test(.timeLimit(.minutes(1)))
    func upStopsEveryInstanceOnSIGTERMAndCompletesTheRunFolder() async throws {
        let fixture = try LabFixture(compose: """
            services:
              worker:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "echo worker $${STORMLAB_INDEX} at ${STORMLAB_ADDRESS}; exec sleep 300"]
                deploy: {replicas: 3}
            """)
        defer { fixture.remove() }
        let up = try StormlabProcess(["up", fixture.lab, "--runs", fixture.runs, "--stop-grace", "2"], in: fixture.root)
        let events = await waitForEvents(in: fixture.runs, within: .seconds(20)) { $0.contains { $0.kind == .allReady } }
        #expect(events.contains { $0.kind == .allReady })
        kill(up.pid, SIGTERM)
        let end = await up.wait(timeout: .seconds(20))
        #expect(end == .exited(0), "\(up.output)")
        #expect(up.output.contains("worker-3"), "the instance table")
        let run = try #require(fixture.runFolders.first)
        let final = RunEvent.read(path: "\(run)/events.jsonl")
        #expect(final.filter { $0.kind == .exit && $0.signal == SIGTERM }.count == 3)
        #expect(final.last?.kind == .runStopped)
        let log = try String(contentsOfFile: "\(run)/logs/worker-2.log", encoding: .utf8)
        #expect(log.contains("worker 2 at 127."), "\(log)")
        #expect(pidsCarrying(run: String(run.split(separator: "/").last!)).isEmpty)
    }

    /// Invalid labs: exit 2, every problem with its position, and no run folder (nothing started).
    static let invalidLabs: [(String, String, String)] = [
        ("unknown key", "services:\n  a:\n    image: x\n    colour: red\n", "compose.yaml:4:5: error:"),
        ("dependency cycle", "services:\n  a:\n    image: sh\n    depends_on: [b]\n  b:\n    image: sh\n    depends_on: [a]\n", "dependency cycle"),
        ("negative replicas", "services:\n  a:\n    image: sh\n    deploy: {replicas: -1}\n", "compose.yaml:4:"),
        ("missing executable", "services:\n  a:\n    image: x\n    entrypoint: [/nonexistent/program]\n", "compose.yaml:2:3: error: services.a: executable \"/nonexistent/program\" not found"),
        ("executable not on PATH", "services:\n  a:\n    image: no-such-program-anywhere\n", "compose.yaml:2:3: error: services.a: executable \"no-such-program-anywhere\" not found on PATH"),
        ("YAML syntax", "services:\n  a: [\n", "compose.yaml:"),
    ]

    @Test(.timeLimit(.minutes(1)), arguments: invalidLabs)
    func invalidLabExitsTwoAndStartsNothing(_ name: String, _ compose: String, _ expected: String) async throws {
        let fixture = try LabFixture(compose: compose)
        defer { fixture.remove() }
        for command in ["run", "validate"] {
            let (end, output) = try await stormlab([command, fixture.lab, "--runs", fixture.runs], in: fixture.root)
            #expect(end == .exited(2), "\(name), \(command): \(output)")
            #expect(output.contains(expected), "\(name), \(command): \(output)")
        }
        #expect(fixture.runFolders.isEmpty, "\(name): nothing started")
    }

    @Test(.timeLimit(.minutes(1)))
    func missingLabFolderIsReportedWithItsPath() async throws {
        let fixture = try LabFixture(compose: "services: {}\n")
        defer { fixture.remove() }
        let (end, output) = try await stormlab(["run", "\(fixture.root)/nowhere"], in: fixture.root)
        #expect(end == .exited(2))
        #expect(output.contains("\(fixture.root)/nowhere/compose.yaml:1:1: error: cannot read compose file"), "\(output)")
    }

    @Test(.timeLimit(.minutes(1)))
    func portAlreadyTakenIsAClearErrorAndNothingStarts() async throws {
        let fixture = try LabFixture(compose: """
            services:
              server:
                image: busybox
                entrypoint: [/bin/sleep, "300"]
                expose: ["7300"]
                x-stormlab:
                  socket-activation: [7300]
            """)
        defer { fixture.remove() }
        let prefix = freshLoopbackPrefix()
        let taken = try #require(try? bindTCP(host: "\(prefix).1", port: 7300))
        defer { close(taken) }
        let (end, output) = try await stormlab(["run", fixture.lab, "--runs", fixture.runs, "--subnet", prefix], in: fixture.root)
        #expect(end == .exited(2), "\(output)")
        #expect(output.contains("compose.yaml:2:3: error: services.server: port 7300 on \(prefix).1 (server-1) cannot be bound: Address already in use"), "\(output)")
        #expect(fixture.runFolders.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func startTimeoutNamesTheInstanceAndShowsTheTailOfItsLog() async throws {
        let fixture = try LabFixture(compose: """
            services:
              mute:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "echo never says ready; exec sleep 300"]
                x-stormlab: {notify: true}
            """)
        defer { fixture.remove() }
        let (end, output) = try await stormlab(["run", fixture.lab, "--runs", fixture.runs, "--start-timeout", "1"], in: fixture.root)
        #expect(end == .exited(3), "\(output)")
        #expect(output.contains("error: mute-1 not ready within 1.0 s (readiness: notify)"), "\(output)")
        #expect(output.contains("| ") && output.contains("never says ready"), "\(output)")
        let run = try #require(fixture.runFolders.first)
        #expect(RunEvent.read(path: "\(run)/events.jsonl").contains { $0.kind == .startFailed && $0.instance == "mute-1" })
        #expect(pidsCarrying(run: String(run.split(separator: "/").last!)).isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func instanceThatExitsBeforeReadyFailsTheStart() async throws {
        let fixture = try LabFixture(compose: """
            services:
              broken:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "echo cannot open config >&2; exit 4"]
                expose: ["7400"]
            """)
        defer { fixture.remove() }
        let (end, output) = try await stormlab(["run", fixture.lab, "--runs", fixture.runs], in: fixture.root)
        #expect(end == .exited(3), "\(output)")
        #expect(output.contains("error: broken-1 exited with status 4 before it was ready"), "\(output)")
        #expect(output.contains("cannot open config"), "\(output)")
    }

    /// A legacy supernode that falls over exits 86; `restart: on-failure` brings it back, and
    /// dependencies, healthchecks and TCP readiness order the start.
    @Test(.timeLimit(.minutes(1)))
    func restartPolicyRestartsAnInstanceThatExits86() async throws {
        let fixture = try LabFixture(compose: """
            services:
              base:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "touch base-ready-$${STORMLAB_RUN}; exec sleep 300"]
                healthcheck:
                  test: ["CMD-SHELL", "test -f base-ready-$${STORMLAB_RUN}"]
                  interval: 100ms
              flaky:
                image: busybox
                entrypoint: ["/bin/sh", "-c", "sleep 0.3; exit 86"]
                restart: on-failure:2
                depends_on:
                  base: {condition: service_healthy}
              server:
                image: busybox
                entrypoint: [/bin/sleep, "300"]
                expose: ["7500"]
                x-stormlab: {socket-activation: [7500]}
            """)
        defer { fixture.remove() }
        let project = try loadLab(fixture.lab)
        let run = try LabRun(project: project, configuration: runConfiguration(runs: fixture.runs), logger: quietLogger)
        #expect(run.instances.map(\.readiness) == [.healthCheck, .started, .tcp(port: 7500)])
        let events = try await run.run { run in
            try await run.waitUntilReady()
            _ = await eventually(within: .seconds(10)) { run.status().first { $0.name == "flaky-1" }?.phase == .exited(.exited(86)) }
            return run.events
        }
        let flaky = events.filter { $0.instance == "flaky-1" }
        #expect(flaky.filter { $0.kind == .start }.count == 3, "\(flaky)")
        #expect(flaky.filter { $0.kind == .restart }.count == 2)
        #expect(flaky.filter { $0.kind == .exit }.allSatisfy { $0.status == 86 })
        // flaky started only after base's healthcheck passed.
        let baseReady = try #require(events.first { $0.kind == .ready && $0.instance == "base-1" })
        let flakyStart = try #require(flaky.first { $0.kind == .start })
        #expect(baseReady.detail?.contains("healthcheck") == true)
        #expect(baseReady.monotonic <= flakyStart.monotonic)
    }

    /// Under `--runtime docker` with no engine where `DOCKER_HOST` points: one message that
    /// says what to do, exit 3, and the run closed with nothing started. Needs no Docker.
    @Test(.timeLimit(.minutes(1)))
    func theDockerRuntimeWithoutAnEngineSaysWhatToDoAndExits3() async throws {
        let fixture = try LabFixture(compose: """
            services:
              auth:
                image: stormlab:latest
                command: [auth]
            """)
        defer { fixture.remove() }
        let socket = "\(fixture.root)/no-engine.sock"
        let (end, output) = try await stormlab(
            ["run", fixture.lab, "--runtime", "docker", "--runs", fixture.runs], in: fixture.root,
            environment: ["DOCKER_HOST": "unix://\(socket)"])
        #expect(end == .exited(3), "\(output)")
        #expect(output.contains("no Docker engine at \(socket)"), "\(output)")
        let run = try #require(fixture.runFolders.first)
        #expect(Ledger.read(path: "\(run)/ledger.jsonl").last?.kind == .closed)
        #expect(pidsCarrying(run: String(run.split(separator: "/").last!)).isEmpty)
    }

    /// A run closes each descriptor it owns once. A second close, when the run is released,
    /// would close whatever took the number after the stop: in the test process, an event
    /// loop's socket, which NIO then trips over.
    @Test(.timeLimit(.minutes(1)))
    func aReleasedRunClosesNothingItNoLongerOwns() async throws {
        let fixture = try LabFixture(compose: """
            services:
              server:
                image: busybox
                entrypoint: [/bin/sleep, "300"]
                expose: ["7500"]
                x-stormlab: {socket-activation: [7500]}
            """)
        defer { fixture.remove() }
        let project = try loadLab(fixture.lab)
        weak var released: LabRun?
        var placeholders: [Int32] = []
        defer { for fd in placeholders { close(fd) } }
        do {
            let run = try LabRun(project: project, configuration: runConfiguration(runs: fixture.runs), logger: quietLogger)
            released = run
            try await run.run { run in try await run.waitUntilReady() }
            // Stopped: the listener is closed. Take the lowest free numbers, as sockets opened
            // anywhere in the process now would.
            placeholders = (0..<64).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while released != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(released == nil, "the run is released")
        let closed = placeholders.filter { fcntl($0, F_GETFD) < 0 }
        #expect(closed.isEmpty, "descriptors closed by the run's release: \(closed)")
    }

    /// A restart that cannot exec (here: the program lost its execute bit, as while a binary is
    /// replaced) is tried again with the restart backoff instead of failing the run, and the
    /// instance comes back once it can.
    @Test(.timeLimit(.minutes(1)))
    func aRestartThatCannotExecIsTriedAgain() async throws {
        let fixture = try LabFixture(compose: """
            services:
              node:
                image: busybox
                restart: always
                x-stormlab: {executable: [./node.sh]}
            """)
        defer { fixture.remove() }
        let script = "\(fixture.lab)/node.sh"
        try "#!/bin/sh\nexec sleep 300\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let project = try loadLab(fixture.lab)
        let run = try LabRun(project: project, configuration: runConfiguration(runs: fixture.runs), logger: quietLogger)
        let events = try await run.run { run in
            try await run.waitUntilReady()
            chmod(script, 0o644)
            run.signal("node-1", SIGKILL)
            let retried = await eventually(within: .seconds(5)) {
                run.events.contains { $0.kind == .startFailed && $0.detail?.contains("trying again") == true }
            }
            #expect(retried)
            chmod(script, 0o755)
            #expect(await eventually(within: .seconds(10)) { run.status().first?.phase == .ready && run.status().first?.pid != nil })
            return run.events
        }
        #expect(events.filter { $0.kind == .start && $0.instance == "node-1" }.count >= 2)
    }

    @Test(.timeLimit(.minutes(1)))
    func pausedInstanceIsRecordedAsAWatchdogMiss() async throws {
        let fixture = try LabFixture(compose: """
            services:
              auth:
                image: stormlab
                command: [auth, --no-metrics, --hash-iterations=10, --log-level=warning]
                expose: ["7100"]
                x-stormlab:
                  notify: true
                  watchdog: 400ms
                  socket-activation: [{port: 7100, name: overlay}]
            """)
        defer { fixture.remove() }
        let project = try loadLab(fixture.lab)
        let run = try LabRun(project: project, configuration: runConfiguration(runs: fixture.runs), logger: quietLogger)
        let missed = try await run.run { run in
            try await run.waitUntilReady()
            try await Task.sleep(for: .seconds(1))
            let before = run.events.filter { $0.kind == .watchdogMiss }.count
            run.signal("auth-1", SIGSTOP)
            let missed = await eventually(within: .seconds(5)) { run.events.contains { $0.kind == .watchdogMiss } }
            return (before, missed)
        }
        #expect(missed.0 == 0, "no miss while it pings")
        #expect(missed.1, "a miss once paused")
        #expect(run.events.contains { $0.kind == .exit && $0.instance == "auth-1" }, "a paused instance still stops")
    }
}

/// A TCP listener on `host:port`.
func bindTCP(host: String, port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && listen(fd, 16) == 0 }
    }
    guard bound else {
        close(fd)
        throw LocalClusterError(message: "bind \(host):\(port): errno \(errno)")
    }
    return fd
}
