import Foundation
import PackagePlugin

/// Turns the migrations in `sql/` into Swift string literals at build time,
/// so the `walaudit` binary carries its schema wherever it is copied.
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sqlDirectory = context.package.directoryURL.appendingPathComponent("sql")
        let files = try FileManager.default.subpathsOfDirectory(atPath: sqlDirectory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
            .map { sqlDirectory.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedSQL.swift")
        // The folders are inputs too: adding a migration changes their
        // modification time, so the command reruns (the tool lists them itself).
        let folders = [sqlDirectory] + ["common", "source", "store"].map { sqlDirectory.appendingPathComponent($0) }
        return [.buildCommand(
            displayName: "Embedding \(files.count) SQL migrations",
            executable: try context.tool(named: "sql-embedder").url,
            arguments: [sqlDirectory.path, output.path],
            inputFiles: files + folders,
            outputFiles: [output]
        )]
    }
}
