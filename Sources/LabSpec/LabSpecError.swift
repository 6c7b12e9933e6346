/// The error thrown when a lab cannot be loaded; it carries every problem found, not just the first.
///
/// ``code`` says what kind of failure it was; ``diagnostics`` lists all errors and warnings in file
/// order, so a user fixes them in one round. `description` prints one diagnostic per line.
public struct LabSpecError: Error, CustomStringConvertible {
    /// What kind of failure this was; new codes may be added, so switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case fileUnreadable = "file unreadable"
            case invalidYAML = "invalid YAML"
            case invalidCompose = "invalid Compose file"
            case dependencyCycle = "dependency cycle"
            case invalidPlan = "invalid plan"
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// A file could not be read (missing, a folder, not UTF-8).
        public static let fileUnreadable = Code(.fileUnreadable)
        /// The file is not well-formed YAML.
        public static let invalidYAML = Code(.invalidYAML)
        /// The YAML is well-formed but is not a Compose file Stormlab can run.
        public static let invalidCompose = Code(.invalidCompose)
        /// Services depend on each other in a circle, so there is no start order.
        public static let dependencyCycle = Code(.dependencyCycle)
        /// The YAML is well-formed but is not a plan Stormlab can run (bad values, unknown
        /// targets, conflicting faults).
        public static let invalidPlan = Code(.invalidPlan)

        /// A short name of the code.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this was.
    public var code: Code
    /// Every problem found, errors and warnings, sorted by file, line and column.
    public var diagnostics: [Diagnostic]
    /// What went wrong underneath (a `YamlError`, for instance), when there is one.
    public var underlying: (any Error)?

    /// Creates an error from the diagnostics collected by a validation pass.
    public init(code: Code, diagnostics: [Diagnostic], underlying: (any Error)? = nil) {
        self.code = code
        self.diagnostics = diagnostics
        self.underlying = underlying
    }

    /// Only the diagnostics that are errors.
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    /// Where the first error is, if any diagnostic has a position.
    public var location: SourceLocation? { errors.first?.location ?? diagnostics.first?.location }

    /// One line per diagnostic, each `file:line:col: severity: message`.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
