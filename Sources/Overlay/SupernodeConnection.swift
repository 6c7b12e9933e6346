import NIOCore
import OverlayWire

/// One connection to a supernode, served on its event loop: a client's attach and session
/// (heartbeats, lookups), or a link from another supernode (gossip, registrations, lookups).
/// No task and no hop per message; a forwarded lookup's answer is written when it arrives.
///
/// The first message decides what the connection is. Anything unexpected, or a malformed frame,
/// gets an error frame and the connection closes.
final class SupernodeConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Inbound
    typealias OutboundOut = Message

    private enum Phase {
        case first
        case client(session: UInt64, announcedVersion: Int)
        case peer
        case closing
    }

    private let server: SupernodeServer
    private var phase = Phase.first

    init(server: SupernodeServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let item = unwrapInboundIn(data)
        switch phase {
        case .first: first(context: context, item)
        case .client(let session, let version): clientRead(context: context, item, session: session, announcedVersion: version)
        case .peer: peerRead(context: context, item)
        case .closing: break
        }
    }

    private func first(context: ChannelHandlerContext, _ item: Inbound) {
        switch item {
        case .message(.attach(let token, let process, let onlineSeconds)):
            let answer = server.attach(token: token, process: process, onlineSeconds: onlineSeconds, channel: context.channel)
            context.writeAndFlush(wrapOutboundOut(answer.reply), promise: nil)
            guard let session = answer.session else {
                close(context: context)
                return
            }
            phase = .client(session: session, announcedVersion: server.heard(session).version)
            server.publish(users: [answer.user])
        case .message(let message) where SupernodeServer.isPeerMessage(message):
            phase = .peer
            peerRead(context: context, item)
        default:
            reject(context: context, item)
        }
    }

    private func clientRead(context: ChannelHandlerContext, _ item: Inbound, session: UInt64, announcedVersion: Int) {
        let (load, version) = server.heard(session)
        switch item {
        case .message(.heartbeat(let sequence)):
            context.write(wrapOutboundOut(.heartbeatAck(sequence: sequence, loadPerMille: load)), promise: nil)
            if version != announcedVersion {
                // The peer list is built only when membership changed, not per heartbeat.
                phase = .client(session: session, announcedVersion: version)
                context.write(wrapOutboundOut(.peers(server.announcement())), promise: nil)
            }
            context.flush()
        case .message(.lookup(let requestID, let user)):
            let channel = context.channel
            server.lookup(requestID: requestID, user: user, on: context.eventLoop).whenSuccess { answer in
                channel.writeAndFlush(answer, promise: nil)
            }
        default:
            reject(context: context, item)
        }
    }

    private func peerRead(context: ChannelHandlerContext, _ item: Inbound) {
        guard case .message(let message) = item, SupernodeServer.isPeerMessage(message) else {
            reject(context: context, item)
            return
        }
        if let reply = server.peerMessage(message) { context.writeAndFlush(wrapOutboundOut(reply), promise: nil) }
    }

    private func reject(context: ChannelHandlerContext, _ item: Inbound) {
        context.writeAndFlush(wrapOutboundOut(server.rejection(item)), promise: nil)
        close(context: context)
    }

    private func close(context: ChannelHandlerContext) {
        if case .client(let session, _) = phase { server.detach(session) }
        phase = .closing
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The far side is gone (a killed client's socket closes): so is the session. Half-closure
        // is allowed on the listener for auth's sake; a supernode has nothing left to answer.
        if let event = event as? ChannelEvent, event == .inputClosed {
            close(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .client(let session, _) = phase { server.detach(session) }
        phase = .closing
        context.fireChannelInactive()
    }
}
