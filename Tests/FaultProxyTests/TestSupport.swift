import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import FaultProxy

/// What a client saw.
enum Outcome: Equatable, CustomStringConvertible {
    /// At least the bytes waited for arrived; the connection is still open.
    case received(Int)
    /// The peer closed (FIN) after this many bytes.
    case closed(Int)
    /// The connection was reset (or failed) after this many bytes.
    case reset(Int)
    /// Nothing more within the time allowed; this many bytes so far; still open.
    case silent(Int)

    var description: String {
        switch self {
        case .received(let n): "received(\(n))"
        case .closed(let n): "closed(\(n))"
        case .reset(let n): "reset(\(n))"
        case .silent(let n): "silent(\(n))"
        }
    }
}

/// A loopback TCP client from a chosen source address that records everything it receives.
final class TestClient: Sendable {
    struct State {
        var received: [UInt8] = []
        var inputClosed = false
        var error: (any Error)?
        var inactive = false
    }

    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let pending = Mutex(State())

        private func update(_ change: (inout State) -> Void) {
            self.pending.withLock { change(&$0) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = Self.unwrapInboundIn(data)
            self.update { $0.received.append(contentsOf: buffer.readableBytesView) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed {
                self.update { $0.inputClosed = true }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.update { if $0.error == nil { $0.error = error } }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.update { $0.inactive = true }
        }
    }

    /// Connects from `source` (a 127.x address, port chosen by the kernel) to `target`.
    static func connect(from source: String, to target: SocketAddress) async throws -> (TestClient, Recorder) {
        let recorder = Recorder()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(recorder)
                }
            }
            .connect(to: target)
            .get()
        return (TestClient(channel: channel), recorder)
    }
}

/// A client plus its recorder, with polling waits (1 ms steps).
struct Peer: Sendable {
    let client: TestClient
    let recorder: TestClient.Recorder

    static func connect(from source: String, to target: SocketAddress) async throws -> Peer {
        let (client, recorder) = try await TestClient.connect(from: source, to: target)
        return Peer(client: client, recorder: recorder)
    }

    /// Opens a connection and waits for it to end: what a new connection meets. A connect that
    /// fails (the RST can beat the handshake's completion) counts as `.reset(0)`.
    static func attempt(from source: String, to target: SocketAddress, within limit: Duration = .seconds(2)) async -> Outcome {
        guard let peer = try? await Peer.connect(from: source, to: target) else { return .reset(0) }
        let outcome = await peer.waitForEnd(within: limit)
        await peer.close()
        return outcome
    }

    var received: [UInt8] { self.recorder.pending.withLock { $0.received } }

    func send(_ bytes: [UInt8]) async throws {
        try await self.client.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func shutDownOutput() async throws {
        try await self.client.channel.close(mode: .output).get()
    }

    /// Waits until `count` bytes in total have arrived, the connection ends, or `limit` passes.
    func wait(forTotal count: Int, within limit: Duration) async -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            let state = self.recorder.pending.withLock { $0 }
            if state.received.count >= count { return .received(state.received.count) }
            if state.error != nil { return .reset(state.received.count) }
            if state.inputClosed || state.inactive { return .closed(state.received.count) }
            if clock.now >= deadline { return .silent(state.received.count) }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Waits for the end of the connection (FIN or reset), or `limit`.
    func waitForEnd(within limit: Duration) async -> Outcome {
        await self.wait(forTotal: Int.max, within: limit)
    }

    /// Sends `bytes` and returns the time until the echo of all of them arrived.
    func roundTrip(_ bytes: [UInt8], within limit: Duration = .seconds(5)) async throws -> Duration {
        let expected = self.received.count + bytes.count
        let clock = ContinuousClock()
        let start = clock.now
        try await self.send(bytes)
        let outcome = await self.wait(forTotal: expected, within: limit)
        #expect(outcome == .received(expected))
        return start.duration(to: clock.now)
    }

    func close() async {
        try? await self.client.channel.close()
    }
}

/// Instances on their own loopback addresses, an echo server for `b`, and a proxy routing to it.
struct Lab {
    static let a = "127.0.1.1"
    static let b = "127.0.2.1"
    static let c = "127.0.3.1"
    static let instances = [a: "a", b: "b", c: "c"]

    let proxy: FaultProxy
    /// Echo server of instance `b`, and the proxy's route to it.
    let echoB: EchoServer
    let routeB: SocketAddress
    /// Echo server of instance `a`, and the proxy's route to it.
    let echoA: EchoServer
    let routeA: SocketAddress

    /// Runs `body` with a fresh lab and closes everything afterwards, even on failure.
    static func run(
        configuration: FaultProxy.Configuration = .init(instances: Lab.instances),
        _ body: (Lab) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let echoB = try await EchoServer.start(host: b, group: group)
        let echoA = try await EchoServer.start(host: a, group: group)
        let proxy = FaultProxy(configuration: configuration)
        do {
            let routeB = try await proxy.addRoute(
                .init(name: "b", listen: try SocketAddress(ipAddress: b, port: 0), upstream: echoB.address, upstreamInstance: "b")
            )
            let routeA = try await proxy.addRoute(
                .init(name: "a", listen: try SocketAddress(ipAddress: a, port: 0), upstream: echoA.address, upstreamInstance: "a")
            )
            try await body(Lab(proxy: proxy, echoB: echoB, routeB: routeB, echoA: echoA, routeA: routeA))
        } catch {
            await proxy.shutdown()
            try? await echoB.close()
            try? await echoA.close()
            throw error
        }
        await proxy.shutdown()
        try? await echoB.close()
        try? await echoA.close()
    }
}

func randomBytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var random = ToxicRandom(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = random.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}

extension Duration {
    var milliseconds: Double {
        Double(self.components.seconds) * 1000 + Double(self.components.attoseconds) / 1e15
    }
}

/// The middle of `samples` (the upper middle of an even count).
func median(_ samples: [Duration]) -> Duration {
    samples.sorted()[samples.count / 2]
}
