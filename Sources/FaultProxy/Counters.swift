import Synchronization

/// The proxy's counters at one moment, for the orchestrator's log. A plain value.
public struct FaultProxyCounters: Sendable, Hashable {
    /// Per link, every link that has seen a connection.
    public var links: [Link: LinkCounters]
    /// Toxics applied since the proxy started (each successful ``FaultProxy/apply(_:named:to:)``).
    public var toxicsApplied: Int
    /// Toxics reverted since the proxy started (reverting an absent name does not count).
    public var toxicsReverted: Int
    /// The names of the toxics active now, sorted.
    public var activeToxics: [String]

    /// The counters of all links added up.
    public var total: LinkCounters {
        self.links.values.reduce(into: LinkCounters()) { $0.add($1) }
    }
}

/// The counters of one link.
public struct LinkCounters: Sendable, Hashable {
    /// Connections accepted from the client (including those then refused).
    public var connectionsAccepted: Int = 0
    /// Connections open now (forwarding or being set up).
    public var connectionsActive: Int = 0
    /// Connections refused at accept by a toxic, or because the upstream could not be reached.
    public var connectionsRefused: Int = 0
    /// Live connections reset by a toxic.
    public var connectionsReset: Int = 0
    /// Bytes forwarded client→server.
    public var bytesUpstream: Int = 0
    /// Bytes forwarded server→client.
    public var bytesDownstream: Int = 0
    /// Bytes a toxic threw away, both directions.
    public var bytesDiscarded: Int = 0

    /// All zero.
    public init() {}

    mutating func add(_ other: LinkCounters) {
        self.connectionsAccepted += other.connectionsAccepted
        self.connectionsActive += other.connectionsActive
        self.connectionsRefused += other.connectionsRefused
        self.connectionsReset += other.connectionsReset
        self.bytesUpstream += other.bytesUpstream
        self.bytesDownstream += other.bytesDownstream
        self.bytesDiscarded += other.bytesDiscarded
    }
}

/// The live, lock-free counters of one link; relaxed atomics, so the data path takes no lock.
final class LinkStatistics: Sendable {
    let accepted = Atomic<Int>(0)
    let active = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let reset = Atomic<Int>(0)
    let bytesUpstream = Atomic<Int>(0)
    let bytesDownstream = Atomic<Int>(0)
    let discarded = Atomic<Int>(0)

    @inline(__always)
    func forwarded(_ bytes: Int, _ direction: Direction) {
        switch direction {
        case .upstream: self.bytesUpstream.add(bytes, ordering: .relaxed)
        case .downstream: self.bytesDownstream.add(bytes, ordering: .relaxed)
        }
    }

    var snapshot: LinkCounters {
        var counters = LinkCounters()
        counters.connectionsAccepted = self.accepted.load(ordering: .relaxed)
        counters.connectionsActive = self.active.load(ordering: .relaxed)
        counters.connectionsRefused = self.refused.load(ordering: .relaxed)
        counters.connectionsReset = self.reset.load(ordering: .relaxed)
        counters.bytesUpstream = self.bytesUpstream.load(ordering: .relaxed)
        counters.bytesDownstream = self.bytesDownstream.load(ordering: .relaxed)
        counters.bytesDiscarded = self.discarded.load(ordering: .relaxed)
        return counters
    }
}
