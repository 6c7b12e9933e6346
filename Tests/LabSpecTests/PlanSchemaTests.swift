import Foundation
import LabSpec
import Testing
import Yams

/// `schemas/plan.schema.json` against the fixtures: every valid plan validates, so every key
/// the loader reads is in the schema; plans with unknown keys or kinds do not validate.
@Suite struct PlanSchemaTests {
    static let schemaPath: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("schemas/plan.schema.json").path
    }()

    static func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: schemaPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func problems(_ yaml: String) throws -> [String] {
        let document = try Yams.load(yaml: yaml) ?? NSNull()
        var validator = SchemaValidator(root: try Self.schema())
        validator.validate(document, against: validator.root, at: "$")
        return validator.problems
    }

    @Test func schemaIsDraft202012() throws {
        let schema = try Self.schema()
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let definitions = try #require(schema["$defs"] as? [String: Any])
        // One definition per fault kind, named as the plan names it.
        for kind in FaultKind.all { #expect(definitions["fault-\(kind.name)"] != nil, "\(kind)") }
    }

    @Test(arguments: PlanFixture.files(in: "valid"))
    func validFixturesValidate(_ file: String) throws {
        let text = try String(contentsOfFile: PlanFixture.path(file), encoding: .utf8)
        #expect(try problems(text) == [])
    }

    @Test(arguments: [
        ("duration: 1m\nsloss: []", "$: unknown key sloss"),
        ("duration: 1m\nsteps:\n  - {at: 1s, explode: {service: a}}", "$.steps[0]: unknown key explode"),
        ("duration: 1m\nsteps:\n  - {at: 1s, kill: {service: a, fracton: 1}}", "$.steps[0].kill: unknown key fracton"),
        ("duration: soon", "$.duration: does not match"),
        ("duration: 1m\nsteps:\n  - {at: 1s, kill: {service: a}, pause: {service: a}}", "$.steps[0]: not exactly one of oneOf"),
        ("duration: 1m\nslos:\n  - {name: x, expr: up, budget: {max-bad: 2}}", "$.slos[0].budget.max-bad: no match in anyOf"),
    ])
    func invalidDocumentsDoNotValidate(_ yaml: String, _ expected: String) throws {
        let found = try problems(yaml)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }
}

/// A JSON Schema validator for the keywords `plan.schema.json` uses; enough to keep the schema
/// honest, not a general implementation.
struct SchemaValidator {
    let root: [String: Any]
    var problems: [String] = []

    init(root: [String: Any]) { self.root = root }

    private func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let reference = schema["$ref"] as? String, reference.hasPrefix("#/$defs/"),
            let definitions = root["$defs"] as? [String: Any],
            let target = definitions[String(reference.dropFirst("#/$defs/".count))] as? [String: Any]
        else { return schema }
        return resolve(target)
    }

    /// A number, but not a boolean: on Linux an `NSNumber` from JSON also answers `is Bool`, so
    /// the dynamic type is compared instead.
    private static func number(_ value: Any?) -> Double? {
        guard let value, Swift.type(of: value) != Bool.self else { return nil }
        if let value = value as? Int { return Double(value) }
        if let value = value as? Double { return value }
        if let value = value as? NSNumber { return value.doubleValue }
        return nil
    }

    private static func type(of value: Any) -> Set<String> {
        if value is NSNull { return ["null"] }
        if Swift.type(of: value) == Bool.self { return ["boolean"] }
        if Swift.type(of: value) == Int.self { return ["integer", "number"] }
        if let double = value as? Double { return double == double.rounded() ? ["integer", "number"] : ["number"] }
        if value is String { return ["string"] }
        if value is [Any] { return ["array"] }
        if value is [AnyHashable: Any] || value is [String: Any] { return ["object"] }
        return []
    }

    private static func object(_ value: Any) -> [String: Any]? {
        if let value = value as? [String: Any] { return value }
        guard let value = value as? [AnyHashable: Any] else { return nil }
        return Dictionary(value.map { (String(describing: $0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        if let a = a as? String, let b = b as? String { return a == b }
        if let a = a as? Bool, let b = b as? Bool { return a == b }
        if let a = number(a), let b = number(b) { return a == b }
        return false
    }

    private static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Whether `value` validates, without recording problems.
    private func passes(_ value: Any, _ schema: [String: Any]) -> Bool {
        var probe = SchemaValidator(root: root)
        probe.validate(value, against: schema, at: "")
        return probe.problems.isEmpty
    }

    mutating func validate(_ value: Any, against given: [String: Any], at path: String) {
        let schema = resolve(given)
        func fail(_ message: String) { problems.append("\(path): \(message)") }
        let types = Self.type(of: value)
        if let type = schema["type"] as? String, !types.contains(type) { return fail("expected \(type)") }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal($0, value) }) { fail("not in enum") }
        if let constant = schema["const"], !Self.equal(constant, value) { fail("not the const") }
        if let text = value as? String {
            if let pattern = schema["pattern"] as? String, !Self.matches(text, pattern) { fail("does not match \(pattern)") }
            if let least = Self.number(schema["minLength"]), Double(text.count) < least { fail("too short") }
        }
        if let number = Self.number(value), !(value is String) {
            if let least = Self.number(schema["minimum"]), number < least { fail("below minimum") }
            if let most = Self.number(schema["maximum"]), number > most { fail("above maximum") }
            if let bound = Self.number(schema["exclusiveMinimum"]), number <= bound { fail("not above exclusiveMinimum") }
        }
        if let items = value as? [Any] {
            if let least = Self.number(schema["minItems"]), Double(items.count) < least { fail("too few items") }
            if let itemSchema = schema["items"] as? [String: Any] {
                for (index, item) in items.enumerated() { validate(item, against: itemSchema, at: "\(path)[\(index)]") }
            }
        }
        if let object = Self.object(value) {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            let patterns = schema["patternProperties"] as? [String: Any] ?? [:]
            for key in (schema["required"] as? [String] ?? []) where object[key] == nil { fail("missing \(key)") }
            if let least = Self.number(schema["minProperties"]), Double(object.count) < least { fail("too few properties") }
            if let most = Self.number(schema["maxProperties"]), Double(object.count) > most { fail("too many properties") }
            for (key, item) in object.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[key] as? [String: Any] {
                    validate(item, against: propertySchema, at: "\(path).\(key)")
                } else if patterns.keys.contains(where: { Self.matches(key, $0) }) {
                    continue
                } else if let additional = schema["additionalProperties"] {
                    if let allowed = additional as? Bool, !allowed { fail("unknown key \(key)") }
                    if let additionalSchema = additional as? [String: Any] { validate(item, against: additionalSchema, at: "\(path).\(key)") }
                }
            }
        }
        if let all = schema["allOf"] as? [[String: Any]] { for part in all { validate(value, against: part, at: path) } }
        if let any = schema["anyOf"] as? [[String: Any]], !any.contains(where: { passes(value, $0) }) { fail("no match in anyOf") }
        if let one = schema["oneOf"] as? [[String: Any]], one.filter({ passes(value, $0) }).count != 1 { fail("not exactly one of oneOf") }
        if let not = schema["not"] as? [String: Any], passes(value, not) { fail("matches not") }
    }
}
