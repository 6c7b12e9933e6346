import ArgumentParser
import Assertions
import Foundation
import Reports

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Evaluate an SLI expression over a recorded run, as promtool query does.",
        discussion: """
            Reads RUN-FOLDER/series.jsonl. Times are offsets from the start of collection (when \
            the lab was ready), like 12s or 1m30s. Without --at or --range: the last sample time.
            """
    )

    @Argument(help: "A run folder (.stormlab/runs/ID).")
    var run: String

    @Argument(help: "The expression, in the PromQL subset of plans.")
    var expression: String

    @Option(help: "Evaluate at this offset (instant query).")
    var at: String?

    @Option(help: "Evaluate over FROM..TO (range query), with --step.")
    var range: String?

    @Option(help: "The range query's step.")
    var step = "1s"

    @Option(help: "text or json.")
    var format = "text"

    @Option(help: "Lookback for instant selectors, like 1s (default: 1s).")
    var lookback = "1s"

    func run() async throws {
        guard let text = try? String(contentsOfFile: "\(run)/series.jsonl", encoding: .utf8) else {
            printError("\(run)/series.jsonl: cannot read it (is this a run folder of a run with a plan?)")
            throw LabExit.invalidInput
        }
        let store: SeriesStore
        do {
            store = try SeriesStore(jsonLines: text)
        } catch {
            printError("\(run)/series.jsonl: \(error)")
            throw LabExit.invalidInput
        }
        let parsed: SLIExpression
        do {
            parsed = try SLIExpression.parse(expression)
        } catch {
            printError("\(expression)\n\(String(repeating: " ", count: max(0, error.column - 1)))^ \(error.message)")
            throw LabExit.invalidInput
        }
        guard let lookbackMs = Self.milliseconds(lookback), let stepMs = Self.milliseconds(step), stepMs > 0 else {
            throw ValidationError("--lookback and --step take durations like 250ms or 1s")
        }
        let evaluator = SLIEvaluator(store: store, lookbackDelta: lookbackMs)
        let last = store.allSeries.compactMap { $0.samples.last?.time }.max() ?? 0
        if let range {
            let parts = range.components(separatedBy: "..")
            guard parts.count == 2, let from = Self.milliseconds(parts[0]), let to = Self.milliseconds(parts[1]), from <= to else {
                throw ValidationError("--range takes FROM..TO, like 10s..1m")
            }
            let matrix = try evaluator.evaluateRange(parsed, from: from, to: to, step: stepMs)
            if format == "json" {
                let series = matrix.map { series in
                    "{\"metric\":\(Self.json(series.labels)),\"values\":[" + series.samples.map { "[\($0.time),\"\($0.value)\"]" }.joined(separator: ",") + "]}"
                }
                print("{\"resultType\":\"matrix\",\"result\":[\(series.joined(separator: ","))]}")
            } else {
                for series in matrix {
                    print("\(series.labels) =>")
                    for sample in series.samples { print("  \(Self.value(sample.value)) @\(Self.seconds(sample.time))") }
                }
            }
            return
        }
        let time = try at.map { value -> Int64 in
            guard let ms = Self.milliseconds(value) else { throw ValidationError("--at takes a duration like 12s") }
            return ms
        } ?? last
        switch try evaluator.evaluate(parsed, at: time) {
        case .scalar(let value):
            print(format == "json" ? "{\"resultType\":\"scalar\",\"result\":[\(time),\"\(value)\"]}" : "scalar: \(Self.value(value)) @\(Self.seconds(time))")
        case .vector(let samples):
            if format == "json" {
                let items = samples.map { "{\"metric\":\(Self.json($0.labels)),\"value\":[\(time),\"\($0.value)\"]}" }
                print("{\"resultType\":\"vector\",\"result\":[\(items.joined(separator: ","))]}")
            } else {
                for sample in samples { print("\(sample.labels) => \(Self.value(sample.value)) @\(Self.seconds(time))") }
            }
        }
    }

    static func milliseconds(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number = ""
        var unit = ""
        var any = false
        func flush() -> Bool {
            guard let value = Double(number) else { return false }
            let factor: Double
            switch unit {
            case "ms": factor = 1
            case "s", "": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            default: return false
            }
            total += Int64(value * factor)
            number = ""
            unit = ""
            any = true
            return true
        }
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isNumber || character == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else {
                unit.append(character)
            }
        }
        if !number.isEmpty { guard flush() else { return nil } }
        return any ? total : nil
    }

    static func seconds(_ ms: Int64) -> String { String(format: "%.3fs", Double(ms) / 1000) }
    static func value(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value) }
    static func json(_ labels: Labels) -> String {
        "{" + labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",") + "}"
    }
}
