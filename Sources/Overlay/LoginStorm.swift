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
    /// Logins per second over all connections; nil: as fast as answers come.
    public var rate: Double?

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
        let clock = ContinuousClock()
        let started = clock.now
        let next = TicketCounter()
        let results = await withTaskGroup(of: Result.self) { group in
            for _ in 0..<max(1, connections) {
                group.addTask {
                    var result = Result()
                    guard let channel = try? await Framing.connect(to: auth, from: bind, group: MultiThreadedEventLoopGroup.singleton) else {
                        result.failures += 1
                        return result
                    }
                    _ = try? await channel.executeThenClose { inbound, outbound in
                        var iterator = inbound.makeAsyncIterator()
                        let pause = rate.map { Duration.seconds(Double(max(1, connections)) / max($0, 0.001)) }
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
                            if let pause { try? await Task.sleep(until: sent + pause, clock: .continuous) }
                        }
                    }
                    return result
                }
            }
            var total = Result()
            for await part in group {
                total.tokens += part.tokens
                total.busy += part.busy
                total.rejected += part.rejected
                total.failures += part.failures
                total.latencies += part.latencies
            }
            return total
        }
        var total = results
        total.elapsed = clock.now - started
        total.latencies.sort()
        return total
    }
}

/// Hands out 0, 1, 2, … to concurrent tasks.
final class TicketCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
