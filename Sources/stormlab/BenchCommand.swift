import ArgumentParser
import Overlay

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure and print figures (throughput, scale, memory).",
        subcommands: [OverlayBench.self, ProxyBench.self, OrchestratorBench.self, FaultTimingBench.self, AssertionsBench.self, RuntimeBench.self]
    )
}
