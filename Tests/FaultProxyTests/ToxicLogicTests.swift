import NIOCore
import Testing

@testable import FaultProxy

@Suite("Toxic policies, selectors and the registry (no sockets)")
struct ToxicLogicTests {
    @Test("between() covers both orientations and nothing inside a group")
    func betweenSelector() {
        let selector = LinkSelector.between(["a-1", "a-2"], ["b-1"])
        #expect(selector.directions(for: Link(from: "a-1", to: "b-1")) == .both)
        #expect(selector.directions(for: Link(from: "b-1", to: "a-2")) == .both)
        #expect(!selector.matches(Link(from: "a-1", to: "a-2")))
        #expect(!selector.matches(Link(from: "c-1", to: "b-1")))
        let oneWay = LinkSelector(from: ["a-1"], to: .any, directions: .upstream)
            .union(LinkSelector(from: .any, to: ["a-1"], directions: .downstream))
        #expect(oneWay.directions(for: Link(from: "a-1", to: "a-1")) == .both)
        #expect(oneWay.directions(for: Link(from: "x", to: "a-1")) == .downstream)
    }

    @Test("latency keeps every chunk within delay ± jitter")
    func latencyBounds() {
        var policy = LatencyToxic(delay: .milliseconds(50), jitter: .milliseconds(20))
            .makePolicy(for: .upstream, random: ToxicRandom(seed: 1))
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for _ in 0..<1000 {
            guard case .forward(let at) = policy.admit(byteCount: 10, now: now).value else {
                Issue.record("latency must forward")
                return
            }
            #expect(at - now >= .milliseconds(30))
            #expect(at - now <= .milliseconds(70))
        }
    }

    @Test("bandwidth releases n bytes after n / rate seconds, after the burst")
    func bandwidthSchedule() {
        var policy = BandwidthPolicy(rate: 1000, burst: 500)
        let now = NIODeadline.uptimeNanoseconds(10_000_000_000)
        #expect(policy.admit(byteCount: 500, now: now) == .forward(at: now))
        #expect(policy.admit(byteCount: 1000, now: now) == .forward(at: now + .seconds(1)))
        #expect(policy.maximumChunkSize == 1024)
    }

    @Test("the registry decodes plan attributes", arguments: [
        ("latency", ["delay": "100ms", "jitter": "10ms"], "latency(0.1 seconds, jitter 0.01 seconds)"),
        ("latency", ["latency": "2"], "latency(0.002 seconds, jitter 0.0 seconds)"),
        ("bandwidth", ["rate": "64KiB"], "bandwidth(65536 B/s, burst 0 B)"),
        ("loss", ["probability": "0.1", "mode": "stall", "stall": "1s"], "loss(p 0.1, stall 1.0 seconds)"),
        ("loss", ["probability": "1", "mode": "reset"], "loss(p 1.0, reset)"),
        ("partition", [:], "partition"),
        ("reset", [:], "reset"),
        ("blackhole", [:], "blackhole"),
    ])
    func registryDecodes(kind: String, attributes: [String: String], expected: String) throws {
        let toxic = try ToxicRegistry.standard.decode(kind: kind, attributes: attributes)
        #expect(toxic.description == expected)
    }

    @Test("the registry rejects bad attributes", arguments: [
        ("latency", [:]),
        ("latency", ["delay": "fast"]),
        ("latency", ["delay": "10ms", "jiter": "1ms"]),
        ("bandwidth", ["rate": "-5"]),
        ("loss", ["probability": "1.5"]),
        ("loss", ["probability": "0.5", "mode": "explode"]),
        ("partition", ["groups": "x"]),
        ("earthquake", [:]),
    ] as [(String, [String: String])])
    func registryRejects(kind: String, attributes: [String: String]) {
        #expect(throws: FaultProxyError.self) {
            try ToxicRegistry.standard.decode(kind: kind, attributes: attributes)
        }
    }

    @Test("partition is connection-level only when it covers both directions")
    func partitionEffect() {
        #expect(PartitionToxic().connectionEffect(covering: .both) == ConnectionEffect(resetsNewConnections: false))
        #expect(PartitionToxic().connectionEffect(covering: .upstream) == nil)
        #expect(ResetToxic().connectionEffect(covering: .downstream) == ConnectionEffect(resetsNewConnections: true))
    }
}
