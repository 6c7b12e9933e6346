import ArgumentParser
import Overlay
import Systemd

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a small overlay of real processes on loopback, kill a supernode, and watch it heal.",
        discussion: "Exit status 0 when the overlay reached its online target again after the kill, 1 when it did not."
    )

    @Option(help: "Supernodes.")
    var supernodes = 3

    @Option(help: "Client processes.")
    var clients = 2

    @Option(name: .customLong("virtual"), help: "Virtual clients per client process.")
    var virtualClients = 500

    @Option(help: "Policy of every role: legacy or adaptive.")
    var policy = Policy.adaptive

    @Option(help: "Share of virtual clients that must be online, 0…1.")
    var target = 0.99

    @Option(help: "Seconds to wait for each phase.")
    var timeout = 60.0

    func validate() throws {
        guard supernodes >= 2 else { throw ValidationError("--supernodes must be at least 2: one is killed") }
        guard clients >= 1, virtualClients >= 1 else { throw ValidationError("--clients and --virtual must be at least 1") }
        guard target > 0, target <= 1 else { throw ValidationError("--target must be in (0, 1]") }
    }

    func run() async throws {
        var progress = Progress()
        var layout = LocalClusterLayout(executable: ownExecutablePath(), directory: makeWorkFolder("demo"))
        layout.supernodes = supernodes
        layout.clientProcesses = clients
        layout.virtualClientsPerProcess = virtualClients
        layout.policy = policy
        layout.supernodeCapacity = max(100, (clients * virtualClients * 2) / supernodes)
        let cluster = try LocalCluster(layout: layout)
        let total = Double(clients * virtualClients)
        progress.line("starting 1 auth, \(supernodes) supernodes, \(clients) client processes with \(clients * virtualClients) virtual clients (\(policy)); logs in \(layout.directory)")
        var healed = false
        do {
            healed = try await rehearse(cluster, total: total, progress: &progress)
        } catch {
            progress.line("error: \(error)")
            await cluster.shutdown()
            throw ExitCode(3)
        }
        await cluster.shutdown()
        let unclean = cluster.exits.filter { $0.key != "supernode-1" && $0.value != .exited(0) }
        if !unclean.isEmpty { progress.line("instances that did not stop cleanly: \(unclean)") }
        if !healed { throw ExitCode(1) }
    }

    /// Steady state, then the kill and the re-homing. Returns whether the overlay healed.
    private func rehearse(_ cluster: LocalCluster, total: Double, progress: inout Progress) async throws -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        try cluster.start()
        try await cluster.waitReady(timeout: .seconds(timeout))
        progress.line("all \(cluster.instances.count) instances ready (READY=1) in \(formatSeconds(clock.now - started))")

        guard let steady = try await waitOnline(cluster, total: total, phase: "steady state", progress: &progress) else {
            progress.line("the overlay never reached \(Int(target * 100))% online")
            return false
        }
        progress.line("steady: \(Int(steady.online))/\(Int(total)) online after \(formatSeconds(steady.elapsed))")

        let attached = await cluster.total("stormlab_supernode_clients", role: "supernode")
        progress.line("kill -9 supernode-1 (\(Int(attached)) clients attached overall)")
        cluster.signal("supernode-1", SIGKILL)
        try await Task.sleep(for: .milliseconds(300))
        try cluster.poll()
        guard let recovery = try await waitOnline(cluster, total: total, phase: "re-homing", progress: &progress) else {
            progress.line("not healed within \(Int(timeout)) s")
            return false
        }
        progress.line("healed: \(Int(recovery.online))/\(Int(total)) online again \(formatSeconds(recovery.elapsed)) after the kill")
        let lost = await cluster.total("stormlab_client_sessions_lost_total", role: "client")
        let promoted = await cluster.total("stormlab_client_promoted", role: "client")
        progress.line("sessions lost and re-homed: \(Int(lost)); client processes promoted to supernode: \(Int(promoted))")
        return true
    }

    /// Polls the clients' online gauges until the target share is met or the timeout passes.
    private func waitOnline(
        _ cluster: LocalCluster, total: Double, phase: String, progress: inout Progress
    ) async throws -> (online: Double, elapsed: Duration)? {
        let clock = ContinuousClock()
        let started = clock.now
        while clock.now - started < .seconds(timeout) {
            let online = await cluster.total("stormlab_client_online", role: "client")
            progress.update("\(phase): \(Int(online))/\(Int(total)) online (\(formatSeconds(clock.now - started)))")
            if online >= total * target { return (online, clock.now - started) }
            try await Task.sleep(for: .milliseconds(250))
        }
        return nil
    }
}
