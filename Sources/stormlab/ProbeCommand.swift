import ArgumentParser
import Collector
import OverlayWire

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Check a TCP port or an HTTP endpoint once; exit 0 when it answers as expected.",
        discussion: """
            For healthchecks in images that have no shell or curl: \
            `stormlab probe tcp 127.0.0.1:7100`, `stormlab probe http http://127.0.0.1:9100/healthz`.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case tcp
        case http
    }

    @Argument(help: "tcp or http.")
    var kind: Kind

    @Argument(help: "host:port for tcp; http://host:port/path for http.")
    var target: String

    @Option(help: "HTTP status expected.")
    var status = 200

    @Option(help: "Text the HTTP body must contain.")
    var contains: String?

    @Option(help: "Seconds before the check fails.")
    var timeout = 2.0

    func run() async throws {
        let probe: Probe
        switch kind {
        case .tcp:
            guard let endpoint = Endpoint(parsing: target) else { throw ValidationError("expected host:port, got \(target)") }
            probe = Probe(name: "probe", kind: .tcp(host: endpoint.host, port: Int(endpoint.port)), timeout: .seconds(timeout))
        case .http:
            guard target.hasPrefix("http://") else { throw ValidationError("expected http://host:port/path, got \(target)") }
            let rest = target.dropFirst("http://".count)
            let authority = rest.prefix { $0 != "/" }
            let path = rest.dropFirst(authority.count)
            guard let endpoint = Endpoint(parsing: authority) else { throw ValidationError("expected host:port in \(target)") }
            probe = Probe(
                name: "probe",
                kind: .http(host: endpoint.host, port: Int(endpoint.port), path: path.isEmpty ? "/" : String(path), status: status, bodyContains: contains),
                timeout: .seconds(timeout)
            )
        }
        if !(await probe.check()) { throw ExitCode(1) }
    }
}
