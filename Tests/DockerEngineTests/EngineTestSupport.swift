import DockerEngine
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether the real engine and the lab image are there, for `.enabled(...)` traits.
enum EngineAvailability {
    static let image = "stormlab:local"

    static func engineReachable() async -> Bool {
        (try? await DockerEngine().version()) != nil
    }

    static func imagePresent() async -> Bool {
        ((try? await DockerEngine().imageExists(image)) ?? nil) != nil
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when an engine answers at /var/run/docker.sock.
    static var needsEngine: Self {
        .enabled("needs a running Docker engine at /var/run/docker.sock") { await EngineAvailability.engineReachable() }
    }

    /// Runs the test only when image stormlab:local is on this machine.
    static var needsImage: Self {
        .enabled("needs image stormlab:local: build it with Docker/build-image.sh") {
            await EngineAvailability.imagePresent()
        }
    }
}

/// What one end-to-end test creates on the engine: everything carries the label
/// `stormlab.test=<token>`, and ``run(_:)`` removes all of it when the test ends, however it ends.
struct EngineScratch: Sendable {
    let engine = DockerEngine()
    let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)

    var label: String { "stormlab.test=\(token)" }
    var labels: [String: String] { ["stormlab.test": token] }

    /// A unique name for a thing of `kind`.
    func name(_ kind: String) -> String { "stormlab-test-\(kind)-\(token)" }

    /// A bridge interface name within the kernel's 15 characters.
    var bridgeName: String { "stl" + token.prefix(12) }

    /// Runs `body`, then force-removes every container and network with this test's label, even
    /// when `body` threw or the test was cancelled.
    static func run(_ body: (EngineScratch) async throws -> Void) async throws {
        let scratch = EngineScratch()
        do {
            try await body(scratch)
        } catch {
            await scratch.cleanUp()
            throw error
        }
        await scratch.cleanUp()
        // Nothing may outlive a test.
        #expect(try await scratch.engine.containers(label: scratch.label).isEmpty)
        #expect(try await scratch.engine.networks(label: scratch.label).isEmpty)
    }

    func cleanUp() async {
        let engine = engine
        let label = label
        // A fresh task: cleanup must run even when the test's own task was cancelled (time limit).
        await Task {
            for container in (try? await engine.containers(label: label)) ?? [] {
                try? await engine.remove(container.id, force: true)
            }
            for network in (try? await engine.networks(label: label)) ?? [] {
                try? await engine.removeNetwork(network.id)
            }
        }.value
    }

    /// Creates an internal network on a free `172.31.x.0/24` and returns its id, name and the
    /// subnet's first three octets.
    func createNetwork() async throws -> (id: String, name: String, prefix: String) {
        var lastError: DockerError?
        for _ in 0..<10 {
            let prefix = "172.31.\(Int.random(in: 0...255))"
            let spec = NetworkSpec(
                name: name("net"),
                subnet: "\(prefix).0/24",
                gateway: "\(prefix).1",
                labels: labels,
                bridgeName: bridgeName
            )
            let result: Result<String, DockerError>
            do {
                result = .success(try await engine.createNetwork(spec))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let id):
                return (id, spec.name, prefix)
            case .failure(let error) where error.code == .api && error.status == 403:
                lastError = error  // The subnet overlaps another network's: try another.
            case .failure(let error):
                throw error
            }
        }
        throw lastError!
    }
}

/// Collects a stream of events in the background, for tests to wait on.
final class EventRecorder: Sendable {
    private final class Store: Sendable {
        let events = Mutex<[DockerEvent]>([])
    }

    private let store = Store()
    private let reader: Task<(any Error)?, Never>

    init(_ stream: AsyncThrowingStream<DockerEvent, any Error>) {
        let store = store
        reader = Task {
            do {
                for try await event in stream { store.events.withLock { $0.append(event) } }
                return nil
            } catch {
                return error
            }
        }
    }

    var all: [DockerEvent] { store.events.withLock { $0 } }

    /// The first event that matches, waiting up to `timeout` for it.
    func first(
        within timeout: Duration = .seconds(30),
        where predicate: (DockerEvent) -> Bool
    ) async -> DockerEvent? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = store.events.withLock({ $0.first(where: predicate) }) { return event }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Cancels the reader and returns how long it took to end, and the error it ended with.
    func stop() async -> (duration: Duration, error: (any Error)?) {
        let started = ContinuousClock.now
        reader.cancel()
        let error = await reader.value
        return (ContinuousClock.now - started, error)
    }
}

/// A pipe whose read end is non-blocking.
final class TestPipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Whatever can be read now.
    func drain() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(readEnd, &chunk, chunk.count)
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads until the text read so far contains `needle`, for up to `timeout`.
    func read(until needle: String, within timeout: Duration = .seconds(30)) async -> String {
        var text = ""
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            text += drain()
            if text.contains(needle) { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return text
    }
}
