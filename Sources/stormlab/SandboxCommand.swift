import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// PID 1 of the docker runtime's per-instance sandbox container: it only holds the network
/// namespace the instance's container joins, so the namespace, its address and the faults in it
/// outlive the instance's restarts (what a pause container does for a Kubernetes pod).
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Hold a container's network namespace until SIGTERM (the docker runtime's sandbox).",
        shouldDisplay: false
    )

    func run() throws {
        // PID 1 gets no signal it has no handler for.
        for stop in [SIGTERM, SIGINT] { signal(stop) { _ in _exit(0) } }
        while true { pause() }
    }
}
