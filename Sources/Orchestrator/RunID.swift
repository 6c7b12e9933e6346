#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A run's id, like `20260714-101502-123-4f2a`: UTC date and time to the millisecond, then four
/// random hex digits, so ids sort by start time and two runs started together still differ.
public struct RunID: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The id as text; it is also the run folder's name.
    public var value: String

    /// Wraps an existing id, such as a run folder's name.
    public init(_ value: String) { self.value = value }

    /// A new id for a run starting now.
    public static func make() -> RunID {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let date = pad(Int(parts.tm_year) + 1900, 4) + pad(Int(parts.tm_mon) + 1, 2) + pad(Int(parts.tm_mday), 2)
        let time = pad(Int(parts.tm_hour), 2) + pad(Int(parts.tm_min), 2) + pad(Int(parts.tm_sec), 2)
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return RunID("\(date)-\(time)-\(pad(spec.tv_nsec / 1_000_000, 3))-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)")
    }

    /// The id.
    public var description: String { value }

    /// Ids compare as their text, which is start-time order.
    public static func < (left: RunID, right: RunID) -> Bool { left.value < right.value }

    /// Encodes as a plain string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// Decodes a plain string.
    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }
}
