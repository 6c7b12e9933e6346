import NIOCore

/// One kind of network fault the proxy injects on the links a ``LinkSelector`` covers.
///
/// A toxic has one core operation, ``makePolicy(for:random:)``: it makes the policy that decides,
/// chunk by chunk, what happens to the bytes of one direction of one connection. The proxy runs
/// that policy in a ``NIOCore/ChannelHandler`` it adds to the live pipeline when the toxic is
/// applied and removes when it is reverted, delivering whatever the policy still holds, in order.
/// Toxics that act on whole connections add the ``ConnectionToxic`` capability.
///
/// New kinds are made known to plans through a ``ToxicRegistry``, by name.
public protocol Toxic: Sendable, CustomStringConvertible {
    /// The name this kind is registered under, as a plan writes it (`"latency"`).
    static var kind: String { get }

    /// Makes the policy for one direction of one connection.
    ///
    /// - Parameters:
    ///   - direction: The direction the policy will see bytes of.
    ///   - random: A generator seeded from the proxy's seed, the toxic's name, the connection
    ///     and the direction, so a run with the same seed and order of connections repeats.
    func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy
}

/// The capability of toxics that act on whole connections (refuse or reset them).
public protocol ConnectionToxic: Toxic {
    /// What the toxic does to the connections of a link it covers in `directions`, or `nil`
    /// when it acts only on the bytes (through its ``StreamPolicy``).
    func connectionEffect(covering directions: Directions) -> ConnectionEffect?
}

/// What a ``ConnectionToxic`` does to connections: live ones are reset (RST, `SO_LINGER` 0,
/// to both the client and the server); new ones are refused before any upstream connection is
/// made, with an RST or a plain close.
public struct ConnectionEffect: Sendable, Hashable {
    /// Whether new connections get an RST (`true`) or a plain close (FIN, `false`).
    public var resetsNewConnections: Bool

    /// Makes an effect.
    public init(resetsNewConnections: Bool) {
        self.resetsNewConnections = resetsNewConnections
    }
}

/// What a ``StreamPolicy`` decides for one chunk of bytes (or the end of input).
public struct StreamVerdict: Sendable, Hashable {
    enum Value: Sendable, Hashable {
        case forward(NIODeadline)
        case discard
        case reset
    }

    let value: Value

    /// Pass the chunk on at `deadline` (at once if it has passed), never before earlier chunks.
    public static func forward(at deadline: NIODeadline) -> StreamVerdict {
        StreamVerdict(value: .forward(deadline))
    }

    /// Drop the chunk. A dropped end of input is kept and delivered when the toxic is removed,
    /// so reverting never leaves a connection half-open forever.
    public static let discard = StreamVerdict(value: .discard)

    /// Reset the whole connection (RST to both peers).
    public static let reset = StreamVerdict(value: .reset)
}

/// The per-connection, per-direction state of a toxic: decides what happens to each chunk.
///
/// Policies run on the connection's event loop only; they need no locks.
public protocol StreamPolicy {
    /// The largest chunk the policy wants to see; larger reads are split (without copying).
    var maximumChunkSize: Int { get }

    /// Decides what happens to `byteCount` bytes that arrived at `now`.
    mutating func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict

    /// Decides what happens to the end of input (the peer's half-close) arriving at `now`.
    mutating func admitEndOfInput(now: NIODeadline) -> StreamVerdict
}

extension StreamPolicy {
    /// No splitting.
    public var maximumChunkSize: Int { Int.max }

    /// The end of input follows the bytes before it, with no delay of its own.
    public mutating func admitEndOfInput(now: NIODeadline) -> StreamVerdict { .forward(at: now) }
}

/// A small, fast, seedable random number generator (SplitMix64) for toxic policies.
public struct ToxicRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Makes a generator from `seed`; equal seeds give equal sequences.
    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Mixes values into one seed (stable across processes, unlike `Hasher`).
    static func seed(_ base: UInt64, _ name: String, _ connection: UInt64, _ direction: Direction) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in name.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var random = ToxicRandom(seed: base ^ hash)
        random.state ^= connection &* 0x9E37_79B9_7F4A_7C15
        random.state ^= direction == .upstream ? 0x5555 : 0xAAAA
        return random.next()
    }
}
