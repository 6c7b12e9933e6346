import ArgumentParser
import Foundation
import Overlay
import OverlayWire

struct OverlayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay",
        abstract: "Logins per second through one auth, virtual clients per client process, memory per virtual client."
    )

    @Option(help: "Seconds of login load per measurement.")
    var seconds = 5.0

    @Option(help: "PBKDF2 iterations for the realistic login figure.")
    var hashIterations = 2000

    @Option(help: "Auth worker threads.")
    var workers = 2

    @Option(name: .customLong("virtual"), help: "Virtual clients in the one client process of the scale figure.")
    var virtualClients = 10_000

    @Option(help: "Seconds allowed for the client process to bring every virtual client online.")
    var timeout = 120.0

    func run() async throws {
        var progress = Progress()
        let folder = makeWorkFolder("bench")
        progress.line("overlay benchmarks; instance logs in \(folder)")
        var rows: [(String, String)] = []

        for iterations in [1, hashIterations] {
            var layout = LocalClusterLayout(executable: ownExecutablePath(), directory: "\(folder)/auth-\(iterations)")
            layout.supernodes = 0
            layout.clientProcesses = 0
            layout.hashIterations = iterations
            layout.extraArguments["auth"] = ["--workers", "\(workers)"]
            let cluster = try LocalCluster(layout: layout)
            do {
                try cluster.start()
                try await cluster.waitReady(timeout: .seconds(30))
            } catch {
                await cluster.shutdown()
                throw error
            }
            progress.update("logins through one auth, \(iterations) PBKDF2 iterations, \(workers) workers …")
            var storm = LoginStorm(auth: cluster.instances(role: "auth")[0].endpoint, seed: layout.seed)
            storm.duration = .seconds(seconds)
            storm.connections = 64
            let result = await storm.run()
            await cluster.shutdown()
            let p50 = result.latency(quantile: 0.5).map { String(format: "%.1f ms", $0 * 1000) } ?? "-"
            let p99 = result.latency(quantile: 0.99).map { String(format: "%.1f ms", $0 * 1000) } ?? "-"
            rows.append((
                "logins/s, one auth, \(iterations) iterations, \(workers) workers",
                String(format: "%.0f", result.tokensPerSecond) + " (p50 \(p50), p99 \(p99), \(result.busy) busy, \(result.failures) failed)"
            ))
            progress.line("\(rows.last!.0): \(rows.last!.1)")
        }

        var layout = LocalClusterLayout(executable: ownExecutablePath(), directory: "\(folder)/swarm")
        layout.supernodes = 2
        layout.clientProcesses = 0
        layout.hashIterations = 100
        layout.supernodeCapacity = virtualClients
        let cluster = try LocalCluster(layout: layout)
        let prefix = "127.\(layout.subnet.0).\(layout.subnet.1)"
        let supernodes = cluster.instances(role: "supernode").map(\.endpoint.description).joined(separator: ",")
        try cluster.start()
        // Two client processes by hand: one empty for the baseline, one with every virtual client.
        for (name, count, host) in [("client-empty", 0, "\(prefix).200"), ("client-full", virtualClients, "\(prefix).201")] {
            try cluster.start(LocalCluster.Instance(
                name: name, role: "client", address: host, endpoint: Endpoint(host: host, port: 7200),
                metrics: Endpoint(host: host, port: 9300),
                arguments: ["client", "--name", name, "--bind", host, "--auth", "\(cluster.instances(role: "auth")[0].endpoint)",
                            "--supernodes", supernodes, "--metrics", "\(host):9300", "--virtual", "\(count)",
                            "--seed", layout.seed, "--log-level", "notice"]
            ))
        }
        let clock = ContinuousClock()
        let started = clock.now
        var online = 0.0
        while clock.now - started < .seconds(timeout) {
            try cluster.poll()
            if let page = try? await MetricsFetch.get(Endpoint(host: "\(prefix).201", port: 9300)) {
                online = MetricsFetch.sums(page)["stormlab_client_online"] ?? 0
            }
            progress.update("virtual clients online in one process: \(Int(online))/\(virtualClients) (\(formatSeconds(clock.now - started)))")
            if online >= Double(virtualClients) { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let toOnline = clock.now - started
        try await Task.sleep(for: .seconds(2))  // let buffers settle before reading memory
        let empty = cluster.pid(of: "client-empty").flatMap(residentBytes(pid:)) ?? 0
        let full = cluster.pid(of: "client-full").flatMap(residentBytes(pid:)) ?? 0
        await cluster.shutdown()
        rows.append(("virtual clients online in one client process", "\(Int(online))/\(virtualClients) in \(formatSeconds(toOnline))"))
        rows.append(("client process memory, 0 and \(virtualClients) virtual clients", "\(empty / 1_048_576) MiB, \(full / 1_048_576) MiB"))
        if online > 0 {
            rows.append(("memory per virtual client", String(format: "%.1f KiB", Double(full - empty) / online / 1024)))
        }
        progress.line("")
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows {
            progress.line(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
    }
}
