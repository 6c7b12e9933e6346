/// The resolution pass: targets against the project, seeded choices, events, conflicts.
struct TimelineResolver {
    /// The instances a target may be drawn from, and how many to draw (`nil`: all of them).
    struct Selection {
        var pool: [String]
        var size: Int?
    }

    /// A step's targets, resolved once for all its occurrences.
    enum Targets {
        case instances(Selection)
        case groups([[String]])
        case shape(PartitionShape, pool: [String], subjects: Selection?)
        case between(Selection, Selection)
        case around(Selection)
    }

    /// How long a process fault keeps an instance.
    struct Hold {
        var start: Duration
        var end: Duration
        var step: Int
        var occurrence: Int
    }

    let plan: FaultPlan
    let project: ComposeProject
    let seed: UInt64
    let context: PlanTimeline.ResolutionContext
    private(set) var diagnostics: [Diagnostic] = []
    private let order: [String: Int]
    private let allInstances: [String]
    private var reported: Set<String> = []

    init(plan: FaultPlan, project: ComposeProject, seed: UInt64, context: PlanTimeline.ResolutionContext) {
        var plan = plan
        // Without a known duration, faults without an end are held for a long time instead.
        if !context.durationKnown { plan.duration = .seconds(1_000_000_000) }
        self.plan = plan
        self.context = context
        self.project = project
        self.seed = seed
        allInstances = project.instanceNames
        order = Dictionary(allInstances.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private mutating func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(.error, at: location, message))
    }

    /// Reports `message` once per `key`.
    private mutating func errorOnce(_ key: String, _ message: String, at location: SourceLocation) {
        guard reported.insert(key).inserted else { return }
        error(message, at: location)
    }

    private func who(_ step: PlanStep) -> String { step.name.map { "step \"\($0)\"" } ?? "steps[\(step.index)]" }

    // MARK: References

    private static func instanceCount(_ service: ServiceSpec) -> String {
        switch service.replicas {
        case 0: "no instances"
        case 1: "1 instance (\(service.name)-1)"
        default: "\(service.replicas) instances (\(service.name)-1..\(service.replicas))"
        }
    }

    mutating func resolve(_ reference: InstanceReference) -> [String]? {
        switch reference.form {
        case .name(let name):
            if let service = project[service: name] {
                if service.replicas == 0 {
                    error("service \"\(name)\" has no instances (replicas: 0)", at: reference.location)
                    return nil
                }
                return service.instanceNames
            }
            if order[name] != nil { return [name] }
            if let dash = name.lastIndex(of: "-"), Int(name[name.index(after: dash)...]) != nil,
                let service = project[service: String(name[..<dash])]
            {
                error("there is no instance \"\(name)\": \(service.name) has \(Self.instanceCount(service))", at: reference.location)
                return nil
            }
            let candidates = project.services.map(\.name) + allInstances
            let suggestion = EditDistance.suggestion(for: name, among: candidates).map { "; did you mean \"\($0)\"?" } ?? ""
            error("unknown service or instance \"\(name)\"\(suggestion)", at: reference.location)
            return nil
        case .range(let serviceName, let low, let high):
            guard let service = project[service: serviceName] else {
                let suggestion = EditDistance.suggestion(for: serviceName, among: project.services.map(\.name))
                    .map { "; did you mean \"\($0)\"?" } ?? ""
                error("unknown service \"\(serviceName)\" in range \"\(reference.text)\"\(suggestion)", at: reference.location)
                return nil
            }
            guard high <= service.replicas else {
                error(
                    "instance range \(reference.text) is out of bounds: \(serviceName) has \(Self.instanceCount(service))",
                    at: reference.location)
                return nil
            }
            return (low...high).map { "\(serviceName)-\($0)" }
        }
    }

    private func inOrder(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }.sorted { (order[$0] ?? .max) < (order[$1] ?? .max) }
    }

    /// The instances a selector's pool holds.
    mutating func pool(_ target: TargetSelector) -> [String]? {
        var service: ServiceSpec?
        if let name = target.service {
            guard let found = project[service: name] else {
                let suggestion = EditDistance.suggestion(for: name, among: project.services.map(\.name)).map { "; did you mean \"\($0)\"?" } ?? ""
                error("unknown service \"\(name)\"\(suggestion)", at: target.serviceLocation ?? target.location)
                return nil
            }
            service = found
        }
        if !target.instances.isEmpty {
            var names: [String] = []
            var valid = true
            for reference in target.instances {
                guard let resolved = resolve(reference) else {
                    valid = false
                    continue
                }
                if let service, let stray = resolved.first(where: { !service.instanceNames.contains($0) }) {
                    error("\(stray) is not an instance of service \"\(service.name)\"", at: reference.location)
                    valid = false
                    continue
                }
                names += resolved
            }
            return valid ? inOrder(names) : nil
        }
        guard let service else { return nil }
        if service.replicas == 0 {
            error("service \"\(service.name)\" has no instances (replicas: 0)", at: target.serviceLocation ?? target.location)
            return nil
        }
        return service.instanceNames
    }

    /// The pool and the sample size of a selector.
    mutating func selection(_ target: TargetSelector) -> Selection? {
        guard let pool = pool(target) else { return nil }
        guard let sample = target.sample else { return Selection(pool: pool, size: nil) }
        if case .count(let count) = sample, count > pool.count {
            error(
                "count \(count) is more than the \(pool.count) instance\(pool.count == 1 ? "" : "s") of the target (\(Self.compress(pool)))",
                at: target.sampleLocation ?? target.location)
            return nil
        }
        return Selection(pool: pool, size: PlanRandom.sampleSize(sample, poolSize: pool.count))
    }

    // MARK: Static resolution of a step

    private mutating func targets(of step: PlanStep) -> Targets? {
        if let target = step.fault.target {
            guard let selection = selection(target) else { return nil }
            if case .malformedFlood(let fault) = step.fault { checkPort(fault.port, of: selection.pool, at: step.faultLocation) }
            return .instances(selection)
        }
        if let (scope, _) = step.fault.links {
            switch scope {
            case .around(let target): return selection(target).map(Targets.around)
            case .between(let from, let to):
                let source = selection(from), destination = selection(to)
                guard let source, let destination else { return nil }
                return .between(source, destination)
            }
        }
        guard case .partition(let fault) = step.fault else { return nil }
        switch fault.layout {
        case .groups(let references):
            var groups: [[String]] = []
            var owner: [String: Int] = [:]
            var valid = true
            for (index, group) in references.enumerated() {
                var names: [String] = []
                for reference in group {
                    guard let resolved = resolve(reference) else {
                        valid = false
                        continue
                    }
                    for name in resolved {
                        if let other = owner[name], other != index {
                            error("\(name) is in two groups of the partition (\(other + 1) and \(index + 1))", at: reference.location)
                            valid = false
                        }
                        owner[name] = index
                    }
                    names += resolved
                }
                groups.append(inOrder(names))
            }
            return valid ? .groups(groups) : nil
        case .shape(let shape, let target):
            guard let name = target.service, let service = project[service: name] else {
                _ = pool(TargetSelector(service: target.service, location: target.location, serviceLocation: target.serviceLocation))
                return nil
            }
            let pool = service.instanceNames
            let least = [PartitionShape.halves: 2, .isolate: 2, .majorityRing: 4, .bridge: 3][shape] ?? 2
            guard pool.count >= least else {
                error(
                    "shape \(shape.rawValue) needs at least \(least) instances; \(name) has \(Self.instanceCount(service))",
                    at: step.faultLocation)
                return nil
            }
            switch shape {
            case .halves, .majorityRing:
                return .shape(shape, pool: pool, subjects: nil)
            case .isolate, .bridge:
                var subjects = TargetSelector(service: name, location: target.location, serviceLocation: target.serviceLocation)
                subjects.instances = target.instances
                subjects.sample = target.instances.isEmpty ? (target.sample ?? .count(1)) : target.sample
                subjects.sampleLocation = target.sampleLocation
                guard let selection = selection(subjects) else { return nil }
                if shape == .bridge, selection.size == nil, selection.pool.count != 1 {
                    error("shape bridge takes one bridge instance, found \(selection.pool.count)", at: target.instances.first?.location ?? target.location)
                    return nil
                }
                return .shape(shape, pool: pool, subjects: selection)
            }
        }
    }

    /// A port flooded must be one the service declares, when it declares any.
    private mutating func checkPort(_ port: Int, of instances: [String], at location: SourceLocation) {
        let services = Set(instances.compactMap { name in name.lastIndex(of: "-").map { String(name[..<$0]) } })
        for service in project.services where services.contains(service.name) {
            var ports = Set((service.ports + service.expose).map(\.target))
            ports.formUnion(service.stormlab.socketActivation.map(\.port))
            if let metrics = service.stormlab.metrics { ports.insert(metrics.port) }
            if !ports.isEmpty && !ports.contains(port) {
                error(
                    "\(service.name) does not listen on port \(port): it declares \(ports.sorted().map(String.init).joined(separator: ", "))",
                    at: location)
            }
        }
    }

    // MARK: The run

    mutating func run() -> Timeline {
        let schedule = PlanSchedule.make(
            steps: plan.steps, duration: context.durationKnown ? plan.duration : nil, broken: context.brokenSteps)
        diagnostics += schedule.diagnostics
        var targets: [Int: Targets] = [:]
        for step in plan.steps { targets[step.index] = self.targets(of: step) }
        checkProbes()
        let steps = Dictionary(plan.steps.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })

        // Explicit process targets reserve their instances first, so seeded draws avoid them.
        var reserved: [String: [Hold]] = [:]
        for occurrence in schedule.occurrences {
            guard let step = steps[occurrence.step], step.fault.kind.category == .process,
                case .instances(let selection)? = targets[step.index], selection.size == nil
            else { continue }
            let envelope = self.envelope(step, occurrence)
            for name in selection.pool { reserved[name, default: []].append(envelope) }
        }

        var events: [TimelineEvent] = []
        var holds: [String: [Hold]] = [:]
        for occurrence in schedule.occurrences {
            guard let step = steps[occurrence.step], let resolved = targets[step.index] else { continue }
            let label = "\(step.label)/\(occurrence.number)"
            switch resolved {
            case .instances(let selection):
                var chosen = selection.pool
                if let size = selection.size {
                    var pool = selection.pool
                    let isProcess = step.fault.kind.category == .process
                    let envelope = self.envelope(step, occurrence)
                    if isProcess {
                        pool = pool.filter { name in
                            !(reserved[name] ?? []).contains { Self.overlap($0, envelope) && ($0.step, $0.occurrence) != (step.index, occurrence.number) }
                        }
                        if pool.count < size {
                            errorOnce(
                                "free/\(step.index)",
                                "\(who(step)) (\(step.fault.kind)) needs \(size) instance\(size == 1 ? "" : "s") at \(ComposeDuration.format(occurrence.start)), but only \(pool.count) of \(selection.pool.count) are free of other process faults then",
                                at: step.faultLocation)
                            continue
                        }
                    }
                    var generator = PlanRandom.stream(seed: seed, label: "select/\(label)")
                    chosen = PlanRandom.choose(size, from: pool, using: &generator)
                    if isProcess { for name in chosen { reserved[name, default: []].append(envelope) } }
                }
                events += instanceEvents(step, occurrence, chosen, holds: &holds)
            case .groups(let groups):
                events.append(partitionEvent(step, occurrence, groups: groups))
            case .shape(let shape, let pool, let subjects):
                events.append(shapeEvent(step, occurrence, shape: shape, pool: pool, subjects: subjects, label: label))
            case .between(let from, let to):
                let source = draw(from, label: "select/\(label)/from"), destination = draw(to, label: "select/\(label)/to")
                events.append(linkEvent(step, occurrence, groups: [source, destination]))
            case .around(let selection):
                events.append(linkEvent(step, occurrence, around: draw(selection, label: "select/\(label)")))
            }
        }
        checkProcessConflicts(holds, steps: steps)
        checkLinkConflicts(events, steps: steps)
        events.sort { a, b in
            (a.time, a.stepIndex, a.occurrence, order[a.instances.first ?? ""] ?? 0)
                < (b.time, b.stepIndex, b.occurrence, order[b.instances.first ?? ""] ?? 0)
        }
        let spans = plan.steps.compactMap { step in
            schedule.start(of: step.index).map {
                StepSpan(step: step.label, name: step.name, index: step.index, start: $0, end: schedule.end(of: step.index))
            }
        }
        return Timeline(seed: seed, duration: plan.duration, events: events, spans: spans)
    }

    private func draw(_ selection: Selection, label: String) -> [String] {
        guard let size = selection.size else { return selection.pool }
        var generator = PlanRandom.stream(seed: seed, label: label)
        return PlanRandom.choose(size, from: selection.pool, using: &generator)
    }

    /// The probes' targets and ports against the project.
    private mutating func checkProbes() {
        for probe in plan.probes {
            switch probe.check {
            case .tcp(let target, let port), .http(let target, let port, _, _, _):
                if let pool = pool(target) { checkPort(port, of: pool, at: probe.location) }
            case .exec: break
            }
        }
    }

    // MARK: Events

    /// The longest an occurrence of a process fault can hold its instances.
    private func envelope(_ step: PlanStep, _ occurrence: PlanSchedule.Occurrence) -> Hold {
        let start = occurrence.start
        let end: Duration =
            switch step.fault {
            case .restart(let fault): start + max(fault.downtime, .nanoseconds(1))
            case .massRestart(let fault): start + fault.spread + fault.downtime.max
            case .churn(let fault): start + fault.window
            default: step.duration.map { start + $0 } ?? plan.duration
            }
        return Hold(start: start, end: max(end, start + .nanoseconds(1)), step: step.index, occurrence: occurrence.number)
    }

    private static func overlap(_ a: Hold, _ b: Hold) -> Bool { a.start < b.end && b.start < a.end }

    private static func milliseconds(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }

    private func event(
        _ step: PlanStep, _ occurrence: PlanSchedule.Occurrence, time: Duration? = nil, revert: TimelineEvent.Revert,
        instances: [String], groups: [[String]] = [], oneWay: Bool = false, links: [Link] = [], detail: String
    ) -> TimelineEvent {
        TimelineEvent(
            time: time ?? occurrence.start, revert: revert, step: step.label, stepIndex: step.index,
            occurrence: occurrence.number, fault: step.fault, instances: instances, groups: groups, oneWay: oneWay,
            links: links, detail: detail, mechanism: nil)
    }

    private mutating func instanceEvents(
        _ step: PlanStep, _ occurrence: PlanSchedule.Occurrence, _ chosen: [String], holds: inout [String: [Hold]]
    ) -> [TimelineEvent] {
        let start = occurrence.start
        let format = ComposeDuration.format
        let lasting = step.duration.map { TimelineEvent.Revert.at(start + $0) }
        func hold(_ name: String, _ from: Duration, _ to: Duration) {
            holds[name, default: []].append(
                Hold(start: from, end: max(to, from + .nanoseconds(1)), step: step.index, occurrence: occurrence.number))
        }
        func holdAll(until end: Duration) { for name in chosen { hold(name, start, end) } }
        let runEnd = plan.duration
        switch step.fault {
        case .kill(let fault):
            holdAll(until: step.duration.map { start + $0 } ?? runEnd)
            let detail = fault.signal + (step.duration == nil ? "" : ", started again at revert")
            return [event(step, occurrence, revert: lasting ?? .none, instances: chosen, detail: detail)]
        case .terminate(let fault):
            holdAll(until: step.duration.map { start + $0 } ?? runEnd)
            return [event(step, occurrence, revert: lasting ?? .none, instances: chosen, detail: "SIGKILL after \(format(fault.timeout))")]
        case .restart(let fault):
            holdAll(until: start + fault.downtime)
            return [
                event(step, occurrence, revert: .at(start + fault.downtime), instances: chosen, detail: "down \(format(fault.downtime))")
            ]
        case .pause:
            holdAll(until: step.duration.map { start + $0 } ?? runEnd)
            return [event(step, occurrence, revert: lasting ?? .atRunEnd, instances: chosen, detail: "SIGSTOP, SIGCONT at revert")]
        case .massRestart(let fault):
            var generator = PlanRandom.stream(seed: seed, label: "wave/\(step.label)/\(occurrence.number)")
            return chosen.map { name in
                let offset = Self.milliseconds(PlanRandom.waveOffset(fault.distribution, spread: fault.spread.inSeconds, using: &generator))
                let down = min(max(Self.milliseconds(PlanRandom.uniform(fault.downtime, using: &generator)), fault.downtime.min), fault.downtime.max)
                let time = start + min(offset, fault.spread)
                hold(name, time, time + down)
                return event(step, occurrence, time: time, revert: .at(time + down), instances: [name], detail: "\(fault.signal), down \(format(down))")
            }
        case .churn(let fault):
            var events: [TimelineEvent] = []
            let windowEnd = start + fault.window
            for name in chosen {
                hold(name, start, windowEnd)
                var generator = PlanRandom.stream(seed: seed, label: "churn/\(step.label)/\(occurrence.number)/\(name)")
                var time = start + Self.milliseconds(generator.nextUnit() * PlanRandom.sample(fault.session, using: &generator))
                var downs = 0
                while time < windowEnd {
                    downs += 1
                    if downs > PlanSchedule.maximumOccurrences {
                        errorOnce(
                            "churn/\(step.index)",
                            "\(who(step)) makes more than \(PlanSchedule.maximumOccurrences) down periods for \(name); make the session and downtime means longer",
                            at: step.faultLocation)
                        break
                    }
                    let down = max(Self.milliseconds(PlanRandom.sample(fault.downtime, using: &generator)), .milliseconds(1))
                    let up = min(time + down, windowEnd)
                    events.append(event(step, occurrence, time: time, revert: .at(up), instances: [name], detail: "down \(format(up - time))"))
                    time = up + max(Self.milliseconds(PlanRandom.sample(fault.session, using: &generator)), .milliseconds(1))
                }
            }
            return events
        case .malformedFlood(let fault):
            let rate = fault.rate == fault.rate.rounded() ? String(Int(fault.rate)) : String(fault.rate)
            let detail =
                "port \(fault.port), \(rate)/s over \(fault.connections) connections: \(fault.payloads.map(\.rawValue).joined(separator: ", "))"
            return [event(step, occurrence, revert: lasting ?? .atRunEnd, instances: chosen, detail: detail)]
        case .loginStorm(let fault):
            switch fault.load {
            case .rate(let rate):
                let text = rate == rate.rounded() ? String(Int(rate)) : String(rate)
                return [event(step, occurrence, revert: lasting ?? .atRunEnd, instances: chosen, detail: "\(text) logins/s")]
            case .users(let users):
                return [event(step, occurrence, revert: lasting ?? .none, instances: chosen, detail: "\(users) users")]
            }
        default:
            return []
        }
    }

    private func networkRevert(_ step: PlanStep, _ occurrence: PlanSchedule.Occurrence) -> TimelineEvent.Revert {
        if let duration = step.duration { return .at(occurrence.start + duration) }
        if case .reset = step.fault { return .none }
        return .atRunEnd
    }

    private static func crossLinks(_ groups: [[String]], oneWay: Bool) -> [Link] {
        var links = Set<Link>()
        for (i, first) in groups.enumerated() {
            for (j, second) in groups.enumerated() where i != j && (!oneWay || i < j) {
                for a in first { for b in second where a != b { links.insert(Link(from: a, to: b)) } }
            }
        }
        return links.sorted()
    }

    private func partitionEvent(_ step: PlanStep, _ occurrence: PlanSchedule.Occurrence, groups: [[String]]) -> TimelineEvent {
        guard case .partition(let fault) = step.fault else { preconditionFailure("a partition step") }
        return event(
            step, occurrence, revert: networkRevert(step, occurrence), instances: inOrder(groups.flatMap { $0 }), groups: groups,
            oneWay: fault.oneWay, links: Self.crossLinks(groups, oneWay: fault.oneWay), detail: fault.oneWay ? "one-way" : "")
    }

    private func shapeEvent(
        _ step: PlanStep, _ occurrence: PlanSchedule.Occurrence, shape: PartitionShape, pool: [String], subjects: Selection?, label: String
    ) -> TimelineEvent {
        guard case .partition(let fault) = step.fault else { preconditionFailure("a partition step") }
        let revert = networkRevert(step, occurrence)
        let chosen = subjects.map { draw($0, label: "shape/\(label)") } ?? []
        switch shape {
        case .halves:
            let half = (pool.count + 1) / 2
            return partitionEvent(step, occurrence, groups: [Array(pool[..<half]), Array(pool[half...])])
        case .isolate:
            let rest = pool.filter { !chosen.contains($0) }
            return partitionEvent(step, occurrence, groups: chosen.map { [$0] } + (rest.isEmpty ? [] : [rest]))
        case .bridge:
            let rest = pool.filter { !chosen.contains($0) }
            let half = (rest.count + 1) / 2
            let sides = [Array(rest[..<half]), Array(rest[half...])]
            return event(
                step, occurrence, revert: revert, instances: pool, groups: sides, oneWay: fault.oneWay,
                links: Self.crossLinks(sides, oneWay: fault.oneWay),
                detail: "bridge \(chosen.joined(separator: ", "))" + (fault.oneWay ? ", one-way" : ""))
        case .majorityRing:
            let n = pool.count
            let majority = n / 2 + 1
            let reach = majority / 2  // ⌈(majority − 1) / 2⌉
            var links: [Link] = []
            for i in 0..<n {
                for j in 0..<n where i != j && (!fault.oneWay || i < j) {
                    let distance = min(abs(i - j), n - abs(i - j))
                    if distance > reach { links.append(Link(from: pool[i], to: pool[j])) }
                }
            }
            return event(
                step, occurrence, revert: revert, instances: pool, oneWay: fault.oneWay, links: links.sorted(),
                detail: "majority ring, each sees \(2 * reach + 1) of \(n)" + (fault.oneWay ? ", one-way" : ""))
        }
    }

    private func linkDetail(_ fault: Fault) -> String {
        switch fault {
        case .latency(let fault):
            "delay \(ComposeDuration.format(fault.delay))" + (fault.jitter == .zero ? "" : " ± \(ComposeDuration.format(fault.jitter))")
        case .loss(let fault): "loss \(fault.probability * 100)%"
        case .bandwidth(let fault): "rate \(fault.rate)"
        case .reset: "RST"
        case .blackhole: "no answer"
        default: ""
        }
    }

    private func linkEvent(
        _ step: PlanStep, _ occurrence: PlanSchedule.Occurrence, groups: [[String]]? = nil, around: [String]? = nil
    ) -> TimelineEvent {
        let oneWay = step.fault.links?.oneWay ?? false
        var links = Set<Link>()
        if let groups {
            for a in groups[0] {
                for b in groups[1] where a != b {
                    links.insert(Link(from: a, to: b))
                    if !oneWay { links.insert(Link(from: b, to: a)) }
                }
            }
        }
        for a in around ?? [] {
            for b in allInstances where a != b {
                links.insert(Link(from: a, to: b))
                if !oneWay { links.insert(Link(from: b, to: a)) }
            }
        }
        return event(
            step, occurrence, revert: networkRevert(step, occurrence), instances: groups.map { inOrder($0.flatMap { $0 }) } ?? around ?? [],
            groups: groups ?? [], oneWay: oneWay, links: links.sorted(), detail: linkDetail(step.fault))
    }

    // MARK: Conflicts

    private mutating func checkProcessConflicts(_ holds: [String: [Hold]], steps: [Int: PlanStep]) {
        for name in allInstances {
            let list = (holds[name] ?? []).sorted { ($0.start, $0.step) < ($1.start, $1.step) }
            for (i, first) in list.enumerated() {
                for second in list[(i + 1)...] where Self.overlap(first, second) {
                    guard (first.step, first.occurrence) != (second.step, second.occurrence),
                        let a = steps[first.step], let b = steps[second.step]
                    else { continue }
                    let time = ComposeDuration.format(max(first.start, second.start))
                    if a.index == b.index {
                        errorOnce(
                            "process/\(a.index)/\(a.index)",
                            "\(who(b)) (\(b.fault.kind)) overlaps itself: two occurrences act on \(name) at \(time); an instance takes one process fault at a time",
                            at: b.faultLocation)
                    } else {
                        errorOnce(
                            "process/\(min(a.index, b.index))/\(max(a.index, b.index))",
                            "\(who(b)) (\(b.fault.kind)) conflicts with \(who(a)) (\(a.fault.kind)): both act on \(name) at \(time); an instance takes one process fault at a time",
                            at: b.faultLocation)
                    }
                }
            }
        }
    }

    private mutating func checkLinkConflicts(_ events: [TimelineEvent], steps: [Int: PlanStep]) {
        var byLink: [Link: [Int]] = [:]
        let network = events.indices.filter { events[$0].kind.category == .network }
        for index in network {
            for link in events[index].links { byLink[link, default: []].append(index) }
        }
        func interval(_ event: TimelineEvent) -> Hold {
            let end: Duration =
                switch event.revert {
                case .at(let time): time
                case .atRunEnd: plan.duration
                case .none: event.time
                }
            return Hold(start: event.time, end: max(end, event.time + .nanoseconds(1)), step: event.stepIndex, occurrence: event.occurrence)
        }
        for link in byLink.keys.sorted() {
            let indices = byLink[link] ?? []
            for (position, i) in indices.enumerated() {
                for j in indices[(position + 1)...] {
                    let (x, y) = (events[i], events[j])
                    guard (x.stepIndex, x.occurrence) != (y.stepIndex, y.occurrence), Self.overlap(interval(x), interval(y)),
                        x.kind == y.kind || x.kind.cutsLinks || y.kind.cutsLinks
                    else { continue }
                    let (first, second) = (x.time, x.stepIndex) <= (y.time, y.stepIndex) ? (x, y) : (y, x)
                    guard let a = steps[first.stepIndex], let b = steps[second.stepIndex] else { continue }
                    let reason =
                        first.kind == second.kind
                        ? "two \(first.kind) faults cannot share a link"
                        : "a link cut by \(first.kind.cutsLinks ? first.kind : second.kind) takes no other network fault"
                    let time = ComposeDuration.format(max(first.time, second.time))
                    let subject = a.index == b.index ? "overlaps itself" : "conflicts with \(who(a)) (\(a.fault.kind))"
                    errorOnce(
                        "link/\(min(a.index, b.index))/\(max(a.index, b.index))",
                        "\(who(b)) (\(b.fault.kind)) \(subject) on the link \(link) at \(time): \(reason)",
                        at: b.faultLocation)
                }
            }
        }
    }

    // MARK: Text

    /// `client-1..3, client-7, auth-1`: consecutive instances of a service as ranges.
    static func compress(_ names: [String]) -> String {
        var parts: [String] = []
        var run: (service: Substring, low: Int, high: Int)?
        func flush() {
            guard let current = run else { return }
            parts.append(current.low == current.high ? "\(current.service)-\(current.low)" : "\(current.service)-\(current.low)..\(current.high)")
            run = nil
        }
        for name in names {
            guard let dash = name.lastIndex(of: "-"), let number = Int(name[name.index(after: dash)...]) else {
                flush()
                parts.append(name)
                continue
            }
            let service = name[..<dash]
            if let current = run, current.service == service, current.high + 1 == number {
                run?.high = number
            } else {
                flush()
                run = (service, number, number)
            }
        }
        flush()
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }
}
