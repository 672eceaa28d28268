@testable import Decoding
import Foundation
import PostgresClient
import Testing
import TestSupport

/// The parser against real `test_decoding` output: every record the server
/// prints is parsed, and each parsed tuple is compared with the row the
/// table itself holds.
@Suite struct ParserGroundTruthTests {
    static let typesSchema = """
        CREATE SCHEMA myschema;
        CREATE TYPE myschema.mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TYPE public."My Type" AS ENUM ('a b', 'c''d');
        CREATE TYPE public.pair AS (x integer, label text);
        CREATE DOMAIN public.posint AS integer CHECK (VALUE > 0);
        CREATE TABLE public.every_type (
            id integer PRIMARY KEY,
            c_smallint smallint, c_bigint bigint, c_oid oid, c_real real, c_double double precision,
            c_numeric numeric, c_bool boolean, c_bit bit(4), c_varbit bit varying(8),
            c_text text, c_varchar character varying(200), c_char character(5), c_qchar "char", c_name name,
            c_bytea bytea, c_date date, c_timestamp timestamp, c_timestamptz timestamp with time zone,
            c_time time, c_timetz time with time zone, c_interval interval,
            c_uuid uuid, c_inet inet, c_cidr cidr, c_macaddr macaddr, c_money money,
            c_json json, c_jsonb jsonb, c_int_array integer[], c_text_array text[], c_jsonb_array jsonb[],
            c_int4range int4range, c_tstzrange tstzrange, c_pair pair, c_mood myschema.mood,
            c_my "My Type", c_posint posint, c_point point, c_tsvector tsvector
        );
        """

    static let everyTypeRows = #"""
        INSERT INTO every_type VALUES
        (1, 1, 2, 3, 1.5, 2.25, 10.50, true, B'1010', B'101', 'plain', 'v', 'ab', 'q', 'nm',
         '\x00ff27', '2026-11-28', '2026-11-28 05:00:00', '2026-11-28 05:00:00.123456+00',
         '12:34:56', '12:34:56+02', '1 day', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24',
         '10.0.0.0/8', '08:00:2b:01:02:03', '12.34', '{"a": 1}', '{"b": [true, null]}', '{1,2,3}',
         '{"x","y z"}', ARRAY['{"k": 1}'::jsonb], '[1,10)', '[2026-01-01 00:00:00+00,2027-01-01 00:00:00+00)',
         ROW(5, 'x y'), 'happy', 'a b', 7, '(1.5,-2)', 'a:1 b:2'),
        (2, -32768, 9223372036854775807, 4294967295, 'NaN', 1.7976931348623157e308,
         1234567890123456789012345678901234567890.0123456789, false, B'0000', B'', E'it''s "quoted"\n\ttab \\backslash ünïcødé 😀\r\n',
         '''', 'x    ', '"', 'Name With Caps', '\x', '0001-01-01', '294276-12-31 23:59:59.999999',
         '2000-02-29 23:59:59.999999+14', '24:00:00', '00:00:00-15:59', '1 year 2 mons -3 days 04:05:06.7',
         '00000000-0000-0000-0000-000000000000', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '-92233720368547758.08',
         '{"b": [1, 2.0, "x\u00e9"], "a": null, "a": 1}', '{"deep": {"er": {"est": [[[]]], "n": 1e400}}}',
         '{1,NULL,3}', '{"a b","c''d","e\"f",NULL,"NULL",""}', ARRAY['null'::jsonb, '"s"'::jsonb], 'empty', '(,)',
         ROW(NULL, ''), 'sad', 'c''d', 1, '(0,0)', ''),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL),
        (4, 0, -9223372036854775808, 0, 'Infinity', '-Infinity', 'NaN', NULL, NULL, NULL,
         'x'' y[integer]:1 new-tuple: z[text]:''w'' old-key:', E'line\nCOMMIT 12 (at 2026-01-01 00:00:00+00)\ntable public.t: DELETE: (no-tuple-data)',
         NULL, NULL, NULL, NULL, 'infinity', '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, '"just a string"', '[]', '{}', '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (5, NULL, NULL, NULL, '-0', 5e-324, '-0.000000000000000000000000000000000000001', NULL, NULL, NULL, '', '',
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        """#

    static let oddNamesSchema = #"""
        CREATE SCHEMA "Odd ""Schema"". ";
        CREATE TABLE "Odd ""Schema"". "."Tab.le Ü" (
            "Id" integer PRIMARY KEY, "Col Name" text, "UPPER" integer, "ü" text, "we""ird" text,
            "select" text, "new-tuple:" text, "a[b]:c" text, "; DROP TABLE x; --" text
        );
        INSERT INTO "Odd ""Schema"". "."Tab.le Ü" VALUES
            (1, 'a', 1, 'ü', 'w', 'sel', 'nt', 'abc', 'hostile'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        """#

    @Test func everyTypeAndIdentifierMatchesTheTable() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute(Self.typesSchema)
        let slot = try SlotReader.create(on: db)
        try db.connection.execute(Self.everyTypeRows)
        try db.connection.execute(Self.oddNamesSchema)
        let comparator = RowComparator(connection: db.connection)

        let inserts = try slot.changes()
        #expect(inserts.count == 7)
        for change in inserts {
            #expect(change.operation == .insert)
            #expect(change.oldTuple == nil)
            let tuple = try #require(change.newTuple)
            let table = SQLText.qualified(change.relation.schema, change.relation.table)
            let keyColumn = tuple[0].name
            let problems = try comparator.differences(tuple, table: table, keyColumn: keyColumn, key: tuple[0].value.textOutput!)
            #expect(problems.isEmpty, "\(change.relation) \(keyColumn)=\(tuple[0].value): \(problems.joined(separator: "\n"))")
        }
        let oddNames = try #require(inserts.last)
        #expect(oddNames.relation == RelationName(schema: #"Odd "Schema". "#, table: "Tab.le Ü"))
        #expect(oddNames.newTuple?.map(\.name) == ["Id", "Col Name", "UPPER", "ü", #"we"ird"#, "select", "new-tuple:", "a[b]:c", "; DROP TABLE x; --"])

        // The stream's column types are format_type_be's names, compared with the catalog.
        let catalogTypes = try db.connection.execute(
            "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'every_type'::regclass AND attnum > 0 ORDER BY attnum")
        let streamTypes = try #require(inserts.first?.newTuple).map { [$0.name, $0.typeName] }
        #expect(streamTypes == catalogTypes.rows.map { $0.map { $0! } })

        // UPDATE (REPLICA IDENTITY DEFAULT: old-key only when the key changes), then DELETE.
        try db.connection.execute("UPDATE every_type SET c_text = c_text || ' updated', c_numeric = 0.1 WHERE id IN (1, 2)")
        try db.connection.execute("UPDATE every_type SET id = 40 WHERE id = 4")
        let updates = try slot.changes()
        #expect(updates.count == 3)
        for change in updates {
            #expect(change.operation == .update)
            let tuple = try #require(change.newTuple)
            let problems = try comparator.differences(tuple, table: "every_type", keyColumn: "id", key: tuple[0].value.textOutput!)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
        #expect(updates[0].oldTuple == nil)
        #expect(updates[2].oldTuple == [Column(name: "id", typeName: "integer", value: .number("4"))])

        try db.connection.execute("DELETE FROM every_type WHERE id = 40")
        let deletes = try slot.changes()
        #expect(deletes.map(\.operation) == [.delete])
        #expect(deletes.first?.oldTuple == [Column(name: "id", typeName: "integer", value: .number("40"))])
        #expect(deletes.first?.newTuple == nil)
    }

    @Test func replicaIdentityFullAndToast() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute("""
            CREATE TABLE toast_full (id integer PRIMARY KEY, big text, n integer, maybe text);
            ALTER TABLE toast_full REPLICA IDENTITY FULL;
            ALTER TABLE toast_full ALTER COLUMN big SET STORAGE EXTERNAL;
            CREATE TABLE toast_default (id integer PRIMARY KEY, big text, n integer);
            ALTER TABLE toast_default ALTER COLUMN big SET STORAGE EXTERNAL;
            CREATE TABLE no_key (a integer, b text);
            """)
        let slot = try SlotReader.create(on: db)
        try db.connection.execute("""
            INSERT INTO toast_full SELECT i, repeat(md5(i::text), 400), i, CASE WHEN i = 1 THEN NULL ELSE 'm' END
              FROM generate_series(1, 2) i;
            INSERT INTO toast_default SELECT i, repeat(md5(i::text), 400), i FROM generate_series(1, 2) i;
            INSERT INTO no_key VALUES (1, 'one'), (2, NULL);
            """)
        #expect(try slot.changes().count == 6)

        // An UPDATE that leaves the TOASTed text alone.
        // A temporary table is not WAL-logged, so the snapshot adds nothing to the stream.
        try db.connection.execute("CREATE TEMP TABLE toast_full_before AS SELECT * FROM toast_full")
        try db.connection.execute("UPDATE toast_full SET n = n + 100; UPDATE toast_default SET n = n + 100; UPDATE no_key SET b = 'changed'")
        let updates = try slot.changes()
        #expect(updates.count == 6)
        let comparator = RowComparator(connection: db.connection)
        for change in updates where change.relation.table == "toast_full" {
            let new = try #require(change.newTuple)
            #expect(new.first(where: { $0.name == "big" })?.value == .unchangedToast, "the stream does not resend an untouched TOAST value")
            // With REPLICA IDENTITY FULL the old image holds every non-NULL column, so the new row is complete.
            let completed = try #require(change.completedNewTuple())
            #expect(!completed.contains { $0.value == .unchangedToast })
            let key = new[0].value.textOutput!
            #expect(try comparator.differences(completed, table: "toast_full", keyColumn: "id", key: key).isEmpty)
            let old = try #require(change.oldTuple)
            #expect(try comparator.differences(old, table: "toast_full_before", keyColumn: "id", key: key).isEmpty)
            // Old images omit NULL columns.
            let nullsBefore = try db.connection.execute("SELECT maybe IS NULL FROM toast_full_before WHERE id = $1", [key]).scalar
            #expect(old.contains { $0.name == "maybe" } == (nullsBefore == "f"))
        }
        for change in updates where change.relation.table == "toast_default" {
            #expect(change.oldTuple == nil)
            let completed = try #require(change.completedNewTuple())
            #expect(completed.first(where: { $0.name == "big" })?.value == .unchangedToast, "no old image to fill it from")
            #expect(try comparator.differences(completed, table: "toast_default", keyColumn: "id",
                                               key: completed[0].value.textOutput!, skip: ["big"]).isEmpty)
        }
        for change in updates where change.relation.table == "no_key" {
            #expect(change.oldTuple == nil)
            #expect(change.newTuple?.last?.value == .text("changed"))
        }

        try db.connection.execute("DELETE FROM no_key; DELETE FROM toast_full WHERE id = 2")
        let deletes = try slot.changes()
        #expect(deletes.count == 3)
        for change in deletes where change.relation.table == "no_key" {
            #expect(change.oldTuple == nil, "(no-tuple-data): a table without a key says only that a row went")
        }
        let fullDelete = try #require(deletes.first { $0.relation.table == "toast_full" })
        let old = try #require(fullDelete.oldTuple)
        #expect(old.map(\.name) == ["id", "big", "n", "maybe"])
        #expect(try comparator.differences(old, table: "toast_full_before", keyColumn: "id", key: "2", skip: ["n"]).isEmpty)
    }

    @Test func truncateTransactionsAndMessages() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute("""
            CREATE TABLE parent (id serial PRIMARY KEY);
            CREATE TABLE child (id serial PRIMARY KEY, parent_id integer REFERENCES parent);
            CREATE TABLE "Other Table" (id integer);
            """)
        let slot = try SlotReader.create(on: db)
        let before = try db.connection.execute("SELECT clock_timestamp()").scalar!
        try db.connection.execute("BEGIN")
        let xid = try db.connection.execute("SELECT txid_current()").scalar!
        try db.connection.execute("""
            SELECT pg_logical_emit_message(true, 'walaudit', E'line1\\ntable public.x: INSERT: id[integer]:1\\nCOMMIT 5');
            INSERT INTO parent DEFAULT VALUES;
            INSERT INTO child (parent_id) VALUES (1);
            SELECT pg_logical_emit_message(false, 'odd, sz: 3 content:prefix', 'abc');
            SELECT pg_logical_emit_message(true, 'bin', '\\x00ff0a41'::bytea);
            TRUNCATE parent, "Other Table" RESTART IDENTITY CASCADE;
            COMMIT;
            """)
        let after = try db.connection.execute("SELECT clock_timestamp()").scalar!
        // A transaction with nothing but a transactional message: no BEGIN/COMMIT at all.
        try db.connection.execute("BEGIN; SELECT pg_logical_emit_message(true, 'alone', 'only me'); COMMIT;")

        let records = try slot.records().map(\.record)
        let expectedXid = UInt32(xid)
        // A non-transactional message is printed when decoded; transactional
        // ones when their transaction is replayed, those before its first
        // change ahead of BEGIN (PRODUCT.md §2).
        #expect(records.count == 9)
        guard records.count == 9 else { return }
        #expect(records[0] == .message(LogicalMessage(transactional: false, prefix: "odd, sz: 3 content:prefix", content: Array("abc".utf8))))
        #expect(records[1] == .message(LogicalMessage(transactional: true, prefix: "walaudit",
                                                      content: Array("line1\ntable public.x: INSERT: id[integer]:1\nCOMMIT 5".utf8))))
        #expect(records[2] == .begin(xid: expectedXid))
        let parent = RelationName(schema: "public", table: "parent"), child = RelationName(schema: "public", table: "child")
        #expect(records[3] == .change(RowChange(relation: parent, operation: .insert, oldTuple: nil,
                                                newTuple: [Column(name: "id", typeName: "integer", value: .number("1"))])))
        #expect(records[4] == .change(RowChange(relation: child, operation: .insert, oldTuple: nil,
                                                newTuple: [Column(name: "id", typeName: "integer", value: .number("1")),
                                                           Column(name: "parent_id", typeName: "integer", value: .number("1"))])))
        #expect(records[5] == .message(LogicalMessage(transactional: true, prefix: "bin", content: [0x00, 0xFF, 0x0A, 0x41])))
        #expect(records[6] == .truncate(Truncate(relations: [parent, RelationName(schema: "public", table: "Other Table"), child],
                                                 restartSeqs: true, cascade: true)))
        guard case .commit(let commitXid, let time?) = records[7] else {
            Issue.record("expected COMMIT, got \(records[7])")
            return
        }
        #expect(commitXid == expectedXid)
        let bounds = try db.connection.execute(
            "SELECT extract(epoch FROM $1::timestamptz) * 1000000, extract(epoch FROM $2::timestamptz) * 1000000", [before, after])
        let low = Int64(Double(bounds.rows[0][0]!)!), high = Int64(Double(bounds.rows[0][1]!)!)
        #expect((low...high).contains(time.microsecondsSinceEpoch))
        #expect(records[8] == .message(LogicalMessage(transactional: true, prefix: "alone", content: Array("only me".utf8))))
    }

    @Test func commitTimesAreTheSameInstantInAnyTimeZone() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute("CREATE TABLE t (id integer)")
        let slot = try SlotReader.create(on: db)
        try db.connection.execute("INSERT INTO t VALUES (1)")
        var commitTimes: [PostgresTimestamp] = []
        for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"] {
            try db.connection.execute("SET TimeZone = " + SQLText.literal(zone))
            let raw = try slot.records(peek: true).compactMap { r -> (String, PostgresTimestamp)? in
                if case .commit(_, let time?) = r.record { (String(decoding: r.raw, as: UTF8.self), time) } else { nil }
            }
            #expect(raw.count == 1)
            if let (text, time) = raw.first {
                commitTimes.append(time)
                if zone == "UTC" { #expect(text.hasSuffix("+00)")) }
            }
        }
        #expect(Set(commitTimes).count == 1)
    }

    @Test func twoPhaseCommitLines() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        let slot = try SlotReader.create(on: db, twoPhase: true)
        try db.connection.execute("BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'tx ''one''';")
        try db.connection.execute("COMMIT PREPARED 'tx ''one'''")
        try db.connection.execute("BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'two';")
        try db.connection.execute("ROLLBACK PREPARED 'two'")
        let records = try slot.records().map(\.record)
        let kinds = records.map { record -> String in
            switch record {
            case .begin: "BEGIN"
            case .change: "change"
            case .prepare(let p): "PREPARE \(p.gid)"
            case .commitPrepared(let p): "COMMIT PREPARED \(p.gid)"
            case .rollbackPrepared(let p): "ROLLBACK PREPARED \(p.gid)"
            default: "other"
            }
        }
        #expect(kinds == ["BEGIN", "change", "PREPARE tx 'one'", "COMMIT PREPARED tx 'one'",
                          "BEGIN", "change", "PREPARE two", "ROLLBACK PREPARED two"])
        for record in records {
            if case .prepare(let p) = record { #expect(p.xid != nil && p.time != nil) }
            if case .commitPrepared(let p) = record { #expect(p.xid != nil && p.time != nil) }
        }
    }

    /// The comparator the tests above rely on must notice a wrong value.
    @Test func comparatorNoticesAWrongValue() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, n numeric, s text, b boolean); INSERT INTO t VALUES (1, 1.5, 'x', true)")
        let comparator = RowComparator(connection: db.connection)
        let right = [Column(name: "id", typeName: "integer", value: .number("1")),
                     Column(name: "n", typeName: "numeric", value: .number("1.5")),
                     Column(name: "s", typeName: "text", value: .text("x")),
                     Column(name: "b", typeName: "boolean", value: .boolean(true))]
        #expect(try comparator.differences(right, table: "t", keyColumn: "id", key: "1").isEmpty)
        for (index, wrong) in [(1, Datum.number("1.50")), (1, .text("1.5")), (2, .text("y")), (2, .null), (3, .boolean(false))] {
            var tuple = right
            tuple[index].value = wrong
            #expect(try !comparator.differences(tuple, table: "t", keyColumn: "id", key: "1").isEmpty, "\(wrong) went unnoticed")
        }
    }
}
