import ArgumentParser
import Foundation
import Injectors
import Orchestrator

struct FaultTimingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faults",
        abstract: "Fault timing precision: actual minus scheduled time (p50/p99/max) for kill, pause and partition.",
        discussion: """
            Runs a generated lab of sleeping processes with a plan of many timed faults, then reads \
            the lateness of every apply and revert from its event log. Partitions need root (nftables).
            """
    )

    @Option(help: "Instances in the generated lab.")
    var instances = 20

    @Option(help: "Seconds of the fault phase.")
    var seconds = 20

    func run() async throws {
        var progress = Progress()
        let root = makeWorkFolder("bench-faults")
        try FileManager.default.createDirectory(atPath: "\(root)/lab", withIntermediateDirectories: true)
        let compose = """
            services:
              node:
                image: sleeper
                command: ["3600"]
                deploy: {replicas: \(instances)}
                restart: always
                x-stormlab: {executable: [/bin/sleep]}
            """
        var steps = """
              - {name: kills, at: 1s, every: 500ms, times: \(seconds * 2 - 4), for: 200ms, kill: {service: node, count: 1}}
              - {name: pauses, at: 1250ms, every: 500ms, times: \(seconds * 2 - 4), for: 200ms, pause: {service: node, count: 1}}

            """
        let partitions = NFTables.isUsable
        if partitions {
            steps += "  - {name: cuts, at: 1100ms, every: 1s, times: \(seconds - 3), for: 300ms, partition: {groups: [[node-1], [node-2]]}}\n"
        }
        try compose.write(toFile: "\(root)/lab/compose.yaml", atomically: true, encoding: .utf8)
        try "seed: 1\nduration: \(seconds)s\nsteps:\n\(steps)".write(toFile: "\(root)/lab/plan.yaml", atomically: true, encoding: .utf8)
        progress.line("running \(instances) instances with a plan of timed kills, pauses\(partitions ? " and partitions" : "") for \(seconds) s (lab in \(root)/lab)")
        let status = try SuiteCommand.runLab("\(root)/lab", json: "\(root)/report.json", runs: "\(root)/runs")
        guard let run = try FileManager.default.contentsOfDirectory(atPath: "\(root)/runs").sorted().last else {
            throw ExitCode(3)
        }
        let events = RunEvent.read(path: "\(root)/runs/\(run)/events.jsonl")
        var lateness: [String: [Double]] = [:]
        for event in events where event.kind == .faultApplied || event.kind == .faultReverted {
            guard let detail = event.detail, let range = detail.range(of: "late "),
                let value = Double(detail[range.upperBound...].prefix { $0.isNumber || $0 == "." }),
                let kind = ["kill", "pause", "partition"].first(where: { detail.contains(": \($0) ") })
            else { continue }
            lateness["\(kind) \(event.kind == .faultApplied ? "apply" : "revert")", default: []].append(value)
        }
        progress.line("")
        progress.line("fault timing: actual minus scheduled, ms (run exit status \(status))")
        progress.line("WHAT              COUNT    P50    P99    MAX")
        for key in lateness.keys.sorted() {
            let values = lateness[key]!.sorted()
            func quantile(_ q: Double) -> Double { values[min(values.count - 1, Int(Double(values.count) * q))] }
            progress.line(
                key.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + String(format: "  %5d  %5.1f  %5.1f  %5.1f", values.count, quantile(0.5), quantile(0.99), values.last!))
        }
        if !partitions { progress.line("(partitions skipped: not root or no nft)") }
    }
}
