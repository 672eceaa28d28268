import Foundation
import PostgresClient
import Testing
import TestSupport

/// `walaudit setup` upgrades a database set up by the numbered migrations of
/// the previous main (commit 29d9a57, its `sql/` kept verbatim in
/// Fixtures/store-29d9a57) to exactly the schema a fresh install gets, and
/// re-running it changes nothing.
@Suite struct StoreUpgradeTests {
    /// The previous main's `sql/`, as that commit had it.
    static let previousMain = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/store-29d9a57")

    /// The previous main's setup (its Migrations.apply, then the slot):
    /// for the source, then the store, the common files and the set's own,
    /// each not yet recorded applied in its own transaction and recorded in
    /// walaudit.schema_migrations. `through` stops the store's files early.
    static func setUpAsPreviousMain(source: Connection, store: Connection, slot: String, through storeVersion: Int = 14) throws {
        for (set, connection) in [("source", source), ("store", store)] {
            try connection.execute("""
                CREATE SCHEMA IF NOT EXISTS walaudit;
                CREATE TABLE IF NOT EXISTS walaudit.schema_migrations (
                    migration_set text NOT NULL, version integer NOT NULL, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_set, version));
                """)
            for (fileSet, version, name, sql) in try files("common") + files(set) where fileSet != "store" || version <= storeVersion {
                try connection.execute("BEGIN")
                try connection.execute("SELECT pg_advisory_xact_lock(hashtext('walaudit.migrations'))")
                if try connection.execute("SELECT 1 FROM walaudit.schema_migrations WHERE migration_set = $1 AND version = $2",
                                          [fileSet, String(version)]).rows.isEmpty {
                    try connection.execute(sql)
                    try connection.execute("INSERT INTO walaudit.schema_migrations (migration_set, version, name) VALUES ($1, $2, $3)",
                                           [fileSet, String(version), name])
                }
                try connection.execute("COMMIT")
            }
        }
        try source.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot])
    }

    private static func files(_ set: String) throws -> [(String, Int, String, String)] {
        let folder = previousMain.appendingPathComponent(set)
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted().map { file in
            (set, Int(file.prefix(while: \.isNumber))!, String(file.dropLast(4)),
             try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
        }
    }

    /// Everything about schema walaudit a setup decides, one sorted line per
    /// fact: relations (kind, privileges, replica identity, comment),
    /// columns, constraints, indexes, statistics objects, functions (definition, privileges),
    /// triggers, views, event triggers, the schema, the roles, and who may
    /// emit logical messages.
    static func schemaFacts(_ connection: Connection) throws -> [String] {
        try connection.execute("""
            WITH acl(oid, kind, items, owner) AS (
                SELECT c.oid, CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END, c.relacl, c.relowner
                FROM pg_class c WHERE c.relnamespace = 'walaudit'::regnamespace
            )
            SELECT line FROM (
                SELECT format('relation %s kind=%s acl=%s identity=%s options=%s comment=%s', c.relname, c.relkind,
                              (SELECT string_agg(i::text, ',' ORDER BY i::text)
                               FROM unnest(coalesce(c.relacl, acldefault(a.kind::"char", c.relowner))) i),
                              c.relreplident, c.reloptions, obj_description(c.oid, 'pg_class')) AS line
                FROM pg_class c JOIN acl a ON a.oid = c.oid
                UNION ALL
                SELECT format('column %s.%s #%s %s not_null=%s default=%s identity=%s generated=%s acl=%s', c.relname, t.attname,
                              row_number() OVER (PARTITION BY c.oid ORDER BY t.attnum), format_type(t.atttypid, t.atttypmod),
                              t.attnotnull, pg_get_expr(d.adbin, d.adrelid), t.attidentity, t.attgenerated,
                              (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(t.attacl) i))
                FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid
                LEFT JOIN pg_attrdef d ON d.adrelid = t.attrelid AND d.adnum = t.attnum
                WHERE c.relnamespace = 'walaudit'::regnamespace AND t.attnum > 0 AND NOT t.attisdropped
                UNION ALL
                SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
                FROM pg_constraint WHERE connamespace = 'walaudit'::regnamespace
                UNION ALL
                SELECT format('index %s', pg_get_indexdef(i.indexrelid))
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'walaudit'::regnamespace
                UNION ALL
                SELECT format('statistics %s', pg_get_statisticsobjdef(oid))
                FROM pg_statistic_ext WHERE stxnamespace = 'walaudit'::regnamespace
                UNION ALL
                SELECT format('function %s acl=%s comment=%s %s', p.oid::regprocedure,
                              (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) i),
                              obj_description(p.oid, 'pg_proc'), pg_get_functiondef(p.oid))
                FROM pg_proc p WHERE p.pronamespace = 'walaudit'::regnamespace
                UNION ALL
                SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                WHERE c.relnamespace = 'walaudit'::regnamespace AND NOT t.tgisinternal
                UNION ALL
                SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
                FROM pg_class c WHERE c.relnamespace = 'walaudit'::regnamespace AND c.relkind = 'v'
                UNION ALL
                SELECT format('event trigger %s on %s runs %s enabled=%s tags=%s', evtname, evtevent, evtfoid::regproc, evtenabled, evttags)
                FROM pg_event_trigger
                UNION ALL
                SELECT format('schema acl=%s comment=%s', (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(nspacl) i),
                              obj_description(oid, 'pg_namespace'))
                FROM pg_namespace WHERE nspname = 'walaudit'
                UNION ALL
                SELECT format('role %s login=%s', rolname, rolcanlogin) FROM pg_roles WHERE rolname LIKE 'walaudit\\_%'
                UNION ALL
                SELECT format('system function %s acl=%s', p.oid::regprocedure, p.proacl)
                FROM pg_proc p WHERE p.proname = 'pg_logical_emit_message'
            ) facts ORDER BY line
            """).rows.compactMap { $0[0] }
    }

    /// Lines of one list missing from the other, for a readable failure.
    static func difference(_ actual: [String], _ expected: [String]) -> String {
        let only = { (a: [String], b: [String]) in a.filter { !b.contains($0) } }
        return "only after the upgrade:\n" + only(actual, expected).joined(separator: "\n")
            + "\nonly in a fresh install:\n" + only(expected, actual).joined(separator: "\n")
    }

    static func waitForEvents(_ store: Connection, atLeast count: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        var seen = 0
        while Date() < deadline {
            seen = Int(try store.execute("SELECT count(*) FROM walaudit.event_log").scalar ?? "0") ?? 0
            if seen >= count { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for \(count) events; the store has \(seen)")
    }

    static func setup(_ arguments: [String]) throws -> [String] {
        let result = try WalauditBinary.run(["setup"] + arguments)
        guard result.status == 0 else { throw HarnessError("walaudit setup exited \(result.status): \(result.stderr)") }
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test(arguments: [false, true])
    func previousMainStoreUpgradesAndVerifies(separateStore: Bool) throws {
        let cluster = try TestServer.cluster()
        let database = try TestServer.freshDatabase()
        let slot = String(database.name.prefix(60))
        let storeConninfo = separateStore ? cluster.conninfo(database: try cluster.createDatabase(prefix: "store")) : database.conninfo
        let source = database.connection
        let store = separateStore ? try Connection(storeConninfo) : source
        let arguments = ["--source", database.conninfo, "--target", storeConninfo, "--slot", slot]
        try Self.setUpAsPreviousMain(source: source, store: store, slot: slot)

        // Events written with the old layout: captured changes of a table
        // attached by the old attach(), DDL, and POLICY events appended by
        // the old policy functions.
        try source.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        try source.execute("SELECT walaudit.attach('t')")
        var worker = try WorkerProcess(arguments: ["run"] + arguments)
        try source.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 10) i")
        try source.execute("UPDATE t SET v = 'changed' WHERE id <= 3")
        try source.execute("DELETE FROM t WHERE id = 10")
        try source.execute("ALTER TABLE t ADD COLUMN w integer")
        try store.execute("SELECT walaudit.set_retention(NULL, interval '30 days')")
        try store.execute("SELECT walaudit.place_legal_hold('case-1', 'litigation', actor => 'someone')")
        try store.execute("SELECT * FROM walaudit.apply_retention(true)")
        // attach (1) + 10 inserts + 3 updates + 1 delete + DDL (1) + 3 POLICY
        try Self.waitForEvents(store, atLeast: 19)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try store.execute("SELECT ok FROM walaudit.verify_chain()").scalar == "t")
        let oldEvents = try store.execute("SELECT count(*) FROM walaudit.event_log").scalar

        let upgrade = try Self.setup(arguments)
        #expect(upgrade.contains("store: applied upgrade/015_event_log_operations"), "\(upgrade)")
        #expect(upgrade.contains("store: applied upgrade/016_verify_chain_links"), "\(upgrade)")
        #expect(upgrade.contains("store: applied verify_chain"), "\(upgrade)")
        #expect(upgrade.contains("store: applied upgrade/017_capture_config_members"), "\(upgrade)")
        #expect(upgrade.contains("store: applied upgrade/018_event_log_snapshot"), "\(upgrade)")
        #expect(upgrade.contains("store: applied upgrade/020_event_log_policies"), "\(upgrade)")
        #expect(upgrade.contains("source: applied upgrade/007_capture_tables_members"), "\(upgrade)")

        // The chain still verifies, in SQL and in the CLI.
        #expect(try store.execute("SELECT ok, checked, problem FROM walaudit.verify_chain()").rows == [["t", oldEvents, nil]])
        let verify = try WalauditBinary.run(["verify"] + arguments)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(String(decoding: verify.stdout, as: UTF8.self).contains("intact: \(oldEvents!) events checked"))

        // The worker captures new changes after the upgrade; the reports work.
        worker = try WorkerProcess(arguments: ["run"] + arguments)
        try source.execute("INSERT INTO t VALUES (11, 'after the upgrade', 1)")
        try source.execute("UPDATE t SET v = 'again' WHERE id = 1")
        try Self.waitForEvents(store, atLeast: Int(oldEvents!)! + 2)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try store.execute("SELECT ok, checked FROM walaudit.verify_chain()").rows == [["t", String(Int(oldEvents!)! + 2)]])
        #expect(try WalauditBinary.run(["verify"] + arguments).status == 0)
        #expect(try store.execute("SELECT new_row->>'v' FROM walaudit.event_log WHERE seq = (SELECT max(seq) FROM walaudit.event_log)").scalar
                == "again")
        if !separateStore {
            #expect(try store.execute("SELECT count(*) FROM walaudit.row_history('t', '{\"id\": 1}')").scalar == "3")
        }
        #expect(throws: PostgresError.self) { try store.execute("DELETE FROM walaudit.event_log WHERE seq = 1") }

        // Exactly the schema of a fresh install.
        let fresh = try WalauditHarness.make(separateStore: separateStore)
        let freshSource = try Self.schemaFacts(fresh.database.connection)
        let freshStore = try Self.schemaFacts(fresh.storeConnection())
        let upgradedSource = try Self.schemaFacts(source)
        let upgradedStore = try Self.schemaFacts(store)
        #expect(upgradedStore == freshStore, "\(Self.difference(upgradedStore, freshStore))")
        if separateStore {
            #expect(upgradedSource == freshSource, "\(Self.difference(upgradedSource, freshSource))")
        }
        #expect(try store.execute("SELECT count(*) FROM walaudit.chain").scalar == "1")
        #expect(try store.execute("SELECT string_agg(name, ',' ORDER BY name) FROM walaudit.store_secrets").scalar == "mask_key")

        // The old records are kept and understood; the upgrades are recorded once.
        #expect(try store.execute("""
            SELECT string_agg(migration_set || version, ',' ORDER BY migration_set, version)
            FROM walaudit.schema_migrations WHERE migration_set = 'store' AND version > 13
            """).scalar == "store14,store15,store16,store17,store18,store19,store20,store21,store22")

        // Setup again: nothing to do, nothing changed.
        let again = try Self.setup(arguments)
        #expect(!again.contains { $0.contains("applied") }, "\(again)")
        #expect(try Self.schemaFacts(store) == upgradedStore)
        #expect(try Self.schemaFacts(source) == upgradedSource)
    }

    @Test func freshSetupSaysWhatItInstalledAndARerunIsANoOp() throws {
        let database = try TestServer.freshDatabase()
        let arguments = ["--source", database.conninfo, "--slot", String(database.name.prefix(60))]
        let first = try Self.setup(arguments)
        for line in ["source: applied common/roles", "source: applied capture_tables", "source: applied privileges",
                     "store: applied event_log", "store: applied privileges"] {
            #expect(first.contains(line), "\(first)")
        }
        // A fresh store has the current shape already: no upgrade runs, each is recorded.
        #expect(!first.contains { $0.contains("upgrade/") }, "\(first)")
        #expect(try database.connection.execute("""
            SELECT string_agg(migration_set || version, ',' ORDER BY migration_set, version) FROM walaudit.schema_migrations
            """).scalar == "source7,store15,store16,store17,store18,store19,store20,store21,store22")
        let facts = try Self.schemaFacts(database.connection)
        let second = try Self.setup(arguments)
        #expect(second.count == 1 && second[0].hasPrefix("walaudit is set up"), "\(second)")
        #expect(try Self.schemaFacts(database.connection) == facts)
        #expect(try database.connection.execute("SELECT count(*) FROM walaudit.chain").scalar == "1")
    }

    /// The DDL event triggers log what the previous main's logged: the same
    /// commands on attached tables, renames followed, dropped tables detached.
    @Test func ddlIsLoggedAsThePreviousMainLoggedIt() throws {
        func logDDL(_ connection: Connection) throws -> [[String?]] {
            try connection.execute("""
                CREATE TABLE a (id integer PRIMARY KEY); CREATE TABLE b (id integer PRIMARY KEY); CREATE TABLE c (id integer PRIMARY KEY);
                CREATE TABLE unattached (id integer);
                SELECT walaudit.attach('a'); SELECT walaudit.attach('b'); SELECT walaudit.attach('c');
                ALTER TABLE a ADD COLUMN v text; ALTER TABLE a RENAME TO a2; CREATE INDEX ON b (id); ALTER TABLE unattached ADD COLUMN v text;
                ALTER TABLE c DISABLE TRIGGER walaudit_actor; DROP TABLE b, c, unattached;
                """)
            return try connection.execute("""
                SELECT command_tag, object_type, object_identity, schema_name, table_name, db_user, role_name
                FROM walaudit.ddl_log ORDER BY id
                """).rows + connection.execute("SELECT schema_name, table_name FROM walaudit.capture_tables ORDER BY 1, 2").rows
        }
        let old = try TestServer.freshDatabase()
        try Self.setUpAsPreviousMain(source: old.connection, store: old.connection, slot: String(old.name.prefix(60)))
        let current = try TestServer.freshDatabase()
        _ = try Self.setup(["--source", current.conninfo, "--slot", String(current.name.prefix(60))])
        let logged = try logDDL(current.connection)
        #expect(logged == (try logDDL(old.connection)))
        #expect(logged.contains { $0.first == "DROP TABLE" && $0[4] == "c" } && logged.last == ["public", "a2"], "\(logged)")
    }

    /// Two setups at once: the advisory lock makes one wait for the other,
    /// which then finds everything installed.
    @Test func concurrentSetupsDoNotInterleave() throws {
        let database = try TestServer.freshDatabase()
        let slot = String(database.name.prefix(60))
        // The slot is created outside the lock; make it exist already.
        try database.connection.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot])
        let arguments = ["--source", database.conninfo, "--slot", slot]
        let outputs = Outputs()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            outputs.add(Result { try Self.setup(arguments) })
        }
        let results = try outputs.all.map { try $0.get() }
        #expect(results.count == 2)
        let installers = results.filter { $0.contains("store: applied event_log") }
        #expect(installers.count == 1, "\(results)")
        #expect(results.contains { $0.count == 1 }, "\(results)")
    }

    /// A store older than the previous main's last numbered migration is
    /// refused, not half upgraded.
    @Test func aStoreOlderThanTheNumberedMigrationsIsRefused() throws {
        let database = try TestServer.freshDatabase()
        let slot = String(database.name.prefix(60))
        try Self.setUpAsPreviousMain(source: database.connection, store: database.connection, slot: slot, through: 11)
        let result = try WalauditBinary.run(["setup", "--source", database.conninfo, "--slot", slot])
        #expect(result.status != 0)
        #expect(result.stderr.contains("predates numbered migration 12"), "\(result.stderr)")
        // Nothing of the store's changed: no upgrade ran, no definition was installed.
        #expect(try database.connection.execute("""
            SELECT (SELECT max(version) FROM walaudit.schema_migrations WHERE migration_set = 'store'),
                   (SELECT count(*) FROM walaudit.schema_definitions WHERE migration_set = 'store'),
                   (SELECT pg_get_constraintdef(oid) LIKE '%CHECKPOINT%' FROM pg_constraint WHERE conname = 'event_log_operation_check')
            """).rows == [["11", "0", "t"]])
    }
}

private final class Outputs: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<[String], any Error>] = []

    func add(_ result: Result<[String], any Error>) {
        lock.lock()
        defer { lock.unlock() }
        results.append(result)
    }

    var all: [Result<[String], any Error>] {
        lock.lock()
        defer { lock.unlock() }
        return results
    }
}
