#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses a float as Prometheus does (Go's `strconv.ParseFloat`): decimal and exponent forms,
/// and `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity` in any letter case.
func parseFloat(_ text: some StringProtocol) -> Double? {
    if text.isEmpty { return nil }
    switch text.lowercased() {
    case "nan", "+nan", "-nan": return .nan
    case "inf", "+inf", "infinity", "+infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    default: break
    }
    // Swift's parser accepts the same decimal and hex forms as Go's, but also
    // leading/trailing spaces in some versions; refuse those explicitly.
    for byte in text.utf8 where byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "_") {
        return nil
    }
    return Double(String(text))
}

/// Formats a float the way the Prometheus HTTP API does: `NaN`, `+Inf`, `-Inf`, integers
/// without a fraction, anything else as the shortest text that reads back exactly.
func formatFloat(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value == .infinity { return "+Inf" }
    if value == -.infinity { return "-Inf" }
    var text = value.description
    if text.hasSuffix(".0") { text.removeLast(2) }
    return text
}

/// `x` to the power `y`, as Go's `math.Pow` (the C library's `pow`).
func power(_ x: Double, _ y: Double) -> Double { pow(x, y) }

/// Go's `math.Max`: NaN if either is NaN, and +0 wins over -0.
func goMax(_ a: Double, _ b: Double) -> Double {
    if a.isNaN || b.isNaN { return .nan }
    return Swift.max(a, b)
}

/// Go's `math.Min`: NaN if either is NaN.
func goMin(_ a: Double, _ b: Double) -> Double {
    if a.isNaN || b.isNaN { return .nan }
    return Swift.min(a, b)
}

/// Kahan–Babuška summation, as Prometheus uses for `sum`, `sum_over_time` and friends.
struct KahanSum {
    private(set) var sum = 0.0
    private var compensation = 0.0

    mutating func add(_ value: Double) {
        let t = sum + value
        if Swift.abs(sum) >= Swift.abs(value) {
            compensation += (sum - t) + value
        } else {
            compensation += (value - t) + sum
        }
        sum = t
    }

    var value: Double {
        // An infinite sum must not turn into NaN through the compensation term.
        sum.isInfinite ? sum : sum + compensation
    }
}

/// Formats milliseconds as seconds with three decimals: `12.250s`.
func formatMilliseconds(_ ms: Int64) -> String {
    let sign = ms < 0 ? "-" : ""
    let magnitude = ms.magnitude
    let fraction = String(magnitude % 1000)
    return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
}
