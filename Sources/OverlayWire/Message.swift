/// A network address as the overlay passes it around: a host (an IPv4 or IPv6 literal, or a
/// name) and a TCP port.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; nil when malformed.
    public init?(parsing text: some StringProtocol) {
        let text = String(text)
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What a supernode tells others about itself in gossip.
public struct PeerInfo: Sendable, Hashable {
    /// The supernode's unique name (its instance name, or `promoted-<client>` for a promoted one).
    public var name: String
    /// Where it accepts attaches and peer links.
    public var endpoint: Endpoint
    /// Clients attached now.
    public var clients: UInt32
    /// How many it is meant to hold.
    public var capacity: UInt32
    /// True for a client process that was promoted.
    public var promoted: Bool

    public init(name: String, endpoint: Endpoint, clients: UInt32, capacity: UInt32, promoted: Bool) {
        self.name = name
        self.endpoint = endpoint
        self.clients = clients
        self.capacity = capacity
        self.promoted = promoted
    }

    /// Attached clients over capacity, 0 when capacity is 0.
    public var load: Double { capacity == 0 ? 1 : Double(clients) / Double(capacity) }
}

/// The reason codes of an ``Message/error(code:message:)`` frame.
public enum ErrorCode: UInt16, Sendable, Hashable, CaseIterable {
    /// The frame could not be decoded; the connection closes after this.
    case malformedFrame = 1
    /// The message is valid but not expected here (a lookup before attach, say).
    case unexpectedMessage = 2
    /// Unknown user or wrong password.
    case badCredentials = 3
    /// The token's signature does not verify, or the token is malformed.
    case badToken = 4
    /// The token expired.
    case expiredToken = 5
    /// The node is shutting down.
    case shuttingDown = 6
    /// Anything else.
    case `internal` = 7
    /// The answer depends on a node that could not be reached in time.
    case unavailable = 8
    /// Unknown code, from a newer peer.
    case unknown = 0xFFFF
}

/// Every message of the overlay protocol. Each travels in one frame; see ``FrameCodec``.
public enum Message: Sendable, Hashable {
    /// client → auth: log in as `user`.
    case login(user: String, password: String)
    /// auth → client: the signed session token.
    case token(SignedToken)
    /// any → client: overloaded, retry no sooner than `retryAfterMillis`.
    case busy(retryAfterMillis: UInt32, reason: String)
    /// client → supernode: attach with a token. `process` names the client process (for
    /// promotion); `onlineSeconds` is how long that process has been online.
    case attach(token: SignedToken, process: String, onlineSeconds: UInt32)
    /// supernode → client: attached; `peers` are the supernodes it knows.
    case attached(supernode: String, peers: [PeerInfo])
    /// supernode → client: go to another supernode.
    case redirect(to: Endpoint, reason: String)
    /// client → supernode: keep-alive.
    case heartbeat(sequence: UInt64)
    /// supernode → client: keep-alive answer with the supernode's load in per mille.
    case heartbeatAck(sequence: UInt64, loadPerMille: UInt16)
    /// client → supernode, or supernode → supernode (forwarded): where is `user`?
    case lookup(requestID: UInt64, user: String)
    /// the answer: the supernode `user` is attached to, or nil when offline.
    case lookupResult(requestID: UInt64, user: String, location: String?)
    /// supernode → supernode and supernode → client: membership gossip.
    case peers([PeerInfo])
    /// supernode → supernode: these users are attached at `supernode` (directory publish).
    case register(supernode: String, users: [String])
    /// supernode → client process: become a supernode too.
    case promote(reason: String)
    /// any: a request failed; the connection may close after it.
    case error(code: ErrorCode, message: String)

    /// The frame kind byte of this message.
    public var kind: MessageKind {
        switch self {
        case .login: .login
        case .token: .token
        case .busy: .busy
        case .attach: .attach
        case .attached: .attached
        case .redirect: .redirect
        case .heartbeat: .heartbeat
        case .heartbeatAck: .heartbeatAck
        case .lookup: .lookup
        case .lookupResult: .lookupResult
        case .peers: .peers
        case .register: .register
        case .promote: .promote
        case .error: .error
        }
    }
}

/// The kind byte that starts every frame body.
public enum MessageKind: UInt8, Sendable, CaseIterable {
    case login = 1
    case token = 2
    case busy = 3
    case attach = 4
    case attached = 5
    case redirect = 6
    case heartbeat = 7
    case heartbeatAck = 8
    case lookup = 9
    case lookupResult = 10
    case peers = 11
    case register = 12
    case promote = 13
    case error = 14
}
