import ArgumentParser
import Foundation
import Service

/// The `walaudit` command line: one subcommand per file in this directory.
@main
struct Walaudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walaudit",
        abstract: "A tamper-evident audit trail for PostgreSQL, read from the logical replication stream.",
        discussion: """
            Start with `walaudit demo`: it runs the whole story on a throwaway PostgreSQL \
            cluster and cleans up after itself.

            Exit status: 0 done; 1 not intact (verify found tampering, decode met malformed \
            input); 2 error (the message on standard error says what to fix); 64 bad arguments.
            """,
        version: walauditVersion,
        subcommands: [SetupCommand.self, AttachCommand.self, DetachCommand.self, BaselineCommand.self, RunCommand.self, StatusCommand.self, VerifyCommand.self,
                      RetentionCommand.self, ExportCommand.self, ReportCommand.self, ProveCommand.self, KeygenCommand.self, DecodeCommand.self, DemoCommand.self,
                      TeardownCommand.self]
    )

    /// The one exit path: bad arguments, --help, and ArgumentParser's own
    /// errors as ArgumentParser handles them (exit 0 or 64); a command's
    /// failure as its `CLIError` says (any other error is one of kind .error).
    static func main() {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch {
            // --help comes back as a command of ArgumentParser's own that throws.
            guard let name = path(to: type(of: command)), !(error is ExitCode || error is ValidationError || error is CleanExit) else {
                exit(withError: error)
            }
            let failure = CLIError(error)
            if let message = failure.message { writeStandardError("\(name): \(message)\n") }
            Foundation.exit(failure.kind.exitCode)
        }
    }

    /// "walaudit retention apply" for RetentionApplyCommand; nil for a
    /// command that is not one of walaudit's.
    static func path(to command: any ParsableCommand.Type) -> String? {
        func names(from node: any ParsableCommand.Type) -> [String]? {
            let name = node.configuration.commandName ?? String(describing: node).lowercased()
            if ObjectIdentifier(node) == ObjectIdentifier(command) { return [name] }
            for child in node.configuration.subcommands {
                if let rest = names(from: child) { return [name] + rest }
            }
            return nil
        }
        return names(from: Walaudit.self)?.joined(separator: " ")
    }
}
