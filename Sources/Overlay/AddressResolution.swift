import OverlayWire

#if canImport(Glibc)
import Glibc
#endif

extension SupernodeServer {
    /// Every IPv4 address of each endpoint's host (literals are kept as they are, a name that
    /// does not resolve too), without the duplicates.
    public static func resolve(_ endpoints: [Endpoint]) -> [Endpoint] {
        var resolved: [Endpoint] = []
        for endpoint in endpoints {
            var hints = addrinfo()
            hints.ai_family = AF_INET
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(endpoint.host, nil, &hints, &result) == 0 else {
                resolved.append(endpoint)
                continue
            }
            var cursor = result
            while let entry = cursor {
                if let address = entry.pointee.ai_addr {
                    var ipv4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    if inet_ntop(AF_INET, &ipv4, &text, socklen_t(text.count)) != nil {
                        let host = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                        resolved.append(Endpoint(host: host, port: endpoint.port))
                    }
                }
                cursor = entry.pointee.ai_next
            }
            freeaddrinfo(result)
        }
        var seen = Set<Endpoint>()
        return resolved.filter { seen.insert($0).inserted }
    }
}

