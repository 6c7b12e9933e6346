/// One label of a series: a name and a non-empty value.
public struct Label: Hashable, Sendable, Comparable {
    /// The label's name, such as `instance`.
    public var name: String
    /// The label's value; never empty inside ``Labels``.
    public var value: String

    /// Creates a label.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public static func < (lhs: Label, rhs: Label) -> Bool {
        lhs.name != rhs.name ? lhs.name < rhs.name : lhs.value < rhs.value
    }
}

/// A set of labels identifying a series, kept sorted by name.
///
/// As in Prometheus, a label with an empty value is the same as no label: such labels are
/// dropped on construction and setting a label to `""` removes it. The metric name is the
/// label `__name__`. Two `Labels` are equal iff they hold the same names and values.
public struct Labels: Hashable, Sendable, Comparable, Sequence, ExpressibleByDictionaryLiteral,
    CustomStringConvertible
{
    /// The label name that holds the metric name.
    public static let metricNameLabel = "__name__"

    /// The labels, sorted by name, names unique, values non-empty.
    public private(set) var labels: [Label]

    /// Creates an empty label set.
    public init() { labels = [] }

    /// Creates a label set from labels in any order; for a repeated name the last one wins.
    public init(_ labels: some Sequence<Label>) {
        var byName: [String: String] = [:]
        for label in labels { byName[label.name] = label.value }
        self.init(byName)
    }

    /// Creates a label set from a dictionary of names to values.
    public init(_ dictionary: [String: String]) {
        labels = dictionary.filter { !$0.value.isEmpty }
            .map { Label(name: $0.key, value: $0.value) }
            .sorted { $0.name < $1.name }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { Label(name: $0.0, value: $0.1) })
    }

    /// Sorted labels that are already known to be sorted, unique and non-empty.
    init(sorted: [Label]) { labels = sorted }

    public func makeIterator() -> IndexingIterator<[Label]> { labels.makeIterator() }

    /// The number of labels.
    public var count: Int { labels.count }

    /// Whether the set holds no label.
    public var isEmpty: Bool { labels.isEmpty }

    /// The value of the label `name`, or `nil`; setting `nil` or `""` removes the label.
    public subscript(name: String) -> String? {
        get { labels.first { $0.name == name }?.value }
        set {
            labels.removeAll { $0.name == name }
            if let newValue, !newValue.isEmpty {
                let index = labels.firstIndex { $0.name > name } ?? labels.endIndex
                labels.insert(Label(name: name, value: newValue), at: index)
            }
        }
    }

    /// The metric name (`__name__`), if any.
    public var metricName: String? { self[Labels.metricNameLabel] }

    /// The labels as a dictionary.
    public var dictionary: [String: String] {
        Dictionary(uniqueKeysWithValues: labels.map { ($0.name, $0.value) })
    }

    /// This set without the metric name.
    public var droppingMetricName: Labels { removing([Labels.metricNameLabel]) }

    /// This set without the labels named in `names`.
    public func removing(_ names: some Sequence<String>) -> Labels {
        let names = Set(names)
        return Labels(sorted: labels.filter { !names.contains($0.name) })
    }

    /// This set with only the labels named in `names`.
    public func keeping(_ names: some Sequence<String>) -> Labels {
        let names = Set(names)
        return Labels(sorted: labels.filter { names.contains($0.name) })
    }

    public static func < (lhs: Labels, rhs: Labels) -> Bool {
        for (l, r) in zip(lhs.labels, rhs.labels) where l != r {
            return l < r
        }
        return lhs.labels.count < rhs.labels.count
    }

    /// The series in PromQL notation: `name{a="x", b="y"}`, values escaped.
    public var description: String {
        let rest = labels.filter { $0.name != Labels.metricNameLabel }
            .map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }
            .joined(separator: ", ")
        let name = metricName ?? ""
        return rest.isEmpty && !name.isEmpty ? name : "\(name){\(rest)}"
    }
}

/// Escapes `\`, `"` and newline as the text exposition format and PromQL do.
func escapeLabelValue(_ value: String) -> String {
    var out = ""
    out.reserveCapacity(value.utf8.count)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
func isValidMetricName(_ name: some StringProtocol) -> Bool {
    var first = true
    for byte in name.utf8 {
        let ok = isNameStart(byte) || byte == UInt8(ascii: ":") || (!first && isDigit(byte))
        if !ok { return false }
        first = false
    }
    return !first
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
func isValidLabelName(_ name: some StringProtocol) -> Bool {
    var first = true
    for byte in name.utf8 {
        let ok = isNameStart(byte) || (!first && isDigit(byte))
        if !ok { return false }
        first = false
    }
    return !first
}

@inline(__always) func isNameStart(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        || b == UInt8(ascii: "_")
}

@inline(__always) func isDigit(_ b: UInt8) -> Bool {
    b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
}
