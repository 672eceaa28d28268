import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// Issue 15's baseline drill at size: pgbench_accounts with 1M rows attached
/// while 4 pgbench clients update it, the worker SIGKILLed mid-baseline.
/// The table rebuilt from its events equals the real one, every row is
/// recorded exactly once, and no writer waited more than a second.
@Suite(.tags(.drill)) struct BaselineDrillTests {
    /// pgbench in rounds of 5 s (each round's -l log complete) until stopped.
    final class PacedPgbench: @unchecked Sendable {
        let logPrefix: String
        private let lock = NSLock()
        private var running = true
        private let finished = DispatchSemaphore(value: 0)

        init(_ harness: WalauditHarness, rate: Int) {
            logPrefix = NSTemporaryDirectory() + "walaudit-pgbench-\(UUID().uuidString)"
            let arguments = [harness.database.cluster.binDirectory + "/pgbench", "-n", "-N", "-c", "4", "-j", "2", "-R", String(rate),
                             "-T", "5", "-l", "--log-prefix=\(logPrefix)"] + harness.pgbenchConnection
            Thread.detachNewThread { [self] in
                while isRunning { _ = try? ChildProcess.run(arguments) }
                finished.signal()
            }
        }

        private var isRunning: Bool { lock.withLock { running } }

        /// Stops after the current round; returns the slowest transaction's latency in seconds.
        func stop() throws -> Double {
            lock.withLock { running = false }
            finished.wait()
            let directory = (logPrefix as NSString).deletingLastPathComponent
            let prefix = (logPrefix as NSString).lastPathComponent
            var slowest = 0.0
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix(prefix) {
                let path = directory + "/" + file
                // pgbench -l: client, transaction, latency (µs; with -R from the scheduled start), …
                for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.count > 2, let micros = Double(fields[2]) { slowest = max(slowest, micros / 1e6) }
                }
                try? FileManager.default.removeItem(atPath: path)
            }
            return slowest
        }
    }

    @Test func millionRowBaselineUnderPgbenchSurvivesAKill() throws {
        let harness = try WalauditHarness.make()
        let initialize = try ChildProcess.run([harness.database.cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "10"]
                                              + harness.pgbenchConnection)
        #expect(initialize.status == 0)
        var worker = try harness.startWorker()
        let pgbench = PacedPgbench(harness, rate: 100)
        try harness.expectSuccess(["attach", "pgbench_accounts"])
        let store = try harness.storeConnection()
        func chunks() throws -> Int { Int(try store.execute("SELECT coalesce(max(chunks), 0) FROM walaudit.baseline_progress").scalar ?? "0") ?? 0 }
        try WholeTableTests.waitFor("a fifth of the baseline", timeout: 300) { try chunks() >= 20 }
        worker.kill()
        worker = try harness.startWorker()
        try WholeTableTests.waitFor("the baseline to finish", timeout: 600) {
            try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
        }
        let slowest = try pgbench.stop()
        try harness.waitForConfirmationOfCurrentWAL(timeout: 300)
        #expect(worker.stop() == 0, "\(worker.log)")

        // The table as its events leave it: each key's last event since the attach, unless a DELETE.
        let attached = try store.execute("""
            SELECT max(seq) FROM walaudit.event_log WHERE table_name = 'pgbench_accounts' AND new_row->>'command_tag' = 'WALAUDIT ATTACH'
            """).scalar ?? "0"
        try store.execute("""
            CREATE TEMP TABLE rebuilt AS
            SELECT new_row FROM (SELECT DISTINCT ON (row_key) row_key, operation, new_row FROM walaudit.event_log
                                 WHERE table_name = 'pgbench_accounts' AND row_key IS NOT NULL AND seq > \(attached)
                                 ORDER BY row_key, seq DESC) last
            WHERE operation <> 'DELETE'
            """)
        let differences = try store.execute("""
            SELECT (SELECT count(*) FROM (SELECT new_row FROM rebuilt EXCEPT ALL SELECT to_jsonb(a) FROM public.pgbench_accounts a) x),
                   (SELECT count(*) FROM (SELECT to_jsonb(a) FROM public.pgbench_accounts a EXCEPT ALL SELECT new_row FROM rebuilt) y),
                   (SELECT count(*) FROM rebuilt)
            """).rows.first
        #expect(differences == ["0", "0", "1000000"])
        let twice = try store.execute("""
            SELECT count(*) FROM (
                SELECT row_key FROM walaudit.event_log WHERE table_name = 'pgbench_accounts' AND row_key IS NOT NULL
                GROUP BY row_key
                HAVING count(*) FILTER (WHERE operation = 'SNAPSHOT') > 1
                    OR min(seq) FILTER (WHERE operation = 'SNAPSHOT') > min(seq) FILTER (WHERE operation <> 'SNAPSHOT')
                    OR count(*) FILTER (WHERE operation = 'SNAPSHOT') = 0 AND min(seq) FILTER (WHERE operation = 'UPDATE') IS NULL) d
            """).scalar
        #expect(twice == "0")
        #expect(slowest < 1.0, "a writer waited \(slowest) s")
    }
}
