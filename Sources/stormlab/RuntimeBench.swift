import ArgumentParser
import DockerEngine
import Foundation
import LabSpec
import Logging
import Orchestrator

#if canImport(Glibc)
import Glibc
#endif

/// `stormlab bench runtime`: the process runtime and the docker runtime side by side, on the same
/// lab of `stormlab auth` instances: run to all ready, SIGKILL to restarted and ready again, and
/// what each ships (the executable, the image).
struct RuntimeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Process and docker runtimes side by side: start to ready, kill to restart to ready, image size.",
        discussion: """
            Each run starts N `stormlab auth` instances (READY=1 on the notify socket, restart \
            on-failure), times `run` to all ready, SIGKILLs one instance and times it until the \
            orchestrator has restarted it and it is ready again, then stops. The docker runtime \
            is measured when an engine answers and the image exists (Docker/build-image.sh); \
            the process runtime runs this executable.
            """
    )

    @Option(help: "Instances per run.")
    var instances = 10

    @Option(help: "Runs per runtime; figures are medians.")
    var repeats = 3

    @Option(help: "The image the docker runtime runs.")
    var image = "stormlab:latest"

    func validate() throws {
        guard (1...200).contains(instances) else { throw ValidationError("--instances takes 1 to 200") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    struct Figures {
        var ready: [Duration] = []
        var restarted: [Duration] = []
    }

    func project() -> ComposeProject {
        benchProject(benchAuthService(replicas: instances, image: image, restart: .onFailure(maxRetries: nil)))
    }

    func run() async throws {
        var progress = Progress()
        let runs = makeWorkFolder("bench") + "/runs"
        progress.line("runtime bench: \(instances) stormlab auth instances, median of \(repeats); runs in \(runs)")
        var runtimes: [RuntimeKind] = [.process]
        var imageSize: Int64?
        do {
            let engine = try DockerEngine.fromEnvironment()
            _ = try await engine.version()
            if let info = try await engine.imageExists(image) {
                runtimes.append(.docker)
                imageSize = info.size
            } else {
                progress.line("docker runtime skipped: no image \(image) (build it with Docker/build-image.sh)")
            }
        } catch {
            progress.line("docker runtime skipped: \(error)")
        }

        var rows: [(RuntimeKind, Figures)] = []
        for runtime in runtimes {
            var configuration = RunConfiguration(runsFolder: runs)
            configuration.runtime = runtime
            configuration.executables = ["stormlab": ownExecutablePath()]
            var figures = Figures()
            for attempt in 1...repeats {
                progress.update("\(runtime) runtime, run \(attempt)/\(repeats) …")
                do {
                    try await measure(configuration: configuration, into: &figures, victim: "auth-\((attempt - 1) % instances + 1)")
                } catch {
                    progress.line("error: \(runtime) runtime: \(error)")
                    throw ExitCode(3)
                }
            }
            rows.append((runtime, figures))
        }

        progress.line("RUNTIME  START TO ALL READY       KILL TO RESTARTED AND READY  SHIPS")
        for (runtime, figures) in rows {
            let ships: String
            switch runtime {
            case .process:
                let size = (try? FileManager.default.attributesOfItem(atPath: ownExecutablePath())[.size] as? Int) ?? 0
                ships = "executable \(size / 1_048_576) MiB (this build) + host libraries"
            case .docker:
                ships = "image \(image) \((imageSize ?? 0) / 1_048_576) MiB"
            }
            progress.line(
                "\(runtime.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  "
                    + "\(Self.summary(figures.ready).padding(toLength: 25, withPad: " ", startingAt: 0))"
                    + "\(Self.summary(figures.restarted).padding(toLength: 29, withPad: " ", startingAt: 0))"
                    + ships)
        }
    }

    /// One run: start to all ready, then SIGKILL `victim` until it is restarted and ready.
    private func measure(configuration: RunConfiguration, into figures: inout Figures, victim: String) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let run = try LabRun(project: project(), configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let (ready, restarted): (Duration, Duration) = try await run.run { run in
            try await run.waitUntilReady()
            let ready = clock.now - started
            let before = run.status().first { $0.name == victim }
            let killed = clock.now
            guard run.signal(victim, SIGKILL) else { throw BenchError("\(victim) has no process to kill") }
            let deadline = killed + .seconds(60)
            while clock.now < deadline {
                if let now = run.status().first(where: { $0.name == victim }),
                    now.restarts > (before?.restarts ?? 0), now.phase == .ready
                {
                    return (ready, clock.now - killed)
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            throw BenchError("\(victim) was not restarted and ready within 60 s")
        }
        figures.ready.append(ready)
        figures.restarted.append(restarted)
    }

    static func summary(_ times: [Duration]) -> String {
        let sorted = times.sorted()
        guard let first = sorted.first, let last = sorted.last else { return "-" }
        let median = formatSeconds(sorted[sorted.count / 2])
        return sorted.count == 1 ? median : median + " (\(formatSeconds(first, unit: ""))–\(formatSeconds(last, unit: "")))"
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
