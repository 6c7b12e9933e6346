import Assertions

/// Everything a report says about one run: identity, outcome, verdicts, faults, events, charts.
///
/// Pure data, built by the orchestrator at the end of a run (or by `stormlab report` from a
/// recorded run) and rendered by ``JSONReport``, ``JUnitReport``, ``HTMLReport`` and
/// ``SummaryTable``. Times are milliseconds since the start of the run, durations milliseconds.
/// The `Codable` keys are those of `report.json` (see ``JSONReport``).
public struct RunReport: Codable, Sendable, Hashable {
    /// The version of the `report.json` shape this type writes.
    public static let schemaVersion = 1

    /// The lab's name (its folder name under `labs/`).
    public var lab: String
    /// What ran the instances.
    public var runtime: Runtime
    /// The plan's seed, which fixes the resolved timeline.
    public var seed: UInt64
    /// The run's id, as in `.stormlab/runs/ID/`.
    public var runID: String
    /// When the run started, as wall-clock text chosen by the caller (ISO 8601 recommended).
    public var startedAt: String
    /// How long the run lasted (ms).
    public var duration: Int64
    /// How the run ended.
    public var outcome: Outcome
    /// The names of the SLOs, conditions and signals that decided ``outcome``.
    public var decidedBy: [String]
    /// One line for humans on why the run ended with ``outcome``.
    public var explanation: String
    /// What the plan expected, and whether the run met it.
    public var expectation: Expectation
    /// The steady-state verdicts, checked before any fault.
    public var steadyState: [SLOReport]
    /// The SLO verdicts, in plan order.
    public var slos: [SLOReport]
    /// The faults that were applied, in start order.
    public var faults: [FaultWindow]
    /// The event timeline (steps, process events), in time order.
    public var events: [Event]

    /// Creates a report. `expectation` defaults to "pass", judged by ``Expectation/judge(_:outcome:steadyState:slos:)``.
    public init(
        lab: String, runtime: Runtime, seed: UInt64, runID: String, startedAt: String, duration: Int64,
        outcome: Outcome, decidedBy: [String] = [], explanation: String = "",
        expectation: Expectation? = nil, steadyState: [SLOReport] = [], slos: [SLOReport] = [],
        faults: [FaultWindow] = [], events: [Event] = []
    ) {
        self.lab = lab
        self.runtime = runtime
        self.seed = seed
        self.runID = runID
        self.startedAt = startedAt
        self.duration = duration
        self.outcome = outcome
        self.decidedBy = decidedBy
        self.explanation = explanation
        self.expectation =
            expectation ?? Expectation.judge(.pass, outcome: outcome, steadyState: steadyState, slos: slos)
        self.steadyState = steadyState
        self.slos = slos
        self.faults = faults
        self.events = events
    }

    /// Whether the lab ran properly and every steady-state check and SLO passed.
    public var passed: Bool {
        outcome != .notSteady && outcome != .error && steadyState.allSatisfy(\.passed) && slos.allSatisfy(\.passed)
    }

    enum CodingKeys: String, CodingKey {
        case schema, lab, runtime, seed
        case runID = "runId"
        case startedAt
        case duration = "durationMs"
        case outcome, decidedBy, explanation, passed, expectation, steadyState, slos, faults, events
    }

    /// Decodes a report; fails on a ``schemaVersion`` other than this one. `passed` is derived, not read.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let schema = try container.decode(Int.self, forKey: .schema)
        guard schema == Self.schemaVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .schema, in: container, debugDescription: "unsupported report schema \(schema)")
        }
        lab = try container.decode(String.self, forKey: .lab)
        runtime = try container.decode(Runtime.self, forKey: .runtime)
        seed = try container.decode(UInt64.self, forKey: .seed)
        runID = try container.decode(String.self, forKey: .runID)
        startedAt = try container.decode(String.self, forKey: .startedAt)
        duration = try container.decode(Int64.self, forKey: .duration)
        outcome = try container.decode(Outcome.self, forKey: .outcome)
        decidedBy = try container.decode([String].self, forKey: .decidedBy)
        explanation = try container.decode(String.self, forKey: .explanation)
        expectation = try container.decode(Expectation.self, forKey: .expectation)
        steadyState = try container.decode([SLOReport].self, forKey: .steadyState)
        slos = try container.decode([SLOReport].self, forKey: .slos)
        faults = try container.decode([FaultWindow].self, forKey: .faults)
        events = try container.decode([Event].self, forKey: .events)
    }

    /// Encodes the report in the documented key order, with the derived `passed`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.schemaVersion, forKey: .schema)
        try container.encode(lab, forKey: .lab)
        try container.encode(runtime, forKey: .runtime)
        try container.encode(seed, forKey: .seed)
        try container.encode(runID, forKey: .runID)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(duration, forKey: .duration)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(decidedBy, forKey: .decidedBy)
        try container.encode(explanation, forKey: .explanation)
        try container.encode(passed, forKey: .passed)
        try container.encode(expectation, forKey: .expectation)
        try container.encode(steadyState, forKey: .steadyState)
        try container.encode(slos, forKey: .slos)
        try container.encode(faults, forKey: .faults)
        try container.encode(events, forKey: .events)
    }
}

/// One SLO's verdict as reported: form, figures, expression, threshold and chart.
public struct SLOReport: Codable, Sendable, Hashable {
    /// The SLO's name.
    public var name: String
    /// How the condition was judged.
    public var form: Form
    /// Whether the SLO held.
    public var passed: Bool
    /// The window's start, or the reference time for `eventually` and `recovers` (ms).
    public var from: Int64
    /// The window's end, inclusive (ms).
    public var to: Int64
    /// The condition, in PromQL syntax.
    public var expression: String
    /// The scalar bound of the condition, if it compares a vector with a constant.
    public var threshold: Threshold?
    /// The SLI's unit for axis labels (`s`, `/s`, `B`, …), if known.
    public var unit: String?
    /// What was measured.
    public var figures: Measured
    /// One line for humans, as the verdict gave it.
    public var summary: String
    /// The SLI over the run, one entry per series; empty when the caller had none.
    public var chart: [ChartSeries]

    /// Creates a report from its parts.
    public init(
        name: String, form: Form, passed: Bool, from: Int64, to: Int64, expression: String,
        threshold: Threshold? = nil, unit: String? = nil, figures: Measured = Measured(), summary: String = "",
        chart: [ChartSeries] = []
    ) {
        self.name = name
        self.form = form
        self.passed = passed
        self.from = from
        self.to = to
        self.expression = expression
        self.threshold = threshold
        self.unit = unit
        self.figures = figures
        self.summary = summary
        self.chart = chart
    }

    enum CodingKeys: String, CodingKey {
        case name, form, passed
        case from = "fromMs"
        case to = "toMs"
        case expression, threshold, unit, figures, summary, chart
    }

    /// An SLO form as data: the kind and its parameters.
    public struct Form: Codable, Sendable, Hashable, CustomStringConvertible {
        /// `always`, `eventually`, `recovers` or `budget`.
        public var kind: String
        /// For `eventually` and `recovers`: the bound on the time to recover (ms).
        public var within: Int64?
        /// For `recovers`: how long the condition must then hold (ms).
        public var hold: Int64?
        /// For `budget`: the largest share (0…1) of failing steps.
        public var maxBadFraction: Double?
        /// The form in plan syntax: `recovers within 30s hold 10s`.
        public var text: String

        /// The form of an Assertions SLO.
        public init(_ form: SLOForm) {
            switch form {
            case .always: kind = "always"
            case .eventually(let within):
                kind = "eventually"
                self.within = within
            case .recovers(let within, let hold):
                kind = "recovers"
                self.within = within
                self.hold = hold
            case .budget(let fraction):
                kind = "budget"
                maxBadFraction = fraction
            }
            text = form.description
        }

        /// The Assertions form, if ``kind`` and its parameters make one.
        public var sloForm: SLOForm? {
            switch kind {
            case "always": .always
            case "eventually": within.map { .eventually(within: $0) }
            case "recovers": within.flatMap { within in hold.map { .recovers(within: within, hold: $0) } }
            case "budget": maxBadFraction.map { .budget(maxBadFraction: $0) }
            default: nil
            }
        }

        /// Whether the form measures a time to recover (`eventually`, `recovers`).
        public var measuresRecovery: Bool { kind == "eventually" || kind == "recovers" }

        /// The form in plan syntax.
        public var description: String { text }

        enum CodingKeys: String, CodingKey {
            case kind
            case within = "withinMs"
            case hold = "holdMs"
            case maxBadFraction, text
        }
    }

    /// A condition's scalar bound: `x < 0.5` has comparison `<` and value `0.5`.
    ///
    /// Always written with the SLI on the left: the condition `0.5 > x` gives `<` and `0.5`.
    public struct Threshold: Codable, Sendable, Hashable, CustomStringConvertible {
        /// The comparison that must hold: `<`, `<=`, `>`, `>=`, `==` or `!=`.
        public var comparison: String
        /// The bound.
        public var value: Double

        /// Creates a threshold.
        public init(comparison: String, value: Double) {
            self.comparison = comparison
            self.value = value
        }

        /// Whether higher SLI values are worse (an upper bound: `<`, `<=`).
        public var upperBound: Bool { comparison == "<" || comparison == "<=" }

        /// The threshold as written: `< 0.5`.
        public var description: String { "\(comparison) \(formatNumber(value))" }
    }

    /// The figures of a verdict (mirrors the Assertions `Figures`).
    public struct Measured: Codable, Sendable, Hashable {
        /// Reference time to recovery (ms), for `eventually` and `recovers`; `nil` if it never happened.
        public var timeToRecover: Int64?
        /// The worst SLI value in the window, if there was one.
        public var worstValue: Double?
        /// When ``worstValue`` was first reached (ms).
        public var worstTime: Int64?
        /// The runs of failing steps in the window.
        public var violations: [Violation]
        /// Failing steps divided by all steps in the window.
        public var badFraction: Double
        /// The number of evaluation steps in the window.
        public var steps: Int

        /// Creates figures.
        public init(
            timeToRecover: Int64? = nil, worstValue: Double? = nil, worstTime: Int64? = nil,
            violations: [Violation] = [], badFraction: Double = 0, steps: Int = 0
        ) {
            self.timeToRecover = timeToRecover
            self.worstValue = worstValue
            self.worstTime = worstTime
            self.violations = violations
            self.badFraction = badFraction
            self.steps = steps
        }

        /// The figures of an Assertions verdict.
        public init(_ figures: Figures) {
            self.init(
                timeToRecover: figures.timeToRecover, worstValue: figures.worstValue, worstTime: figures.worstTime,
                violations: figures.violations.map(Violation.init), badFraction: figures.badFraction,
                steps: figures.steps)
        }

        /// The total time covered by violations (ms), counting each interval from its first to
        /// its last failing step.
        public var violatedTime: Int64 { violations.reduce(0) { $0 + ($1.end - $1.start) } }

        enum CodingKeys: String, CodingKey {
            case timeToRecover = "timeToRecoverMs"
            case worstValue
            case worstTime = "worstTimeMs"
            case violations, badFraction, steps
        }

        /// Equal figures; a NaN worst value equals a NaN worst value.
        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.timeToRecover == rhs.timeToRecover && lhs.worstTime == rhs.worstTime
                && lhs.violations == rhs.violations && lhs.badFraction == rhs.badFraction && lhs.steps == rhs.steps
                && (lhs.worstValue == rhs.worstValue || (lhs.worstValue?.isNaN == true && rhs.worstValue?.isNaN == true))
        }

        /// Hashes the figures consistently with `==`.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(timeToRecover)
            hasher.combine(worstTime)
            hasher.combine(violations)
            hasher.combine(steps)
        }
    }

    /// A run of consecutive failing steps.
    public struct Violation: Codable, Sendable, Hashable {
        /// The first failing step (ms).
        public var start: Int64
        /// The last failing step (ms).
        public var end: Int64
        /// Whether it lasted to the end of the window.
        public var ongoing: Bool

        /// Creates an interval.
        public init(start: Int64, end: Int64, ongoing: Bool = false) {
            self.start = start
            self.end = end
            self.ongoing = ongoing
        }

        /// The interval of an Assertions verdict.
        public init(_ interval: ViolationInterval) {
            self.init(start: interval.start, end: interval.end, ongoing: interval.ongoing)
        }

        enum CodingKeys: String, CodingKey {
            case start = "startMs"
            case end = "endMs"
            case ongoing
        }
    }
}

/// One series of an SLI over the run: its labels and its (time, value) points.
///
/// In JSON: `{"labels": {"instance": "supernode-1"}, "points": [[0, 0.5], [250, "NaN"]]}` —
/// labels sorted by name, each point `[ms, value]`, non-finite values as `"NaN"`, `"+Inf"`, `"-Inf"`.
public struct ChartSeries: Codable, Sendable, Hashable {
    /// The series' labels (`__name__` included when the SLI kept it).
    public var labels: Labels
    /// The points, in increasing time.
    public var points: [Sample]

    /// Creates a series.
    public init(labels: Labels, points: [Sample]) {
        self.labels = labels
        self.points = points
    }

    /// A series from an evaluated range.
    public init(_ series: TimeSeries) {
        self.init(labels: series.labels, points: series.samples)
    }

    /// The legend text: the labels in PromQL notation, or `value` when there are none.
    public var legend: String { labels.isEmpty ? "value" : labels.description }

    enum CodingKeys: String, CodingKey {
        case labels, points
    }

    struct LabelKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes `{"labels": {…}, "points": [[ms, value], …]}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        labels = Labels(try container.decode([String: String].self, forKey: .labels))
        var list = try container.nestedUnkeyedContainer(forKey: .points)
        var points: [Sample] = []
        while !list.isAtEnd {
            var pair = try list.nestedUnkeyedContainer()
            let time = try pair.decode(Int64.self)
            let value = try pair.decode(Double.self)
            points.append(Sample(time: time, value: value))
        }
        self.points = points
    }

    /// Encodes labels sorted by name and each point as `[ms, value]`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var labelContainer = container.nestedContainer(keyedBy: LabelKey.self, forKey: .labels)
        for label in labels {
            try labelContainer.encode(label.value, forKey: LabelKey(stringValue: label.name))
        }
        var list = container.nestedUnkeyedContainer(forKey: .points)
        for point in points {
            var pair = list.nestedUnkeyedContainer()
            try pair.encode(point.time)
            try pair.encode(point.value)
        }
    }
}

extension RunReport {
    /// What runs a lab's instances.
    public enum Runtime: String, Codable, Sendable, Hashable, CaseIterable {
        /// Local child processes.
        case process
        /// Containers through the Docker engine.
        case docker
    }

    /// How a run ended: the classifier's outcomes, plus the ways a run can end without one.
    public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
        /// No SLO was ever violated.
        case healthy
        /// There were violations, and the system recovered within bounds.
        case recovered
        /// The system did not recover within bounds.
        case degraded
        /// The trigger went away but the bad state held while amplification stayed high.
        case metastable
        /// A guard SLO was violated: every fault was reverted at once and the run stopped.
        case aborted
        /// The steady-state check failed before any fault (exit status 3).
        case notSteady = "not-steady"
        /// The lab itself failed (an instance could not start, the runtime broke; exit status 3).
        case error

        /// The outcome the Assertions classifier gave.
        public init(_ outcome: RunOutcome) {
            switch outcome {
            case .healthy: self = .healthy
            case .recovered: self = .recovered
            case .degraded: self = .degraded
            case .metastable: self = .metastable
            }
        }

        /// Whether the outcome is good news (`healthy` or `recovered`).
        public var isGood: Bool { self == .healthy || self == .recovered }
    }

    /// What a plan expects of a run, and whether the run met it.
    public struct Expectation: Codable, Sendable, Hashable {
        /// The expected result of a run.
        public enum Result: String, Codable, Sendable, Hashable, CaseIterable {
            /// Every SLO passes.
            case pass
            /// At least one SLO fails (a lab that reproduces an outage).
            case fail
        }

        /// What the plan expects.
        public var expected: Result
        /// The outcomes the plan accepts (`expect-outcome`); empty: any.
        public var outcomes: [Outcome]
        /// Whether the run met it.
        public var met: Bool

        /// Creates an expectation with an explicit judgement.
        public init(expected: Result, outcomes: [Outcome] = [], met: Bool) {
            self.expected = expected
            self.outcomes = outcomes
            self.met = met
        }

        private enum CodingKeys: String, CodingKey {
            case expected, outcomes, met
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            expected = try container.decode(Result.self, forKey: .expected)
            outcomes = try container.decodeIfPresent([Outcome].self, forKey: .outcomes) ?? []
            met = try container.decode(Bool.self, forKey: .met)
        }

        /// Judges an expectation: a run that stopped as `not-steady` or `error` meets neither;
        /// otherwise `pass` is met iff every steady-state check and SLO passed, `fail` iff one
        /// failed, and either only when the outcome is one of `outcomes` (when any are given).
        public static func judge(
            _ expected: Result, outcomes: [Outcome] = [], outcome: Outcome, steadyState: [SLOReport], slos: [SLOReport]
        ) -> Expectation {
            guard outcome != .notSteady && outcome != .error else { return Expectation(expected: expected, outcomes: outcomes, met: false) }
            let allPassed = steadyState.allSatisfy(\.passed) && slos.allSatisfy(\.passed)
            let outcomeMet = outcomes.isEmpty || outcomes.contains(outcome)
            return Expectation(expected: expected, outcomes: outcomes, met: (expected == .pass) == allPassed && outcomeMet)
        }

        /// `fail`, or `fail, outcome metastable or degraded`.
        public var summary: String {
            guard !outcomes.isEmpty else { return expected.rawValue }
            return "\(expected.rawValue), outcome " + outcomes.map(\.rawValue).joined(separator: " or ")
        }
    }

    /// A fault as it was applied: which step, what, to whom, when, and how.
    public struct FaultWindow: Codable, Sendable, Hashable {
        /// The plan step's name.
        public var step: String
        /// The fault's kind (`kill`, `partition`, `latency`, …).
        public var kind: String
        /// The instances it hit.
        public var targets: [String]
        /// When it was applied (ms).
        public var start: Int64
        /// When it was reverted (ms); `nil` if it never was (it lasts to the end of the run).
        public var end: Int64?
        /// The injector that carried it out (`signal`, `fault-proxy`, `nftables`, `docker`, …).
        public var mechanism: String

        /// Creates a fault window.
        public init(step: String, kind: String, targets: [String], start: Int64, end: Int64?, mechanism: String) {
            self.step = step
            self.kind = kind
            self.targets = targets
            self.start = start
            self.end = end
            self.mechanism = mechanism
        }

        enum CodingKeys: String, CodingKey {
            case step, kind, targets
            case start = "startMs"
            case end = "endMs"
            case mechanism
        }
    }

    /// One entry of the event timeline.
    public struct Event: Codable, Sendable, Hashable {
        /// When it happened (ms).
        public var time: Int64
        /// What happened: `step-start`, `fault-applied`, `exit`, `ready`, `watchdog`, …
        public var kind: String
        /// The instance it concerns, if any (`supernode-3`).
        public var instance: String?
        /// Free text: an exit status, a step's target list.
        public var detail: String

        /// Creates an event.
        public init(time: Int64, kind: String, instance: String? = nil, detail: String = "") {
            self.time = time
            self.kind = kind
            self.instance = instance
            self.detail = detail
        }

        enum CodingKeys: String, CodingKey {
            case time = "timeMs"
            case kind, instance, detail
        }
    }
}
