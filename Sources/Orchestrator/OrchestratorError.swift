import LabSpec

/// Why a run could not be prepared, could not start, or failed while running.
///
/// ``code`` separates bad input (exit status 2: nothing was started) from a lab that failed
/// (exit status 3: an instance did not start or did not become ready).
public struct OrchestratorError: Error, CustomStringConvertible {
    /// What kind of failure this is; new codes may be added, so switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidLab = "invalid lab"
            case startFailed = "start failed"
            case system = "system error"
            case runtimeUnavailable = "runtime unavailable"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The lab cannot run as written (an executable that does not exist, a port already
        /// taken); ``OrchestratorError/diagnostics`` says where. Nothing was started.
        public static let invalidLab = Code(.invalidLab)
        /// An instance exited or did not become ready in time while the lab was starting.
        public static let startFailed = Code(.startFailed)
        /// A system call the orchestrator needs failed (creating the run folder, the notify socket).
        public static let system = Code(.system)
        /// The runtime cannot run the lab here: no Docker engine, one too old, no permission on
        /// its socket, an image missing. The message says what to do; nothing was left behind.
        public static let runtimeUnavailable = Code(.runtimeUnavailable)

        /// A short name of the code.
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, in one line.
    public var message: String
    /// The instance it is about, if any.
    public var instance: String?
    /// The last lines of that instance's log, oldest first.
    public var logTail: [String]
    /// For ``Code/invalidLab``: every problem, each with its `file:line:col`.
    public var diagnostics: [Diagnostic]
    /// What went wrong underneath, when there is one.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(
        code: Code, message: String, instance: String? = nil, logTail: [String] = [],
        diagnostics: [Diagnostic] = [], underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.instance = instance
        self.logTail = logTail
        self.diagnostics = diagnostics
        self.underlying = underlying
    }

    /// The message, then every diagnostic or the log tail, one a line.
    public var description: String {
        var lines = diagnostics.isEmpty ? [message] : diagnostics.map(\.description)
        if !logTail.isEmpty {
            lines.append("last lines of \(instance.map { "logs/\($0).log" } ?? "the log"):")
            lines += logTail.map { "  | \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
