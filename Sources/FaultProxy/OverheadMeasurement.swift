import NIOCore
import NIOPosix
import Synchronization

/// What the proxy costs when no toxic is active, measured against direct loopback in one run.
public struct OverheadFigures: Sendable, CustomStringConvertible {
    /// Percentiles of round-trip times.
    public struct RoundTrips: Sendable, Hashable {
        /// Median round trip.
        public var p50: Duration
        /// 99th percentile round trip.
        public var p99: Duration
    }

    /// Round trips measured per path.
    public var requests: Int
    /// Size of each request (echoed back whole).
    public var payloadBytes: Int
    /// Bytes pushed through (and echoed back) per path for throughput.
    public var throughputBytes: Int
    /// Small request/response round trips straight to the echo server.
    public var direct: RoundTrips
    /// The same round trips through the proxy.
    public var proxied: RoundTrips
    /// Echo throughput straight to the server, MiB/s (bytes sent / time until all came back).
    public var directMiBPerSecond: Double
    /// Echo throughput through the proxy, MiB/s.
    public var proxiedMiBPerSecond: Double

    /// Latency the proxy adds at the median.
    public var addedP50: Duration { self.proxied.p50 - self.direct.p50 }
    /// Latency the proxy adds at the 99th percentile.
    public var addedP99: Duration { self.proxied.p99 - self.direct.p99 }

    public var description: String {
        func us(_ duration: Duration) -> String {
            let micros = Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
            return "\(Int(micros.rounded())) µs"
        }
        func rate(_ value: Double) -> String { "\(Int(value.rounded())) MiB/s" }
        return """
            round trips (\(self.requests) × \(self.payloadBytes) B): \
            direct p50 \(us(self.direct.p50)) p99 \(us(self.direct.p99)), \
            proxied p50 \(us(self.proxied.p50)) p99 \(us(self.proxied.p99)), \
            added p50 \(us(self.addedP50)) p99 \(us(self.addedP99)); \
            throughput (\(self.throughputBytes >> 20) MiB echoed): direct \(rate(self.directMiBPerSecond)), \
            proxied \(rate(self.proxiedMiBPerSecond))
            """
    }
}

extension FaultProxy {
    /// Measures the proxy's overhead side by side with direct loopback, in one run: round trips
    /// of small requests to an echo server (p50/p99), and echo throughput.
    ///
    /// Starts its own echo server and proxy on `host` (loopback only), alternates direct and
    /// proxied batches so both see the same machine load, and closes everything it opened.
    ///
    /// - Parameters:
    ///   - requests: Round trips per path (at least 10).
    ///   - payloadBytes: Bytes per request.
    ///   - throughputBytes: Bytes echoed per path for the throughput figure.
    ///   - host: A loopback address to listen on.
    /// - Throws: ``FaultProxyError`` (`measurementFailed`) if a connection fails.
    public static func measureOverhead(
        requests: Int = 2000,
        payloadBytes: Int = 64,
        throughputBytes: Int = 64 << 20,
        host: String = "127.0.0.1",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> OverheadFigures {
        let requests = max(10, requests)
        let echo = try await EchoServer.start(host: host, group: eventLoopGroup)
        let proxy = FaultProxy(eventLoopGroup: eventLoopGroup)
        do {
            let proxied = try await proxy.addRoute(
                Route(
                    name: "measure",
                    listen: try SocketAddress(ipAddress: host, port: 0),
                    upstream: echo.address,
                    upstreamInstance: "echo"
                )
            )
            var direct: [Duration] = []
            var viaProxy: [Duration] = []
            let batches = 10
            let perBatch = (requests + batches - 1) / batches
            try await withRoundTripper(to: echo.address, group: eventLoopGroup) { directTrip in
                try await withRoundTripper(to: proxied, group: eventLoopGroup) { proxiedTrip in
                    for _ in 0..<min(50, perBatch) {  // warm-up
                        _ = try await directTrip(payloadBytes)
                        _ = try await proxiedTrip(payloadBytes)
                    }
                    for _ in 0..<batches {
                        for _ in 0..<perBatch { direct.append(try await directTrip(payloadBytes)) }
                        for _ in 0..<perBatch { viaProxy.append(try await proxiedTrip(payloadBytes)) }
                    }
                }
            }
            let half = max(1, throughputBytes / 2)
            var directTime = Duration.zero
            var proxiedTime = Duration.zero
            for _ in 0..<2 {
                directTime += try await echoThroughput(to: echo.address, bytes: half, group: eventLoopGroup)
                proxiedTime += try await echoThroughput(to: proxied, bytes: half, group: eventLoopGroup)
            }
            await proxy.shutdown()
            try? await echo.close()
            func mibPerSecond(_ time: Duration) -> Double {
                Double(half * 2) / 1_048_576 / max(1e-9, Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18)
            }
            return OverheadFigures(
                requests: direct.count,
                payloadBytes: payloadBytes,
                throughputBytes: half * 2,
                direct: Self.percentiles(direct),
                proxied: Self.percentiles(viaProxy),
                directMiBPerSecond: mibPerSecond(directTime),
                proxiedMiBPerSecond: mibPerSecond(proxiedTime)
            )
        } catch {
            await proxy.shutdown()
            try? await echo.close()
            if error is FaultProxyError { throw error }
            throw FaultProxyError(code: .measurementFailed, message: "overhead measurement failed", cause: error)
        }
    }

    private static func percentiles(_ samples: [Duration]) -> OverheadFigures.RoundTrips {
        let sorted = samples.sorted()
        func at(_ fraction: Double) -> Duration {
            sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
        }
        return OverheadFigures.RoundTrips(p50: at(0.5), p99: at(0.99))
    }

    /// Runs `body` with a function that does one round trip of `n` bytes on one connection.
    private static func withRoundTripper(
        to address: SocketAddress,
        group: any EventLoopGroup,
        _ body: (_ roundTrip: (Int) async throws -> Duration) async throws -> Void
    ) async throws {
        let channel = try await Self.connect(to: address, group: group)
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await body { size in
                let payload = ByteBuffer(repeating: 0x2A, count: size)
                let clock = ContinuousClock()
                let start = clock.now
                try await outbound.write(payload)
                var received = 0
                while received < size {
                    guard let buffer = try await iterator.next() else {
                        throw FaultProxyError(code: .measurementFailed, message: "connection closed early")
                    }
                    received += buffer.readableBytes
                }
                return start.duration(to: clock.now)
            }
        }
    }

    /// Sends `bytes` to an echo server and returns the time until all came back.
    private static func echoThroughput(to address: SocketAddress, bytes: Int, group: any EventLoopGroup) async throws -> Duration {
        let channel = try await Self.connect(to: address, group: group)
        let clock = ContinuousClock()
        let start = clock.now
        try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    let chunk = ByteBuffer(repeating: 0x55, count: 64 << 10)
                    var sent = 0
                    while sent < bytes {
                        let size = min(chunk.readableBytes, bytes - sent)
                        try await outbound.write(chunk.getSlice(at: 0, length: size)!)
                        sent += size
                    }
                }
                var received = 0
                for try await buffer in inbound {
                    received += buffer.readableBytes
                    if received >= bytes { break }
                }
                try await tasks.waitForAll()
                if received < bytes {
                    throw FaultProxyError(code: .measurementFailed, message: "echo closed after \(received) of \(bytes) bytes")
                }
            }
        }
        return start.duration(to: clock.now)
    }

    static func connect(to address: SocketAddress, group: any EventLoopGroup) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }
}

/// A TCP echo server on loopback, for measurements and tests: echoes every byte and, on the
/// client's half-close, half-closes back once everything is echoed.
final class EchoServer: Sendable {
    let address: SocketAddress
    private let channel: any Channel
    let counter: EchoCounter

    /// Bytes received over all connections.
    var bytesReceived: Int { self.counter.bytes.load(ordering: .relaxed) }
    /// Connections accepted.
    var connectionsAccepted: Int { self.counter.connections.load(ordering: .relaxed) }

    private init(address: SocketAddress, channel: any Channel, counter: EchoCounter) {
        self.address = address
        self.channel = channel
        self.counter = counter
    }

    static func start(host: String, port: Int = 0, group: any EventLoopGroup) async throws -> EchoServer {
        let counter = EchoCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    counter.connections.add(1, ordering: .relaxed)
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(counter: counter))
                }
            }
            .bind(to: try SocketAddress(ipAddress: host, port: port))
            .get()
        guard let address = channel.localAddress else {
            try? await channel.close()
            throw FaultProxyError(code: .bindFailed, message: "echo server has no address")
        }
        return EchoServer(address: address, channel: channel, counter: counter)
    }

    func close() async throws {
        try await self.channel.close()
    }
}

final class EchoCounter: Sendable {
    let bytes = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counter: EchoCounter

    init(counter: EchoCounter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.counter.bytes.add(Self.unwrapInboundIn(data).readableBytes, ordering: .relaxed)
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer()), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
