/// A JSON-lines document that could not be read back into a ``SeriesStore``.
public struct SeriesDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line number.
    public var line: Int
    /// What was wrong with it.
    public var message: String

    /// Creates an error.
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

extension SeriesStore {
    /// The store as JSON lines, one series per line, sorted by labels.
    ///
    /// Each line is one JSON object:
    ///
    /// ```
    /// {"metric":{"__name__":"up","instance":"auth-1","service":"auth"},"values":[[0,"1"],[250,"0"]]}
    /// ```
    ///
    /// - `metric`: every label of the series, including `__name__`, keys sorted.
    /// - `values`: the samples, oldest first, each a pair `[t, v]` where `t` is an integer,
    ///   milliseconds since the start of the run, and `v` the value as a string, as the
    ///   Prometheus HTTP API writes it: `"0.25"`, `"NaN"`, `"+Inf"`, `"-Inf"`, and `"stale"`
    ///   for a staleness marker.
    ///
    /// Every line ends with `\n`. Reading (``init(jsonLines:configuration:)``) also accepts
    /// plain JSON numbers for `v`, and ignores blank lines.
    public func jsonLines() -> String {
        var out = ""
        for series in allSeries {
            out += "{\"metric\":{"
            out += series.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",")
            out += "},\"values\":["
            out += series.samples.map { sample in
                let value = sample.isStaleMarker ? "stale" : formatFloat(sample.value)
                return "[\(sample.time),\"\(value)\"]"
            }.joined(separator: ",")
            out += "]}\n"
        }
        return out
    }

    /// Reads a store back from ``jsonLines()``'s format; throws at the first bad line.
    ///
    /// Samples go through ``append(_:time:value:)``, so `configuration`'s bounds apply.
    public init(jsonLines text: String, configuration: Configuration = Configuration()) throws(SeriesDecodingError) {
        self.init(configuration: configuration)
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            let number = lineNumber
            func fail(_ message: String) -> SeriesDecodingError { SeriesDecodingError(line: number, message: message) }
            var reader = JSONReader(bytes: Array(line.utf8))
            let value: JSONValue
            do throws(JSONReader.Failure) {
                value = try reader.readDocument()
            } catch {
                throw fail("invalid JSON at byte \(error.offset + 1): \(error.message)")
            }
            guard case .object(let object) = value else { throw fail("expected an object") }
            guard case .object(let metric)? = object["metric"] else { throw fail("missing object \"metric\"") }
            guard case .array(let values)? = object["values"] else { throw fail("missing array \"values\"") }
            var labels: [Label] = []
            for (name, value) in metric {
                guard case .string(let text) = value else { throw fail("label \(name) is not a string") }
                labels.append(Label(name: name, value: text))
            }
            let series = Labels(labels)
            for pair in values {
                guard case .array(let items) = pair, items.count == 2, case .number(let timeText) = items[0],
                    let time = Int64(timeText)
                else { throw fail("a sample must be [integer milliseconds, value]") }
                let sample: Double
                switch items[1] {
                case .string("stale"): sample = Sample.staleMarkerValue
                case .string(let text), .number(let text):
                    guard let parsed = parseFloat(text) else { throw fail("invalid value \"\(text)\"") }
                    sample = parsed
                default: throw fail("a value must be a string or a number")
                }
                append(series, time: time, value: sample)
            }
        }
    }
}

/// Quotes and escapes `text` as a JSON string.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A JSON value; numbers are kept as their text so integers stay exact.
enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
}

/// A small strict JSON reader, enough for the series format.
struct JSONReader {
    struct Failure: Error {
        var offset: Int
        var message: String
    }

    let bytes: [UInt8]
    var index = 0

    mutating func readDocument() throws(Failure) -> JSONValue {
        let value = try readValue(depth: 0)
        skipSpace()
        guard index == bytes.count else { throw Failure(offset: index, message: "unexpected text after the value") }
        return value
    }

    private mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else {
            throw Failure(offset: index, message: "expected \"\(Character(Unicode.Scalar(byte)))\"")
        }
        index += 1
    }

    private mutating func readValue(depth: Int) throws(Failure) -> JSONValue {
        guard depth < 64 else { throw Failure(offset: index, message: "nested too deeply") }
        skipSpace()
        guard index < bytes.count else { throw Failure(offset: index, message: "unexpected end of line") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            }
            while true {
                skipSpace()
                guard case .string(let key) = try readValue(depth: depth + 1) else {
                    throw Failure(offset: index, message: "expected a string key")
                }
                try expect(UInt8(ascii: ":"))
                object[key] = try readValue(depth: depth + 1)
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(object)
            }
        case UInt8(ascii: "["):
            index += 1
            var array: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(array)
            }
            while true {
                array.append(try readValue(depth: depth + 1))
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(array)
            }
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"): return try readWord("true", .bool(true))
        case UInt8(ascii: "f"): return try readWord("false", .bool(false))
        case UInt8(ascii: "n"): return try readWord("null", .null)
        default:
            let start = index
            while index < bytes.count, "+-0123456789.eE".utf8.contains(bytes[index]) { index += 1 }
            guard index > start else { throw Failure(offset: start, message: "unexpected character") }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }
    }

    private mutating func readWord(_ word: String, _ value: JSONValue) throws(Failure) -> JSONValue {
        let utf8 = Array(word.utf8)
        guard bytes.count - index >= utf8.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
            throw Failure(offset: index, message: "unexpected character")
        }
        index += utf8.count
        return value
    }

    private mutating func readString() throws(Failure) -> String {
        index += 1  // opening quote
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var code = try readHex4()
                    if (0xD800..<0xDC00).contains(code), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try readHex4()
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw Failure(offset: index - 1, message: "invalid escape")
                }
            default:
                out.append(byte)
            }
        }
        throw Failure(offset: index, message: "unterminated string")
    }

    private mutating func readHex4() throws(Failure) -> UInt32 {
        guard bytes.count - index >= 4,
            let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { throw Failure(offset: index, message: "invalid \\u escape") }
        index += 4
        return code
    }
}
