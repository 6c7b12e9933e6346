/// An error from the fault proxy: what went wrong (``code``), in words, why, and where.
public struct FaultProxyError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes may be added: switch with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case duplicateToxic
            case unknownToxicKind
            case invalidAttribute
            case duplicateRoute
            case bindFailed
            case shutDown
            case measurementFailed
        }

        private let value: Value

        private init(_ value: Value) { self.value = value }

        /// A toxic with this name is already applied; revert it first.
        public static let duplicateToxic = Code(.duplicateToxic)
        /// No toxic kind is registered under this name.
        public static let unknownToxicKind = Code(.unknownToxicKind)
        /// A toxic attribute is unknown, missing or malformed.
        public static let invalidAttribute = Code(.invalidAttribute)
        /// A route with this name already exists.
        public static let duplicateRoute = Code(.duplicateRoute)
        /// A route's listening address could not be bound.
        public static let bindFailed = Code(.bindFailed)
        /// The proxy has been shut down.
        public static let shutDown = Code(.shutDown)
        /// An overhead measurement could not be carried out.
        public static let measurementFailed = Code(.measurementFailed)

        public var description: String {
            switch self.value {
            case .duplicateToxic: "duplicate toxic"
            case .unknownToxicKind: "unknown toxic kind"
            case .invalidAttribute: "invalid attribute"
            case .duplicateRoute: "duplicate route"
            case .bindFailed: "bind failed"
            case .shutDown: "shut down"
            case .measurementFailed: "measurement failed"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence for people.
    public var message: String
    /// The error underneath, if any.
    public var cause: (any Error)?
    /// Where the error was raised (`File.swift:line`).
    public var location: String

    /// Makes an error.
    public init(
        code: Code,
        message: String,
        cause: (any Error)? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = "\(fileID):\(line)"
    }

    public var description: String {
        var text = "\(self.code): \(self.message)"
        if let cause = self.cause { text += " (\(cause))" }
        return text
    }
}
