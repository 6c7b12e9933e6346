import Foundation

/// How often the orchestrator has restarted the calling process, as the process runtime and the
/// docker runtime tell it: `$STORMLAB_RESTARTS_FILE` (a container's environment is fixed when it
/// is created, so the orchestrator writes the count into a file it mounts) or
/// `$STORMLAB_RESTARTS`; 0 when neither says, as on a first start or outside a lab.
public func restartCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
    if let path = environment["STORMLAB_RESTARTS_FILE"],
        let text = try? String(contentsOfFile: path, encoding: .utf8),
        let count = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    {
        return count
    }
    return environment["STORMLAB_RESTARTS"].flatMap { Int($0) } ?? 0
}
