import NIOCore
import NIOPosix
import Testing

@testable import FaultProxy

/// End-to-end tests on real loopback sockets: clients on 127.0.1.1 (a) and 127.0.3.1 (c), echo
/// servers for b (127.0.2.1) and a, the proxy routing to both. Serialized: timing tolerances
/// assume the two cores are not shared with the suite's own other tests.
@Suite("FaultProxy on loopback sockets", .serialized, .timeLimit(.minutes(1)))
struct ProxySocketTests {
    @Test("forwarding is byte-exact both ways, with half-close")
    func forwardingIsByteExact() async throws {
        try await Lab.run { lab in
            let payload = randomBytes(4 << 20)
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            try await peer.send(payload)
            try await peer.shutDownOutput()
            let outcome = await peer.waitForEnd(within: .seconds(20))
            #expect(outcome == .closed(payload.count))
            #expect(peer.received == payload)
            await peer.close()
            let link = lab.proxy.counters().links[Link(from: "a", to: "b")]
            #expect(link?.bytesUpstream == payload.count)
            #expect(link?.bytesDownstream == payload.count)
            #expect(link?.connectionsAccepted == 1)
        }
    }

    @Test("the server sees the client's own address")
    func upstreamKeepsClientAddress() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.c, to: lab.routeB)
            _ = try await peer.roundTrip(Array("hello".utf8))
            await peer.close()
            #expect(lab.echoB.connectionsAccepted == 1)
            #expect(lab.proxy.counters().links[Link(from: "c", to: "b")]?.connectionsAccepted == 1)
        }
    }

    @Test("latency adds the configured delay: every round trip ≥ 100 ms, their median < 100 + 150 ms")
    func latencyAddsDelay() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            let before = try await peer.roundTrip(Array("ping".utf8))
            try await lab.proxy.apply(
                LatencyToxic(delay: .milliseconds(100)),
                named: "slow",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .upstream)
            )
            var samples: [Duration] = []
            for _ in 0..<5 { samples.append(try await peer.roundTrip(Array("ping".utf8))) }
            // A floor holds for every round trip; a ceiling only for the median, which one
            // round trip delayed by a busy machine's scheduling does not move.
            #expect(samples.allSatisfy { $0 >= .milliseconds(100) }, "\(samples)")
            #expect(median(samples) < .milliseconds(250), "\(samples)")
            await lab.proxy.revert(named: "slow")
            // Reverted: no round trip carries the delay any more. The fastest of three, so a
            // busy machine's scheduling hiccup is not taken for a delay still applied.
            var after = Duration.seconds(1)
            for _ in 0..<3 { after = min(after, try await peer.roundTrip(Array("ping".utf8))) }
            #expect(after < .milliseconds(100), "before \(before), after \(after)")
            await peer.close()
        }
    }

    @Test("jitter: every round trip ≥ delay − jitter, their median < delay + jitter + 150 ms, and they vary")
    func jitterStaysWithinBounds() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            try await lab.proxy.apply(
                LatencyToxic(delay: .milliseconds(60), jitter: .milliseconds(30)),
                named: "jitter",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .downstream)
            )
            var samples: [Duration] = []
            for _ in 0..<20 {
                samples.append(try await peer.roundTrip(Array("ping".utf8)))
            }
            #expect(samples.allSatisfy { $0 >= .milliseconds(30) }, "\(samples)")
            #expect(median(samples) < .milliseconds(90 + 150), "\(samples)")
            let spread = samples.max()! - samples.min()!
            #expect(spread > .milliseconds(10), "jitter should vary delays; samples \(samples)")
            await peer.close()
        }
    }

    @Test("bandwidth limits throughput: 128 KiB at 256 KiB/s takes 0.5 s (≥ 0.45 s, < 1.0 s)")
    func bandwidthLimitsThroughput() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            try await lab.proxy.apply(
                BandwidthToxic(bytesPerSecond: 256 << 10),
                named: "thin",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .upstream)
            )
            let payload = randomBytes(128 << 10, seed: 7)
            let elapsed = try await peer.roundTrip(payload, within: .seconds(10))
            #expect(elapsed >= .milliseconds(450))
            #expect(elapsed < .milliseconds(1000))
            #expect(peer.received == payload)
            await peer.close()
        }
    }

    @Test("partition between groups: a cannot reach b, c can; live connections reset; heal restores")
    func partitionBetweenGroups() async throws {
        try await Lab.run { lab in
            let live = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await live.roundTrip(Array("before".utf8))

            try await lab.proxy.apply(PartitionToxic(), named: "split", to: .between(["a"], ["b"]))
            #expect(await live.waitForEnd(within: .seconds(2)) == .reset(6))
            await live.close()

            #expect(await Peer.attempt(from: Lab.a, to: lab.routeB) == .closed(0))

            let other = try await Peer.connect(from: Lab.c, to: lab.routeB)
            _ = try await other.roundTrip(Array("still fine".utf8))
            await other.close()

            // b -> a is between the groups too.
            #expect(await Peer.attempt(from: Lab.b, to: lab.routeA) == .closed(0))

            #expect(await lab.proxy.revert(named: "split"))
            #expect(await lab.proxy.revert(named: "split") == false)
            let healed = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await healed.roundTrip(Array("after".utf8))
            await healed.close()

            let counters = lab.proxy.counters()
            #expect(counters.links[Link(from: "a", to: "b")]?.connectionsReset == 1)
            #expect(counters.links[Link(from: "a", to: "b")]?.connectionsRefused == 1)
            #expect(counters.toxicsApplied == 1)
            #expect(counters.toxicsReverted == 1)
            #expect(counters.activeToxics.isEmpty)
        }
    }

    @Test("one-way partition a→b: a cannot reach b, b still reaches a")
    func oneWayPartition() async throws {
        try await Lab.run { lab in
            try await lab.proxy.apply(PartitionToxic(), named: "one-way", to: LinkSelector(from: ["a"], to: ["b"]))
            #expect(await Peer.attempt(from: Lab.a, to: lab.routeB) == .closed(0))
            let reverse = try await Peer.connect(from: Lab.b, to: lab.routeA)
            _ = try await reverse.roundTrip(Array("b to a".utf8))
            await reverse.close()
            await lab.proxy.revert(named: "one-way")
        }
    }

    @Test("partition of one direction only: downstream bytes vanish, upstream still arrive")
    func partitionOfOneDirection() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await peer.roundTrip(Array("hi".utf8))
            try await lab.proxy.apply(
                PartitionToxic(),
                named: "down",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .downstream)
            )
            try await peer.send(Array("lost".utf8))
            #expect(await peer.wait(forTotal: 6, within: .milliseconds(300)) == .silent(2))
            #expect(lab.echoB.bytesReceived == 6)
            #expect(lab.proxy.counters().links[Link(from: "a", to: "b")]?.bytesDiscarded == 4)
            await lab.proxy.revert(named: "down")
            _ = try await peer.roundTrip(Array("back".utf8))
            #expect(peer.received == Array("hiback".utf8))
            await peer.close()
        }
    }

    @Test("reset toxic resets live connections and new ones; revert restores")
    func resetToxic() async throws {
        try await Lab.run { lab in
            let live = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await live.roundTrip(Array("x".utf8))
            try await lab.proxy.apply(ResetToxic(), named: "rst", to: LinkSelector(from: ["a"], to: ["b"]))
            #expect(await live.waitForEnd(within: .seconds(2)) == .reset(1))
            await live.close()
            #expect(await Peer.attempt(from: Lab.a, to: lab.routeB) == .reset(0))
            await lab.proxy.revert(named: "rst")
            let healed = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await healed.roundTrip(Array("ok".utf8))
            await healed.close()
        }
    }

    @Test("blackhole keeps the connection open with no answer; revert resumes forwarding")
    func blackhole() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await peer.roundTrip(Array("one".utf8))
            try await lab.proxy.apply(BlackholeToxic(), named: "hole", to: LinkSelector(from: ["a"], to: ["b"], directions: .upstream))
            try await peer.send(Array("void".utf8))
            #expect(await peer.wait(forTotal: 7, within: .milliseconds(500)) == .silent(3))
            #expect(lab.echoB.bytesReceived == 3)
            await lab.proxy.revert(named: "hole")
            _ = try await peer.roundTrip(Array("two".utf8))
            #expect(peer.received == Array("onetwo".utf8))
            await peer.close()
        }
    }

    @Test("removing a latency toxic mid-stream loses no data and keeps order")
    func removingLatencyMidStream() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            try await lab.proxy.apply(
                LatencyToxic(delay: .milliseconds(200), jitter: .milliseconds(50)),
                named: "lag",
                to: LinkSelector(from: ["a"], to: ["b"])
            )
            let payload = randomBytes(1 << 20, seed: 3)
            let chunk = 16 << 10
            for (index, start) in stride(from: 0, to: payload.count, by: chunk).enumerated() {
                try await peer.send(Array(payload[start..<min(start + chunk, payload.count)]))
                if index == 32 {
                    await lab.proxy.revert(named: "lag")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            try await peer.shutDownOutput()
            #expect(await peer.waitForEnd(within: .seconds(20)) == .closed(payload.count))
            #expect(peer.received == payload)
            await peer.close()
        }
    }

    @Test("attribution by source address: only a's connections get the toxic")
    func attributionBySourceAddress() async throws {
        try await Lab.run { lab in
            try await lab.proxy.apply(
                LatencyToxic(delay: .milliseconds(150)),
                named: "a-only",
                to: LinkSelector(from: ["a"], to: .any)
            )
            let fromA = try await Peer.connect(from: Lab.a, to: lab.routeB)
            let fromC = try await Peer.connect(from: Lab.c, to: lab.routeB)
            let slow = try await fromA.roundTrip(Array("a".utf8))
            let fast = try await fromC.roundTrip(Array("c".utf8))
            #expect(slow >= .milliseconds(150))
            #expect(fast < .milliseconds(100))
            await fromA.close()
            await fromC.close()
            let links = lab.proxy.counters().links
            #expect(links[Link(from: "a", to: "b")]?.connectionsAccepted == 1)
            #expect(links[Link(from: "c", to: "b")]?.connectionsAccepted == 1)
        }
    }

    @Test("loss: stall holds a hit chunk back; drop discards it")
    func loss() async throws {
        try await Lab.run { lab in
            let peer = try await Peer.connect(from: Lab.a, to: lab.routeB)
            try await lab.proxy.apply(
                LossToxic(probability: 1, mode: .stall(.milliseconds(120))),
                named: "stall",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .upstream)
            )
            let rtt = try await peer.roundTrip(Array("s".utf8))
            #expect(rtt >= .milliseconds(120))
            #expect(rtt < .milliseconds(120 + 150))
            await lab.proxy.revert(named: "stall")
            try await lab.proxy.apply(
                LossToxic(probability: 1, mode: .drop),
                named: "drop",
                to: LinkSelector(from: ["a"], to: ["b"], directions: .upstream)
            )
            try await peer.send(Array("gone".utf8))
            #expect(await peer.wait(forTotal: 5, within: .milliseconds(300)) == .silent(1))
            await lab.proxy.revert(named: "drop")
            await peer.close()
            #expect(lab.proxy.counters().links[Link(from: "a", to: "b")]?.bytesDiscarded == 4)
        }
    }

    @Test("an unreachable upstream resets the client; other routes are unaffected")
    func unreachableUpstream() async throws {
        try await Lab.run { lab in
            // Bind a port, then free it, so nothing listens there.
            let probe = try await EchoServer.start(host: Lab.c, group: MultiThreadedEventLoopGroup.singleton)
            let deadAddress = probe.address
            try await probe.close()
            let dead = try await lab.proxy.addRoute(
                .init(name: "dead", listen: try SocketAddress(ipAddress: Lab.c, port: 0), upstream: deadAddress, upstreamInstance: "c")
            )
            #expect(await Peer.attempt(from: Lab.a, to: dead) == .reset(0))
            let fine = try await Peer.connect(from: Lab.a, to: lab.routeB)
            _ = try await fine.roundTrip(Array("ok".utf8))
            await fine.close()
            await lab.proxy.removeRoute(named: "dead")
        }
    }

    @Test("a toxic name is applied once; reverting twice is harmless")
    func toxicIdentity() async throws {
        try await Lab.run { lab in
            try await lab.proxy.apply(BlackholeToxic(), named: "x", to: .all())
            await #expect(throws: FaultProxyError.self) {
                try await lab.proxy.apply(BlackholeToxic(), named: "x", to: .all())
            }
            #expect(await lab.proxy.revert(named: "x"))
            #expect(await lab.proxy.revert(named: "x") == false)
            try await lab.proxy.apply(LatencyToxic(delay: .milliseconds(1)), named: "x", to: .all())
            await lab.proxy.revertAll()
            #expect(lab.proxy.activeToxics.isEmpty)
        }
    }

    @Test("overhead measurement: proxy vs direct loopback, side by side")
    func overhead() async throws {
        let figures = try await FaultProxy.measureOverhead(requests: 1000, throughputBytes: 32 << 20)
        print("FaultProxy overhead: \(figures)")
        #expect(figures.proxied.p50 > .zero)
        #expect(figures.proxiedMiBPerSecond > 10)
        #expect(figures.addedP50 < .milliseconds(5))
    }
}
