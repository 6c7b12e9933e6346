import Assertions
import Collector
import Logging
import Overlay
import OverlayWire
import Synchronization
import Testing

/// The collector against a real auth server on loopback, and probes of every kind.
@Suite(.timeLimit(.minutes(1)))
struct CollectorTests {
    let host = "127.\(UInt8.random(in: 100...199)).\(UInt8.random(in: 1...254)).1"

    /// Runs an auth server in this process for the duration of `body`.
    func withAuth<T: Sendable>(_ body: @Sendable (Endpoint, Endpoint) async throws -> T) async throws -> T {
        var configuration = AuthConfiguration()
        configuration.listen = .endpoint(Endpoint(host: host, port: 7100))
        configuration.metrics = .endpoint(Endpoint(host: host, port: 9100))
        configuration.hashIterations = 1
        let server = AuthServer(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            // Wait until it answers.
            let probe = Probe(name: "up", kind: .tcp(host: host, port: 9100), timeout: .milliseconds(200))
            for _ in 0..<50 where !(await probe.check()) { try await Task.sleep(for: .milliseconds(50)) }
            return try await body(Endpoint(host: host, port: 7100), Endpoint(host: host, port: 9100))
        }
    }

    @Test func scrapesEveryTickAndMarksAnUnreachableTargetDown() async throws {
        let store = try await withAuth { auth, metrics in
            let collector = SeriesCollector(
                targets: [
                    ScrapeTarget(service: "auth", instance: "auth-1", host: metrics.host, port: Int(metrics.port)),
                    ScrapeTarget(service: "ghost", instance: "ghost-1", host: metrics.host, port: 1),
                ],
                interval: .milliseconds(50)
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await collector.run() }
                var storm = LoginStorm(auth: auth, seed: "stormlab")
                storm.limit = 25
                storm.connections = 2
                _ = await storm.run()
                try await Task.sleep(for: .milliseconds(400))
                group.cancelAll()
            }
            #expect(collector.statistics.scrapes >= 8)
            return collector.store
        }
        let up = store.samples(for: ["__name__": "up", "service": "auth", "instance": "auth-1"])
        #expect(up.count >= 4)
        #expect(up.allSatisfy { $0.value == 1 })
        // Ticks are multiples of the interval.
        #expect(up.allSatisfy { $0.time % 50 == 0 })
        let ghost = store.samples(for: ["__name__": "up", "service": "ghost", "instance": "ghost-1"])
        #expect(!ghost.isEmpty && ghost.allSatisfy { $0.value == 0 })
        let logins = store.samples(for: [
            "__name__": "stormlab_auth_logins_total", "outcome": "ok", "service": "auth", "instance": "auth-1",
        ])
        #expect(logins.last?.value == 25)

        // What was collected answers PromQL.
        let evaluator = SLIEvaluator(store: store, lookbackDelta: 1000)
        let expression = try SLIExpression.parse(#"sum(stormlab_auth_logins_total{outcome="ok"})"#)
        guard case .vector(let vector) = try evaluator.evaluate(expression, at: logins.last!.time) else {
            Issue.record("expected a vector")
            return
        }
        #expect(vector.first?.value == 25)
    }

    /// A target its orchestrator reports down is not connected to: every tick records `up = 0`
    /// at once, and scraping resumes on the first tick after it is back.
    @Test func aTargetKnownToBeDownIsNotScrapedUntilItIsBack() async throws {
        let down = Mutex(true)
        let store = try await withAuth { _, metrics in
            let collector = SeriesCollector(
                targets: [ScrapeTarget(service: "auth", instance: "auth-1", host: metrics.host, port: Int(metrics.port))],
                interval: .milliseconds(50), isDown: { _ in down.withLock { $0 } })
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await collector.run() }
                for _ in 0..<100 where collector.statistics.failedScrapes < 4 { try? await Task.sleep(for: .milliseconds(20)) }
                down.withLock { $0 = false }
                let failed = collector.statistics.failedScrapes
                for _ in 0..<100 where collector.statistics.scrapes - failed < 4 { try? await Task.sleep(for: .milliseconds(20)) }
                group.cancelAll()
            }
            return collector.store
        }
        let up = store.samples(for: ["__name__": "up", "service": "auth", "instance": "auth-1"]).map(\.value)
        // Down first, then up, and never down again once back.
        #expect(up.prefix(4) == [0, 0, 0, 0])
        #expect(up.last == 1)
        #expect(!up.drop { $0 == 0 }.contains(0))
        // Nothing but up was recorded while it was down.
        let workers = store.samples(for: ["__name__": "stormlab_auth_workers", "service": "auth", "instance": "auth-1"])
        #expect(workers.count == up.filter { $0 == 1 }.count)
    }

    @Test func probesOfEveryKind() async throws {
        try await withAuth { auth, metrics in
            let cases: [(Probe, Bool)] = [
                (Probe(name: "tcp-open", kind: .tcp(host: auth.host, port: Int(auth.port))), true),
                (Probe(name: "tcp-closed", kind: .tcp(host: auth.host, port: 1)), false),
                (Probe(name: "http-ok", kind: .http(host: metrics.host, port: Int(metrics.port), path: "/healthz", status: 200, bodyContains: "ok")), true),
                (Probe(name: "http-body", kind: .http(host: metrics.host, port: Int(metrics.port), path: "/healthz", status: 200, bodyContains: "nope")), false),
                (Probe(name: "http-404", kind: .http(host: metrics.host, port: Int(metrics.port), path: "/missing", status: 404, bodyContains: nil)), true),
                (Probe(name: "exec-true", kind: .exec(arguments: ["true"])), true),
                (Probe(name: "exec-false", kind: .exec(arguments: ["/bin/sh", "-c", "exit 3"])), false),
                (Probe(name: "exec-slow", kind: .exec(arguments: ["sleep", "5"]), timeout: .milliseconds(200)), false),
                (Probe(name: "exec-missing", kind: .exec(arguments: ["/nonexistent/probe"])), false),
            ]
            for (probe, expected) in cases {
                #expect(await probe.check() == expected, "\(probe.name)")
            }
        }
    }

    @Test func probeResultsBecomeSeries() async throws {
        let collector = SeriesCollector(
            targets: [],
            probes: [Probe(name: "always", kind: .exec(arguments: ["true"])), Probe(name: "never", kind: .exec(arguments: ["false"]))],
            interval: .milliseconds(50)
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await collector.run() }
            // Until both probes ran at least three times (a loaded machine may take a while).
            for _ in 0..<100 where collector.statistics.probes < 6 { try? await Task.sleep(for: .milliseconds(50)) }
            group.cancelAll()
        }
        let store = collector.store
        #expect(store.samples(for: ["__name__": "probe_success", "probe": "always"]).allSatisfy { $0.value == 1 })
        #expect(store.samples(for: ["__name__": "probe_success", "probe": "never"]).allSatisfy { $0.value == 0 })
        #expect(store.samples(for: ["__name__": "probe_duration_seconds", "probe": "always"]).count >= 2)
    }
}
