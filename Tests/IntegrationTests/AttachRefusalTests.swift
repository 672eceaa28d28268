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
            CREATE EXTENSION file_fdw;
            CREATE SERVER elsewhere FOREIGN DATA WRAPPER file_fdw;
            CREATE FOREIGN TABLE remote (id integer) SERVER elsewhere OPTIONS (filename '/dev/null');
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

    /// A table is captured once, under one name: a partition of an
    /// attached tree cannot be attached apart, nor a tree over a table
    /// attached on its own; a tree with a foreign or unlogged partition is
    /// refused whole.
    @Test func aTreeIsAttachedWholeOrNotAtAll() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE parted (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE parted_2025 PARTITION OF parted FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            CREATE TABLE parent (id integer PRIMARY KEY);
            CREATE TABLE child () INHERITS (parent);
            CREATE TABLE odd (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE UNLOGGED TABLE odd_2025 PARTITION OF odd FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """)
        try harness.expectSuccess(["attach", "parted"])
        let leaf = try WalauditBinary.run(["attach", "parted_2025"] + harness.connectionArguments)
        #expect(leaf.status == 2 && leaf.stderr.contains("is captured already, as part of public.parted"), "\(leaf.stderr)")
        try harness.expectSuccess(["attach", "child"])
        let parent = try WalauditBinary.run(["attach", "parent"] + harness.connectionArguments)
        #expect(parent.status == 2 && parent.stderr.contains("are attached on their own"), "\(parent.stderr)")
        let odd = try WalauditBinary.run(["attach", "odd"] + harness.connectionArguments)
        #expect(odd.status == 2 && odd.stderr.contains("partition of public.odd: public.odd_2025 is UNLOGGED"), "\(odd.stderr)")
        let attached = try connection.execute("""
            SELECT string_agg(format('%s=%s', relation_table, coalesce(root_relid::regclass::text, '-')), ' ' ORDER BY relation_table)
            FROM walaudit.capture_tables
            """).scalar
        #expect(attached == "child=- parted=- parted_2025=parted")
        // Detaching the tree lets its partitions go too.
        try harness.expectSuccess(["detach", "parted"])
        #expect(try connection.execute("SELECT count(*) FROM walaudit.capture_tables WHERE relation_table LIKE 'parted%'").scalar == "0")
        try harness.expectSuccess(["attach", "parted"])
        // A new unlogged partition of an attached tree is refused too.
        #expect(throws: PostgresError.self) {
            try connection.execute("CREATE UNLOGGED TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
        }
    }
}
