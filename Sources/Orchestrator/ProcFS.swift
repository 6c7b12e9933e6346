#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `/proc` says about a process: enough to tell a process we started from one that reuses
/// its pid, and to find the processes of a run.
public struct ProcessRecord: Sendable, Hashable {
    /// The pid.
    public var pid: Int32
    /// The state letter (`R`, `S`, `Z`, …).
    public var state: Character
    /// The process group id.
    public var processGroup: Int32
    /// The start time in clock ticks after boot (field 22 of `/proc/PID/stat`): with the pid, it
    /// names one process for the life of the host.
    public var startTime: UInt64

    /// Whether the process runs (a zombie has ended and only waits to be reaped).
    public var isAlive: Bool { state != "Z" && state != "X" }

    /// Reads `/proc/PID/stat`; nil when there is no such process.
    public static func read(pid: Int32) -> ProcessRecord? {
        guard let bytes = ProcFS.contents(of: "/proc/\(pid)/stat") else { return nil }
        // The command name is in parentheses and may contain anything: parse after the last ")".
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        // fields[0] is field 3 (state); field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let group = Int32(fields[2]),
            let start = UInt64(fields[19])
        else { return nil }
        return ProcessRecord(pid: pid, state: state, processGroup: group, startTime: start)
    }

    /// Whether the process that started as `pid` at `startTime` still runs (and not another
    /// process that took its pid since).
    public static func isRunning(pid: Int32, startTime: UInt64?) -> Bool {
        guard let record = read(pid: pid) else { return false }
        return record.isAlive && record.startTime == startTime
    }
}

enum ProcFS {
    /// A whole small file, or nil.
    static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            result += buffer[0..<count]
        }
        return result
    }

    /// Every pid in `/proc`.
    static func pids() -> [Int32] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if let pid = Int32(name) { pids.append(pid) }
        }
        return pids
    }

    /// The value of `key` in the environment the process started with, when we may read it.
    static func environmentValue(pid: Int32, key: String) -> String? {
        guard let bytes = contents(of: "/proc/\(pid)/environ") else { return nil }
        let prefix = Array("\(key)=".utf8)
        for entry in bytes.split(separator: 0) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }
}

/// The orchestrator that made a run's containers and network: the machine, its boot, and the
/// process (pid and start time). They carry it as the label `stormlab.orchestrator`, so
/// `stormlab cleanup` can tell that their run died even when no ledger names them any more (the
/// run folder was deleted, or lies under another `--runs`).
struct OrchestratorIdentity: Hashable {
    static let label = "stormlab.orchestrator"

    var machine: String
    var boot: String
    var pid: Int32
    var startTime: UInt64

    /// Whether the orchestrator still runs, as far as this machine can tell.
    enum Liveness: Equatable {
        case running
        case gone
        /// Made on another machine (an engine shared over a forwarded socket): its processes
        /// cannot be seen from here.
        case elsewhere
    }

    /// This process.
    static let current = OrchestratorIdentity(
        machine: machineID, boot: bootID, pid: getpid(), startTime: ProcessRecord.read(pid: getpid())?.startTime ?? 0)

    /// `/etc/machine-id` (stable across boots), or the host name where there is none.
    private static let machineID: String = {
        let id = hexDigits(of: "/etc/machine-id")
        if !id.isEmpty { return id }
        var name = [UInt8](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        return "host-" + String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
    }()

    private static let bootID = hexDigits(of: "/proc/sys/kernel/random/boot_id")

    /// The hex digits of a small file holding an id; empty when there is no such file.
    private static func hexDigits(of path: String) -> String {
        String(decoding: ProcFS.contents(of: path) ?? [], as: UTF8.self).filter(\.isHexDigit)
    }

    /// The label's value, `MACHINE/BOOT/PID/START`.
    var labelValue: String { "\(machine)/\(boot)/\(pid)/\(startTime)" }

    var liveness: Liveness {
        guard machine == Self.machineID else { return .elsewhere }
        // A process of an earlier boot has ended, whatever runs under its pid now.
        guard boot == Self.bootID else { return .gone }
        return ProcessRecord.isRunning(pid: pid, startTime: startTime) ? .running : .gone
    }
}

extension OrchestratorIdentity {
    /// Parses the label's value, `MACHINE/BOOT/PID/START`.
    init?(label: String) {
        let parts = label.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, let pid = Int32(parts[2]), let startTime = UInt64(parts[3]) else { return nil }
        self.init(machine: String(parts[0]), boot: String(parts[1]), pid: pid, startTime: startTime)
    }
}
