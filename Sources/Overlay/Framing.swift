import NIOCore
import NIOPosix
import OverlayWire
import ServiceLifecycle

/// What a framed connection yields: a decoded message, or the reason the stream became unreadable.
public enum Inbound: Sendable, Hashable {
    case message(Message)
    /// The peer sent bytes that are not a valid frame. Nothing more is read from this connection.
    case malformed(WireError)
}

/// Splits a byte stream into overlay frames and decodes them with ``FrameCodec``. After the first
/// malformed frame it yields `.malformed` once and discards everything that follows, so a hostile
/// peer costs at most one frame of memory.
final class FrameInboundDecoder: ByteToMessageDecoder {
    typealias InboundOut = Inbound
    private var failed = false

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if failed {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        }
        let length: Int
        do {
            guard let header = buffer.getBytes(at: buffer.readerIndex, length: min(4, buffer.readableBytes)),
                let parsed = try FrameCodec.frameLength(header: header)
            else { return .needMoreData }
            length = parsed
        } catch {
            fail(context: context, buffer: &buffer, error: error)
            return .continue
        }
        guard buffer.readableBytes >= 4 + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let body = buffer.readBytes(length: length)!
        do {
            let message = try FrameCodec.decode(body: body[...])
            context.fireChannelRead(wrapInboundOut(.message(message)))
        } catch {
            fail(context: context, buffer: &buffer, error: error)
        }
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue, buffer.readableBytes > 0 {}
        if !failed && buffer.readableBytes > 0 {
            fail(context: context, buffer: &buffer, error: WireError(.truncatedField, "stream ended inside a frame"))
        }
        return .needMoreData
    }

    private func fail(context: ChannelHandlerContext, buffer: inout ByteBuffer, error: WireError) {
        failed = true
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        context.fireChannelRead(wrapInboundOut(.malformed(error)))
    }
}

/// Encodes outbound messages as frames.
final class FrameOutboundEncoder: MessageToByteEncoder {
    typealias OutboundIn = Message

    func encode(data: Message, out: inout ByteBuffer) throws {
        out.writeBytes(FrameCodec.encode(data))
    }
}

/// A connection that speaks overlay frames.
public typealias FramedChannel = NIOAsyncChannel<Inbound, Message>

enum Framing {
    /// Adds the frame codec to `channel` and wraps it for async use.
    static func wrap(_ channel: any Channel) -> EventLoopFuture<FramedChannel> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameInboundDecoder()))
            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameOutboundEncoder()))
            return try FramedChannel(wrappingChannelSynchronously: channel)
        }
    }

    /// Opens a framed connection to `endpoint`, from `source` when given (so the far side sees
    /// which instance is speaking).
    static func connect(
        to endpoint: Endpoint,
        from source: String?,
        group: any EventLoopGroup,
        timeout: TimeAmount = .seconds(3)
    ) async throws -> FramedChannel {
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if let source {
            // Choose the local port at connect time, from the whole 4-tuple: binding first with
            // port 0 would reserve a port per socket and make the kernel search ever longer for a
            // free one (quadratic in a storm of thousands of connections from one address).
            bootstrap = bootstrap
                .channelOption(.ipOption(.init(rawValue: ipBindAddressNoPort)), value: 1)
                .bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        return try await bootstrap.connect(host: endpoint.host, port: Int(endpoint.port)) { channel in
            wrap(channel)
        }
    }
}

/// `IP_BIND_ADDRESS_NO_PORT` from linux/in.h (Linux 4.2+), which Glibc's headers do not export.
let ipBindAddressNoPort: CInt = 24

/// Where a server listens: a socket passed by socket activation, or an address to bind.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    case endpoint(Endpoint)
    case descriptor(Int32)

    public var description: String {
        switch self {
        case .endpoint(let endpoint): endpoint.description
        case .descriptor(let fd): "fd \(fd)"
        }
    }
}

/// A TCP server for overlay frames whose connections are served on their event loops: each
/// accepted connection gets the frame codec and the handler `makeHandler` returns. Tuned for
/// storms: a deep backlog, and many accepts per wake-up (NIO's default of a few per read starves
/// the accept loop when thousands of clients reconnect at once). A client that half-closes after
/// its last request still gets every answer.
enum FramedHandlerServer {
    static func bind(
        _ address: ListenAddress, group: any EventLoopGroup,
        handler makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.maxMessagesPerRead, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameInboundDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameOutboundEncoder()))
                    try channel.pipeline.syncOperations.addHandler(makeHandler())
                }
            }
        switch address {
        case .endpoint(let endpoint): return try await bootstrap.bind(host: endpoint.host, port: Int(endpoint.port)).get()
        case .descriptor(let fd): return try await bootstrap.withBoundSocket(fd).get()
        }
    }
}

extension SocketAddress {
    /// The address as an ``Endpoint``, when it is an IP address.
    var endpoint: Endpoint? {
        guard let ip = ipAddress, let port else { return nil }
        return Endpoint(host: ip, port: UInt16(port))
    }
}
