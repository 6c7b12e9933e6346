/// A position in a lab file, as `file:line:column`.
///
/// Lines and columns start at 1; columns count Unicode scalars, as Yams' `Mark` does.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The path of the file, as it was given to the loader.
    public var file: String
    /// The line, from 1.
    public var line: Int
    /// The column, from 1, in Unicode scalars.
    public var column: Int

    /// Creates a location; `line` and `column` start at 1.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found while loading a lab, with where it is and how bad it is.
///
/// Its `description` is exactly `file:line:col: error: message` (or `warning:`), the form
/// compilers use, so editors and CI annotate the right line.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How bad a problem is: an error stops the lab from loading, a warning does not.
    public enum Severity: String, Sendable, Hashable, Codable, CustomStringConvertible {
        /// The lab cannot be loaded.
        case error
        /// The lab loads, but something in it is ignored or suspicious.
        case warning

        /// `error` or `warning`.
        public var description: String { rawValue }
    }

    /// Whether this problem stops the lab from loading.
    public var severity: Severity
    /// Where the problem is.
    public var location: SourceLocation
    /// What is wrong, in one line, without the location or severity.
    public var message: String

    /// Creates a diagnostic.
    public init(_ severity: Severity, at location: SourceLocation, _ message: String) {
        self.severity = severity
        self.location = location
        self.message = message
    }

    /// The file the problem is in.
    public var file: String { location.file }
    /// The line, from 1.
    public var line: Int { location.line }
    /// The column, from 1.
    public var column: Int { location.column }

    /// `file:line:col: error: message` or `file:line:col: warning: message`.
    public var description: String { "\(location): \(severity): \(message)" }
}

extension Array where Element == Diagnostic {
    /// Whether any of these diagnostics is an error.
    public var containsErrors: Bool { contains { $0.severity == .error } }
}
