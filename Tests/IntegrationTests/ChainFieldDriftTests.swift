import AuditStore
import Decoding
import Ledger
import PostgresClient
import Testing
import TestSupport

/// The SQL verifier (`walaudit.chain_hash`, sql/store/004) spells the chain's
/// field order out once more; everything in Swift derives from `EventField`.
/// This drill keeps the two together: on events whose every field is
/// non-NULL and distinct, both verifiers call the untampered chain intact
/// (a field swapped or forgotten on one side breaks that), and for each
/// field of the table, tampering exactly its column makes both report the
/// same seq and the same problem (a field one side does not hash breaks
/// that).
@Suite struct ChainFieldDriftTests {
    /// Three events with every field set, to values no two fields share.
    static func events() -> [AuditEvent] {
        (1...3).map { i in
            let actor = Actor(dbUser: "u_db_\(i)", roleName: "r_role_\(i)", appUser: "a_app_\(i)",
                              appContext: .object([.init("ctx", .number(String(i)))]), applicationName: "n_application_\(i)",
                              clientAddr: "10.1.2.\(i)", clientPort: 5000 + Int64(i), backendPID: 6000 + Int64(i))
            return AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_000_123_456 + Int64(i) * 1_000_001),
                              operation: .update, schemaName: "s_schema_\(i)", tableName: "t_table_\(i)",
                              changedColumns: ["c1_\(i)", i == 2 ? nil : "c2_\(i)", "c3_\(i)"], actor: actor, xid: 7000 + Int64(i),
                              lsn: LSN(UInt64(i) << 32 | 0x100), lsnPosition: 8000 + Int64(i),
                              rowKey: .object([.init("k", .number(String(i)))]),
                              oldRow: .object([.init("o", .string("old \(i)"))]),
                              newRow: .object([.init("n", .string("new \(i)"))]))
        }
    }

    /// An UPDATE that changes exactly `field`'s column of the row it selects.
    static func tampering(_ field: EventField) -> String {
        let column = field.name
        if field == .operation { return "\(column) = CASE \(column) WHEN 'UPDATE' THEN 'DELETE' ELSE 'UPDATE' END" }  // a CHECK holds it
        switch field.columnType {
        case .bigint, .integer, .inet, .pgLSN: return "\(column) = \(column) + 1"
        case .timestamptz: return "\(column) = \(column) + interval '1 microsecond'"
        case .text: return "\(column) = \(column) || 'x'"
        case .textArray: return "\(column) = \(column) || 'x'::text"
        case .jsonb: return "\(column) = \(column) || '{\"tampered\": true}'"
        case .bytea: return "\(column) = \(column) || '\\x00'::bytea"
        }
    }

    /// What each verifier reports, as (ok, first bad seq, problem).
    struct Finding: Equatable, CustomStringConvertible {
        var ok: Bool
        var firstBadSeq: Int64?
        var problem: String?
        var description: String { ok ? "intact" : "seq \(firstBadSeq.map(String.init) ?? "nil"): \(problem ?? "")" }
    }

    static func sqlVerify(_ store: Connection, fromSeq: Int64?) throws -> Finding {
        let row = try store.execute("SELECT ok, first_bad_seq, problem FROM walaudit.verify_chain($1)", [fromSeq.map(String.init)]).rows[0]
        return Finding(ok: row[0] == "t", firstBadSeq: row[1].flatMap { Int64($0) }, problem: row[2])
    }

    /// The store verifier, in the connection's open transaction (which holds the tampering).
    static func swiftVerify(_ store: Connection, fromSeq: Int64?) throws -> Finding {
        var verifier = fromSeq.map { ChainVerifier(fromSeq: $0, previousHash: nil) } ?? ChainVerifier()
        try EventReader(connection: store).forEach(fromSeq: fromSeq, inOpenTransaction: true) { try verifier.check($0) }
        verifier.finish()
        return Finding(ok: verifier.report.ok, firstBadSeq: verifier.report.firstBadSeq, problem: verifier.report.problem)
    }

    @Test func sqlAndSwiftVerifiersHashTheSameFieldsInTheSameOrder() throws {
        let harness = try WalauditHarness.make()
        let store = harness.database.connection  // a superuser
        let writer = EventStore(connection: store)
        try store.execute("BEGIN")
        var chain = try writer.lockChain()
        for event in Self.events() { try writer.write(chain.append(event)) }
        try writer.finishCopy()
        try store.execute("COMMIT")
        let last = chain.seq
        let middle = last - 1

        // Every stored field is there: a NULL would hide a field from this drill.
        let nulls = try store.execute("SELECT num_nulls(\(EventField.stored.map(\.name).joined(separator: ", "))) FROM walaudit.event_log WHERE seq = $1",
                                      [String(middle)]).scalar
        #expect(nulls == "0")

        try store.execute("BEGIN")
        #expect(try Self.sqlVerify(store, fromSeq: nil) == Finding(ok: true), "the SQL verifier disagrees with Swift on an intact chain")
        #expect(try Self.swiftVerify(store, fromSeq: nil) == Finding(ok: true))
        try store.execute("ROLLBACK")

        for field in EventField.stored {
            // seq: the last event renumbered, read as a range from its new seq
            // (no link to check there), so only the hash can tell.
            let (seq, fromSeq): (Int64, Int64?) = field == .seq ? (last + 1, last + 1) : (middle, nil)
            let expected = switch field {
            case .prevHash: "link broken"
            case .payloadDigest, .payloadSalt, .rowKey, .oldRow, .newRow: "payload altered"
            default: "event altered"
            }
            try store.execute("BEGIN")
            defer { _ = try? store.execute("ROLLBACK") }
            try store.execute("""
                ALTER TABLE walaudit.event_log DISABLE TRIGGER ALL;
                UPDATE walaudit.event_log SET \(Self.tampering(field)) WHERE seq = \(field == .seq ? last : middle)
                """)
            let sql = try Self.sqlVerify(store, fromSeq: fromSeq)
            let swift = try Self.swiftVerify(store, fromSeq: fromSeq)
            #expect(swift.firstBadSeq == seq && swift.problem?.hasPrefix(expected) == true, "\(field.name): Swift says \(swift)")
            #expect(sql.firstBadSeq == seq && sql.problem?.hasPrefix(expected) == true, "\(field.name): SQL says \(sql)")
            #expect(sql == swift, "\(field.name): SQL says \(sql), Swift says \(swift)")
        }

        // Values with no encoding (docs/chain-format.md): the same finding from both.
        for (what, tampering) in Self.unencodable {
            try store.execute("BEGIN")
            defer { _ = try? store.execute("ROLLBACK") }
            try store.execute("""
                ALTER TABLE walaudit.event_log DISABLE TRIGGER ALL;
                UPDATE walaudit.event_log SET \(tampering) WHERE seq = \(middle)
                """)
            let sql = try Self.sqlVerify(store, fromSeq: nil)
            let swift = try Self.swiftVerify(store, fromSeq: nil)
            #expect(swift.firstBadSeq == middle && swift.problem?.hasPrefix("event altered: \(what)") == true, "\(what): Swift says \(swift)")
            #expect(sql == swift, "\(what): SQL says \(sql), Swift says \(swift)")
        }
    }

    /// Stored values the chain has no encoding for: the field, and an UPDATE storing one.
    static let unencodable: [(String, String)] = [
        ("event_time", "event_time = 'infinity'"), ("event_time", "event_time = '-infinity'"),
        ("event_time", "event_time = '294247-01-10 04:00:54.775808+00'"),  // a microsecond past the last encodable one
        ("changed_columns", "changed_columns = ARRAY[changed_columns]"),  // the same elements, two dimensions
        ("changed_columns", "changed_columns = ('[0:2]=' || changed_columns::text)::text[]"),  // lower bound 0
    ]
}
