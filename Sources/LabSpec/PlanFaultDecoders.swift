import Yams

/// The decoders of fault payloads, one per kind, found through an explicit table from the plan's
/// kind string: adding a kind means adding a case to ``FaultKind``, a payload type, a key set and
/// a row here.
extension PlanReader {
    typealias FaultDecoder = @Sendable (inout PlanReader, FaultInput) -> Fault?

    /// The table from a plan's fault kind to the decoder of its payload.
    static let faultDecoders: [String: FaultDecoder] = [
        FaultKind.kill.name: { $0.kill($1) },
        FaultKind.terminate.name: { $0.terminate($1) },
        FaultKind.restart.name: { $0.restart($1) },
        FaultKind.pause.name: { $0.pause($1) },
        FaultKind.massRestart.name: { $0.massRestart($1) },
        FaultKind.partition.name: { $0.partition($1) },
        FaultKind.latency.name: { $0.latency($1) },
        FaultKind.loss.name: { $0.loss($1) },
        FaultKind.bandwidth.name: { $0.bandwidth($1) },
        FaultKind.reset.name: { $0.reset($1) },
        FaultKind.blackhole.name: { $0.blackhole($1) },
        FaultKind.churn.name: { $0.churn($1) },
        FaultKind.malformedFlood.name: { $0.malformedFlood($1) },
        FaultKind.loginStorm.name: { $0.loginStorm($1) },
    ]

    private static func value(_ entries: [YAMLReading.Entry], _ key: String) -> YAMLReading.Entry? {
        entries.first { $0.key == key }
    }

    /// A key that must be there; reports it when it is not.
    private mutating func needed(_ entries: [YAMLReading.Entry], _ key: String, _ input: FaultInput, hint: String) -> YAMLReading.Entry? {
        if let entry = Self.value(entries, key) { return entry }
        yaml.error("\(input.path) has no \"\(key)\" (\(hint))", at: input.node)
        return nil
    }

    // MARK: Process faults

    mutating func kill(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let signal = Self.value(entries, "signal").map { self.signal($0.value, path: "\(input.path).signal") } ?? "SIGKILL"
        guard let target, let signal else { return nil }
        return .kill(KillFault(target: target, signal: signal))
    }

    mutating func terminate(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let timeout = Self.value(entries, "timeout").map { positiveDuration($0.value, path: "\(input.path).timeout") } ?? .seconds(10)
        guard let target, let timeout else { return nil }
        return .terminate(TerminateFault(target: target, timeout: timeout))
    }

    mutating func restart(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let timeout = Self.value(entries, "timeout").map { positiveDuration($0.value, path: "\(input.path).timeout") } ?? .seconds(10)
        let downtime =
            Self.value(entries, "downtime").map { positiveDuration($0.value, path: "\(input.path).downtime", allowZero: true) } ?? .zero
        guard let target, let timeout, let downtime else { return nil }
        return .restart(RestartFault(target: target, timeout: timeout, downtime: downtime))
    }

    mutating func pause(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input), let target = target(entries, node: input.node, path: input.path) else { return nil }
        return .pause(PauseFault(target: target))
    }

    mutating func massRestart(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let spread = needed(entries, "spread", input, hint: "the window the kills fall in, as 2s")
            .flatMap { positiveDuration($0.value, path: "\(input.path).spread") }
        var distribution: WaveDistribution? = .uniform
        if let entry = Self.value(entries, "distribution"), let text = yaml.string(entry.value, path: "\(input.path).distribution") {
            distribution = WaveDistribution(rawValue: text)
            if distribution == nil {
                yaml.error(
                    "\(input.path).distribution must be uniform, normal or exponential, found \"\(text)\"", at: entry.value)
            }
        }
        var downtime: DurationRange?
        if let entry = needed(entries, "downtime", input, hint: "how long each instance stays down, as 1s..5s"),
            let text = yaml.string(entry.value, path: "\(input.path).downtime")
        {
            switch PlanSyntax.durationRange(text) {
            case .success(let range): downtime = range
            case .failure(let failure):
                yaml.error("invalid downtime \"\(text)\" for \(input.path): \(failure.reason)", at: entry.value)
            }
        }
        let signal = Self.value(entries, "signal").map { self.signal($0.value, path: "\(input.path).signal") } ?? "SIGKILL"
        guard let target, let spread, let distribution, let downtime, let signal else { return nil }
        return .massRestart(
            MassRestartFault(target: target, spread: spread, distribution: distribution, downtime: downtime, signal: signal))
    }

    mutating func churn(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let window = needed(entries, "window", input, hint: "how long churn goes on, as 1m")
            .flatMap { positiveDuration($0.value, path: "\(input.path).window") }
        let session = needed(entries, "session", input, hint: "the distribution of time up, as {exponential: {mean: 30s}}")
            .flatMap { lifetime($0.value, path: "\(input.path).session") }
        let downtime = needed(entries, "downtime", input, hint: "the distribution of time down, as {exponential: {mean: 5s}}")
            .flatMap { lifetime($0.value, path: "\(input.path).downtime") }
        guard let target, let window, let session, let downtime else { return nil }
        return .churn(ChurnFault(target: target, window: window, session: session, downtime: downtime))
    }

    /// `{exponential: {mean}}`, `{weibull: {shape, scale}}` or `{pareto: {shape, scale}}`.
    private mutating func lifetime(_ node: Node, path: String) -> LifetimeDistribution? {
        guard let entries = yaml.entries(node, path: path) else {
            if YAMLReading.isNull(node) { yaml.error("\(path) is empty", at: node) }
            return nil
        }
        yaml.checkKeys(entries, against: .distribution, path: path)
        let known = entries.filter { KeySet.distribution.supported.contains($0.key) }
        guard let entry = known.first else {
            if entries.allSatisfy({ KeySet.distribution.supported.contains($0.key) }) {
                yaml.error("\(path) must name a distribution: exponential, weibull or pareto", at: node)
            }
            return nil
        }
        for extra in known.dropFirst() {
            yaml.error("\(path) has more than one distribution; give one", at: extra.keyNode)
        }
        let paramPath = "\(path).\(entry.key)"
        guard let parameters = yaml.entries(entry.value, path: paramPath) else {
            if YAMLReading.isNull(entry.value) { yaml.error("\(paramPath) has no parameters", at: entry.value) }
            return nil
        }
        let parameter = { (key: String) in parameters.first { $0.key == key } }
        if entry.key == "exponential" {
            yaml.checkKeys(parameters, against: .exponential, path: paramPath)
            guard let mean = parameter("mean") else {
                yaml.error("\(paramPath) has no \"mean\" (as 30s)", at: entry.value)
                return nil
            }
            return positiveDuration(mean.value, path: "\(paramPath).mean").map { .exponential(mean: $0) }
        }
        yaml.checkKeys(parameters, against: .shapeScale, path: paramPath)
        var shape: Double?
        if let entry = parameter("shape"), let value = number(entry.value, path: "\(paramPath).shape") {
            if value > 0 { shape = value } else { yaml.error("\(paramPath).shape must be more than zero, found \(value)", at: entry.value) }
        } else if parameter("shape") == nil {
            yaml.error("\(paramPath) has no \"shape\" (as 0.6)", at: entry.value)
        }
        let scale = parameter("scale").flatMap { positiveDuration($0.value, path: "\(paramPath).scale") }
        if parameter("scale") == nil { yaml.error("\(paramPath) has no \"scale\" (as 40s)", at: entry.value) }
        guard let shape, let scale else { return nil }
        return entry.key == "weibull" ? .weibull(shape: shape, scale: scale) : .pareto(shape: shape, scale: scale)
    }

    // MARK: Network faults

    mutating func partition(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let oneWay = Self.value(entries, "one-way").flatMap { yaml.bool($0.value, path: "\(input.path).one-way") } ?? false
        let groups = Self.value(entries, "groups"), shape = Self.value(entries, "shape")
        if let groups {
            if let shape { yaml.error("\(input.path) has both \"groups\" and \"shape\"; give one", at: shape.keyNode) }
            for entry in entries where KeySet.targetKeys.contains(entry.key) {
                yaml.error("\(input.path).\(entry.key) does not apply with \"groups\"; name the instances in the groups", at: entry.keyNode)
            }
            guard let items = yaml.list(groups.value, path: "\(input.path).groups") else { return nil }
            var layout: [[InstanceReference]] = []
            for (index, item) in items.enumerated() {
                let references = references(item, path: "\(input.path).groups[\(index)]")
                if !references.isEmpty { layout.append(references) }
            }
            guard layout.count == items.count else { return nil }
            guard layout.count >= 2 else {
                yaml.error("\(input.path).groups needs at least two groups, found \(layout.count)", at: groups.value)
                return nil
            }
            return .partition(PartitionFault(layout: .groups(layout), oneWay: oneWay))
        }
        guard let shape else {
            yaml.error("\(input.path) needs \"groups\" (as [[a-1, a-2], [b-1]]) or \"shape\" (halves, isolate, majority-ring or bridge)", at: input.node)
            return nil
        }
        var kind: PartitionShape?
        if let text = yaml.string(shape.value, path: "\(input.path).shape") {
            kind = PartitionShape(rawValue: text)
            if kind == nil {
                let suggestion = EditDistance.suggestion(for: text, among: PartitionShape.allCases.map(\.rawValue))
                yaml.error(
                    "\(input.path).shape must be halves, isolate, majority-ring or bridge, found \"\(text)\""
                        + (suggestion.map { "; did you mean \"\($0)\"?" } ?? ""),
                    at: shape.value)
            }
        }
        let target = self.target(entries, node: input.node, path: input.path)
        if let target, target.service == nil {
            yaml.error("\(input.path) with a shape needs \"service\": the instances the shape splits", at: input.node)
            return nil
        }
        if let kind, kind == .halves || kind == .majorityRing {
            for entry in entries where ["instances", "fraction", "count"].contains(entry.key) {
                yaml.error("\(input.path).\(entry.key) does not apply to shape \(kind.rawValue)", at: entry.keyNode)
            }
        }
        if kind == .bridge {
            for entry in entries where ["fraction", "count"].contains(entry.key) {
                yaml.error(
                    "\(input.path).\(entry.key) does not apply to shape bridge: it has one bridge, given in instances or chosen with the seed",
                    at: entry.keyNode)
            }
        }
        guard let kind, let target else { return nil }
        return .partition(PartitionFault(layout: .shape(kind, target), oneWay: oneWay))
    }

    mutating func latency(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let links = self.links(entries, input: input)
        let delay = needed(entries, "delay", input, hint: "the added delay, as 100ms")
            .flatMap { positiveDuration($0.value, path: "\(input.path).delay") }
        let jitter = Self.value(entries, "jitter").map { positiveDuration($0.value, path: "\(input.path).jitter", allowZero: true) } ?? .zero
        guard let links, let delay, let jitter else { return nil }
        return .latency(LatencyFault(scope: links.0, oneWay: links.1, delay: delay, jitter: jitter))
    }

    mutating func loss(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let links = self.links(entries, input: input)
        let probability = needed(entries, "probability", input, hint: "0…1, as 0.1 or 10%")
            .flatMap { share($0.value, path: "\(input.path).probability") }
        guard let links, let probability else { return nil }
        return .loss(LossFault(scope: links.0, oneWay: links.1, probability: probability))
    }

    mutating func bandwidth(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let links = self.links(entries, input: input)
        var rate: Bandwidth?
        if let entry = needed(entries, "rate", input, hint: "as 1mbit, 100kbit or 512KiB/s"),
            let text = yaml.string(entry.value, path: "\(input.path).rate")
        {
            switch Bandwidth.parse(text) {
            case .success(let value): rate = value
            case .failure(let failure): yaml.error("invalid rate \"\(text)\" for \(input.path): \(failure.reason)", at: entry.value)
            }
        }
        guard let links, let rate else { return nil }
        return .bandwidth(BandwidthFault(scope: links.0, oneWay: links.1, rate: rate))
    }

    mutating func reset(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input), let links = links(entries, input: input) else { return nil }
        return .reset(ResetFault(scope: links.0, oneWay: links.1))
    }

    mutating func blackhole(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input), let links = links(entries, input: input) else { return nil }
        return .blackhole(BlackholeFault(scope: links.0, oneWay: links.1))
    }

    // MARK: Load

    private mutating func perSecond(_ entry: YAMLReading.Entry, path: String) -> Double? {
        guard let text = yaml.string(entry.value, path: path) else { return nil }
        switch PlanSyntax.rate(text) {
        case .success(let rate): return rate
        case .failure(let failure):
            yaml.error("invalid rate \"\(text)\" for \(path): \(failure.reason)", at: entry.value)
            return nil
        }
    }

    mutating func malformedFlood(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let port = needed(entries, "port", input, hint: "the port flooded, as 7000").flatMap { self.port($0.value, path: "\(input.path).port") }
        let rate = needed(entries, "rate", input, hint: "payloads per second, as 500/s").flatMap { perSecond($0, path: "\(input.path).rate") }
        let connections = Self.value(entries, "connections").map { positiveInt($0.value, path: "\(input.path).connections") } ?? 8
        var payloads: [MalformedPayload]? = [.garbage]
        if let entry = Self.value(entries, "payload") {
            let path = "\(input.path).payload"
            let texts: [String]? = if case .sequence = entry.value { yaml.strings(entry.value, path: path) } else { yaml.string(entry.value, path: path).map { [$0] } }
            var read: [MalformedPayload] = []
            for text in texts ?? [] {
                if let payload = MalformedPayload(rawValue: text) {
                    read.append(payload)
                } else {
                    yaml.error("\(path) must be garbage, zeros, oversized or truncated, found \"\(text)\"", at: entry.value)
                }
            }
            payloads = read.isEmpty ? nil : read
        }
        if !input.hasDuration {
            yaml.error("\(input.path) needs \"for\" on its step: how long the flood lasts", at: input.keyNode)
        }
        guard let target, let port, let rate, let connections, let payloads else { return nil }
        return .malformedFlood(
            MalformedFloodFault(target: target, port: port, rate: rate, connections: connections, payloads: payloads))
    }

    mutating func loginStorm(_ input: FaultInput) -> Fault? {
        guard let entries = faultEntries(input) else { return nil }
        let target = self.target(entries, node: input.node, path: input.path)
        let concurrency = Self.value(entries, "concurrency").map { positiveInt($0.value, path: "\(input.path).concurrency") } ?? 64
        var load: LoginStormFault.Load?
        switch (Self.value(entries, "rate"), Self.value(entries, "users")) {
        case (_?, let users?):
            yaml.error("\(input.path) has both \"rate\" and \"users\"; give one", at: users.keyNode)
        case (let rate?, nil):
            load = perSecond(rate, path: "\(input.path).rate").map { .rate($0) }
            if !input.hasDuration {
                yaml.error("\(input.path) at a rate needs \"for\" on its step: how long the storm lasts", at: input.keyNode)
            }
        case (nil, let users?):
            load = positiveInt(users.value, path: "\(input.path).users").map { .users($0) }
        case (nil, nil):
            yaml.error("\(input.path) needs \"rate\" (logins per second, as 2000/s) or \"users\" (a batch, as 10000)", at: input.node)
        }
        guard let target, let load, let concurrency else { return nil }
        return .loginStorm(LoginStormFault(target: target, load: load, concurrency: concurrency))
    }
}
