import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Joins the two channels of one proxied connection: what one reads, the other writes.
///
/// Sits last in each channel's pipeline (toxics go before it). Back-pressure: a `read()` passes
/// only while the partner channel is writable, and the one held back is issued when it becomes
/// writable again, so nothing is buffered beyond the channel's write-buffer water marks. A
/// half-close is passed on after the bytes before it have been written. This is the hot path:
/// no allocation and no lock per chunk, one relaxed atomic add for the byte counter.
final class ForwardingHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The direction of the bytes this handler's channel reads.
    private let direction: Direction
    private let statistics: LinkStatistics
    private var partner: ForwardingHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Called once when this handler's channel goes inactive.
    var onInactive: (() -> Void)?

    init(reading direction: Direction, statistics: LinkStatistics) {
        self.direction = direction
        self.statistics = statistics
    }

    /// Joins two handlers on the same event loop and starts the reads they were holding back.
    static func join(_ first: ForwardingHandler, _ second: ForwardingHandler) {
        first.partner = second
        second.partner = first
        first.partnerBecameWritable()
        second.partnerBecameWritable()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.statistics.forwarded(Self.unwrapInboundIn(data).readableBytes, self.direction)
        self.partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.context?.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partner?.context?.close(promise: nil)
        if let onInactive = self.onInactive {
            self.onInactive = nil
            onInactive()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            self.partner?.shutDownOutputAfterPendingWrites()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // One connection's error closes that connection only (and its partner, via inactive).
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.context?.channel.isWritable == true {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    private func partnerBecameWritable() {
        if self.pendingRead, let context = self.context {
            self.pendingRead = false
            context.read()
        }
    }

    /// Half-closes this channel's output once everything written before has gone out: the empty
    /// write's promise completes after the writes queued ahead of it. (Closing the output of a
    /// channel whose input is already closed closes it fully, which would drop pending writes.)
    private func shutDownOutputAfterPendingWrites() {
        guard let context = self.context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
    }
}

/// Refuses a connection as soon as it is active: with an RST, or a plain close.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reset: Bool

    init(reset: Bool) { self.reset = reset }

    func channelActive(context: ChannelHandlerContext) {
        if self.reset {
            context.channel.reset()
        } else {
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension Channel {
    /// Closes the connection with an RST (`SO_LINGER` 0): the peer sees "connection reset".
    func reset() {
        guard let provider = self as? any SocketOptionProvider else {
            self.close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            self.close(promise: nil)
        }
    }
}
