/// The keys of each mapping in a plan; a key in none is an error with a "did you mean".
extension KeySet {
    static let plan = KeySet(
        supported: [
            "seed", "duration", "expect", "expect-outcome", "description", "scrape-interval", "steady-state", "steps",
            "slos", "probes", "abort", "metastability",
        ],
        unsupported: [])

    static let metastability = KeySet(supported: ["slo", "signals", "minimum"], unsupported: [])
    static let amplificationSignal = KeySet(supported: ["name", "expr", "above"], unsupported: [])

    static let steadyState = KeySet(supported: ["timeout", "hold", "slos"], unsupported: [])

    /// A step's own keys; the fault kinds are the other keys a step takes.
    static let stepTiming = ["name", "at", "after", "delay", "every", "until", "times", "for"]

    static let step = KeySet(supported: stepTiming + FaultKind.all.map(\.name), unsupported: [])

    static let targetKeys = ["service", "instances", "fraction", "count"]
    static let linkKeys = targetKeys + ["from", "to", "one-way"]

    static let target = KeySet(supported: targetKeys, unsupported: [])
    static let probeTarget = KeySet(supported: ["service", "instances"], unsupported: [])

    /// The keys of each fault kind's payload.
    static func fault(_ kind: FaultKind) -> KeySet {
        let own: [String] =
            switch kind {
            case .kill: targetKeys + ["signal"]
            case .terminate: targetKeys + ["timeout"]
            case .restart: targetKeys + ["timeout", "downtime"]
            case .pause: targetKeys
            case .massRestart: targetKeys + ["spread", "distribution", "downtime", "signal"]
            case .partition: targetKeys + ["groups", "shape", "one-way"]
            case .latency: linkKeys + ["delay", "jitter"]
            case .loss: linkKeys + ["probability"]
            case .bandwidth: linkKeys + ["rate"]
            case .reset, .blackhole: linkKeys
            case .churn: targetKeys + ["window", "session", "downtime"]
            case .malformedFlood: targetKeys + ["port", "rate", "connections", "payload"]
            case .loginStorm: targetKeys + ["rate", "users", "concurrency"]
            default: targetKeys
            }
        return KeySet(supported: own, unsupported: [])
    }

    static let distribution = KeySet(supported: ["exponential", "weibull", "pareto"], unsupported: [])
    static let exponential = KeySet(supported: ["mean"], unsupported: [])
    static let shapeScale = KeySet(supported: ["shape", "scale"], unsupported: [])

    static let slo = KeySet(
        supported: ["name", "expr", "always", "eventually", "recovers", "budget", "abort"], unsupported: [])
    static let sloForms = ["always", "eventually", "recovers", "budget"]
    static let always = KeySet(supported: ["during", "from", "to"], unsupported: [])
    static let eventually = KeySet(supported: ["within", "after"], unsupported: [])
    static let recovers = KeySet(supported: ["after", "within", "hold"], unsupported: [])
    static let budget = KeySet(supported: ["max-bad", "during", "from", "to"], unsupported: [])

    static let probe = KeySet(supported: ["name", "tcp", "http", "exec", "interval", "timeout"], unsupported: [])
    static let tcpProbe = KeySet(supported: ["service", "instances", "port"], unsupported: [])
    static let httpProbe = KeySet(
        supported: ["service", "instances", "port", "path", "status", "body"], unsupported: [])
    static let execProbe = KeySet(supported: ["command"], unsupported: [])
}
