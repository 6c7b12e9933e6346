/// A regular expression for label matchers, always anchored at both ends as in Prometheus.
///
/// Supports the common RE2 subset: literals, `.` (any character but newline), `*`, `+`, `?`,
/// `{n}`, `{n,}`, `{n,m}` (lazy forms accepted and, with full anchoring, equivalent), `|`,
/// groups `(…)` and `(?:…)`, classes `[abc]`, `[a-z]`, `[^…]`, the escapes `\d \D \w \W \s \S`
/// and escaped punctuation, `^` and `$`, and a leading `(?i)` for case-insensitive matching.
/// Anything else is a ``LabelRegex/SyntaxError``. Matching backtracks (unlike RE2, which is
/// linear) and gives up after one million steps, counting that as no match; label patterns
/// are small, but a pathological one such as `(a*)*b` on a long value can hit the bound.
public struct LabelRegex: Sendable, Hashable {
    /// A pattern that is not in the supported subset; `offset` is 0-based in characters.
    public struct SyntaxError: Error, Sendable, Hashable {
        /// The 0-based character offset of the problem in the pattern.
        public var offset: Int
        /// What is wrong.
        public var message: String
    }

    /// The pattern as written.
    public let pattern: String
    private let root: Node
    private let caseInsensitive: Bool

    /// Compiles `pattern`.
    public init(_ pattern: String) throws(SyntaxError) {
        self.pattern = pattern
        var scalars = Array(pattern.unicodeScalars)
        var offset = 0
        var insensitive = false
        if scalars.starts(with: "(?i)".unicodeScalars) {
            insensitive = true
            scalars.removeFirst(4)
            offset = 4
        }
        var parser = Parser(scalars: scalars, offset: offset, caseInsensitive: insensitive)
        root = try parser.parseAll()
        caseInsensitive = insensitive
    }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        var scalars = Array(text.unicodeScalars)
        if caseInsensitive { scalars = scalars.map(Self.fold) }
        let matcher = Matcher(input: scalars)
        return matcher.match(root, at: 0) { $0 == scalars.count }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    static func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII, scalar >= "A", scalar <= "Z" { return Unicode.Scalar(scalar.value + 32)! }
        return scalar.properties.lowercaseMapping.unicodeScalars.count == 1
            ? scalar.properties.lowercaseMapping.unicodeScalars.first! : scalar
    }

    indirect enum Node: Sendable {
        case empty
        case literal(Unicode.Scalar)
        case anyButNewline
        case set(CharacterSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
        case lineStart
        case lineEnd
    }

    struct CharacterSet: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated: Bool

        func contains(_ scalar: Unicode.Scalar) -> Bool {
            ranges.contains { $0.contains(scalar.value) } != negated
        }

        static let digit = CharacterSet(ranges: [0x30...0x39], negated: false)
        static let word = CharacterSet(ranges: [0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F...0x5F], negated: false)
        static let space = CharacterSet(ranges: [0x09...0x0A, 0x0C...0x0D, 0x20...0x20], negated: false)
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        let offset: Int
        let caseInsensitive: Bool
        var index = 0

        init(scalars: [Unicode.Scalar], offset: Int, caseInsensitive: Bool) {
            self.scalars = scalars
            self.offset = offset
            self.caseInsensitive = caseInsensitive
        }

        var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        func error(_ message: String) -> SyntaxError { SyntaxError(offset: offset + index, message: message) }

        mutating func parseAll() throws(SyntaxError) -> Node {
            let node = try parseAlternation()
            if peek == ")" { throw error("unexpected )") }
            return node
        }

        mutating func parseAlternation() throws(SyntaxError) -> Node {
            var branches = [try parseSequence()]
            while peek == "|" {
                index += 1
                branches.append(try parseSequence())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseSequence() throws(SyntaxError) -> Node {
            var items: [Node] = []
            while let scalar = peek, scalar != "|", scalar != ")" {
                var atom = try parseAtom()
                while let quantifier = try parseQuantifier() {
                    atom = .repetition(atom, min: quantifier.min, max: quantifier.max)
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .sequence(items))
        }

        /// Reads `*`, `+`, `?`, `{n,m}` and an optional lazy `?` after it.
        mutating func parseQuantifier() throws(SyntaxError) -> (min: Int, max: Int?)? {
            let result: (min: Int, max: Int?)
            switch peek {
            case "*": result = (0, nil)
            case "+": result = (1, nil)
            case "?": result = (0, 1)
            case "{":
                guard let counted = readCounted() else { return nil }
                if peek == "?" { index += 1 }
                return counted
            default: return nil
            }
            index += 1
            if peek == "?" { index += 1 }  // lazy: same meaning when fully anchored
            if let next = peek, next == "*" || next == "+" || next == "?" {
                throw error("invalid nested repetition operator")
            }
            return result
        }

        /// `{n}`, `{n,}`, `{n,m}`; anything else leaves the brace to be read as a literal.
        mutating func readCounted() -> (min: Int, max: Int?)? {
            var i = index + 1
            func number() -> Int? {
                var value = 0
                let start = i
                while i < scalars.count, let digit = Int(String(scalars[i])), (0...9).contains(digit) {
                    value = value * 10 + digit
                    i += 1
                    if value > 1000 { return nil }
                }
                return i > start ? value : nil
            }
            guard let low = number() else { return nil }
            var high: Int? = low
            if i < scalars.count, scalars[i] == "," {
                i += 1
                high = number()
            }
            guard i < scalars.count, scalars[i] == "}" else { return nil }
            if let high, high < low { return nil }
            index = i + 1
            return (low, high)
        }

        mutating func parseAtom() throws(SyntaxError) -> Node {
            guard let scalar = peek else { throw error("unexpected end of pattern") }
            switch scalar {
            case "(":
                index += 1
                if peek == "?" {
                    guard index + 1 < scalars.count, scalars[index + 1] == ":" else {
                        throw error("unsupported group flags")
                    }
                    index += 2
                }
                let inner = try parseAlternation()
                guard peek == ")" else { throw error("missing closing )") }
                index += 1
                return inner
            case "[":
                return .set(try parseClass())
            case ".":
                index += 1
                return .anyButNewline
            case "^":
                index += 1
                return .lineStart
            case "$":
                index += 1
                return .lineEnd
            case "*", "+", "?":
                throw error("missing argument to repetition operator")
            case "\\":
                index += 1
                return try parseEscape(inClass: false).node
            default:
                index += 1
                return literal(scalar)
            }
        }

        func literal(_ scalar: Unicode.Scalar) -> Node {
            .literal(caseInsensitive ? LabelRegex.fold(scalar) : scalar)
        }

        /// After a backslash: a class escape, or one literal character.
        mutating func parseEscape(inClass: Bool) throws(SyntaxError) -> (node: Node, set: CharacterSet?, scalar: Unicode.Scalar?) {
            guard let scalar = peek else { throw error("trailing backslash") }
            index += 1
            var set: CharacterSet?
            switch scalar {
            case "d": set = .digit
            case "D": set = .digit; set!.negated = true
            case "w": set = .word
            case "W": set = .word; set!.negated = true
            case "s": set = .space
            case "S": set = .space; set!.negated = true
            case "n": return (literal("\n"), nil, "\n")
            case "t": return (literal("\t"), nil, "\t")
            case "r": return (literal("\r"), nil, "\r")
            case "f": return (literal("\u{0C}"), nil, "\u{0C}")
            default:
                if scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) {
                    return (literal(scalar), nil, scalar)
                }
                index -= 1
                throw error("unsupported escape \\\(scalar)")
            }
            return (.set(set!), set, nil)
        }

        mutating func parseClass() throws(SyntaxError) -> CharacterSet {
            index += 1  // '['
            var set = CharacterSet(ranges: [], negated: false)
            if peek == "^" {
                set.negated = true
                index += 1
            }
            var first = true
            while true {
                guard let scalar = peek else { throw error("missing closing ]") }
                if scalar == "]" && !first {
                    index += 1
                    break
                }
                first = false
                var low: Unicode.Scalar
                if scalar == "\\" {
                    index += 1
                    let escape = try parseEscape(inClass: true)
                    if let inner = escape.set {
                        set.ranges += inner.negated ? Self.complement(inner.ranges) : inner.ranges
                        continue
                    }
                    low = escape.scalar!
                } else {
                    if scalar == "[", index + 1 < scalars.count, scalars[index + 1] == ":" {
                        throw error("POSIX character classes are not supported")
                    }
                    low = scalar
                    index += 1
                }
                var high = low
                if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                    index += 1
                    guard let end = peek else { throw error("missing closing ]") }
                    index += 1
                    if end == "\\" {
                        guard let escaped = try parseEscape(inClass: true).scalar else {
                            throw error("invalid character class range")
                        }
                        high = escaped
                    } else {
                        high = end
                    }
                    guard low.value <= high.value else { throw error("invalid character class range") }
                }
                set.ranges.append(low.value...high.value)
                if caseInsensitive {
                    for range in [0x41...0x5A, 0x61...0x7A] as [ClosedRange<UInt32>] where range.overlaps(low.value...high.value) {
                        let lower = Swift.max(range.lowerBound, low.value)
                        let upper = Swift.min(range.upperBound, high.value)
                        let shift: Int64 = range.lowerBound == 0x41 ? 32 : -32
                        set.ranges.append(UInt32(Int64(lower) + shift)...UInt32(Int64(upper) + shift))
                    }
                }
            }
            return set
        }

        static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var result: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
                next = Swift.max(next, range.upperBound + 1)
            }
            result.append(next...0x10FFFF)
            return result
        }
    }

    /// Backtracking matcher with continuations; `steps` bounds pathological patterns.
    private final class Matcher {
        let input: [Unicode.Scalar]
        var steps = 0

        init(input: [Unicode.Scalar]) { self.input = input }

        func match(_ node: Node, at position: Int, then next: (Int) -> Bool) -> Bool {
            steps += 1
            if steps > 1_000_000 { return false }
            switch node {
            case .empty:
                return next(position)
            case .literal(let scalar):
                return position < input.count && input[position] == scalar && next(position + 1)
            case .anyButNewline:
                return position < input.count && input[position] != "\n" && next(position + 1)
            case .set(let set):
                return position < input.count && set.contains(input[position]) && next(position + 1)
            case .lineStart:
                return position == 0 && next(position)
            case .lineEnd:
                return position == input.count && next(position)
            case .sequence(let items):
                return matchSequence(items[...], at: position, then: next)
            case .alternation(let branches):
                for branch in branches where match(branch, at: position, then: next) { return true }
                return false
            case .repetition(let inner, let min, let max):
                return matchRepetition(inner, min: min, max: max, count: 0, at: position, then: next)
            }
        }

        func matchSequence(_ items: ArraySlice<Node>, at position: Int, then next: (Int) -> Bool) -> Bool {
            guard let first = items.first else { return next(position) }
            return match(first, at: position) { after in
                self.matchSequence(items.dropFirst(), at: after, then: next)
            }
        }

        func matchRepetition(
            _ inner: Node, min: Int, max: Int?, count: Int, at position: Int, then next: (Int) -> Bool
        ) -> Bool {
            if max.map({ count < $0 }) ?? true {
                let matched = match(inner, at: position) { after in
                    if after == position && count >= min { return false }  // no progress: stop looping
                    return self.matchRepetition(inner, min: min, max: max, count: count + 1, at: after, then: next)
                }
                if matched { return true }
            }
            return count >= min && next(position)
        }
    }
}

/// One label matcher of a selector: `name op "value"`.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    /// The matcher's operator.
    public enum Kind: String, Sendable, Hashable {
        /// `=`
        case equal = "="
        /// `!=`
        case notEqual = "!="
        /// `=~`
        case regexMatch = "=~"
        /// `!~`
        case regexNoMatch = "!~"
    }

    /// The label name.
    public var name: String
    /// The operator.
    public var kind: Kind
    /// The value or pattern.
    public var value: String
    private let regex: LabelRegex?

    /// Creates a matcher; throws if a regex `value` is not in ``LabelRegex``'s subset.
    public init(name: String, _ kind: Kind, _ value: String) throws(LabelRegex.SyntaxError) {
        self.name = name
        self.kind = kind
        self.value = value
        regex = (kind == .regexMatch || kind == .regexNoMatch) ? try LabelRegex(value) : nil
    }

    /// Whether a label value matches; an absent label counts as `""`.
    public func matches(value candidate: String) -> Bool {
        switch kind {
        case .equal: candidate == value
        case .notEqual: candidate != value
        case .regexMatch: regex!.matches(candidate)
        case .regexNoMatch: !regex!.matches(candidate)
        }
    }

    /// Whether the label set satisfies this matcher.
    public func matches(_ labels: Labels) -> Bool { matches(value: labels[name] ?? "") }

    public var description: String { "\(name)\(kind.rawValue)\"\(escapeLabelValue(value))\"" }
}
