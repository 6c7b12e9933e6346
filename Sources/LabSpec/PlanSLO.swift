/// A service-level objective: a condition over an SLI expression and a form saying when it
/// must hold.
public struct SLO: Sendable, Hashable {
    /// The SLO's name; unique among the plan's SLOs (steady-state checks have their own names).
    public var name: String
    /// The SLI expression, a PromQL subset; checked by the assertion engine, not here.
    public var expr: SLIExpression
    /// When the condition must hold.
    public var form: SLOForm
    /// Whether the SLO is a guard: a violation reverts every fault and aborts the run.
    public var abort: Bool
    /// Where the SLO is.
    public var location: SourceLocation

    /// Creates an SLO.
    public init(
        name: String, expr: SLIExpression, form: SLOForm, abort: Bool = false,
        location: SourceLocation = SourceLocation(file: "plan.yaml", line: 1, column: 1)
    ) {
        self.name = name
        self.expr = expr
        self.form = form
        self.abort = abort
        self.location = location
    }
}

/// An SLI expression as written, with where each of its characters is in the plan file, so the
/// expression parser's errors can point at `file:line:col`.
///
/// The text is kept verbatim: it is not interpolated, so `${…}` is passed on as written.
public struct SLIExpression: Sendable, Hashable, CustomStringConvertible {
    /// A run of characters that sit side by side on one source line.
    struct Segment: Sendable, Hashable {
        var offset: Int
        var line: Int
        var column: Int
    }

    /// The expression.
    public var text: String
    /// Where the expression's value starts (the scalar's first character, quote included).
    public var location: SourceLocation
    var segments: [Segment]

    /// An expression whose characters are all taken to be on one line from `location` on.
    public init(_ text: String, at location: SourceLocation = SourceLocation(file: "plan.yaml", line: 1, column: 1)) {
        self.text = text
        self.location = location
        segments = [Segment(offset: 0, line: location.line, column: location.column)]
    }

    init(text: String, location: SourceLocation, segments: [Segment]) {
        self.text = text
        self.location = location
        self.segments = segments.isEmpty ? [Segment(offset: 0, line: location.line, column: location.column)] : segments
    }

    /// Where the character at `offset` (in Unicode scalars, from 0) is in the plan file.
    ///
    /// Exact for plain and quoted one-line values without escapes and for literal block scalars
    /// (`|`); for values the source does not show unchanged (escapes, folding) it is where the
    /// value starts.
    public func location(ofOffset offset: Int) -> SourceLocation {
        let segment = segments.last { $0.offset <= offset } ?? segments[0]
        return SourceLocation(file: location.file, line: segment.line, column: segment.column + offset - segment.offset)
    }

    /// The expression.
    public var description: String { text }
}

/// When an SLO's condition must hold.
public enum SLOForm: Sendable, Hashable {
    /// `always`: the condition holds at every evaluation in the window.
    case always(SLOWindow)
    /// `eventually: {within, after}`: the condition becomes true within `within` of `after`
    /// (default the start of the fault phase).
    case eventually(within: Duration, after: TimeAnchor)
    /// `recovers: {after, within, hold}`: after the anchor (a step's end or the last fault's),
    /// the condition becomes true within `within` and then holds for `hold` (default 5 s). The
    /// measured time to recover is the headline figure.
    case recovers(after: TimeAnchor, within: Duration, hold: Duration)
    /// `budget: {max-bad, during|from|to}`: the condition is false for at most `maxBad` (0…1) of
    /// the window's evaluations.
    case budget(maxBad: Double, window: SLOWindow)

    /// `always`, `eventually`, `recovers` or `budget`.
    public var name: String {
        switch self {
        case .always: "always"
        case .eventually: "eventually"
        case .recovers: "recovers"
        case .budget: "budget"
        }
    }
}

/// The time window of an `always` or `budget` SLO.
public enum SLOWindow: Sendable, Hashable {
    /// The whole fault phase (neither `during` nor `from`/`to` given).
    case run
    /// `during: STEP`: from the step's first start to its end.
    case step(String)
    /// `from`/`to`: either end may be missing (the start or end of the fault phase).
    case range(from: TimeAnchor?, to: TimeAnchor?)
}

/// A point on the plan's timeline that an SLO refers to.
public enum TimeAnchor: Sendable, Hashable {
    /// An offset from the start of the fault phase (`from: 30s`).
    case offset(Duration)
    /// Where a step's first occurrence starts (`from: STEP`).
    case start(step: String)
    /// Where a step ends: its last occurrence reverted (`to: STEP`, `after: STEP`).
    case end(step: String)
    /// `last-fault`: where the last step to end ends.
    case lastFault
}

/// A probe run at every scrape interval, giving `probe_success` and `probe_duration_seconds`
/// series labelled `probe`, and `instance` for probes at instances.
public struct Probe: Sendable, Hashable {
    /// The probe's name, the `probe` label; unique among the plan's probes.
    public var name: String
    /// What it checks.
    public var check: ProbeCheck
    /// How often it runs; default the plan's `scrape-interval`.
    public var interval: Duration?
    /// How long one run may take before it counts as failed; default 1 s.
    public var timeout: Duration
    /// Where the probe is.
    public var location: SourceLocation

    /// Creates a probe.
    public init(
        name: String, check: ProbeCheck, interval: Duration? = nil, timeout: Duration = .seconds(1),
        location: SourceLocation = SourceLocation(file: "plan.yaml", line: 1, column: 1)
    ) {
        self.name = name
        self.check = check
        self.interval = interval
        self.timeout = timeout
        self.location = location
    }
}

/// What a probe checks.
public enum ProbeCheck: Sendable, Hashable {
    /// `tcp: {service, port}`: a TCP connect to each selected instance succeeds.
    case tcp(target: TargetSelector, port: Int)
    /// `http: {service, port, path, status, body}`: a GET answers `status` (default any 2xx) and,
    /// when `body` is given, a body containing it.
    case http(target: TargetSelector, port: Int, path: String, status: Int?, body: String?)
    /// `exec: {command}`: the command exits with status 0.
    case exec(command: [String])
}

/// `metastability`: how to tell a metastable failure from a slow one. After the last fault, the
/// healthy condition of SLO `slo` still does not hold for at least `minimum`, while one of the
/// `signals` (retries, load) stays above its threshold: the trigger is gone, the bad state holds.
public struct MetastabilitySpec: Sendable, Hashable {
    /// One amplification signal: an SLI expression and the level above which it amplifies.
    public struct Signal: Sendable, Hashable {
        public var name: String
        public var expr: SLIExpression
        public var above: Double

        public init(name: String, expr: SLIExpression, above: Double) {
            self.name = name
            self.expr = expr
            self.above = above
        }
    }

    /// The SLO whose expression is the healthy condition.
    public var slo: String
    public var signals: [Signal]
    /// How long the bad state must outlast the trigger; default 10 s.
    public var minimum: Duration
    public var location: SourceLocation

    public init(slo: String, signals: [Signal], minimum: Duration = .seconds(10), location: SourceLocation) {
        self.slo = slo
        self.signals = signals
        self.minimum = minimum
        self.location = location
    }
}
