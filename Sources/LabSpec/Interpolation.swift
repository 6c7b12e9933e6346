/// Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for a literal `$`.
///
/// Defaults, alternatives and error texts are themselves interpolated, so `${A:-${B}}` works.
/// Problems come back as issues with their offset in Unicode scalars from the start of the text,
/// so the caller can point at the `$` that caused them.
struct Interpolation {
    struct Issue: Equatable {
        var offset: Int
        var severity: Diagnostic.Severity
        var message: String
    }

    private let text: [Unicode.Scalar]
    private let lookup: (String) -> String?
    private(set) var issues: [Issue] = []

    private init(_ text: String, lookup: @escaping (String) -> String?) {
        self.text = Array(text.unicodeScalars)
        self.lookup = lookup
    }

    /// Expands every variable in `text`; variables `lookup` does not know are unset.
    static func expand(_ text: String, lookup: @escaping (String) -> String?) -> (value: String, issues: [Issue]) {
        guard text.contains("$") else { return (text, []) }
        var interpolation = Interpolation(text, lookup: lookup)
        let value = interpolation.expand(from: 0, to: interpolation.text.count)
        return (value, interpolation.issues)
    }

    private static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c)
    }

    private static func isName(_ c: Unicode.Scalar) -> Bool {
        isNameStart(c) || ("0"..."9").contains(c)
    }

    private func string(_ range: Range<Int>) -> String {
        var result = String.UnicodeScalarView()
        result.append(contentsOf: text[range])
        return String(result)
    }

    private mutating func expand(from start: Int, to end: Int) -> String {
        var result = String.UnicodeScalarView()
        var index = start
        while index < end {
            let c = text[index]
            guard c == "$" else {
                result.append(c)
                index += 1
                continue
            }
            let next = index + 1 < end ? text[index + 1] : nil
            if next == "$" {
                result.append("$")
                index += 2
            } else if next == "{" {
                let (value, after) = braced(at: index, end: end)
                result.append(contentsOf: value.unicodeScalars)
                index = after
            } else if let next, Self.isNameStart(next) {
                var nameEnd = index + 1
                while nameEnd < end, Self.isName(text[nameEnd]) { nameEnd += 1 }
                let name = string(index + 1..<nameEnd)
                result.append(contentsOf: value(of: name, at: index).unicodeScalars)
                index = nameEnd
            } else {
                issues.append(
                    Issue(
                        offset: index, severity: .error,
                        message: "invalid interpolation: \"$\" must be followed by a variable name or \"{\"; write \"$$\" for a literal \"$\""
                    ))
                result.append("$")
                index += 1
            }
        }
        return String(result)
    }

    private mutating func value(of name: String, at offset: Int) -> String {
        if let value = lookup(name) { return value }
        issues.append(
            Issue(
                offset: offset, severity: .warning,
                message: "variable \"\(name)\" is not set; using an empty string"))
        return ""
    }

    /// Expands `${...}` starting at `start` (the `$`); returns the value and the index after `}`.
    private mutating func braced(at start: Int, end: Int) -> (String, Int) {
        // Find the matching "}", skipping "$$" and nested "${...}".
        var depth = 0
        var close: Int?
        var index = start
        while index < end {
            if text[index] == "$", index + 1 < end, text[index + 1] == "$" {
                index += 2
                continue
            }
            if text[index] == "$", index + 1 < end, text[index + 1] == "{" {
                depth += 1
                index += 2
                continue
            }
            if text[index] == "}" {
                depth -= 1
                if depth == 0 {
                    close = index
                    break
                }
            }
            index += 1
        }
        guard let close else {
            issues.append(Issue(offset: start, severity: .error, message: "invalid interpolation: \"${\" has no closing \"}\""))
            return ("", end)
        }
        let whole = string(start..<close + 1)
        var nameEnd = start + 2
        while nameEnd < close, Self.isName(text[nameEnd]) { nameEnd += 1 }
        let name = string(start + 2..<nameEnd)
        guard let first = name.unicodeScalars.first, Self.isNameStart(first) else {
            issues.append(
                Issue(offset: start, severity: .error, message: "invalid interpolation: \(whole) needs a variable name"))
            return ("", close + 1)
        }
        if nameEnd == close { return (value(of: name, at: start), close + 1) }

        let colon = text[nameEnd] == ":"
        let operatorIndex = colon ? nameEnd + 1 : nameEnd
        guard operatorIndex < close, ["-", "?", "+"].contains(text[operatorIndex]) else {
            issues.append(
                Issue(
                    offset: start, severity: .error,
                    message: "invalid interpolation: \(whole) must be ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+value} or ${NAME+value}"
                ))
            return ("", close + 1)
        }
        let argument = operatorIndex + 1..<close
        let variable = lookup(name)
        // With ":", an empty value counts as unset.
        let isSet = colon ? !(variable ?? "").isEmpty : variable != nil
        switch text[operatorIndex] {
        case "-":
            return (isSet ? variable ?? "" : expand(from: argument.lowerBound, to: argument.upperBound), close + 1)
        case "+":
            return (isSet ? expand(from: argument.lowerBound, to: argument.upperBound) : "", close + 1)
        default:
            if isSet { return (variable ?? "", close + 1) }
            let reason = expand(from: argument.lowerBound, to: argument.upperBound)
            let what = colon && variable != nil ? "is empty" : "is missing a value"
            issues.append(
                Issue(
                    offset: start, severity: .error,
                    message: "required variable \(name) \(what)" + (reason.isEmpty ? "" : ": \(reason)")))
            return ("", close + 1)
        }
    }
}
