import Overlay
import OverlayWire
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `stormlab` executable built beside the test bundle.
let stormlabExecutable: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let own = count > 0 ? buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : CommandLine.arguments[0]
    let folder = own.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return "\(folder)/stormlab"
}()

/// A fresh folder under /tmp for one test's sockets and logs.
func makeTemporaryFolder() -> String {
    var template = Array("/tmp/stormlab-e2e-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

func removeTemporaryFolder(_ path: String) {
    guard path.hasPrefix("/tmp/stormlab-e2e-") else { return }
    _ = system("rm -rf '\(path)'")
}

/// A loopback address no other test uses at the same time: 127.A.B.C with A.B random.
func freshLoopbackPrefix() -> String {
    "127.\(UInt8.random(in: 20...99)).\(UInt8.random(in: 1...254))"
}

/// Runs `body` with a cluster of real processes, always shutting every process down afterwards.
func withCluster<T>(
    _ configure: (inout LocalClusterLayout) -> Void,
    _ body: (LocalCluster) async throws -> T
) async throws -> T {
    let folder = makeTemporaryFolder()
    var layout = LocalClusterLayout(executable: stormlabExecutable, directory: folder)
    configure(&layout)
    let cluster = try LocalCluster(layout: layout)
    do {
        try cluster.start()
        try await cluster.waitReady(timeout: .seconds(30))
        let result = try await body(cluster)
        await cluster.shutdown()
        removeTemporaryFolder(folder)
        return result
    } catch {
        await cluster.shutdown()
        // Keep the logs of a failed test.
        Issue.record("instance logs kept in \(folder)")
        throw error
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
func eventually(within timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await condition()
}

/// A blocking TCP connection for sending raw bytes, with a receive timeout.
struct RawConnection {
    let fd: Int32

    init(to endpoint: Endpoint) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = endpoint.port.bigEndian
        inet_pton(AF_INET, endpoint.host, &address.sin_addr)
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            Glibc.close(fd)
            throw LocalClusterError(message: "connect to \(endpoint): errno \(errno)")
        }
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Half-closes the sending side (the peer sees EOF).
    func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until the peer closes (or the timeout), then decodes what came as frames.
    func receiveUntilClosed() -> (messages: [Message], closed: Bool) {
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var closed = false
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { closed = true; break }
            if count < 0 { break }
            decoder.append(buffer[0..<count])
        }
        var messages: [Message] = []
        while let message = try? decoder.next() { messages.append(message) }
        return (messages, closed)
    }

    func close() { Glibc.close(fd) }
}
