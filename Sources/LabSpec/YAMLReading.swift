import Yams

/// Reads typed values out of a Yams node tree, interpolating every string scalar and recording a
/// diagnostic, with the node's position, for everything that does not fit.
///
/// Every reader returns `nil` both when the value is absent (YAML null) and when it is wrong; in
/// the second case a diagnostic has been recorded, so callers just go on with the next key.
struct YAMLReading {
    struct Entry {
        var key: String
        var keyNode: Node
        var value: Node
    }

    let file: String
    private let lines: [[Unicode.Scalar]]
    /// Interpolation variables: the caller's, over the `.env` file's.
    let variables: [String: String]
    var diagnostics: [Diagnostic] = []

    init(file: String, text: String, variables: [String: String]) {
        self.file = file
        self.variables = variables
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
    }

    // MARK: Reporting

    func location(of node: Node) -> SourceLocation {
        guard let mark = node.mark else { return SourceLocation(file: file, line: 1, column: 1) }
        return SourceLocation(file: file, line: max(mark.line, 1), column: max(mark.column, 1))
    }

    mutating func error(_ message: String, at node: Node) {
        diagnostics.append(Diagnostic(.error, at: location(of: node), message))
    }

    mutating func warning(_ message: String, at node: Node) {
        diagnostics.append(Diagnostic(.warning, at: location(of: node), message))
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        if scalar.tag.rawValue == Tag.Name.null.rawValue { return true }
        guard scalar.style == .plain || scalar.style == .any, scalar.tag.rawValue == Tag.Name.implicit.rawValue
        else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How a node is named in "found …" messages: the scalar itself, or its kind.
    static func found(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar(let scalar): isNull(node) ? "null" : "\"\(scalar.string)\""
        }
    }

    // MARK: Structure

    /// The entries of a mapping, with `<<` merge keys applied (explicit keys win over merged ones).
    mutating func entries(_ node: Node, path: String) -> [Entry]? {
        if Self.isNull(node) { return nil }
        guard case .mapping(let mapping) = node else {
            error("\(path) must be a mapping, found \(Self.found(node))", at: node)
            return nil
        }
        var explicit: [Entry] = []
        var merged: [Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                error("keys of \(path) must be strings, found \(Self.found(keyNode))", at: keyNode)
                continue
            }
            if key.string == "<<", key.style == .plain {
                let sources: [Node]
                if case .sequence(let sequence) = value { sources = Array(sequence) } else { sources = [value] }
                for source in sources {
                    guard case .mapping = source else {
                        error("a merge key (<<) in \(path) must refer to a mapping, found \(Self.found(source))", at: source)
                        continue
                    }
                    for entry in entries(source, path: path) ?? []
                    where !merged.contains(where: { $0.key == entry.key }) {
                        merged.append(entry)
                    }
                }
                continue
            }
            explicit.append(Entry(key: key.string, keyNode: keyNode, value: value))
        }
        return explicit + merged.filter { entry in !explicit.contains { $0.key == entry.key } }
    }

    /// Reports every key of `entries` that `keys` does not support: unknown keys as errors with a
    /// suggestion, Compose keys Stormlab ignores as warnings. `x-` keys are extensions and pass.
    mutating func checkKeys(_ entries: [Entry], against keys: KeySet, path: String?) {
        let place = path.map { "in \($0)" } ?? "at the top level"
        for entry in entries where !entry.key.hasPrefix("x-") && !keys.supported.contains(entry.key) {
            let fullPath = path.map { "\($0).\(entry.key)" } ?? entry.key
            if keys.unsupported.contains(entry.key) {
                if path == nil && entry.key == "version" {
                    warning("\"version\" is obsolete and ignored", at: entry.keyNode)
                } else {
                    warning("\(fullPath) is not supported by the process runtime; it is ignored", at: entry.keyNode)
                }
            } else if let suggestion = EditDistance.suggestion(for: entry.key, among: keys.all) {
                error("unknown key \"\(entry.key)\" \(place); did you mean \"\(suggestion)\"?", at: entry.keyNode)
            } else {
                error("unknown key \"\(entry.key)\" \(place)", at: entry.keyNode)
            }
        }
    }

    mutating func list(_ node: Node, path: String) -> [Node]? {
        if Self.isNull(node) { return nil }
        guard case .sequence(let sequence) = node else {
            error("\(path) must be a list, found \(Self.found(node))", at: node)
            return nil
        }
        return Array(sequence)
    }

    // MARK: Scalars

    /// The interpolated string value of a scalar.
    mutating func string(_ node: Node, path: String) -> String? {
        if Self.isNull(node) { return nil }
        guard case .scalar(let scalar) = node else {
            error("\(path) must be a string, found \(Self.found(node))", at: node)
            return nil
        }
        let (value, issues) = Interpolation.expand(scalar.string, lookup: InstanceVariables.lookup(variables))
        for issue in issues {
            diagnostics.append(Diagnostic(issue.severity, at: location(of: scalar, offset: issue.offset), issue.message))
        }
        return value
    }

    /// Where the scalar's `offset`-th Unicode scalar is in the source, when the source shows it
    /// unchanged (no escapes, no line folding); else where the scalar starts.
    private func location(of scalar: Node.Scalar, offset: Int) -> SourceLocation {
        let start = location(of: .scalar(scalar))
        guard let mark = scalar.mark, mark.line >= 1, mark.line <= lines.count else { return start }
        let line = lines[mark.line - 1]
        let first = mark.column - 1 + (scalar.style == .singleQuoted || scalar.style == .doubleQuoted ? 1 : 0)
        let wanted = Array(scalar.string.unicodeScalars.prefix(offset + 1))
        guard first >= 0, first + wanted.count <= line.count, Array(line[first..<first + wanted.count]) == wanted
        else { return start }
        return start.moved(to: first + offset + 1)
    }

    mutating func int(_ node: Node, path: String) -> Int? {
        guard let text = string(node, path: path) else { return nil }
        guard let value = Int(text) else {
            error("\(path) must be an integer, found \"\(text)\"", at: node)
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, path: String) -> Bool? {
        guard let text = string(node, path: path) else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            error("\(path) must be true or false, found \"\(text)\"", at: node)
            return nil
        }
    }

    mutating func duration(_ node: Node, path: String) -> Duration? {
        guard let text = string(node, path: path) else { return nil }
        switch ComposeDuration.parse(text) {
        case .success(let duration): return duration
        case .failure(let failure):
            error("invalid duration \"\(text)\" for \(path): \(failure.reason)", at: node)
            return nil
        }
    }

    /// A list of strings.
    mutating func strings(_ node: Node, path: String) -> [String]? {
        guard let items = list(node, path: path) else { return nil }
        var values: [String] = []
        var valid = true
        for (index, item) in items.enumerated() {
            if case .scalar = item, let value = string(item, path: "\(path)[\(index)]") {
                values.append(value)
            } else if case .scalar = item {
                values.append("")
            } else {
                error("\(path)[\(index)] must be a string, found \(Self.found(item))", at: item)
                valid = false
            }
        }
        return valid ? values : nil
    }

    /// A command line: a list of strings, or one string split like a shell does.
    mutating func commandLine(_ node: Node, path: String) -> [String]? {
        if case .sequence = node { return strings(node, path: path) }
        if case .mapping = node {
            error("\(path) must be a string or a list, found a mapping", at: node)
            return nil
        }
        guard let text = string(node, path: path) else { return nil }
        switch ShellWords.split(text) {
        case .success(let words): return words
        case .failure(let failure):
            error("\(path) cannot be split into words: \(failure.reason)", at: node)
            return nil
        }
    }

    /// A `KEY: value` mapping or a `KEY=value` list (`environment`, `labels`); values of bare list
    /// keys and null map values are `nil`.
    mutating func keyValues(_ node: Node, path: String) -> [(key: String, value: String?, node: Node)]? {
        if case .sequence = node {
            guard let items = list(node, path: path) else { return nil }
            var pairs: [(key: String, value: String?, node: Node)] = []
            for (index, item) in items.enumerated() {
                guard let text = string(item, path: "\(path)[\(index)]") else { continue }
                let key = String(text.prefix { $0 != "=" })
                guard !key.isEmpty else {
                    error("\(path)[\(index)] must be KEY=VALUE, found \"\(text)\"", at: item)
                    continue
                }
                let value = text.contains("=") ? String(text.dropFirst(key.count + 1)) : nil
                pairs.append((key, value, item))
            }
            return pairs
        }
        if case .scalar = node, !Self.isNull(node) {
            error("\(path) must be a mapping or a list, found \(Self.found(node))", at: node)
            return nil
        }
        guard let entries = entries(node, path: path) else { return nil }
        var pairs: [(key: String, value: String?, node: Node)] = []
        for entry in entries {
            guard case .scalar = entry.value else {
                error("\(path).\(entry.key) must be a string, a number or a boolean, found \(Self.found(entry.value))", at: entry.value)
                continue
            }
            pairs.append((entry.key, string(entry.value, path: "\(path).\(entry.key)"), entry.value))
        }
        return pairs
    }
}
