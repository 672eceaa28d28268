import Foundation
import Testing
import TestSupport

/// The commands' failure modes through the real binary: exit status 2 and
/// a message, `walaudit COMMAND: …`, that says what to do, never a password.
@Suite struct CommandFailureTests {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try WalauditBinary.run(arguments)
        return (result.status, String(decoding: result.stdout, as: UTF8.self) + result.stderr)
    }

    static let unreachable = "postgresql://auditor:Sup3r-secret@127.0.0.1:1/shop"

    @Test(arguments: [["setup"], ["attach", "t"], ["detach", "t"], ["status"], ["verify"], ["retention", "apply"], ["teardown"],
                      ["export", "--since", "2026-01-01", "--until", "2026-02-01"]])
    func unreachableServerIsOneLineWithoutThePassword(_ command: [String]) throws {
        let result = try run(command + ["--source", Self.unreachable])
        #expect(result.status == 2)
        let name = command[0] == "retention" ? "retention apply" : command[0]
        #expect(result.output.hasPrefix("walaudit \(name): cannot connect to the"), "\(command): \(result.output)")
        #expect(!result.output.contains("Sup3r-secret"), "\(command) printed the password")
    }

    /// A conninfo libpq cannot parse is refused without quoting it or
    /// libpq's message, which would show the badly encoded password.
    @Test(arguments: [["status"], ["verify"], ["run"], ["setup", "--target", "host=x"]])
    func unparsableConninfoIsRefusedWithoutEchoingIt(_ command: [String]) throws {
        let result = try run(command + ["--source", "postgresql://auditor:Sup3r%zzsecret@127.0.0.1:1/shop"])
        #expect(result.status == 2)
        #expect(result.output.contains("libpq cannot parse the connection string of --source"), "\(command): \(result.output)")
        #expect(!result.output.contains("Sup3r"), "\(command) printed the password")
    }

    @Test func missingPrivilegesAndBadTargetsSayWhy() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let nobody = "nobody_\(db.name)"
        try db.connection.execute("CREATE ROLE \(nobody) LOGIN; CREATE TABLE t (id integer PRIMARY KEY)")
        let asNobody = ["--source", db.cluster.conninfo(database: db.name, user: nobody), "--slot", harness.slot]

        let setup = try run(["setup"] + asNobody)
        #expect(setup.status == 2 && setup.output.contains("setup failed") && setup.output.contains("permission denied"), "\(setup.output)")
        let attach = try run(["attach", "t"] + asNobody)
        #expect(attach.status == 2 && attach.output.contains("cannot attach t") && attach.output.contains("permission denied"), "\(attach.output)")
        let missing = try run(["attach", "no_such_table"] + harness.connectionArguments)
        #expect(missing.status == 2 && missing.output.contains("cannot attach no_such_table"), "\(missing.output)")
        let hostile = try run(["attach", "\"; DROP TABLE t; --"] + harness.connectionArguments)
        #expect(hostile.status == 2 && hostile.output.contains("cannot attach"), "\(hostile.output)")
        #expect(try db.connection.execute("SELECT count(*) FROM pg_class WHERE relname = 't'").scalar == "1")
        let detach = try run(["detach", "t"] + harness.connectionArguments)
        #expect(detach.status == 2 && detach.output.contains("is not attached"), "\(detach.output)")
        let status = try run(["status"] + asNobody)
        #expect(status.status == 2 && status.output.contains("permission denied"), "\(status.output)")
        let verify = try run(["verify"] + asNobody)
        #expect(verify.status == 2 && verify.output.contains("permission denied"), "\(verify.output)")
        let run = try run(["run"] + asNobody)
        #expect(run.status == 2 && run.output.contains("GRANT walaudit_writer TO"), "\(run.output)")
    }

    @Test func badArgumentsAreRefusedBeforeAnythingRuns() throws {
        #expect(try run(["run", "--checkpoint-dir", "/tmp/x"]).status == 64)
        #expect(try run(["run", "--transaction-memory", "-1"]).status == 64)
        #expect(try run(["verify", "--checkpoints", "/tmp/x"]).status == 64)
        #expect(try run(["attach"]).status == 64)
        #expect(try run(["retention", "apply", "--what"]).status == 64)
        let keygen = try run(["keygen", "--out", "/nonexistent-dir/key"])
        #expect(keygen.status == 2 && keygen.output.contains("keygen failed"), "\(keygen.output)")
    }
}
