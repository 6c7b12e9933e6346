import Assertions
import Collector
import Foundation
import LabSpec
import NIOPosix
import Orchestrator
import Overlay
import OverlayWire

/// Where a lab's plan lives: `plan.yaml` beside its compose file.
func planFile(forLab lab: String) -> String? {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: lab, isDirectory: &isFolder) else { return nil }
    let folder = isFolder.boolValue ? lab : (lab as NSString).deletingLastPathComponent
    let file = (folder.isEmpty ? "." : folder) + "/plan.yaml"
    return FileManager.default.fileExists(atPath: file) ? file : nil
}

/// Loads and resolves the plan; prints every diagnostic; exits 2 on errors. Nil when the lab has
/// no plan.
func loadPlan(lab: String, project: ComposeProject, seed: UInt64?) throws -> (FaultPlan, Timeline)? {
    guard let file = planFile(forLab: lab) else { return nil }
    let load = PlanLoader.load(file: file, project: project, variables: ProcessInfo.processInfo.environment)
    for diagnostic in load.diagnostics { printError(diagnostic.description) }
    guard let plan = load.plan, !load.diagnostics.containsErrors else { throw LabExit.invalidInput }
    // Expressions are checked here too, so a typo fails before anything starts.
    var invalid = false
    let expressions = (plan.slos + plan.steadyState.slos).map(\.expr) + (plan.metastability?.signals.map(\.expr) ?? [])
    for expression in expressions {
        do {
            _ = try Assertions.SLIExpression.parse(expression.text)
        } catch {
            printError("\(expression.location(ofOffset: max(0, error.column - 1))): error: \(error.message)")
            invalid = true
        }
    }
    if invalid { throw LabExit.invalidInput }
    do {
        return (plan, try PlanTimeline.resolve(plan, in: project, seed: seed))
    } catch {
        for diagnostic in error.diagnostics { printError(diagnostic.description) }
        throw LabExit.invalidInput
    }
}

/// Judges a plan's SLOs over a run's series. Series times are milliseconds from the collector's
/// origin; plan times are offsets from the start of the fault phase, `planStart` ms later.
struct SLOJudge {
    let plan: FaultPlan
    let timeline: Timeline
    let planStart: Int64
    let step: Int64

    /// Prometheus' 5-minute lookback is for 15 s scrapes; ours are sub-second, so a series that
    /// stopped being scraped is gone after a few intervals.
    var lookback: Int64 { max(1000, step * 4) }

    var planEnd: Int64 { planStart + plan.duration.milliseconds }

    func time(_ anchor: TimeAnchor) -> Int64 {
        planStart + (timeline.time(of: anchor) ?? plan.duration).milliseconds
    }

    func window(_ window: SLOWindow) -> (Int64, Int64) {
        guard let range = timeline.interval(of: window) else { return (planStart, planEnd) }
        return (planStart + range.lowerBound.milliseconds, planStart + range.upperBound.milliseconds)
    }

    /// The verdict of one SLO, or an evaluation error as a failed verdict.
    func verdict(_ slo: LabSpec.SLO, store: SeriesStore, until end: Int64? = nil) -> Verdict {
        let (form, from, to): (Assertions.SLOForm, Int64, Int64)
        switch slo.form {
        case .always(let w):
            let (a, b) = window(w)
            (form, from, to) = (.always, a, b)
        case .eventually(let within, let after):
            let start = time(after)
            (form, from, to) = (.eventually(within: within.milliseconds), start, start + within.milliseconds)
        case .recovers(let after, let within, let hold):
            let start = time(after)
            (form, from, to) = (.recovers(within: within.milliseconds, hold: hold.milliseconds), start,
                                max(planEnd, start + within.milliseconds + hold.milliseconds))
        case .budget(let maxBad, let w):
            let (a, b) = window(w)
            (form, from, to) = (.budget(maxBadFraction: maxBad), a, b)
        }
        return judge(slo, form: form, from: from, to: min(to, end ?? to), store: store)
    }

    func judge(_ slo: LabSpec.SLO, form: Assertions.SLOForm, from: Int64, to: Int64, store: SeriesStore) -> Verdict {
        let definition = Assertions.SLO(name: slo.name, form: form, from: from, to: to)
        do {
            let expression = try Assertions.SLIExpression.parse(slo.expr.text)
            let evaluator = SLIEvaluator(store: store, lookbackDelta: lookback)
            let aligned = from - from % step
            let condition = try ConditionSeries.evaluate(expression, with: evaluator, from: aligned, to: max(aligned, to), step: step)
            return definition.evaluate(condition)
        } catch {
            let empty = ConditionSeries(step: step, points: [])
            var verdict = definition.evaluate(empty)
            verdict.passed = false
            verdict.summary = "could not evaluate: \(error)"
            return verdict
        }
    }
}

/// Login storms against the overlay's auth, for `login-storm` steps.
struct OverlayLoginLoad: LoadGenerator {
    /// The auth port and the lab seed, read from the auth instances' arguments.
    let port: Int
    let seed: String

    /// The storms' own event loop, apart from the collector's and the fault proxy's.
    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    func handles(_ fault: Fault) -> Bool {
        if case .loginStorm = fault { true } else { false }
    }

    func run(_ fault: Fault, targets: [(name: String, address: String)]) async -> String {
        guard case .loginStorm(let storm) = fault, let target = targets.first else { return "no target" }
        var load = LoginStorm(auth: Endpoint(host: target.address, port: UInt16(port)), seed: seed)
        load.connections = max(1, storm.concurrency)
        load.duration = .seconds(3600)  // until the step's revert cancels it
        load.group = Self.group
        // Users far above any client process's range, so storm logins are first logins.
        load.firstUser = 900_000_001 + Int.random(in: 0..<1000) * 10_000
        switch storm.load {
        case .rate(let rate): load.rate = rate
        case .users(let users): load.limit = users
        }
        let result = await load.run()
        let p99 = result.latency(quantile: 0.99).map { String(format: "%.0f ms", $0 * 1000) } ?? "-"
        return "\(result.tokens) tokens, \(result.busy) busy, \(result.failures) failed, p99 \(p99)"
    }

    /// Finds `--seed` and the listen port in an auth instance's arguments.
    static func discover(in run: LabRun) -> OverlayLoginLoad {
        var port = 7100
        var seed = "stormlab"
        for instance in run.instances where instance.arguments.first == "auth" {
            var iterator = instance.arguments.makeIterator()
            while let argument = iterator.next() {
                let (key, inline) = argument.split(separator: "=", maxSplits: 1).map(String.init).pair
                guard key == "--seed" || key == "--listen", let value = inline ?? iterator.next() else { continue }
                if key == "--seed" { seed = value }
                if key == "--listen", let endpoint = Endpoint(parsing: value) { port = Int(endpoint.port) }
            }
        }
        return OverlayLoginLoad(port: port, seed: seed)
    }
}

extension Array where Element == String {
    fileprivate var pair: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}

/// A plan's verdicts over a finished fault phase: at the end of a run, and again by
/// `stormlab report` over a recorded one.
struct PlanVerdicts {
    let plan: FaultPlan
    let timeline: Timeline
    let step: Int64

    /// Verdicts and outcome over a whole fault phase that began at `planStart` on the series'
    /// clock: at the end of a run, and again by `stormlab report`.
    func judged(_ store: SeriesStore, planStart: Int64, steady: [Verdict]) -> PlanResult {
        let judge = SLOJudge(plan: plan, timeline: timeline, planStart: planStart, step: step)
        let verdicts = plan.slos.map { judge.verdict($0, store: store) }
        let classification = OutcomeClassifier.classify(verdicts: verdicts, metastability: metastabilityCheck(judge, store: store))
        return PlanResult(
            outcome: classification.outcome.rawValue, explanation: classification.explanation,
            decidedBy: classification.decidedBy, steady: steady, verdicts: verdicts, store: store, planStart: planStart,
            aborted: nil)
    }

    /// The plan's metastability check over the series, when it has one.
    func metastabilityCheck(_ judge: SLOJudge, store: SeriesStore) -> MetastabilityCheck? {
        guard let spec = plan.metastability, let slo = plan.slos.first(where: { $0.name == spec.slo }),
            let condition = try? Assertions.SLIExpression.parse(slo.expr.text)
        else { return nil }
        let evaluator = SLIEvaluator(store: store, lookbackDelta: judge.lookback)
        let triggerEnd = judge.time(.lastFault)
        let from = triggerEnd - triggerEnd % step
        guard let series = try? ConditionSeries.evaluate(condition, with: evaluator, from: from, to: max(from, judge.planEnd), step: step)
        else { return nil }
        let signals = spec.signals.compactMap { signal -> AmplificationSignal? in
            guard let expression = try? Assertions.SLIExpression.parse(signal.expr.text),
                let matrix = try? evaluator.evaluateRange(expression, from: from, to: max(from, judge.planEnd), step: step)
            else { return nil }
            // Several series (by instance, say): the signal is their sum at each step.
            var sums: [Int64: Double] = [:]
            for series in matrix { for sample in series.samples { sums[sample.time, default: 0] += sample.value } }
            let samples = sums.keys.sorted().map { Sample(time: $0, value: sums[$0]!) }
            return AmplificationSignal(name: signal.name, samples: samples, threshold: signal.above)
        }
        return MetastabilityCheck(
            name: slo.name, triggerEnd: triggerEnd, condition: series, signals: signals,
            minimumDuration: spec.minimum.milliseconds)
    }

}
