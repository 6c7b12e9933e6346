import Foundation
import Injectors
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct TrafficControlCommandTests {
    let delay = NetemDelay(name: "slow#3", slot: 26, destinations: ["10.199.4.2", "10.199.4.3"], delay: .milliseconds(80), jitter: .microseconds(2500))

    @Test func theFirstFaultOnAnInterfaceAddsTheRootThenClassLeafAndFilters() {
        let commands = TrafficControl.commands(adding: delay, device: "eth0", rootExists: false)
        #expect(commands == [
            ["qdisc", "add", "dev", "eth0", "root", "handle", "5354:", "htb"],
            ["class", "add", "dev", "eth0", "parent", "5354:", "classid", "5354:1a", "htb", "rate", "10gbit", "quantum", "60000"],
            ["qdisc", "add", "dev", "eth0", "parent", "5354:1a", "netem", "limit", "10000", "delay", "80000us", "2500us"],
            ["filter", "add", "dev", "eth0", "parent", "5354:", "protocol", "ip", "prio", "26", "u32", "match", "ip", "dst", "10.199.4.2/32", "flowid", "5354:1a"],
            ["filter", "add", "dev", "eth0", "parent", "5354:", "protocol", "ip", "prio", "26", "u32", "match", "ip", "dst", "10.199.4.3/32", "flowid", "5354:1a"],
        ])
    }

    @Test func aLaterFaultReusesTheRootAndNoJitterMeansAFixedDelay() {
        var fixed = delay
        fixed.jitter = .zero
        let commands = TrafficControl.commands(adding: fixed, device: "eth0", rootExists: true)
        #expect(commands.first?.starts(with: ["class", "add"]) == true)
        #expect(commands[1].suffix(2) == ["delay", "80000us"])
    }

    @Test func aRevertRemovesTheFiltersThenTheClass() {
        #expect(TrafficControl.commands(removing: 26, device: "eth0") == [
            ["filter", "del", "dev", "eth0", "parent", "5354:", "protocol", "ip", "prio", "26"],
            ["class", "del", "dev", "eth0", "classid", "5354:1a"],
        ])
    }
}

/// Real tc in a real network namespace, entered by pid as a container's is. The namespace has
/// 10.251.N.2 on one end of a veth pair; this host's end has 10.251.N.1 and 10.251.N.4. A
/// connect from this host to a closed port in the namespace fails when the namespace's reset
/// comes back, so its time is the round trip, and a delay on what the namespace sends to .1
/// shows in connects from .1 and not from .4.
@Suite(.serialized, .timeLimit(.minutes(1)), .enabled(if: geteuid() == 0 && Host.has("ip") && Host.has("tc"), "needs root and iproute2 (ip, tc)"))
struct TrafficControlKernelTests {
    @Test(.enabled(if: TrafficControl.netemIsAvailable, "this kernel has no netem qdisc (sch_netem)"))
    func netemDelaysExactlyOneDestinationUntilReverted() throws {
        let lab = try VethNamespace()
        defer { lab.remove() }
        let control = TrafficControl(namespacePID: lab.pid)
        #expect(lab.roundTrip(from: lab.delayed) < 0.04)

        try control.apply(NetemDelay(name: "slow", slot: 7, destinations: [lab.delayed], delay: .milliseconds(60)))
        #expect(lab.roundTrip(from: lab.delayed) >= 0.055, "what the namespace sends to .1 waits 60 ms")
        #expect(lab.roundTrip(from: lab.other) < 0.04, "what it sends to .4 does not")
        try control.apply(NetemDelay(name: "slower", slot: 8, destinations: [lab.other], delay: .milliseconds(30)))
        #expect(lab.roundTrip(from: lab.other) >= 0.025, "a second fault has its own class")

        try control.revert(slot: 7)
        #expect(lab.roundTrip(from: lab.delayed) < 0.04, "reverted")
        #expect(lab.roundTrip(from: lab.other) >= 0.025, "the other fault stays")
        try control.revert(slot: 8)
        try control.revert(slot: 8)  // twice is harmless
        #expect(lab.rootQdisc().hasPrefix("qdisc noqueue"), "the run's root qdisc is gone with its last fault")
    }

    @Test(.enabled(if: !TrafficControl.netemIsAvailable, "this kernel has netem; the test above runs instead"))
    func withoutNetemAnApplyFailsAndLeavesNothing() throws {
        let lab = try VethNamespace()
        defer { lab.remove() }
        let before = lab.rootQdisc()
        let error = #expect(throws: TrafficControlError.self) {
            try TrafficControl(namespacePID: lab.pid).apply(NetemDelay(name: "slow", slot: 7, destinations: [lab.delayed], delay: .milliseconds(60)))
        }
        #expect(error?.message.contains("netem") == true, "\(error?.message ?? "")")
        #expect(lab.rootQdisc() == before, "the htb root and class added before the netem leaf failed are gone")
        #expect(lab.roundTrip(from: lab.delayed) < 0.04)
    }
}

struct CommandFailed: Error, CustomStringConvertible {
    var description: String
}

enum Host {
    /// Whether `name` is an executable in the usual system folders.
    static func has(_ name: String) -> Bool {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }
}

/// A network namespace joined to this host's by a veth pair, with a `sleep` inside whose pid
/// stands for a container's first process. ``remove()`` deletes the namespace (and with it both
/// ends of the pair) and ends the sleep.
final class VethNamespace {
    let name: String
    let hostEnd: String
    let prefix: String
    let pid: Int32
    private let sleeper: Process
    var delayed: String { "\(prefix).1" }
    var other: String { "\(prefix).4" }
    var inside: String { "\(prefix).2" }

    init() throws {
        let n = Int(getpid() % 200) + Int.random(in: 1...50)
        name = "stormlab-tc-\(getpid())-\(n)"
        hostEnd = "stltc\(n)"
        prefix = "10.251.\(n)"
        let commands = [
            ["netns", "add", name],
            ["link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", name],
            ["addr", "add", "\(prefix).1/24", "dev", hostEnd],
            ["addr", "add", "\(prefix).4/24", "dev", hostEnd],
            ["link", "set", hostEnd, "up"],
            ["-n", name, "addr", "add", "\(prefix).2/24", "dev", "eth0"],
            ["-n", name, "link", "set", "eth0", "up"],
        ]
        let sleeper = Process()
        self.sleeper = sleeper
        do {
            for command in commands { try Self.ip(command) }
            sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            sleeper.arguments = ["ip", "netns", "exec", name, "sleep", "60"]
            try sleeper.run()
        } catch {
            try? Self.ip(["netns", "del", name])
            throw error
        }
        pid = sleeper.processIdentifier
        // `ip netns exec` enters the namespace, then becomes `sleep`: wait until it has.
        let own = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        for _ in 0..<100 {
            let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
            if let theirs, theirs != own { break }
            usleep(10_000)
        }
    }

    func remove() {
        kill(pid, SIGKILL)  // not terminate(): the test runner's children inherit SIGTERM blocked
        sleeper.waitUntilExit()
        try? Self.ip(["netns", "del", name])
    }

    /// The namespace's root qdisc on its end of the pair, as `tc` prints it.
    func rootQdisc() -> String {
        (try? Self.run("/usr/bin/env", ["ip", "netns", "exec", name, "tc", "qdisc", "show", "dev", "eth0", "root"])) ?? ""
    }

    /// Seconds a connect from `source` to a closed port inside takes to be refused: the median
    /// of five.
    func roundTrip(from source: String) -> Double {
        var times: [Double] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            close(connectedSocket(from: source, to: inside, port: 9, nonBlocking: false))
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        return times.sorted()[times.count / 2]
    }

    private static func ip(_ arguments: [String]) throws {
        try run("/usr/bin/env", ["ip"] + arguments)
    }

    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(description: "\(arguments.joined(separator: " ")): \(text)")
        }
        return text
    }
}
