import Testing
@testable import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under /tmp, removed by the caller.
func temporaryFolder() -> String {
    var template = Array("/tmp/stormlab-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    return path
}

func removeFolder(_ path: String) {
    _ = path.withCString { p in
        // Test folders hold a socket and small files only.
        system("rm -rf '\(String(cString: p))'")
    }
}

/// Runs `body` with environment variables set, restoring them afterwards.
func withEnvironment<T>(_ values: [String: String], _ body: () throws -> T) rethrows -> T {
    let saved = values.keys.map { ($0, getenv($0).map { String(cString: $0) }) }
    for (key, value) in values { setenv(key, value, 1) }
    defer {
        for (key, value) in saved {
            if let value { setenv(key, value, 1) } else { unsetenv(key) }
        }
    }
    return try body()
}

/// The notify protocol through the real libsystemd, in both directions. These tests change the
/// process environment (NOTIFY_SOCKET, WATCHDOG_USEC), so they run one at a time.
@Suite(.serialized, .enabled(if: Libsystemd.isAvailable, "libsystemd.so.0 is not installed on this host"))
struct NotifyTests {
    @Test func readyStatusAndWatchdogArriveWithTheSendersPid() throws {
        let folder = temporaryFolder()
        defer { removeFolder(folder) }
        let receiver = try NotifyReceiver(path: "\(folder)/notify.sock")
        defer { receiver.close() }
        let notifier = ServiceNotifier()
        let sent = try withEnvironment(["NOTIFY_SOCKET": receiver.path]) { () throws -> [Bool] in
            [try notifier.ready(status: "serving\nlogins"), try notifier.watchdog(), try notifier.stopping()]
        }
        #expect(sent == [true, true, true])
        let ready = try #require(try receiver.receive(timeout: .seconds(2)))
        #expect(ready.pid == getpid())
        #expect(ready["READY"] == "1")
        #expect(ready["STATUS"] == "serving logins")
        #expect(try receiver.receive(timeout: .seconds(2))?["WATCHDOG"] == "1")
        #expect(try receiver.receive(timeout: .seconds(2))?["STOPPING"] == "1")
        #expect(try receiver.receive(timeout: .milliseconds(50)) == nil)
    }

    @Test func withoutANotifySocketNothingIsSent() throws {
        unsetenv("NOTIFY_SOCKET")
        #expect(try ServiceNotifier().ready() == false)
    }

    @Test func theWatchdogIntervalComesFromTheEnvironment() {
        let interval = withEnvironment(["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "\(getpid())"]) {
            ServiceNotifier().watchdogInterval()
        }
        #expect(interval == .seconds(3))
        let otherPid = withEnvironment(["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"]) {
            ServiceNotifier().watchdogInterval()
        }
        #expect(otherPid == nil)
    }

    @Test func aChildsMessagesNameTheChild() throws {
        let folder = temporaryFolder()
        defer { removeFolder(folder) }
        let receiver = try NotifyReceiver(path: "\(folder)/notify.sock")
        defer { receiver.close() }
        guard access("/usr/bin/systemd-notify", X_OK) == 0 else { return }
        // systemd-notify speaks for itself (--pid=self), so the credentials name that process.
        let pid = try ChildProcess.spawn(SpawnOptions(
            executable: "/usr/bin/systemd-notify", arguments: ["--no-block", "--pid=self", "--ready", "--status=child up"],
            environment: ["NOTIFY_SOCKET": receiver.path]
        ))
        #expect(ChildProcess.wait(pid) == .exited(0))
        let message = try #require(try receiver.receive(timeout: .seconds(2)))
        #expect(message.pid == pid)
        #expect(message["READY"] == "1")
        #expect(message["STATUS"] == "child up")
    }
}

@Suite struct ChildProcessTests {
    /// Runs `sh -c script` with stdout to a file and returns what it printed.
    func run(_ script: String, listenFDs: [(fd: Int32, name: String)] = []) throws -> (pid: Int32, output: String, end: Termination?) {
        let folder = temporaryFolder()
        defer { removeFolder(folder) }
        let out = open("\(folder)/out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(out) }
        let pid = try ChildProcess.spawn(SpawnOptions(
            executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"],
            listenFDs: listenFDs, standardOutput: out
        ))
        let end = ChildProcess.wait(pid)
        guard let file = fopen("\(folder)/out", "r") else { return (pid, "", end) }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = fread(&buffer, 1, buffer.count - 1, file)
        buffer[count] = 0
        return (pid, buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, end)
    }

    @Test func passedSocketsArriveAsFd3WithListenPidOfTheChild() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let result = try run(
            #"echo "$LISTEN_FDS $LISTEN_PID $$ $LISTEN_FDNAMES"; [ -S /proc/self/fd/3 ] || [ -e /proc/$$/fd/3 ] && echo fd3; [ -e /proc/$$/fd/4 ] || echo no-fd4"#,
            listenFDs: [(pair[1], "overlay")]
        )
        #expect(result.end == .exited(0))
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "1 \(result.pid) \(result.pid) overlay")
        #expect(lines.contains("fd3"))
        #expect(lines.contains("no-fd4"))
    }

    @Test func theChildLeadsItsOwnProcessGroup() throws {
        let result = try run("ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 /proc/$$/stat")
        #expect(result.output.trimmingSpaces == "\(result.pid)")
    }

    @Test func exitStatusAndSignalsAreData() throws {
        #expect(try run("exit 3").end == .exited(3))
        #expect(try run("kill -9 $$").end == .signaled(SIGKILL))
    }

    @Test func aMissingExecutableIsAnErrorNotAnExit() {
        #expect(throws: SystemdError.self) {
            _ = try ChildProcess.spawn(SpawnOptions(executable: "/nonexistent/stormlab-test"))
        }
    }

    @Test func journalFieldNamesAreValid() {
        #expect(Journal.fieldName(forMetadataKey: "lab.instance") == "STORMLAB_LAB_INSTANCE")
        #expect(Journal.fieldName(forMetadataKey: "run-id") == "STORMLAB_RUN_ID")
    }
}

extension String {
    var trimmingSpaces: String { String(drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed()) }
}
