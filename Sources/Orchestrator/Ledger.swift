import Foundation
import Systemd

/// One line of a run's ledger: something the run is about to create (or created) that could
/// outlive the orchestrator, so ``Cleanup`` can find and remove it after a crash.
public struct LedgerEntry: Sendable, Hashable, Codable {
    /// What the entry records.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The run began: ``pid`` and ``startTime`` are the orchestrator's own.
        case run
        /// A socket file is about to be bound at ``path``.
        case socketFile = "socket-file"
        /// An instance is about to be started; its processes carry `STORMLAB_RUN` in their
        /// environment, so they can be found even if the orchestrator dies before the next entry.
        case spawning
        /// A process group was created: leader ``pid`` (also the group id) and its ``startTime``.
        case processGroup = "process-group"
        /// A container is about to be created under the docker runtime, named ``path``.
        case container
        /// A network is about to be created under the docker runtime, named ``path``.
        case network
        /// The run stopped everything it started and removed its files.
        case closed
        /// `stormlab cleanup` removed what the run left.
        case cleaned
    }

    /// What the entry records.
    public var kind: Kind
    /// Wall-clock time of the entry, ISO 8601 UTC.
    public var time: String
    /// The instance, for ``Kind/spawning`` and ``Kind/processGroup``.
    public var instance: String?
    /// The process (and process group) id.
    public var pid: Int32?
    /// The process's start time in clock ticks after boot, from `/proc/PID/stat`.
    public var startTime: UInt64?
    /// A file path, for ``Kind/socketFile``; the engine's name for ``Kind/container`` and
    /// ``Kind/network``.
    public var path: String?

    /// Creates an entry stamped now.
    public init(kind: Kind, instance: String? = nil, pid: Int32? = nil, startTime: UInt64? = nil, path: String? = nil) {
        self.kind = kind
        self.time = Timestamp.now()
        self.instance = instance
        self.pid = pid
        self.startTime = startTime
        self.path = path
    }
}

/// A run's ledger file (`ledger.jsonl`): append-only, one JSON object a line, each written with
/// one `write(2)` before the thing it names is created, so it survives a SIGKILL of the writer.
public final class Ledger: Sendable {
    /// The file's path.
    public let path: String
    private let fd: Int32

    /// Opens (creating) the ledger at `path` for appending.
    public init(path: String) throws(OrchestratorError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw OrchestratorError(code: .system, message: "cannot create the ledger \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.fd = descriptor
    }

    deinit { close(fd) }

    /// Appends `entry` as one line.
    public func append(_ entry: LedgerEntry) {
        Self.append(entry, fd: fd)
    }

    /// Appends `entry` to the ledger file at `path` (used by cleanup on other runs' ledgers).
    public static func append(_ entry: LedgerEntry, toFileAt path: String) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        append(entry, fd: descriptor)
    }

    private static func append(_ entry: LedgerEntry, fd: Int32) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(entry) else { return }
        line.append(UInt8(ascii: "\n"))
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The entries of the ledger at `path`; lines that do not decode (a torn last line) are skipped.
    public static func read(path: String) -> [LedgerEntry] {
        guard let bytes = ProcFS.contents(of: path) else { return [] }
        let decoder = JSONDecoder()
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(LedgerEntry.self, from: Data($0)) }
    }
}
