import Foundation

/// A lab on disk: a folder `labs/NAME/` holding `compose.yaml` (and, later, `plan.yaml`).
public enum LabFolder {
    /// The compose file names looked for in a lab folder, in order, as Docker Compose does.
    public static let composeFileNames = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]

    /// The compose file of the lab at `path`: `path` itself when it is a file, else the first of
    /// ``composeFileNames`` in that folder. When none exists (or `path` does not exist and does not
    /// end in `.yaml` or `.yml`), the path of the first name, so the loader reports it as missing.
    public static func composeFile(at path: String) -> String {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        if exists && !isFolder.boolValue || !exists && (path.hasSuffix(".yaml") || path.hasSuffix(".yml")) {
            return path
        }
        let folder = path.hasSuffix("/") ? String(path.dropLast()) : path
        for name in composeFileNames where FileManager.default.fileExists(atPath: "\(folder)/\(name)") {
            return "\(folder)/\(name)"
        }
        return "\(folder)/\(composeFileNames[0])"
    }

    /// Loads the lab at `path` (a folder or a compose file); see ``ComposeLoader/load(file:variables:)``.
    public static func load(_ path: String, variables: [String: String]) -> ComposeLoad {
        ComposeLoader.load(file: composeFile(at: path), variables: variables)
    }
}
