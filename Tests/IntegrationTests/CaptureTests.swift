import Decoding
import Foundation
import PostgresClient
import Testing
import TestSupport

/// The capture worker end to end: real sessions, real roles, the real binary.
@Suite struct CaptureTests {
    @Test func everyCommittedChangeOnceWithItsActor() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("""
            CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance numeric(12,2), note text);
            CREATE TABLE ledger (id serial PRIMARY KEY, entry text);
            CREATE TABLE unaudited (id integer);
            CREATE ROLE clerk_\(db.name) LOGIN;
            CREATE ROLE manager_\(db.name) NOLOGIN;
            GRANT manager_\(db.name) TO clerk_\(db.name);
            CREATE ROLE app_\(db.name) LOGIN;
            GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO clerk_\(db.name), manager_\(db.name), app_\(db.name);
            """)
        try harness.expectSuccess(["attach", "accounts", "ledger"])
        let worker = try harness.startWorker()

        // An application user, through set_actor.
        try db.connection.execute("""
            BEGIN;
            SELECT walaudit.set_actor('alice@example.com', '{"request_id": "r-17"}');
            INSERT INTO accounts VALUES (1, 'alice', 100.00, NULL), (2, 'bob', 50.50, 'x');
            COMMIT;
            """)
        // A login role over TCP, switching role mid-transaction.
        let clerk = try Connection(db.cluster.tcpConninfo(database: db.name, user: "clerk_\(db.name)"))
        try clerk.execute("SET application_name = 'teller-app'")
        try clerk.execute("""
            BEGIN;
            UPDATE accounts SET balance = balance - 10 WHERE id = 1;
            SET ROLE manager_\(db.name);
            UPDATE accounts SET note = 'approved' WHERE id = 2;
            RESET ROLE;
            COMMIT;
            """)
        // A third login role whose application names its user with SET LOCAL.
        let app = try Connection(db.cluster.conninfo(database: db.name, user: "app_\(db.name)"))
        try app.execute("BEGIN; SET LOCAL walaudit.actor = 'carol@example.com'; UPDATE accounts SET note = 'seen' WHERE id = 1; COMMIT;")
        // A savepoint rolled back, and a whole transaction rolled back.
        try db.connection.execute("BEGIN; INSERT INTO accounts VALUES (10, 'kept', 1, NULL); SAVEPOINT s; INSERT INTO accounts VALUES (11, 'gone', 1, NULL); ROLLBACK TO s; COMMIT;")
        try db.connection.execute("BEGIN; INSERT INTO accounts VALUES (12, 'never', 1, NULL); ROLLBACK;")
        // Two-phase commit, and replica mode (triggers off, except ALWAYS ones).
        try db.connection.execute("BEGIN; UPDATE accounts SET note = '2pc' WHERE id = 10; PREPARE TRANSACTION 'walaudit_\(db.name)';")
        try db.connection.execute("COMMIT PREPARED 'walaudit_\(db.name)'")
        try db.connection.execute("SET session_replication_role = replica; DELETE FROM accounts WHERE id = 2; SET session_replication_role = origin;")
        // Not attached: never captured.
        try db.connection.execute("INSERT INTO unaudited VALUES (1)")
        try db.connection.execute("INSERT INTO ledger (entry) VALUES ('one'), ('two'); TRUNCATE ledger;")
        try db.connection.execute("ALTER TABLE accounts ADD COLUMN opened date")
        try db.connection.execute("INSERT INTO accounts VALUES (20, 'last', 0, NULL, '2026-01-01')")

        try harness.waitForEvents(atLeast: 15)
        #expect(worker.stop() == 0, "\(worker.log)")
        let events = try db.connection.execute("""
            SELECT operation, table_name, db_user, role_name, app_user, app_context::text, application_name,
                   row_key::text, changed_columns::text, client_addr IS NOT NULL
            FROM walaudit.event_log ORDER BY seq
            """).rows
        let clerkName = "clerk_\(db.name)", manager = "manager_\(db.name)"
        let expected: [[String?]] = [
            ["DDL", "accounts", "postgres", "postgres", nil, nil, nil, nil, nil, "f"],  // attach
            ["DDL", "ledger", "postgres", "postgres", nil, nil, nil, nil, nil, "f"],
            ["INSERT", "accounts", "postgres", "postgres", "alice@example.com", #"{"request_id": "r-17"}"#, "", #"{"id": 1}"#, "{id,owner,balance,note}", "f"],
            ["INSERT", "accounts", "postgres", "postgres", "alice@example.com", #"{"request_id": "r-17"}"#, "", #"{"id": 2}"#, "{id,owner,balance,note}", "f"],
            ["UPDATE", "accounts", clerkName, clerkName, nil, nil, "teller-app", #"{"id": 1}"#, "{balance}", "t"],
            ["UPDATE", "accounts", clerkName, manager, nil, nil, "teller-app", #"{"id": 2}"#, "{note}", "t"],
            ["UPDATE", "accounts", "app_\(db.name)", "app_\(db.name)", "carol@example.com", nil, "", #"{"id": 1}"#, "{note}", "f"],
            ["INSERT", "accounts", "postgres", "postgres", nil, nil, "", #"{"id": 10}"#, "{id,owner,balance,note}", "f"],
            ["UPDATE", "accounts", "postgres", "postgres", nil, nil, "", #"{"id": 10}"#, "{note}", "f"],
            ["DELETE", "accounts", "postgres", "postgres", nil, nil, "", #"{"id": 2}"#, "{id,owner,balance,note}", "f"],
            ["INSERT", "ledger", "postgres", "postgres", nil, nil, "", #"{"id": 1}"#, "{id,entry}", "f"],
            ["INSERT", "ledger", "postgres", "postgres", nil, nil, "", #"{"id": 2}"#, "{id,entry}", "f"],
            ["TRUNCATE", "ledger", "postgres", "postgres", nil, nil, "", nil, nil, "f"],
            ["DDL", "accounts", "postgres", "postgres", nil, nil, "", nil, nil, "f"],
            ["INSERT", "accounts", "postgres", "postgres", nil, nil, "", #"{"id": 20}"#, "{id,owner,balance,note,opened}", "f"],
        ]
        #expect(events.count == expected.count)
        for (index, (row, want)) in zip(events, expected).enumerated() where row != want {
            Issue.record("event \(index + 1): got \(row), expected \(want)")
        }
        // Ground truth: the latest image of every row equals the table's row.
        let mismatches = try db.connection.execute("""
            SELECT a.id FROM accounts a
            WHERE jsonb_strip_nulls(to_jsonb(a)) IS DISTINCT FROM (SELECT jsonb_strip_nulls(e.new_row) FROM walaudit.event_log e
                WHERE e.table_name = 'accounts' AND e.row_key = jsonb_build_object('id', a.id) ORDER BY seq DESC LIMIT 1)
            """)
        #expect(mismatches.rows.isEmpty, "rows whose last event differs from the table: \(mismatches.rows)")
    }
    /// One actor message per actor change: statements by the same actor
    /// share the transaction's last message, a change of actor (also right
    /// after a rolled-back savepoint that had changed it) emits a new one,
    /// and a session that forges the trigger's memory cannot hide itself.
    @Test func anActorMessageOnlyWhenTheActorChanges() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("""
            CREATE TABLE t (id integer PRIMARY KEY, v text);
            CREATE ROLE sneaky_\(db.name) LOGIN;
            GRANT SELECT, INSERT, UPDATE ON t TO sneaky_\(db.name);
            """)
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        // A slot of the test's own, to count the messages the stream carries.
        let peek = "peek_" + String(db.name.suffix(20))
        try db.connection.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [peek])
        defer { _ = try? db.connection.execute("SELECT pg_drop_replication_slot($1)", [peek]) }
        // Four statements of one actor, then a rolled-back savepoint that
        // changed the actor, then that actor again: b must be recorded.
        try db.connection.execute("""
            BEGIN;
            SELECT walaudit.set_actor('a');
            INSERT INTO t VALUES (1, 'x'); INSERT INTO t VALUES (2, 'x'); UPDATE t SET v = 'y' WHERE id = 1; UPDATE t SET v = 'y' WHERE id = 2;
            SAVEPOINT s;
            SELECT walaudit.set_actor('b');
            INSERT INTO t VALUES (3, 'gone');
            ROLLBACK TO s;
            INSERT INTO t VALUES (4, 'still a');
            SELECT walaudit.set_actor('b');
            INSERT INTO t VALUES (5, 'b');
            SELECT walaudit.set_actor('a');
            INSERT INTO t VALUES (6, 'a again');
            COMMIT;
            """)
        // A session that sets the trigger's memory by hand (to what the seal covers, unsealed, hashed without the key,
        // to anything, or to a seal it read in an earlier transaction) is still named, and cannot read the seal's key,
        // not even when sequences were granted to it (as ALTER DEFAULT PRIVILEGES ... ON SEQUENCES does): setup takes
        // such grants back.
        try db.connection.execute("GRANT SELECT, USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA walaudit TO sneaky_\(db.name)")
        _ = try harness.expectSuccess(["setup"])
        let sneaky = try Connection(db.cluster.conninfo(database: db.name, user: "sneaky_\(db.name)"))
        for read in ["SELECT last_value FROM walaudit.actor_seal_key_1", "SELECT pg_sequence_last_value('walaudit.actor_seal_key_2')",
                     "SELECT nextval('walaudit.actor_seal_key_1')", "SELECT setval('walaudit.actor_seal_key_2', 1)"] {
            #expect(throws: PostgresError.self, "\(read)") { try sneaky.execute(read) }
        }
        #expect(try sneaky.execute("SELECT count(last_value) FROM pg_sequences WHERE schemaname = 'walaudit'").scalar == "0")
        #expect(try db.connection.execute("""
            SELECT count(DISTINCT pg_sequence_last_value(k)) FROM unnest('{walaudit.actor_seal_key_1, walaudit.actor_seal_key_2}'::regclass[]) k
            """).scalar == "2", "both halves of the key are seeded")
        try sneaky.execute("""
            BEGIN;
            SELECT set_config('walaudit.emitted_actor', json_build_array(session_user, walaudit.statement_role(), NULL, NULL,
                current_setting('application_name'))::text, true);
            INSERT INTO t VALUES (7, 'forged');
            COMMIT;
            BEGIN;
            SET LOCAL walaudit.emitted_actor = 'anything';
            UPDATE t SET v = 'forged again' WHERE id = 7;
            COMMIT;
            BEGIN;
            SELECT set_config('walaudit.emitted_actor', encode(sha256(convert_to(json_build_array(pg_current_xact_id(),
                pg_backend_pid(), session_user, walaudit.statement_role(), current_setting('walaudit.actor', true),
                current_setting('walaudit.context', true), current_setting('application_name'))::text, 'UTF8')), 'base64'), true);
            UPDATE t SET v = 'forged, keyless' WHERE id = 7;
            COMMIT;
            """)
        try sneaky.execute("BEGIN")
        try sneaky.execute("INSERT INTO t VALUES (8, 'sealed')")
        let seal = try sneaky.execute("SELECT current_setting('walaudit.emitted_actor')").scalar
        try sneaky.execute("COMMIT")
        #expect(seal != nil)
        try sneaky.execute("BEGIN")
        try sneaky.execute("SELECT set_config('walaudit.emitted_actor', $1, true)", [seal])
        try sneaky.execute("UPDATE t SET v = 'replayed' WHERE id = 8")
        try sneaky.execute("COMMIT")
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")
        let rows = try db.connection.execute("""
            SELECT row_key->>'id', coalesce(app_user, db_user) FROM walaudit.event_log WHERE table_name = 't' AND operation <> 'DDL' ORDER BY seq
            """).rows
        #expect(rows == [["1", "a"], ["2", "a"], ["1", "a"], ["2", "a"], ["4", "a"], ["5", "b"], ["6", "a"],
                         ["7", "sneaky_\(db.name)"], ["7", "sneaky_\(db.name)"], ["7", "sneaky_\(db.name)"],
                         ["8", "sneaky_\(db.name)"], ["8", "sneaky_\(db.name)"]],
                "\(rows)")
        // The stream holds one actor message per actor change: a, b, a; then one per sneaky transaction.
        let messages = try db.connection.execute("""
            SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL) WHERE data LIKE 'message: transactional: 1 prefix: walaudit.actor%'
            """, [peek]).scalar
        #expect(messages == "8", "actor messages in the stream: \(messages ?? "none")")
    }

    /// A transaction larger than the worker's memory budget spills to disk
    /// and still arrives whole and exact.
    @Test func transactionsSpilledToDiskArriveExactly() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE big (id integer PRIMARY KEY, payload text, n bigint)")
        try harness.expectSuccess(["attach", "big"])
        let worker = try harness.startWorker(["--transaction-memory", "0"])
        try db.connection.execute(#"INSERT INTO big SELECT i, repeat(md5(i::text), 3) || E'\n\t''', i FROM generate_series(1, 20000) i"#)
        try db.connection.execute("UPDATE big SET n = n * 2, payload = payload || 'x' WHERE id % 2 = 0")
        try harness.waitForEvents(atLeast: 1 + 20000 + 10000, timeout: 120)
        #expect(worker.stop() == 0, "\(worker.log)")
        let differing = try db.connection.execute("""
            WITH last AS (SELECT DISTINCT ON (row_key) row_key, new_row FROM walaudit.event_log
                          WHERE table_name = 'big' ORDER BY row_key, seq DESC)
            SELECT count(*) FILTER (WHERE l.new_row IS DISTINCT FROM to_jsonb(b)), count(*)
            FROM big b LEFT JOIN last l ON l.row_key = jsonb_build_object('id', b.id)
            """).rows.first
        #expect(differing == ["0", "20000"])
        let positions = try db.connection.execute("""
            SELECT count(DISTINCT lsn), max(lsn_position) FROM walaudit.event_log WHERE table_name = 'big' AND operation <> 'DDL'
            """).rows.first
        #expect(positions == ["2", "20000"])
        // Both verifiers agree the 30,001 events are intact.
        #expect(try db.connection.execute("SELECT ok, checked FROM walaudit.verify_chain()").rows.first == ["t", "30001"])
        let cli = try WalauditBinary.run(["verify", "--json"] + harness.connectionArguments)
        #expect(String(decoding: cli.stdout, as: UTF8.self) == #"{"ok":true,"checked":30001,"purged":0,"first_bad_seq":null,"problem":null,"gaps":[]}"# + "\n")
        // Salts are drawn in blocks: across more than a hundred blocks, no
        // two events share one.
        #expect(try db.connection.execute("SELECT count(*) - count(DISTINCT payload_salt) FROM walaudit.event_log").scalar == "0")
    }

    /// Excluded columns never reach the store; masked ones arrive as a keyed
    /// hash: equal values hash alike, so a change is visible, the value is not.
    @Test func excludedAndMaskedColumns() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE users (id integer PRIMARY KEY, email text, password_hash text, name text)")
        try harness.expectSuccess(["attach", "users", "--exclude", "password_hash", "--mask", "email"])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO users VALUES (1, 'a@example.com', 'secret-hash', 'Ann'), (2, 'a@example.com', 'x', 'Bo')")
        try db.connection.execute("UPDATE users SET password_hash = 'new-secret', name = 'Anne' WHERE id = 1")
        try db.connection.execute("UPDATE users SET email = 'b@example.com' WHERE id = 2")
        try harness.waitForEvents(atLeast: 5)
        #expect(worker.stop() == 0)
        let everything = try db.connection.execute(
            "SELECT string_agg(concat_ws(' ', old_row, new_row, changed_columns), ' ') FROM walaudit.event_log WHERE operation <> 'DDL'").scalar ?? ""
        #expect(!everything.contains("secret"))
        #expect(!everything.contains("password_hash"))
        #expect(!everything.contains("example.com"))
        let rows = try db.connection.execute("""
            SELECT new_row->>'email' LIKE 'hmac-sha256:%', new_row->>'name', changed_columns::text
            FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE') ORDER BY seq
            """).rows
        #expect(rows == [["t", "Ann", "{id,email,name}"], ["t", "Bo", "{id,email,name}"], ["t", "Anne", "{name}"], ["t", "Bo", "{email}"]])
        let sameEmailSameHash = try db.connection.execute("""
            SELECT count(DISTINCT new_row->>'email') FROM walaudit.event_log WHERE operation = 'INSERT'
            """).scalar
        #expect(sameEmailSameHash == "1")
    }

    /// `--exclude` and `--mask` take one column each, exactly as named: a
    /// comma is part of the name, so `--exclude 'a,b'` excludes the column
    /// "a,b" and neither a nor b; the options repeat for more columns.
    @Test func excludeTakesOneColumnNameEvenWithAComma() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute(#"CREATE TABLE t (id integer PRIMARY KEY, a text, b text, "a,b" text, c text, d text)"#)
        try harness.expectSuccess(["attach", "t", "--exclude", "a,b", "--exclude", "c", "--mask", "d"])
        #expect(try db.connection.execute("SELECT exclude_columns::text, mask_columns::text FROM walaudit.attached_tables").rows
                == [[#"{"a,b",c}"#, "{d}"]])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t VALUES (1, 'A', 'B', 'secret-ab', 'secret-c', 'secret-d')")
        try harness.waitForEvents(atLeast: 2)
        #expect(worker.stop() == 0, "\(worker.log)")
        let stored = try db.connection.execute("""
            SELECT (SELECT string_agg(k, ' ' ORDER BY k) FROM jsonb_object_keys(new_row) k), new_row->>'a', new_row->>'b',
                   new_row->>'d' LIKE 'hmac-sha256:%', changed_columns::text
            FROM walaudit.event_log WHERE operation = 'INSERT'
            """).rows
        #expect(stored == [["a b d id", "A", "B", "t", "{id,a,b,d}"]])
        #expect(try db.connection.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row::text LIKE '%secret%'").scalar == "0")

        // The comma form for two columns names one that does not exist: refused, with the form that works.
        let commaList = try WalauditBinary.run(["attach", "t", "--exclude", "a,c"] + harness.connectionArguments)
        #expect(commaList.status == 2)
        #expect(commaList.stderr.contains("no such column") && commaList.stderr.contains("--exclude a --exclude b"), "\(commaList.stderr)")
        #expect(try db.connection.execute("SELECT exclude_columns::text FROM walaudit.attached_tables").scalar == #"{"a,b",c}"#)
    }

    /// A configuration changed inside a transaction applies from that point
    /// of it on: the rows written before the new exclusion keep the column,
    /// those after it lose it.
    @Test func anExclusionAddedMidTransactionAppliesFromThere() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE cards (id integer PRIMARY KEY, pan text, holder text)")
        try harness.expectSuccess(["attach", "cards"])
        let worker = try harness.startWorker()
        try db.connection.execute("""
            BEGIN;
            INSERT INTO cards VALUES (1, 'before', 'A');
            SELECT walaudit.attach('cards', exclude_columns => '{pan}');
            INSERT INTO cards VALUES (2, 'after', 'B');
            UPDATE cards SET holder = 'C' WHERE id = 1;
            COMMIT;
            """)
        try harness.waitForEvents(atLeast: 5)
        #expect(worker.stop() == 0, "\(worker.log)")
        let rows = try db.connection.execute("""
            SELECT operation, new_row->>'pan', new_row->>'holder' FROM walaudit.event_log
            WHERE operation IN ('INSERT', 'UPDATE') ORDER BY seq
            """).rows
        #expect(rows == [["INSERT", "before", "A"], ["INSERT", nil, "B"], ["UPDATE", nil, "C"]])
    }
    /// PostgreSQL tells tables apart by the bytes of their names; so does the
    /// worker. "café" spelled with a precomposed é and with e + a combining
    /// accent are two tables: attaching one captures nothing of the other.
    @Test func tablesWhoseNamesDifferOnlyInUnicodeNormalizationStayApart() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed)  // equal as Swift Strings; not as PostgreSQL names
        try db.connection.execute("CREATE TABLE \(SQLText.identifier(composed)) (id integer PRIMARY KEY, v text)")
        try db.connection.execute("CREATE TABLE \(SQLText.identifier(decomposed)) (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", composed])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO \(SQLText.identifier(decomposed)) VALUES (1, 'decomposed'), (2, 'decomposed')")
        try db.connection.execute("INSERT INTO \(SQLText.identifier(composed)) VALUES (1, 'composed')")
        try db.connection.execute("TRUNCATE \(SQLText.identifier(decomposed))")
        try db.connection.execute("UPDATE \(SQLText.identifier(composed)) SET v = 'composed, updated'")
        try harness.waitForEvents(atLeast: 3)
        #expect(worker.stop() == 0, "\(worker.log)")
        let rows = try db.connection.execute("""
            SELECT operation, convert_to(table_name, 'UTF8') = convert_to($1, 'UTF8'), new_row->>'v'
            FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'TRUNCATE') ORDER BY seq
            """, [composed]).rows
        #expect(rows == [["INSERT", "t", "composed"], ["UPDATE", "t", "composed, updated"]])
    }
    /// Columns too are told apart by their bytes, and so are values: the
    /// worker excludes exactly the column named, and a value rewritten into
    /// another Unicode normalization form is a change (Swift's String
    /// equality would call both pairs equal).
    @Test func columnsAndValuesAreComparedByTheirBytes() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        try db.connection.execute("""
            CREATE TABLE menu (id integer PRIMARY KEY, \(SQLText.identifier(composed)) text, \(SQLText.identifier(decomposed)) text, dish text)
            """)
        try harness.expectSuccess(["attach", "menu", "--exclude", composed])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO menu VALUES (1, 'secret', 'kept', $1)", [decomposed])
        try db.connection.execute("UPDATE menu SET dish = $1 WHERE id = 1", [composed])
        try harness.waitForEvents(atLeast: 3)
        #expect(worker.stop() == 0, "\(worker.log)")
        let stored = try db.connection.execute("""
            SELECT operation, (SELECT string_agg(encode(convert_to(k, 'UTF8'), 'hex'), ',' ORDER BY k) FROM jsonb_object_keys(new_row) k),
                   new_row->>$1, encode(convert_to(new_row->>'dish', 'UTF8'), 'hex'),
                   CASE operation WHEN 'INSERT' THEN changed_columns = ARRAY['id', $1, 'dish'] ELSE changed_columns = '{dish}' END
            FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE') ORDER BY seq
            """, [decomposed]).rows
        // Hex, so that the comparison here is by bytes too: café (decomposed), dish, id.
        let keys = "63616665cc81,64697368,6964"
        #expect(stored == [["INSERT", keys, "kept", "63616665cc81", "t"], ["UPDATE", keys, "kept", "636166c3a9", "t"]])
        #expect(try db.connection.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row::text LIKE '%secret%'").scalar == "0")
    }
}
