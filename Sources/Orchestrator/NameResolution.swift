import Foundation
import LabSpec

/// Where one instance lives under the process runtime: its own loopback address.
public struct InstanceAddress: Sendable, Hashable, Codable {
    /// The service's name.
    public var service: String
    /// The instance's name, `SERVICE-N`.
    public var name: String
    /// N, from 1.
    public var index: Int
    /// The instance's own address, `127.x.y.z`.
    public var address: String
    /// Where the others reach it when the run routes traffic through the fault proxy: the
    /// proxy's listening address for this instance; nil when traffic goes direct.
    public var proxyAddress: String?

    /// The address other instances use: the proxy's for it, or its own.
    public var reachableAddress: String { proxyAddress ?? address }

    /// Creates an address record.
    public init(service: String, name: String, index: Int, address: String, proxyAddress: String? = nil) {
        self.service = service
        self.name = name
        self.index = index
        self.address = address
        self.proxyAddress = proxyAddress
    }
}

/// How names in a lab's `command`, `entrypoint` and `environment` become addresses under the
/// process runtime, where there is no DNS: two explicit rules, applied to each instance's strings
/// when it is started.
///
/// 1. **Per-instance variables** (``InstanceVariables``): `${STORMLAB_ADDRESS}`,
///    `${STORMLAB_INDEX}`, `${STORMLAB_INSTANCE}`, `${STORMLAB_SERVICE}` and `${STORMLAB_RUN}`
///    (or `$NAME`) become the instance's own values. The same values are in its environment.
/// 2. **Host references**: `NAME:PORT`, where NAME is a service or instance name of the lab,
///    standing at the start of the string or after one of `, = / @ ( [ ; "` or a space, and
///    PORT is a port number (1–65535) not followed by a letter, digit or `.`:
///    - an instance name (`supernode-2:7200`) becomes that instance's `ADDRESS:PORT` (with the
///      fault proxy in the path, the proxy's address for it: see ``InstanceAddress/proxyAddress``);
///    - a service name (`supernode:7200`) becomes every instance's `ADDRESS:PORT`, in instance
///      order, joined by commas (one entry for a single-instance service such as `auth`).
///
/// Nothing else is rewritten: a bare service name without a port stays as it is, so words like
/// `client` in a command are safe.
public struct NameResolver: Sendable {
    private let byService: [String: [InstanceAddress]]
    private let byInstance: [String: InstanceAddress]
    private let run: String
    /// Instance names first, then service names, longest first, so the longest name wins.
    private let names: [String]

    /// A resolver over every instance of a run; `serviceNames` includes services with no instance
    /// (they resolve to an empty list).
    public init(instances: [InstanceAddress], serviceNames: [String], run: String) {
        var byService: [String: [InstanceAddress]] = [:]
        for name in serviceNames { byService[name] = [] }
        for instance in instances { byService[instance.service, default: []].append(instance) }
        self.byService = byService.mapValues { $0.sorted { $0.index < $1.index } }
        self.byInstance = Dictionary(instances.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.run = run
        self.names = (Array(byInstance.keys) + Array(byService.keys)).sorted { ($0.count, $0) > ($1.count, $1) }
    }

    /// The per-instance variables and their values for `instance`.
    public func variables(for instance: InstanceAddress) -> [String: String] {
        [
            InstanceVariables.instance: instance.name,
            InstanceVariables.service: instance.service,
            InstanceVariables.index: String(instance.index),
            InstanceVariables.address: instance.address,
            InstanceVariables.advertise: instance.reachableAddress,
            InstanceVariables.run: run,
        ]
    }

    /// `text` with both rules applied for `instance`.
    public func resolve(_ text: String, for instance: InstanceAddress) -> String {
        resolveHosts(expandVariables(text, for: instance))
    }

    /// Rule 1 only.
    public func expandVariables(_ text: String, for instance: InstanceAddress) -> String {
        guard text.contains("$") else { return text }
        var result = text
        for (name, value) in variables(for: instance) {
            result = result.replacing("${\(name)}", with: value)
        }
        // `$NAME` not followed by another name character.
        for (name, value) in variables(for: instance).sorted(by: { $0.key.count > $1.key.count }) {
            var output = ""
            var rest = Substring(result)
            while let range = rest.range(of: "$" + name) {
                let after = rest[range.upperBound...].first
                output += rest[..<range.lowerBound]
                if let after, after == "_" || after.isLetter || after.isNumber {
                    output += rest[range]
                } else {
                    output += value
                }
                rest = rest[range.upperBound...]
            }
            result = output + rest
        }
        return result
    }

    /// Rule 2 only.
    public func resolveHosts(_ text: String) -> String {
        guard text.contains(":") else { return text }
        let characters = Array(text)
        var output = ""
        var index = 0
        let boundaries: Set<Character> = [",", "=", "/", "@", "(", "[", ";", "\"", "'", " ", "\t"]
        while index < characters.count {
            let atBoundary = index == 0 || boundaries.contains(characters[index - 1])
            if atBoundary, let (replacement, length) = hostReference(in: characters, at: index) {
                output += replacement
                index += length
            } else {
                output.append(characters[index])
                index += 1
            }
        }
        return output
    }

    private func hostReference(in characters: [Character], at start: Int) -> (String, Int)? {
        for name in names {
            let nameCharacters = Array(name)
            let colon = start + nameCharacters.count
            guard colon < characters.count, characters[colon] == ":",
                Array(characters[start..<colon]) == nameCharacters
            else { continue }
            var end = colon + 1
            while end < characters.count, characters[end].isASCII, characters[end].isNumber { end += 1 }
            let digits = end - colon - 1
            guard (1...5).contains(digits) else { continue }
            if end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "." {
                continue
            }
            let port = String(characters[(colon + 1)..<end])
            guard let number = Int(port), (1...65535).contains(number) else { continue }
            let addresses: [InstanceAddress]
            if let instance = byInstance[name] {
                addresses = [instance]
            } else {
                addresses = byService[name] ?? []
            }
            return (addresses.map { "\($0.reachableAddress):\(port)" }.joined(separator: ","), end - start)
        }
        return nil
    }
}

/// The loopback addresses of one run: instance K (from 0, over the whole run) gets
/// `127.A.B.C` counting up from `127.A.B.1`, skipping host parts 0 and 255.
public struct AddressBlock: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The second and third octets of the first address.
    public var a: UInt8
    public var b: UInt8

    /// A block starting at `127.a.b.1`.
    public init(a: UInt8, b: UInt8) {
        self.a = a
        self.b = b
    }

    /// Reads `127.A.B` (or `127.A.B.0`, `A.B`).
    public init?(parsing text: String) {
        var parts = text.split(separator: ".").map(String.init)
        if parts.first == "127" { parts.removeFirst() }
        if parts.count == 3, parts[2] == "0" { parts.removeLast() }
        guard parts.count == 2, let a = UInt8(parts[0]), let b = UInt8(parts[1]) else { return nil }
        self.init(a: a, b: b)
    }

    /// A random block in `127.200.0.0`–`127.250.255.0`, apart from the ranges the demo and the
    /// end-to-end tests of the overlay use.
    public static func random() -> AddressBlock {
        AddressBlock(a: UInt8.random(in: 200...250), b: UInt8.random(in: 0...255))
    }

    /// The address of the `offset`-th instance (from 0); nil past the end of the 127/8 range.
    public func address(_ offset: Int) -> String? {
        let perBlock = 254
        let third = Int(b) + offset / perBlock
        let second = Int(a) + third / 256
        guard second <= 255 else { return nil }
        return "127.\(second).\(third % 256).\(offset % perBlock + 1)"
    }

    /// `127.A.B.0`.
    public var description: String { "127.\(a).\(b).0" }
}
