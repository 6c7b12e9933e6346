#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Musl)
private let systemWrite = Musl.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

/// A report file that could not be written.
public struct ReportWriteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var path: String
    /// The `errno` of the failing call.
    public var errno: Int32
    /// What was being done: `open`, `write`, `rename`.
    public var operation: String

    /// `cannot write PATH: reason`.
    public var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// Writes reports to files.
public enum ReportFiles {
    /// The standard file names in a run folder.
    public static let jsonName = "report.json"
    /// The JUnit file's name in a run folder.
    public static let junitName = "junit.xml"
    /// The HTML file's name in a run folder.
    public static let htmlName = "report.html"

    /// Writes `report.json`, `junit.xml` and `report.html` into `directory`, which must exist.
    public static func writeAll(
        _ report: RunReport, to directory: String, html options: HTMLReport.Options = HTMLReport.Options()
    ) throws(ReportWriteError) {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        try write(JSONReport.render(report), to: base + jsonName)
        try write(JUnitReport.render(report), to: base + junitName)
        try write(HTMLReport.render(report, options: options), to: base + htmlName)
    }

    /// Writes `contents` as UTF-8 to `path`, atomically: into `path.tmp`, then renamed over `path`.
    public static func write(_ contents: String, to path: String) throws(ReportWriteError) {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ReportWriteError(path: temporary, errno: errno, operation: "open") }
        var failure: ReportWriteError?
        let bytes = Array(contents.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = ReportWriteError(path: temporary, errno: errno, operation: "write")
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 {
            failure = ReportWriteError(path: temporary, errno: errno, operation: "sync")
        }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let error = ReportWriteError(path: path, errno: errno, operation: "rename")
            unlink(temporary)
            throw error
        }
    }
}
