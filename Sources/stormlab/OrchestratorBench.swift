import ArgumentParser
import Foundation
import LabSpec
import Logging
import Orchestrator

#if canImport(Glibc)
import Glibc
#endif

/// `stormlab bench orchestrator`: how long the process runtime takes from `stormlab run` to all
/// instances ready, and what the orchestrator itself costs in memory.
struct OrchestratorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orchestrator",
        abstract: "Time from run to all instances ready, for 10 and 100 trivial instances, and the orchestrator's memory.",
        discussion: """
            A trivial instance is `/bin/sleep` with one socket-activated TCP port (the orchestrator \
            binds it and passes it as fd 3) and TCP readiness, so the figure is the runtime's own \
            cost: preparing the run (addresses, ports, run folder, ledger), forking every process \
            from the spawner thread, piping its output into its log, and probing. With \
            --program auth, instances are `stormlab auth` processes that say READY=1 on the \
            notify socket instead.
            """
    )

    @Option(help: "Instance counts to measure, comma-separated.")
    var instances = "10,100"

    @Option(help: "What an instance runs: sleep (trivial, TCP readiness) or auth (stormlab auth, notify readiness).")
    var program = "sleep"

    @Option(help: "Runs per count; the figure is the median.")
    var repeats = 3

    func validate() throws {
        guard ["sleep", "auth"].contains(program) else { throw ValidationError("--program is sleep or auth") }
        guard counts.count > 0, counts.allSatisfy({ $0 > 0 && $0 <= 2000 }) else {
            throw ValidationError("--instances takes counts from 1 to 2000")
        }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    var counts: [Int] { instances.split(separator: ",").compactMap { Int($0) } }

    func project(count: Int) -> ComposeProject {
        var service: ServiceSpec
        if program == "sleep" {
            service = ServiceSpec(name: "idle", entrypoint: ["/bin/sleep", "3600"], replicas: count, expose: [PortMapping(target: 7000)])
            service.stormlab.socketActivation = [ActivatedSocket(port: 7000, name: "overlay")]
        } else {
            service = benchAuthService(replicas: count)
        }
        return benchProject(service)
    }

    func run() async throws {
        var progress = Progress()
        let runs = makeWorkFolder("bench") + "/runs"
        progress.line("orchestrator bench: \(program) instances, median of \(repeats); runs in \(runs)")
        var configuration = RunConfiguration(runsFolder: runs)
        configuration.executables = ["stormlab": ownExecutablePath()]
        var rows: [String] = []
        for count in counts {
            var times: [Duration] = []
            var resident = 0
            for attempt in 1...repeats {
                progress.update("\(count) instances, run \(attempt)/\(repeats) …")
                let clock = ContinuousClock()
                let started = clock.now
                let run: LabRun
                do {
                    run = try LabRun(project: project(count: count), configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
                } catch {
                    progress.line("error: \(error)")
                    throw ExitCode(3)
                }
                let elapsed: Duration = try await run.run { run in
                    try await run.waitUntilReady()
                    return clock.now - started
                }
                times.append(elapsed)
                resident = max(resident, residentBytes(pid: getpid()) ?? 0)
            }
            let median = times.sorted()[times.count / 2]
            let row = "\(count) instances: run to all ready \(formatSeconds(median)) (median of \(repeats); min \(formatSeconds(times.min()!)), max \(formatSeconds(times.max()!))); orchestrator RSS \(resident / 1_048_576) MiB"
            rows.append(row)
            progress.line(row)
        }
        progress.line("peak orchestrator RSS (VmHWM): \((peakResidentBytes() ?? 0) / 1_048_576) MiB")
    }
}

/// `replicas` instances of `stormlab auth`, ready by READY=1, on port 7100: passed by socket
/// activation under the process runtime, bound by the instance itself in a container.
func benchAuthService(replicas: Int, image: String? = nil, restart: RestartPolicy = .no) -> ServiceSpec {
    var service = ServiceSpec(
        name: "auth", image: image,
        command: ["auth", "--listen=0.0.0.0:7100", "--no-metrics", "--hash-iterations=10", "--log-level=warning"],
        replicas: replicas, expose: [PortMapping(target: 7100)], restart: restart)
    service.stormlab.executable = ["stormlab"]  // the image's entrypoint under docker
    service.stormlab.notify = true
    service.stormlab.socketActivation = [ActivatedSocket(port: 7100, name: "overlay")]
    return service
}

/// A one-service lab for a bench, stopped by SIGTERM.
func benchProject(_ service: ServiceSpec) -> ComposeProject {
    var service = service
    service.stop = StopPolicy(signal: "SIGTERM", gracePeriod: .seconds(5))
    return ComposeProject(name: "bench", file: "bench/compose.yaml", services: [service])
}

/// The peak resident memory of this process (VmHWM), in bytes.
func peakResidentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
    }
    return nil
}
