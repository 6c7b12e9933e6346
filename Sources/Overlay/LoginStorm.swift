import NIOCore
import NIOPosix
import OverlayWire
import Synchronization

/// A bounded login load against an auth server: `connections` persistent connections, each
/// sending logins of distinct synthetic users one after another until `duration` passes or
/// `limit` logins were answered. Used by the benchmarks and by load steps.
public struct LoginStorm: Sendable {
    public var auth: Endpoint
    public var seed: String
    public var connections = 32
    public var duration = Duration.seconds(5)
    /// Stop after this many answers in all (a bound on the load, whatever the speed).
    public var limit = 1_000_000
    /// Users are drawn from `user-firstUser` on, each once.
    public var firstUser = 1
    /// The local address to connect from.
    public var bind: String?
    /// Logins per second, open loop: each login on a connection of its own, started on schedule
    /// whether or not earlier ones were answered (as a crowd of machines does), at most
    /// `connections` × 64 in flight. Nil: closed loop, `connections` connections each sending
    /// its next login when the last was answered.
    public var rate: Double?
    /// Open loop: a login unanswered this long counts as failed (its connection is closed).
    public var timeout = Duration.seconds(2)
    /// Where the storm's connections live. A storm run inside a process that does other work
    /// (the orchestrator scraping metrics) should get a group of its own, so thousands of
    /// connections do not queue that work behind them.
    public var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    public init(auth: Endpoint, seed: String) {
        self.auth = auth
        self.seed = seed
    }

    /// What a storm measured.
    public struct Result: Sendable {
        public var tokens = 0
        public var busy = 0
        public var rejected = 0
        public var failures = 0
        public var elapsed = Duration.zero
        /// Round-trip times of answered logins, in seconds, sorted.
        public var latencies: [Double] = []

        public var answered: Int { tokens + busy + rejected }
        public var tokensPerSecond: Double { Double(tokens) / max(elapsed.seconds, 1e-9) }

        /// The `q` quantile (0…1) of the round-trip times, nil when none.
        public func latency(quantile q: Double) -> Double? {
            guard !latencies.isEmpty else { return nil }
            return latencies[min(latencies.count - 1, Int((Double(latencies.count) * q).rounded(.down)))]
        }
    }

    public func run() async -> Result {
        if let rate { return await openLoop(rate: rate) }
        let clock = ContinuousClock()
        let started = clock.now
        let next = TicketCounter()
        let results = await withTaskGroup(of: Result.self) { group in
            for _ in 0..<max(1, connections) {
                group.addTask {
                    var result = Result()
                    guard let channel = try? await Framing.connect(to: auth, from: bind, group: self.group) else {
                        result.failures += 1
                        return result
                    }
                    _ = try? await channel.executeThenClose { inbound, outbound in
                        var iterator = inbound.makeAsyncIterator()
                        while clock.now - started < duration && !Task.isCancelled {
                            let index = next.take()
                            guard index < limit else { break }
                            let user = "user-\(firstUser + index)"
                            let sent = clock.now
                            try await outbound.write(.login(user: user, password: SyntheticUsers.password(for: user, seed: seed)))
                            switch try await iterator.next()?.message {
                            case .token: result.tokens += 1
                            case .busy: result.busy += 1
                            case .error: result.rejected += 1
                            default:
                                result.failures += 1
                                return
                            }
                            result.latencies.append((clock.now - sent).seconds)
                        }
                    }
                    return result
                }
            }
            var total = Result()
            for await part in group { total.add(part) }
            return total
        }
        var total = results
        total.elapsed = clock.now - started
        total.latencies.sort()
        return total
    }
}

extension LoginStorm {
    private func openLoop(rate: Double) async -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        let interval = Duration.seconds(1 / max(rate, 0.001))
        let limit = max(1, connections) * 64
        return await withTaskGroup(of: Result.self) { group in
            var total = Result()
            var inFlight = 0
            var index = 0
            while clock.now - started < duration, index < self.limit, !Task.isCancelled {
                try? await Task.sleep(until: started + interval * index, clock: .continuous)
                while inFlight >= limit, let part = await group.next() {
                    inFlight -= 1
                    total.add(part)
                }
                let user = "user-\(firstUser + index)"
                index += 1
                inFlight += 1
                group.addTask {
                    var result = Result()
                    let sent = clock.now
                    guard let channel = try? await Framing.connect(to: auth, from: bind, group: self.group) else {
                        result.failures = 1
                        return result
                    }
                    let password = SyntheticUsers.password(for: user, seed: seed)
                    let reply: Message? = try? await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(.login(user: user, password: password))
                        let timer = channel.channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.seconds * 1e9))) {
                            channel.channel.close(promise: nil)
                        }
                        defer { timer.cancel() }
                        for try await item in inbound { return item.message }
                        return nil
                    }
                    switch reply {
                    case .token: result.tokens = 1
                    case .busy: result.busy = 1
                    case .error: result.rejected = 1
                    default:
                        result.failures = 1
                        return result
                    }
                    result.latencies = [(clock.now - sent).seconds]
                    return result
                }
            }
            for await part in group { total.add(part) }
            total.elapsed = clock.now - started
            total.latencies.sort()
            return total
        }
    }
}

extension LoginStorm.Result {
    mutating func add(_ other: Self) {
        tokens += other.tokens
        busy += other.busy
        rejected += other.rejected
        failures += other.failures
        latencies += other.latencies
    }
}

/// Hands out 0, 1, 2, … to concurrent tasks.
final class TicketCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
