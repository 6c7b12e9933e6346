import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP request to the engine.
struct EngineRequest: Sendable {
    var method: HTTPMethod
    /// The path and query, for example `/v1.41/containers/json?all=1`.
    var target: String
    /// A JSON body, if any.
    var body: ByteBuffer?

    init(_ method: HTTPMethod, _ target: String, body: ByteBuffer? = nil) {
        self.method = method
        self.target = target
        self.body = body
    }

    var head: HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "docker")
        headers.add(name: "User-Agent", value: "stormlab")
        headers.add(name: "Connection", value: "close")
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
    }
}

/// A whole, non-streaming answer.
struct EngineResponse: Sendable {
    var status: Int
    var body: ByteBuffer
}

/// The body of an answer as it arrives, one read at a time.
struct EngineResponseBody {
    private var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private var ended = false

    init(_ iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator) {
        self.iterator = iterator
    }

    /// The answer's head, skipping informational (1xx) answers.
    mutating func head() async throws -> HTTPResponseHead {
        while true {
            guard let part = try await iterator.next() else {
                throw DockerError.protocolViolation("the engine closed the connection without answering")
            }
            guard case .head(let head) = part else { continue }
            if head.status.code >= 100 && head.status.code < 200 {
                // An informational answer ends with its own `.end`.
                while let next = try await iterator.next() {
                    if case .end = next { break }
                }
                continue
            }
            return head
        }
    }

    /// The next piece of the body, or `nil` once the body has ended.
    mutating func next() async throws -> ByteBuffer? {
        while !ended {
            guard let part = try await iterator.next() else {
                throw DockerError.protocolViolation("the engine closed the connection in the middle of its answer")
            }
            switch part {
            case .body(let buffer): return buffer
            case .end: ended = true
            case .head: throw DockerError.protocolViolation("a second HTTP head in one answer")
            }
        }
        return nil
    }

    /// The rest of the body, at most `limit` bytes.
    mutating func collect(upTo limit: Int = 64 << 20) async throws -> ByteBuffer {
        var all = ByteBuffer()
        while var piece = try await next() {
            guard all.readableBytes + piece.readableBytes <= limit else {
                throw DockerError.protocolViolation("the answer is larger than \(limit) bytes")
            }
            all.writeBuffer(&piece)
        }
        return all
    }
}

/// Talks HTTP/1.1 to the engine over its unix socket: one connection per request, closed when
/// the exchange ends, fails or its task is cancelled.
struct EngineTransport: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    let socketPath: String
    let group: any EventLoopGroup

    /// How long connecting may take before the engine is taken to be absent.
    static let connectTimeout = TimeAmount.seconds(5)

    /// Sends `request` and reads the whole answer.
    func perform(_ request: EngineRequest) async throws(DockerError) -> EngineResponse {
        try await exchange(request) { head, body in
            EngineResponse(status: Int(head.status.code), body: try await body.collect())
        }
    }

    /// Sends `request` on a new connection and hands the answer's head and body to `handle`.
    ///
    /// The connection is closed when `handle` returns or throws. Cancelling the calling task ends
    /// a pending read at once with ``DockerError/cancelled``.
    func exchange<Result: Sendable>(
        _ request: EngineRequest,
        _ handle: (HTTPResponseHead, inout EngineResponseBody) async throws -> Result
    ) async throws(DockerError) -> Result {
        let connection = try await connect()
        do {
            return try await connection.executeThenClose { inbound, outbound in
                var parts: [HTTPClientRequestPart] = [.head(request.head)]
                if let body = request.body { parts.append(.body(.byteBuffer(body))) }
                parts.append(.end(nil))
                // The engine may answer and close the connection before the request's end is
                // written (an early error answer to a request without a body); its answer is
                // then already in the inbound stream, and it is what counts.
                var writeError: (any Error)?
                do { try await outbound.write(contentsOf: parts) } catch { writeError = error }
                var body = EngineResponseBody(inbound.makeAsyncIterator())
                let head: HTTPResponseHead
                do { head = try await body.head() } catch { throw writeError ?? error }
                return try await handle(head, &body)
            }
        } catch {
            throw DockerError.exchanging(with: socketPath, error)
        }
    }

    private func connect() async throws(DockerError) -> Connection {
        if Task.isCancelled { throw DockerError.cancelled }
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(Self.connectTimeout)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw DockerError.connecting(to: socketPath, error)
        }
    }
}
