/// Writes `report.json`: a ``RunReport`` as JSON with a documented, stable shape.
///
/// Keys appear in the order below (not sorted), every key is always present (`null` when there
/// is no value), times and durations are integer milliseconds, and non-finite numbers are the
/// strings `"NaN"`, `"+Inf"`, `"-Inf"` (decode with Foundation's `JSONDecoder` and
/// `.convertFromString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")`).
/// Output is indented by two spaces; arrays of scalars, and arrays of those (a series'
/// points), stay on one line.
///
/// ```
/// {
///   "schema": 1,                      // RunReport.schemaVersion
///   "lab": "patch-tuesday", "runtime": "process" | "docker", "seed": 42,
///   "runId": "20250101-120000-ab12", "startedAt": "2025-01-01T12:00:00Z", "durationMs": 60000,
///   "outcome": "healthy" | "recovered" | "degraded" | "metastable" | "aborted" | "not-steady" | "error",
///   "decidedBy": ["login-success"], "explanation": "…",
///   "passed": true,                   // ran properly, and every steady-state check and SLO passed
///   "expectation": {"expected": "pass" | "fail", "met": true},
///   "steadyState": [SLO…], "slos": [SLO…],
///   "faults": [{"step", "kind", "targets": [""], "startMs", "endMs": ms | null, "mechanism"}],
///   "events": [{"timeMs", "kind", "instance": "" | null, "detail"}]
/// }
/// SLO = {"name", "form": {"kind", "withinMs", "holdMs", "maxBadFraction", "text"}, "passed",
///        "fromMs", "toMs", "expression", "threshold": {"comparison": "<", "value": 0.5} | null,
///        "unit": "s" | null,
///        "figures": {"timeToRecoverMs", "worstValue", "worstTimeMs",
///                    "violations": [{"startMs", "endMs", "ongoing"}], "badFraction", "steps"},
///        "summary", "chart": [{"labels": {"name": "value"}, "points": [[ms, value]]}]}
/// ```
public enum JSONReport {
    /// The report as `report.json` text, ending with a newline.
    public static func render(_ report: RunReport) -> String {
        let encoder = OrderedJSONEncoder()
        // Encoding our own types cannot fail: none of them throws, and the encoder never does.
        guard let root = try? encoder.encode(report) else { return "null\n" }
        var out = ""
        write(root, indent: 0, to: &out)
        out += "\n"
        return out
    }

    private static func write(_ node: JSONNode, indent: Int, to out: inout String) {
        switch node.kind {
        case .scalar: out += node.scalar
        case .array:
            let items = node.items
            if items.isEmpty {
                out += "[]"
            } else if items.allSatisfy(\.isFlat) {
                out += "["
                for (index, item) in items.enumerated() {
                    if index > 0 { out += ", " }
                    write(item, indent: indent, to: &out)
                }
                out += "]"
            } else {
                out += "[\n"
                for (index, item) in items.enumerated() {
                    out += String(repeating: "  ", count: indent + 1)
                    write(item, indent: indent + 1, to: &out)
                    out += index == items.count - 1 ? "\n" : ",\n"
                }
                out += String(repeating: "  ", count: indent) + "]"
            }
        case .object:
            let keys = node.keys
            let values = node.values
            if keys.isEmpty {
                out += "{}"
                return
            }
            out += "{\n"
            for index in keys.indices {
                out += String(repeating: "  ", count: indent + 1) + jsonString(keys[index]) + ": "
                write(values[index], indent: indent + 1, to: &out)
                out += index == keys.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: indent) + "}"
        }
    }
}

/// A JSON string literal for `text`, escaping quotes, backslashes, controls and U+2028/9.
public func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// A JSON number for `value`; non-finite values as the strings `"NaN"`, `"+Inf"`, `"-Inf"`.
func jsonNumber(_ value: Double) -> String {
    if value.isNaN { return "\"NaN\"" }
    if value.isInfinite { return value > 0 ? "\"+Inf\"" : "\"-Inf\"" }
    // Swift's shortest round-trip form (`0.1`, `1e-07`, `1e+16`) is valid JSON.
    return value.description
}

// MARK: - An Encoder that keeps keys in the order they are encoded

/// A node of the JSON tree being built; a class so that containers can fill it in later.
final class JSONNode {
    enum Kind {
        case scalar, array, object
    }

    var kind: Kind
    /// The JSON text of a scalar.
    var scalar: String
    var items: [JSONNode] = []
    var keys: [String] = []
    var values: [JSONNode] = []

    init(kind: Kind = .scalar, scalar: String = "null") {
        self.kind = kind
        self.scalar = scalar
    }

    var isScalar: Bool { kind == .scalar }

    /// A scalar, or an array of scalars: written on one line.
    var isFlat: Bool { kind == .scalar || (kind == .array && items.allSatisfy(\.isScalar)) }

    func become(_ kind: Kind) {
        guard self.kind != kind else { return }
        self.kind = kind
        items = []
        keys = []
        values = []
    }

    func set(key: String, _ node: JSONNode) {
        become(.object)
        if let index = keys.firstIndex(of: key) {
            values[index] = node
        } else {
            keys.append(key)
            values.append(node)
        }
    }

    func append(_ node: JSONNode) {
        become(.array)
        items.append(node)
    }
}

/// Encodes `Encodable` values into a ``JSONNode`` tree, keys in encoding order, `nil` as `null`.
struct OrderedJSONEncoder {
    func encode(_ value: some Encodable) throws -> JSONNode {
        let root = JSONNode()
        try value.encode(to: NodeEncoder(node: root, codingPath: []))
        return root
    }
}

private struct NodeEncoder: Encoder {
    let node: JSONNode
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.become(.object)
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.become(.array)
        return UnkeyedNodeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath)
    }
}

/// Encodes one value into a fresh node.
private func encodeNode(_ value: some Encodable, codingPath: [any CodingKey]) throws -> JSONNode {
    let node = JSONNode()
    try value.encode(to: NodeEncoder(node: node, codingPath: codingPath))
    return node
}

private func scalarNode(_ value: some Encodable) -> JSONNode? {
    switch value {
    case let value as String: JSONNode(scalar: jsonString(value))
    case let value as Bool: JSONNode(scalar: value ? "true" : "false")
    case let value as Double: JSONNode(scalar: jsonNumber(value))
    case let value as Float: JSONNode(scalar: jsonNumber(Double(value)))
    case let value as any BinaryInteger: JSONNode(scalar: String(value))
    default: nil
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.set(key: key.stringValue, JSONNode()) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let child = try scalarNode(value) ?? encodeNode(value, codingPath: codingPath + [key])
        node.set(key: key.stringValue, child)
    }

    // `nil` is written as `null` so that every documented key is always present.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = JSONNode(kind: .object)
        node.set(key: key.stringValue, child)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = JSONNode(kind: .array)
        node.set(key: key.stringValue, child)
        return UnkeyedNodeContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        let child = JSONNode()
        node.set(key: "super", child)
        return NodeEncoder(node: child, codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = JSONNode()
        node.set(key: key.stringValue, child)
        return NodeEncoder(node: child, codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

private struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey]
    var count: Int { node.items.count }

    mutating func encodeNil() throws { node.append(JSONNode()) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(intValue: count)]
        node.append(try scalarNode(value) ?? encodeNode(value, codingPath: path))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = JSONNode(kind: .object)
        let path = codingPath + [IndexKey(intValue: count)]
        node.append(child)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = JSONNode(kind: .array)
        let path = codingPath + [IndexKey(intValue: count)]
        node.append(child)
        return UnkeyedNodeContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let child = JSONNode()
        let path = codingPath + [IndexKey(intValue: count)]
        node.append(child)
        return NodeEncoder(node: child, codingPath: path)
    }
}

private struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws {
        node.become(.scalar)
        node.scalar = "null"
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        if let scalar = scalarNode(value) {
            node.become(.scalar)
            node.scalar = scalar.scalar
        } else {
            try value.encode(to: NodeEncoder(node: node, codingPath: codingPath))
        }
    }
}
