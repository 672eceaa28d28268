import Foundation
import PostgresClient
import Testing
import TestSupport

/// Whole schemas (`walaudit attach --schema`): every table of the schema is
/// attached now and when it is created later, in the transaction that
/// creates it; what cannot be captured is refused, never passed over.
@Suite struct SchemaRuleTests {
    /// The rows of `sql` once it returns any (the worker stores events asynchronously).
    private func waitForRows(_ connection: Connection, _ sql: String, timeout: Double = 30) throws -> [[String?]] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let rows = try connection.execute(sql).rows
            if !rows.isEmpty { return rows }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for rows of: \(sql)")
    }

    /// The attached tables (capture_tables roots), as `schema.table`, sorted.
    private func attached(_ connection: Connection) throws -> [String] {
        try connection.execute("""
            SELECT relid::regclass::text FROM walaudit.capture_tables WHERE root_relid IS NULL ORDER BY 1
            """).rows.compactMap { $0[0] }
    }

    @Test func existingAndLaterTablesAreAttachedAndTheirChangesRecorded() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE SCHEMA app;
            CREATE TABLE app.customers (id integer PRIMARY KEY, email text, name text);
            CREATE TABLE app.skipped (id integer PRIMARY KEY);
            CREATE TABLE app.orders (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE app.orders_2025 PARTITION OF app.orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            CREATE VIEW app.customer_names AS SELECT name FROM app.customers;
            CREATE TABLE public.elsewhere (id integer PRIMARY KEY);
            """)
        let output = try harness.expectSuccess(["attach", "--schema", "app", "--exclude-table", "skipped", "--mask", "email"])
        #expect(output.contains("app.customers: attached") && output.contains("app.orders: attached"), "\(output)")
        #expect(output.contains("tables created in it later are attached too (except skipped)"), "\(output)")
        #expect(!output.contains("orders_2025") && !output.contains("skipped:") && !output.contains("customer_names"), "\(output)")
        // The partition is captured under its partitioned table; the mask
        // applies where the column exists, and orders (no email) is attached all the same.
        #expect(try attached(connection) == ["app.customers", "app.orders"])
        #expect(try connection.execute("""
            SELECT string_agg(format('%s:%s:%s', table_name, covered_tables, mask_columns), ' ' ORDER BY table_name) FROM walaudit.attached_tables
            """).scalar == "customers:0:{email} orders:1:{}")

        let worker = try harness.startWorker()
        try connection.execute("CREATE TABLE app.later (id integer PRIMARY KEY, v text, email text)")
        try connection.execute("INSERT INTO app.later VALUES (1, 'first', 'a@example.com')")
        try connection.execute("INSERT INTO app.skipped VALUES (1)")
        let events = try waitForRows(harness.storeConnection(), """
            SELECT new_row::text, row_key::text FROM walaudit.event_log
            WHERE schema_name = 'app' AND table_name = 'later' AND operation = 'INSERT'
            """)
        let row = try connection.execute("""
            SELECT jsonb_set(to_jsonb(l), '{email}', 'null')::text, jsonb_build_object('id', l.id)::text FROM app.later l
            """).rows
        #expect(events.count == 1)
        #expect(try #require(events.first)[1] == row.first?[1])
        // The stored row is the table's, its email masked.
        let stored = try connection.execute("SELECT jsonb_set($1::jsonb, '{email}', 'null')::text, $1::jsonb->>'email' LIKE 'hmac-sha256:%'",
                                            [events.first?[0] ?? "null"]).rows.first
        #expect(stored == [row.first?[0], "t"], "\(events)")
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try harness.storeConnection().execute("SELECT count(*) FROM walaudit.event_log WHERE table_name = 'skipped'").scalar == "0")
        #expect(try attached(connection) == ["app.customers", "app.later", "app.orders"])
    }

    /// Later tables come in by CREATE TABLE AS, SELECT INTO and SET SCHEMA
    /// too; a new partition of an attached table stays under it; excluded
    /// names and what is no table stay out.
    @Test func everyWayATableComesInIsAttached() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE SCHEMA app;
            CREATE TABLE app.orders (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE public.moved (id integer PRIMARY KEY);
            """)
        try harness.expectSuccess(["attach", "--schema", "app", "--exclude-table", "scratch"])
        try connection.execute("""
            CREATE TABLE app.copied AS SELECT 1 AS x;
            SELECT 2 AS y INTO app.selected;
            ALTER TABLE public.moved SET SCHEMA app;
            CREATE TABLE app.orders_2026 PARTITION OF app.orders FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            CREATE UNLOGGED TABLE app.scratch (id integer);
            CREATE TABLE app.scratch_child () INHERITS (app.scratch);
            CREATE VIEW app.v AS SELECT 1;
            """)
        #expect(try attached(connection) == ["app.copied", "app.moved", "app.orders", "app.selected"])
        #expect(try connection.execute("SELECT root_relid::regclass::text FROM walaudit.capture_tables WHERE relid = 'app.orders_2026'::regclass")
            .scalar == "app.orders")
    }

    @Test func hostileNamesAreTakenAsNames() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        let schema = #"Odd "schema"; DROP TABLE x; --"#
        let quoted = #""Odd ""schema""; DROP TABLE x; --""#
        try connection.execute("""
            CREATE TABLE x (id integer);
            CREATE SCHEMA \(quoted);
            CREATE TABLE \(quoted)."'; DROP TABLE x; --" (id integer PRIMARY KEY, "Mixed Case" text);
            """)
        let output = try harness.expectSuccess(["attach", "--schema", schema, "--exclude-table", "'; DROP TABLE x; --2", "--exclude", "Mixed Case"])
        #expect(output.contains(#"'; DROP TABLE x; --"#), "\(output)")
        try connection.execute("""
            CREATE TABLE \(quoted)."'; DROP TABLE x; --1" (id integer PRIMARY KEY);
            CREATE TABLE \(quoted)."'; DROP TABLE x; --2" (id integer PRIMARY KEY);
            """)
        #expect(try connection.execute("""
            SELECT string_agg(format('%s|%s|%s', schema_name, table_name, exclude_columns), ' ' ORDER BY table_name) FROM walaudit.attached_tables
            """).scalar == #"Odd "schema"; DROP TABLE x; --|'; DROP TABLE x; --|{"Mixed Case"} Odd "schema"; DROP TABLE x; --|'; DROP TABLE x; --1|{}"#)
        #expect(try connection.execute("SELECT to_regclass('public.x') IS NOT NULL").scalar == "t")
        try harness.expectSuccess(["detach", "--schema", schema])
        #expect(try connection.execute("SELECT count(*) FROM walaudit.schema_rules").scalar == "0")
    }

    /// An UNLOGGED table's changes are not in the WAL: the rule refuses it
    /// (at attach and when created later) unless it is excluded.
    @Test func unloggedTablesAreRefusedUnlessExcluded() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE SCHEMA app;
            CREATE TABLE app.kept (id integer PRIMARY KEY);
            CREATE UNLOGGED TABLE app.cache (id integer);
            """)
        let refused = try WalauditBinary.run(["attach", "--schema", "app"] + harness.connectionArguments)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("has UNLOGGED tables") && refused.stderr.contains("app.cache"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--exclude-table") && refused.stderr.contains("SET LOGGED"), "\(refused.stderr)")
        #expect(try connection.execute("SELECT (SELECT count(*) FROM walaudit.schema_rules) + (SELECT count(*) FROM walaudit.capture_tables)")
            .scalar == "0")

        try harness.expectSuccess(["attach", "--schema", "app", "--exclude-table", "cache"])
        do {
            try connection.execute("CREATE UNLOGGED TABLE app.later (id integer)")
            Issue.record("CREATE UNLOGGED TABLE in a ruled schema was accepted")
        } catch {
            #expect(error.message.contains("app.later is UNLOGGED"), "\(error)")
            #expect(error.hint?.contains("Exclude it from the rule") == true, "\(error)")
        }
        #expect(try connection.execute("SELECT to_regclass('app.later') IS NULL").scalar == "t")
        // Nor can one be moved in.
        try connection.execute("CREATE UNLOGGED TABLE public.moving (id integer)")
        #expect(throws: PostgresError.self) { try connection.execute("ALTER TABLE public.moving SET SCHEMA app") }
        #expect(try attached(connection) == ["app.kept"])
    }

    /// detach --schema ends the rule: later tables are not attached; those
    /// attached stay, unless --detach-tables.
    @Test func detachSchemaEndsTheRule() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE SCHEMA app; CREATE TABLE app.a (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "--schema", "app"])
        let output = try harness.expectSuccess(["detach", "--schema", "app"])
        #expect(output.contains("its rule has ended"), "\(output)")
        try connection.execute("CREATE TABLE app.after (id integer PRIMARY KEY)")
        #expect(try attached(connection) == ["app.a"])
        // No rule to end any more: an error, not a silent success.
        let again = try WalauditBinary.run(["detach", "--schema", "app"] + harness.connectionArguments)
        #expect(again.status == 2 && again.stderr.contains("has no walaudit rule"), "\(again.stderr)")

        try harness.expectSuccess(["attach", "--schema", "app"])
        #expect(try attached(connection) == ["app.a", "app.after"])
        let both = try harness.expectSuccess(["detach", "--schema", "app", "--detach-tables"])
        #expect(both.contains("detached app.a") && both.contains("detached app.after"), "\(both)")
        #expect(try attached(connection) == [])
        // Neither or both of tables and --schema: a usage error.
        #expect(try WalauditBinary.run(["attach"] + harness.connectionArguments).status == 64)
        #expect(try WalauditBinary.run(["attach", "app.a", "--schema", "app"] + harness.connectionArguments).status == 64)
        #expect(try WalauditBinary.run(["detach"] + harness.connectionArguments).status == 64)
    }

    @Test func attachedTablesShowTheRule() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE SCHEMA app;
            CREATE TABLE app.a (id integer PRIMARY KEY);
            CREATE TABLE app.own (id integer PRIMARY KEY);
            CREATE TABLE public.p (id integer PRIMARY KEY);
            """)
        try harness.expectSuccess(["attach", "public.p", "app.own"])
        try harness.expectSuccess(["attach", "--schema", "app", "--exclude-table", "own"])
        #expect(try connection.execute("""
            SELECT string_agg(format('%s.%s=%s', schema_name, table_name, coalesce(schema_rule, '-')), ' ' ORDER BY schema_name, table_name)
            FROM walaudit.attached_tables
            """).scalar == "app.a=app app.own=- public.p=-")
        // Dropping the schema drops its rule.
        try connection.execute("DROP SCHEMA app CASCADE")
        #expect(try connection.execute("SELECT count(*) FROM walaudit.schema_rules").scalar == "0")
    }
}
