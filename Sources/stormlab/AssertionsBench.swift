import ArgumentParser
import Assertions
import Collector
import Foundation
import Systemd

struct AssertionsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assertions",
        abstract: "Scrape and SLO-evaluation cost: CPU time per instance per second of run, at 10 and 100 instances.",
        discussion: """
            Starts N real `stormlab auth` instances (each serving about 60 metric samples), scrapes \
            them every 250 ms for --seconds, then evaluates five typical SLO expressions over the \
            whole window at every step, and prints the CPU time this process spent on each part.
            """
    )

    @Option(help: "Seconds of scraping per size.")
    var seconds = 10

    @Option(help: "Instance counts to measure.")
    var sizes: [Int] = [10, 100]

    func run() async throws {
        var progress = Progress()
        var rows: [String] = []
        for size in sizes {
            progress.update("starting \(size) instances …")
            let prefix = "127.\(UInt8.random(in: 100...199)).\(UInt8.random(in: 1...254))"
            var pids: [Int32] = []
            defer {
                for pid in pids { kill(pid, SIGKILL) }
                for pid in pids { _ = ChildProcess.wait(pid) }
            }
            for index in 1...size {
                pids.append(try ChildProcess.spawn(SpawnOptions(
                    executable: ownExecutablePath(),
                    arguments: ["auth", "--listen", "\(prefix).\(index):7100", "--metrics", "\(prefix).\(index):9100", "--log-level", "error"],
                    environment: ["STORMLAB_LOG": "stderr"])))
            }
            let targets = (1...size).map { ScrapeTarget(service: "auth", instance: "auth-\($0)", host: "\(prefix).\($0)", port: 9100) }
            for target in targets {
                let probe = Probe(name: "up", kind: .tcp(host: target.host, port: target.port), timeout: .milliseconds(200))
                for _ in 0..<100 where !(await probe.check()) { try await Task.sleep(for: .milliseconds(20)) }
            }
            progress.update("scraping \(size) instances for \(seconds) s …")
            let collector = SeriesCollector(targets: targets, interval: .milliseconds(250))
            let scrapeStart = Self.cpuSeconds()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await collector.run() }
                try? await Task.sleep(for: .seconds(seconds))
                group.cancelAll()
            }
            let scrapeCPU = Self.cpuSeconds() - scrapeStart
            let store = collector.store
            let statistics = collector.statistics

            let expressions = [
                "min(up) == 1",
                "sum(rate(stormlab_auth_logins_total[5s])) >= 0",
                "histogram_quantile(0.99, sum by (le) (rate(stormlab_auth_login_duration_seconds_bucket[5s]))) < 2",
                "max(stormlab_auth_queue_depth) <= 300",
                "sum by (instance) (stormlab_auth_connections) < 1000",
            ].map { try! SLIExpression.parse($0) }
            let evaluator = SLIEvaluator(store: store, lookbackDelta: 1000)
            let end = Int64(seconds) * 1000
            let evaluationStart = Self.cpuSeconds()
            for expression in expressions {
                _ = try? ConditionSeries.evaluate(expression, with: evaluator, from: 0, to: end, step: 250)
            }
            let evaluationCPU = Self.cpuSeconds() - evaluationStart
            let perInstanceSecond = { (cpu: Double) in cpu / Double(size) / Double(seconds) * 1e6 }
            rows.append(String(
                format: "%4d instances  %5d scrapes (%d failed)  scrape %6.0f µs CPU  evaluation %5.0f µs CPU  per instance per second of run",
                size, statistics.scrapes, statistics.failedScrapes, perInstanceSecond(scrapeCPU), perInstanceSecond(evaluationCPU)))
            progress.line(rows.last!)
        }
    }

    /// User plus system CPU time of this process, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
