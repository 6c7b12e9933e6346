import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// The sending side of systemd's notify protocol (`sd_notify`), as an instance speaks it to its
/// supervisor: readiness, status lines, watchdog pings and shutdown.
///
/// Every call is a no-op returning `false` when `NOTIFY_SOCKET` is not set, as `sd_notify` is, so
/// a role runs the same with and without a supervisor.
public struct ServiceNotifier: Sendable {
    public init() {}

    /// Sends the given assignments (`READY=1`, `STATUS=…`) as one datagram.
    /// - Returns: true when a supervisor received it, false when none listens.
    /// - Throws: ``SystemdError`` when libsystemd is missing (and a supervisor expects us) or the
    ///   send fails.
    @discardableResult
    public func notify(_ assignments: [String]) throws(SystemdError) -> Bool {
        // No supervisor listens: nothing to send, whether or not libsystemd is on this host.
        guard getenv("NOTIFY_SOCKET") != nil else { return false }
        let state = assignments.joined(separator: "\n")
        let result = csd_notify(0, state)
        if result < 0 {
            throw .systemCall("sd_notify", errno: -result)
        }
        return result > 0
    }

    /// `READY=1`, with an optional status line.
    @discardableResult
    public func ready(status: String? = nil) throws(SystemdError) -> Bool {
        try notify(["READY=1"] + (status.map { ["STATUS=\(Self.oneLine($0))"] } ?? []))
    }

    /// `STATUS=…`: a one-line summary shown by the supervisor.
    @discardableResult
    public func status(_ text: String) throws(SystemdError) -> Bool {
        try notify(["STATUS=\(Self.oneLine(text))"])
    }

    /// `WATCHDOG=1`: the keep-alive ping.
    @discardableResult
    public func watchdog() throws(SystemdError) -> Bool {
        try notify(["WATCHDOG=1"])
    }

    /// `STOPPING=1`: graceful shutdown has begun.
    @discardableResult
    public func stopping() throws(SystemdError) -> Bool {
        try notify(["STOPPING=1"])
    }

    /// The watchdog interval the supervisor asked for (`WATCHDOG_USEC`, for this pid), or nil
    /// when the watchdog is off or libsystemd is missing. Ping at half this interval.
    public func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        let result = csd_watchdog_enabled(0, &microseconds)
        guard result > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
