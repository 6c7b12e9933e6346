/// A lab's fault plan, read from `plan.yaml` and validated: what goes wrong, to whom and when,
/// and what must still hold.
///
/// Times in a plan are offsets from the start of the fault phase, which begins once the
/// ``steadyState`` check has passed; ``duration`` is the length of that phase. Targets are kept
/// as written (service names, instance names and ranges, fractions); ``PlanTimeline/resolve(_:in:seed:)``
/// turns them into exact instances with the plan's ``seed``.
///
/// ```yaml
/// seed: 2007
/// duration: 3m
/// steps:
///   - name: patch-day
///     at: 20s
///     mass-restart: {service: client, fraction: 0.8, spread: 2s, downtime: 1s..5s}
/// slos:
///   - name: overlay-heals
///     expr: sum(overlay_clients_online) / sum(overlay_clients_total) >= 0.99
///     recovers: {after: patch-day, within: 60s, hold: 10s}
/// ```
public struct FaultPlan: Sendable, Hashable {
    /// The plan file, as given to the loader.
    public var file: String
    /// The seed of every random choice in the plan (targets, waves, churn); default 0.
    public var seed: UInt64
    /// The length of the fault phase; every step must start and end within it. Required.
    public var duration: Duration
    /// Whether a suite expects this lab to pass or to fail; default ``Expectation/pass``.
    public var expect: Expectation
    /// The outcomes (`healthy`, `recovered`, `degraded`, `metastable`) the run may end in to
    /// meet its expectation; empty: any.
    public var expectOutcome: [ExpectedOutcome] = []
    /// How often every instance's metrics are scraped and probes run; default 250 ms.
    public var scrapeInterval: Duration
    /// How to recognise a metastable outcome, when the plan says.
    public var metastability: MetastabilitySpec?
    /// A free-text description of what the plan shows, for reports.
    public var description: String?
    /// The checks that must hold before any fault.
    public var steadyState: SteadyState
    /// The steps, in the order of the file.
    public var steps: [PlanStep]
    /// The SLOs evaluated over the run, in the order of the file.
    public var slos: [SLO]
    /// The probes run at every scrape interval, in the order of the file.
    public var probes: [Probe]

    /// Creates a plan with the format's defaults.
    public init(
        file: String = "plan.yaml", seed: UInt64 = 0, duration: Duration,
        expect: Expectation = .pass, scrapeInterval: Duration = .milliseconds(250),
        description: String? = nil, steadyState: SteadyState = SteadyState(),
        steps: [PlanStep] = [], slos: [SLO] = [], probes: [Probe] = []
    ) {
        self.file = file
        self.seed = seed
        self.duration = duration
        self.expect = expect
        self.scrapeInterval = scrapeInterval
        self.description = description
        self.steadyState = steadyState
        self.steps = steps
        self.slos = slos
        self.probes = probes
    }

    /// The names of the SLOs that act as guards: the top-level `abort` list and every SLO with
    /// `abort: true`. When a guard is violated the run reverts every fault and ends `aborted`.
    public var guards: [String] { slos.filter(\.abort).map(\.name) }

    /// The step with that name, if there is one.
    public func step(named name: String) -> PlanStep? {
        steps.first { $0.name == name }
    }
}

/// What a suite expects of a lab's run.
public enum Expectation: String, Sendable, Hashable, CaseIterable {
    /// Every SLO must pass (the default).
    case pass
    /// At least one SLO must fail: the lab demonstrates a failure.
    case fail
}

/// An outcome class a plan may require of its run (`expect-outcome`).
public enum ExpectedOutcome: String, Sendable, Hashable, CaseIterable {
    case healthy, recovered, degraded, metastable
}

/// The checks that must hold before any fault; when they do not, the run ends "not steady"
/// (exit 3) rather than with a failed SLO.
public struct SteadyState: Sendable, Hashable {
    /// How long to wait for the checks to pass; default 60 s.
    public var timeout: Duration
    /// How long `always` checks must hold together before faults start; default 5 s.
    public var hold: Duration
    /// The checks: SLOs of the forms `always`, `eventually` or `budget`, without step windows.
    public var slos: [SLO]

    /// Creates a steady-state section; the defaults are those of a plan without one.
    public init(timeout: Duration = .seconds(60), hold: Duration = .seconds(5), slos: [SLO] = []) {
        self.timeout = timeout
        self.hold = hold
        self.slos = slos
    }
}

/// One step of a plan: a fault, when it starts, how often it repeats and how long it lasts.
public struct PlanStep: Sendable, Hashable {
    /// The step's position in `steps`, from 0.
    public var index: Int
    /// The step's `name`; unique in the plan. Steps without a name cannot be referred to.
    public var name: String?
    /// When the first occurrence starts.
    public var start: StepStart
    /// How the step repeats; `nil` for a step that happens once.
    public var repetition: Repetition?
    /// `for`: how long each occurrence lasts before it is reverted; `nil` when not given.
    ///
    /// Which faults take it is said by ``FaultKind``: `restart`, `mass-restart` and `churn` have
    /// their own timing; `malformed-flood` and a `login-storm` at a rate need it.
    public var duration: Duration?
    /// The fault, with its targets and parameters.
    public var fault: Fault
    /// Where the step is (its first key).
    public var location: SourceLocation
    /// Where the fault's kind key is.
    public var faultLocation: SourceLocation
    /// Where the value of each of the step's keys is (`at`, `after`, `for`, `until`, `times`,
    /// and `time` for whichever of `at` and `after` is given), for precise messages.
    var fieldLocations: [String: SourceLocation] = [:]

    /// Creates a step.
    public init(
        index: Int, name: String? = nil, start: StepStart, repetition: Repetition? = nil,
        duration: Duration? = nil, fault: Fault,
        location: SourceLocation = SourceLocation(file: "plan.yaml", line: 1, column: 1),
        faultLocation: SourceLocation? = nil
    ) {
        self.index = index
        self.name = name
        self.start = start
        self.repetition = repetition
        self.duration = duration
        self.fault = fault
        self.location = location
        self.faultLocation = faultLocation ?? location
    }

    /// The step's name, or `#N` (N from 1) for an unnamed step: how timelines and messages name it.
    public var label: String { name ?? "#\(index + 1)" }
}

/// When a step's first occurrence starts.
public enum StepStart: Sendable, Hashable {
    /// `at: 20s`: at this offset from the start of the fault phase.
    case at(Duration)
    /// `after: STEP` with an optional `delay`: once the named step has ended (its last occurrence
    /// reverted, or applied when it has nothing to revert), plus `delay`.
    case after(step: String, delay: Duration)
}

/// How a step repeats: `every` with `until` or `times`.
public struct Repetition: Sendable, Hashable {
    /// When repetitions stop.
    public enum End: Sendable, Hashable {
        /// `until: 2m`: occurrences start no later than this offset.
        case until(Duration)
        /// `times: 5`: this many occurrences in all, the first included.
        case times(Int)
        /// Neither given: occurrences go on while they fit in the plan's duration.
        case planEnd
    }

    /// `every`: the time between the starts of two occurrences; more than zero.
    public var every: Duration
    /// When repetitions stop.
    public var end: End

    /// Creates a repetition.
    public init(every: Duration, end: End = .planEnd) {
        self.every = every
        self.end = end
    }
}

/// Which instances a fault or probe hits: a service, explicit instances, and a seeded sample.
///
/// The pool is the ``instances`` when given (they must belong to ``service`` when both are
/// given), else every instance of ``service``. A ``Sample`` then picks from the pool with the
/// plan's seed (see ``PlanRandom``).
public struct TargetSelector: Sendable, Hashable {
    /// A seeded choice from the pool.
    public enum Sample: Sendable, Hashable {
        /// `fraction: 0.3`: that share of the pool, rounded to the nearest whole instance, and at
        /// least one when the fraction is above zero. 0…1.
        case fraction(Double)
        /// `count: 3`: that many instances; at most the pool's size.
        case count(Int)
    }

    /// `service`: the service whose instances form the pool.
    public var service: String?
    /// `instances`: explicit references, each a service name, an instance name or a range.
    public var instances: [InstanceReference]
    /// `fraction` or `count`; `nil` takes the whole pool.
    public var sample: Sample?
    /// Where the selector is (the mapping or scalar it was read from).
    public var location: SourceLocation
    /// Where `service` is, when given.
    public var serviceLocation: SourceLocation?
    /// Where `fraction` or `count` is, when given.
    public var sampleLocation: SourceLocation?

    /// Creates a selector.
    public init(
        service: String? = nil, instances: [InstanceReference] = [], sample: Sample? = nil,
        location: SourceLocation = SourceLocation(file: "plan.yaml", line: 1, column: 1),
        serviceLocation: SourceLocation? = nil, sampleLocation: SourceLocation? = nil
    ) {
        self.service = service
        self.instances = instances
        self.sample = sample
        self.location = location
        self.serviceLocation = serviceLocation ?? location
        self.sampleLocation = sampleLocation ?? location
    }
}

/// One instance reference as written: `supernode` (every instance of the service),
/// `supernode-3`, or the range `supernode-1..4` (both ends included).
public struct InstanceReference: Sendable, Hashable, CustomStringConvertible {
    /// What the reference names.
    public enum Form: Sendable, Hashable {
        /// A bare name: a service, or (when no service has that name) an instance.
        case name(String)
        /// `SERVICE-LOW..HIGH`: the instances LOW to HIGH of the service, both included.
        case range(service: String, low: Int, high: Int)
    }

    /// The reference as written.
    public var text: String
    /// What it names.
    public var form: Form
    /// Where it is.
    public var location: SourceLocation

    /// Parses a reference, or returns why it is not one.
    public static func parse(_ text: String, at location: SourceLocation) -> Result<InstanceReference, PlanSyntaxError> {
        PlanSyntax.instanceReference(text).map { InstanceReference(text: text, form: $0, location: location) }
    }

    /// Creates a reference; prefer ``parse(_:at:)``, which checks the syntax.
    public init(text: String, form: Form, location: SourceLocation) {
        self.text = text
        self.form = form
        self.location = location
    }

    /// The reference as written.
    public var description: String { text }
}

/// Why a value in a plan could not be read; the reader puts it after the value in its message.
public struct PlanSyntaxError: Error, Sendable, Hashable {
    /// The reason, in a few words: `"\"x\" is not a number"`.
    public var reason: String

    /// Creates an error with a reason.
    public init(_ reason: String) { self.reason = reason }
}
