import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error from libsystemd or from the system calls behind this module's API.
public struct SystemdError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: Hashable, Sendable {
            case libraryUnavailable
            case systemCall
            case invalidEnvironment
        }
        let value: Value

        /// libsystemd.so.0 could not be loaded: the features that need it are off on this host.
        public static let libraryUnavailable = Code(value: .libraryUnavailable)
        /// A system call or libsystemd function returned an error number.
        public static let systemCall = Code(value: .systemCall)
        /// An environment variable of the protocol (LISTEN_FDS, NOTIFY_SOCKET, …) is malformed.
        public static let invalidEnvironment = Code(value: .invalidEnvironment)

        public var description: String {
            switch value {
            case .libraryUnavailable: "libsystemd unavailable"
            case .systemCall: "system call failed"
            case .invalidEnvironment: "invalid environment"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// What was being done, in words.
    public var message: String
    /// The error number, when a call returned one.
    public var errno: Int32?

    public init(code: Code, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// An error for a call that returned `-errno` or set `errno`.
    static func systemCall(_ what: String, errno number: Int32) -> SystemdError {
        if number == ENOSYS && !Libsystemd.isAvailable {
            return SystemdError(
                code: .libraryUnavailable,
                message: "\(what): libsystemd is not available (\(Libsystemd.loadError ?? "unknown"))",
                errno: number
            )
        }
        return SystemdError(code: .systemCall, message: "\(what): \(String(cString: strerror(number)))", errno: number)
    }

    public var description: String { message }
}

/// Whether libsystemd could be loaded on this host, and why not.
public enum Libsystemd {
    /// True when `libsystemd.so.0` was found with every symbol this module uses.
    public static var isAvailable: Bool { csd_load() != 0 }

    /// Why the library could not be loaded, or nil when it was.
    public static var loadError: String? {
        isAvailable ? nil : String(cString: csd_load_error())
    }
}
