#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import Testing

@testable import DockerEngine

@Suite("Errors")
struct ErrorTests {
    struct StatusCase: Sendable, CustomTestStringConvertible {
        var status: Int
        var body: String
        var code: DockerError.Code
        var message: String
        var testDescription: String { "\(status) \(code)" }
    }

    @Test(
        "engine answers map to codes and messages",
        arguments: [
            StatusCase(
                status: 404,
                body: #"{"message":"No such container: x"}"#,
                code: .notFound,
                message: "No such container: x"
            ),
            StatusCase(
                status: 409,
                body: #"{"message":"Cannot kill container: abc: Container abc is not running"}"#,
                code: .notRunning,
                message: "Cannot kill container: abc: Container abc is not running"
            ),
            StatusCase(
                status: 409,
                body: #"{"message":"Conflict. The container name \"/x\" is already in use"}"#,
                code: .conflict,
                message: #"Conflict. The container name "/x" is already in use"#
            ),
            StatusCase(
                status: 409,
                body: #"{"message":"Container abc is already paused"}"#,
                code: .conflict,
                message: "Container abc is already paused"
            ),
            StatusCase(
                status: 500,
                body: #"{"message":"Container abc is not paused"}"#,
                code: .conflict,
                message: "Container abc is not paused"
            ),
            StatusCase(
                status: 403,
                body: #"{"message":"Pool overlaps with other one on this address space"}"#,
                code: .api,
                message: "Pool overlaps with other one on this address space"
            ),
            StatusCase(status: 500, body: "plain text failure\n", code: .api, message: "plain text failure"),
            StatusCase(status: 502, body: "", code: .api, message: "HTTP 502 with no message"),
            StatusCase(status: 500, body: #"{"message":""}"#, code: .api, message: #"{"message":""}"#),
            StatusCase(
                status: 400,
                body: #"{"message":"client version 1.41 is too new. Maximum supported API version is 1.40"}"#,
                code: .engineTooOld,
                message:
                    "the Docker engine speaks API 1.40 but Stormlab needs 1.41 or newer: upgrade Docker (docker.io 20.10 or later)"
            ),
        ]
    )
    func statusMapping(_ test: StatusCase) {
        let error = DockerError.engine(status: test.status, body: ByteBuffer(string: test.body))
        #expect(error.code == test.code)
        if test.code == .engineTooOld {
            #expect(error.message == test.message)
        } else {
            #expect(error.engineMessage == test.message)
            #expect(error.message.contains(test.message))
        }
    }

    @Test("messages tell the user what to do")
    func messages() {
        #expect(
            DockerError.noEngine("/var/run/docker.sock").description
                == "no Docker engine at /var/run/docker.sock: install it (apt-get install docker.io) and start dockerd, or set DOCKER_HOST"
        )
        #expect(
            DockerError.permissionDenied("/var/run/docker.sock").description
                == "permission denied on /var/run/docker.sock: run as root or add yourself to the docker group"
        )
        #expect(DockerError.imageMissing("stormlab:local").description.contains("Docker/build-image.sh"))
        #expect(DockerError.engineTooOld(api: "1.40", minimum: "1.41").description.contains("1.40"))
        #expect(DockerError.api(status: 500, message: "boom").description == "Docker engine answered HTTP 500: boom")
    }

    @Test("connect errors map to noEngine and permissionDenied")
    func connectErrors() {
        let path = "/var/run/docker.sock"
        #expect(DockerError.connecting(to: path, IOError(errnoCode: ENOENT, reason: "connect")).code == .noEngine)
        #expect(DockerError.connecting(to: path, IOError(errnoCode: ECONNREFUSED, reason: "connect")).code == .noEngine)
        #expect(
            DockerError.connecting(to: path, IOError(errnoCode: EACCES, reason: "connect")).code == .permissionDenied
        )
        #expect(DockerError.connecting(to: path, ChannelError.connectTimeout(.seconds(5))).code == .noEngine)
        #expect(DockerError.connecting(to: path, CancellationError()).code == .cancelled)
        #expect(DockerError.exchanging(with: path, ChannelError.eof).code == .connectionLost)
        #expect(DockerError.exchanging(with: path, HTTPParserError.invalidChunkSize).code == .protocolViolation)
    }

    @Test("DOCKER_HOST: unix sockets only")
    func dockerHost() throws {
        #expect(try DockerEngine.fromEnvironment([:]).socketPath == "/var/run/docker.sock")
        #expect(try DockerEngine.fromEnvironment(["DOCKER_HOST": ""]).socketPath == "/var/run/docker.sock")
        #expect(
            try DockerEngine.fromEnvironment(["DOCKER_HOST": "unix:///run/user/0/docker.sock"]).socketPath
                == "/run/user/0/docker.sock"
        )
        let error = #expect(throws: DockerError.self) {
            try DockerEngine.fromEnvironment(["DOCKER_HOST": "tcp://10.0.0.1:2375"])
        }
        #expect(error?.code == .unsupportedHost)
        #expect(throws: DockerError.self) { try DockerEngine.fromEnvironment(["DOCKER_HOST": "unix://"]) }
    }
}

@Suite("No engine", .timeLimit(.minutes(1)))
struct NoEngineTests {
    @Test("a socket path that does not exist")
    func missingSocket() async throws {
        let engine = DockerEngine(socketPath: "/tmp/nonexistent-\(UInt32.random(in: 0...UInt32.max)).sock")
        let error = await #expect(throws: DockerError.self) { try await engine.version() }
        #expect(error?.code == .noEngine)
        #expect(error?.description.hasPrefix("no Docker engine at /tmp/nonexistent-") == true)
    }

    @Test("a regular file")
    func regularFile() async throws {
        let path = "/tmp/stormlab-dockerengine-file-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        try #require(fd >= 0)
        close(fd)
        defer { unlink(path) }
        let error = await #expect(throws: DockerError.self) { try await DockerEngine(socketPath: path).inspect("x") }
        #expect(error?.code == .noEngine)
    }

    @Test("a socket nobody listens on")
    func refusedSocket() async throws {
        let path = "/tmp/stormlab-dockerengine-dead-\(UInt32.random(in: 0...UInt32.max)).sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0)
        // Bound but not listening: connect(2) is refused.
        let error = await #expect(throws: DockerError.self) {
            try await DockerEngine(socketPath: path).containers(label: "x")
        }
        #expect(error?.code == .noEngine)
        // The event stream ends with the same error.
        var iterator = DockerEngine(socketPath: path).events(filters: [:]).makeAsyncIterator()
        let streamError = await #expect(throws: DockerError.self) { _ = try await iterator.next() }
        #expect(streamError?.code == .noEngine)
    }
}
