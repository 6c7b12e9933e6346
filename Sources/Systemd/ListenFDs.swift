import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One socket passed by socket activation (`sd_listen_fds_with_names`).
public struct ListenFD: Sendable, Hashable {
    /// The file descriptor, 3 or above.
    public var fd: Int32
    /// Its name from `LISTEN_FDNAMES`, or "unknown" as systemd says when none was given.
    public var name: String
}

/// The receiving side of socket activation.
public enum SocketActivation {
    /// The sockets passed to this process, in fd order; empty when `LISTEN_FDS` is not set or
    /// names another pid. The variables are unset afterwards so children do not inherit them.
    ///
    /// The fds are set close-on-exec by libsystemd. When libsystemd is missing but `LISTEN_FDS`
    /// is set, this throws rather than silently binding a second socket.
    public static func listenFDs() throws(SystemdError) -> [ListenFD] {
        guard getenv("LISTEN_FDS") != nil else { return [] }
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = csd_listen_fds_with_names(1, &names)
        if count < 0 {
            throw .systemCall("sd_listen_fds_with_names", errno: -count)
        }
        defer { csd_free_names(names, count) }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            return ListenFD(fd: 3 + Int32(index), name: name)
        }
    }
}
