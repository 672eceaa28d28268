import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// Exactly once across SIGKILL: the worker is killed at random moments
/// while pgbench writes, and the store must end up with every committed
/// change once, in commit order, with an unbroken chain. The moments come
/// from a seeded generator: the seed is printed, WALAUDIT_TEST_SEED replays.
@Suite(.tags(.drill)) struct CrashTests {
    @Test func killNineUnderPgbenchLosesAndDuplicatesNothing() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try harness.attachPgbench()

        let clients = 4, transactionsPerClient = 400
        let pgbench = try harness.spawnPgbench(transactionsPerClient: transactionsPerClient)
        var random = SeededRandom()
        var kills = 0
        var pgbenchDone = false
        var pgbenchStatus: Int32 = -1
        while kills < 20 || !pgbenchDone {
            let worker = try harness.startWorker()
            random.pause(0.05...0.6)
            worker.kill()
            kills += 1
            if !pgbenchDone {
                var status: Int32 = 0
                if waitpid(pgbench.pid, &status, WNOHANG) == pgbench.pid {
                    pgbenchDone = true
                    pgbenchStatus = (status >> 8) & 0xFF
                }
            }
        }
        #expect(pgbenchStatus == 0, "\(random)")

        let transactions = clients * transactionsPerClient
        let attachEvents = 4
        let worker = try harness.startWorker()
        try harness.waitForEvents(atLeast: attachEvents + 4 * transactions, timeout: 120)
        try harness.waitForConfirmationOfCurrentWAL()  // a duplicate would be stored by now
        #expect(worker.stop() == 0, "\(random): \(worker.log)")

        let counts = try db.connection.execute("""
            SELECT table_name, operation, count(*) FROM walaudit.event_log
            WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') GROUP BY 1, 2 ORDER BY 1, 2
            """).rows
        #expect(counts == [["pgbench_accounts", "UPDATE", String(transactions)],
                           ["pgbench_branches", "UPDATE", String(transactions)],
                           ["pgbench_history", "INSERT", String(transactions)],
                           ["pgbench_tellers", "UPDATE", String(transactions)]],
                "killed \(kills) times, \(random)")
        // Commit order: LSNs never go back along the chain; positions are unique.
        let order = try db.connection.execute("""
            SELECT count(*) FILTER (WHERE lsn < previous_lsn), count(*) FILTER (WHERE prev_hash <> previous_hash),
                   max(seq) = count(*)
            FROM (SELECT lsn, lag(lsn) OVER w AS previous_lsn, prev_hash, lag(hash) OVER w AS previous_hash, seq
                  FROM walaudit.event_log WINDOW w AS (ORDER BY seq)) e
            """).rows.first
        #expect(order == ["0", "0", "t"], "\(random)")
        #expect(try db.connection.execute("SELECT ok FROM walaudit.verify_chain()").scalar == "t")
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
        // Ground truth: every account's balance is its last event's balance.
        let wrong = try db.connection.execute("""
            WITH last AS (
                SELECT DISTINCT ON (row_key) row_key, (new_row->>'abalance')::int AS abalance
                FROM walaudit.event_log WHERE table_name = 'pgbench_accounts' ORDER BY row_key, seq DESC)
            SELECT count(*) FROM pgbench_accounts a LEFT JOIN last l ON l.row_key = jsonb_build_object('aid', a.aid)
            WHERE a.abalance <> coalesce(l.abalance, 0)
            """).scalar
        #expect(wrong == "0")
    }
}
