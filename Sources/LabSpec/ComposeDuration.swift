/// Compose durations: Go's `time.ParseDuration` syntax, as in `1m30s`, `250ms`, `1.5h`.
///
/// Units are `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`; a bare `0` is allowed. Negative
/// durations are refused: no Compose field takes one.
enum ComposeDuration {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6),
        ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// Parses `text`, or returns why it is not a duration.
    static func parse(_ text: String) -> Result<Duration, ParseFailure> {
        if text == "0" { return .success(.zero) }
        if text.isEmpty { return .failure(ParseFailure("it is empty")) }
        if text.hasPrefix("-") { return .failure(ParseFailure("it is negative")) }
        var rest = Substring(text.hasPrefix("+") ? String(text.dropFirst()) : text)
        if rest.isEmpty { return .failure(ParseFailure("it has no number")) }
        var total: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1,
                let value = Double(number.hasSuffix(".") ? number + "0" : String(number))
            else {
                return .failure(ParseFailure("expected a number at \"\(rest)\""))
            }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            guard !unitText.isEmpty else {
                return .failure(ParseFailure("missing unit after \(number) (use ns, us, ms, s, m or h)"))
            }
            guard let unit = units.first(where: { $0.suffix == unitText }) else {
                return .failure(ParseFailure("unknown unit \"\(unitText)\" (use ns, us, ms, s, m or h)"))
            }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.nanoseconds
        }
        // About 292 years: Int64 nanoseconds, as Go's time.Duration.
        guard total.isFinite, total < 9.2e18 else { return .failure(ParseFailure("it is out of range")) }
        return .success(.nanoseconds(Int64(total.rounded())))
    }

    /// Formats `duration` so that ``parse(_:)`` reads it back: `1m30s`, `250ms`, `0s`.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if nanoseconds == 0 { return "0s" }
        if nanoseconds < 0 { return "-" + format(.nanoseconds(-nanoseconds)) }
        if nanoseconds < 1_000_000_000 {
            if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
            if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)us" }
            return "\(nanoseconds)ns"
        }
        var text = ""
        let hours = nanoseconds / 3_600_000_000_000
        let minutes = nanoseconds / 60_000_000_000 % 60
        let rest = nanoseconds % 60_000_000_000
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += "\(minutes)m" }
        if rest > 0 {
            let whole = rest / 1_000_000_000
            var fraction = String(rest % 1_000_000_000)
            if fraction == "0" {
                text += "\(whole)s"
            } else {
                fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
                while fraction.hasSuffix("0") { fraction.removeLast() }
                text += "\(whole).\(fraction)s"
            }
        }
        return text
    }

    struct ParseFailure: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

extension KeyedEncodingContainer {
    mutating func encodeDuration(_ duration: Duration, forKey key: Key) throws {
        try encode(ComposeDuration.format(duration), forKey: key)
    }

    mutating func encodeDurationIfPresent(_ duration: Duration?, forKey key: Key) throws {
        if let duration { try encodeDuration(duration, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    func decodeDuration(forKey key: Key) throws -> Duration {
        let text = try decode(String.self, forKey: key)
        switch ComposeDuration.parse(text) {
        case .success(let duration): return duration
        case .failure(let failure):
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "invalid duration \"\(text)\": \(failure.reason)")
        }
    }

    func decodeDurationIfPresent(forKey key: Key) throws -> Duration? {
        try contains(key) && !decodeNil(forKey: key) ? decodeDuration(forKey: key) : nil
    }
}
