/// The kind of a fault, as a plan names it (`kill`, `mass-restart`, …).
///
/// New kinds may be added, so switch over ``Fault`` (or compare kinds) with a `default`.
public struct FaultKind: Sendable, Hashable, CustomStringConvertible {
    fileprivate enum Base: String, Sendable, Hashable, CaseIterable {
        case kill, terminate, restart, pause
        case massRestart = "mass-restart"
        case partition, latency, loss, bandwidth, reset, blackhole
        case churn
        case malformedFlood = "malformed-flood"
        case loginStorm = "login-storm"
    }

    /// What a fault acts on, which decides which faults can conflict.
    public enum Category: String, Sendable, Hashable {
        /// Stops, pauses or restarts instances' processes.
        case process
        /// Acts on traffic between instances.
        case network
        /// Sends load at instances; never conflicts.
        case load
    }

    fileprivate let base: Base

    fileprivate init(_ base: Base) { self.base = base }

    /// The key the plan uses for this kind.
    public var name: String { base.rawValue }
    /// `name`.
    public var description: String { base.rawValue }

    /// Sends a signal (default SIGKILL); with `for`, the instance is started again at its end.
    public static let kill = FaultKind(.kill)
    /// Stops gracefully: SIGTERM (the service's stop signal), SIGKILL after `timeout`.
    public static let terminate = FaultKind(.terminate)
    /// Stops gracefully and starts again after `downtime`.
    public static let restart = FaultKind(.restart)
    /// SIGSTOP, and SIGCONT at the end of `for` (or of the run).
    public static let pause = FaultKind(.pause)
    /// A wave of kills over a `spread` window, each instance back after its own downtime.
    public static let massRestart = FaultKind(.massRestart)
    /// Cuts links between groups of instances.
    public static let partition = FaultKind(.partition)
    /// Delays traffic on links.
    public static let latency = FaultKind(.latency)
    /// Drops traffic on links with a probability.
    public static let loss = FaultKind(.loss)
    /// Limits the rate of traffic on links.
    public static let bandwidth = FaultKind(.bandwidth)
    /// Closes live connections with RST; with `for`, every new connection too.
    public static let reset = FaultKind(.reset)
    /// Accepts connections and never answers.
    public static let blackhole = FaultKind(.blackhole)
    /// Seeded peer churn: instances go down and up with drawn session and down times.
    public static let churn = FaultKind(.churn)
    /// Garbage and malformed frames at a service's port, from several connections.
    public static let malformedFlood = FaultKind(.malformedFlood)
    /// A flood of logins at an auth service.
    public static let loginStorm = FaultKind(.loginStorm)

    /// Every kind, in the order of the format's documentation.
    public static let all: [FaultKind] = Base.allCases.map(FaultKind.init)

    /// The kind with that plan name, if there is one.
    public init?(name: String) {
        guard let base = Base(rawValue: name) else { return nil }
        self.base = base
    }

    /// What the fault acts on.
    public var category: Category {
        switch base {
        case .kill, .terminate, .restart, .pause, .massRestart, .churn: .process
        case .partition, .latency, .loss, .bandwidth, .reset, .blackhole: .network
        case .malformedFlood, .loginStorm: .load
        }
    }

    /// Whether the fault stops traffic on a link outright, so that no other network fault can
    /// share the link at the same time (see ``PlanTimeline``'s conflict rule).
    public var cutsLinks: Bool { base == .partition || base == .blackhole || base == .reset }
}

/// One fault with its typed, validated parameters.
public enum Fault: Sendable, Hashable {
    /// `kill`.
    case kill(KillFault)
    /// `terminate`.
    case terminate(TerminateFault)
    /// `restart`.
    case restart(RestartFault)
    /// `pause`.
    case pause(PauseFault)
    /// `mass-restart`.
    case massRestart(MassRestartFault)
    /// `partition`.
    case partition(PartitionFault)
    /// `latency`.
    case latency(LatencyFault)
    /// `loss`.
    case loss(LossFault)
    /// `bandwidth`.
    case bandwidth(BandwidthFault)
    /// `reset`.
    case reset(ResetFault)
    /// `blackhole`.
    case blackhole(BlackholeFault)
    /// `churn`.
    case churn(ChurnFault)
    /// `malformed-flood`.
    case malformedFlood(MalformedFloodFault)
    /// `login-storm`.
    case loginStorm(LoginStormFault)

    /// The fault's kind.
    public var kind: FaultKind {
        switch self {
        case .kill: .kill
        case .terminate: .terminate
        case .restart: .restart
        case .pause: .pause
        case .massRestart: .massRestart
        case .partition: .partition
        case .latency: .latency
        case .loss: .loss
        case .bandwidth: .bandwidth
        case .reset: .reset
        case .blackhole: .blackhole
        case .churn: .churn
        case .malformedFlood: .malformedFlood
        case .loginStorm: .loginStorm
        }
    }

    /// The instances a process or load fault targets; `nil` for network faults, which act on links.
    public var target: TargetSelector? {
        switch self {
        case .kill(let fault): fault.target
        case .terminate(let fault): fault.target
        case .restart(let fault): fault.target
        case .pause(let fault): fault.target
        case .massRestart(let fault): fault.target
        case .churn(let fault): fault.target
        case .malformedFlood(let fault): fault.target
        case .loginStorm(let fault): fault.target
        case .partition, .latency, .loss, .bandwidth, .reset, .blackhole: nil
        }
    }

    /// The links a network fault other than a partition acts on, and whether only one way.
    public var links: (scope: LinkScope, oneWay: Bool)? {
        switch self {
        case .latency(let fault): (fault.scope, fault.oneWay)
        case .loss(let fault): (fault.scope, fault.oneWay)
        case .bandwidth(let fault): (fault.scope, fault.oneWay)
        case .reset(let fault): (fault.scope, fault.oneWay)
        case .blackhole(let fault): (fault.scope, fault.oneWay)
        default: nil
        }
    }
}

/// `kill`: sends a signal to each target's process group.
public struct KillFault: Sendable, Hashable {
    /// The instances.
    public var target: TargetSelector
    /// The signal, as `SIGKILL` or a number; default `SIGKILL`.
    public var signal: String

    /// Creates the fault.
    public init(target: TargetSelector, signal: String = "SIGKILL") {
        self.target = target
        self.signal = signal
    }
}

/// `terminate`: the service's stop signal, then SIGKILL after `timeout`.
public struct TerminateFault: Sendable, Hashable {
    /// The instances.
    public var target: TargetSelector
    /// How long to wait for a graceful exit before SIGKILL; default 10 s.
    public var timeout: Duration

    /// Creates the fault.
    public init(target: TargetSelector, timeout: Duration = .seconds(10)) {
        self.target = target
        self.timeout = timeout
    }
}

/// `restart`: a graceful stop, then a start after `downtime`.
public struct RestartFault: Sendable, Hashable {
    /// The instances.
    public var target: TargetSelector
    /// How long to wait for a graceful exit before SIGKILL; default 10 s.
    public var timeout: Duration
    /// How long the instance stays down before it is started; default 0.
    public var downtime: Duration

    /// Creates the fault.
    public init(target: TargetSelector, timeout: Duration = .seconds(10), downtime: Duration = .zero) {
        self.target = target
        self.timeout = timeout
        self.downtime = downtime
    }
}

/// `pause`: SIGSTOP, then SIGCONT at the end of the step's `for` (or of the run).
public struct PauseFault: Sendable, Hashable {
    /// The instances.
    public var target: TargetSelector

    /// Creates the fault.
    public init(target: TargetSelector) { self.target = target }
}

/// `mass-restart`: every target killed once within `spread`, each back after its own downtime.
public struct MassRestartFault: Sendable, Hashable {
    /// The instances (typically a `fraction` of a service).
    public var target: TargetSelector
    /// The window the kills fall in, from the step's start; more than zero.
    public var spread: Duration
    /// How kill times fall within the window; default ``WaveDistribution/uniform``.
    public var distribution: WaveDistribution
    /// How long each instance stays down, drawn uniformly from this range.
    public var downtime: DurationRange
    /// The signal that stops each instance; default `SIGKILL` (a machine going away).
    public var signal: String

    /// Creates the fault.
    public init(
        target: TargetSelector, spread: Duration, distribution: WaveDistribution = .uniform,
        downtime: DurationRange, signal: String = "SIGKILL"
    ) {
        self.target = target
        self.spread = spread
        self.distribution = distribution
        self.downtime = downtime
        self.signal = signal
    }
}

/// How the kill times of a mass restart fall within its spread window `[0, S]`.
public enum WaveDistribution: String, Sendable, Hashable, CaseIterable {
    /// Evenly: each time is `U·S`.
    case uniform
    /// Bunched in the middle: normal with mean `S/2` and standard deviation `S/6`, redrawn
    /// when outside the window.
    case normal
    /// Most at the start, tailing off: exponential with mean `S/3`, truncated to the window
    /// (drawn by inverting the truncated distribution, so no draw is wasted).
    case exponential
}

/// `min..max` (or one duration, `min == max`): a range of durations, both ends included.
public struct DurationRange: Sendable, Hashable, CustomStringConvertible {
    /// The least duration.
    public var min: Duration
    /// The greatest duration; at least ``min``.
    public var max: Duration

    /// Creates a range; `max` must not be less than `min`.
    public init(min: Duration, max: Duration) {
        self.min = min
        self.max = max
    }

    /// A range of one duration.
    public init(exactly duration: Duration) { self.init(min: duration, max: duration) }

    /// `1s..5s`, or `3s` when both ends are the same.
    public var description: String {
        min == max ? ComposeDuration.format(min) : "\(ComposeDuration.format(min))..\(ComposeDuration.format(max))"
    }
}

/// `partition`: cuts every link between groups of instances.
public struct PartitionFault: Sendable, Hashable {
    /// How the groups are given.
    public var layout: PartitionLayout
    /// `one-way`: only traffic from an earlier group to a later one is cut; default `false`.
    public var oneWay: Bool

    /// Creates the fault.
    public init(layout: PartitionLayout, oneWay: Bool = false) {
        self.layout = layout
        self.oneWay = oneWay
    }
}

/// The groups of a partition: explicit, or a shape over a service's instances.
public enum PartitionLayout: Sendable, Hashable {
    /// `groups: [[a, b], [c, d]]`: two or more disjoint groups; every link across is cut.
    case groups([[InstanceReference]])
    /// `shape: halves` and a `service`; the selector's sample (or instances) picks the isolated
    /// instances for `isolate` and the bridge for `bridge`.
    case shape(PartitionShape, TargetSelector)
}

/// Partition shapes over the instances of one service, in instance order (after Jepsen's).
public enum PartitionShape: String, Sendable, Hashable, CaseIterable {
    /// The first ⌈n/2⌉ instances against the rest.
    case halves
    /// Each chosen instance (default one, chosen with the seed) cut off from every other instance
    /// of the service.
    case isolate
    /// Instances on a ring in instance order; each keeps the links to the instances within
    /// ⌈(m−1)/2⌉ places of it, m = ⌊n/2⌋+1 (a majority), and loses the others. At least 4.
    case majorityRing = "majority-ring"
    /// One bridge instance (chosen with the seed unless given) linked to two halves that cannot
    /// reach each other. At least 3.
    case bridge
}

/// The links a network fault acts on.
public enum LinkScope: Sendable, Hashable {
    /// `from` and `to`: traffic from the first group's instances to the second's, and back
    /// unless `one-way`.
    case between(from: TargetSelector, to: TargetSelector)
    /// A plain target: every link to and from the selected instances (with `one-way`, only what
    /// they send).
    case around(TargetSelector)
}

/// `latency`: delays traffic by `delay` ± `jitter`.
public struct LatencyFault: Sendable, Hashable {
    /// The links.
    public var scope: LinkScope
    /// Only one way; default `false`.
    public var oneWay: Bool
    /// The added delay.
    public var delay: Duration
    /// The spread around it; default 0.
    public var jitter: Duration

    /// Creates the fault.
    public init(scope: LinkScope, oneWay: Bool = false, delay: Duration, jitter: Duration = .zero) {
        self.scope = scope
        self.oneWay = oneWay
        self.delay = delay
        self.jitter = jitter
    }
}

/// `loss`: drops (for TCP: stalls) chunks of traffic with a probability.
public struct LossFault: Sendable, Hashable {
    /// The links.
    public var scope: LinkScope
    /// Only one way; default `false`.
    public var oneWay: Bool
    /// The probability of each chunk being lost, 0…1 (`0.1` or `10%`).
    public var probability: Double

    /// Creates the fault.
    public init(scope: LinkScope, oneWay: Bool = false, probability: Double) {
        self.scope = scope
        self.oneWay = oneWay
        self.probability = probability
    }
}

/// `bandwidth`: limits the rate of traffic.
public struct BandwidthFault: Sendable, Hashable {
    /// The links.
    public var scope: LinkScope
    /// Only one way; default `false`.
    public var oneWay: Bool
    /// The rate limit.
    public var rate: Bandwidth

    /// Creates the fault.
    public init(scope: LinkScope, oneWay: Bool = false, rate: Bandwidth) {
        self.scope = scope
        self.oneWay = oneWay
        self.rate = rate
    }
}

/// A data rate, as `1mbit`, `100kbit`, `512KiB/s`, `10MB/s`.
///
/// `bit`, `kbit`, `mbit`, `gbit` are bits per second (SI, as tc writes them); `B/s`, `KB/s`,
/// `MB/s`, `GB/s` bytes per second (SI); `KiB/s`, `MiB/s`, `GiB/s` bytes per second (binary).
public struct Bandwidth: Sendable, Hashable, CustomStringConvertible {
    /// The rate in bits per second; more than zero.
    public var bitsPerSecond: Int64
    /// The rate as written.
    public var text: String

    /// Parses a rate, or returns why it is not one.
    public static func parse(_ text: String) -> Result<Bandwidth, PlanSyntaxError> { PlanSyntax.bandwidth(text) }

    /// Creates a rate.
    public init(bitsPerSecond: Int64, text: String? = nil) {
        self.bitsPerSecond = bitsPerSecond
        self.text = text ?? "\(bitsPerSecond)bit"
    }

    /// The rate in bytes per second.
    public var bytesPerSecond: Double { Double(bitsPerSecond) / 8 }
    /// The rate as written.
    public var description: String { text }
}

/// `reset`: closes live connections with RST; with `for`, every new connection on the links too.
public struct ResetFault: Sendable, Hashable {
    /// The links.
    public var scope: LinkScope
    /// Only one way; default `false`.
    public var oneWay: Bool

    /// Creates the fault.
    public init(scope: LinkScope, oneWay: Bool = false) {
        self.scope = scope
        self.oneWay = oneWay
    }
}

/// `blackhole`: connections are accepted and never answered.
public struct BlackholeFault: Sendable, Hashable {
    /// The links.
    public var scope: LinkScope
    /// Only one way; default `false`.
    public var oneWay: Bool

    /// Creates the fault.
    public init(scope: LinkScope, oneWay: Bool = false) {
        self.scope = scope
        self.oneWay = oneWay
    }
}

/// `churn`: during `window`, each target alternates up (a session drawn from `session`) and down
/// (a time drawn from `downtime`), as P2P measurement studies describe real peers.
///
/// Every target starts up, with its first session scaled by a uniform draw so the targets do not
/// go down in step; a down time that runs past the window is cut at its end.
public struct ChurnFault: Sendable, Hashable {
    /// The instances.
    public var target: TargetSelector
    /// How long churn goes on, from the step's start; more than zero.
    public var window: Duration
    /// The session lengths (time up between two downs).
    public var session: LifetimeDistribution
    /// The down times.
    public var downtime: LifetimeDistribution

    /// Creates the fault.
    public init(target: TargetSelector, window: Duration, session: LifetimeDistribution, downtime: LifetimeDistribution) {
        self.target = target
        self.window = window
        self.session = session
        self.downtime = downtime
    }
}

/// A distribution of positive durations, written `{exponential: {mean: 30s}}`,
/// `{weibull: {shape: 0.6, scale: 40s}}` or `{pareto: {shape: 1.5, scale: 10s}}`.
public enum LifetimeDistribution: Sendable, Hashable, CustomStringConvertible {
    /// Exponential with this mean: `−mean·ln(1−U)`.
    case exponential(mean: Duration)
    /// Weibull with shape k and scale λ: `λ·(−ln(1−U))^(1/k)`; mean `λ·Γ(1+1/k)`.
    case weibull(shape: Double, scale: Duration)
    /// Pareto with shape α and scale (minimum) x: `x·(1−U)^(−1/α)`; mean `α·x/(α−1)` for α > 1.
    case pareto(shape: Double, scale: Duration)

    /// The mean, when it is finite (not for Pareto with shape ≤ 1).
    public var mean: Duration? {
        switch self {
        case .exponential(let mean): return mean
        case .weibull(let shape, let scale): return .seconds(scale.inSeconds * PlanMath.gamma(1 + 1 / shape))
        case .pareto(let shape, let scale):
            return shape > 1 ? .seconds(shape * scale.inSeconds / (shape - 1)) : nil
        }
    }

    /// `exponential(mean 30s)`, `weibull(shape 0.6, scale 40s)`, `pareto(shape 1.5, scale 10s)`.
    public var description: String {
        switch self {
        case .exponential(let mean): "exponential(mean \(ComposeDuration.format(mean)))"
        case .weibull(let shape, let scale): "weibull(shape \(shape), scale \(ComposeDuration.format(scale)))"
        case .pareto(let shape, let scale): "pareto(shape \(shape), scale \(ComposeDuration.format(scale)))"
        }
    }
}

/// `malformed-flood`: garbage and malformed frames at a port of the targets, from several
/// connections, for the step's `for`.
public struct MalformedFloodFault: Sendable, Hashable {
    /// The instances flooded (typically `service: auth`).
    public var target: TargetSelector
    /// The port, one the service declares in `ports` or `expose` when it declares any.
    public var port: Int
    /// Payloads sent per second, over all connections; more than zero.
    public var rate: Double
    /// How many connections send them; default 8.
    public var connections: Int
    /// Which payloads are sent, in turn; default `[garbage]`.
    public var payloads: [MalformedPayload]

    /// Creates the fault.
    public init(
        target: TargetSelector, port: Int, rate: Double, connections: Int = 8,
        payloads: [MalformedPayload] = [.garbage]
    ) {
        self.target = target
        self.port = port
        self.rate = rate
        self.connections = connections
        self.payloads = payloads
    }
}

/// What a malformed flood sends.
public enum MalformedPayload: String, Sendable, Hashable, CaseIterable {
    /// Random bytes.
    case garbage
    /// Zero bytes.
    case zeros
    /// A length prefix announcing a frame far beyond any limit.
    case oversized
    /// The start of a frame, then nothing: the connection is held open.
    case truncated
}

/// `login-storm`: logins at an auth service, at a `rate` for the step's `for`, or a batch of
/// `users` as fast as `concurrency` allows.
public struct LoginStormFault: Sendable, Hashable {
    /// How much load.
    public enum Load: Sendable, Hashable {
        /// Logins per second.
        case rate(Double)
        /// This many users log in once each.
        case users(Int)
    }

    /// The auth instances.
    public var target: TargetSelector
    /// How much load.
    public var load: Load
    /// How many logins may be in flight at once; default 64.
    public var concurrency: Int

    /// Creates the fault.
    public init(target: TargetSelector, load: Load, concurrency: Int = 64) {
        self.target = target
        self.load = load
        self.concurrency = concurrency
    }
}
