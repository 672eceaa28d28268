import Foundation
import PostgresClient
import Testing
import TestSupport

/// `walaudit run --metrics-address`: what Prometheus scrapes, held to what
/// the store holds, and the monitoring examples built on it
/// (`Examples/monitoring/`, docs/operations.md §5).
@Suite struct MetricsTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/monitoring").path

    /// The worker's metrics endpoint (`host:port`), from its "serving metrics" log line.
    static func metricsAddress(of worker: WorkerProcess) throws -> String {
        let log = try worker.waitForLog("serving metrics")
        guard let match = log.firstMatch(of: /http:\/\/([0-9.]+:[0-9]+)\/metrics/) else {
            throw HarnessError("no metrics URL in the log: \(log)")
        }
        return String(match.1)
    }

    /// Events in the store by operation, and the newest seq.
    static func storeCounts(_ store: Connection) throws -> (byOperation: [String: Double], lastSeq: Int64) {
        let rows = try store.execute("SELECT operation, count(*) FROM walaudit.event_log GROUP BY 1").rows
        let last = try store.execute("SELECT coalesce(max(seq), 0) FROM walaudit.event_log").scalar ?? "0"
        return (Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, Double($0[1]!)!) }), Int64(last)!)
    }

    static let operations = ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "SNAPSHOT", "DDL", "POLICY", "GAP"]

    @Test func scrapedCountersMatchTheStoreDuringPgbench() throws {
        let harness = try WalauditHarness.make()
        try harness.attachPgbench()
        let store = try harness.storeConnection()
        let directory = NSTemporaryDirectory() + "/walaudit-metrics-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try WalauditBinary.run(["keygen", "--out", directory + "/key"]).status == 0)
        // What the store holds before the worker runs is not the worker's.
        let before = try Self.storeCounts(store)
        let worker = try harness.startWorker(["--metrics-address", "127.0.0.1:0", "--checkpoint-dir", directory + "/checkpoints",
                                              "--signing-key", directory + "/key", "--checkpoint-interval", "1"])
        let address = try Self.metricsAddress(of: worker)
        try worker.waitForLog("capturing")

        // Scrapes while pgbench runs: valid exposition, lag reported.
        let pgbench = try harness.spawnPgbench(transactionsPerClient: 500)
        for _ in 0..<5 {
            let scrape = try MetricsScrape(address: address)
            #expect(scrape.status == 200)
            #expect(scrape.headers.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
            #expect((scrape.value("walaudit_replication_lag_seconds") ?? -1) >= 0)
            #expect((scrape.value("walaudit_replication_lag_bytes") ?? -1) >= 0)
            #expect(scrape.value("walaudit_streaming") == 1)
            let check = try Promtool.run(["check", "metrics"], input: scrape.body)
            #expect(check.status == 0, "promtool check metrics: \(check.output)")
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(pgbench.wait() == 0)

        // Lag in seconds grows while a committed transaction waits for the
        // store: the worker cannot store its position while capture_state is locked.
        try harness.waitForConfirmationOfCurrentWAL()
        let blocker = try Connection(harness.database.conninfo)
        try blocker.execute("BEGIN; LOCK TABLE walaudit.capture_state IN EXCLUSIVE MODE")
        try harness.database.connection.execute("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 0, now())")
        Thread.sleep(forTimeInterval: 2.5)
        let waiting = try MetricsScrape(address: address)
        #expect((waiting.value("walaudit_replication_lag_seconds") ?? 0) >= 2, "\(waiting.body)")
        try blocker.execute("ROLLBACK")

        // A detach is a GAP the worker stores.
        try harness.expectSuccess(["detach", "pgbench_history"])
        // The baselines of the attach end (pgbench_accounts' 100,000 rows
        // take seconds), so that the store stands still while compared.
        let deadline = Date().addingTimeInterval(180)
        while try MetricsScrape(address: address).value("walaudit_baselines_in_progress") != 0 {
            guard Date() < deadline else { throw HarnessError("the baselines did not end: \(worker.log.suffix(3000))") }
            Thread.sleep(forTimeInterval: 0.2)
        }
        try harness.waitForConfirmationOfCurrentWAL()
        let after = try Self.storeCounts(store)
        let scrape = try MetricsScrape(address: address)
        for operation in Self.operations {
            let stored = (after.byOperation[operation] ?? 0) - (before.byOperation[operation] ?? 0)
            #expect(scrape.value("walaudit_events_stored_total", "operation=\"\(operation)\"") == stored, "\(operation)")
        }
        let transactions = try store.execute("SELECT count(DISTINCT xid) FROM walaudit.event_log WHERE seq > $1",
                                              [String(before.lastSeq)]).scalar.flatMap { Double($0) }
        #expect(transactions ?? 0 >= 2000)
        #expect(scrape.value("walaudit_source_transactions_stored_total") == transactions)
        // Every row of the four tables at the attach was read once, and recorded unless it had changed since.
        #expect((scrape.value("walaudit_baseline_rows_recorded_total") ?? 0) + (scrape.value("walaudit_baseline_rows_skipped_total") ?? 0) == 100_011)
        #expect(scrape.value("walaudit_baseline_rows_recorded_total") == (after.byOperation["SNAPSHOT"] ?? 0) - (before.byOperation["SNAPSHOT"] ?? 0))
        #expect(scrape.value("walaudit_gap_events") == after.byOperation["GAP"])
        #expect(after.byOperation["GAP"] == 1)
        // Caught up, lag reads 0 — once the stream has also brought the
        // store's own latest commits (with the store in the source database
        // each store commit is a transaction of the stream; on a loaded
        // machine it arrives seconds after it committed, and counts as lag
        // until it is settled).
        var lag = scrape.value("walaudit_replication_lag_seconds")
        let settled = Date().addingTimeInterval(60)
        while lag != 0 && Date() < settled {
            Thread.sleep(forTimeInterval: 0.2)
            lag = try MetricsScrape(address: address).value("walaudit_replication_lag_seconds")
        }
        #expect(lag == 0)
        #expect((scrape.value("walaudit_checkpoint_age_seconds") ?? .infinity) < 30)
        #expect(scrape.value("walaudit_checkpoint_interval_seconds") == 1)
        #expect(scrape.value("walaudit_store_batch_events_sum") == (after.byOperation.values.reduce(0, +) - before.byOperation.values.reduce(0, +)))
        #expect((scrape.value("walaudit_store_commit_duration_seconds_count") ?? 0) >= 1)
        #expect(scrape.value("walaudit_build_info", "version=\"\(try Self.version())\"") == 1)
        #expect(abs((scrape.value("walaudit_start_time_seconds") ?? 0) - Date().timeIntervalSince1970) < 600)
        #expect(scrape.value("walaudit_retries_total", "cause=\"connection_lost\"") == 0)
        let check = try Promtool.run(["check", "metrics"], input: scrape.body)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")

        // The checked-in sample shows every metric the worker serves, and no other.
        let sample = try PrometheusText(String(contentsOfFile: Self.examples + "/metrics-sample.txt", encoding: .utf8))
        #expect(sample.families == scrape.families, "Examples/monitoring/metrics-sample.txt is out of date; the worker serves:\n\(scrape.body)")

        // Only /metrics, only GET and HEAD.
        #expect(try MetricsScrape(address: address, path: "/").status == 404)
        #expect(try MetricsScrape(address: address, method: "POST").status == 405)
        let head = try MetricsScrape(address: address, method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(worker.stop() == 0, "\(worker.log)")
    }

    /// `walaudit --version`.
    static func version() throws -> String {
        let result = try WalauditBinary.run(["--version"])
        return String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func alertRulesAndTheSampleAreValidForPromtool() throws {
        let rules = try Promtool.run(["check", "rules", Self.examples + "/walaudit-alerts.yml"])
        #expect(rules.status == 0, "\(rules.output)")
        // Each alert fires when it should and not before (series written out in the test file).
        let firing = try Promtool.run(["test", "rules", Self.examples + "/walaudit-alerts.test.yml"])
        #expect(firing.status == 0, "\(firing.output)")
        let sample = try String(contentsOfFile: Self.examples + "/metrics-sample.txt", encoding: .utf8)
        let metrics = try Promtool.run(["check", "metrics"], input: sample)
        #expect(metrics.status == 0, "\(metrics.output)")
    }

    /// Every metric an alert or a dashboard panel names is one the worker serves.
    @Test func alertsAndDashboardNameOnlyMetricsThatExist() throws {
        let sample = try PrometheusText(String(contentsOfFile: Self.examples + "/metrics-sample.txt", encoding: .utf8))
        var served = Set(sample.samples.map(\.name))
        served.insert("up")  // Prometheus's own, per scrape target
        func unknownMetrics(in expression: String) -> [String] {
            expression.matches(of: /\b(walaudit_[a-zA-Z0-9_]+|up)\b/).map { String($0.1) }.filter { !served.contains($0) }
        }

        let dashboardData = try Data(contentsOf: URL(fileURLWithPath: Self.examples + "/grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: dashboardData) as? [String: Any])
        var expressions: [String] = []
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                if let expression = object["expr"] as? String { expressions.append(expression) }
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(dashboard)
        #expect(expressions.count >= 8)
        for expression in expressions {
            #expect(unknownMetrics(in: expression).isEmpty, "dashboard: \(expression)")
        }

        let rules = try String(contentsOfFile: Self.examples + "/walaudit-alerts.yml", encoding: .utf8)
        #expect(rules.matches(of: /\n\s+expr:/).count >= 5)
        #expect(unknownMetrics(in: rules).isEmpty, "alert rules name metrics the worker does not serve")
    }
}
