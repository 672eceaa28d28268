import PostgresClient
import Testing
import TestSupport

/// Nothing is accepted and then silently not captured: tables whose changes
/// the WAL does not carry, or carries under names nobody attached, are
/// refused with a hint, at attach and when DDL would make them so.
@Suite struct AttachRefusalTests {
    /// `walaudit attach NAME` fails with status 2 and says `message` and `hint`.
    private func expectRefused(_ harness: WalauditHarness, _ name: String, saying message: String, hint: String) throws {
        let result = try WalauditBinary.run(["attach", name] + harness.connectionArguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.contains(hint), "\(result.stderr)")
        let attached = try harness.database.connection.execute("SELECT count(*) FROM walaudit.capture_tables").scalar
        #expect(attached == "0")
    }

    @Test func whatTheWALDoesNotCarryIsRefusedWithAHint() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("""
            CREATE UNLOGGED TABLE scratch (id integer PRIMARY KEY);
            CREATE TABLE base (id integer PRIMARY KEY);
            CREATE VIEW base_view AS SELECT * FROM base;
            CREATE MATERIALIZED VIEW base_summary AS SELECT count(*) FROM base;
            CREATE FOREIGN DATA WRAPPER nowhere;
            CREATE SERVER elsewhere FOREIGN DATA WRAPPER nowhere;
            CREATE FOREIGN TABLE remote (id integer) SERVER elsewhere;
            """)
        try expectRefused(harness, "scratch", saying: "is UNLOGGED", hint: "SET LOGGED")
        try expectRefused(harness, "base_view", saying: "is a view", hint: "Attach the tables the view reads")
        try expectRefused(harness, "base_summary", saying: "is a materialized view", hint: "refreshed from")
        try expectRefused(harness, "remote", saying: "is a foreign table", hint: "server that holds its data")
        // A temporary table lives in one session: refused there.
        let session = try Connection(harness.database.conninfo)
        try session.execute("CREATE TEMPORARY TABLE tmp (id integer PRIMARY KEY)")
        #expect(throws: PostgresError.self) { try session.execute("SELECT walaudit.attach('tmp')") }
        do {
            try session.execute("SELECT walaudit.attach('tmp')")
        } catch {
            #expect(error.message.contains("is a temporary table"), "\(error)")
        }
    }

    @Test func anAttachedTableCannotTurnUnlogged() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        do {
            try connection.execute("ALTER TABLE t SET UNLOGGED")
            Issue.record("SET UNLOGGED on an attached table was accepted")
        } catch {
            #expect(error.message.contains("UNLOGGED"), "\(error)")
            #expect(error.hint?.contains("Detach it first") == true, "\(error)")
        }
        #expect(try connection.execute("SELECT relpersistence FROM pg_class WHERE oid = 't'::regclass").scalar == "p")
        // Detached, the owner may.
        try harness.expectSuccess(["detach", "t"])
        try connection.execute("ALTER TABLE t SET UNLOGGED")
    }

    @Test func inheritanceChildrenAreNeverLeftOut() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE parent (id integer PRIMARY KEY, note text);
            CREATE TABLE child (extra text) INHERITS (parent);
            """)
        try expectRefused(harness, "parent", saying: "has inheritance children that are not attached (public.child)", hint: "Attach the children first")
        try harness.expectSuccess(["attach", "child"])
        try harness.expectSuccess(["attach", "parent"])
        for ddl in ["CREATE TABLE late () INHERITS (parent)", "CREATE TABLE loose (id integer NOT NULL, note text); ALTER TABLE loose INHERIT parent"] {
            do {
                try connection.execute(ddl)
                Issue.record("a new child of an attached parent was accepted: \(ddl)")
            } catch {
                #expect(error.message.contains("would not be audited while its parent is"), "\(error)")
            }
        }
        let children = try connection.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'parent'::regclass").scalar
        #expect(children == "1")
    }
}
