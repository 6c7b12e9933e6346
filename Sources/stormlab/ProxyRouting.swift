import FaultProxy
import LabSpec
import NIOCore
import Orchestrator

/// The fault proxy in the path of a process-runtime run: for every instance and each TCP port
/// it serves (`expose`, `ports`, socket-activated), a listener on the instance's proxy address
/// that forwards to its own address. Host references resolve to the proxy addresses
/// (``RunConfiguration/routeThroughProxy``), so traffic between instances crosses it, attributed
/// by source address (each instance connects from its own).
final class ProxyRouting: ProxyControl {
    let proxy: FaultProxy

    init(run: LabRun, project: ComposeProject) async throws {
        var table: [String: String] = [:]
        for instance in run.instances {
            table[instance.address.address] = instance.name
            if let proxied = instance.address.proxyAddress { table[proxied] = instance.name }
        }
        proxy = FaultProxy(configuration: FaultProxy.Configuration(instances: table))
        for instance in run.instances {
            guard let proxied = instance.address.proxyAddress, let service = project[service: instance.service] else { continue }
            var ports = Set((service.expose + service.ports).filter { $0.protocol == .tcp }.map(\.target))
            ports.formUnion(service.stormlab.socketActivation.map(\.port))
            for port in ports.sorted() {
                _ = try await proxy.addRoute(FaultProxy.Route(
                    name: "\(instance.name):\(port)",
                    listen: try SocketAddress(ipAddress: proxied, port: port),
                    upstream: try SocketAddress(ipAddress: instance.address.address, port: port),
                    upstreamInstance: instance.name))
            }
        }
    }

    /// Traffic from `from` to `to` is the upstream of connections `from` opens to `to` and the
    /// downstream of connections `to` opens to `from`.
    func apply(_ fault: Fault, links: [LabSpec.Link], named name: String) async throws {
        guard let first = links.first else { return }
        var selector = Self.selector(first)
        for link in links.dropFirst() { selector = selector.union(Self.selector(link)) }
        switch fault {
        case .latency(let latency):
            try await proxy.apply(LatencyToxic(delay: latency.delay, jitter: latency.jitter), named: name, to: selector)
        case .reset:
            try await proxy.apply(ResetToxic(), named: name, to: selector)
        case .blackhole:
            try await proxy.apply(BlackholeToxic(), named: name, to: selector)
        default:
            break
        }
    }

    func revert(named name: String) async {
        _ = await proxy.revert(named: name)
    }

    func shutdown() async {
        await proxy.shutdown()
    }

    private static func selector(_ link: LabSpec.Link) -> LinkSelector {
        LinkSelector(from: InstanceSet([link.from]), to: InstanceSet([link.to]), directions: .upstream)
            .union(LinkSelector(from: InstanceSet([link.to]), to: InstanceSet([link.from]), directions: .downstream))
    }
}

extension FaultPlan {
    /// Whether a step needs the fault proxy in the path under `runtime`: reset and blackhole
    /// always, latency unless it goes in as tc netem.
    func needsProxy(runtime: RuntimeKind) -> Bool {
        steps.contains { step in
            switch step.fault {
            case .latency: !PlanExecution.latencyUsesNetem(runtime: runtime)
            case .reset, .blackhole: true
            default: false
            }
        }
    }
}
