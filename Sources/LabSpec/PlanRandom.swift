import Foundation

/// SplitMix64 (Steele, Lea and Flood, 2014; the generator `java.util.SplittableRandom` uses):
/// the seeded generator behind every random choice in a plan.
///
/// Each step: `state += 0x9E3779B97F4A7C15`, then `z = state`,
/// `z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9`, `z = (z ^ (z >> 27)) * 0x94D049BB133111EB`,
/// `z ^ (z >> 31)`. It is fixed here, not the standard library's generator, so the same seed
/// gives the same timeline on every platform and Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's state.
    public private(set) var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in `[0, 1)`: the top 53 bits of ``next()`` times 2⁻⁵³.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` without modulo bias: draws below `2⁶⁴ mod bound` are
    /// rejected and redrawn. `bound` must be more than zero.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be more than zero")
        let n = UInt64(bound)
        let threshold = (0 &- n) % n
        while true {
            let draw = next()
            if draw >= threshold { return Int(draw % n) }
        }
    }
}

/// The documented random procedures of plan resolution; the same seed always gives the same
/// choices.
///
/// Every random decision draws from its own stream, so adding a step does not change the
/// choices of the others: the stream for a label is `SplitMix64(seed: seed ^ FNV-1a-64(label))`.
/// Labels are `select/STEP/N` (targets of occurrence N, from 0, of the step whose label is
/// STEP), `shape/STEP/N` (the isolated or bridge instances of a partition shape), `wave/STEP/N`
/// (kill times and downtimes of a mass restart), and `churn/STEP/N/INSTANCE`.
public enum PlanRandom {
    /// The stream for `label` under `seed`.
    public static func stream(seed: UInt64, label: String) -> SplitMix64 {
        SplitMix64(seed: seed ^ fnv1a64(label))
    }

    /// FNV-1a, 64 bits, over the UTF-8 bytes of `text`.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// `count` items of `pool`, chosen uniformly without replacement, returned in pool order.
    ///
    /// The algorithm is a partial Fisher–Yates shuffle: for i in 0..<count, swap position i with
    /// position `i + nextIndex(below: pool.count − i)`; the first `count` positions are the choice.
    public static func choose<T: Hashable>(_ count: Int, from pool: [T], using generator: inout SplitMix64) -> [T] {
        let count = min(max(count, 0), pool.count)
        var order = Array(pool.indices)
        for i in 0..<count {
            let j = i + generator.nextIndex(below: order.count - i)
            order.swapAt(i, j)
        }
        return order.prefix(count).sorted().map { pool[$0] }
    }

    /// How many instances a sample takes from a pool of `size`: a count as given, a fraction
    /// rounded to the nearest whole number (halves up) and at least 1 when above zero.
    public static func sampleSize(_ sample: TargetSelector.Sample?, poolSize size: Int) -> Int {
        switch sample {
        case nil: return size
        case .count(let count): return count
        case .fraction(let fraction):
            guard fraction > 0 else { return 0 }
            // A little slack so that 0.29 × 100 (28.999999999999996) gives 29.
            return max(1, Int((fraction * Double(size) + 1e-9).rounded(.toNearestOrAwayFromZero)))
        }
    }

    /// A kill time within `[0, spread]` seconds, drawn from `distribution`.
    public static func waveOffset(_ distribution: WaveDistribution, spread: Double, using generator: inout SplitMix64) -> Double {
        guard spread > 0 else { return 0 }
        switch distribution {
        case .uniform:
            return generator.nextUnit() * spread
        case .normal:
            for _ in 0..<64 {
                let value = spread / 2 + spread / 6 * standardNormal(using: &generator)
                if value >= 0 && value <= spread { return value }
            }
            return spread / 2
        case .exponential:
            let mean = spread / 3
            let mass = 1 - Foundation.exp(-spread / mean)
            return min(spread, -mean * Foundation.log(1 - generator.nextUnit() * mass))
        }
    }

    /// A duration in seconds within `range`, uniformly.
    public static func uniform(_ range: DurationRange, using generator: inout SplitMix64) -> Double {
        let low = range.min.inSeconds
        return low + generator.nextUnit() * (range.max.inSeconds - low)
    }

    /// A positive duration in seconds drawn from `distribution` by inverting its CDF.
    public static func sample(_ distribution: LifetimeDistribution, using generator: inout SplitMix64) -> Double {
        let u = generator.nextUnit()
        switch distribution {
        case .exponential(let mean):
            return -mean.inSeconds * Foundation.log(1 - u)
        case .weibull(let shape, let scale):
            return scale.inSeconds * Foundation.pow(-Foundation.log(1 - u), 1 / shape)
        case .pareto(let shape, let scale):
            return scale.inSeconds * Foundation.pow(1 - u, -1 / shape)
        }
    }

    /// A standard normal draw (Box–Muller, one of the pair).
    public static func standardNormal(using generator: inout SplitMix64) -> Double {
        let u1 = 1 - generator.nextUnit()  // (0, 1], so the logarithm is finite
        let u2 = generator.nextUnit()
        return Foundation.sqrt(-2 * Foundation.log(u1)) * Foundation.cos(2 * Double.pi * u2)
    }
}
