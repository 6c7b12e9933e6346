import Foundation
import LabSpec

/// The plan fixtures under `Fixtures/plans/`, checked against `Fixtures/plans/compose.yaml`.
enum PlanFixture {
    static func path(_ relative: String) -> String { Fixture.path("plans/" + relative) }

    /// The plan files in `Fixtures/plans/SUBFOLDER`, as paths relative to `Fixtures/plans/`.
    static func files(in subfolder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path(subfolder))) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.map { subfolder + "/" + $0 }.sorted()
    }

    /// The services every fixture is checked against: auth ×1, supernode ×8, client ×20.
    static let project: ComposeProject = {
        let load = ComposeLoader.load(file: path("compose.yaml"), variables: [:])
        guard let project = load.project else { fatalError("the fixture compose file is invalid: \(load.diagnostics)") }
        return project
    }()

    static func load(_ relative: String, project: ComposeProject? = PlanFixture.project) -> PlanLoad {
        PlanLoader.load(file: path(relative), project: project)
    }

    static func expectedDiagnostics(_ relative: String) -> [String] {
        Fixture.expectedDiagnostics("plans/" + relative)
    }

    /// Loads a plan from text, against the fixture project, or fails with its diagnostics.
    static func plan(_ yaml: String) throws -> FaultPlan {
        try PlanLoader.load(yaml: yaml, project: project).get()
    }

    /// The diagnostics of a plan in text, as `line:col: error: message`.
    static func problems(_ yaml: String, project: ComposeProject? = PlanFixture.project) -> [String] {
        PlanLoader.load(yaml: yaml, file: "plan.yaml", project: project).diagnostics.map {
            String($0.description.dropFirst("plan.yaml:".count))
        }
    }
}
