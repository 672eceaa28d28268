import Foundation
import PackagePlugin

/// Turns the SQL files in `sql/` (definitions and upgrades) into Swift string literals at build time,
/// so the `walaudit` binary carries its schema wherever it is copied.
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sqlDirectory = context.package.directoryURL.appendingPathComponent("sql")
        let paths = try FileManager.default.subpathsOfDirectory(atPath: sqlDirectory.path).sorted()
        let files = paths.filter { $0.hasSuffix(".sql") }.map { sqlDirectory.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedSQL.swift")
        // The folders are inputs too: adding or removing a file changes their
        // modification time, so the command reruns (the tool lists them itself).
        let folders = [sqlDirectory] + paths.map { sqlDirectory.appendingPathComponent($0) }.filter {
            (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true
        }
        return [.buildCommand(
            displayName: "Embedding \(files.count) SQL files",
            executable: try context.tool(named: "sql-embedder").url,
            arguments: [sqlDirectory.path, output.path],
            inputFiles: files + folders,
            outputFiles: [output]
        )]
    }
}
