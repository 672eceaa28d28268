import PostgresClient
import Testing
import TestSupport

/// `Snapshot.sees` against the server's own answer (`pg_visible_in_snapshot`)
/// and at the edges of 32-bit xid arithmetic.
@Suite struct SnapshotTests {
    @Test func visibilityAgreesWithTheServer() throws {
        let database = try TestServer.freshDatabase()
        let connection = database.connection
        let open = try Connection(database.conninfo)
        try open.execute("BEGIN")
        let running = try open.execute("SELECT pg_current_xact_id()::text").scalar.flatMap { UInt64($0) }!
        let committed = try connection.execute("SELECT pg_current_xact_id()::text").scalar.flatMap { UInt64($0) }!
        let text = try connection.execute("SELECT pg_current_snapshot()::text").scalar!
        let snapshot = try #require(Snapshot(text))
        for xid in [committed, running, snapshot.xmax, snapshot.xmax + 5, snapshot.xmin, snapshot.xmin - 1] {
            let server = try connection.execute("SELECT pg_visible_in_snapshot($1::xid8, $2::pg_snapshot)", [String(xid), text]).scalar
            // The stream gives 32-bit xids; committed or not, the server's answer is the reference.
            #expect(snapshot.sees(committed: UInt32(truncatingIfNeeded: xid)) == (server == "t"), "xid \(xid) in \(text)")
        }
        try open.execute("COMMIT")
    }

    @Test func xidsAreComparedModulo2To32() throws {
        let snapshot = try #require(Snapshot("4294967290:4294967301:4294967292,4294967300"))  // xmax is 5 in the next epoch
        #expect(snapshot.sees(committed: 4_294_967_291))  // previous epoch, below xmin's range end
        #expect(!snapshot.sees(committed: 4_294_967_292))  // in progress
        #expect(snapshot.sees(committed: 3))  // 2^32 + 3
        #expect(!snapshot.sees(committed: 4))  // 2^32 + 4: in progress
        #expect(!snapshot.sees(committed: 5))  // xmax: not yet
        #expect(!snapshot.sees(committed: 6))  // after xmax
        #expect(Snapshot("12:10:") == nil && Snapshot("1:2") == nil && Snapshot("1:2:x") == nil)
        #expect(try #require(Snapshot("10:20:")).sees(committed: 9))
    }
}
