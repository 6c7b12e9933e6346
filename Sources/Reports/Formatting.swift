/// Formats a number for people: at most `digits` significant digits, no trailing zeros,
/// `NaN`/`+Inf`/`-Inf` as Prometheus writes them, and `1.5e-7` style outside `[0.001, 1e9)`.
func formatNumber(_ value: Double, significant digits: Int = 4) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == 0 { return "0" }
    let magnitude = Swift.abs(value)
    var exponent = 0
    var mantissa = magnitude
    while mantissa >= 10 {
        mantissa /= 10
        exponent += 1
    }
    while mantissa < 1 {
        mantissa *= 10
        exponent -= 1
    }
    if magnitude >= 1e-3 && magnitude < 1e9 {
        return formatFixed(value, decimals: Swift.max(0, Swift.min(9, digits - 1 - exponent)))
    }
    var text = formatFixed(mantissa, decimals: Swift.max(0, digits - 1))
    if text == "10" {
        text = "1"
        exponent += 1
    }
    return (value < 0 ? "-" : "") + text + "e" + String(exponent)
}

/// Formats `value` with at most `decimals` decimals, trailing zeros removed (`trim`).
func formatFixed(_ value: Double, decimals: Int, trim: Bool = true) -> String {
    if !value.isFinite { return formatNumber(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (Swift.abs(value) * scale).rounded()
    guard scaled < 9e18 else { return value.description }
    let integer = UInt64(scaled)
    var digits = String(integer)
    if decimals > 0 {
        if digits.count <= decimals {
            digits = String(repeating: "0", count: decimals - digits.count + 1) + digits
        }
        let whole = digits.prefix(digits.count - decimals)
        var fraction = digits.suffix(decimals)
        if trim {
            while fraction.last == "0" { fraction = fraction.dropLast() }
        }
        digits = fraction.isEmpty ? String(whole) : whole + "." + fraction
    }
    return (value < 0 && integer != 0 ? "-" : "") + digits
}

/// Formats milliseconds for people: `250ms`, `12.25s`, `2m05s`, `1h02m03.5s`.
func formatDuration(_ milliseconds: Int64) -> String {
    if milliseconds < 0 { return "-" + formatDuration(0 - milliseconds) }
    if milliseconds < 1000 { return "\(milliseconds)ms" }
    if milliseconds < 60_000 { return formatFixed(Double(milliseconds) / 1000, decimals: 3) + "s" }
    let hours = milliseconds / 3_600_000
    let minutes = milliseconds / 60_000 % 60
    let seconds = formatFixed(Double(milliseconds % 60_000) / 1000, decimals: 3)
    let paddedSeconds = (seconds.prefix { $0 != "." }.count < 2 ? "0" : "") + seconds
    let paddedMinutes = hours > 0 && minutes < 10 ? "0\(minutes)" : "\(minutes)"
    return (hours > 0 ? "\(hours)h" : "") + paddedMinutes + "m" + (paddedSeconds == "00" ? "" : paddedSeconds + "s")
}

/// Formats milliseconds as a clock: `01:23`, or `1:02:03` past an hour (whole seconds).
func formatClock(_ milliseconds: Int64) -> String {
    let total = Swift.max(0, milliseconds) / 1000
    let hours = total / 3600
    let minutes = total / 60 % 60
    let seconds = total % 60
    func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return hours > 0 ? "\(hours):\(two(minutes)):\(two(seconds))" : "\(two(minutes)):\(two(seconds))"
}

/// Formats a share (0…1) as a percentage with at most two decimals: `12.5%`.
func formatPercent(_ fraction: Double) -> String {
    formatFixed(fraction * 100, decimals: 2) + "%"
}

/// Escapes text for XML 1.0 and HTML, in element content or (`attribute`) in a quoted attribute.
///
/// `& < > " '` become entities. Characters XML 1.0 forbids (C0 controls other than tab, line
/// feed and carriage return; U+FFFE, U+FFFF) and C1 controls are shown as `\u{1B}` text, since
/// they cannot be written even as character references. In attributes, tab, line feed and
/// carriage return become character references so that parsers keep them.
func escapeMarkup(_ text: String, attribute: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t": out += attribute ? "&#9;" : "\t"
        case "\n": out += attribute ? "&#10;" : "\n"
        case "\r": out += "&#13;"
        default:
            let value = scalar.value
            if value < 0x20 || (value >= 0x7F && value <= 0x9F) || value == 0xFFFE || value == 0xFFFF {
                out += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

/// Pads `text` on the right (or left) with spaces to `width` characters; never truncates.
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let missing = width - text.count
    guard missing > 0 else { return text }
    let spaces = String(repeating: " ", count: missing)
    return right ? spaces + text : text + spaces
}
