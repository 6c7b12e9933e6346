import NIOCore
import Synchronization

/// Carries one toxic on one direction of one connection: a `ChannelHandler` in the pipeline of
/// the channel that reads that direction's bytes, between the socket and the ``ForwardingHandler``.
///
/// It asks the toxic's ``StreamPolicy`` what to do with each chunk, holds chunks until their
/// time (never letting one overtake another), and pauses reading while it holds more than its
/// buffer limit. Removed from a live pipeline, it first delivers everything it holds, in order,
/// so reverting a toxic loses no data.
final class ToxicHandler<Policy: StreamPolicy>: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Item {
        case bytes(ByteBuffer)
        case endOfInput
    }

    private var policy: Policy
    private let bufferLimit: Int
    private let statistics: LinkStatistics
    private let resetConnection: () -> Void

    private var context: ChannelHandlerContext?
    private var queue = CircularBuffer<(item: Item, release: NIODeadline)>()
    private var queuedBytes = 0
    private var lastRelease = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?
    private var pendingRead = false
    private var heldEndOfInput = false
    private var deliveredSinceReadComplete = false

    init(policy: Policy, bufferLimit: Int, statistics: LinkStatistics, resetConnection: @escaping () -> Void) {
        self.policy = policy
        self.bufferLimit = max(1, bufferLimit)
        self.statistics = statistics
        self.resetConnection = resetConnection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        let now = NIODeadline.now()
        let chunkLimit = max(1, self.policy.maximumChunkSize)
        while buffer.readableBytes > 0 {
            let chunk: ByteBuffer
            if buffer.readableBytes <= chunkLimit {
                chunk = buffer
                buffer.moveReaderIndex(to: buffer.writerIndex)
            } else {
                chunk = buffer.readSlice(length: chunkLimit)!
            }
            let verdict = self.policy.admit(byteCount: chunk.readableBytes, now: now)
            switch verdict.value {
            case .forward(let deadline):
                self.enqueue(.bytes(chunk), at: deadline, now: now, context: context)
            case .discard:
                self.statistics.discarded.add(chunk.readableBytes, ordering: .relaxed)
            case .reset:
                self.resetConnection()
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.completeReadIfDelivered(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let now = NIODeadline.now()
        let verdict = self.policy.admitEndOfInput(now: now)
        switch verdict.value {
        case .forward(let deadline):
            self.enqueue(.endOfInput, at: deadline, now: now, context: context)
        case .discard:
            self.heldEndOfInput = true
        case .reset:
            self.resetConnection()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The connection is gone: what is held cannot be delivered.
        self.timer?.cancel()
        self.timer = nil
        self.queue.removeAll()
        self.queuedBytes = 0
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if self.queuedBytes >= self.bufferLimit {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        self.timer?.cancel()
        self.timer = nil
        while let (item, _) = self.queue.popFirst() {
            self.deliver(item, context: context)
        }
        self.queuedBytes = 0
        if self.heldEndOfInput {
            self.heldEndOfInput = false
            self.deliver(.endOfInput, context: context)
        }
        self.completeReadIfDelivered(context: context)
        if self.pendingRead {
            self.pendingRead = false
            context.read()
        }
        context.leavePipeline(removalToken: removalToken)
    }

    private func enqueue(_ item: Item, at deadline: NIODeadline, now: NIODeadline, context: ChannelHandlerContext) {
        let release = max(deadline, self.lastRelease)
        self.lastRelease = release
        if self.queue.isEmpty && release <= now {
            self.deliver(item, context: context)
            return
        }
        if case .bytes(let buffer) = item {
            self.queuedBytes += buffer.readableBytes
        }
        self.queue.append((item, release))
        self.armTimer()
    }

    private func deliver(_ item: Item, context: ChannelHandlerContext) {
        switch item {
        case .bytes(let buffer):
            self.deliveredSinceReadComplete = true
            context.fireChannelRead(Self.wrapInboundOut(buffer))
        case .endOfInput:
            self.completeReadIfDelivered(context: context)
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    private func completeReadIfDelivered(context: ChannelHandlerContext) {
        if self.deliveredSinceReadComplete {
            self.deliveredSinceReadComplete = false
            context.fireChannelReadComplete()
        }
    }

    private func armTimer() {
        guard self.timer == nil, let context = self.context, let first = self.queue.first else { return }
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: first.release) {
            self.timer = nil
            self.releaseDue()
        }
    }

    private func releaseDue() {
        guard let context = self.context else { return }
        let now = NIODeadline.now()
        while let first = self.queue.first, first.release <= now {
            self.queue.removeFirst()
            if case .bytes(let buffer) = first.item {
                self.queuedBytes -= buffer.readableBytes
            }
            self.deliver(first.item, context: context)
        }
        self.completeReadIfDelivered(context: context)
        if self.pendingRead && self.queuedBytes < self.bufferLimit / 2 + 1 {
            self.pendingRead = false
            context.read()
        }
        self.armTimer()
    }
}

/// Makes the handler for a policy of any type (opens the existential once, at install time).
func makeToxicHandler(
    policy: some StreamPolicy,
    bufferLimit: Int,
    statistics: LinkStatistics,
    resetConnection: @escaping () -> Void
) -> any RemovableChannelHandler {
    ToxicHandler(policy: policy, bufferLimit: bufferLimit, statistics: statistics, resetConnection: resetConnection)
}
