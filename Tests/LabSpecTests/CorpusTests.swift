import Foundation
import LabSpec
import Testing

/// The fixture corpus: every file declares the exact diagnostics it must produce in `# expect:` lines.
@Suite struct CorpusTests {
    @Test(arguments: Fixture.composeFiles(in: "invalid"))
    func invalidFileReportsEveryProblemExactly(_ file: String) throws {
        let load = Fixture.load(file)
        let expected = Fixture.expectedDiagnostics(file)
        try #require(!expected.isEmpty, "the fixture declares no # expect: lines")
        #expect(load.diagnostics.map(\.description) == expected)
        #expect(load.project == nil)
        let error = #expect(throws: LabSpecError.self) { try load.get() }
        #expect(error?.diagnostics == load.diagnostics)
        #expect(error?.description == expected.joined(separator: "\n"))
    }

    @Test(arguments: Fixture.composeFiles(in: "valid"))
    func validFileLoads(_ file: String) throws {
        let load = Fixture.load(file)
        #expect(load.diagnostics.map(\.description) == Fixture.expectedDiagnostics(file))
        let project = try load.get()
        #expect(!project.services.isEmpty)
    }

    @Test func errorCodesSayWhatKindOfFailureItWas() {
        #expect(Fixture.load("invalid/syntax.yaml").code == .invalidYAML)
        #expect(Fixture.load("invalid/cycle.yaml").code == .dependencyCycle)
        #expect(Fixture.load("invalid/ports.yaml").code == .invalidCompose)
        #expect(Fixture.load("invalid/no-such-file.yaml").code == .fileUnreadable)
    }

    @Test func syntaxErrorKeepsTheUnderlyingYAMLError() {
        let load = Fixture.load("invalid/syntax.yaml")
        #expect(load.underlying != nil)
    }

    @Test func missingFileIsADiagnostic() {
        let path = Fixture.path("invalid/no-such-file.yaml")
        let load = ComposeLoader.load(file: path, variables: [:])
        #expect(load.diagnostics.map(\.description) == ["\(path):1:1: error: cannot read compose file: no such file"])
    }

    @Test func folderIsNotAComposeFile() {
        let path = Fixture.path("valid")
        let load = ComposeLoader.load(file: path, variables: [:])
        #expect(load.diagnostics.map(\.description) == ["\(path):1:1: error: cannot read compose file: it is a folder"])
    }

    /// Cross-check with the real Compose: every valid fixture must pass `docker-compose config -q`.
    @Test(
        .enabled(
            if: DockerCompose.executable != nil,
            "needs Compose v2 (docker compose or docker-compose 2.x); v1 predates the Compose Specification keys the fixtures use (name, depends_on.required, host_ip)"
        ),
        .timeLimit(.minutes(2)),
        arguments: Fixture.composeFiles(in: "valid"))
    func validFileIsAcceptedByDockerCompose(_ file: String) throws {
        let executable = try #require(DockerCompose.executable)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.path)
        process.arguments = executable.arguments + ["-f", Fixture.path(file), "config", "-q"]
        var environment = ProcessInfo.processInfo.environment
        environment.merge(Fixture.variables) { _, fixture in fixture }
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "docker-compose rejected \(file): \(message)")
    }
}

enum DockerCompose {
    /// `docker-compose` on `PATH`, if it is installed.
    /// A Compose v2 command line (`docker compose` or a 2.x `docker-compose`), if installed.
    static let executable: (path: String, arguments: [String])? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let find = { (name: String) in
            path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        for candidate in [find("docker").map { ($0, ["compose"]) }, find("docker-compose").map { ($0, [String]()) }] {
            guard let (executable, prefix) = candidate else { continue }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = prefix + ["version", "--short"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = Pipe()
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            let version = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if process.terminationStatus == 0, version.hasPrefix("2.") || version.hasPrefix("v2.") {
                return (executable, prefix)
            }
        }
        return nil
    }()
}
