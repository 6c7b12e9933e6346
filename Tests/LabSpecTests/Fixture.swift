import Foundation
import LabSpec

/// The compose files under `Fixtures/`, found next to this source file so no resource bundle is needed.
enum Fixture {
    static let folder: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.appendingPathComponent("Fixtures").path
    }()

    /// The variables every fixture is loaded with, instead of the real process environment.
    static let variables: [String: String] = ["HOME": "/home/lab", "LOG_LEVEL": "debug", "CLIENT_COUNT": "200"]

    static func path(_ relative: String) -> String { folder + "/" + relative }

    /// The compose files in `Fixtures/SUBFOLDER`, by path relative to `Fixtures/`, sorted.
    static func composeFiles(in subfolder: String) -> [String] {
        let root = path(subfolder)
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".env.yaml") }
            .map { subfolder + "/" + $0 }
            .sorted()
    }

    static func load(_ relative: String) -> ComposeLoad {
        ComposeLoader.load(file: path(relative), variables: variables)
    }

    /// The diagnostics a fixture declares in `# expect: [FILE:]LINE:COL: severity: message` lines,
    /// in the form `description` prints, FILE relative to the fixture's folder.
    static func expectedDiagnostics(_ relative: String) -> [String] {
        let file = path(relative)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        let folder = (file as NSString).deletingLastPathComponent
        return text.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "# expect: ") else { return nil }
            let expectation = String(line[range.upperBound...])
            if let first = expectation.first, first.isNumber { return "\(file):\(expectation)" }
            return "\(folder)/\(expectation)"
        }
    }
}
