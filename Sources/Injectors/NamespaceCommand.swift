import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// One run of a host networking tool (`nft`, `tc`, `ip`): in this host's network namespace, or in
/// the namespace of the process `namespacePID` (a container's first process), entered with
/// `nsenter --net`. Only the network namespace changes: the tool is the host's own, so a
/// `FROM scratch` container needs none.
struct NamespaceCommand {
    var executable: String
    var namespacePID: Int32?

    /// What a failed run printed, with how it ended.
    struct Failure: Error {
        var message: String
    }

    /// Runs the tool with `arguments`; returns what it printed (standard output and error),
    /// or throws with it when the tool does not exit 0.
    func run(_ arguments: [String]) throws(Failure) -> String {
        var template = Array("/tmp/stormlab-\(executable)-out-XXXXXX".utf8CString)
        let output = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard output >= 0 else { throw Failure(message: "cannot create a temporary file for \(executable)") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer {
            close(output)
            unlink(path)
        }
        let pid: Int32
        do {
            let (program, vector) = namespacePID.map { ("nsenter", ["--target", String($0), "--net", executable] + arguments) }
                ?? (executable, arguments)
            pid = try ChildProcess.spawn(SpawnOptions(
                executable: program, arguments: vector,
                environment: ["PATH": "/usr/sbin:/sbin:/usr/bin:/bin"],
                parentDeathSignal: SIGKILL, standardOutput: output, standardError: output
            ))
        } catch {
            throw Failure(message: "cannot run \(executable): \(error)")
        }
        let end = ChildProcess.wait(pid)
        lseek(output, 0, SEEK_SET)
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(output, &buffer, buffer.count)
            if count <= 0 { break }
            text += buffer[0..<count]
        }
        let result = String(decoding: text, as: UTF8.self)
        guard end == .exited(0) else {
            throw Failure(message: "\(executable) \(arguments.joined(separator: " ")): \(end.map { "\($0)" } ?? "?"): \(result)")
        }
        return result
    }
}
