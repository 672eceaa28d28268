import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// Drills of issue 8: network cuts and hostile names in the capture path,
/// each ending in the store compared with the server's own data.
@Suite(.tags(.drill)) struct FaultDrillTests {
    /// The walsender is terminated (a network cut, as the server sees it)
    /// again and again while pgbench writes: every committed change is
    /// stored once, in order, and the chain verifies.
    @Test func walsenderTerminatedMidStreamLosesAndDuplicatesNothing() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try harness.attachPgbench()
        let worker = try harness.startWorker()
        let transactions = 4 * 300
        let pgbench = try harness.spawnPgbench(transactionsPerClient: 300)
        var random = SeededRandom()
        var cuts = 0
        var finished = false
        while !finished || cuts < 10 {
            random.pause(0.1...0.4)
            let ended = try db.connection.execute("""
                SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL
                """, [harness.slot]).scalar
            if ended == "1" { cuts += 1 }
            var status: Int32 = 0
            if !finished && waitpid(pgbench.pid, &status, WNOHANG) == pgbench.pid {
                finished = true
                #expect((status >> 8) & 0xFF == 0)
            }
        }
        try harness.waitForEvents(atLeast: 4 + 4 * transactions, timeout: 120)
        try harness.waitForConfirmationOfCurrentWAL()  // a duplicate would be stored by now
        #expect(worker.stop() == 0, "\(random): \(worker.log)")
        #expect(worker.log.contains("retrying"), "the cuts were noticed")
        let counts = try db.connection.execute("""
            SELECT table_name, count(*), count(DISTINCT (lsn, lsn_position)) FROM walaudit.event_log
            WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') GROUP BY 1 ORDER BY 1
            """).rows
        let expected = ["pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"]
            .map { [$0, String(transactions), String(transactions)] }
        #expect(counts == expected, "after \(cuts) cuts, \(random)")
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// Schema, table and column names with quotes, semicolons, spaces,
    /// UTF-8 and keywords, and values that look like SQL: captured with the
    /// right names and exactly the values the table holds.
    @Test func hostileNamesAndValuesAreCapturedVerbatim() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let schema = "Ünïcode \"schema\"; --"
        let table = "\"; DROP TABLE x; --"
        let qualified = SQLText.qualified(schema, table)
        try db.connection.execute("""
            CREATE TABLE x (id integer);
            CREATE SCHEMA \(SQLText.identifier(schema));
            CREATE TABLE \(qualified) (\(SQLText.identifier("select")) integer PRIMARY KEY,
                \(SQLText.identifier("col with \"quotes\", spaces; and ✓")) text, \(SQLText.identifier("ORDER")) jsonb);
            """)
        let attached = try WalauditBinary.run(["attach", qualified] + harness.connectionArguments)
        #expect(attached.status == 0, "\(attached.stderr)")
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO \(qualified) VALUES (1, $1, $2::jsonb)",
                                  ["'); DROP TABLE x; -- \u{1}\t\n\\ ✓ \u{7f}", #"{"deep": [[[[{"k\"ey": "v;--"}]]]], "n": 1.50}"#])
        try db.connection.execute("UPDATE \(qualified) SET \(SQLText.identifier("ORDER")) = NULL")
        // JSON nested 500 deep: stored and hashed like any other value.
        try db.connection.execute("INSERT INTO \(qualified) VALUES (2, NULL, (repeat('[', 500) || '{\"deep\": true}' || repeat(']', 500))::jsonb)")
        try harness.waitForEvents(atLeast: 4)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try db.connection.execute("SELECT count(*) FROM pg_class WHERE relname = 'x'").scalar == "1")
        // Names as the catalog has them; images equal to the table's own rows.
        let stored = try db.connection.execute("""
            SELECT schema_name, table_name, operation, operation = 'INSERT' OR new_row = (SELECT to_jsonb(t) FROM \(qualified) t WHERE t.\(SQLText.identifier("select")) = 1)
            FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE') AND row_key->>'select' = '1' ORDER BY seq
            """).rows
        #expect(stored.map { [$0[0], $0[1], $0[2]] } == [[schema, table, "INSERT"], [schema, table, "UPDATE"]])
        #expect(stored.last?[3] == "t", "the UPDATE's image is the row as the table holds it: \(stored)")
        #expect(try db.connection.execute("""
            SELECT e.new_row = to_jsonb(t) FROM walaudit.event_log e, \(qualified) t
            WHERE e.row_key->>'select' = '2' AND t.\(SQLText.identifier("select")) = 2
            """).scalar == "t", "the deep document is stored as the table holds it")
        let insertImage = try db.connection.execute("""
            SELECT new_row = jsonb_build_object('select', 1, 'col with "quotes", spaces; and ✓', $1::text, 'ORDER', $2::jsonb)
            FROM walaudit.event_log WHERE operation = 'INSERT' AND row_key->>'select' = '1'
            """, ["'); DROP TABLE x; -- \u{1}\t\n\\ ✓ \u{7f}", #"{"deep": [[[[{"k\"ey": "v;--"}]]]], "n": 1.50}"#]).scalar
        #expect(insertImage == "t")
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// A table's owner (no superuser) switches the actor trigger off: that
    /// is itself a DDL event naming the owner, and the changes made while it
    /// is off are still captured, with the actor unknown.
    @Test func disablingTheActorTriggerIsItselfAnEvent() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let owner = "owner_\(db.name)"
        try db.connection.execute("CREATE ROLE \(owner) LOGIN; CREATE TABLE t (id integer PRIMARY KEY); ALTER TABLE t OWNER TO \(owner)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        let asOwner = try Connection(db.cluster.conninfo(database: db.name, user: owner))
        try asOwner.execute("INSERT INTO t VALUES (1)")
        try asOwner.execute("ALTER TABLE t DISABLE TRIGGER walaudit_actor")
        try asOwner.execute("INSERT INTO t VALUES (2)")
        try harness.waitForEvents(atLeast: 4)  // attach, insert, the DDL, insert
        #expect(worker.stop() == 0, "\(worker.log)")
        let events = try db.connection.execute("""
            SELECT operation, coalesce(row_key::text, new_row->>'command_tag'), coalesce(db_user, '?'), coalesce(role_name, '?')
            FROM walaudit.events WHERE seq > 1 ORDER BY seq
            """).rows
        #expect(events == [["INSERT", #"{"id": 1}"#, owner, owner], ["DDL", "ALTER TABLE", owner, owner], ["INSERT", #"{"id": 2}"#, "?", "?"]],
                "\(events)")
    }

    /// A `walaudit.actor` message with garbage content (only a role that
    /// still may call pg_logical_emit_message can send one): it is refused
    /// with a warning, the transaction's changes are all kept, and what
    /// follows it is recorded with the actor unknown, never a forged one,
    /// until the session's next actor change (the trigger emits a message
    /// per actor change and knows nothing of one forged in between).
    @Test func garbageActorMessagesLoseNothingAndCreditNobody() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        try db.connection.execute("""
            BEGIN;
            INSERT INTO t VALUES (1);
            -- emitted mid-statement, after the statement's own actor message
            INSERT INTO t SELECT 2 WHERE pg_logical_emit_message(true, 'walaudit.actor', '{"v": 1, "xid": "oops"}') IS NOT NULL;
            INSERT INTO t SELECT 3 WHERE pg_logical_emit_message(true, 'walaudit.actor', '\\xfffe00'::bytea) IS NOT NULL;
            SELECT walaudit.set_actor('recovered');
            INSERT INTO t VALUES (4);
            -- well-formed, but with values the store's inet and integer columns refuse
            INSERT INTO t SELECT 5 WHERE pg_logical_emit_message(true, 'walaudit.actor', json_build_object(
                'v', 1, 'xid', pg_current_xact_id()::text, 'session_user', 'forged', 'client_addr', 'not-an-address')::text) IS NOT NULL;
            INSERT INTO t SELECT 6 WHERE pg_logical_emit_message(true, 'walaudit.actor', json_build_object(
                'v', 1, 'xid', pg_current_xact_id()::text, 'session_user', 'forged', 'client_port', 99999999999)::text) IS NOT NULL;
            -- a mask PostgreSQL itself would refuse, though a lenient parser reads it
            INSERT INTO t SELECT 7 WHERE pg_logical_emit_message(true, 'walaudit.actor', json_build_object(
                'v', 1, 'xid', pg_current_xact_id()::text, 'session_user', 'forged', 'client_addr', '10.0.0.1/+8')::text) IS NOT NULL;
            INSERT INTO t VALUES (8);
            SELECT walaudit.set_actor(NULL);
            INSERT INTO t VALUES (9);
            COMMIT;
            """)
        try harness.waitForEvents(atLeast: 10)
        #expect(worker.stop() == 0)
        #expect(worker.log.contains("ignored a malformed walaudit.actor message"), "\(worker.log)")
        let superuser = try db.connection.execute("SELECT session_user").scalar!
        let actors = try db.connection.execute("""
            SELECT row_key->>'id', coalesce(app_user, db_user, 'unknown') FROM walaudit.events WHERE operation = 'INSERT' ORDER BY seq
            """).rows
        #expect(actors == [["1", superuser], ["2", "unknown"], ["3", "unknown"], ["4", "recovered"],
                           ["5", "unknown"], ["6", "unknown"], ["7", "unknown"], ["8", "unknown"], ["9", superuser]], "\(actors)")
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// A 100 MB text value goes through the stream, the store and both
    /// verifiers intact (its digest is checked against the stored value).
    @Test func hundredMegabyteValueIsStoredWhole() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE big (id integer PRIMARY KEY, body text)")
        try harness.expectSuccess(["attach", "big"])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO big SELECT 1, repeat('0123456789abcdef', 100 * 65536) || '✓'")
        try harness.waitForEvents(atLeast: 2, timeout: 120)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try db.connection.execute("""
            SELECT e.new_row->>'body' = b.body, length(e.new_row->>'body') FROM walaudit.event_log e, big b WHERE e.operation = 'INSERT'
            """).rows == [["t", String(100 * 1_048_576 + 1)]])
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// 30 more SIGKILLs (50 across the suite with CrashTests), with
    /// checkpoints signed every few events and every 50 ms so that kills
    /// also land during batch commits and checkpoint signing: every change
    /// once, and the chain holds against the signed checkpoint file.
    @Test func killsDuringCommitsAndCheckpointSigning() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let directory = NSTemporaryDirectory() + "/walaudit-kills-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(try WalauditBinary.run(["keygen", "--out", directory + "/key"]).status == 0)
        let checkpointArguments = ["--checkpoint-dir", directory + "/checkpoints", "--signing-key", directory + "/key",
                                   "--checkpoint-every", "20", "--checkpoint-interval", "0.05"]
        try harness.attachPgbench()
        let transactions = 4 * 250
        let pgbench = try harness.spawnPgbench(transactionsPerClient: 250)
        var random = SeededRandom()
        var kills = 0
        var finished = false
        while kills < 30 || !finished {
            let worker = try harness.startWorker(checkpointArguments)
            random.pause(0.05...0.4)
            worker.kill()
            kills += 1
            var status: Int32 = 0
            if !finished && waitpid(pgbench.pid, &status, WNOHANG) == pgbench.pid {
                finished = true
                #expect((status >> 8) & 0xFF == 0)
            }
        }
        let worker = try harness.startWorker(checkpointArguments)
        try harness.waitForEvents(atLeast: 4 + 4 * transactions, timeout: 120)
        try harness.waitForConfirmationOfCurrentWAL()  // a duplicate would be stored by now
        #expect(worker.stop() == 0, "\(random): \(worker.log)")
        let counts = try db.connection.execute("""
            SELECT count(*), count(DISTINCT (lsn, lsn_position)) FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE')
            """).rows
        #expect(counts == [[String(4 * transactions), String(4 * transactions)]], "after \(kills) kills, \(random)")
        let checked = try WalauditBinary.run(["verify", "--checkpoints", directory + "/checkpoints", "--public-key", directory + "/key.pub"]
                                             + harness.connectionArguments)
        #expect(checked.status == 0, "\(String(decoding: checked.stdout, as: UTF8.self)) \(checked.stderr)")
    }

    /// The store cannot take more events (SQLSTATE 53100, as a full disk
    /// reports it; raised here by a trigger on the event log, since this
    /// machine has no small filesystem to fill): the worker stores nothing,
    /// confirms nothing past what it stored, says why, and resumes without
    /// loss once there is room again.
    @Test func fullStoreStopsTheSlotAndResumesWithoutLoss() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("""
            CREATE TABLE t (id integer PRIMARY KEY);
            CREATE TABLE disk (is_full boolean NOT NULL);
            INSERT INTO disk VALUES (false);
            CREATE FUNCTION fill_disk() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
            BEGIN
                IF (SELECT is_full FROM public.disk) THEN
                    RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER full_disk BEFORE INSERT ON walaudit.event_log FOR EACH ROW EXECUTE FUNCTION fill_disk();
            ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER full_disk;
            """)
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t SELECT generate_series(1, 10)")
        try harness.waitForEvents(atLeast: 11)
        try db.connection.execute("UPDATE disk SET is_full = true")
        try db.connection.execute("INSERT INTO t SELECT generate_series(11, 60)")
        // Until the worker has met the full disk (not a fixed pause): then nothing more may be stored.
        let deadline = Date().addingTimeInterval(30)
        while !worker.log.contains("No space left on device") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(worker.log.contains("No space left on device"), "\(worker.log)")
        #expect(try db.connection.execute("SELECT count(*) FROM walaudit.event_log").scalar == "11")
        let confirmedDuringOutage = try db.connection.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar!
        try db.connection.execute("UPDATE disk SET is_full = false")
        try harness.waitForEvents(atLeast: 61, timeout: 60)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try db.connection.execute("""
            SELECT count(*), count(DISTINCT row_key) FROM walaudit.event_log WHERE operation = 'INSERT'
            """).rows == [["60", "60"]])
        // While the store was full the slot stayed before the unstored transaction's commit.
        #expect(try db.connection.execute("""
            SELECT $1::pg_lsn < min(lsn) FROM walaudit.event_log WHERE operation = 'INSERT' AND (row_key->>'id')::int > 10
            """, [confirmedDuringOutage]).scalar == "t")
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// The audit store's own PostgreSQL server stopped for 30 s while the
    /// source keeps writing: the worker retries, confirms nothing it has not
    /// stored, and afterwards every change is there once.
    @Test func storeServerStoppedForThirtySeconds() throws {
        let storeCluster = try ThrowawayCluster()
        defer { storeCluster.shutdown() }
        let source = try TestServer.freshDatabase()
        let target = storeCluster.conninfo(database: try storeCluster.createDatabase(prefix: "store"))
        let slot = String(source.name.prefix(60))
        let connection = ["--source", source.conninfo, "--target", target, "--slot", slot]
        #expect(try WalauditBinary.run(["setup"] + connection).status == 0)
        try source.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        #expect(try WalauditBinary.run(["attach", "t"] + connection).status == 0)
        let worker = try WorkerProcess(arguments: ["run"] + connection)
        func stored() -> Int { (try? Int(Connection(target).execute("SELECT count(*) FROM walaudit.event_log").scalar ?? "0") ?? 0) ?? 0 }
        func waitFor(_ count: Int) throws {
            let deadline = Date().addingTimeInterval(90)
            while stored() < count {
                guard Date() < deadline else { throw HarnessError("the store has \(stored()) of \(count) events: \(worker.log)") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        var next = 0
        func write(_ count: Int) throws {
            for _ in 0..<count {
                next += 1
                try source.connection.execute("INSERT INTO t VALUES ($1)", [String(next)])
            }
        }
        try write(20)
        try waitFor(21)
        try storeCluster.stop(mode: .fast)
        let outageEnds = Date().addingTimeInterval(30)
        while Date() < outageEnds {
            try write(5)
            Thread.sleep(forTimeInterval: 1)
        }
        try storeCluster.start()
        try write(5)
        try waitFor(1 + next)
        try WalauditHarness.waitForConfirmationOfCurrentWAL(source: source.connection, slot: slot)  // a duplicate would be stored by now
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(worker.log.contains("retrying"), "the outage was noticed")
        #expect(try Connection(target).execute("""
            SELECT count(*), count(DISTINCT row_key), min((row_key->>'id')::int), max((row_key->>'id')::int)
            FROM walaudit.event_log WHERE operation = 'INSERT'
            """).rows == [[String(next), String(next), "1", String(next)]])
        #expect(try WalauditBinary.run(["verify"] + connection).status == 0)
    }
}
