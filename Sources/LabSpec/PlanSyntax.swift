import Foundation

/// The small value syntaxes of a plan: rates, bandwidths, probabilities, ranges, references.
enum PlanSyntax {
    /// A step, SLO or probe name: a letter, then letters, digits, `-` and `_`.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
        }
    }

    /// `supernode`, `supernode-3` or `supernode-1..4`.
    static func instanceReference(_ text: String) -> Result<InstanceReference.Form, PlanSyntaxError> {
        guard !text.isEmpty else { return .failure(PlanSyntaxError("it is empty")) }
        if let dots = text.range(of: "..") {
            let head = text[..<dots.lowerBound]
            let highText = text[dots.upperBound...]
            guard let dash = head.lastIndex(of: "-"), let low = Int(head[head.index(after: dash)...]),
                let high = Int(highText), dash != head.startIndex
            else {
                return .failure(PlanSyntaxError("a range is written SERVICE-LOW..HIGH, as supernode-1..4"))
            }
            guard low >= 1 else { return .failure(PlanSyntaxError("instances are numbered from 1")) }
            guard low <= high else { return .failure(PlanSyntaxError("the range is empty (\(low) > \(high))")) }
            return .success(.range(service: String(head[..<dash]), low: low, high: high))
        }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && !$0.properties.isWhitespace && $0 != "," }) else {
            return .failure(PlanSyntaxError("use a service name, an instance name or a range, as supernode-1..4"))
        }
        return .success(.name(text))
    }

    /// A number with an optional `%`: `0.25` or `25%`.
    static func fraction(_ text: String) -> Double? {
        if text.hasSuffix("%") { return Double(text.dropLast()).map { $0 / 100 } }
        return Double(text)
    }

    /// Events per second: `500`, `500/s`, `30000/m`, `2/ms`.
    static func rate(_ text: String) -> Result<Double, PlanSyntaxError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let value = Double(parts[0]), value.isFinite else {
            return .failure(PlanSyntaxError("use a number per second, as 500/s, 30000/m or 500"))
        }
        var perSecond = value
        if parts.count == 2 {
            switch parts[1] {
            case "s": break
            case "m", "min": perSecond /= 60
            case "h": perSecond /= 3600
            case "ms": perSecond *= 1000
            default: return .failure(PlanSyntaxError("unknown unit \"/\(parts[1])\" (use /s, /m or /h)"))
            }
        }
        guard perSecond > 0 else { return .failure(PlanSyntaxError("it must be more than zero")) }
        return .success(perSecond)
    }

    private static let bandwidthUnits: [(suffix: String, bitsPerSecond: Double)] = [
        ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1),
        ("GiB/s", 8 * 1_073_741_824), ("MiB/s", 8 * 1_048_576), ("KiB/s", 8 * 1024),
        ("GB/s", 8e9), ("MB/s", 8e6), ("KB/s", 8e3), ("kB/s", 8e3), ("B/s", 8),
    ]

    static func bandwidth(_ text: String) -> Result<Bandwidth, PlanSyntaxError> {
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unitText = text.dropFirst(number.count)
        guard let value = Double(number) else {
            return .failure(PlanSyntaxError("expected a number, as 1mbit, 100kbit or 512KiB/s"))
        }
        guard let unit = bandwidthUnits.first(where: { $0.suffix == unitText }) else {
            return .failure(
                PlanSyntaxError("unknown unit \"\(unitText)\" (use bit, kbit, mbit, gbit, B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s or GiB/s)"))
        }
        let bits = (value * unit.bitsPerSecond).rounded()
        guard bits >= 1 else { return .failure(PlanSyntaxError("it must be at least 1bit")) }
        guard bits < 9.2e18 else { return .failure(PlanSyntaxError("it is out of range")) }
        return .success(Bandwidth(bitsPerSecond: Int64(bits), text: text))
    }

    /// `1s..5s` or one duration.
    static func durationRange(_ text: String) -> Result<DurationRange, PlanSyntaxError> {
        let parts = text.components(separatedBy: "..")
        guard parts.count <= 2 else { return .failure(PlanSyntaxError("use MIN..MAX, as 1s..5s, or one duration")) }
        var values: [Duration] = []
        for part in parts {
            switch ComposeDuration.parse(part) {
            case .success(let value): values.append(value)
            case .failure(let failure): return .failure(PlanSyntaxError("\"\(part)\": \(failure.reason)"))
            }
        }
        guard values.count == 1 || values[0] <= values[1] else {
            return .failure(PlanSyntaxError("the least duration comes first"))
        }
        return .success(DurationRange(min: values[0], max: values[values.count - 1]))
    }
}

/// Arithmetic the samplers need.
enum PlanMath {
    /// Γ(x) for x > 0.
    static func gamma(_ x: Double) -> Double { Foundation.tgamma(x) }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
