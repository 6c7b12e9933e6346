import LabSpec

#if canImport(Glibc)
import Glibc
#endif

/// The rumoured 2007 exploit as a load step: malformed requests at a port, at a rate, over
/// several connections, until cancelled. Generic to length-prefixed protocols: random garbage,
/// zeros, an oversized length prefix, a frame cut short.
struct MalformedFlood {
    let fault: MalformedFloodFault
    let targets: [String]

    /// Floods until cancelled; returns what it did.
    func run() async -> String {
        let workers = max(1, fault.connections)
        let pause = Duration.seconds(Double(workers) / max(fault.rate, 0.001))
        let totals = await withTaskGroup(of: (sent: Int, refused: Int).self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var sent = 0
                    var refused = 0
                    var generator = SystemRandomNumberGenerator()
                    var turn = worker
                    while !Task.isCancelled {
                        let target = targets.isEmpty ? nil : targets[turn % targets.count]
                        let payload = fault.payloads.isEmpty ? .garbage : fault.payloads[turn % fault.payloads.count]
                        turn += 1
                        if let target, Self.send(bytes(payload, using: &generator), to: target, port: fault.port) {
                            sent += 1
                        } else {
                            refused += 1
                        }
                        try? await Task.sleep(for: pause)
                    }
                    return (sent, refused)
                }
            }
            var total = (sent: 0, refused: 0)
            for await part in group {
                total.sent += part.sent
                total.refused += part.refused
            }
            return total
        }
        return "\(totals.sent) malformed requests sent, \(totals.refused) connections refused or timed out"
    }

    private func bytes(_ payload: MalformedPayload, using generator: inout SystemRandomNumberGenerator) -> [UInt8] {
        switch payload {
        case .garbage: (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case .zeros: [UInt8](repeating: 0, count: 64)
        case .oversized: [0x7F, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0x41, count: 60)
        case .truncated: [0x00, 0x00, 0x10, 0x00, 0x01, 0x00]
        }
    }

    /// Connects (250 ms at most), writes, reads what comes back for a moment, closes.
    static func send(_ bytes: [UInt8], to host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return false }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard Glibc.poll(&poll, 1, 250) == 1 else { return false }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        guard error == 0 else { return false }
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // Give the server a moment to answer (an error frame) before closing.
        var read = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = Glibc.poll(&read, 1, 20)
        return written > 0
    }
}
