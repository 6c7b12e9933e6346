import NIOCore

/// Delays every chunk by a fixed ``delay`` plus a uniform ``jitter``, keeping the order of bytes.
///
/// Each chunk (and the half-close) is passed on `delay + U(-jitter, +jitter)` after it was read
/// (never less than zero), and never before the chunk read ahead of it, so jitter never reorders
/// a stream: every chunk's added delay stays within `delay ± jitter`. Removing the toxic delivers
/// the chunks it still holds at once, in order.
public struct LatencyToxic: Toxic {
    public static let kind = "latency"

    /// The fixed delay added to every chunk.
    public var delay: Duration
    /// The half-width of the uniform variation around ``delay``.
    public var jitter: Duration

    /// Makes a latency toxic; negative values count as zero.
    public init(delay: Duration, jitter: Duration = .zero) {
        self.delay = max(delay, .zero)
        self.jitter = max(jitter, .zero)
    }

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        LatencyPolicy(
            delay: TimeAmount(self.delay).nanoseconds,
            jitter: TimeAmount(self.jitter).nanoseconds,
            random: random
        )
    }

    public var description: String { "latency(\(self.delay), jitter \(self.jitter))" }
}

struct LatencyPolicy: StreamPolicy {
    let delay: Int64
    let jitter: Int64
    var random: ToxicRandom

    mutating func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict {
        .forward(at: now + .nanoseconds(self.sample()))
    }

    mutating func admitEndOfInput(now: NIODeadline) -> StreamVerdict {
        .forward(at: now + .nanoseconds(self.sample()))
    }

    private mutating func sample() -> Int64 {
        guard self.jitter > 0 else { return self.delay }
        return max(0, self.delay + Int64.random(in: -self.jitter...self.jitter, using: &self.random))
    }
}

/// Limits the rate of one direction to ``bytesPerSecond`` (a token bucket holding ``burst`` bytes).
///
/// Reads are split into slices of about 20 ms of traffic (at least 1 KiB) so the rate is smooth.
/// An idle stream may send ``burst`` bytes at once; after that, `n` bytes take `n / rate` seconds.
/// Reading from the sender pauses while the toxic holds more than the proxy's buffer limit, so
/// the sender feels TCP back-pressure rather than the proxy buffering without bound.
public struct BandwidthToxic: Toxic {
    public static let kind = "bandwidth"

    /// The rate, in bytes per second (at least 1).
    public var bytesPerSecond: Int
    /// The bucket's size in bytes: what an idle stream may send at once.
    public var burst: Int

    /// Makes a bandwidth toxic.
    public init(bytesPerSecond: Int, burst: Int = 0) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        self.burst = max(0, burst)
    }

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        BandwidthPolicy(rate: self.bytesPerSecond, burst: self.burst)
    }

    public var description: String { "bandwidth(\(self.bytesPerSecond) B/s, burst \(self.burst) B)" }
}

struct BandwidthPolicy: StreamPolicy {
    let rate: Int
    let burstNanoseconds: Int64
    let maximumChunkSize: Int
    /// The theoretical time the bytes admitted so far finish (GCRA).
    var finish: NIODeadline = .uptimeNanoseconds(0)

    init(rate: Int, burst: Int) {
        self.rate = rate
        self.burstNanoseconds = Self.nanoseconds(bytes: burst, rate: rate)
        self.maximumChunkSize = max(1024, rate / 50)
    }

    static func nanoseconds(bytes: Int, rate: Int) -> Int64 {
        Int64((Double(bytes) * 1e9 / Double(rate)).rounded(.up))
    }

    mutating func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict {
        let start = max(self.finish, now - .nanoseconds(self.burstNanoseconds))
        self.finish = start + .nanoseconds(Self.nanoseconds(bytes: byteCount, rate: self.rate))
        return .forward(at: self.finish)
    }
}

/// TCP "loss": with ``probability`` a chunk is hit, and what happens then is the ``mode``.
///
/// TCP never loses bytes, it retransmits them late; so by default a hit chunk is held back for
/// a stall time, and everything behind it waits too (``Mode-swift.struct/stall(_:)``), as a
/// retransmission would. ``Mode-swift.struct/drop`` removes the chunk from the stream instead
/// (the peer sees a corrupted stream: for testing framing and checksums), and
/// ``Mode-swift.struct/reset`` resets the connection. A chunk is one read of the proxy (up to
/// 256 KiB, usually what the peer wrote at once), or ``chunkSize`` bytes when set.
public struct LossToxic: Toxic {
    public static let kind = "loss"

    /// What happens to a chunk that is hit.
    public struct Mode: Sendable, Hashable, CustomStringConvertible {
        enum Value: Sendable, Hashable {
            case stall(Duration)
            case drop
            case reset
        }

        let value: Value

        /// Hold the chunk (and all behind it) back for `duration`.
        public static func stall(_ duration: Duration) -> Mode { Mode(value: .stall(max(duration, .zero))) }
        /// Discard the chunk's bytes.
        public static let drop = Mode(value: .drop)
        /// Reset the connection (RST to both peers).
        public static let reset = Mode(value: .reset)

        public var description: String {
            switch self.value {
            case .stall(let duration): "stall \(duration)"
            case .drop: "drop"
            case .reset: "reset"
            }
        }
    }

    /// The chance, 0…1, that a chunk is hit.
    public var probability: Double
    /// What a hit does.
    public var mode: Mode
    /// Split reads into chunks of this many bytes (so `probability` is per `chunkSize` bytes);
    /// `nil` keeps reads whole.
    public var chunkSize: Int?

    /// Makes a loss toxic; `probability` is clamped to 0…1.
    public init(probability: Double, mode: Mode = .stall(.milliseconds(200)), chunkSize: Int? = nil) {
        self.probability = min(max(probability, 0), 1)
        self.mode = mode
        self.chunkSize = chunkSize.map { max(1, $0) }
    }

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        LossPolicy(
            probability: self.probability,
            mode: self.mode.value,
            maximumChunkSize: self.chunkSize ?? Int.max,
            random: random
        )
    }

    public var description: String { "loss(p \(self.probability), \(self.mode))" }
}

struct LossPolicy: StreamPolicy {
    let probability: Double
    let mode: LossToxic.Mode.Value
    let maximumChunkSize: Int
    var random: ToxicRandom

    mutating func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict {
        guard self.probability > 0, Double.random(in: 0..<1, using: &self.random) < self.probability else {
            return .forward(at: now)
        }
        switch self.mode {
        case .stall(let duration): return .forward(at: now + TimeAmount(duration))
        case .drop: return .discard
        case .reset: return .reset
        }
    }
}

/// Accepts and never answers: the covered directions' bytes are read and thrown away, and the
/// connection stays open. A half-close is held back too, and delivered when the toxic is removed.
///
/// Bytes sent while the toxic is active are lost; forwarding resumes when it is removed.
public struct BlackholeToxic: Toxic {
    public static let kind = "blackhole"

    /// Makes a blackhole toxic.
    public init() {}

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        DiscardPolicy()
    }

    public var description: String { "blackhole" }
}

struct DiscardPolicy: StreamPolicy {
    func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict { .discard }
    func admitEndOfInput(now: NIODeadline) -> StreamVerdict { .discard }
}

struct PassPolicy: StreamPolicy {
    func admit(byteCount: Int, now: NIODeadline) -> StreamVerdict { .forward(at: now) }
}

/// Resets connections: live ones get an RST (to both peers, `SO_LINGER` 0) when the toxic is
/// applied, and new ones are accepted and reset at once while it is active. Direction is ignored.
public struct ResetToxic: ConnectionToxic {
    public static let kind = "reset"

    /// Makes a reset toxic.
    public init() {}

    public func connectionEffect(covering directions: Directions) -> ConnectionEffect? {
        ConnectionEffect(resetsNewConnections: true)
    }

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        PassPolicy()
    }

    public var description: String { "reset" }
}

/// Cuts a link. Covering both directions: no connection across the link — new connections are
/// closed at once (FIN, no upstream connection is made) and live ones are reset. Covering one
/// direction (a one-way partition): that direction's bytes vanish, as with ``BlackholeToxic``,
/// while the other direction still flows and connections stay up.
///
/// A one-way partition of instances ("a cannot reach b, b can reach a") is a partition of the
/// links a→b in both directions: `LinkSelector(from: ["a"], to: ["b"])`.
public struct PartitionToxic: ConnectionToxic {
    public static let kind = "partition"

    /// Makes a partition toxic.
    public init() {}

    public func connectionEffect(covering directions: Directions) -> ConnectionEffect? {
        directions == .both ? ConnectionEffect(resetsNewConnections: false) : nil
    }

    public func makePolicy(for direction: Direction, random: ToxicRandom) -> any StreamPolicy {
        DiscardPolicy()
    }

    public var description: String { "partition" }
}
