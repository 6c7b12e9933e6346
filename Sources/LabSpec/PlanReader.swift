import Yams

/// The validation pass over one plan file: reads every key into the model and collects every
/// problem; cross-checks against the services happen in ``PlanTimeline``.
struct PlanReader {
    var yaml: YAMLReading
    private let lines: [[Unicode.Scalar]]
    /// The steps read so far, for the references of SLOs.
    private var steps: [PlanStep] = []
    private var schedule: PlanSchedule?
    /// The plan's duration, when it was read.
    private(set) var duration: Duration?
    /// The names of steps that could not be read: references to them are not reported again.
    private(set) var brokenSteps: Set<String> = []

    init(file: String, text: String, variables: [String: String]) {
        yaml = YAMLReading(file: file, text: text, variables: variables)
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
    }

    var diagnostics: [Diagnostic] { yaml.diagnostics }

    // MARK: Top level

    mutating func plan(root: Node) -> FaultPlan? {
        guard let entries = yaml.entries(root, path: "the plan") else {
            if YAMLReading.isNull(root) { yaml.error("the plan is empty", at: root) }
            return nil
        }
        yaml.checkKeys(entries, against: .plan, path: nil)
        let value = { (key: String) in entries.first { $0.key == key } }

        var plan = FaultPlan(file: yaml.file, duration: .zero)
        if let entry = value("seed"), let text = yaml.string(entry.value, path: "seed") {
            if let seed = UInt64(text) {
                plan.seed = seed
            } else {
                yaml.error("seed must be a whole number from 0 to \(UInt64.max), found \"\(text)\"", at: entry.value)
            }
        }
        if let entry = value("duration") {
            if let read = positiveDuration(entry.value, path: "duration") {
                duration = read
                plan.duration = read
            }
        } else {
            yaml.error("the plan has no \"duration\": say how long the fault phase lasts, as 3m", at: root)
        }
        if let entry = value("expect"), let text = yaml.string(entry.value, path: "expect") {
            if let expectation = Expectation(rawValue: text) {
                plan.expect = expectation
            } else {
                yaml.error("expect must be \"pass\" or \"fail\", found \"\(text)\"", at: entry.value)
            }
        }
        if let entry = value("expect-outcome") {
            let items: [Node] = if case .sequence(let items) = entry.value { Array(items) } else { [entry.value] }
            for item in items {
                guard case .scalar = item, let text = yaml.string(item, path: "expect-outcome") else {
                    yaml.error("expect-outcome must be an outcome or a list of outcomes, found \(YAMLReading.found(item))", at: item)
                    continue
                }
                if let outcome = ExpectedOutcome(rawValue: text) {
                    plan.expectOutcome.append(outcome)
                } else {
                    let names = ExpectedOutcome.allCases.map(\.rawValue).joined(separator: ", ")
                    yaml.error("expect-outcome must be one or a list of \(names), found \"\(text)\"", at: item)
                }
            }
        }
        if let entry = value("scrape-interval"), let interval = positiveDuration(entry.value, path: "scrape-interval") {
            plan.scrapeInterval = interval
        }
        if let entry = value("description") { plan.description = yaml.string(entry.value, path: "description") }

        if let entry = value("steps"), let items = yaml.list(entry.value, path: "steps") {
            for (index, item) in items.enumerated() {
                if let step = step(item, index: index) {
                    steps.append(step)
                } else if case .mapping(let mapping) = item, let name = mapping["name"]?.string {
                    brokenSteps.insert(name)
                }
            }
            checkUniqueNames(steps.compactMap { step in step.name.map { ($0, step.fieldLocations["name"] ?? step.location) } }, what: "step")
        }
        let made = PlanSchedule.make(steps: steps, duration: duration, broken: brokenSteps)
        yaml.diagnostics += made.diagnostics
        schedule = made
        plan.steps = steps

        if let entry = value("steady-state") { plan.steadyState = steadyState(entry.value) }
        if let entry = value("slos"), let items = yaml.list(entry.value, path: "slos") {
            plan.slos = items.enumerated().compactMap { slo($1, path: "slos[\($0)]", steadyState: false) }
            checkUniqueNames(plan.slos.map { ($0.name, $0.location) }, what: "SLO")
        }
        if let entry = value("probes"), let items = yaml.list(entry.value, path: "probes") {
            plan.probes = items.enumerated().compactMap { probe($1, path: "probes[\($0)]") }
            checkUniqueNames(plan.probes.map { ($0.name, $0.location) }, what: "probe")
        }
        for slo in plan.slos where slo.abort {
            checkGuardForm(slo, at: slo.location)
        }
        if let entry = value("abort") { guards(entry.value, plan: &plan) }
        if let entry = value("metastability") { plan.metastability = metastability(entry.value, slos: plan.slos) }
        return plan
    }

    private mutating func checkUniqueNames(_ names: [(String, SourceLocation)], what: String) {
        var seen: [String: SourceLocation] = [:]
        for (name, location) in names {
            if let first = seen[name] {
                yaml.diagnostics.append(
                    Diagnostic(.error, at: location, "duplicate \(what) name \"\(name)\" (first at line \(first.line))"))
            } else {
                seen[name] = location
            }
        }
    }

    // MARK: Scalars

    mutating func positiveDuration(_ node: Node, path: String, allowZero: Bool = false) -> Duration? {
        guard let value = yaml.duration(node, path: path) else { return nil }
        if value == .zero && !allowZero {
            yaml.error("\(path) must be more than zero", at: node)
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, path: String) -> Double? {
        guard let text = yaml.string(node, path: path) else { return nil }
        guard let value = PlanSyntax.fraction(text), value.isFinite else {
            yaml.error("\(path) must be a number, found \"\(text)\"", at: node)
            return nil
        }
        return value
    }

    /// A number in 0…1, written `0.25` or `25%`.
    mutating func share(_ node: Node, path: String) -> Double? {
        guard let value = number(node, path: path) else { return nil }
        guard (0...1).contains(value) else {
            yaml.error("\(path) must be between 0 and 1, found \(YAMLReading.found(node))", at: node)
            return nil
        }
        return value
    }

    mutating func positiveInt(_ node: Node, path: String, range: ClosedRange<Int> = 1...Int.max) -> Int? {
        guard let value = yaml.int(node, path: path) else { return nil }
        guard range.contains(value) else {
            let bound = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            yaml.error("\(path) must be \(bound), found \(value)", at: node)
            return nil
        }
        return value
    }

    mutating func name(_ node: Node, path: String) -> String? {
        guard let text = yaml.string(node, path: path) else { return nil }
        guard PlanSyntax.isValidName(text) else {
            yaml.error(
                "\(path) must start with a letter and hold only letters, digits, \"-\" and \"_\", found \"\(text)\"",
                at: node)
            return nil
        }
        return text
    }

    mutating func signal(_ node: Node, path: String) -> String? {
        guard let text = yaml.string(node, path: path) else { return nil }
        guard let signal = ComposeReader.signal(text) else {
            yaml.error("\(path) must be a signal name like SIGKILL or a number, found \"\(text)\"", at: node)
            return nil
        }
        return signal
    }

    mutating func port(_ node: Node, path: String) -> Int? {
        positiveInt(node, path: path, range: 1...65535)
    }

    // MARK: Steps

    private mutating func step(_ node: Node, index: Int) -> PlanStep? {
        let path = "steps[\(index)]"
        guard let entries = yaml.entries(node, path: path) else {
            if YAMLReading.isNull(node) { yaml.error("\(path) is empty", at: node) }
            return nil
        }
        let faults = entries.filter { FaultKind(name: $0.key) != nil }
        let strays = entries.filter { !$0.key.hasPrefix("x-") && !KeySet.step.supported.contains($0.key) }
        if faults.isEmpty {
            for stray in strays {
                let suggestion = EditDistance.suggestion(for: stray.key, among: KeySet.step.supported)
                yaml.error(
                    "unknown fault kind \"\(stray.key)\" in \(path)"
                        + (suggestion.map { "; did you mean \"\($0)\"?" } ?? "; known kinds: \(FaultKind.all.map(\.name).joined(separator: ", "))"),
                    at: stray.keyNode)
            }
            if strays.isEmpty {
                yaml.error("\(path) has no fault: give one of \(FaultKind.all.map(\.name).joined(separator: ", "))", at: node)
            }
        } else {
            yaml.checkKeys(entries, against: .step, path: path)
            for extra in faults.dropFirst() {
                yaml.error(
                    "\(path) has more than one fault (\(faults.map(\.key).joined(separator: ", "))); a step has exactly one",
                    at: extra.keyNode)
            }
        }
        let value = { (key: String) in entries.first { $0.key == key } }
        var locations: [String: SourceLocation] = [:]
        for entry in entries { locations[entry.key] = yaml.location(of: entry.value) }

        let name = value("name").flatMap { self.name($0.value, path: "\(path).name") }
        var start: StepStart?
        switch (value("at"), value("after")) {
        case (let at?, let after?):
            yaml.error("\(path) has both \"at\" and \"after\"; give one", at: after.keyNode)
            _ = at
        case (let at?, nil):
            if let time = yaml.duration(at.value, path: "\(path).at") { start = .at(time) }
            if let delay = value("delay") {
                yaml.error("\(path).delay only goes with \"after\"; with \"at\", add it to the time", at: delay.keyNode)
            }
        case (nil, let after?):
            let delay = value("delay").flatMap { yaml.duration($0.value, path: "\(path).delay") } ?? .zero
            if let target = self.name(after.value, path: "\(path).after") { start = .after(step: target, delay: delay) }
        case (nil, nil):
            yaml.error("\(path) has no time: give \"at\" (an offset, as 20s) or \"after\" (a step's name)", at: node)
        }
        locations["time"] = locations["at"] ?? locations["after"]

        var repetition: Repetition?
        let until = value("until"), times = value("times")
        if let every = value("every") {
            if let period = positiveDuration(every.value, path: "\(path).every") {
                var end = Repetition.End.planEnd
                if until != nil, let times {
                    yaml.error("\(path) has both \"until\" and \"times\"; give one", at: times.keyNode)
                } else if let until {
                    if let time = yaml.duration(until.value, path: "\(path).until") { end = .until(time) }
                } else if let times {
                    if let count = positiveInt(times.value, path: "\(path).times") { end = .times(count) }
                }
                repetition = Repetition(every: period, end: end)
            }
        } else {
            for entry in [until, times].compactMap({ $0 }) {
                yaml.error("\(path).\(entry.key) only goes with \"every\"", at: entry.keyNode)
            }
        }
        let forEntry = value("for")
        let lasting = forEntry.flatMap { positiveDuration($0.value, path: "\(path).for") }

        guard let faultEntry = faults.first, let kind = FaultKind(name: faultEntry.key) else { return nil }
        let input = FaultInput(
            kind: kind, node: faultEntry.value, keyNode: faultEntry.keyNode, path: "\(path).\(kind.name)",
            hasDuration: forEntry != nil)
        guard let decode = Self.faultDecoders[kind.name] else { return nil }
        let fault = decode(&self, input)
        if let forEntry, let reason = Self.forbiddenDuration(kind) {
            yaml.error("\(path).for does not apply to \(kind.name): \(reason)", at: forEntry.keyNode)
        }
        guard let start, let fault else { return nil }
        var step = PlanStep(
            index: index, name: name, start: start, repetition: repetition, duration: lasting, fault: fault,
            location: yaml.location(of: entries.first?.keyNode ?? node), faultLocation: yaml.location(of: faultEntry.keyNode))
        step.fieldLocations = locations
        return step
    }

    /// Why `for` does not apply to a kind, when it does not.
    static func forbiddenDuration(_ kind: FaultKind) -> String? {
        switch kind {
        case .restart: "a restarted instance comes back after its downtime"
        case .massRestart: "each instance comes back after its downtime"
        case .churn: "churn lasts for its window"
        default: nil
        }
    }

    // MARK: Targets

    /// The entries of a fault's mapping, checked against its kind's keys.
    mutating func faultEntries(_ input: FaultInput) -> [YAMLReading.Entry]? {
        guard case .mapping = input.node else {
            yaml.error("\(input.path) must be a mapping, found \(YAMLReading.found(input.node))", at: input.node)
            return nil
        }
        guard let entries = yaml.entries(input.node, path: input.path) else { return nil }
        yaml.checkKeys(entries, against: .fault(input.kind), path: input.path)
        return entries
    }

    /// `service`, `instances`, `fraction`, `count` from a mapping's entries; `nil` (with an error)
    /// when neither `service` nor `instances` is there.
    mutating func target(
        _ entries: [YAMLReading.Entry], node: Node, path: String, allowSample: Bool = true, required: Bool = true
    ) -> TargetSelector? {
        let value = { (key: String) in entries.first { $0.key == key } }
        var selector = TargetSelector(location: yaml.location(of: node))
        if let entry = value("service"), let service = yaml.string(entry.value, path: "\(path).service") {
            if ComposeReader.isValidServiceName(service) {
                selector.service = service
                selector.serviceLocation = yaml.location(of: entry.value)
            } else {
                yaml.error("\(path).service must be a service name, found \"\(service)\"", at: entry.value)
            }
        }
        if let entry = value("instances") { selector.instances = references(entry.value, path: "\(path).instances") }
        let fraction = value("fraction"), count = value("count")
        if !allowSample {
            for entry in [fraction, count].compactMap({ $0 }) {
                yaml.error("\(path).\(entry.key) does not apply here", at: entry.keyNode)
            }
        } else if fraction != nil, let count {
            yaml.error("\(path) has both \"fraction\" and \"count\"; give one", at: count.keyNode)
        } else if let fraction {
            if let share = share(fraction.value, path: "\(path).fraction") { selector.sample = .fraction(share) }
            selector.sampleLocation = yaml.location(of: fraction.value)
        } else if let count {
            if let number = positiveInt(count.value, path: "\(path).count") { selector.sample = .count(number) }
            selector.sampleLocation = yaml.location(of: count.value)
        }
        if value("service") == nil && value("instances") == nil {
            if required { yaml.error("\(path) needs a target: give \"service\" or \"instances\"", at: node) }
            return nil
        }
        return selector
    }

    /// A reference or a list of references.
    mutating func references(_ node: Node, path: String) -> [InstanceReference] {
        let items: [(Node, String)]
        if case .sequence(let sequence) = node {
            items = sequence.enumerated().map { ($1, "\(path)[\($0)]") }
        } else {
            items = [(node, path)]
        }
        var references: [InstanceReference] = []
        for (item, itemPath) in items {
            guard case .scalar = item, let text = yaml.string(item, path: itemPath) else {
                if !YAMLReading.isNull(item) {
                    yaml.error("\(itemPath) must be an instance or service name, found \(YAMLReading.found(item))", at: item)
                }
                continue
            }
            switch InstanceReference.parse(text, at: yaml.location(of: item)) {
            case .success(let reference): references.append(reference)
            case .failure(let failure): yaml.error("invalid instance reference \"\(text)\" in \(itemPath): \(failure.reason)", at: item)
            }
        }
        if references.isEmpty, case .sequence = node, items.isEmpty { yaml.error("\(path) is empty", at: node) }
        return references
    }

    /// A `from`/`to` value: a reference, a list of references, or a target mapping.
    mutating func group(_ node: Node, path: String) -> TargetSelector? {
        if case .mapping = node {
            guard let entries = yaml.entries(node, path: path) else { return nil }
            yaml.checkKeys(entries, against: .target, path: path)
            return target(entries, node: node, path: path)
        }
        let references = references(node, path: path)
        guard !references.isEmpty else { return nil }
        return TargetSelector(instances: references, location: yaml.location(of: node))
    }

    /// `from`/`to`, or a plain target; and `one-way`.
    mutating func links(_ entries: [YAMLReading.Entry], input: FaultInput) -> (LinkScope, Bool)? {
        let value = { (key: String) in entries.first { $0.key == key } }
        let oneWay = value("one-way").flatMap { yaml.bool($0.value, path: "\(input.path).one-way") } ?? false
        let from = value("from"), to = value("to")
        if from != nil || to != nil {
            if let plain = entries.first(where: { KeySet.targetKeys.contains($0.key) }) {
                yaml.error("\(input.path) has both \"from\"/\"to\" and \"\(plain.key)\"; give one or the other", at: plain.keyNode)
            }
            guard let from, let to else {
                yaml.error("\(input.path) needs both \"from\" and \"to\"", at: (from ?? to)?.keyNode ?? input.keyNode)
                return nil
            }
            guard let source = group(from.value, path: "\(input.path).from"),
                let destination = group(to.value, path: "\(input.path).to")
            else { return nil }
            return (.between(from: source, to: destination), oneWay)
        }
        guard
            let selector = target(entries, node: input.node, path: input.path, required: false)
        else {
            yaml.error("\(input.path) needs links: give \"from\" and \"to\", or \"service\" or \"instances\"", at: input.keyNode)
            return nil
        }
        return (.around(selector), oneWay)
    }

    // MARK: SLOs

    private mutating func steadyState(_ node: Node) -> SteadyState {
        var state = SteadyState()
        guard let entries = yaml.entries(node, path: "steady-state") else { return state }
        yaml.checkKeys(entries, against: .steadyState, path: "steady-state")
        for entry in entries {
            let path = "steady-state.\(entry.key)"
            switch entry.key {
            case "timeout": if let value = positiveDuration(entry.value, path: path) { state.timeout = value }
            case "hold": if let value = positiveDuration(entry.value, path: path, allowZero: true) { state.hold = value }
            case "slos":
                let items = yaml.list(entry.value, path: path) ?? []
                state.slos = items.enumerated().compactMap { slo($1, path: "\(path)[\($0)]", steadyState: true) }
                checkUniqueNames(state.slos.map { ($0.name, $0.location) }, what: "steady-state check")
            default: break
            }
        }
        return state
    }

    private mutating func slo(_ node: Node, path: String, steadyState: Bool) -> SLO? {
        guard let entries = yaml.entries(node, path: path) else {
            if YAMLReading.isNull(node) { yaml.error("\(path) is empty", at: node) }
            return nil
        }
        yaml.checkKeys(entries, against: .slo, path: path)
        let value = { (key: String) in entries.first { $0.key == key } }
        let name: String?
        if let entry = value("name") {
            name = self.name(entry.value, path: "\(path).name")
        } else {
            yaml.error("\(path) has no \"name\"", at: node)
            name = nil
        }
        var expression: SLIExpression?
        if let entry = value("expr") {
            expression = self.expression(entry.value, path: "\(path).expr")
        } else {
            yaml.error("\(path) has no \"expr\": give the SLI expression, as sum(up) >= 3", at: node)
        }
        let forms = entries.filter { KeySet.sloForms.contains($0.key) }
        for extra in forms.dropFirst() {
            yaml.error(
                "\(path) has more than one form (\(forms.map(\.key).joined(separator: ", "))); an SLO has exactly one",
                at: extra.keyNode)
        }
        var form: SLOForm?
        if let entry = forms.first {
            form = self.form(entry, path: "\(path).\(entry.key)", steadyState: steadyState)
        } else {
            yaml.error("\(path) has no form: give always, eventually, recovers or budget", at: node)
        }
        var abort = false
        if let entry = value("abort"), let flag = yaml.bool(entry.value, path: "\(path).abort") {
            if steadyState && flag {
                yaml.error("\(path).abort does not apply to steady-state checks, which run before any fault", at: entry.keyNode)
            } else {
                abort = flag
            }
        }
        guard let name, let expression, let form else { return nil }
        return SLO(name: name, expr: expression, form: form, abort: abort, location: yaml.location(of: entries[0].keyNode))
    }

    private mutating func metastability(_ node: Node, slos: [SLO]) -> MetastabilitySpec? {
        guard let entries = yaml.entries(node, path: "metastability") else { return nil }
        yaml.checkKeys(entries, against: .metastability, path: "metastability")
        let value = { (key: String) in entries.first { $0.key == key } }
        var sloName: String?
        if let entry = value("slo"), let name = yaml.string(entry.value, path: "metastability.slo") {
            if slos.contains(where: { $0.name == name }) {
                sloName = name
            } else {
                yaml.error("metastability.slo names no SLO of this plan: \"\(name)\"", at: entry.value)
            }
        } else if value("slo") == nil {
            yaml.error("metastability has no \"slo\": name the SLO whose condition is the healthy state", at: node)
        }
        var minimum = Duration.seconds(10)
        if let entry = value("minimum"), let read = positiveDuration(entry.value, path: "metastability.minimum") { minimum = read }
        var signals: [MetastabilitySpec.Signal] = []
        if let entry = value("signals"), let items = yaml.list(entry.value, path: "metastability.signals") {
            for (index, item) in items.enumerated() {
                let path = "metastability.signals[\(index)]"
                guard let fields = yaml.entries(item, path: path) else { continue }
                yaml.checkKeys(fields, against: .amplificationSignal, path: path)
                let field = { (key: String) in fields.first { $0.key == key } }
                var name: String?
                var expression: SLIExpression?
                var above: Double?
                if let entry = field("name") { name = yaml.string(entry.value, path: "\(path).name") }
                if let entry = field("expr") { expression = self.expression(entry.value, path: "\(path).expr") }
                if let entry = field("above") { above = number(entry.value, path: "\(path).above") }
                guard let name, let expression, let above else {
                    yaml.error("\(path) needs name, expr and above", at: item)
                    continue
                }
                signals.append(MetastabilitySpec.Signal(name: name, expr: expression, above: above))
            }
        }
        if signals.isEmpty { yaml.error("metastability needs at least one signal", at: node) }
        guard let sloName, !signals.isEmpty else { return nil }
        return MetastabilitySpec(slo: sloName, signals: signals, minimum: minimum, location: yaml.location(of: node))
    }

    /// The expression, verbatim, with where each of its characters is.
    private mutating func expression(_ node: Node, path: String) -> SLIExpression? {
        guard case .scalar(let scalar) = node, !YAMLReading.isNull(node) else {
            yaml.error("\(path) must be a string, found \(YAMLReading.found(node))", at: node)
            return nil
        }
        let text = scalar.string
        let start = yaml.location(of: node)
        if text.allSatisfy(\.isWhitespace) {
            yaml.error("\(path) is empty", at: node)
            return nil
        }
        return SLIExpression(text: text, location: start, segments: segments(of: scalar, text: text, start: start))
    }

    /// Where the runs of an expression's characters are in the source, when it shows them unchanged.
    private func segments(of scalar: Node.Scalar, text: String, start: SourceLocation) -> [SLIExpression.Segment] {
        let wanted = Array(text.unicodeScalars)
        func matches(line: Int, column: Int, _ part: ArraySlice<Unicode.Scalar>) -> Bool {
            guard line >= 1, line <= lines.count, column >= 1 else { return false }
            let source = lines[line - 1]
            guard column - 1 + part.count <= source.count else { return false }
            return Array(source[(column - 1)..<(column - 1 + part.count)]) == Array(part)
        }
        let fallback = [SLIExpression.Segment(offset: 0, line: start.line, column: start.column)]
        switch scalar.style {
        case .plain, .any:
            return fallback
        case .singleQuoted, .doubleQuoted:
            let first = SLIExpression.Segment(offset: 0, line: start.line, column: start.column + 1)
            return matches(line: start.line, column: start.column + 1, wanted[...]) ? [first] : fallback
        case .literal:
            var segments: [SLIExpression.Segment] = []
            var offset = 0
            var line = start.line + 1
            let parts = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
            // The indentation is the first content line's.
            guard line <= lines.count, let indent = lines[line - 1].firstIndex(where: { $0 != " " }) else { return fallback }
            for part in parts {
                if !part.isEmpty && !matches(line: line, column: indent + 1, part[...]) { return fallback }
                segments.append(SLIExpression.Segment(offset: offset, line: line, column: indent + 1))
                offset += part.count + 1
                line += 1
            }
            return segments
        default:
            return fallback
        }
    }

    private mutating func form(_ entry: YAMLReading.Entry, path: String, steadyState: Bool) -> SLOForm? {
        let node = entry.value
        if entry.key == "always" && YAMLReading.isNull(node) { return .always(.run) }
        if entry.key == "always", case .scalar = node, yaml.bool(node, path: path) == true { return .always(.run) }
        guard case .mapping = node, let entries = yaml.entries(node, path: path) else {
            if case .scalar = node, entry.key == "always" { return nil }
            yaml.error("\(path) must be a mapping, found \(YAMLReading.found(node))", at: node)
            return nil
        }
        let value = { (key: String) in entries.first { $0.key == key } }
        switch entry.key {
        case "always":
            yaml.checkKeys(entries, against: .always, path: path)
            return window(entries, path: path, steadyState: steadyState).map(SLOForm.always)
        case "budget":
            yaml.checkKeys(entries, against: .budget, path: path)
            let window = self.window(entries, path: path, steadyState: steadyState)
            guard let maxBad = value("max-bad") else {
                yaml.error("\(path) has no \"max-bad\": the share of bad evaluations allowed, as 0.01", at: node)
                return nil
            }
            guard let share = share(maxBad.value, path: "\(path).max-bad"), let window else { return nil }
            return .budget(maxBad: share, window: window)
        case "eventually":
            yaml.checkKeys(entries, against: .eventually, path: path)
            var anchor = TimeAnchor.offset(.zero)
            if let after = value("after") {
                if steadyState {
                    yaml.error("\(path).after does not apply to steady-state checks, which run before any fault", at: after.keyNode)
                } else if let read = self.anchor(after.value, path: "\(path).after", edge: .end) {
                    anchor = read
                }
            }
            guard let within = requireKey(value("within"), in: node, path: path, key: "within", hint: "as 30s") else { return nil }
            guard let time = positiveDuration(within.value, path: "\(path).within") else { return nil }
            return .eventually(within: time, after: anchor)
        case "recovers":
            if steadyState {
                yaml.error("steady-state checks cannot use recovers: there is no fault to recover from yet", at: entry.keyNode)
                return nil
            }
            yaml.checkKeys(entries, against: .recovers, path: path)
            var anchor = TimeAnchor.lastFault
            if let after = value("after") {
                guard let read = self.anchor(after.value, path: "\(path).after", edge: .end) else { return nil }
                anchor = read
            } else {
                _ = checkAnchor(.lastFault, at: node)
            }
            let hold = value("hold").map { positiveDuration($0.value, path: "\(path).hold", allowZero: true) } ?? .seconds(5)
            guard let within = requireKey(value("within"), in: node, path: path, key: "within", hint: "as 60s") else { return nil }
            guard let time = positiveDuration(within.value, path: "\(path).within"), let hold else { return nil }
            return .recovers(after: anchor, within: time, hold: hold)
        default:
            return nil
        }
    }

    private mutating func requireKey(
        _ entry: YAMLReading.Entry?, in node: Node, path: String, key: String, hint: String
    ) -> YAMLReading.Entry? {
        if entry == nil { yaml.error("\(path) has no \"\(key)\" (\(hint))", at: node) }
        return entry
    }

    private mutating func window(_ entries: [YAMLReading.Entry], path: String, steadyState: Bool) -> SLOWindow? {
        let value = { (key: String) in entries.first { $0.key == key } }
        let during = value("during"), from = value("from"), to = value("to")
        if steadyState, let first = during ?? from ?? to {
            yaml.error("\(path).\(first.key) does not apply to steady-state checks, which have no steps to refer to", at: first.keyNode)
            return nil
        }
        if let during {
            if let extra = from ?? to {
                yaml.error("\(path) has both \"during\" and \"\(extra.key)\"; give one", at: extra.keyNode)
            }
            guard let step = self.name(during.value, path: "\(path).during") else { return nil }
            guard checkStep(step, at: during.value) else { return nil }
            return .step(step)
        }
        if from == nil && to == nil { return .run }
        let start = from.map { anchor($0.value, path: "\(path).from", edge: .start) }
        let end = to.map { anchor($0.value, path: "\(path).to", edge: .end) }
        if start == .some(nil) || end == .some(nil) { return nil }
        if let start = start ?? nil, let end = end ?? nil, let schedule, let to,
            let a = schedule.time(of: start, steps: steps), let b = schedule.time(of: end, steps: steps), b <= a
        {
            yaml.error(
                "\(path) ends (\(ComposeDuration.format(b))) before it starts (\(ComposeDuration.format(a)))", at: to.value)
            return nil
        }
        return .range(from: start ?? nil, to: end ?? nil)
    }

    enum Edge { case start, end }

    /// A duration, `last-fault` (not for a window's start), or a step's name.
    private mutating func anchor(_ node: Node, path: String, edge: Edge) -> TimeAnchor? {
        guard let text = yaml.string(node, path: path) else { return nil }
        if text == "last-fault" {
            return checkAnchor(.lastFault, at: node) ? .lastFault : nil
        }
        if let first = text.unicodeScalars.first, ("0"..."9").contains(first) {
            guard let time = yaml.duration(node, path: path) else { return nil }
            if let duration, time > duration {
                yaml.error(
                    "\(path) is \(ComposeDuration.format(time)), after the end of the plan (duration \(ComposeDuration.format(duration)))",
                    at: node)
                return nil
            }
            return .offset(time)
        }
        guard PlanSyntax.isValidName(text) else {
            yaml.error("\(path) must be a duration, a step's name or last-fault, found \"\(text)\"", at: node)
            return nil
        }
        guard checkStep(text, at: node) else { return nil }
        let anchor: TimeAnchor = edge == .start ? .start(step: text) : .end(step: text)
        return checkAnchor(anchor, at: node) ? anchor : nil
    }

    /// Whether a step of that name exists; reports it (with a suggestion) if not.
    private mutating func checkStep(_ name: String, at node: Node) -> Bool {
        let names = steps.compactMap(\.name)
        if names.contains(name) || brokenSteps.contains(name) { return true }
        let suggestion = EditDistance.suggestion(for: name, among: names).map { "; did you mean \"\($0)\"?" } ?? ""
        yaml.error("no step is named \"\(name)\"\(suggestion)", at: node)
        return false
    }

    /// Whether the anchor is a point in time; an open-ended step has no end.
    private mutating func checkAnchor(_ anchor: TimeAnchor, at node: Node) -> Bool {
        guard let schedule else { return true }
        switch anchor {
        case .end(let name):
            guard let index = steps.first(where: { $0.name == name })?.index, schedule.hasTimes(index) else { return true }
            if schedule.end(of: index) == nil {
                yaml.error("step \"\(name)\" lasts until the end of the run (it has no \"for\"), so it has no end to refer to", at: node)
                return false
            }
        case .lastFault:
            if steps.isEmpty {
                yaml.error("last-fault: the plan has no steps", at: node)
                return false
            }
            if let open = steps.first(where: { schedule.hasTimes($0.index) && schedule.end(of: $0.index) == nil }) {
                yaml.error(
                    "last-fault: step \(open.label.quotedIfNamed(open.name)) lasts until the end of the run (it has no \"for\"), so faults never end",
                    at: node)
                return false
            }
        default: break
        }
        return true
    }

    // MARK: Guards

    private mutating func guards(_ node: Node, plan: inout FaultPlan) {
        guard let names = yaml.list(node, path: "abort") else { return }
        for (index, item) in names.enumerated() {
            guard let name = yaml.string(item, path: "abort[\(index)]") else { continue }
            if let position = plan.slos.firstIndex(where: { $0.name == name }) {
                if !plan.slos[position].abort { checkGuardForm(plan.slos[position], at: yaml.location(of: item)) }
                plan.slos[position].abort = true
            } else if plan.steadyState.slos.contains(where: { $0.name == name }) {
                yaml.error("\"\(name)\" is a steady-state check; guards must be SLOs under slos", at: item)
            } else {
                let suggestion = EditDistance.suggestion(for: name, among: plan.slos.map(\.name)).map { "; did you mean \"\($0)\"?" } ?? ""
                yaml.error("abort names no SLO \"\(name)\"\(suggestion)", at: item)
            }
        }
    }

    /// Guards must be decidable while the run goes on: `always` or `budget`.
    private mutating func checkGuardForm(_ slo: SLO, at location: SourceLocation) {
        switch slo.form {
        case .always, .budget: return
        default:
            yaml.diagnostics.append(
                Diagnostic(
                    .error, at: location,
                    "SLO \"\(slo.name)\" is \(slo.form.name == "eventually" ? "an" : "a") \(slo.form.name) SLO and cannot be an abort guard; guards must be always or budget SLOs, which a run can see violated as it goes"
                ))
        }
    }

    // MARK: Probes

    private mutating func probe(_ node: Node, path: String) -> Probe? {
        guard let entries = yaml.entries(node, path: path) else {
            if YAMLReading.isNull(node) { yaml.error("\(path) is empty", at: node) }
            return nil
        }
        yaml.checkKeys(entries, against: .probe, path: path)
        let value = { (key: String) in entries.first { $0.key == key } }
        var name: String?
        if let entry = value("name") {
            name = self.name(entry.value, path: "\(path).name")
        } else {
            yaml.error("\(path) has no \"name\"", at: node)
        }
        let interval = value("interval").flatMap { positiveDuration($0.value, path: "\(path).interval") }
        let timeout = value("timeout").map { positiveDuration($0.value, path: "\(path).timeout") } ?? .seconds(1)
        let checks = entries.filter { ["tcp", "http", "exec"].contains($0.key) }
        for extra in checks.dropFirst() {
            yaml.error("\(path) has more than one check (\(checks.map(\.key).joined(separator: ", "))); a probe has exactly one", at: extra.keyNode)
        }
        guard let checkEntry = checks.first else {
            yaml.error("\(path) has no check: give tcp, http or exec", at: node)
            return nil
        }
        let checkPath = "\(path).\(checkEntry.key)"
        guard let settings = yaml.entries(checkEntry.value, path: checkPath) else {
            if YAMLReading.isNull(checkEntry.value) { yaml.error("\(checkPath) is empty", at: checkEntry.value) }
            return nil
        }
        let setting = { (key: String) in settings.first { $0.key == key } }
        var check: ProbeCheck?
        switch checkEntry.key {
        case "exec":
            yaml.checkKeys(settings, against: .execProbe, path: checkPath)
            if let command = setting("command") {
                if let words = yaml.commandLine(command.value, path: "\(checkPath).command") {
                    if words.isEmpty {
                        yaml.error("\(checkPath).command is empty", at: command.value)
                    } else {
                        check = .exec(command: words)
                    }
                }
            } else {
                yaml.error("\(checkPath) has no \"command\"", at: checkEntry.value)
            }
        default:
            let isHTTP = checkEntry.key == "http"
            yaml.checkKeys(settings, against: isHTTP ? .httpProbe : .tcpProbe, path: checkPath)
            let target = self.target(settings, node: checkEntry.value, path: checkPath, allowSample: false)
            var port: Int?
            if let entry = setting("port") {
                port = self.port(entry.value, path: "\(checkPath).port")
            } else {
                yaml.error("\(checkPath) has no \"port\"", at: checkEntry.value)
            }
            guard let target, let port else { break }
            if isHTTP {
                var pathText = "/"
                if let entry = setting("path"), let text = yaml.string(entry.value, path: "\(checkPath).path") {
                    if text.hasPrefix("/") {
                        pathText = text
                    } else {
                        yaml.error("\(checkPath).path must start with \"/\", found \"\(text)\"", at: entry.value)
                    }
                }
                let status = setting("status").flatMap { positiveInt($0.value, path: "\(checkPath).status", range: 100...599) }
                let body = setting("body").flatMap { yaml.string($0.value, path: "\(checkPath).body") }
                check = .http(target: target, port: port, path: pathText, status: status, body: body)
            } else {
                check = .tcp(target: target, port: port)
            }
        }
        guard let name, let check, let timeout else { return nil }
        return Probe(name: name, check: check, interval: interval, timeout: timeout, location: yaml.location(of: entries[0].keyNode))
    }
}

/// What a fault decoder gets: the fault's key and value, and the step's context.
struct FaultInput {
    var kind: FaultKind
    var node: Node
    var keyNode: Node
    /// `steps[N].KIND`, for messages.
    var path: String
    /// Whether the step has `for`.
    var hasDuration: Bool
}

extension String {
    /// `"name"` for a named step, else the label as is (`#3`).
    func quotedIfNamed(_ name: String?) -> String { name == nil ? self : "\"\(self)\"" }
}
