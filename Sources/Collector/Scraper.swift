import Assertions
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One instance whose `/metrics` the scraper reads.
public struct ScrapeTarget: Sendable, Hashable {
    public var service: String
    public var instance: String
    public var host: String
    public var port: Int
    public var path: String

    public init(service: String, instance: String, host: String, port: Int, path: String = "/metrics") {
        self.service = service
        self.instance = instance
        self.host = host
        self.port = port
        self.path = path
    }
}

/// Counts of what the collector did, for the run's log and the cost figures.
public struct CollectorStatistics: Sendable, Hashable {
    public var scrapes = 0
    public var failedScrapes = 0
    public var probes = 0
    public var failedProbes = 0
    /// Exposition lines that did not parse, over all scrapes.
    public var malformedLines = 0
}

/// Reads every target's metrics at a fixed interval into a ``SeriesStore``, and runs the probes at
/// the same ticks, the way Prometheus and the blackbox exporter would.
///
/// Every target keeps one HTTP/1.1 keep-alive connection (a fresh connection per scrape would
/// leave thousands of sockets in TIME-WAIT over a run). Samples are stamped with the tick's
/// time in milliseconds since `origin`, so all series of one tick line up. A scrape that fails
/// or takes longer than `timeout` records `up = 0` and staleness markers; a slow scrape that
/// still answers in time only skips the ticks it overran (their series keep the last value).
/// A target the orchestrator knows is down (`isDown`) is recorded as a failed scrape at once,
/// without a connection attempt: a stopped container's address, unlike a loopback port, does not
/// refuse but leaves the connect to time out, and the scrapes after its restart would start late.
public final class SeriesCollector: Sendable {
    public let targets: [ScrapeTarget]
    public let probes: [Probe]
    public let interval: Duration
    /// How long a scrape may take: by default the interval or 1 s, whichever is longer, so a
    /// target (or an orchestrator) busy in a storm for a moment is not taken for a dead one.
    public let timeout: Duration
    public let origin: ContinuousClock.Instant
    /// Whether an instance is known to be down, by its name (by default none is).
    public let isDown: @Sendable (String) -> Bool
    private let state: Mutex<(store: SeriesStore, statistics: CollectorStatistics)>

    public init(
        targets: [ScrapeTarget],
        probes: [Probe] = [],
        interval: Duration = .milliseconds(250),
        timeout: Duration? = nil,
        origin: ContinuousClock.Instant = .now,
        store: SeriesStore.Configuration = .init(),
        isDown: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
        self.targets = targets
        self.probes = probes
        self.interval = interval
        self.timeout = timeout ?? max(interval, .seconds(1))
        self.origin = origin
        self.isDown = isDown
        self.state = Mutex((SeriesStore(configuration: store), CollectorStatistics()))
    }

    /// A copy of the series collected so far.
    public var store: SeriesStore { state.withLock { $0.store } }
    public var statistics: CollectorStatistics { state.withLock { $0.statistics } }

    /// Milliseconds since `origin`.
    public func now() -> Int64 { Self.milliseconds(ContinuousClock.now - origin) }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Scrapes and probes until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for target in targets { group.addTask { await self.scrapeLoop(target) } }
            for probe in probes { group.addTask { await self.probeLoop(probe) } }
        }
    }

    /// The tick times: `origin + k × interval`, the first one not before now.
    private func ticks() -> AsyncStream<Int64> {
        let interval = self.interval
        let origin = self.origin
        // A consumer still busy with a slow scrape gets only the newest tick, not a burst.
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var k = Int64(max(0, (ContinuousClock.now - origin) / interval).rounded(.up))
                while !Task.isCancelled {
                    let tick = origin + interval * Int(k)
                    try? await Task.sleep(until: tick, clock: .continuous)
                    if Task.isCancelled { break }
                    continuation.yield(Self.milliseconds(interval * Int(k)))
                    // After a stall, skip the ticks already past rather than scraping in a burst.
                    k = max(k + 1, Int64(((ContinuousClock.now - origin) / interval).rounded(.up)))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func scrapeLoop(_ target: ScrapeTarget) async {
        var connection: MetricsConnection?
        for await tick in ticks() {
            let down = isDown(target.instance)
            if down, let open = connection {
                await open.close()
                connection = nil
            }
            if connection == nil, !down {
                connection = try? await MetricsConnection.open(target, timeout: timeout)
            }
            let page: String?
            if let open = connection {
                page = try? await open.get(target.path, timeout: timeout)
                if page == nil {
                    await open.close()
                    connection = nil
                }
            } else {
                page = nil
            }
            state.withLock { state in
                state.statistics.scrapes += 1
                if let page {
                    let exposition = Exposition(parsing: page)
                    state.statistics.malformedLines += exposition.issues.count
                    state.store.appendScrape(exposition.samples, service: target.service, instance: target.instance, at: tick)
                } else {
                    state.statistics.failedScrapes += 1
                    state.store.appendFailedScrape(service: target.service, instance: target.instance, at: tick)
                }
            }
        }
        await connection?.close()
    }

    private func probeLoop(_ probe: Probe) async {
        for await tick in ticks() {
            let started = ContinuousClock.now
            let success = await probe.check()
            let seconds = Double(Self.milliseconds(ContinuousClock.now - started)) / 1000
            let labels: Labels = ["probe": probe.name]
            var success_ = labels
            success_[Labels.metricNameLabel] = "probe_success"
            var duration = labels
            duration[Labels.metricNameLabel] = "probe_duration_seconds"
            state.withLock { state in
                state.statistics.probes += 1
                if !success { state.statistics.failedProbes += 1 }
                _ = state.store.append(success_, time: tick, value: success ? 1 : 0)
                _ = state.store.append(duration, time: tick, value: seconds)
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection to a metrics endpoint.
struct MetricsConnection: Sendable {
    let channel: any Channel

    static func open(_ target: ScrapeTarget, timeout: Duration) async throws -> MetricsConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(SeriesCollector.milliseconds(timeout) * 1_000_000))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(host: target.host))
                }
            }
            .connect(host: target.host, port: target.port)
            .get()
        return MetricsConnection(channel: channel)
    }

    /// GETs `path` and returns the body of a 200 answer; throws on any other status, a closed
    /// connection or a timeout (which closes the connection).
    func get(_ path: String, timeout: Duration) async throws -> String {
        let answer = try await request(path, timeout: timeout)
        guard answer.status == 200 else { throw ScrapeError(description: "HTTP \(answer.status)") }
        return answer.body
    }

    /// GETs `path` and returns whatever status and body came back.
    func request(_ path: String, timeout: Duration) async throws -> HTTPAnswer {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        let promise = channel.eventLoop.makePromise(of: HTTPAnswer.self)
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(SeriesCollector.milliseconds(timeout) * 1_000_000)) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        // A write that fails (the peer went away since the last scrape) never reaches the
        // handler, so it fails the request here; otherwise the answer or the timer ends it.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        channel.writeAndFlush(ScrapeRequest(path: path, promise: promise), promise: written)
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

struct ScrapeError: Error, CustomStringConvertible {
    var description: String
}

/// A GET to send and the promise its answer completes.
struct ScrapeRequest {
    var path: String
    var promise: EventLoopPromise<HTTPAnswer>
}

/// An HTTP status and body.
struct HTTPAnswer: Sendable {
    var status: Int
    var body: String
}

/// Turns a ``ScrapeRequest`` into an HTTP request and completes its promise with the response.
/// One request at a time per connection.
private final class ScrapeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = ScrapeRequest
    typealias OutboundOut = HTTPClientRequestPart

    private let host: String
    private var pending: EventLoopPromise<HTTPAnswer>?
    private var status: HTTPResponseStatus?
    private var body: ByteBuffer?

    init(host: String) {
        self.host = host
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let previous = pending {
            previous.fail(ScrapeError(description: "superseded by a newer scrape"))
        }
        pending = request.promise
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Accept", value: "text/plain;version=0.0.4")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: request.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body = context.channel.allocator.buffer(capacity: 16 * 1024)
        case .body(var chunk):
            body?.writeBuffer(&chunk)
        case .end:
            let promise = pending
            pending = nil
            promise?.succeed(HTTPAnswer(status: Int(status?.code ?? 0), body: body.map { String(buffer: $0) } ?? ""))
            status = nil
            body = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pending?.fail(error)
        pending = nil
        context.close(promise: nil)
    }
}
