import Yams

/// Loads a lab's `plan.yaml` into a validated ``FaultPlan``, reporting every problem at once.
///
/// Loading never throws and never crashes: whatever the input, the outcome is a ``PlanLoad``
/// with the plan (when there is no error) and every diagnostic, each `file:line:col`. String
/// values are interpolated (`${VAR}`, `${VAR:-default}`) from the variables given, as in a
/// compose file, so a sweep can vary a plan; SLI expressions are kept verbatim. When a
/// ``ComposeProject`` is given, targets are checked against its services and the plan is
/// resolved with its seed, which also finds conflicting faults (see ``PlanTimeline``).
public enum PlanLoader {
    /// Reads and validates the plan at `file`; diagnostics name the file as given here.
    public static func load(file: String, project: ComposeProject? = nil, variables: [String: String] = [:]) -> PlanLoad {
        switch SourceFile.read(file) {
        case .success(let text):
            return load(yaml: text, file: file, project: project, variables: variables)
        case .failure(let failure):
            let diagnostic = Diagnostic(
                .error, at: SourceLocation(file: file, line: 1, column: 1), "cannot read plan file: \(failure.reason)")
            return PlanLoad(plan: nil, timeline: nil, diagnostics: [diagnostic], code: .fileUnreadable)
        }
    }

    /// Validates plan text that is already in memory; `file` is the name diagnostics give.
    public static func load(
        yaml text: String, file: String = "plan.yaml", project: ComposeProject? = nil, variables: [String: String] = [:]
    ) -> PlanLoad {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                let diagnostic = Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "the plan is empty")
                return PlanLoad(plan: nil, timeline: nil, diagnostics: [diagnostic], code: .invalidPlan)
            }
            root = composed
        } catch {
            return PlanLoad(
                plan: nil, timeline: nil, diagnostics: [ComposeLoader.syntaxDiagnostic(error, file: file)], code: .invalidYAML,
                underlying: error)
        }
        var reader = PlanReader(file: file, text: text, variables: variables)
        let plan = reader.plan(root: root)
        var diagnostics = reader.diagnostics
        var timeline: Timeline?
        if let plan, let project {
            // Resolve even a partly read plan, so target and conflict problems come in the same round.
            let context = PlanTimeline.ResolutionContext(brokenSteps: reader.brokenSteps, durationKnown: reader.duration != nil)
            let resolution = PlanTimeline.resolveCollecting(plan, in: project, seed: nil, context: context)
            diagnostics += resolution.1
            timeline = resolution.0
        }
        diagnostics = ComposeLoader.sorted(diagnostics)
        let failed = diagnostics.containsErrors
        return PlanLoad(
            plan: failed ? nil : plan, timeline: failed ? nil : timeline, diagnostics: diagnostics, code: .invalidPlan)
    }
}

/// The outcome of loading a plan: the plan when there is no error, its timeline when a project
/// was given, and every diagnostic in file order.
public struct PlanLoad: Sendable {
    /// The validated plan; `nil` when ``diagnostics`` contains an error.
    public var plan: FaultPlan?
    /// The plan resolved with its own seed, when a project was given and there is no error.
    public var timeline: Timeline?
    /// Every error and warning, sorted by file, line and column.
    public var diagnostics: [Diagnostic]
    /// What kind of failure it was, when there are errors.
    public var code: LabSpecError.Code
    /// What went wrong underneath, such as the `YamlError` of a syntax error.
    public var underlying: (any Error)?

    init(
        plan: FaultPlan?, timeline: Timeline?, diagnostics: [Diagnostic], code: LabSpecError.Code, underlying: (any Error)? = nil
    ) {
        self.plan = plan
        self.timeline = timeline
        self.diagnostics = diagnostics
        self.code = code
        self.underlying = underlying
    }

    /// Only the errors.
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    /// The plan, or a ``LabSpecError`` carrying every diagnostic, warnings included.
    public func get() throws(LabSpecError) -> FaultPlan {
        if let plan, !diagnostics.containsErrors { return plan }
        throw LabSpecError(code: code, diagnostics: diagnostics, underlying: underlying)
    }
}
