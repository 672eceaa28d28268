import ArgumentParser

/// The `walaudit` command line: one subcommand per file in this directory.
@main
struct Walaudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walaudit",
        abstract: "A tamper-evident audit trail for PostgreSQL, read from the logical replication stream.",
        discussion: """
            Start with `walaudit demo`: it runs the whole story on a throwaway PostgreSQL \
            cluster and cleans up after itself.
            """,
        subcommands: [SetupCommand.self, AttachCommand.self, DetachCommand.self, RunCommand.self, StatusCommand.self, VerifyCommand.self,
                      RetentionCommand.self, ExportCommand.self, KeygenCommand.self, DecodeCommand.self, DemoCommand.self,
                      TeardownCommand.self]
    )
}
