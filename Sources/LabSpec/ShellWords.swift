/// Splits a command line into words as a POSIX shell does, without expanding anything.
///
/// Handles whitespace, single quotes, double quotes (where `\` escapes `$`, `` ` ``, `"`, `\` and
/// newline) and `\` outside quotes. This is how Compose splits the string forms of `command`,
/// `entrypoint` and `healthcheck.test`-less forms.
enum ShellWords {
    struct Failure: Error, Equatable {
        var reason: String
    }

    static func split(_ line: String) -> Result<[String], Failure> {
        var words: [String] = []
        var word = ""
        var inWord = false
        var iterator = line.makeIterator()
        while let c = iterator.next() {
            switch c {
            case " ", "\t", "\n", "\r":
                if inWord {
                    words.append(word)
                    word = ""
                    inWord = false
                }
            case "\\":
                guard let escaped = iterator.next() else {
                    return .failure(Failure(reason: "it ends with a lone \"\\\""))
                }
                if escaped != "\n" { word.append(escaped) }
                inWord = true
            case "'":
                inWord = true
                var closed = false
                while let q = iterator.next() {
                    if q == "'" {
                        closed = true
                        break
                    }
                    word.append(q)
                }
                if !closed { return .failure(Failure(reason: "a single quote is not closed")) }
            case "\"":
                inWord = true
                var closed = false
                while let q = iterator.next() {
                    if q == "\"" {
                        closed = true
                        break
                    }
                    if q == "\\" {
                        guard let escaped = iterator.next() else { break }
                        if ["$", "`", "\"", "\\"].contains(escaped) {
                            word.append(escaped)
                        } else if escaped != "\n" {
                            word.append("\\")
                            word.append(escaped)
                        }
                        continue
                    }
                    word.append(q)
                }
                if !closed { return .failure(Failure(reason: "a double quote is not closed")) }
            default:
                word.append(c)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        return .success(words)
    }
}

/// The distance between two keys, for "did you mean" suggestions.
enum EditDistance {
    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    /// neighbouring characters each cost 1, so `imgae` is 1 away from `image`.
    static func between(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }

    /// The candidate closest to `key`, if it is close enough to be a likely typo.
    static func suggestion(for key: String, among candidates: [String]) -> String? {
        let limit = max(2, key.count / 3)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = between(key, candidate)
            if distance <= limit, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }
}
