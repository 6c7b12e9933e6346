/// Which behaviour a role follows: the 2007 overlay's, or one that heals.
public struct Policy: Sendable, Hashable, CustomStringConvertible {
    enum Value: String, Sendable, Hashable, CaseIterable {
        case legacy
        case adaptive
    }
    let value: Value

    /// The 2007 behaviour: unbounded queues, accept until falling over, promotion only of
    /// long-online clients, fast fixed retries without jitter.
    public static let legacy = Policy(value: .legacy)
    /// Bounded queues with BUSY and retry-after, redirects, promotion by load with hysteresis,
    /// exponential backoff with full jitter and a retry budget.
    public static let adaptive = Policy(value: .adaptive)

    /// Every policy, by name.
    public static let all: [Policy] = Value.allCases.map(Policy.init(value:))

    /// Parses `legacy` or `adaptive`.
    public init?(name: String) {
        guard let value = Value(rawValue: name) else { return nil }
        self.value = value
    }

    init(value: Value) {
        self.value = value
    }

    public var description: String { value.rawValue }
}

// MARK: - Auth admission

/// Decides whether auth queues a login or answers BUSY. Pure: the caller owns the queue.
public struct AuthAdmission: Sendable {
    public enum Action: Sendable, Hashable {
        /// Queue the login for a worker.
        case enqueue
        /// Answer BUSY, asking the client to come back after this long.
        case busy(retryAfter: Duration)
    }

    public var policy: Policy
    /// Logins waiting beyond the busy workers; adaptive answers BUSY at this depth.
    public var queueLimit: Int
    public var workers: Int

    public init(policy: Policy, queueLimit: Int, workers: Int) {
        self.policy = policy
        self.queueLimit = queueLimit
        self.workers = max(1, workers)
    }

    /// - Parameters:
    ///   - queued: logins accepted and not yet answered, this one excluded.
    ///   - serviceTime: the recent mean time one login takes on a worker.
    public func admit(queued: Int, serviceTime: Duration) -> Action {
        switch policy.value {
        case .legacy:
            return .enqueue
        case .adaptive:
            guard queued >= queueLimit else { return .enqueue }
            // Come back when the queue ahead has drained, never sooner than 50 ms nor later than 10 s.
            let drain = serviceTime * (Double(queued) / Double(workers))
            return .busy(retryAfter: min(max(drain, .milliseconds(50)), .seconds(10)))
        }
    }
}

// MARK: - Supernode admission

/// Decides what a supernode does with an attach. Pure: the caller knows its load and its peers.
public struct SupernodeAdmission: Sendable {
    public enum Action: Sendable, Hashable {
        case accept
        /// Send the client to this less-loaded peer.
        case redirect(to: String)
        case busy(retryAfter: Duration)
        /// The legacy node has taken more than it can hold and falls over.
        case overload
    }

    public var policy: Policy
    public var capacity: Int
    /// Legacy: the node falls over once it holds more than `capacity × overloadFactor`.
    public var overloadFactor: Double

    public init(policy: Policy, capacity: Int, overloadFactor: Double = 1.25) {
        self.policy = policy
        self.capacity = max(1, capacity)
        self.overloadFactor = overloadFactor
    }

    /// The attached count past which a legacy node falls over.
    public var hardLimit: Int { Int((Double(capacity) * overloadFactor).rounded(.down)) }

    /// - Parameters:
    ///   - attached: clients attached now, this one excluded.
    ///   - peers: other live supernodes with their load (attached / capacity). Adaptive redirects
    ///     only to a peer below 90% load, so redirects cannot ping-pong once the pool is full.
    public func admit(attached: Int, peers: [(name: String, load: Double)]) -> Action {
        switch policy.value {
        case .legacy:
            return attached + 1 > hardLimit ? .overload : .accept
        case .adaptive:
            guard attached >= capacity else { return .accept }
            if let target = peers.filter({ $0.load < 0.9 }).min(by: { $0.load < $1.load }) {
                return .redirect(to: target.name)
            }
            return .busy(retryAfter: .seconds(1))
        }
    }
}

// MARK: - Retry

/// A virtual client's retry schedule after a failed login, attach or lost session.
///
/// Legacy retries after a fixed delay with no jitter, forever: after a mass restart every client
/// comes back in lock-step. Adaptive backs off exponentially with full jitter (a uniform draw in
/// [0, min(cap, base × 2^attempt)]), honours a server's retry-after, and spends a retry budget:
/// a token bucket refilled over time, so that a client that keeps failing slows to the cap.
public struct RetryPolicy: Sendable {
    public enum Action: Sendable, Hashable {
        case wait(Duration)
    }

    public var policy: Policy
    public var base: Duration
    public var cap: Duration
    /// Legacy's fixed delay.
    public var fixedDelay: Duration
    /// Retries allowed in a burst, and how many tokens a second the budget regains.
    public var budgetBurst: Double
    public var budgetRefillPerSecond: Double

    private(set) var attempt = 0
    private(set) var tokens: Double
    private var lastRefill: Duration?

    public init(
        policy: Policy,
        base: Duration = .milliseconds(100),
        cap: Duration = .seconds(10),
        fixedDelay: Duration = .milliseconds(250),
        budgetBurst: Double = 5,
        budgetRefillPerSecond: Double = 0.5
    ) {
        self.policy = policy
        self.base = base
        self.cap = cap
        self.fixedDelay = fixedDelay
        self.budgetBurst = budgetBurst
        self.budgetRefillPerSecond = budgetRefillPerSecond
        self.tokens = budgetBurst
    }

    /// The delay before the next try after a failure at monotonic time `now`.
    /// - Parameters:
    ///   - retryAfter: what the server asked for in a BUSY, if anything.
    ///   - random: a uniform draw in [0, 1).
    public mutating func failed(now: Duration, retryAfter: Duration?, random: Double) -> Action {
        switch policy.value {
        case .legacy:
            return .wait(fixedDelay)
        case .adaptive:
            refill(now: now)
            let ceiling = min(cap, base * pow2(attempt))
            attempt += 1
            var delay = ceiling * random
            if tokens >= 1 {
                tokens -= 1
            } else {
                delay = max(delay, cap * (0.5 + random / 2))  // out of budget: slow to the cap
            }
            if let retryAfter { delay = max(delay, retryAfter) }
            return .wait(delay)
        }
    }

    /// A success resets the exponent (the budget refills with time only).
    public mutating func succeeded() {
        attempt = 0
    }

    private mutating func refill(now: Duration) {
        if let last = lastRefill {
            let seconds = Double((now - last).components.seconds) + Double((now - last).components.attoseconds) / 1e18
            tokens = min(budgetBurst, tokens + seconds * budgetRefillPerSecond)
        }
        lastRefill = now
    }

    private func pow2(_ n: Int) -> Double { Double(1 << min(n, 30)) }
}

// MARK: - Promotion

/// A supernode's choice of which client process, if any, to promote to supernode now.
///
/// Legacy qualifies only clients online longer than `minimumOnline` (hours in 2007, so after a
/// mass restart none qualifies however loaded the pool is). Adaptive promotes by the pool's
/// current load with hysteresis — it starts above `high` and keeps going until load falls below
/// `low` — and at most once per `interval`.
public struct PromotionPolicy: Sendable {
    public struct Candidate: Sendable, Hashable {
        public var process: String
        public var onlineSeconds: UInt32
        public init(process: String, onlineSeconds: UInt32) {
            self.process = process
            self.onlineSeconds = onlineSeconds
        }
    }

    public enum Action: Sendable, Hashable {
        case none
        case promote(process: String)
    }

    public var policy: Policy
    public var high: Double
    public var low: Double
    public var interval: Duration
    public var minimumOnline: UInt32

    private(set) var promoting = false
    private var lastPromotion: Duration?

    public init(
        policy: Policy,
        high: Double = 0.8,
        low: Double = 0.6,
        interval: Duration = .seconds(2),
        minimumOnline: UInt32? = nil
    ) {
        self.policy = policy
        self.high = high
        self.low = low
        self.interval = interval
        self.minimumOnline = minimumOnline ?? (policy == .legacy ? 3600 : 2)
    }

    /// - Parameters:
    ///   - poolLoad: attached clients over capacity across every live supernode.
    ///   - candidates: client processes attached here that are not supernodes yet.
    public mutating func evaluate(now: Duration, poolLoad: Double, candidates: [Candidate]) -> Action {
        if poolLoad > high { promoting = true } else if poolLoad < low { promoting = false }
        guard promoting else { return .none }
        if policy == .adaptive, let last = lastPromotion, now - last < interval { return .none }
        let eligible = candidates.filter { $0.onlineSeconds >= minimumOnline }
        guard let chosen = eligible.max(by: { ($0.onlineSeconds, $1.process) < ($1.onlineSeconds, $0.process) }) else {
            return .none
        }
        lastPromotion = now
        return .promote(process: chosen.process)
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
