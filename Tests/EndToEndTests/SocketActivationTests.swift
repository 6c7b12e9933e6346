import Overlay
import OverlayWire
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A role takes its listening socket from fd 3 (LISTEN_FDS) and serves on it; the socket outlives
/// the process, so a restarted instance keeps its address and queued connections are answered.
@Suite(.serialized, .timeLimit(.minutes(1)), .enabled(if: Libsystemd.isAvailable, "libsystemd.so.0 is not installed on this host"))
struct SocketActivationTests {
    /// A TCP socket bound and listening on `host`, port chosen by the kernel.
    func listeningSocket(host: String) throws -> (fd: Int32, endpoint: Endpoint) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, host, &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw LocalClusterError(message: "bind \(host): errno \(errno)") }
        return (fd, Endpoint(host: host, port: UInt16(bigEndian: address.sin_port)))
    }

    func spawnAuth(fd: Int32, notify: NotifyReceiver, folder: String) throws -> Int32 {
        try ChildProcess.spawn(SpawnOptions(
            executable: stormlabExecutable,
            arguments: ["auth", "--no-metrics", "--hash-iterations", "10", "--seed", "activation", "--log-level", "warning"],
            environment: ["NOTIFY_SOCKET": notify.path, "STORMLAB_LOG": "stderr"],
            listenFDs: [(fd, "overlay")]
        ))
    }

    func waitReady(_ receiver: NotifyReceiver, pid: Int32) throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let message = try receiver.receive(timeout: .milliseconds(200)), message.pid == pid, message["READY"] == "1" {
                return true
            }
        }
        return false
    }

    @Test func authServesOnAPassedSocketAndKeepsItsAddressAcrossARestart() async throws {
        let folder = makeTemporaryFolder()
        defer { removeTemporaryFolder(folder) }
        let receiver = try NotifyReceiver(path: "\(folder)/notify.sock")
        defer { receiver.close() }
        let (fd, endpoint) = try listeningSocket(host: "\(freshLoopbackPrefix()).1")
        defer { close(fd) }

        var pid = try spawnAuth(fd: fd, notify: receiver, folder: folder)
        defer { kill(pid, SIGKILL); _ = ChildProcess.wait(pid) }
        #expect(try waitReady(receiver, pid: pid))
        var storm = LoginStorm(auth: endpoint, seed: "activation")
        storm.connections = 2
        storm.limit = 10
        #expect(await storm.run().tokens == 10)

        // Kill it: the socket stays open in this process, so a client connects while auth is down…
        kill(pid, SIGKILL)
        #expect(ChildProcess.wait(pid) == .signaled(SIGKILL))
        let waiting = try RawConnection(to: endpoint)
        defer { waiting.close() }
        waiting.send(FrameCodec.encode(.login(user: "user-5", password: SyntheticUsers.password(for: "user-5", seed: "activation"))))
        waiting.finishSending()
        // …and the restarted instance, handed the same socket, answers the queued login.
        pid = try spawnAuth(fd: fd, notify: receiver, folder: folder)
        #expect(try waitReady(receiver, pid: pid))
        let reply = waiting.receiveUntilClosed().messages
        guard case .token(let token)? = reply.first else {
            Issue.record("expected a token for the queued login, got \(reply)")
            return
        }
        #expect(token.user == "user-5")

        // SIGTERM: STOPPING=1 and exit 0.
        kill(pid, SIGTERM)
        let clock = ContinuousClock()
        let asked = clock.now
        #expect(ChildProcess.wait(pid) == .exited(0))
        let stopping = try receiver.receive(timeout: .seconds(1))
        #expect(stopping?["STOPPING"] == "1" || stopping?["STATUS"] != nil)
        let tookSeconds = (clock.now - asked).components.seconds
        #expect(tookSeconds < 2, "stopped in \(clock.now - asked)")
    }
}
