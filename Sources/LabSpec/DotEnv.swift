/// Reads `KEY=VALUE` files: the `.env` next to a compose file and a service's `env_file`.
///
/// Lines are `KEY=VALUE`, optionally after `export `; blank lines and lines starting with `#` are
/// skipped. A value in single quotes is taken as is; a value in double quotes understands `\n`,
/// `\t`, `\"` and `\\` and is interpolated; an unquoted value ends before ` #` and is trimmed and
/// interpolated. A line with a bare `KEY` takes the value from `lookup`, or is left out.
/// Interpolation sees the entries above it first, then `lookup`.
struct DotEnv {
    struct Entry: Equatable {
        var key: String
        var value: String
    }

    private(set) var entries: [Entry] = []
    private(set) var diagnostics: [Diagnostic] = []

    init(text: String, file: String, lookup: @escaping (String) -> String?) {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            line = line.dropFirst(indent)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var column = indent + 1
            if line.hasPrefix("export ") {
                line = line.dropFirst("export ".count)
                column += "export ".count
            }
            let at = SourceLocation(file: file, line: number + 1, column: column)
            let key = line.prefix { $0 != "=" }.trimmingSpaces
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
            else {
                diagnostics.append(Diagnostic(.error, at: at, "invalid line in env file: expected KEY=VALUE"))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                if let value = lookup(key) {
                    values[key] = value
                    entries.append(Entry(key: key, value: value))
                }
                continue
            }
            var raw = line[line.index(after: equals)...]
            let valueIndent = raw.prefix { $0 == " " || $0 == "\t" }.count
            raw = raw.dropFirst(valueIndent)
            let valueColumn = column + line.distance(from: line.startIndex, to: equals) + 1 + valueIndent
            let value: String
            let known = values
            let scoped: (String) -> String? = { known[$0] ?? lookup($0) }
            if raw.hasPrefix("'") {
                guard let end = raw.dropFirst().firstIndex(of: "'") else {
                    diagnostics.append(
                        Diagnostic(.error, at: at.moved(to: valueColumn), "invalid line in env file: a single quote is not closed"))
                    continue
                }
                value = String(raw[raw.index(after: raw.startIndex)..<end])
            } else if raw.hasPrefix("\"") {
                var unescaped = ""
                var closed = false
                var iterator = raw.dropFirst().makeIterator()
                while let c = iterator.next() {
                    if c == "\"" {
                        closed = true
                        break
                    }
                    if c == "\\", let escaped = iterator.next() {
                        switch escaped {
                        case "n": unescaped.append("\n")
                        case "t": unescaped.append("\t")
                        case "r": unescaped.append("\r")
                        case "\"", "\\": unescaped.append(escaped)
                        case "$": unescaped.append("$$")
                        default: unescaped.append(contentsOf: ["\\", escaped])
                        }
                    } else {
                        unescaped.append(c)
                    }
                }
                guard closed else {
                    diagnostics.append(
                        Diagnostic(.error, at: at.moved(to: valueColumn), "invalid line in env file: a double quote is not closed"))
                    continue
                }
                value = expand(unescaped, at: at.moved(to: valueColumn + 1), lookup: scoped)
            } else {
                var unquoted = raw
                if let comment = unquoted.indices.first(where: {
                    unquoted[$0] == "#" && $0 > unquoted.startIndex && " \t".contains(unquoted[unquoted.index(before: $0)])
                }) {
                    unquoted = unquoted[..<comment]
                }
                value = expand(String(unquoted.trimmingSpaces), at: at.moved(to: valueColumn), lookup: scoped)
            }
            values[key] = value
            entries.append(Entry(key: key, value: value))
        }
    }

    private mutating func expand(_ text: String, at location: SourceLocation, lookup: @escaping (String) -> String?) -> String {
        let (value, issues) = Interpolation.expand(text, lookup: lookup)
        for issue in issues {
            diagnostics.append(Diagnostic(issue.severity, at: location.moved(by: issue.offset), issue.message))
        }
        return value
    }

    /// The entries as a dictionary; a later entry wins over an earlier one with the same key.
    var values: [String: String] {
        Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

extension SourceLocation {
    func moved(to column: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column)
    }

    func moved(by columns: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column + columns)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\t" }
        var view = String.UnicodeScalarView(scalars)
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
