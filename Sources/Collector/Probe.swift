import NIOCore
import NIOPosix
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// A check of a program from outside, for programs without metrics: each run gives
/// `probe_success{probe}` (1 or 0) and `probe_duration_seconds{probe}`, as Prometheus' blackbox
/// exporter does.
public struct Probe: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A TCP connect succeeds.
        case tcp(host: String, port: Int)
        /// `GET path` answers `status`, and the body contains `bodyContains` when given.
        case http(host: String, port: Int, path: String, status: Int, bodyContains: String?)
        /// The command exits with status 0. `arguments[0]` is a path or a name found in `PATH`.
        case exec(arguments: [String])
    }

    public var name: String
    public var kind: Kind
    /// A check that takes longer fails (and an exec probe's process group is killed).
    public var timeout: Duration

    public init(name: String, kind: Kind, timeout: Duration = .seconds(1)) {
        self.name = name
        self.kind = kind
        self.timeout = timeout
    }

    /// Runs the check once.
    public func check() async -> Bool {
        switch kind {
        case .tcp(let host, let port):
            guard let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(SeriesCollector.milliseconds(timeout) * 1_000_000))
                .connect(host: host, port: port).get()
            else { return false }
            try? await channel.close()
            return true
        case .http(let host, let port, let path, let status, let bodyContains):
            let target = ScrapeTarget(service: "", instance: name, host: host, port: port, path: path)
            guard let connection = try? await MetricsConnection.open(target, timeout: timeout) else { return false }
            let answer = try? await connection.request(path, timeout: timeout)
            await connection.close()
            guard let answer else { return false }
            return answer.status == status && (bodyContains.map { answer.body.contains($0) } ?? true)
        case .exec(let arguments):
            guard let executable = arguments.first else { return false }
            let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
            defer { if null >= 0 { close(null) } }
            var environment: [String: String] = [:]
            for key in ["PATH", "HOME"] {
                if let value = getenv(key) { environment[key] = String(cString: value) }
            }
            guard let pid = try? ChildProcess.spawn(SpawnOptions(
                executable: executable, arguments: Array(arguments.dropFirst()), environment: environment,
                standardOutput: null >= 0 ? null : nil, standardError: null >= 0 ? null : nil
            )) else { return false }
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let end = ChildProcess.poll(pid) { return end == .exited(0) }
                try? await Task.sleep(for: .milliseconds(5))
            }
            kill(-pid, SIGKILL)
            _ = ChildProcess.wait(pid)
            return false
        }
    }
}
