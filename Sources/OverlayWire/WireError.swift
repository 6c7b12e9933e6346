/// Why bytes could not be decoded as an overlay frame. Every malformed input maps to one of these;
/// decoding never traps.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of malformation; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Hashable, Sendable {
            case oversizedFrame = "oversized_frame"
            case emptyFrame = "empty_frame"
            case unknownKind = "unknown_kind"
            case truncatedField = "truncated_field"
            case trailingBytes = "trailing_bytes"
            case invalidUTF8 = "invalid_utf8"
            case tooManyElements = "too_many_elements"
            case invalidValue = "invalid_value"
        }
        let value: Value

        /// The length prefix exceeds the frame limit.
        public static let oversizedFrame = Code(value: .oversizedFrame)
        /// A frame of length zero (no kind byte).
        public static let emptyFrame = Code(value: .emptyFrame)
        /// The kind byte names no message.
        public static let unknownKind = Code(value: .unknownKind)
        /// A field runs past the end of the frame.
        public static let truncatedField = Code(value: .truncatedField)
        /// Bytes remain after the last field.
        public static let trailingBytes = Code(value: .trailingBytes)
        /// A string field is not valid UTF-8.
        public static let invalidUTF8 = Code(value: .invalidUTF8)
        /// A list is longer than the protocol allows.
        public static let tooManyElements = Code(value: .tooManyElements)
        /// A field has a value outside its domain (a bad flag, a signature of the wrong size).
        public static let invalidValue = Code(value: .invalidValue)

        /// A short snake_case name, used as a metric label.
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
