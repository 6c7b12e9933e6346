import Foundation
import LabSpec
import Testing

/// The seeded generator and the samplers: fixed outputs and sample means. (`LabSpec.` because the
/// loader tests have a `SplitMix64` of their own.)
@Suite struct PlanRandomTests {
    /// Reference outputs of Vigna's splitmix64.c.
    @Test func splitMix64MatchesTheReferenceOutputs() {
        var zero = LabSpec.SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
        var generator = LabSpec.SplitMix64(seed: 1_234_567)
        let outputs = (0..<5).map { _ in generator.next() }
        #expect(
            outputs == [
                6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
            ])
    }

    @Test func streamsAreSeparatedByLabel() {
        #expect(PlanRandom.fnv1a64("") == 0xCBF2_9CE4_8422_2325)
        #expect(PlanRandom.fnv1a64("a") == 0xAF63_DC4C_8601_EC8C)
        var a = PlanRandom.stream(seed: 1, label: "select/a/0")
        var b = PlanRandom.stream(seed: 1, label: "select/b/0")
        #expect(a.next() != b.next())
    }

    @Test func chooseIsUniformWithoutReplacementAndInPoolOrder() {
        let pool = Array(0..<10)
        var counts = [Int](repeating: 0, count: 10)
        var generator = LabSpec.SplitMix64(seed: 99)
        let draws = 20_000
        for _ in 0..<draws {
            let chosen = PlanRandom.choose(3, from: pool, using: &generator)
            #expect(chosen.count == 3 && Set(chosen).count == 3 && chosen == chosen.sorted())
            for item in chosen { counts[item] += 1 }
        }
        // Each item is chosen with probability 3/10: 6000 of 20000, within 5%.
        #expect(counts.allSatisfy { abs(Double($0) - 6000) < 300 }, "\(counts)")
    }

    @Test func sampleSizesRoundToTheNearestInstance() {
        #expect(PlanRandom.sampleSize(.fraction(0.8), poolSize: 20) == 16)
        #expect(PlanRandom.sampleSize(.fraction(0.3), poolSize: 8) == 2)
        #expect(PlanRandom.sampleSize(.fraction(0.29), poolSize: 100) == 29)
        #expect(PlanRandom.sampleSize(.fraction(0.01), poolSize: 20) == 1)
        #expect(PlanRandom.sampleSize(.fraction(0), poolSize: 20) == 0)
        #expect(PlanRandom.sampleSize(.fraction(0.5), poolSize: 5) == 3)
        #expect(PlanRandom.sampleSize(.count(4), poolSize: 20) == 4)
        #expect(PlanRandom.sampleSize(nil, poolSize: 7) == 7)
    }

    private func mean(_ draws: Int = 50_000, _ draw: (inout LabSpec.SplitMix64) -> Double) -> Double {
        var generator = LabSpec.SplitMix64(seed: 2024)
        return (0..<draws).reduce(0) { sum, _ in sum + draw(&generator) } / Double(draws)
    }

    /// Sample means over 50 000 draws are within 3% of the distribution's mean (Pareto, with
    /// its heavy tail, within 5%).
    @Test func lifetimeDistributionsHaveTheirMeans() throws {
        let cases: [(LifetimeDistribution, Double, Double)] = [
            (.exponential(mean: .seconds(30)), 30, 0.03),
            (.weibull(shape: 1.5, scale: .seconds(10)), 10 * tgamma(1 + 1 / 1.5), 0.03),
            (.weibull(shape: 0.6, scale: .seconds(40)), 40 * tgamma(1 + 1 / 0.6), 0.03),
            (.pareto(shape: 3, scale: .seconds(2)), 3, 0.05),
        ]
        for (distribution, expected, tolerance) in cases {
            let measured = mean { PlanRandom.sample(distribution, using: &$0) }
            #expect(abs(measured - expected) / expected < tolerance, "\(distribution): \(measured) vs \(expected)")
            let stated = try #require(distribution.mean)
            #expect(abs(stated.inSecondsForTests - expected) < 1e-6)
        }
        #expect(LifetimeDistribution.pareto(shape: 1, scale: .seconds(1)).mean == nil)
    }

    @Test func waveDistributionsStayInTheWindowWithTheirMeans() {
        let spread = 2.0
        // Uniform: S/2. Normal (mean S/2, sd S/6, redrawn outside): S/2. Truncated exponential
        // with mean m = S/3: m − S·e^(−S/m)/(1 − e^(−S/m)).
        let truncated = spread / 3 - spread * exp(-3) / (1 - exp(-3))
        let cases: [(WaveDistribution, Double)] = [(.uniform, 1), (.normal, 1), (.exponential, truncated)]
        for (distribution, expected) in cases {
            var generator = LabSpec.SplitMix64(seed: 5)
            var sum = 0.0
            for _ in 0..<50_000 {
                let offset = PlanRandom.waveOffset(distribution, spread: spread, using: &generator)
                #expect(offset >= 0 && offset <= spread)
                sum += offset
            }
            #expect(abs(sum / 50_000 - expected) / expected < 0.03, "\(distribution): \(sum / 50_000) vs \(expected)")
        }
    }

    @Test func standardNormalHasMeanZeroAndVarianceOne() {
        var generator = LabSpec.SplitMix64(seed: 8)
        let draws = (0..<50_000).map { _ in PlanRandom.standardNormal(using: &generator) }
        let mean = draws.reduce(0, +) / Double(draws.count)
        var squares = 0.0
        for draw in draws { squares += (draw - mean) * (draw - mean) }
        let variance = squares / Double(draws.count)
        #expect(abs(mean) < 0.02)
        #expect(abs(variance - 1) < 0.03)
    }
}

extension Duration {
    var inSecondsForTests: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
