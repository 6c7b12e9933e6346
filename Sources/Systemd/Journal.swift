import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Structured records to the systemd journal (`sd_journal_sendv`).
public enum Journal {
    /// True when libsystemd is loaded and journald's socket exists on this host.
    public static let isAvailable: Bool =
        Libsystemd.isAvailable && access("/run/systemd/journal/socket", W_OK) == 0

    /// True when this process should log to the journal rather than standard error: journald is
    /// there, and either systemd connected our stderr to it (`JOURNAL_STREAM`) or
    /// `STORMLAB_LOG=journal` asks for it. Under Stormlab's own supervisor, stderr goes to the
    /// instance's log file instead.
    public static var isPreferred: Bool {
        guard isAvailable else { return false }
        if let choice = getenv("STORMLAB_LOG").map({ String(cString: $0) }) { return choice == "journal" }
        return getenv("JOURNAL_STREAM") != nil
    }

    /// Sends one record. Field names must be upper-case letters, digits and underscores, not
    /// starting with an underscore (journald drops others). `MESSAGE` should be among them.
    public static func send(_ fields: [(String, String)]) throws(SystemdError) {
        let entries = fields.map { "\($0.0)=\($0.1)" }
        var storage = entries.map { Array($0.utf8) }
        let result = storage.withUnsafeMutableBufferPointer { buffers -> Int32 in
            var vectors = [iovec]()
            vectors.reserveCapacity(buffers.count)
            for index in buffers.indices {
                buffers[index].withUnsafeMutableBytes { bytes in
                    vectors.append(iovec(iov_base: bytes.baseAddress, iov_len: bytes.count))
                }
            }
            return csd_journal_sendv(vectors, Int32(vectors.count))
        }
        if result < 0 { throw .systemCall("sd_journal_sendv", errno: -result) }
    }

    /// A journal field name for a logging metadata key: `lab.instance` → `STORMLAB_LAB_INSTANCE`.
    static func fieldName(forMetadataKey key: String) -> String {
        let mapped = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        return "STORMLAB_" + String(mapped)
    }
}

/// A swift-log handler that writes structured journal records when journald is there, and
/// plain timestamped lines on standard error otherwise.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let useJournal: Bool

    /// - Parameter preferJournal: false forces stderr lines even where the journal is preferred.
    public init(label: String, preferJournal: Bool = true) {
        self.label = label
        self.useJournal = preferJournal && Journal.isPreferred
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if useJournal {
            var fields: [(String, String)] = [
                ("MESSAGE", event.message.description),
                ("PRIORITY", String(Self.priority(event.level))),
                ("SYSLOG_IDENTIFIER", label),
                ("CODE_FILE", event.file),
                ("CODE_LINE", String(event.line)),
            ]
            for (key, value) in merged {
                fields.append((Journal.fieldName(forMetadataKey: key), value.description))
            }
            if (try? Journal.send(fields)) != nil { return }
        }
        let details = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let line = "\(Timestamp.now()) \(event.level) \(label): \(event.message)\(details)\n"
        // One write(2) per line, so lines of concurrent tasks never interleave.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

/// UTC wall-clock timestamps for log lines, formatted without Foundation.
public enum Timestamp {
    /// Now as `2026-11-25T02:40:00.123Z`.
    public static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + ".\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}
