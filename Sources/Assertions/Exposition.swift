/// The type a `# TYPE` line gives a metric family.
public enum MetricType: String, Sendable, Hashable, CaseIterable {
    case counter, gauge, histogram, summary, untyped
}

/// One sample read from a text exposition: `name{labels} value [timestamp]`.
public struct ExpositionSample: Sendable, Hashable {
    /// The metric name as written, such as `http_request_duration_seconds_bucket`.
    public var name: String
    /// The sample's labels, without `__name__`.
    public var labels: Labels
    /// The value; may be NaN or ±Inf.
    public var value: Double
    /// The optional timestamp, in milliseconds since the Unix epoch.
    public var timestamp: Int64?

    /// Creates a sample.
    public init(name: String, labels: Labels = Labels(), value: Double, timestamp: Int64? = nil) {
        self.name = name
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }

    /// The labels with `__name__` set to ``name``: the sample's series identity.
    public var series: Labels {
        var all = labels
        all[Labels.metricNameLabel] = name
        return all
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.labels == rhs.labels && lhs.timestamp == rhs.timestamp
            && lhs.value.bitPattern == rhs.value.bitPattern
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(labels)
        hasher.combine(value.bitPattern)
        hasher.combine(timestamp)
    }
}

/// What `# HELP` and `# TYPE` lines said about one metric family.
public struct MetricMetadata: Sendable, Hashable {
    /// The family name (for a histogram `foo`, not `foo_bucket`).
    public var name: String
    /// The declared type; `untyped` when only `# HELP` was given.
    public var type: MetricType
    /// The help text, unescaped; `nil` if there was no `# HELP` line.
    public var help: String?
}

/// A line of an exposition that could not be read and was skipped.
public struct ExpositionIssue: Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line number.
    public var line: Int
    /// Why the line was skipped.
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// A parsed Prometheus text exposition (format version 0.0.4).
///
/// Parsing never fails: every line that cannot be read is skipped and reported in
/// ``issues`` with its line number and the reason; the other lines still count.
/// Supported: `# HELP` (with `\\` and `\n` escapes), `# TYPE`, other comments, label values
/// with the `\\`, `\"` and `\n` escapes, a trailing comma in a label set, values including
/// `NaN`, `+Inf`, `-Inf`, and optional integer timestamps. For histograms a `_bucket`
/// sample must carry a float `le` label; for summaries a `quantile` label must be a float.
public struct Exposition: Sendable {
    /// The samples, in the order they appeared.
    public var samples: [ExpositionSample]
    /// What `# HELP` and `# TYPE` said, by family name.
    public var metadata: [String: MetricMetadata]
    /// The lines that were skipped.
    public var issues: [ExpositionIssue]

    /// Parses `text`; never throws, see ``issues``.
    public init(parsing text: String) {
        samples = []
        metadata = [:]
        issues = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var bytes = Array(rawLine.utf8)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            do throws(LineError) {
                try parseLine(bytes)
            } catch {
                issues.append(ExpositionIssue(line: lineNumber, reason: error.reason))
            }
        }
    }

    private struct LineError: Error {
        var reason: String
    }

    private mutating func parseLine(_ bytes: [UInt8]) throws(LineError) {
        var cursor = Cursor(bytes: bytes)
        cursor.skipBlanks()
        if cursor.atEnd { return }
        if cursor.peek == UInt8(ascii: "#") {
            try parseComment(&cursor)
            return
        }
        try parseSample(&cursor)
    }

    private mutating func parseComment(_ cursor: inout Cursor) throws(LineError) {
        cursor.advance()  // '#'
        guard cursor.skipBlanks() > 0 else { return }  // "#HELP" is a plain comment
        let keyword = cursor.readWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard keyword == "HELP" || keyword == "TYPE" else { return }
        guard cursor.skipBlanks() > 0 else { throw LineError(reason: "expected a metric name after \(keyword)") }
        let name = cursor.readWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard isValidMetricName(name) else { throw LineError(reason: "invalid metric name \"\(name)\" in \(keyword)") }
        var entry = metadata[name] ?? MetricMetadata(name: name, type: .untyped, help: nil)
        if keyword == "HELP" {
            guard entry.help == nil else { throw LineError(reason: "second HELP line for \(name)") }
            cursor.skipBlanks()
            entry.help = try unescapeHelp(cursor.rest)
        } else {
            guard cursor.skipBlanks() > 0 || cursor.atEnd else { throw LineError(reason: "expected a type") }
            let typeName = cursor.readWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            cursor.skipBlanks()
            guard let type = MetricType(rawValue: typeName), cursor.atEnd else {
                throw LineError(reason: "invalid metric type \"\(typeName)\" for \(name)")
            }
            if let existing = metadata[name], existing.type != .untyped || existing.help == nil {
                throw LineError(reason: "second TYPE line for \(name)")
            }
            if samples.contains(where: { familyName(of: $0.name, type: type) == name }) {
                throw LineError(reason: "TYPE line for \(name) after its samples")
            }
            entry.type = type
        }
        metadata[name] = entry
    }

    private func unescapeHelp(_ bytes: ArraySlice<UInt8>) throws(LineError) -> String {
        var out: [UInt8] = []
        var escaping = false
        for byte in bytes {
            if escaping {
                switch byte {
                case UInt8(ascii: "\\"): out.append(byte)
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                default: out.append(UInt8(ascii: "\\")); out.append(byte)  // kept as written
                }
                escaping = false
            } else if byte == UInt8(ascii: "\\") {
                escaping = true
            } else {
                out.append(byte)
            }
        }
        if escaping { out.append(UInt8(ascii: "\\")) }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func parseSample(_ cursor: inout Cursor) throws(LineError) {
        let name = cursor.readWhile { isNameStart($0) || isDigit($0) || $0 == UInt8(ascii: ":") }
        guard isValidMetricName(name) else {
            throw LineError(reason: name.isEmpty ? "expected a metric name" : "invalid metric name \"\(name)\"")
        }
        var blanks = cursor.skipBlanks()
        var labels: [String: String] = [:]
        if cursor.peek == UInt8(ascii: "{") {
            cursor.advance()
            labels = try parseLabels(&cursor)
            blanks = cursor.skipBlanks()
        }
        guard blanks > 0 || cursor.atEnd else {
            throw LineError(reason: "expected a space before the value")
        }
        let valueText = cursor.readWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard !valueText.isEmpty else { throw LineError(reason: "missing value") }
        guard let value = parseFloat(valueText) else { throw LineError(reason: "invalid value \"\(valueText)\"") }
        cursor.skipBlanks()
        var timestamp: Int64?
        if !cursor.atEnd {
            let text = cursor.readWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            guard let parsed = Int64(text) else { throw LineError(reason: "invalid timestamp \"\(text)\"") }
            timestamp = parsed
            cursor.skipBlanks()
            guard cursor.atEnd else { throw LineError(reason: "unexpected text after the timestamp") }
        }
        try checkFamilyRules(name: name, labels: labels)
        samples.append(ExpositionSample(name: name, labels: Labels(labels), value: value, timestamp: timestamp))
    }

    private func parseLabels(_ cursor: inout Cursor) throws(LineError) -> [String: String] {
        var labels: [String: String] = [:]
        while true {
            cursor.skipBlanks()
            if cursor.peek == UInt8(ascii: "}") {
                cursor.advance()
                return labels
            }
            let name = cursor.readWhile { isNameStart($0) || isDigit($0) }
            guard isValidLabelName(name) else {
                if cursor.atEnd { throw LineError(reason: "unterminated label set") }
                throw LineError(reason: name.isEmpty ? "expected a label name" : "invalid label name \"\(name)\"")
            }
            guard name != Labels.metricNameLabel else { throw LineError(reason: "label name __name__ is reserved") }
            cursor.skipBlanks()
            guard cursor.peek == UInt8(ascii: "=") else { throw LineError(reason: "expected \"=\" after label name \(name)") }
            cursor.advance()
            cursor.skipBlanks()
            guard cursor.peek == UInt8(ascii: "\"") else { throw LineError(reason: "expected a quoted value for label \(name)") }
            cursor.advance()
            let value = try readLabelValue(&cursor)
            guard labels[name] == nil else { throw LineError(reason: "duplicate label name \(name)") }
            labels[name] = value
            cursor.skipBlanks()
            if cursor.peek == UInt8(ascii: ",") {
                cursor.advance()
            } else if cursor.peek != UInt8(ascii: "}") {
                throw LineError(reason: cursor.atEnd ? "unterminated label set" : "expected \",\" or \"}\" after label \(name)")
            }
        }
    }

    private func readLabelValue(_ cursor: inout Cursor) throws(LineError) -> String {
        var out: [UInt8] = []
        while let byte = cursor.peek {
            cursor.advance()
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let next = cursor.peek else { break }
                cursor.advance()
                switch next {
                case UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(next)
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                default: throw LineError(reason: "invalid escape sequence \"\\\(Character(Unicode.Scalar(next)))\" in label value")
                }
            default:
                out.append(byte)
            }
        }
        throw LineError(reason: "unterminated label value")
    }

    private func checkFamilyRules(name: String, labels: [String: String]) throws(LineError) {
        if name.hasSuffix("_bucket"), metadata[String(name.dropLast(7))]?.type == .histogram {
            guard let le = labels["le"] else { throw LineError(reason: "histogram bucket \(name) without an \"le\" label") }
            guard parseFloat(le) != nil else { throw LineError(reason: "invalid \"le\" value \"\(le)\" in \(name)") }
        }
        if metadata[name]?.type == .summary, let quantile = labels["quantile"], parseFloat(quantile) == nil {
            throw LineError(reason: "invalid \"quantile\" value \"\(quantile)\" in \(name)")
        }
    }

    private func familyName(of sampleName: String, type: MetricType) -> String {
        let suffixes: [String] =
            switch type {
            case .histogram: ["_bucket", "_sum", "_count"]
            case .summary: ["_sum", "_count"]
            default: []
            }
        for suffix in suffixes where sampleName.hasSuffix(suffix) {
            return String(sampleName.dropLast(suffix.count))
        }
        return sampleName
    }
}

/// A read position in one line's bytes.
private struct Cursor {
    let bytes: [UInt8]
    var index = 0

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[index] }
    var rest: ArraySlice<UInt8> { bytes[index...] }

    mutating func advance() { index += 1 }

    @discardableResult
    mutating func skipBlanks() -> Int {
        let start = index
        while let b = peek, b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") { index += 1 }
        return index - start
    }

    mutating func readWhile(_ accept: (UInt8) -> Bool) -> String {
        let start = index
        while let b = peek, accept(b) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
