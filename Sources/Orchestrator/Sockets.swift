#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The IPv4 sockets the orchestrator needs: listeners for socket activation, a check that a port
/// is free, and the TCP readiness probe.
enum Sockets {
    /// An IPv4 socket address.
    static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    /// A socket bound to `host:port` (and listening, for TCP), close-on-exec; or the errno.
    static func bind(host: String, port: Int, udp: Bool = false, listening: Bool = true) -> Result<Int32, Errno> {
        let kind = udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd = socket(AF_INET, kind | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = address(host, port)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound != 0 || (!udp && listening && listen(fd, 4096) != 0) {
            let error = Errno(errno)
            close(fd)
            return .failure(error)
        }
        return .success(fd)
    }

    /// Whether a TCP port can be bound on `host` now; the errno when not.
    static func checkFree(host: String, port: Int, udp: Bool) -> Errno? {
        switch bind(host: host, port: port, udp: udp, listening: false) {
        case .success(let fd):
            close(fd)
            return nil
        case .failure(let error):
            return error
        }
    }
}

/// An errno value with its text.
struct Errno: Error, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(code)) }
}

/// One non-blocking TCP connection attempt, checked without waiting.
struct TCPProbe {
    enum Outcome { case pending, connected, refused }

    private var fd: Int32

    /// Starts connecting to `host:port`.
    init(host: String, port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var socketAddress = Sockets.address(host, port)
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 && errno != EINPROGRESS {
            close(fd)
            fd = -1
        }
    }

    /// Whether the connection was made, failed, or is still pending. Closes the socket once decided.
    mutating func check() -> Outcome {
        guard fd >= 0 else { return .refused }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return .pending }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        close(fd)
        fd = -1
        return error == 0 ? .connected : .refused
    }

    /// Abandons the attempt.
    mutating func cancel() {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}
