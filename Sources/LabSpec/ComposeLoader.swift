import Yams

/// Loads a lab's `compose.yaml` into a validated ``ComposeProject``, reporting every problem at once.
///
/// Loading never throws and never crashes: whatever the input, the outcome is a ``ComposeLoad``
/// with the project (when there is no error) and every diagnostic. Every string value is
/// interpolated first (`${VAR}`, `${VAR:-default}`, …) from the variables given.
public enum ComposeLoader {
    /// Reads and validates the compose file at `file`.
    ///
    /// `variables` is the interpolation environment, normally the process environment. A `.env`
    /// file next to the compose file is read too, and `variables` win over it. `env_file` paths
    /// are relative to the compose file. The project name defaults to the folder's name.
    /// Diagnostics name files as they are given here, so pass a relative path to get relative
    /// positions.
    public static func load(file: String, variables: [String: String]) -> ComposeLoad {
        let text: String
        switch SourceFile.read(file) {
        case .success(let read): text = read
        case .failure(let failure):
            let diagnostic = Diagnostic(
                .error, at: SourceLocation(file: file, line: 1, column: 1),
                "cannot read compose file: \(failure.reason)")
            return ComposeLoad(project: nil, diagnostics: [diagnostic], code: .fileUnreadable)
        }
        var merged = variables
        var dotEnvDiagnostics: [Diagnostic] = []
        let dotEnvPath = SourceFile.resolve(".env", in: SourceFile.folder(of: file))
        if SourceFile.exists(dotEnvPath) {
            switch SourceFile.read(dotEnvPath) {
            case .success(let dotEnvText):
                let dotEnv = DotEnv(text: dotEnvText, file: dotEnvPath) { variables[$0] }
                dotEnvDiagnostics = dotEnv.diagnostics
                merged = dotEnv.values.merging(variables) { _, process in process }
            case .failure(let failure):
                dotEnvDiagnostics = [
                    Diagnostic(
                        .error, at: SourceLocation(file: dotEnvPath, line: 1, column: 1),
                        "cannot read .env file: \(failure.reason)")
                ]
            }
        }
        var load = load(
            yaml: text, file: file, variables: merged,
            projectName: normalizedProjectName(SourceFile.folderName(of: file)))
        load.diagnostics = sorted(load.diagnostics + dotEnvDiagnostics)
        if load.diagnostics.containsErrors { load.project = nil }
        return load
    }

    /// Validates compose text that is already in memory; `file` is the name diagnostics give and
    /// the base of relative `env_file` paths.
    ///
    /// No `.env` file is read: put its values in `variables`. The project name defaults to
    /// `projectName`, or else to the name of `file`'s folder, or else `lab`.
    public static func load(
        yaml text: String, file: String = "compose.yaml", variables: [String: String] = [:],
        projectName: String? = nil
    ) -> ComposeLoad {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                let diagnostic = Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "the compose file is empty")
                return ComposeLoad(project: nil, diagnostics: [diagnostic], code: .invalidCompose)
            }
            root = composed
        } catch {
            return ComposeLoad(project: nil, diagnostics: [syntaxDiagnostic(error, file: file)], code: .invalidYAML, underlying: error)
        }
        let folder = SourceFile.folder(of: file)
        let name =
            projectName
            ?? (folder.isEmpty ? "lab" : normalizedProjectName(String(folder.split(separator: "/").last ?? "")))
        var reader = ComposeReader(file: file, text: text, variables: variables)
        let project = reader.project(root: root, defaultName: name)
        let diagnostics = sorted(reader.diagnostics)
        let isDependencyCycleOnly = diagnostics.filter { $0.severity == .error }.allSatisfy {
            $0.message.hasPrefix("dependency cycle: ")
        }
        return ComposeLoad(
            project: diagnostics.containsErrors ? nil : project, diagnostics: diagnostics,
            code: isDependencyCycleOnly ? .dependencyCycle : .invalidCompose)
    }

    /// A folder name made into a valid project name: lowercased, other characters dropped.
    static func normalizedProjectName(_ folderName: String) -> String {
        let scalars = folderName.lowercased().unicodeScalars.filter {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        let name = String(String.UnicodeScalarView(scalars.drop { $0 == "_" || $0 == "-" }))
        return name.isEmpty ? "lab" : name
    }

    static func sorted(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        var unique: [Diagnostic] = []
        for diagnostic in diagnostics where !unique.contains(diagnostic) { unique.append(diagnostic) }
        return unique.enumerated().sorted { left, right in
            let (a, b) = (left.element.location, right.element.location)
            return (a.file, a.line, a.column, left.offset) < (b.file, b.line, b.column, right.offset)
        }.map(\.element)
    }

    static func syntaxDiagnostic(_ error: any Error, file: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: max(mark.line, 1), column: max(mark.column, 1))
        }
        guard let yamlError = error as? YamlError else {
            return Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
            return Diagnostic(.error, at: at(mark), "invalid YAML: \(problem)\(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return Diagnostic(.error, at: at(context.mark), "invalid YAML: duplicate key \(keys) in a mapping")
        case .reader(let problem, _, _, _):
            return Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(problem)")
        default:
            return Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(yamlError)")
        }
    }
}

/// The outcome of loading a compose file: the project when there is no error, and every
/// diagnostic in file order.
public struct ComposeLoad: Sendable {
    /// The validated project; `nil` when ``diagnostics`` contains an error.
    public var project: ComposeProject?
    /// Every error and warning, sorted by file, line and column.
    public var diagnostics: [Diagnostic]
    /// What kind of failure it was, when there are errors.
    public var code: LabSpecError.Code
    /// What went wrong underneath, such as the `YamlError` of a syntax error.
    public var underlying: (any Error)?

    init(project: ComposeProject?, diagnostics: [Diagnostic], code: LabSpecError.Code, underlying: (any Error)? = nil) {
        self.project = project
        self.diagnostics = diagnostics
        self.code = code
        self.underlying = underlying
    }

    /// Only the warnings: what loads but is ignored or suspicious.
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// Only the errors.
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    /// The project, or a ``LabSpecError`` carrying every diagnostic, warnings included.
    public func get() throws(LabSpecError) -> ComposeProject {
        if let project, !diagnostics.containsErrors { return project }
        throw LabSpecError(code: code, diagnostics: diagnostics, underlying: underlying)
    }
}
