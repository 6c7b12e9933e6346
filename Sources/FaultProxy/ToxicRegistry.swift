/// The table from a plan's toxic `kind` to a decoder that builds the toxic from its attributes.
///
/// No reflection: every kind is registered explicitly. ``standard`` knows the built-in kinds;
/// register more with ``register(_:decoder:)``.
public struct ToxicRegistry: Sendable {
    /// Builds a toxic from its attributes; throws ``FaultProxyError`` (`invalidAttribute`).
    public typealias Decoder = @Sendable (ToxicAttributes) throws -> any Toxic

    private var decoders: [String: Decoder] = [:]

    /// An empty registry.
    public init() {}

    /// The built-in kinds and their attributes (durations as `250ms`, `2s`, `1m`, `500us`; a bare
    /// number is milliseconds; sizes as `1024`, `64KiB`, `1MiB`):
    /// - `latency`: `delay` (or `latency`), `jitter` (default `0ms`).
    /// - `bandwidth`: `rate` in bytes per second, `burst` in bytes (default 0).
    /// - `loss`: `probability` (0…1), `mode` (`stall`, `drop`, `reset`; default `stall`),
    ///   `stall` (default `200ms`), `chunk` in bytes (default: whole reads).
    /// - `reset`, `blackhole`, `partition`: no attributes.
    public static let standard: ToxicRegistry = {
        var registry = ToxicRegistry()
        registry.register(LatencyToxic.kind) { attributes in
            try attributes.allow(["delay", "latency", "jitter"])
            let delay = try attributes.duration("delay") ?? attributes.duration("latency")
            guard let delay else { throw attributes.missing("delay") }
            return LatencyToxic(delay: delay, jitter: try attributes.duration("jitter") ?? .zero)
        }
        registry.register(BandwidthToxic.kind) { attributes in
            try attributes.allow(["rate", "burst"])
            guard let rate = try attributes.size("rate") else { throw attributes.missing("rate") }
            return BandwidthToxic(bytesPerSecond: rate, burst: try attributes.size("burst") ?? 0)
        }
        registry.register(LossToxic.kind) { attributes in
            try attributes.allow(["probability", "mode", "stall", "chunk"])
            guard let probability = try attributes.double("probability") else {
                throw attributes.missing("probability")
            }
            guard (0...1).contains(probability) else {
                throw attributes.invalid("probability", "must be within 0…1")
            }
            let mode: LossToxic.Mode
            switch attributes["mode"] ?? "stall" {
            case "stall": mode = .stall(try attributes.duration("stall") ?? .milliseconds(200))
            case "drop": mode = .drop
            case "reset": mode = .reset
            default: throw attributes.invalid("mode", "must be stall, drop or reset")
            }
            return LossToxic(probability: probability, mode: mode, chunkSize: try attributes.size("chunk"))
        }
        registry.register(ResetToxic.kind) { attributes in
            try attributes.allow([])
            return ResetToxic()
        }
        registry.register(BlackholeToxic.kind) { attributes in
            try attributes.allow([])
            return BlackholeToxic()
        }
        registry.register(PartitionToxic.kind) { attributes in
            try attributes.allow([])
            return PartitionToxic()
        }
        return registry
    }()

    /// Registers (or replaces) the decoder for `kind`.
    public mutating func register(_ kind: String, decoder: @escaping Decoder) {
        self.decoders[kind] = decoder
    }

    /// The registered kinds, sorted.
    public var kinds: [String] { self.decoders.keys.sorted() }

    /// Builds a toxic of `kind` from string attributes, as a plan gives them.
    ///
    /// - Throws: ``FaultProxyError`` with code `unknownToxicKind` or `invalidAttribute`.
    public func decode(kind: String, attributes: [String: String] = [:]) throws -> any Toxic {
        guard let decoder = self.decoders[kind] else {
            throw FaultProxyError(
                code: .unknownToxicKind,
                message: "unknown toxic kind '\(kind)' (known: \(self.kinds.joined(separator: ", ")))"
            )
        }
        return try decoder(ToxicAttributes(kind: kind, values: attributes))
    }
}

/// The string attributes of one toxic, with typed accessors that throw ``FaultProxyError``.
public struct ToxicAttributes: Sendable {
    /// The kind being decoded (for messages).
    public let kind: String
    /// The raw values.
    public let values: [String: String]

    /// Wraps the attributes of a toxic of `kind`.
    public init(kind: String, values: [String: String]) {
        self.kind = kind
        self.values = values
    }

    /// The raw value of `key`.
    public subscript(key: String) -> String? { self.values[key] }

    /// Throws if an attribute outside `keys` is present (catches typos).
    public func allow(_ keys: Set<String>) throws {
        for key in self.values.keys.sorted() where !keys.contains(key) {
            let known = keys.isEmpty ? "none" : keys.sorted().joined(separator: ", ")
            throw self.invalid(key, "is not an attribute of \(self.kind) (known: \(known))")
        }
    }

    /// `key` as a duration (`250ms`, `2s`, `1m`, `500us`, `1.5s`; bare numbers are milliseconds).
    public func duration(_ key: String) throws -> Duration? {
        guard let text = self.values[key]?.trimmingSpaces() else { return nil }
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite {
                return .nanoseconds(Int64((number * scale * 1e9).rounded()))
            }
            throw self.invalid(key, "'\(text)' is not a duration")
        }
        guard let number = Double(text), number >= 0, number.isFinite else {
            throw self.invalid(key, "'\(text)' is not a duration")
        }
        return .nanoseconds(Int64((number * 1e6).rounded()))
    }

    /// `key` as a byte count (`1024`, `64KiB`, `1MiB`, `10KB`, `1MB`).
    public func size(_ key: String) throws -> Int? {
        guard let text = self.values[key]?.trimmingSpaces() else { return nil }
        let units: [(String, Int)] = [("KiB", 1024), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        var number = Substring(text)
        var scale = 1
        if let unit = units.first(where: { text.hasSuffix($0.0) }) {
            number = text.dropLast(unit.0.count)
            scale = unit.1
        }
        guard let value = Int(number.trimmingSpaces()), value >= 0 else {
            throw self.invalid(key, "'\(text)' is not a size in bytes")
        }
        return value * scale
    }

    /// `key` as a number.
    public func double(_ key: String) throws -> Double? {
        guard let text = self.values[key]?.trimmingSpaces() else { return nil }
        guard let value = Double(text), value.isFinite else { throw self.invalid(key, "'\(text)' is not a number") }
        return value
    }

    /// An `invalidAttribute` error for `key`.
    public func invalid(_ key: String, _ problem: String) -> FaultProxyError {
        FaultProxyError(code: .invalidAttribute, message: "\(self.kind).\(key) \(problem)")
    }

    /// An `invalidAttribute` error for a missing `key`.
    public func missing(_ key: String) -> FaultProxyError {
        FaultProxyError(code: .invalidAttribute, message: "\(self.kind) needs the attribute '\(key)'")
    }
}

extension String {
    fileprivate func trimmingSpaces() -> Substring { Substring(self).trimmingSpaces() }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        let start = self.firstIndex { $0 != " " } ?? self.endIndex
        let end = self.lastIndex { $0 != " " }.map { self.index(after: $0) } ?? start
        return self[start..<end]
    }
}
