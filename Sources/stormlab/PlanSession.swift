import Assertions
import Collector
import Foundation
import LabSpec
import Orchestrator

/// How a run with a plan ended, before the exit status.
struct PlanResult {
    var outcome: String
    var explanation: String
    var decidedBy: [String]
    var steady: [Verdict]
    var verdicts: [Verdict]
    var store: SeriesStore
    var planStart: Int64
    var aborted: String?

    var passed: Bool { aborted == nil && outcome != "not-steady" && verdicts.allSatisfy(\.passed) }
}

/// Runs a lab's plan on a started lab: collects metrics and probes, waits for steady state,
/// carries out the timeline with abort guards, and judges the SLOs.
struct PlanSession {
    let run: LabRun
    let project: ComposeProject
    let plan: FaultPlan
    let timeline: Timeline
    /// The fault proxy in the path, when the plan needs it.
    var proxy: (any ProxyControl)? = nil

    var step: Int64 { max(10, plan.scrapeInterval.milliseconds) }

    /// Every instance that declares `x-stormlab.metrics`.
    func scrapeTargets() -> [ScrapeTarget] {
        run.instances.compactMap { instance in
            guard let metrics = project[service: instance.service]?.stormlab.metrics else { return nil }
            return ScrapeTarget(
                service: instance.service, instance: instance.name, host: instance.address.address,
                port: metrics.port, path: metrics.path)
        }
    }

    /// The plan's probes, one per selected instance for tcp and http checks.
    func probes() -> [Collector.Probe] {
        plan.probes.flatMap { probe -> [Collector.Probe] in
            func instances(_ target: TargetSelector) -> [InstancePlan] {
                let names = Set(target.instances.map(\.description))
                return run.instances.filter { $0.service == target.service || names.contains($0.name) }
            }
            switch probe.check {
            case .tcp(let target, let port):
                return instances(target).map {
                    Collector.Probe(name: probe.name, kind: .tcp(host: $0.address.address, port: port), timeout: probe.timeout)
                }
            case .http(let target, let port, let path, let status, let body):
                return instances(target).map {
                    Collector.Probe(
                        name: probe.name,
                        kind: .http(host: $0.address.address, port: port, path: path, status: status ?? 200, bodyContains: body),
                        timeout: probe.timeout)
                }
            case .exec(let command):
                return [Collector.Probe(name: probe.name, kind: .exec(arguments: command), timeout: probe.timeout)]
            }
        }
    }

    func execute(progress: inout Progress) async -> PlanResult {
        let run = self.run
        let collector = SeriesCollector(
            targets: scrapeTargets(), probes: probes(), interval: plan.scrapeInterval, isDown: { run.isDown($0) })
        let (result, _) = await withTaskGroup(of: Void.self, returning: (PlanResult, Void).self) { group in
            group.addTask { await collector.run() }
            var progress = progress
            let result = await phases(collector: collector, progress: &progress)
            group.cancelAll()
            return (result, ())
        }
        var final = result
        final.store = collector.store
        return final
    }

    private func phases(collector: SeriesCollector, progress: inout Progress) async -> PlanResult {
        // Every target scraped once before anything is judged: no SLO starts on missing data.
        let targets = scrapeTargets().count + probes().count
        for _ in 0..<200 where collector.statistics.scrapes + collector.statistics.probes < targets {
            try? await Task.sleep(for: .milliseconds(25))
        }
        try? await Task.sleep(for: plan.scrapeInterval)

        // Steady state: every steady-state SLO holds over the last `hold`, within `timeout`.
        let steadySLOs = plan.steadyState.slos
        let hold = plan.steadyState.hold.milliseconds
        let deadline = ContinuousClock.now + plan.steadyState.timeout
        var steady: [Verdict] = []
        if !steadySLOs.isEmpty {
            run.record(.steadyState, detail: "waiting for \(steadySLOs.map(\.name).joined(separator: ", ")) to hold \(Timeline.format(plan.steadyState.hold))")
            while true {
                try? await Task.sleep(for: .milliseconds(500))
                let now = collector.now()
                let judge = SLOJudge(plan: plan, timeline: timeline, planStart: now, step: step)
                steady = steadySLOs.map { judge.judge($0, form: .always, from: max(0, now - hold), to: now, store: collector.store) }
                let holding = now >= hold && steady.allSatisfy(\.passed)
                progress.update("steady state: " + steady.map { "\($0.name) \($0.passed ? "ok" : "not yet")" }.joined(separator: ", "))
                if holding { break }
                if ContinuousClock.now > deadline {
                    run.record(.steadyState, detail: "not steady within \(Timeline.format(plan.steadyState.timeout))")
                    progress.line("not steady within \(Timeline.format(plan.steadyState.timeout)): " + steady.filter { !$0.passed }.map(\.summary).joined(separator: "; "))
                    return PlanResult(
                        outcome: "not-steady", explanation: "the steady-state SLOs did not hold before any fault",
                        decidedBy: steady.filter { !$0.passed }.map(\.name), steady: steady, verdicts: [],
                        store: SeriesStore(), planStart: now, aborted: nil)
                }
            }
            run.record(.steadyState, detail: "steady: \(steady.map(\.name).joined(separator: ", ")) held")
            progress.line("steady state held: \(steady.map(\.name).joined(separator: ", "))")
        }

        // The fault phase.
        let planStart = collector.now()
        let origin = ContinuousClock.now
        let judge = SLOJudge(plan: plan, timeline: timeline, planStart: planStart, step: step)
        let execution = PlanExecution(run: run, timeline: timeline, load: OverlayLoginLoad.discover(in: run), proxy: proxy)
        let guards = plan.slos.filter(\.abort)
        progress.line("plan: \(timeline.events.count) fault events over \(Timeline.format(plan.duration)), seed \(plan.seed)")
        var aborted: String?
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await execution.execute(origin: origin, duration: plan.duration) }
            while ContinuousClock.now < origin + plan.duration {
                try? await Task.sleep(for: .seconds(1))
                let now = collector.now()
                let store = collector.store
                let elapsed = ContinuousClock.now - origin
                let current = timeline.events.last { $0.time <= elapsed }?.step ?? "-"
                let values = plan.slos.prefix(4).map { slo -> String in
                    let verdict = judge.judge(slo, form: .always, from: max(planStart, now - step), to: now, store: store)
                    let value = verdict.figures.worstValue.map { String(format: "%.3g", $0) } ?? "?"
                    return "\(slo.name)=\(value)\(verdict.passed ? "" : "!")"
                }
                progress.update("\(Timeline.format(elapsed))/\(Timeline.format(plan.duration)) step \(current) " + values.joined(separator: " "))
                for slo in guards {
                    let verdict = judge.verdict(slo, store: store, until: now)
                    if !verdict.passed, !verdict.figures.violations.isEmpty {
                        aborted = "\(slo.name): \(verdict.summary)"
                        break
                    }
                }
                if let aborted {
                    run.record(.aborted, detail: aborted)
                    progress.line("aborted by guard \(aborted)")
                    break
                }
            }
            group.cancelAll()
        }
        await execution.revertAll()

        var result = PlanVerdicts(plan: plan, timeline: timeline, step: step).judged(collector.store, planStart: planStart, steady: steady)
        if let aborted {
            result.outcome = "aborted"
            result.explanation = "guard \(aborted)"
            result.decidedBy = guards.map(\.name)
            result.aborted = aborted
        }
        return result
    }

}
