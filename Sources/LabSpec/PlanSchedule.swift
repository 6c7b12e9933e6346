/// When each step's occurrences start and end, worked out from `at`, `after`, `every` and the
/// faults' own timing; independent of instances and of the seed.
///
/// An occurrence *ends* when it has been reverted (at the end of `for`, a restart's downtime, a
/// mass restart's spread plus its longest downtime, a churn window), or when it is applied for a
/// fault with nothing to revert (`kill` without `for`, a one-shot `reset`, a batch of logins).
/// Faults that last until they are reverted and have no `for` are *open*: they end with the run,
/// so nothing can come `after` them.
struct PlanSchedule {
    struct Occurrence: Hashable {
        var step: Int
        var number: Int
        var start: Duration
        /// `nil` when open.
        var end: Duration?
    }

    /// At most this many occurrences per step, so a typo like `every: 1ms` cannot eat the machine.
    static let maximumOccurrences = 10_000

    private(set) var occurrences: [Occurrence] = []
    private var firstStarts: [Int: Duration] = [:]
    private var ends: [Int: Duration?] = [:]
    private(set) var diagnostics: [Diagnostic] = []

    /// Whether the step's times are known (its `after` chain resolved).
    func hasTimes(_ step: Int) -> Bool { firstStarts[step] != nil }
    /// Where the step's first occurrence starts.
    func start(of step: Int) -> Duration? { firstStarts[step] }
    /// Where the step's last occurrence ends; `nil` when open (or unknown).
    func end(of step: Int) -> Duration? { ends[step] ?? nil }

    /// How long one occurrence lasts: `nil` when open, zero when instantaneous.
    static func length(of step: PlanStep) -> Duration? {
        switch step.fault {
        case .kill, .terminate: return step.duration ?? .zero
        case .restart(let fault): return fault.downtime
        case .massRestart(let fault): return fault.spread + fault.downtime.max
        case .churn(let fault): return fault.window
        case .reset: return step.duration ?? .zero
        case .loginStorm(let fault):
            if case .users = fault.load { return step.duration ?? .zero }
            return step.duration
        default: return step.duration
        }
    }

    /// Works out the times of `steps`; `broken` names steps that could not be read, whose
    /// followers are left without times rather than reported.
    static func make(steps: [PlanStep], duration: Duration?, broken: Set<String> = []) -> PlanSchedule {
        var schedule = PlanSchedule()
        schedule.build(steps: steps, duration: duration, broken: broken)
        return schedule
    }

    private mutating func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(.error, at: location, message))
    }

    private mutating func build(steps: [PlanStep], duration: Duration?, broken: Set<String>) {
        let byName = Dictionary(steps.compactMap { step in step.name.map { ($0, step.index) } }, uniquingKeysWith: { first, _ in first })
        let position = Dictionary(steps.enumerated().map { ($1.index, $0) }, uniquingKeysWith: { first, _ in first })
        var state: [Int: Bool] = [:]  // false: being worked out; true: done
        var path: [Int] = []

        func work(_ index: Int) {
            guard let at = position[index] else { return }
            let step = steps[at]
            if state[index] == true { return }
            state[index] = false
            path.append(index)
            defer {
                path.removeLast()
                state[index] = true
            }
            var base: Duration
            switch step.start {
            case .at(let time): base = time
            case .after(let name, let delay):
                let location = step.fieldLocations["after"] ?? step.location
                guard let other = byName[name] else {
                    if broken.contains(name) { return }
                    let suggestion = EditDistance.suggestion(for: name, among: Array(byName.keys).sorted())
                    error("no step is named \"\(name)\"" + (suggestion.map { "; did you mean \"\($0)\"?" } ?? ""), at: location)
                    return
                }
                if state[other] == false {
                    let cycle = path.drop(while: { $0 != other }).map { steps[position[$0]!].label } + [name]
                    error("steps form a cycle through \"after\": \(cycle.joined(separator: " -> "))", at: location)
                    return
                }
                work(other)
                guard hasTimes(other) else { return }
                guard let end = end(of: other) else {
                    error("step \"\(name)\" lasts until the end of the run (it has no \"for\"), so nothing can come after it", at: location)
                    return
                }
                base = end + delay
            }
            occur(step, from: base, duration: duration)
        }
        for step in steps { work(step.index) }
        occurrences.sort { ($0.start, $0.step, $0.number) < ($1.start, $1.step, $1.number) }
    }

    private mutating func occur(_ step: PlanStep, from start: Duration, duration: Duration?) {
        let length = Self.length(of: step)
        let who = step.name.map { "step \"\($0)\"" } ?? "steps[\(step.index)]"
        let format = ComposeDuration.format
        var starts: [Duration] = [start]
        if let repetition = step.repetition {
            switch repetition.end {
            case .times(let count):
                starts = (0..<min(count, Self.maximumOccurrences + 1)).map { start + repetition.every * $0 }
            case .until(let until):
                if until < start {
                    error("\(who) repeats until \(format(until)), before it starts (\(format(start)))", at: step.fieldLocations["until"] ?? step.location)
                }
                var next = start + repetition.every
                while next <= until && starts.count <= Self.maximumOccurrences {
                    starts.append(next)
                    next += repetition.every
                }
            case .planEnd:
                guard let duration else { break }
                var next = start + repetition.every
                while next < duration && next + (length ?? .zero) <= duration && starts.count <= Self.maximumOccurrences {
                    starts.append(next)
                    next += repetition.every
                }
            }
            if starts.count > Self.maximumOccurrences {
                error("\(who) repeats more than \(Self.maximumOccurrences) times; make \"every\" longer", at: step.fieldLocations["every"] ?? step.location)
                starts = Array(starts.prefix(Self.maximumOccurrences))
            }
        }
        firstStarts[step.index] = start
        ends[step.index] = length.map { starts[starts.count - 1] + $0 }
        occurrences += starts.enumerated().map { number, time in
            Occurrence(step: step.index, number: number, start: time, end: length.map { time + $0 })
        }

        guard let duration else { return }
        let last = starts[starts.count - 1]
        if start >= duration {
            error(
                "\(who) starts at \(format(start)), at or after the end of the plan (duration \(format(duration)))",
                at: step.fieldLocations["time"] ?? step.location)
        } else if last >= duration {
            let key = step.fieldLocations["times"] != nil ? "times" : "until"
            error(
                "\(who)'s last occurrence starts at \(format(last)), at or after the end of the plan (duration \(format(duration)))",
                at: step.fieldLocations[key] ?? step.location)
        } else if let length, last + length > duration {
            let key = step.duration != nil ? "for" : "fault"
            error(
                "\(who) ends at \(format(last + length)), after the end of the plan (duration \(format(duration)))",
                at: key == "for" ? step.fieldLocations["for"] ?? step.faultLocation : step.faultLocation)
        }
    }

    /// The time of an anchor, when it is known and not open.
    func time(of anchor: TimeAnchor, steps: [PlanStep] = []) -> Duration? {
        switch anchor {
        case .offset(let time): return time
        case .start(let name): return steps.first { $0.name == name }.flatMap { start(of: $0.index) }
        case .end(let name): return steps.first { $0.name == name }.flatMap { end(of: $0.index) }
        case .lastFault:
            let all = firstStarts.keys.map { end(of: $0) }
            guard !all.isEmpty, !all.contains(nil) else { return nil }
            return all.compactMap { $0 }.max()
        }
    }
}
