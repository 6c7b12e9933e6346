#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client for the Docker Engine API over the engine's unix socket.
///
/// Every call opens its own connection and closes it when done, so calls may run concurrently
/// from any task; cancelling a task closes its connection at once. Paths are versioned
/// (`/v1.41/…`), which newer engines accept as well; call ``version()`` first to check that the
/// engine is there and new enough. Images are never pulled.
public final class DockerEngine: Sendable {
    /// The API version every request asks for, and the oldest engine API this client accepts.
    public static let minimumAPIVersion = "1.41"

    /// The engine's socket, `/var/run/docker.sock` by default.
    public let socketPath: String
    private let transport: EngineTransport

    /// A client for the engine at `socketPath`. Nothing is connected until the first call.
    public init(socketPath: String = "/var/run/docker.sock") {
        self.socketPath = socketPath
        self.transport = EngineTransport(socketPath: socketPath, group: MultiThreadedEventLoopGroup.singleton)
    }

    /// A client for the engine `DOCKER_HOST` names (`unix:///path`), or for the default socket
    /// when it is unset or empty; throws ``DockerError/Code/unsupportedHost`` for `tcp://`,
    /// `ssh://` and anything else that is not a unix socket.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(DockerError) -> DockerEngine {
        guard let host = environment["DOCKER_HOST"], !host.isEmpty else { return DockerEngine() }
        let scheme = "unix://"
        guard host.hasPrefix(scheme), host.count > scheme.count else { throw DockerError.unsupportedHost(host) }
        return DockerEngine(socketPath: String(host.dropFirst(scheme.count)))
    }

    // MARK: - Engine and images

    /// Checks that the engine is reachable and speaks API 1.41 or newer, and returns what it says
    /// about itself. Uses the unversioned `/version`, which every engine answers.
    public func version() async throws(DockerError) -> EngineVersion {
        let answer = try await transport.perform(EngineRequest(.GET, "/version"))
        try Self.expect(answer, 200)
        let version = try EngineVersion(WireJSON.decodeReply(VersionWire.self, from: answer.body, what: "the version"))
        guard Self.apiVersion(version.apiVersion, isAtLeast: Self.minimumAPIVersion) else {
            throw DockerError.engineTooOld(api: version.apiVersion, minimum: Self.minimumAPIVersion)
        }
        return version
    }

    /// The local image `reference` (`name:tag` or an id), or `nil` when it is not on this machine.
    public func imageExists(_ reference: String) async throws(DockerError) -> ImageInfo? {
        let answer = try await transport.perform(
            EngineRequest(.GET, Self.path("images", Self.escape(reference, keeping: "/:@"), "json"))
        )
        if answer.status == 404 { return nil }
        try Self.expect(answer, 200)
        return try ImageInfo(WireJSON.decodeReply(ImageWire.self, from: answer.body, what: "the image"))
    }

    // MARK: - Networks

    /// Creates a network and returns its id. A name already in use is ``DockerError/Code/conflict``;
    /// a subnet that overlaps another network's is ``DockerError/Code/api`` with status 403.
    public func createNetwork(_ spec: NetworkSpec) async throws(DockerError) -> String {
        let answer = try await transport.perform(
            EngineRequest(.POST, Self.path("networks", "create"), body: spec.requestBody())
        )
        try Self.expect(answer, 201, 200)
        return try Self.createdID(answer, what: "the new network")
    }

    /// The network `id` (or name), with its attached containers.
    public func inspectNetwork(_ id: String) async throws(DockerError) -> NetworkInfo {
        let answer = try await transport.perform(EngineRequest(.GET, Self.path("networks", Self.escape(id))))
        try Self.expect(answer, 200)
        return try NetworkInfo(WireJSON.decodeReply(NetworkWire.self, from: answer.body, what: "the network"))
    }

    /// Removes the network `id` (or name); a network that does not exist is not an error. A
    /// network with containers still attached is ``DockerError/Code/api`` with status 403.
    public func removeNetwork(_ id: String) async throws(DockerError) {
        let answer = try await transport.perform(EngineRequest(.DELETE, Self.path("networks", Self.escape(id))))
        try Self.expect(answer, 204, 200, 404)
    }

    /// The networks with label `label`, given as `key=value` or just `key`.
    public func networks(label: String) async throws(DockerError) -> [NetworkInfo] {
        let query = Self.query(["filters": Self.filters(["label": [label]])])
        let answer = try await transport.perform(EngineRequest(.GET, Self.path("networks") + query))
        try Self.expect(answer, 200)
        let wires = try WireJSON.decodeReply([NetworkWire].self, from: answer.body, what: "the network list")
        var networks: [NetworkInfo] = []
        for wire in wires { networks.append(try NetworkInfo(wire)) }
        return networks
    }

    // MARK: - Containers

    /// Creates the container `name` and returns its id. An image that is not on this machine is
    /// ``DockerError/Code/imageMissing``; a name in use is ``DockerError/Code/conflict``.
    public func createContainer(name: String, _ spec: ContainerSpec) async throws(DockerError) -> String {
        let target = Self.path("containers", "create") + Self.query(["name": name])
        let answer = try await transport.perform(EngineRequest(.POST, target, body: spec.requestBody()))
        if answer.status == 404 {
            let message = DockerError.engineMessage(answer.body) ?? ""
            if message.lowercased().contains("no such image") {
                throw DockerError.imageMissing(spec.image, engineMessage: message)
            }
        }
        try Self.expect(answer, 201, 200)
        return try Self.createdID(answer, what: "the new container")
    }

    /// Starts the container `id` (or name); one already running is not an error.
    public func start(_ id: String) async throws(DockerError) {
        try await containerAction(id, "start", expecting: 204, 304)
    }

    /// Stops the container `id`: its stop signal, then SIGKILL after `timeout` seconds (`nil` for
    /// the container's stop timeout). One already stopped is not an error. Returns once it is down.
    public func stop(_ id: String, timeout: Int?) async throws(DockerError) {
        try await containerAction(id, "stop", query: ["t": timeout.map(String.init)], expecting: 204, 304)
    }

    /// Sends `signal` (`SIGKILL`, `TERM`, `9`, …) to the container's PID 1. A container that is not
    /// running is ``DockerError/Code/notRunning``.
    public func kill(_ id: String, signal: String) async throws(DockerError) {
        try await containerAction(id, "kill", query: ["signal": signal], expecting: 204)
    }

    /// Stops the container `id` as ``stop(_:timeout:)`` does (if it runs), then starts it again.
    public func restart(_ id: String, timeout: Int?) async throws(DockerError) {
        try await containerAction(id, "restart", query: ["t": timeout.map(String.init)], expecting: 204)
    }

    /// Freezes every process of the container `id` (cgroup freezer).
    public func pause(_ id: String) async throws(DockerError) {
        try await containerAction(id, "pause", expecting: 204)
    }

    /// Thaws the container `id`.
    public func unpause(_ id: String) async throws(DockerError) {
        try await containerAction(id, "unpause", expecting: 204)
    }

    /// Removes the container `id` and its anonymous volumes; `force` kills it first if it runs. A
    /// container that does not exist is not an error.
    public func remove(_ id: String, force: Bool) async throws(DockerError) {
        let target =
            Self.path("containers", Self.escape(id))
            + Self.query(["force": force ? "1" : "0", "v": "1"])
        let answer = try await transport.perform(EngineRequest(.DELETE, target))
        try Self.expect(answer, 204, 200, 404)
    }

    /// The state, addresses and labels of the container `id` (or name).
    public func inspect(_ id: String) async throws(DockerError) -> ContainerInfo {
        let answer = try await transport.perform(
            EngineRequest(.GET, Self.path("containers", Self.escape(id), "json"))
        )
        try Self.expect(answer, 200)
        return try ContainerInfo(WireJSON.decodeReply(ContainerWire.self, from: answer.body, what: "the container"))
    }

    /// The containers with label `label` (`key=value` or `key`); stopped ones too unless `all` is false.
    public func containers(label: String, all: Bool = true) async throws(DockerError) -> [ContainerSummary] {
        let query = Self.query(["all": all ? "1" : "0", "filters": Self.filters(["label": [label]])])
        let answer = try await transport.perform(EngineRequest(.GET, Self.path("containers", "json") + query))
        try Self.expect(answer, 200)
        let wires = try WireJSON.decodeReply([ContainerSummaryWire].self, from: answer.body, what: "the container list")
        var containers: [ContainerSummary] = []
        for wire in wires { containers.append(try ContainerSummary(wire)) }
        return containers
    }

    // MARK: - Streams

    /// Streams the engine's events that match `filters` until the stream's consumer stops or is
    /// cancelled, which closes the connection.
    ///
    /// `filters` is the engine's filter map, for example
    /// `["type": ["container"], "label": ["stormlab.run=1f3a"]]`. With `since`, the engine first
    /// replays the matching events it still remembers from that time on, then goes on live; use it
    /// to miss nothing between an action and the stream's subscription. The stream ends with a
    /// ``DockerError`` if the engine cannot be reached or answers with an error.
    public func events(
        filters: [String: [String]],
        since: Date? = nil
    ) -> AsyncThrowingStream<DockerEvent, any Error> {
        var parameters: [String: String?] = ["filters": filters.isEmpty ? nil : Self.filters(filters)]
        parameters["since"] = since.map(Self.timestamp)
        let request = EngineRequest(.GET, Self.path("events") + Self.query(parameters))
        let transport = self.transport
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: DockerEvent.self, throwing: (any Error).self)
        // The stream is the product here: a task reads the connection for as long as the consumer
        // listens, and the stream's termination cancels it.
        let reader = Task {
            do {
                try await transport.exchange(request) { head, body in
                    guard head.status == .ok else {
                        throw DockerError.engine(status: Int(head.status.code), body: try? await body.collect())
                    }
                    var splitter = EventLineSplitter()
                    while let piece = try await body.next() {
                        for line in try splitter.append(piece) {
                            continuation.yield(try DockerEvent(line: line))
                        }
                    }
                    if let line = splitter.finish() { continuation.yield(try DockerEvent(line: line)) }
                }
                continuation.finish()
            } catch let error as DockerError where error.code == .cancelled {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        return stream
    }

    /// Follows the container's stdout and stderr, demultiplexed, writing the payload bytes to the
    /// file descriptor `fd` (which stays open) until the container's log ends — it stops, or it
    /// was not running — or the task is cancelled; neither is an error.
    ///
    /// The log is read from the container's start on (`follow=1`, no `tail`). Writes block when
    /// `fd` is a full pipe; a non-blocking `fd` is retried. The container must not have a TTY
    /// (Stormlab never gives one); a TTY's raw stream is passed through as it is.
    ///
    /// With `since`, only what the container wrote from that time on: a restarted container's log
    /// is followed again without repeating its earlier runs.
    public func followLogs(_ id: String, into fd: Int32, since: Date? = nil) async throws(DockerError) {
        var parameters: [String: String?] = ["follow": "1", "stdout": "1", "stderr": "1", "timestamps": "0"]
        parameters["since"] = since.map(Self.timestamp)
        let query = Self.query(parameters)
        let request = EngineRequest(.GET, Self.path("containers", Self.escape(id), "logs") + query)
        do {
            try await transport.exchange(request) { head, body in
                guard head.status == .ok else {
                    throw DockerError.engine(status: Int(head.status.code), body: try? await body.collect())
                }
                var demultiplexer = LogStreamDemultiplexer()
                while let piece = try await body.next() {
                    for frame in try demultiplexer.append(piece) where frame.stream != .stdin {
                        try await Self.write(frame.bytes, to: fd)
                    }
                }
                for frame in try demultiplexer.finish() { try await Self.write(frame.bytes, to: fd) }
            }
        } catch let error where error.code == .cancelled {
            return
        }
    }

    /// Writes all of `bytes` to `fd`, retrying after interruptions and on a full non-blocking fd.
    private static func write(_ bytes: ByteBuffer, to fd: Int32) async throws {
        var offset = 0
        let count = bytes.readableBytes
        while offset < count {
            let written = bytes.withUnsafeReadableBytes { pointer in
                #if canImport(Darwin)
                Darwin.write(fd, pointer.baseAddress! + offset, count - offset)
                #elseif canImport(Musl)
                Musl.write(fd, pointer.baseAddress! + offset, count - offset)
                #else
                Glibc.write(fd, pointer.baseAddress! + offset, count - offset)
                #endif
            }
            if written >= 0 {
                offset += written
                continue
            }
            let error = errno
            switch error {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try await Task.sleep(for: .milliseconds(5))
            default: throw DockerError.outputFailed(fd: fd, errno: error)
            }
        }
    }

    // MARK: - Plumbing

    private func containerAction(
        _ id: String,
        _ action: String,
        query: [String: String?] = [:],
        expecting statuses: Int...
    ) async throws(DockerError) {
        let target = Self.path("containers", Self.escape(id), action) + Self.query(query)
        let answer = try await transport.perform(EngineRequest(.POST, target))
        try Self.expect(answer, statuses)
    }

    private static func expect(_ answer: EngineResponse, _ statuses: Int...) throws(DockerError) {
        try expect(answer, statuses)
    }

    private static func expect(_ answer: EngineResponse, _ statuses: [Int]) throws(DockerError) {
        guard statuses.contains(answer.status) else {
            throw DockerError.engine(status: answer.status, body: answer.body)
        }
    }

    private static func createdID(_ answer: EngineResponse, what: String) throws(DockerError) -> String {
        let created = try WireJSON.decodeReply(CreatedWire.self, from: answer.body, what: what)
        guard let id = created.Id, !id.isEmpty else { throw DockerError.protocolViolation("\(what) has no Id") }
        return id
    }

    /// `/v1.41/` followed by the (already escaped) segments.
    /// A time as the engine's `since` parameter wants it: Unix seconds with nine decimals.
    static func timestamp(_ time: Date) -> String {
        let nanoseconds = Int64((time.timeIntervalSince1970 * 1_000_000_000).rounded(.down))
        let fraction = String(nanoseconds % 1_000_000_000)
        return "\(nanoseconds / 1_000_000_000)." + String(repeating: "0", count: 9 - fraction.count) + fraction
    }

    static func path(_ segments: String...) -> String {
        "/v\(minimumAPIVersion)/" + segments.joined(separator: "/")
    }

    /// `?k=v&…` for the non-nil values, sorted by key, escaped; empty when there are none.
    static func query(_ parameters: [String: String?]) -> String {
        let items = parameters.compactMap { key, value in value.map { (key, $0) } }.sorted { $0.0 < $1.0 }
        guard !items.isEmpty else { return "" }
        return "?" + items.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// The engine's filter map as JSON, `{"label":["k=v"]}`.
    static func filters(_ filters: [String: [String]]) -> String {
        String(buffer: WireJSON.encode(filters))
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters and those in `keeping`.
    static func escape(_ text: String, keeping: String = "") -> String {
        let kept = Set(keeping.utf8)
        var escaped = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where kept.contains(byte):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return escaped
    }

    /// Whether API version `version` (`major.minor`) is at least `minimum`.
    static func apiVersion(_ version: String, isAtLeast minimum: String) -> Bool {
        func parts(_ text: String) -> [Int] { text.split(separator: ".").map { Int($0) ?? 0 } }
        let (have, need) = (parts(version), parts(minimum))
        for index in 0..<max(have.count, need.count) {
            let (a, b) = (index < have.count ? have[index] : 0, index < need.count ? need[index] : 0)
            if a != b { return a > b }
        }
        return true
    }
}
