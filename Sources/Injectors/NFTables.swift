import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// A network fault between instance addresses, as nftables rules express it.
public struct PacketFault: Sendable, Hashable {
    public enum Effect: Sendable, Hashable {
        /// Every packet dropped: a partition that looks like a dead network (connects time out).
        case drop
        /// Refused with a TCP reset (ICMP for other protocols): a partition that fails fast.
        case reject
        /// Each packet dropped with this probability, 0…1.
        case loss(Double)
        /// Packets over this many bytes per second dropped (a policer).
        case bandwidth(bytesPerSecond: Int)
    }

    /// One direction between two addresses (IPv4).
    public struct Link: Sendable, Hashable {
        public var from: String
        public var to: String
        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// A name for the fault, unique in the run; its rules carry it as a comment and are
    /// removed by it.
    public var name: String
    /// The directed links affected.
    public var links: [Link]
    public var effect: Effect

    public init(name: String, links: [Link], effect: Effect) {
        self.name = name
        self.links = links
        self.effect = effect
    }

    /// Traffic from every source to every destination; with `bothWays`, the reverse too.
    public init(name: String, from: [String], to: [String], bothWays: Bool = true, effect: Effect) {
        var links: [Link] = []
        for source in from { for destination in to { links.append(Link(from: source, to: destination)) } }
        if bothWays { links += links.map { Link(from: $0.to, to: $0.from) } }
        self.init(name: name, links: links, effect: effect)
    }
}

/// Why an nftables change failed.
public struct NFTablesError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Packet faults with nftables, in one table per run (`inet stormlab_RUN`), so that everything a
/// run added is removed by deleting its table — at revert, at run end, or by `stormlab cleanup`
/// after a crash. Needs root (CAP_NET_ADMIN) and the `nft` command.
public struct NFTables: Sendable {
    /// The run's table name: `stormlab_` and the run id with anything but letters, digits and
    /// underscores replaced.
    public let table: String
    /// The `nft` executable.
    public var executable = "nft"
    /// Whose network namespace the rules go into: a process id (a container's first process),
    /// entered with `nsenter --net`; nil for this host's own namespace.
    public var namespacePID: Int32?

    /// The run's table, in this host's namespace or, with `namespacePID`, in that process's.
    public init(runID: String, namespacePID: Int32? = nil) {
        self.table = NFTables.tableName(runID: runID)
        self.namespacePID = namespacePID
    }

    public static func tableName(runID: String) -> String {
        "stormlab_" + String(runID.map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// Whether this process can change nftables: root and `nft` on the path.
    public static var isUsable: Bool {
        guard geteuid() == 0 else { return false }
        return (try? NFTables(runID: "probe").run(["list", "tables"])) != nil
    }

    /// The script that creates the table and its chain (idempotent: `add` does nothing when
    /// they exist). Loopback traffic passes the output hook once, so one chain sees every link.
    public var setupScript: String {
        """
        add table inet \(table)
        add chain inet \(table) faults { type filter hook output priority -10; policy accept; }
        """
    }

    /// The rules of `fault`, each tagged with its name as a comment.
    public func rules(for fault: PacketFault) -> [String] {
        let action: String
        switch fault.effect {
        case .drop:
            action = "drop"
        case .reject:
            action = "reject with tcp reset"
        case .loss(let probability):
            let perMille = Int((min(max(probability, 0), 1) * 1000).rounded())
            action = "numgen random mod 1000 < \(perMille) drop"
        case .bandwidth(let rate):
            action = "limit rate over \(max(1, rate)) bytes/second drop"
        }
        let comment = "comment \"\(Self.quoted(fault.name))\""
        return fault.links.map { link in
            let protocolMatch = fault.effect == .reject ? "meta l4proto tcp " : ""
            return "add rule inet \(table) faults ip saddr \(link.from) ip daddr \(link.to) \(protocolMatch)\(action) \(comment)"
        }
    }

    /// Creates the table if needed and adds the fault's rules, atomically.
    public func apply(_ fault: PacketFault) throws {
        try run(script: setupScript + "\n" + rules(for: fault).joined(separator: "\n") + "\n")
    }

    /// Removes the rules of the fault named `name`. Removing what is not there is harmless.
    public func revert(_ name: String) throws {
        guard let listing = try? run(["-a", "list", "chain", "inet", table, "faults"]) else { return }
        let comment = "comment \"\(Self.quoted(name))\""
        let handles = listing.split(separator: "\n").compactMap { line -> String? in
            guard line.contains(comment), let handle = line.split(separator: " ").last, Int(handle) != nil else { return nil }
            return String(handle)
        }
        guard !handles.isEmpty else { return }
        try run(script: handles.map { "delete rule inet \(table) faults handle \($0)" }.joined(separator: "\n") + "\n")
    }

    /// Deletes the run's table and every rule in it. Harmless when it does not exist.
    public func removeTable() throws {
        guard try tableExists() else { return }
        try run(["delete", "table", "inet", table])
    }

    public func tableExists() throws -> Bool {
        try run(["list", "tables"]).split(separator: "\n").contains { $0.hasSuffix(" \(table)") }
    }

    /// Every Stormlab table on this host (for cleanup).
    public static func stormlabTables() -> [String] {
        guard let listing = try? NFTables(runID: "x").run(["list", "tables"]) else { return [] }
        return listing.split(separator: "\n").compactMap { line in
            line.split(separator: " ").last.map(String.init).flatMap { $0.hasPrefix("stormlab_") ? $0 : nil }
        }
    }

    private static func quoted(_ text: String) -> String {
        String(text.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline })
    }

    // MARK: Running nft

    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        try execute(arguments)
    }

    @discardableResult
    func run(script: String) throws -> String {
        var template = Array("/tmp/stormlab-nft-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw NFTablesError(message: "cannot create a temporary file for nft") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        var bytes = Array(script.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return try execute(["-f", path])
    }

    private func execute(_ arguments: [String]) throws -> String {
        do {
            return try NamespaceCommand(executable: executable, namespacePID: namespacePID).run(arguments)
        } catch {
            throw NFTablesError(message: error.message)
        }
    }
}

