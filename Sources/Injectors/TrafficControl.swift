import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Latency on the traffic one sender sends to some addresses, as tc netem adds it.
public struct NetemDelay: Sendable, Hashable {
    /// The fault's name, for messages.
    public var name: String
    /// 1…65534, one per fault in a namespace: the class's minor number (in hex) and the filters'
    /// priority under the run's root qdisc, so a revert removes exactly this fault's.
    public var slot: Int
    /// IPv4 addresses whose packets are delayed.
    public var destinations: [String]
    /// The added delay.
    public var delay: Duration
    /// Each packet's delay is `delay` ± up to this (uniform); netem may reorder packets then.
    public var jitter: Duration

    public init(name: String, slot: Int, destinations: [String], delay: Duration, jitter: Duration = .zero) {
        self.name = name
        self.slot = slot
        self.destinations = destinations
        self.delay = delay
        self.jitter = jitter
    }
}

/// Why a tc change failed.
public struct TrafficControlError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Per-destination latency with tc in one network namespace (a container's, entered from the
/// host). On the interface that routes to a destination: an `htb` root qdisc with handle
/// `5354:` and no default class, so unclassified traffic passes straight through; per fault one
/// class whose leaf is `netem`, and one `u32` filter per destination address sending that
/// address's packets into it. htb rather than the classic `prio` because kernels built without
/// `prio` (this project's CI host) still have `htb`. The class's rate (10 Gbit/s) is a ceiling
/// no lab reaches, not a shaper. Needs root, `tc` and `ip` (iproute2) and a kernel with netem:
/// see ``netemIsAvailable``.
public struct TrafficControl: Sendable {
    /// The root qdisc's major number: `5354:` ("ST").
    public static let root = "5354"
    /// The `tc` executable.
    public var executable = "tc"
    /// Whose network namespace: a process id (a container's first process), entered with
    /// `nsenter --net`; nil for this host's own namespace.
    public var namespacePID: Int32?

    public init(namespacePID: Int32? = nil) {
        self.namespacePID = namespacePID
    }

    /// Whether this kernel can add a netem qdisc and this process may: root, `tc` and `unshare`,
    /// tried once on the loopback interface of a throwaway network namespace.
    public static let netemIsAvailable: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = NamespaceCommand(executable: "unshare")
        return (try? probe.run(["--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])) != nil
    }()

    /// tc changes in one namespace are read-then-write (is the root there yet?); one at a time.
    private static let changes = Mutex(())

    // MARK: Commands

    /// The tc argument vectors that add `delay` on `device`: the root qdisc first unless
    /// `rootExists`, then the class, its netem leaf, and the filters last, so no packet is
    /// classified into a class without its leaf.
    public static func commands(adding delay: NetemDelay, device: String, rootExists: Bool) -> [[String]] {
        let classID = "\(root):\(String(delay.slot, radix: 16))"
        var commands: [[String]] = []
        if !rootExists { commands.append(["qdisc", "add", "dev", device, "root", "handle", "\(root):", "htb"]) }
        commands.append(["class", "add", "dev", device, "parent", "\(root):", "classid", classID, "htb", "rate", "10gbit", "quantum", "60000"])
        var netem = ["qdisc", "add", "dev", device, "parent", classID, "netem", "limit", "10000", "delay", microseconds(delay.delay)]
        if delay.jitter > .zero { netem.append(microseconds(delay.jitter)) }
        commands.append(netem)
        for destination in delay.destinations {
            commands.append([
                "filter", "add", "dev", device, "parent", "\(root):", "protocol", "ip", "prio", String(delay.slot),
                "u32", "match", "ip", "dst", "\(destination)/32", "flowid", classID,
            ])
        }
        return commands
    }

    /// The tc argument vectors that remove the fault in `slot` from `device`: its filters, then
    /// its class (which takes the netem leaf with it).
    public static func commands(removing slot: Int, device: String) -> [[String]] {
        [
            ["filter", "del", "dev", device, "parent", "\(root):", "protocol", "ip", "prio", String(slot)],
            ["class", "del", "dev", device, "classid", "\(root):\(String(slot, radix: 16))"],
        ]
    }

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))us"
    }

    // MARK: Applying

    /// Adds `delay` on every interface that routes to one of its destinations. On failure, what
    /// this call added is removed again and the error says which command failed.
    public func apply(_ delay: NetemDelay) throws(TrafficControlError) {
        guard (1...0xFFFE).contains(delay.slot) else {
            throw TrafficControlError(message: "netem slot \(delay.slot) is out of 1…65534")
        }
        try Self.changes.withLock { _ throws(TrafficControlError) in
            var byDevice: [String: [String]] = [:]
            for destination in delay.destinations {
                byDevice[try device(routingTo: destination), default: []].append(destination)
            }
            let roots = Set(try devicesWithRoot())
            var done: [String] = []
            for (device, destinations) in byDevice.sorted(by: { $0.key < $1.key }) {
                var part = delay
                part.destinations = destinations
                do throws(TrafficControlError) {
                    for command in Self.commands(adding: part, device: device, rootExists: roots.contains(device)) {
                        try tc(command)
                    }
                    done.append(device)
                } catch {
                    for device in done + [device] { remove(slot: delay.slot, from: device, dropRoot: true) }
                    throw error
                }
            }
        }
    }

    /// Removes the fault in `slot` from every interface with the run's root qdisc, and the root
    /// qdisc where no fault is left. Removing what is not there is harmless.
    public func revert(slot: Int) throws(TrafficControlError) {
        try Self.changes.withLock { _ throws(TrafficControlError) in
            for device in try devicesWithRoot() {
                remove(slot: slot, from: device, dropRoot: true)
            }
        }
    }

    /// Removes the slot's filters and class; with `dropRoot`, the run's root qdisc too once it
    /// has no class left (another root qdisc is never touched). Best effort: each command runs
    /// whatever the one before it did.
    private func remove(slot: Int, from device: String, dropRoot: Bool) {
        for command in Self.commands(removing: slot, device: device) { _ = try? tc(command) }
        guard dropRoot, (try? devicesWithRoot())?.contains(device) == true, let classes = try? tc(["class", "show", "dev", device]) else { return }
        if !classes.contains("class htb \(Self.root):") {
            _ = try? tc(["qdisc", "del", "dev", device, "root"])
        }
    }

    // MARK: Reading

    /// The interface the namespace's routes send `destination` through (`ip route get`).
    func device(routingTo destination: String) throws(TrafficControlError) -> String {
        let output: String
        do {
            output = try NamespaceCommand(executable: "ip", namespacePID: namespacePID).run(["-o", "route", "get", destination])
        } catch {
            throw TrafficControlError(message: error.message)
        }
        let words = output.split(whereSeparator: \.isWhitespace)
        guard let index = words.firstIndex(of: "dev"), index + 1 < words.count else {
            throw TrafficControlError(message: "no interface routes to \(destination): \(output)")
        }
        return String(words[index + 1])
    }

    /// Interfaces whose root qdisc is the run's (`qdisc htb 5354: dev eth0 root …`).
    func devicesWithRoot() throws(TrafficControlError) -> [String] {
        try tc(["qdisc", "show"]).split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count > 4, words[1] == "htb", words[2] == "\(Self.root):", words[3] == "dev" else { return nil }
            return String(words[4])
        }
    }

    @discardableResult
    private func tc(_ arguments: [String]) throws(TrafficControlError) -> String {
        do {
            return try NamespaceCommand(executable: executable, namespacePID: namespacePID).run(arguments)
        } catch {
            throw TrafficControlError(message: error.message)
        }
    }
}
