import OverlayWire
import Testing
@testable import Overlay

@Suite struct AuthAdmissionTests {
    @Test func legacyQueuesEverything() {
        let admission = AuthAdmission(policy: .legacy, queueLimit: 10, workers: 2)
        #expect(admission.admit(queued: 1_000_000, serviceTime: .milliseconds(5)) == .enqueue)
    }

    @Test func adaptiveAnswersBusyAtTheLimitWithADrainTime() {
        let admission = AuthAdmission(policy: .adaptive, queueLimit: 100, workers: 2)
        #expect(admission.admit(queued: 99, serviceTime: .milliseconds(5)) == .enqueue)
        // 100 waiting over 2 workers at 5 ms each drain in 250 ms.
        #expect(admission.admit(queued: 100, serviceTime: .milliseconds(5)) == .busy(retryAfter: .milliseconds(250)))
        // Bounded below and above.
        #expect(admission.admit(queued: 100, serviceTime: .microseconds(1)) == .busy(retryAfter: .milliseconds(50)))
        #expect(admission.admit(queued: 100, serviceTime: .seconds(60)) == .busy(retryAfter: .seconds(10)))
    }
}

@Suite struct SupernodeAdmissionTests {
    @Test func legacyAcceptsUntilItFallsOver() {
        let admission = SupernodeAdmission(policy: .legacy, capacity: 100, overloadFactor: 1.25)
        #expect(admission.hardLimit == 125)
        #expect(admission.admit(attached: 124, peers: []) == .accept)
        #expect(admission.admit(attached: 125, peers: []) == .overload)
    }

    @Test func adaptiveRedirectsToTheLeastLoadedPeerBelowNinetyPercent() {
        let admission = SupernodeAdmission(policy: .adaptive, capacity: 100)
        #expect(admission.admit(attached: 99, peers: []) == .accept)
        let peers = [("a", 0.95), ("b", 0.5), ("c", 0.3)]
        #expect(admission.admit(attached: 100, peers: peers) == .redirect(to: "c"))
        #expect(admission.admit(attached: 100, peers: [("a", 0.95), ("b", 0.9)]) == .busy(retryAfter: .seconds(1)))
    }
}

@Suite struct RetryPolicyTests {
    @Test func legacyRetriesAtAFixedDelayForever() {
        var retry = RetryPolicy(policy: .legacy, fixedDelay: .milliseconds(250))
        for step in 0..<50 {
            #expect(retry.failed(now: .seconds(step), retryAfter: .seconds(5), random: 0.9) == .wait(.milliseconds(250)))
        }
    }

    @Test func adaptiveBackoffStaysWithinItsExponentialCeiling() {
        var retry = RetryPolicy(policy: .adaptive, base: .milliseconds(100), cap: .seconds(10), budgetBurst: 100)
        for attempt in 0..<12 {
            let ceiling = min(Duration.seconds(10), .milliseconds(100) * Double(1 << attempt))
            // random = 1 draws the ceiling itself; full jitter draws from [0, ceiling].
            guard case .wait(let delay) = retry.failed(now: .zero, retryAfter: nil, random: 0.999_999) else { return }
            #expect(delay <= ceiling)
            #expect(delay >= ceiling * 0.99)
        }
        retry.succeeded()
        #expect(retry.failed(now: .zero, retryAfter: nil, random: 0.5) == .wait(.milliseconds(50)))
    }

    @Test func adaptiveHonoursRetryAfter() {
        var retry = RetryPolicy(policy: .adaptive)
        #expect(retry.failed(now: .zero, retryAfter: .seconds(3), random: 0) == .wait(.seconds(3)))
    }

    @Test func anEmptyBudgetSlowsRetriesToTheCap() {
        var retry = RetryPolicy(policy: .adaptive, base: .milliseconds(10), cap: .seconds(8), budgetBurst: 2, budgetRefillPerSecond: 0)
        _ = retry.failed(now: .zero, retryAfter: nil, random: 0)
        _ = retry.failed(now: .zero, retryAfter: nil, random: 0)
        #expect(retry.failed(now: .zero, retryAfter: nil, random: 0) == .wait(.seconds(4)))
        // Refilled over time, the budget lets fast retries through again.
        var refilling = RetryPolicy(policy: .adaptive, base: .milliseconds(10), cap: .seconds(8), budgetBurst: 1, budgetRefillPerSecond: 1)
        _ = refilling.failed(now: .zero, retryAfter: nil, random: 0)
        #expect(refilling.failed(now: .seconds(2), retryAfter: nil, random: 0) == .wait(.zero))
    }
}

@Suite struct PromotionPolicyTests {
    let fresh = [PromotionPolicy.Candidate(process: "client-1", onlineSeconds: 30), .init(process: "client-2", onlineSeconds: 45)]

    @Test func legacyPromotesNobodyAfterAMassRestart() {
        var policy = PromotionPolicy(policy: .legacy)
        for second in 0..<100 {
            #expect(policy.evaluate(now: .seconds(second), poolLoad: 1.5, candidates: fresh) == .none)
        }
        // Only a client online for an hour would qualify.
        #expect(policy.evaluate(now: .seconds(100), poolLoad: 1.5, candidates: [.init(process: "old", onlineSeconds: 4000)]) == .promote(process: "old"))
    }

    @Test func adaptivePromotesByLoadWithHysteresisAndPacing() {
        var policy = PromotionPolicy(policy: .adaptive, high: 0.8, low: 0.6, interval: .seconds(2))
        #expect(policy.evaluate(now: .seconds(0), poolLoad: 0.7, candidates: fresh) == .none)
        #expect(policy.evaluate(now: .seconds(1), poolLoad: 0.85, candidates: fresh) == .promote(process: "client-2"))
        #expect(policy.evaluate(now: .seconds(2), poolLoad: 0.85, candidates: fresh) == .none)  // paced
        // Between the thresholds it keeps going once started…
        #expect(policy.evaluate(now: .seconds(4), poolLoad: 0.7, candidates: fresh) == .promote(process: "client-2"))
        // …and stops below the low mark, not restarting until above the high one.
        #expect(policy.evaluate(now: .seconds(7), poolLoad: 0.5, candidates: fresh) == .none)
        #expect(policy.evaluate(now: .seconds(10), poolLoad: 0.7, candidates: fresh) == .none)
    }

    @Test func adaptiveSkipsClientsOnlineOnlyMoments() {
        var policy = PromotionPolicy(policy: .adaptive, minimumOnline: 5)
        #expect(policy.evaluate(now: .zero, poolLoad: 0.95, candidates: [.init(process: "c", onlineSeconds: 1)]) == .none)
    }
}

@Suite struct MembershipTests {
    func info(_ name: String, port: UInt16 = 7200) -> PeerInfo {
        PeerInfo(name: name, endpoint: Endpoint(host: "127.0.0.1", port: port), clients: 0, capacity: 10, promoted: false)
    }

    @Test func membersExpireUnlessHeardFromDirectly() {
        var membership = Membership(selfName: "a", timeout: .seconds(3))
        membership.merge([info("b"), info("c"), info("a")], now: .zero)
        #expect(Set(membership.members.keys) == ["b", "c"])
        membership.merge([info("b"), info("c")], now: .seconds(2))  // b speaks, c is only mentioned
        #expect(membership.expire(now: .seconds(4)) == ["c"])
        // A rumour does not bring c back while its tombstone lasts…
        membership.merge([info("b"), info("c")], now: .seconds(5))
        #expect(membership.members["c"] == nil)
        // …but c speaking for itself does.
        membership.merge([info("c")], now: .seconds(5))
        #expect(membership.members["c"] != nil)
    }

    @Test func ownershipMovesOnlyTheEntriesOfANodeThatLeaves() {
        let nodes = (1...8).map { "supernode-\($0)" }
        let users = (1...2000).map { "user-\($0)" }
        let before = users.map { DirectoryOwnership.owner(of: $0, among: nodes)! }
        let after = users.map { DirectoryOwnership.owner(of: $0, among: nodes.filter { $0 != "supernode-3" })! }
        for (old, new) in zip(before, after) where old != "supernode-3" {
            #expect(old == new)
        }
        // Spread: every node owns a fair share.
        let counts = Dictionary(grouping: before, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 8)
        #expect(counts.values.allSatisfy { $0 > 150 && $0 < 350 })
    }
}
