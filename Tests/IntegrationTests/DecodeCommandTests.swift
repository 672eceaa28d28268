import Decoding
import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// `walaudit decode` through the real binary, fed by the real `pg_recvlogical`.
@Suite struct DecodeCommandTests {
    @Test func decodesWhatPgRecvlogicalWrites() throws {
        let db = try TestServer.freshDatabase()
        try db.connection.execute(ParserGroundTruthTests.typesSchema)
        let slot = try SlotReader.create(on: db)
        try db.connection.execute(ParserGroundTruthTests.everyTypeRows)
        try db.connection.execute(ParserGroundTruthTests.oddNamesSchema)
        try db.connection.execute("""
            SELECT pg_logical_emit_message(true, 'walaudit', E'two\\nlines, sz: 3 content:abc');
            UPDATE every_type SET c_text = E'new\\nline' WHERE id = 1;
            DELETE FROM every_type WHERE id = 3;
            TRUNCATE "Odd ""Schema"". "."Tab.le Ü";
            """)
        let endLSN = try db.connection.execute("SELECT pg_current_wal_lsn()").scalar!
        // pg_recvlogical clears search_path (as every client tool does since
        // CVE-2018-1058), so format_type_be qualifies non-catalog types;
        // read the ground truth the same way.
        try db.connection.execute("SET search_path = ''")
        let truth = try slot.records(peek: true).map { try $0.record.json() }
        #expect(truth.count > 10)

        let cluster = db.cluster
        let recvlogical = try ChildProcess.run([
            cluster.binDirectory + "/pg_recvlogical", "-d", db.conninfo, "--slot", slot.slot, "--start",
            "--endpos", endLSN, "--no-loop", "-o", "include-xids=1", "-o", "include-timestamp=1",
            "-o", "skip-empty-xacts=1", "-f", "-",
        ])
        #expect(recvlogical.status == 0, "\(String(decoding: recvlogical.stderr, as: UTF8.self))")

        let decoded = try WalauditBinary.run(["decode"], input: recvlogical.stdout)
        #expect(decoded.status == 0, "\(decoded.stderr)")
        let lines = String(decoding: decoded.stdout, as: UTF8.self).split(separator: "\n")
        let parsed = try lines.map { try JSONValue(parsing: String($0)) }
        #expect(parsed.count == truth.count)
        for (index, (ours, expected)) in zip(parsed, truth).enumerated() where ours != expected {
            Issue.record("record \(index):\n  decode: \(ours.serialized)\n  server: \(expected.serialized)")
        }
    }

    @Test func malformedInputStopsWithOffsetAndKeepsWholeRecords() throws {
        let input = Array("BEGIN 1\ntable public.t: INSERT: a[text]:'cut".utf8)
        let result = try WalauditBinary.run(["decode"], input: input)
        #expect(result.status == 1)
        #expect(String(decoding: result.stdout, as: UTF8.self) == #"{"kind":"begin","xid":1}"# + "\n")
        #expect(result.stderr.contains("unterminated quoted literal at byte 40"))
        #expect(result.stderr.contains(#"near "'cut""#))
    }

    @Test func unknownRecordIsNamed() throws {
        let result = try WalauditBinary.run(["decode"], input: Array("BEGIN 1\nGARBAGE here\n".utf8))
        #expect(result.status == 1)
        #expect(result.stderr.contains("unknown record"))
        #expect(result.stderr.contains("at byte 8"))
    }

    @Test func emptyInputIsNoRecords() throws {
        let result = try WalauditBinary.run(["decode"])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
    }
}
