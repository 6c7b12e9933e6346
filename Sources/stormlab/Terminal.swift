import Foundation
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Progress output: a live, rewritten line when standard output is a terminal; plain timestamped
/// lines otherwise (a CI log), at most one every five seconds for updates.
struct Progress {
    let isTerminal = isatty(1) == 1 && getenv("CI") == nil
    private var lastPlain: ContinuousClock.Instant?
    private var live = false

    /// Replaces the live line (terminal) or prints a timestamped line at most every five seconds.
    mutating func update(_ text: String) {
        if isTerminal {
            write("\r\u{1B}[K\(text)")
            live = true
        } else if lastPlain.map({ ContinuousClock.now - $0 >= .seconds(5) }) ?? true {
            lastPlain = .now
            write("\(Timestamp.now()) \(text)\n")
        }
    }

    /// A line that stays.
    mutating func line(_ text: String) {
        if live {
            write("\r\u{1B}[K")
            live = false
        }
        write(isTerminal ? "\(text)\n" : "\(Timestamp.now()) \(text)\n")
        lastPlain = nil
    }

    private func write(_ text: String) {
        writeText(text, to: 1)
    }
}

/// This executable's own path, for starting role processes.
func ownExecutablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// A fresh folder under `.stormlab/` for one command's files.
func makeWorkFolder(_ kind: String) -> String {
    mkdir(".stormlab", 0o755)
    mkdir(".stormlab/\(kind)", 0o755)
    let folder = ".stormlab/\(kind)/\(Timestamp.now().filter { $0.isNumber })-\(getpid())"
    mkdir(folder, 0o755)
    return folder
}

/// Resident memory of a process in bytes, from /proc.
func residentBytes(pid: Int32) -> Int? {
    guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if text.hasPrefix("VmRSS:") {
            let digits = text.split(separator: " ").compactMap { Int($0) }.first
            return digits.map { $0 * 1024 }
        }
    }
    return nil
}

extension Duration {
    /// Whole milliseconds, the unit of series and plan times.
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// Writes `text` to a file descriptor in one call (a line never interleaves with another's).
func writeText(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

/// `1.23 s`, or `1.23` with `unit: ""`.
func formatSeconds(_ duration: Duration, unit: String = " s") -> String {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    return String(format: "%.2f", seconds) + unit
}
