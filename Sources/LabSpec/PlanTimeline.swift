/// A plan resolved against a lab's services: every fault occurrence as concrete events with
/// exact instances, links and times. What `stormlab plan LAB` prints and the scheduler runs.
///
/// The same plan, project and seed always give the same timeline (see ``PlanRandom``).
public struct Timeline: Sendable, Hashable {
    /// The seed the random choices were drawn with.
    public var seed: UInt64
    /// The length of the fault phase.
    public var duration: Duration
    /// Every event, by time, then step, then first instance.
    public var events: [TimelineEvent]
    /// Where each step starts and ends, in the order of the plan's steps.
    public var spans: [StepSpan]

    /// Creates a timeline.
    public init(seed: UInt64, duration: Duration, events: [TimelineEvent], spans: [StepSpan]) {
        self.seed = seed
        self.duration = duration
        self.events = events
        self.spans = spans
    }

    /// The events of one step (by label), in time order.
    public func events(ofStep label: String) -> [TimelineEvent] { events.filter { $0.step == label } }

    /// The time of an anchor: `nil` for an unknown step, or for the end of a step that lasts
    /// until the end of the run.
    public func time(of anchor: TimeAnchor) -> Duration? {
        switch anchor {
        case .offset(let time): return time
        case .start(let name): return spans.first { $0.name == name }?.start
        case .end(let name): return spans.first { $0.name == name }?.end
        case .lastFault:
            guard !spans.isEmpty, spans.allSatisfy({ $0.end != nil }) else { return nil }
            return spans.compactMap(\.end).max()
        }
    }

    /// The times an SLO window covers; an open end is the end of the fault phase.
    public func interval(of window: SLOWindow) -> Range<Duration>? {
        switch window {
        case .run: return .zero..<duration
        case .step(let name):
            guard let span = spans.first(where: { $0.name == name }) else { return nil }
            return span.start..<max(span.start, span.end ?? duration)
        case .range(let from, let to):
            guard let start = from.map(time(of:)) ?? .zero, let end = to.map(time(of:)) ?? duration, start <= end
            else { return nil }
            return start..<end
        }
    }

    /// The timeline as a table: time, step, fault, targets, revert time, detail and mechanism
    /// (`-` until the orchestrator fills it in). Times are `M:SS.mmm` from the start of the
    /// fault phase; a revert of `end` happens when the run ends, `-` means nothing to revert.
    public func rendered() -> String {
        let header = ["TIME", "STEP", "FAULT", "TARGETS", "REVERT", "DETAIL", "MECHANISM"]
        let rows = events.map { event in
            [
                Self.format(event.time), event.step, event.kind.name, event.targetSummary,
                event.revert.description, event.detail.isEmpty ? "-" : event.detail, event.mechanism ?? "-",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                text += column == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] + 2 - cell.count)
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        let summary = "seed \(seed), duration \(ComposeDuration.format(duration)), \(events.count) events"
        return ([summary, line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// `M:SS.mmm` (or `H:MM:SS.mmm`), rounded to the millisecond.
    public static func format(_ time: Duration) -> String {
        let milliseconds = Int64((time.inSeconds * 1000).rounded())
        let (hours, minutes) = (milliseconds / 3_600_000, milliseconds / 60_000 % 60)
        let seconds = milliseconds / 1000 % 60, rest = milliseconds % 1000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = rest < 10 ? "00\(rest)" : rest < 100 ? "0\(rest)" : "\(rest)"
        return (hours > 0 ? "\(hours):\(two(minutes))" : "\(minutes)") + ":\(two(seconds)).\(fraction)"
    }
}

/// Where one step starts and ends on a timeline.
public struct StepSpan: Sendable, Hashable {
    /// The step's label (its name, or `#N`).
    public var step: String
    /// The step's name, if it has one.
    public var name: String?
    /// The step's position in the plan, from 0.
    public var index: Int
    /// When its first occurrence starts.
    public var start: Duration
    /// When its last occurrence ends; `nil` when it lasts until the end of the run.
    public var end: Duration?
}

/// One direction of traffic between two instances: what a network fault acts on.
public struct Link: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The instance that sends.
    public var from: String
    /// The instance that receives.
    public var to: String

    /// Creates a link.
    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    /// Orders by sender, then receiver.
    public static func < (a: Link, b: Link) -> Bool { (a.from, a.to) < (b.from, b.to) }

    /// `from -> to`.
    public var description: String { "\(from) -> \(to)" }
}

/// One concrete fault application on a timeline.
public struct TimelineEvent: Sendable, Hashable {
    /// When, and whether, the event is undone.
    public enum Revert: Sendable, Hashable, CustomStringConvertible {
        /// Nothing to undo (a kill without `for`, a one-shot reset, a batch of logins).
        case none
        /// Undone at this offset (the instance started again, resumed, the link healed).
        case at(Duration)
        /// Undone when the run ends.
        case atRunEnd

        /// `-`, the time as `M:SS.mmm`, or `end`.
        public var description: String {
            switch self {
            case .none: "-"
            case .at(let time): Timeline.format(time)
            case .atRunEnd: "end"
            }
        }
    }

    /// When it is applied, from the start of the fault phase.
    public var time: Duration
    /// When it is undone.
    public var revert: Revert
    /// The step's label.
    public var step: String
    /// The step's position in the plan, from 0.
    public var stepIndex: Int
    /// Which occurrence of the step, from 0.
    public var occurrence: Int
    /// The step's fault, with its parameters.
    public var fault: Fault
    /// The instances acted on, in start order (for network faults: every instance with a link
    /// acted on).
    public var instances: [String]
    /// For network faults: the groups the links run between (empty for `around` scopes and the
    /// majority ring).
    public var groups: [[String]]
    /// For network faults: whether only one direction is acted on.
    public var oneWay: Bool
    /// For network faults: every directed link acted on, sorted.
    public var links: [Link]
    /// The parameters that matter for this event: the signal, a drawn downtime, the delay.
    public var detail: String
    /// The injector that carries it out (signals, fault proxy, nftables…); left `nil` by
    /// resolution for the orchestrator to fill in.
    public var mechanism: String?

    /// The fault's kind.
    public var kind: FaultKind { fault.kind }

    /// The targets in a few characters: `client-1..3, client-7`, or the groups of a network
    /// fault joined by `|` (partition), `<->` or `->` (one way).
    public var targetSummary: String {
        if groups.isEmpty {
            let base = TimelineResolver.compress(instances)
            if kind.category == .network, case .partition = fault { return base }
            return kind.category == .network ? base + (oneWay ? " -> *" : " <-> *") : base
        }
        let separator: String
        if case .partition = fault { separator = oneWay ? " -> " : " | " } else { separator = oneWay ? " -> " : " <-> " }
        return groups.map(TimelineResolver.compress).joined(separator: separator)
    }
}

/// Turning a plan into a ``Timeline``.
public enum PlanTimeline {
    /// Resolves every step of `plan` against `project`'s services into concrete events.
    ///
    /// `seed` overrides the plan's own (`stormlab plan LAB --seed N`). Throws a ``LabSpecError``
    /// with code ``LabSpecError/Code/invalidPlan`` and every problem found: unknown services or
    /// instances, ranges out of bounds, counts above a pool's size, and conflicting faults.
    ///
    /// Conflict rule: (1) an instance takes one process fault at a time — each holds it from
    /// its apply to its revert (a kill without `for` until the end of the run, a mass restart
    /// per instance for its own downtime, churn for the whole window); (2) on one directed link
    /// at one time, at most one network fault of each kind, and a fault that cuts the link
    /// (`partition`, `blackhole`, `reset`) shares it with no other. Load faults never conflict.
    /// Sampled targets (`fraction`, `count`) of process faults are drawn only from instances
    /// that no other process fault holds during the occurrence, so a seeded choice never
    /// conflicts; explicit targets can.
    public static func resolve(_ plan: FaultPlan, in project: ComposeProject, seed: UInt64? = nil) throws(LabSpecError) -> Timeline {
        let (timeline, diagnostics) = resolveCollecting(plan, in: project, seed: seed, context: ResolutionContext())
        if diagnostics.containsErrors {
            throw LabSpecError(code: .invalidPlan, diagnostics: ComposeLoader.sorted(diagnostics))
        }
        return timeline
    }

    /// What the loader knows of a plan it could only partly read.
    struct ResolutionContext {
        /// Steps that could not be read.
        var brokenSteps: Set<String> = []
        /// Whether `duration` was read; when not, times are not checked against it.
        var durationKnown = true
    }

    static func resolveCollecting(
        _ plan: FaultPlan, in project: ComposeProject, seed: UInt64?, context: ResolutionContext
    ) -> (Timeline, [Diagnostic]) {
        var resolver = TimelineResolver(plan: plan, project: project, seed: seed ?? plan.seed, context: context)
        let timeline = resolver.run()
        return (timeline, resolver.diagnostics)
    }
}
