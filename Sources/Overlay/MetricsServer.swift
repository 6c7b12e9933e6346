import NIOCore
import NIOHTTP1
import NIOPosix
import OverlayWire
import Prometheus

/// Serves a Prometheus registry over HTTP: `GET /metrics` (text format 0.0.4) and `GET /healthz`.
/// Anything else is a 404; a malformed request closes the connection. Runs until cancelled.
struct MetricsServer {
    let registry: PrometheusCollectorRegistry
    let address: ListenAddress
    /// Metrics get an event loop of their own, so a scrape is answered even while a storm keeps
    /// the overlay's loops busy: the scraper must see the storm, not be blinded by it.
    let group: any EventLoopGroup = MetricsServer.loop

    private static let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Binds and returns the bound channel; serving runs on the event loop until it is closed.
    func start() async throws -> any Channel {
        let registry = self.registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
        switch address {
        case .endpoint(let endpoint):
            return try await bootstrap.bind(host: endpoint.host, port: Int(endpoint.port)).get()
        case .descriptor(let fd):
            return try await bootstrap.withBoundSocket(fd).get()
        }
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let status: HTTPResponseStatus
        let body: [UInt8]
        let contentType: String
        switch (request.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            status = .ok
            body = registry.emitToBuffer()
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            status = .ok
            body = Array("ok\n".utf8)
            contentType = "text/plain; charset=utf-8"
        default:
            status = .notFound
            body = Array("not found\n".utf8)
            contentType = "text/plain; charset=utf-8"
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
