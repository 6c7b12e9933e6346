import Injectors
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct NFTablesRuleTests {
    let tables = NFTables(runID: "20261125-0300-ab.cd")

    @Test func theTableIsNamedAfterTheRun() {
        #expect(tables.table == "stormlab_20261125_0300_ab_cd")
    }

    @Test func aPartitionDropsBothWays() {
        let rules = tables.rules(for: PacketFault(name: "split", from: ["127.1.1.1"], to: ["127.1.1.2", "127.1.1.3"], effect: .drop))
        #expect(rules.count == 4)
        #expect(rules.contains("add rule inet stormlab_20261125_0300_ab_cd faults ip saddr 127.1.1.1 ip daddr 127.1.1.2 drop comment \"split\""))
        #expect(rules.contains("add rule inet stormlab_20261125_0300_ab_cd faults ip saddr 127.1.1.3 ip daddr 127.1.1.1 drop comment \"split\""))
    }

    @Test func oneWayLossAndBandwidth() {
        let loss = tables.rules(for: PacketFault(name: "l", from: ["127.1.1.1"], to: ["127.1.1.2"], bothWays: false, effect: .loss(0.25)))
        #expect(loss == ["add rule inet stormlab_20261125_0300_ab_cd faults ip saddr 127.1.1.1 ip daddr 127.1.1.2 numgen random mod 1000 < 250 drop comment \"l\""])
        let rate = tables.rules(for: PacketFault(name: "b\"x", from: ["127.1.1.1"], to: ["127.1.1.2"], bothWays: false, effect: .bandwidth(bytesPerSecond: 125_000)))
        #expect(rate.first?.hasSuffix("limit rate over 125000 bytes/second drop comment \"bx\"") == true)
    }
}

/// Real rules in the kernel: a TCP connect across a partitioned link fails, another link still
/// works, and after the revert the link works again.
@Suite(.serialized, .timeLimit(.minutes(1)), .enabled(if: NFTables.isUsable, "needs root and the nft command (nftables)"))
struct NFTablesKernelTests {
    /// A listening TCP socket on `host`; returns its fd and port.
    func listen(on host: String) -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, host, &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// Connects from `source` to `host:port` with a 300 ms timeout.
    func canConnect(from source: String, to host: String, port: UInt16) -> Bool {
        let fd = connectedSocket(from: source, to: host, port: port, nonBlocking: true)
        defer { close(fd) }
        var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard Glibc.poll(&poll, 1, 300) == 1 else { return false }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0
    }

    @Test(arguments: [PacketFault.Effect.drop, .reject])
    func aPartitionCutsExactlyOneLinkUntilReverted(_ effect: PacketFault.Effect) throws {
        let prefix = "127.\(UInt8.random(in: 100...199)).\(UInt8.random(in: 1...254))"
        let (a, b, c) = ("\(prefix).1", "\(prefix).2", "\(prefix).3")
        let tables = NFTables(runID: "test-\(getpid())-\(UInt16.random(in: 0...9999))")
        defer { try? tables.removeTable() }
        let (server, port) = listen(on: b)
        defer { close(server) }
        #expect(canConnect(from: a, to: b, port: port))

        try tables.apply(PacketFault(name: "a-b", from: [a], to: [b], effect: effect))
        #expect(!canConnect(from: a, to: b, port: port), "A cannot reach B")
        #expect(canConnect(from: c, to: b, port: port), "C still reaches B")

        try tables.revert("a-b")
        try tables.revert("a-b")  // twice is harmless
        #expect(canConnect(from: a, to: b, port: port), "healed")
        try tables.removeTable()
        #expect(try !tables.tableExists())
        try tables.removeTable()
    }
}
