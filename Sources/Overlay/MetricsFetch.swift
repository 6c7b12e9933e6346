import NIOCore
import NIOPosix
import OverlayWire

/// Reads a `/metrics` page over HTTP/1.0 and sums samples by metric name: enough for the demo, the
/// benchmarks and tests to read an instance's figures. (The assertion engine parses the format
/// in full.)
public enum MetricsFetch {
    /// The body of `GET path` at `endpoint`, or an error when the server does not answer in time.
    public static func get(_ endpoint: Endpoint, path: String = "/metrics", timeout: Duration = .seconds(2)) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout.seconds * 1000)))
            .connect(host: endpoint.host, port: Int(endpoint.port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let timer = channel.channel.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout.seconds * 1000))) {
            channel.channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.0\r\nHost: \(endpoint.host)\r\n\r\n"))
            var response = ByteBuffer()
            for try await var chunk in inbound { response.writeBuffer(&chunk) }
            let bytes = Array(response.readableBytesView)
            let separator: [UInt8] = [13, 10, 13, 10]
            guard let split = bytes.indices.dropLast(3).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
                throw MetricsFetchError(message: "no HTTP header end from \(endpoint)")
            }
            let status = String(decoding: bytes.prefix { $0 != 13 }, as: UTF8.self)
            guard status.hasPrefix("HTTP/1.1 200") || status.hasPrefix("HTTP/1.0 200") else {
                throw MetricsFetchError(message: "\(endpoint)\(path): \(status)")
            }
            return String(decoding: bytes[(split + 4)...], as: UTF8.self)
        }
    }

    /// Sums of every sample per metric name (labels ignored) in an exposition.
    public static func sums(_ exposition: String) -> [String: Double] {
        var sums: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            guard let valueText = line.split(separator: " ").last, let value = Double(valueText) else { continue }
            sums[String(name), default: 0] += value
        }
        return sums
    }
}

struct MetricsFetchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
