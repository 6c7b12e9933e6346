import CSystemd
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One datagram received on a notify socket: who sent it and what it said.
public struct NotifyMessage: Sendable, Hashable {
    /// The sender's pid, from SCM_CREDENTIALS (the kernel vouches for it).
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The `KEY=VALUE` assignments in the order sent; lines without `=` are dropped.
    public var assignments: [(key: String, value: String)] {
        lines.compactMap { line in
            guard let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }
    /// The raw lines of the datagram.
    public var lines: [String]

    /// The value of the last assignment to `key`, or nil.
    public subscript(key: String) -> String? {
        assignments.last { $0.key == key }?.value
    }

    public init(pid: Int32, uid: UInt32, gid: UInt32, lines: [String]) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.lines = lines
    }
}

/// The receiving side of the notify protocol, as systemd runs it: an `AF_UNIX` datagram socket
/// with `SO_PASSCRED`, so every message names the pid that sent it.
public final class NotifyReceiver: Sendable {
    /// The socket's path; give it to instances as `NOTIFY_SOCKET`.
    public let path: String
    private let fd: Mutex<Int32>

    /// Binds a new socket at `path` (an existing file there is replaced).
    public init(path: String) throws(SystemdError) {
        let result = csd_notify_socket_open(path)
        if result < 0 { throw .systemCall("bind notify socket \(path)", errno: -result) }
        self.path = path
        self.fd = Mutex(result)
    }

    /// Waits up to `timeout` for one message. Returns nil on timeout or once closed.
    public func receive(timeout: Duration) throws(SystemdError) -> NotifyMessage? {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000
            + timeout.components.attoseconds / 1_000_000_000_000_000)
        if milliseconds > 0 {
            // The wait holds no lock, so `close()` is never held up; waking for a number closed
            // meanwhile is harmless, as the read below checks the socket under the lock.
            var entry = pollfd(fd: fd.withLock { $0 }, events: Int16(POLLIN), revents: 0)
            guard entry.fd >= 0 else { return nil }
            while poll(&entry, 1, milliseconds) < 0 && errno == EINTR {}
        }
        // The read holds the lock: a socket closed concurrently cannot have its number taken by
        // another part of the process and read from here.
        return try fd.withLock { descriptor throws(SystemdError) -> NotifyMessage? in
            guard descriptor >= 0 else { return nil }
            var buffer = [CChar](repeating: 0, count: 4096)
            var pid: pid_t = 0
            var uid: uid_t = 0
            var gid: gid_t = 0
            let count = csd_notify_recv(descriptor, &buffer, buffer.count, 0, &pid, &uid, &gid)
            if count < 0 { throw .systemCall("receive on notify socket", errno: Int32(-count)) }
            guard count > 0 else { return nil }
            let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            return NotifyMessage(pid: pid, uid: uid, gid: gid, lines: lines)
        }
    }

    /// Closes the socket and removes its file. Safe to call twice.
    public func close() {
        let descriptor = fd.withLock { value in
            defer { value = -1 }
            return value
        }
        guard descriptor >= 0 else { return }
        _ = Glibc.close(descriptor)
        unlink(path)
    }

    deinit { close() }
}
