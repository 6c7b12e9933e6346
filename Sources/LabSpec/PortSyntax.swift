/// The short syntax of Compose `ports` and `expose`:
/// `[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]`, where ports may be ranges (`8000-8010`) and an IPv6
/// host address may be bracketed (`[::1]:8080:80`).
enum PortSyntax {
    struct Failure: Error {
        var reason: String
    }

    /// A port number 1–65535.
    static func number(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), text.utf8.count <= 5,
            let value = Int(text), (1...65535).contains(value)
        else { return nil }
        return value
    }

    /// The mappings one short-syntax entry stands for, one per port of a range. With `publishing`
    /// false (`expose`), a published part is refused.
    static func parse(_ text: String, publishing: Bool) -> Result<[PortMapping], Failure> {
        var rest = Substring(text)
        var proto = PortProtocol.tcp
        if let slash = rest.lastIndex(of: "/") {
            let name = rest[rest.index(after: slash)...]
            guard let parsed = PortProtocol(rawValue: name.lowercased()) else {
                return .failure(Failure(reason: "unknown protocol \"\(name)\" (use tcp, udp or sctp)"))
            }
            proto = parsed
            rest = rest[..<slash]
        }
        var hostIP: String?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[close...].hasPrefix("]:") else {
                return .failure(Failure(reason: "a bracketed host address must be followed by \":\""))
            }
            hostIP = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(close, offsetBy: 2)...]
        }
        var parts = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 3, hostIP == nil {
            // An unbracketed IPv6 address: everything but the last two parts.
            hostIP = parts.dropLast(2).joined(separator: ":")
            parts = Array(parts.suffix(2))
        } else if parts.count == 3, hostIP == nil {
            hostIP = parts.removeFirst()
        }
        if hostIP != nil && parts.count != 2 {
            return .failure(Failure(reason: "expected HOST_IP:PUBLISHED:TARGET"))
        }
        guard (1...2).contains(parts.count) else { return .failure(Failure(reason: "too many \":\"")) }
        if parts.count == 2 && !publishing {
            return .failure(Failure(reason: "expose takes only container ports, not PUBLISHED:TARGET"))
        }
        if hostIP == "" { hostIP = nil }
        if let hostIP, !isIPAddress(hostIP) {
            return .failure(Failure(reason: "\"\(hostIP)\" is not an IP address"))
        }
        let targetRange: ClosedRange<Int>
        switch range(parts[parts.count - 1]) {
        case .success(let range): targetRange = range
        case .failure(let failure): return .failure(failure)
        }
        var publishedRange: ClosedRange<Int>?
        if parts.count == 2, !parts[0].isEmpty {
            switch range(parts[0]) {
            case .success(let range): publishedRange = range
            case .failure(let failure): return .failure(failure)
            }
        }
        if let publishedRange, publishedRange.count != targetRange.count {
            return .failure(
                Failure(
                    reason: "the published range has \(publishedRange.count) ports but the target has \(targetRange.count)"))
        }
        return .success(
            targetRange.enumerated().map { offset, target in
                PortMapping(
                    target: target, published: publishedRange.map { $0.lowerBound + offset }, hostIP: hostIP,
                    protocol: proto)
            })
    }

    /// Whether `text` is an IPv4 address (`127.0.0.1`) or an IPv6 address (`::1`, `fe80::1`).
    static func isIPAddress(_ text: String) -> Bool {
        let quads = text.split(separator: ".", omittingEmptySubsequences: false)
        if quads.count == 4 {
            return quads.allSatisfy { quad in
                !quad.isEmpty && quad.count <= 3 && quad.allSatisfy { $0.isASCII && $0.isNumber } && Int(quad).map { $0 <= 255 } == true
            }
        }
        guard text.contains(":") else { return false }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return false }
        var groups = 0
        for half in halves where !half.isEmpty {
            for group in half.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, group.allSatisfy(\.isHexDigit) else { return false }
                groups += 1
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }

    private static func range(_ text: String) -> Result<ClosedRange<Int>, Failure> {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard bounds.count <= 2 else { return .failure(Failure(reason: "\"\(text)\" is not a port or a range")) }
        guard let low = number(bounds[0]) else {
            return .failure(Failure(reason: "\"\(bounds[0])\" is not a port number (1-65535)"))
        }
        guard bounds.count == 2 else { return .success(low...low) }
        guard let high = number(bounds[1]) else {
            return .failure(Failure(reason: "\"\(bounds[1])\" is not a port number (1-65535)"))
        }
        guard low <= high else { return .failure(Failure(reason: "the range \(text) ends before it starts")) }
        return .success(low...high)
    }
}
