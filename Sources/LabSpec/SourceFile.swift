import Foundation

/// Reading lab files from disk: the only I/O of this module.
enum SourceFile {
    struct Failure: Error {
        var reason: String
    }

    /// The file's text, or why it cannot be had.
    static func read(_ path: String) -> Result<String, Failure> {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            return .failure(Failure(reason: "no such file"))
        }
        if isFolder.boolValue { return .failure(Failure(reason: "it is a folder")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Failure(reason: "permission denied or unreadable"))
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .failure(Failure(reason: "it is not valid UTF-8"))
        }
        return .success(text)
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// The folder part of `path`: `""` for a bare file name.
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` taken relative to `folder`, unless it is absolute.
    static func resolve(_ path: String, in folder: String) -> String {
        if path.hasPrefix("/") || folder.isEmpty { return path }
        return folder.hasSuffix("/") ? folder + path : folder + "/" + path
    }

    /// The name of the folder `path` is in; the current folder's name for a bare file name.
    static func folderName(of path: String) -> String {
        var folder = folder(of: path)
        if folder.isEmpty || folder == "." { folder = FileManager.default.currentDirectoryPath }
        return String(folder.split(separator: "/").last ?? "")
    }
}
