import ArgumentParser
import FaultProxy

struct ProxyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "The fault proxy's added latency (p50/p99) and throughput against direct loopback, side by side."
    )

    @Option(help: "Small request/response round trips per path.")
    var requests = 2000

    @Option(help: "MiB pushed through each path for the throughput figure.")
    var mebibytes = 64

    func run() async throws {
        var progress = Progress()
        progress.update("measuring direct loopback and the proxy side by side …")
        let figures = try await FaultProxy.measureOverhead(requests: requests, throughputBytes: mebibytes << 20)
        progress.line("\(figures)")
    }
}
