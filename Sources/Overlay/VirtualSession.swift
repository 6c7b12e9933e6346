import NIOCore
import NIOPosix
import OverlayWire

/// How one attach attempt of a virtual client ended.
enum SessionEnd: Sendable, Hashable {
    case redirected(Endpoint)
    case busy(Duration)
    case tokenRejected
    case failed
    /// The session was attached, then closed, went silent, or was cancelled.
    case lost
}

/// What a virtual client's session tells its process while it runs, on the connection's event
/// loop: it must not block.
protocol SessionDelegate: AnyObject, Sendable {
    func sessionAttached(peers: [PeerInfo])
    func sessionDetached()
    func learned(_ peers: [PeerInfo])
    func promoteRequested()
    func count(_ event: SessionEvent)
}

/// A handler that ends in one result, completed once.
protocol ConnectionOutcome: ChannelHandler, SendableMetatype {
    associatedtype Result: Sendable
    var result: EventLoopFuture<Result> { get }
}

/// Counted events of a session, mapped to the client's metrics by the delegate.
enum SessionEvent: Sendable, Hashable {
    case attach(String)
    case lookup(String)
    case malformed(String)
}

/// The timing of an attached session.
struct SessionTiming: Sendable {
    var heartbeat: TimeAmount
    /// A lookup goes out with every `lookupEvery`-th heartbeat.
    var lookupEvery: Int
    /// No answer to an attach or a lookup within this: failed.
    var responseTimeout: TimeAmount
    /// No word at all from the supernode for this long: the session is lost.
    var silence: TimeAmount
}

/// One virtual client's attach and session as a state machine on the connection's event loop:
/// it sends the attach, reads the answer, and once attached sends heartbeats and lookups on a
/// timer and reads their answers, with no task and no hop per message. The outcome completes
/// `outcome` when the connection closes.
///
/// A session thus costs one scheduled timer and the connection's buffers; the virtual client's
/// own task waits on `outcome` once per session, not once per message.
final class VirtualSessionHandler: ChannelInboundHandler, RemovableChannelHandler, ConnectionOutcome {
    typealias InboundIn = Inbound
    typealias OutboundOut = Message

    private enum Phase {
        case attaching
        case attached
        case ended
    }

    private let attach: Message
    private let timing: SessionTiming
    private let population: Int
    private let delegate: any SessionDelegate
    private let outcome: EventLoopPromise<(SessionEnd, attached: Bool)>
    private var completed = false
    private var phase = Phase.attaching
    private var end: SessionEnd?
    private var timer: Scheduled<Void>?
    private var lastAnswer = NIODeadline.now()
    private var sequence: UInt64 = 0
    private var pendingLookup: (id: UInt64, sent: NIODeadline)?

    /// Completed once, when the connection closes (or is torn down without having been open).
    var result: EventLoopFuture<(SessionEnd, attached: Bool)> { outcome.futureResult }

    init(attach: Message, timing: SessionTiming, population: Int, delegate: any SessionDelegate, eventLoop: any EventLoop) {
        self.attach = attach
        self.timing = timing
        self.population = max(1, population)
        self.delegate = delegate
        self.outcome = eventLoop.makePromise()
    }

    private func finish(_ end: SessionEnd, attached: Bool) {
        guard !completed else { return }
        completed = true
        outcome.succeed((end, attached: attached))
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(attach), promise: nil)
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timing.responseTimeout) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let item = unwrapInboundIn(data)
        switch phase {
        case .attaching: attachAnswered(context: context, item)
        case .attached: sessionRead(context: context, item)
        case .ended: break
        }
    }

    private func attachAnswered(context: ChannelHandlerContext, _ item: Inbound) {
        timer?.cancel()
        timer = nil
        switch item {
        case .message(.attached(_, let peers)):
            delegate.count(.attach("accepted"))
            phase = .attached
            lastAnswer = .now()
            delegate.sessionAttached(peers: peers)
            scheduleHeartbeat(context: context)
            return
        case .message(.redirect(let target, _)):
            delegate.count(.attach("redirected"))
            end = .redirected(target)
        case .message(.busy(let millis, _)):
            delegate.count(.attach("busy"))
            end = .busy(.milliseconds(millis))
        case .message(.error(.badToken, _)), .message(.error(.expiredToken, _)):
            delegate.count(.attach("rejected"))
            end = .tokenRejected
        default:
            delegate.count(.attach("failed"))
            end = .failed
        }
        phase = .ended
        context.close(promise: nil)
    }

    private func sessionRead(context: ChannelHandlerContext, _ item: Inbound) {
        lastAnswer = .now()
        switch item {
        case .message(.heartbeatAck): break
        case .message(.lookupResult(let id, _, let location)):
            if pendingLookup?.id == id {
                pendingLookup = nil
                delegate.count(.lookup(location == nil ? "not_found" : "found"))
            }
        case .message(.error(.unavailable, _)):
            pendingLookup = nil
            delegate.count(.lookup("failed"))
        case .message(.peers(let peers)):
            delegate.learned(peers)
        case .message(.promote):
            delegate.promoteRequested()
        case .malformed(let error):
            delegate.count(.malformed(error.code.description))
            context.close(promise: nil)
        case .message:
            break
        }
    }

    private func scheduleHeartbeat(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timing.heartbeat) {
            let (handler, context) = loopBound.value
            handler.heartbeat(context: context)
        }
    }

    /// One heartbeat tick: give up on a silent supernode, else send a heartbeat and, every
    /// `lookupEvery` ticks, a lookup of a random user.
    private func heartbeat(context: ChannelHandlerContext) {
        guard phase == .attached else { return }
        let now = NIODeadline.now()
        if now - lastAnswer > timing.silence {
            context.close(promise: nil)
            return
        }
        sequence += 1
        context.write(wrapOutboundOut(.heartbeat(sequence: sequence)), promise: nil)
        if sequence % UInt64(max(1, timing.lookupEvery)) == 0 {
            if let pending = pendingLookup, now - pending.sent > timing.responseTimeout {
                delegate.count(.lookup("failed"))
            }
            pendingLookup = (sequence, now)
            context.write(wrapOutboundOut(.lookup(requestID: sequence, user: "user-\(Int.random(in: 1...population))")), promise: nil)
        }
        context.flush()
        scheduleHeartbeat(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        switch phase {
        case .attached:
            phase = .ended
            delegate.sessionDetached()
            finish(.lost, attached: true)
        case .attaching:
            phase = .ended
            delegate.count(.attach("failed"))
            finish(.failed, attached: false)
        case .ended:
            finish(end ?? .failed, attached: false)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The channel was torn down without becoming inactive (a failed registration).
        timer?.cancel()
        if phase == .attached { delegate.sessionDetached() }
        phase = .ended
        finish(end ?? .failed, attached: false)
    }
}

/// Sends one request on a fresh connection and completes `reply` with the first answer, or nil
/// when the connection closes first or nothing comes within the timeout.
final class FirstReplyHandler: ChannelInboundHandler, RemovableChannelHandler, ConnectionOutcome {
    typealias InboundIn = Inbound
    typealias OutboundOut = Message

    private let request: Message
    private let timeout: TimeAmount
    private let reply: EventLoopPromise<Message?>
    private var completed = false
    private var timer: Scheduled<Void>?

    /// Completed once: the first answer, or nil.
    var result: EventLoopFuture<Message?> { reply.futureResult }

    init(request: Message, timeout: TimeAmount, eventLoop: any EventLoop) {
        self.request = request
        self.timeout = timeout
        self.reply = eventLoop.makePromise()
    }

    private func finish(_ message: Message?) {
        guard !completed else { return }
        completed = true
        reply.succeed(message)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timer?.cancel()
        finish(unwrapInboundIn(data).message)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        finish(nil)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        finish(nil)
    }
}

extension Framing {
    /// Opens a framed connection to `address` from `source` with `makeHandler`'s handler behind
    /// the codec, on `loop`. No async wrapper: the handler does the protocol on the event loop.
    static func connect(
        to address: SocketAddress,
        from source: SocketAddress?,
        on loop: any EventLoop,
        timeout: TimeAmount = .seconds(3),
        handler makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) -> EventLoopFuture<any Channel> {
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameInboundDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameOutboundEncoder()))
                    try channel.pipeline.syncOperations.addHandler(makeHandler())
                }
            }
        if let source {
            bootstrap = bootstrap
                .channelOption(.ipOption(.init(rawValue: ipBindAddressNoPort)), value: 1)
                .bind(to: source)
        }
        return bootstrap.connect(to: address)
    }
}

extension Endpoint {
    /// The endpoint as a socket address: parsed when the host is an IP address, else resolved
    /// (blocking; names are rare here, addresses the rule).
    func socketAddress() throws -> SocketAddress {
        if let parsed = try? SocketAddress(ipAddress: host, port: Int(port)) { return parsed }
        return try SocketAddress.makeAddressResolvingHost(host, port: Int(port))
    }
}
