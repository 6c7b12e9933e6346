#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1

/// Why a request to the Docker engine failed, with a message that says what to do about it.
///
/// Compare ``code`` to tell failures apart (`error.code == .notRunning`); ``description`` is the
/// sentence to show a person.
public struct DockerError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure. New codes may be added, so `switch` over it with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case noEngine, permissionDenied, engineTooOld, unsupportedHost, imageMissing, notFound, conflict
            case notRunning, api, protocolViolation, connectionLost, cancelled, outputFailed
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// Nothing listens on the socket: it is missing, not a socket, or refuses connections.
        public static let noEngine = Code(.noEngine)
        /// The socket exists but this user may not connect to it.
        public static let permissionDenied = Code(.permissionDenied)
        /// The engine speaks an API older than the one this client needs.
        public static let engineTooOld = Code(.engineTooOld)
        /// `DOCKER_HOST` names something other than a unix socket.
        public static let unsupportedHost = Code(.unsupportedHost)
        /// A container was created from an image that is not on this machine (images are never pulled).
        public static let imageMissing = Code(.imageMissing)
        /// HTTP 404: no such container, network or image.
        public static let notFound = Code(.notFound)
        /// HTTP 409 for any reason but a stopped container: a name in use, a container already paused.
        public static let conflict = Code(.conflict)
        /// HTTP 409 because the container is not running (kill or pause of a stopped container).
        public static let notRunning = Code(.notRunning)
        /// Any other error status from the engine.
        public static let api = Code(.api)
        /// The engine answered something this client cannot read.
        public static let protocolViolation = Code(.protocolViolation)
        /// The connection failed after it was established (the engine went away mid-request).
        public static let connectionLost = Code(.connectionLost)
        /// The task that made the request was cancelled; the connection was closed.
        public static let cancelled = Code(.cancelled)
        /// Writing a container's logs to the given file descriptor failed.
        public static let outputFailed = Code(.outputFailed)

        /// The code's name, for example `notRunning`.
        public var description: String { wrapped.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The full sentence for a person: what went wrong and what to do.
    public var message: String
    /// The HTTP status the engine answered with, when it answered.
    public var status: Int?
    /// The engine's own message (the `message` of its JSON error body), when it answered.
    public var engineMessage: String?
    /// The lower-level error behind this one (a socket error), if any.
    public var cause: (any Error)?

    /// Makes an error; prefer the static constructors, which write the message.
    public init(
        code: Code,
        message: String,
        status: Int? = nil,
        engineMessage: String? = nil,
        cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.engineMessage = engineMessage
        self.cause = cause
    }

    /// The same as ``message``.
    public var description: String { message }

    /// No engine listens at `path`.
    public static func noEngine(_ path: String, cause: (any Error)? = nil) -> DockerError {
        DockerError(
            code: .noEngine,
            message:
                "no Docker engine at \(path): install it (apt-get install docker.io) and start dockerd, or set DOCKER_HOST",
            cause: cause
        )
    }

    /// The user may not connect to the socket at `path`.
    public static func permissionDenied(_ path: String, cause: (any Error)? = nil) -> DockerError {
        DockerError(
            code: .permissionDenied,
            message: "permission denied on \(path): run as root or add yourself to the docker group",
            cause: cause
        )
    }

    /// The engine's API version `api` is older than `minimum`.
    public static func engineTooOld(api: String, minimum: String) -> DockerError {
        DockerError(
            code: .engineTooOld,
            message:
                "the Docker engine speaks API \(api) but Stormlab needs \(minimum) or newer: upgrade Docker (docker.io 20.10 or later)"
        )
    }

    /// `DOCKER_HOST` is set to `value`, which is not a `unix://` address.
    public static func unsupportedHost(_ value: String) -> DockerError {
        DockerError(
            code: .unsupportedHost,
            message:
                "DOCKER_HOST=\(value) is not supported: Stormlab talks to a local engine over its unix socket only; set DOCKER_HOST=unix:///var/run/docker.sock or unset it"
        )
    }

    /// The image `reference` is not on this machine.
    public static func imageMissing(_ reference: String, engineMessage: String? = nil) -> DockerError {
        DockerError(
            code: .imageMissing,
            message:
                "image \(reference) is not on this machine and Stormlab never pulls images: build or load it first (stormlab:local is built by Docker/build-image.sh)",
            status: 404,
            engineMessage: engineMessage
        )
    }

    /// HTTP 404 with the engine's `message`.
    public static func notFound(_ message: String) -> DockerError {
        DockerError(code: .notFound, message: "Docker engine: \(message)", status: 404, engineMessage: message)
    }

    /// HTTP 409 with the engine's `message`.
    public static func conflict(_ message: String) -> DockerError {
        DockerError(code: .conflict, message: "Docker engine refused: \(message)", status: 409, engineMessage: message)
    }

    /// HTTP 409 because the container is not running.
    public static func notRunning(_ message: String) -> DockerError {
        DockerError(
            code: .notRunning,
            message: "container is not running: \(message)",
            status: 409,
            engineMessage: message
        )
    }

    /// Any other error `status` with the engine's `message`.
    public static func api(status: Int, message: String) -> DockerError {
        DockerError(
            code: .api,
            message: "Docker engine answered HTTP \(status): \(message)",
            status: status,
            engineMessage: message
        )
    }

    /// The engine's reply could not be read.
    public static func protocolViolation(_ detail: String, cause: (any Error)? = nil) -> DockerError {
        DockerError(
            code: .protocolViolation,
            message: "malformed reply from the Docker engine: \(detail)",
            cause: cause
        )
    }

    /// The connection to `path` broke mid-request.
    public static func connectionLost(_ path: String, cause: (any Error)? = nil) -> DockerError {
        let detail = cause.map { ": \($0)" } ?? ""
        return DockerError(
            code: .connectionLost,
            message:
                "lost the connection to the Docker engine at \(path)\(detail); check that dockerd is still running",
            cause: cause
        )
    }

    /// The request's task was cancelled.
    public static let cancelled = DockerError(
        code: .cancelled,
        message: "the request to the Docker engine was cancelled"
    )

    /// Writing logs to `fd` failed with `errno`.
    public static func outputFailed(fd: Int32, errno: Int32) -> DockerError {
        DockerError(
            code: .outputFailed,
            message: "could not write container logs to file descriptor \(fd): \(String(cString: strerror(errno)))",
            cause: IOError(errnoCode: errno, reason: "write")
        )
    }
}

extension DockerError {
    /// Maps a failure to connect to `path` to ``noEngine(_:cause:)`` or ``permissionDenied(_:cause:)``.
    static func connecting(to path: String, _ error: any Error) -> DockerError {
        if let error = error as? DockerError { return error }
        if error is CancellationError { return .cancelled }
        if let error = error as? IOError {
            switch error.errnoCode {
            case EACCES, EPERM: return .permissionDenied(path, cause: error)
            default: return .noEngine(path, cause: error)
            }
        }
        // Connect timeouts, a path too long for sockaddr_un and the like: nothing usable is there.
        return .noEngine(path, cause: error)
    }

    /// Maps a failure after the connection was established.
    static func exchanging(with path: String, _ error: any Error) -> DockerError {
        if let error = error as? DockerError { return error }
        if error is CancellationError || Task.isCancelled { return .cancelled }
        if let error = error as? HTTPParserError {
            return .protocolViolation("the HTTP reply did not parse (\(error))", cause: error)
        }
        return .connectionLost(path, cause: error)
    }

    /// Maps an error status and body from the engine to an error.
    ///
    /// The body is the engine's JSON `{"message": "..."}`; a body that is not JSON is used as the
    /// message as it is. A 409 whose message says the container is not running becomes
    /// ``Code/notRunning``; "is not paused" (a 500 on engine 20.10) is ``Code/conflict``; a 400
    /// saying the client's API version is too new becomes
    /// ``Code/engineTooOld``.
    static func engine(status: Int, body: ByteBuffer?) -> DockerError {
        let message = Self.engineMessage(body) ?? "HTTP \(status) with no message"
        let lowered = message.lowercased()
        switch status {
        case 404:
            return .notFound(message)
        case 409 where lowered.contains("is not running"):
            return .notRunning(message)
        case 409:
            return .conflict(message)
        case 500 where lowered.contains("is not paused"):
            // Unpausing a container that is not paused is a 500 on 20.10, a 409 on newer engines.
            return .conflict(message)
        case 400 where lowered.contains("client version") && lowered.contains("too new"):
            // "client version 1.41 is too new. Maximum supported API version is 1.40"
            let maximum = message.split(separator: " ").last.map { String($0) } ?? "unknown"
            return .engineTooOld(api: maximum.trimmingSuffix("."), minimum: DockerEngine.minimumAPIVersion)
        default:
            return .api(status: status, message: message)
        }
    }

    /// The `message` of the engine's JSON error body, or the body's text.
    static func engineMessage(_ body: ByteBuffer?) -> String? {
        guard let body, body.readableBytes > 0 else { return nil }
        if let wire = try? WireJSON.decode(EngineMessage.self, from: body), let message = wire.message, !message.isEmpty
        {
            return message
        }
        let text = String(buffer: body).trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        return text.count > 500 ? String(text.prefix(500)) + "…" : text
    }
}

/// The engine's error body.
private struct EngineMessage: Decodable {
    var message: String?
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
