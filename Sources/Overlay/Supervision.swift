import Logging
import Systemd

/// What a role tells its supervisor over the notify protocol: ready, a status line every few
/// seconds, watchdog pings at half the interval asked for, and stopping.
struct Supervision: Sendable {
    let notifier = ServiceNotifier()
    let logger: Logger

    func ready(status: String) {
        report { try notifier.ready(status: status) }
    }

    func stopping() {
        report { try notifier.stopping() }
    }

    /// Pings the watchdog and refreshes the status line until cancelled.
    func keepAlive(status: @escaping @Sendable () -> String) async {
        let watchdog = notifier.watchdogInterval()
        let tick = min(watchdog.map { $0 / 2 } ?? .seconds(1), .seconds(1))
        var sinceStatus = Duration.zero
        while !Task.isCancelled {
            if watchdog != nil { report { try notifier.watchdog() } }
            if sinceStatus >= .seconds(2) {
                report { try notifier.status(status()) }
                sinceStatus = .zero
            }
            try? await Task.sleep(for: tick)
            sinceStatus += tick
        }
    }

    private func report(_ body: () throws -> Bool) {
        do {
            _ = try body()
        } catch {
            logger.warning("notify failed", metadata: ["error": "\(error)"])
        }
    }
}
