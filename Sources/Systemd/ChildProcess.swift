import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How to start one child process: the executable, its environment, and the sockets passed to it
/// by socket activation.
public struct SpawnOptions: Sendable {
    /// A path, or a name searched in `PATH`.
    public var executable: String
    /// Arguments after `argv[0]` (which is `executable`).
    public var arguments: [String]
    /// The complete environment of the child.
    public var environment: [String: String]
    /// Sockets passed as fds 3, 4, … with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` set.
    public var listenFDs: [(fd: Int32, name: String)]
    /// Put the child in a new process group whose id is its pid, so a signal reaches all it forks.
    public var newProcessGroup: Bool
    /// The signal the child gets when the spawning thread's process dies (`PR_SET_PDEATHSIG`).
    public var parentDeathSignal: Int32?
    /// Where standard output and error go; nil inherits ours.
    public var standardOutput: Int32?
    public var standardError: Int32?
    public var workingDirectory: String?

    public init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        listenFDs: [(fd: Int32, name: String)] = [],
        newProcessGroup: Bool = true,
        parentDeathSignal: Int32? = SIGKILL,
        standardOutput: Int32? = nil,
        standardError: Int32? = nil,
        workingDirectory: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.listenFDs = listenFDs
        self.newProcessGroup = newProcessGroup
        self.parentDeathSignal = parentDeathSignal
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.workingDirectory = workingDirectory
    }
}

/// How a child ended: its exit status, or the signal that killed it.
public enum Termination: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

/// Starting and reaping child processes with what `posix_spawn` and Foundation's `Process` lack:
/// passed listening sockets with `LISTEN_PID` set to the child's own pid, a new process group,
/// and `PR_SET_PDEATHSIG` so no child outlives its supervisor.
public enum ChildProcess {
    /// Starts a child. An executable that cannot be run is reported here, not as an exit status.
    public static func spawn(_ options: SpawnOptions) throws(SystemdError) -> Int32 {
        var environment = options.environment
        environment["LISTEN_FDS"] = nil
        environment["LISTEN_PID"] = nil
        environment["LISTEN_FDNAMES"] = nil
        var entries = environment.map { "\($0.key)=\($0.value)" }
        var listenPIDSlot: Int32 = -1
        if !options.listenFDs.isEmpty {
            entries.append("LISTEN_FDS=\(options.listenFDs.count)")
            entries.append("LISTEN_FDNAMES=" + options.listenFDs.map(\.name).joined(separator: ":"))
            listenPIDSlot = Int32(entries.count)
            entries.append("LISTEN_PID=")
        }
        let argv = [options.executable] + options.arguments
        let fds = options.listenFDs.map(\.fd)

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = entries.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var mutableEnvironment = cEnvironment
        let result: pid_t = options.executable.withCString { path in
            options.workingDirectory.withOptionalCString { directory in
                fds.withUnsafeBufferPointer { fdBuffer in
                    cArguments.withUnsafeBufferPointer { argumentBuffer in
                        mutableEnvironment.withUnsafeMutableBufferPointer { environmentBuffer in
                            var spawn = csd_spawn_options(
                                path: path,
                                argv: argumentBuffer.baseAddress,
                                envp: environmentBuffer.baseAddress,
                                pass_fds: fdBuffer.baseAddress,
                                pass_fd_count: Int32(fds.count),
                                listen_pid_slot: listenPIDSlot,
                                new_process_group: options.newProcessGroup ? 1 : 0,
                                parent_death_signal: options.parentDeathSignal ?? 0,
                                stdin_fd: -1,
                                stdout_fd: options.standardOutput ?? -1,
                                stderr_fd: options.standardError ?? -1,
                                working_directory: directory
                            )
                            return csd_spawn(&spawn)
                        }
                    }
                }
            }
        }
        if result < 0 {
            throw .systemCall("start \(options.executable)", errno: -result)
        }
        return result
    }

    /// Reaps `pid` if it has ended, without blocking. Returns nil while it runs.
    public static func poll(_ pid: Int32) -> Termination? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        return termination(fromWaitStatus: status)
    }

    /// Waits for `pid` to end and reaps it.
    public static func wait(_ pid: Int32) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return termination(fromWaitStatus: status) }
            if result < 0 && errno != EINTR { return nil }
        }
    }

    /// Decodes a `waitpid` status word.
    public static func termination(fromWaitStatus status: Int32) -> Termination {
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }

    /// Raises this process's open-file limit to its hard limit; returns the new limit.
    @discardableResult
    public static func raiseOpenFileLimit() throws(SystemdError) -> Int {
        let result = csd_raise_nofile_limit()
        if result < 0 { throw .systemCall("setrlimit(RLIMIT_NOFILE)", errno: Int32(-result)) }
        return result
    }
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<Result>(_ body: (UnsafePointer<CChar>?) -> Result) -> Result {
        switch self {
        case .some(let string): string.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
