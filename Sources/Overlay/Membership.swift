import OverlayWire

/// The supernodes a supernode knows, from gossip. Pure: time is passed in.
///
/// A member stays while it is heard from directly (its own entry at the head of its gossip)
/// within `timeout`. Second-hand entries only introduce members not known yet, and never revive
/// one that expired recently (a tombstone), so a dead node is not kept alive by rumours.
public struct Membership: Sendable {
    public struct Member: Sendable, Hashable {
        public var info: PeerInfo
        public var lastHeard: Duration
    }

    public let selfName: String
    public var timeout: Duration
    public private(set) var members: [String: Member] = [:]
    private var tombstones: [String: Duration] = [:]
    /// Bumped on every change of the member set, so senders know when to re-announce.
    public private(set) var version = 0

    public init(selfName: String, timeout: Duration) {
        self.selfName = selfName
        self.timeout = timeout
    }

    /// Merges a gossip message: `peers[0]` is the sender itself, the rest what it knows.
    public mutating func merge(_ peers: [PeerInfo], now: Duration) {
        guard let sender = peers.first else { return }
        if sender.name != selfName {
            if members[sender.name] == nil { version += 1 }
            members[sender.name] = Member(info: sender, lastHeard: now)
            tombstones[sender.name] = nil
        }
        for peer in peers.dropFirst() where peer.name != selfName && members[peer.name] == nil {
            if let died = tombstones[peer.name], now - died < timeout * 2 { continue }
            // Heard of, not from: it must speak for itself within the timeout.
            members[peer.name] = Member(info: peer, lastHeard: now)
            version += 1
        }
    }

    /// Drops members not heard from within the timeout; returns their names.
    @discardableResult
    public mutating func expire(now: Duration) -> [String] {
        let dead = members.values.filter { now - $0.lastHeard > timeout }.map(\.info.name)
        for name in dead {
            members[name] = nil
            tombstones[name] = now
        }
        tombstones = tombstones.filter { now - $0.value < timeout * 2 }
        if !dead.isEmpty { version += 1 }
        return dead
    }

    /// Live members other than this node, by name.
    public var peers: [PeerInfo] { members.values.map(\.info).sorted { $0.name < $1.name } }
}

/// Which supernode owns a user's directory entry: rendezvous (highest-random-weight) hashing
/// over the live supernodes' names, so a membership change moves only the entries of the nodes
/// that came or went.
public enum DirectoryOwnership {
    public static func owner(of user: String, among names: [String]) -> String? {
        names.max { weight(user, $0) < weight(user, $1) }
    }

    /// FNV-1a over `user`, a separator and `node`, then a 64-bit finaliser.
    static func weight(_ user: String, _ node: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in user.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        hash = (hash ^ 0xff) &* 0x0000_0100_0000_01b3
        for byte in node.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
