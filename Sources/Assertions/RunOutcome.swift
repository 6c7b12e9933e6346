/// How a run went as a whole.
public enum RunOutcome: String, Sendable, Hashable, CaseIterable {
    /// No SLO was ever violated.
    case healthy
    /// There were violations, but every `recovers` SLO was met.
    case recovered
    /// The system did not recover within bounds.
    case degraded
    /// The trigger is gone, yet the bad state holds while an amplification signal stays high.
    case metastable
}

/// A series that feeds a bad state (a retry rate, a load ratio) and the level above which it
/// counts as amplifying.
public struct AmplificationSignal: Sendable, Hashable {
    /// The signal's name, reported when it decides the outcome.
    public var name: String
    /// The signal's samples (ms, value).
    public var samples: [Sample]
    /// The signal amplifies while strictly above this.
    public var threshold: Double

    /// Creates a signal.
    public init(name: String, samples: [Sample], threshold: Double) {
        self.name = name
        self.samples = samples
        self.threshold = threshold
    }
}

/// What is needed to call a run metastable.
///
/// The run is metastable iff, from ``triggerEnd`` to the last point of ``condition``:
/// the condition fails at every step (the bad state holds), that span is at least
/// ``minimumDuration`` long, and at least one signal has samples in it, all above its threshold.
public struct MetastabilityCheck: Sendable, Hashable {
    /// The name of the healthy condition (reported when it decides the outcome).
    public var name: String
    /// When the trigger (the fault, the load) ended, ms.
    public var triggerEnd: Int64
    /// The healthy condition; the bad state is where it does not hold.
    public var condition: ConditionSeries
    /// The amplification signals to look at.
    public var signals: [AmplificationSignal]
    /// How long the bad state must outlast the trigger, ms.
    public var minimumDuration: Int64

    /// Creates a check.
    public init(
        name: String, triggerEnd: Int64, condition: ConditionSeries, signals: [AmplificationSignal],
        minimumDuration: Int64 = 0
    ) {
        self.name = name
        self.triggerEnd = triggerEnd
        self.condition = condition
        self.signals = signals
        self.minimumDuration = minimumDuration
    }
}

/// The outcome of a run and what decided it.
public struct OutcomeClassification: Sendable, Hashable {
    /// The outcome.
    public var outcome: RunOutcome
    /// The names of the SLOs, conditions and signals that decided it.
    public var decidedBy: [String]
    /// One line for humans.
    public var explanation: String
}

/// Classifies a run from its verdicts and, optionally, a metastability check. Pure.
///
/// In order: **healthy** if every verdict passed without a violation; **metastable** if the
/// check says so (see ``MetastabilityCheck``); **degraded** if a `recovers` SLO failed, or,
/// when there is no `recovers` SLO, if a failed SLO was still violated at the end of its
/// window; otherwise **recovered**.
public enum OutcomeClassifier {
    /// Classifies a run.
    public static func classify(verdicts: [Verdict], metastability: MetastabilityCheck? = nil) -> OutcomeClassification {
        let violated = verdicts.filter { !$0.passed || !$0.figures.violations.isEmpty }
        if violated.isEmpty {
            return OutcomeClassification(
                outcome: .healthy, decidedBy: verdicts.map(\.name),
                explanation: "no violations in \(verdicts.count) SLO\(verdicts.count == 1 ? "" : "s")")
        }
        if let check = metastability, let signals = amplifyingSignals(check) {
            return OutcomeClassification(
                outcome: .metastable, decidedBy: [check.name] + signals,
                explanation:
                    "\(check.name) stayed bad from the end of the trigger at \(formatMilliseconds(check.triggerEnd)) while \(signals.joined(separator: ", ")) stayed above threshold"
            )
        }
        let recovers = verdicts.filter { if case .recovers = $0.form { true } else { false } }
        let unrecovered = recovers.filter { !$0.passed }
        if !unrecovered.isEmpty {
            return OutcomeClassification(
                outcome: .degraded, decidedBy: unrecovered.map(\.name),
                explanation: "did not recover within bounds: \(unrecovered.map(\.name).joined(separator: ", "))")
        }
        if recovers.isEmpty {
            let stuck = violated.filter { !$0.passed && $0.figures.violations.last?.ongoing == true }
            if !stuck.isEmpty {
                return OutcomeClassification(
                    outcome: .degraded, decidedBy: stuck.map(\.name),
                    explanation: "still violated at the end of the window: \(stuck.map(\.name).joined(separator: ", "))")
            }
        }
        let deciders = recovers.isEmpty ? violated.map(\.name) : recovers.map(\.name)
        return OutcomeClassification(
            outcome: .recovered, decidedBy: deciders,
            explanation: recovers.isEmpty
                ? "violations ended: \(deciders.joined(separator: ", "))"
                : "every recovers SLO met: \(deciders.joined(separator: ", "))")
    }

    /// The signals that were above threshold throughout a bad state that outlasted the trigger.
    static func amplifyingSignals(_ check: MetastabilityCheck) -> [String]? {
        let after = check.condition.points.filter { $0.time >= check.triggerEnd }
        guard let last = after.last, after.allSatisfy({ !$0.holds }),
            last.time - check.triggerEnd >= check.minimumDuration
        else { return nil }
        let names = check.signals.filter { signal in
            let span = signal.samples.filter { $0.time >= check.triggerEnd && $0.time <= last.time }
            return !span.isEmpty && span.allSatisfy { $0.value > signal.threshold }
        }.map(\.name)
        return names.isEmpty ? nil : names
    }
}
