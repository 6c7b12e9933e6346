import DockerEngine
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Against the real engine: skipped without one, or without image stormlab:local.
@Suite("Docker engine, end to end", .needsEngine, .serialized)
struct EngineEndToEndTests {
    @Test("version, images and the errors for things that are not there", .timeLimit(.minutes(1)))
    func versionImagesAndErrors() async throws {
        try await EngineScratch.run { lab in
            let engine = lab.engine
            let version = try await engine.version()
            #expect(version.os == "linux")
            #expect(!version.version.isEmpty)

            #expect(try await engine.imageExists("stormlab-missing-\(lab.token):none") == nil)
            let missing = await #expect(throws: DockerError.self) {
                try await engine.createContainer(
                    name: lab.name("nope"),
                    ContainerSpec(image: "stormlab-missing-\(lab.token):none", labels: lab.labels)
                )
            }
            #expect(missing?.code == .imageMissing)

            let noContainer = await #expect(throws: DockerError.self) { try await engine.inspect(lab.name("ghost")) }
            #expect(noContainer?.code == .notFound)
            let noNetwork = await #expect(throws: DockerError.self) {
                try await engine.inspectNetwork(lab.name("ghost"))
            }
            #expect(noNetwork?.code == .notFound)
            let noKill = await #expect(throws: DockerError.self) {
                try await engine.kill(lab.name("ghost"), signal: "SIGKILL")
            }
            #expect(noKill?.code == .notFound)
            // Removing what is not there is not an error.
            try await engine.remove(lab.name("ghost"), force: true)
            try await engine.removeNetwork(lab.name("ghost"))
            #expect(try await engine.containers(label: lab.label).isEmpty)
        }
    }

    @Test("a created container that never ran", .needsImage, .timeLimit(.minutes(1)))
    func createdContainer() async throws {
        try await EngineScratch.run { lab in
            let engine = lab.engine
            let image = try #require(try await engine.imageExists(EngineAvailability.image))
            #expect(image.id.hasPrefix("sha256:"))
            #expect(image.size > 0)

            let spec = ContainerSpec(image: EngineAvailability.image, command: ["--help"], labels: lab.labels)
            let id = try await engine.createContainer(name: lab.name("idle"), spec)
            let info = try await engine.inspect(id)
            #expect(info.status == "created")
            #expect(!info.running)
            #expect(info.pid == 0)
            #expect(info.ipAddresses.isEmpty, "no network given: NetworkMode none")

            let again = await #expect(throws: DockerError.self) {
                try await engine.createContainer(name: lab.name("idle"), spec)
            }
            #expect(again?.code == .conflict)
            let kill = await #expect(throws: DockerError.self) { try await engine.kill(id, signal: "SIGKILL") }
            #expect(kill?.code == .notRunning)
            let pause = await #expect(throws: DockerError.self) { try await engine.pause(id) }
            #expect(pause?.code == .notRunning)
            try await engine.stop(id, timeout: 1)  // 304: already stopped

            // The log of a container that is not running ends at once.
            let pipe = try TestPipe()
            try await engine.followLogs(id, into: pipe.writeEnd)
            #expect(pipe.drain().isEmpty)
        }
    }

    @Test(
        "network and container lifecycle: create, start, events, pause, kill, restart, logs, remove",
        .needsImage,
        .timeLimit(.minutes(3))
    )
    func lifecycle() async throws {
        try await EngineScratch.run { lab in
            let engine = lab.engine

            // An internal network with a fixed subnet and bridge name.
            let network = try await lab.createNetwork()
            let created = try await engine.inspectNetwork(network.id)
            #expect(created.name == network.name)
            #expect(created.isInternal)
            #expect(created.driver == "bridge")
            #expect(created.labels == lab.labels)
            #expect(created.bridgeName == lab.bridgeName)
            #expect(created.subnets == ["\(network.prefix).0/24"])
            #expect(created.gateways == ["\(network.prefix).1"])
            #expect(created.containers.isEmpty)
            #expect(try await engine.networks(label: lab.label).map(\.id) == [network.id])

            let events = EventRecorder(
                engine.events(
                    filters: ["type": ["container"], "label": [lab.label]],
                    since: Date().addingTimeInterval(-1)
                )
            )

            // A supernode with a static address and a healthcheck.
            let address = "\(network.prefix).10"
            let name = lab.name("sn")
            let spec = ContainerSpec(
                image: EngineAvailability.image,
                command: ["supernode", "--listen", "0.0.0.0:7200", "--metrics", "0.0.0.0:9200"],
                environment: ["STORMLAB_TEST": lab.token],
                labels: lab.labels.merging(["stormlab.instance": "sn1"]) { $1 },
                hostname: "sn1",
                stopSignal: "SIGTERM",
                stopTimeout: 2,
                network: network.name,
                ipv4Address: address,
                aliases: ["supernode"],
                healthcheck: HealthcheckSpec(
                    test: ["/usr/bin/stormlab", "probe", "tcp", "127.0.0.1:7200"],
                    interval: .milliseconds(500),
                    timeout: .seconds(2),
                    retries: 3
                ),
                memoryBytes: 256 << 20,
                nanoCPUs: 1_000_000_000
            )
            let id = try await engine.createContainer(name: name, spec)
            try await engine.start(id)
            try await engine.start(id)  // 304: already running

            var info = try await engine.inspect(id)
            #expect(info.id == id)
            #expect(info.name == name)
            #expect(info.running)
            #expect(info.pid > 0)
            #expect(info.ipAddresses == [network.name: address])
            #expect(info.labels["stormlab.instance"] == "sn1")
            #expect(await events.first { $0.action == "start" && $0.id == id } != nil)
            let healthy = await events.first { $0.action == "health_status: healthy" && $0.id == id }
            #expect(healthy?.attributes["name"] == name)
            #expect(try await engine.inspect(id).health == "healthy")

            let listed = try await engine.containers(label: lab.label)
            #expect(listed.map(\.id) == [id])
            #expect(listed.first?.state == "running")
            #expect(listed.first?.name == name)
            #expect(try await engine.inspectNetwork(network.id).containers[id]?.ipv4Address == address)

            // The host reaches a container on an internal network.
            #expect(await Self.canConnect(host: address, port: 9200))

            // Pause and unpause.
            try await engine.pause(id)
            #expect(try await engine.inspect(id).paused)
            let pausedAgain = await #expect(throws: DockerError.self) { try await engine.pause(id) }
            #expect(pausedAgain?.code == .conflict)
            #expect(await events.first { $0.action == "pause" && $0.id == id } != nil)
            try await engine.unpause(id)
            #expect(try await engine.inspect(id).paused == false)
            let unpausedAgain = await #expect(throws: DockerError.self) { try await engine.unpause(id) }
            #expect(unpausedAgain?.code == .conflict)
            #expect(await events.first { $0.action == "unpause" && $0.id == id } != nil)

            // SIGKILL: a kill event with the signal, a die event with the exit code.
            try await engine.kill(id, signal: "SIGKILL")
            let kill = await events.first { $0.action == "kill" && $0.id == id }
            #expect(kill?.attributes["signal"] == "9")
            let die = await events.first { $0.action == "die" && $0.id == id }
            #expect(die?.attributes["exitCode"] == "137")
            #expect((die?.time ?? 0) > 0)
            #expect((die?.timeNano ?? 0) / 1_000_000_000 == die?.time)
            info = try await engine.inspect(id)
            #expect(!info.running)
            #expect(info.pid == 0)
            #expect(info.exitCode == 137)
            #expect(info.status == "exited")
            let killAgain = await #expect(throws: DockerError.self) { try await engine.kill(id, signal: "SIGKILL") }
            #expect(killAgain?.code == .notRunning)

            // Restart: running again with a new process.
            try await engine.restart(id, timeout: 1)
            info = try await engine.inspect(id)
            #expect(info.running)
            #expect(info.pid > 0)

            // Follow the logs: output arrives, and the follow ends by itself when the container stops.
            let pipe = try TestPipe()
            let writeEnd = pipe.writeEnd
            let follower = Task { try await engine.followLogs(id, into: writeEnd) }
            let output = await pipe.read(until: "supernode serving")
            #expect(output.contains("supernode serving"))
            try await engine.stop(id, timeout: 2)
            let ended = ContinuousClock.now
            try await follower.value
            #expect(ContinuousClock.now - ended < .seconds(5))
            #expect(await pipe.read(until: "supernode stopped", within: .seconds(5)).contains("supernode stopped"))
            #expect(try await engine.inspect(id).exitCode == 0, "SIGTERM ends the supernode cleanly")

            // Cancelling a follow closes its connection promptly.
            try await engine.start(id)
            let cancelled = Task { try await engine.followLogs(id, into: writeEnd) }
            try await Task.sleep(for: .milliseconds(500))
            let cancelledAt = ContinuousClock.now
            cancelled.cancel()
            try await cancelled.value
            #expect(ContinuousClock.now - cancelledAt < .seconds(2))

            // Remove everything; removing twice is fine.
            try await engine.remove(id, force: true)
            try await engine.remove(id, force: true)
            let gone = await #expect(throws: DockerError.self) { try await engine.inspect(id) }
            #expect(gone?.code == .notFound)
            #expect(await events.first { $0.action == "destroy" && $0.id == id } != nil)

            try await engine.removeNetwork(network.id)
            try await engine.removeNetwork(network.id)
            let networkGone = await #expect(throws: DockerError.self) { try await engine.inspectNetwork(network.id) }
            #expect(networkGone?.code == .notFound)

            // The event stream ends promptly and cleanly when cancelled.
            let stopped = await events.stop()
            #expect(stopped.duration < .seconds(2))
            #expect(stopped.error == nil)
            let actions = events.all.filter { $0.id == id }.map(\.action)
            #expect(actions.first == "create")
            #expect(actions.contains("oom") == false)
        }
    }

    @Test("a test that fails still removes what it created", .needsImage, .timeLimit(.minutes(1)))
    func cleanupAfterFailure() async throws {
        struct Planned: Error {}
        var token = ""
        await #expect(throws: Planned.self) {
            try await EngineScratch.run { lab in
                token = lab.token
                let network = try await lab.createNetwork()
                let id = try await lab.engine.createContainer(
                    name: lab.name("doomed"),
                    ContainerSpec(
                        image: EngineAvailability.image,
                        command: ["supernode", "--listen", "0.0.0.0:7200", "--metrics", "0.0.0.0:9200"],
                        labels: lab.labels,
                        network: network.name
                    )
                )
                try await lab.engine.start(id)
                throw Planned()
            }
        }
        let engine = DockerEngine()
        #expect(try await engine.containers(label: "stormlab.test=\(token)").isEmpty)
        #expect(try await engine.networks(label: "stormlab.test=\(token)").isEmpty)
    }

    /// Whether a TCP connection from the host to `host:port` is accepted within 3 seconds.
    static func canConnect(host: String, port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(3))
                .connect(host: host, port: port)
                .get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
