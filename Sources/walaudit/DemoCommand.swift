import ArgumentParser
import AuditStore
import EmbeddedPostgres
import EvidenceReport
import Foundation
import Ledger
import Logging
import PostgresClient
import Synchronization
import Worker

/// `walaudit demo`: the whole story on a throwaway cluster.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run walaudit end to end on a throwaway PostgreSQL cluster, then clean up.",
        discussion: """
            Starts a PostgreSQL cluster in a temporary directory (as the postgres system user \
            when run as root), sets walaudit up, attaches a sample table, makes changes as \
            three actors, runs the capture worker, prints who changed what and when, sets a \
            retention policy and a legal hold and applies retention a (simulated) year later, \
            then tampers with one event as a superuser and shows `walaudit verify` catching it, \
            and writes the evidence report (`walaudit report --html`) to --report. Everything \
            else is removed at the end.
            """
    )

    @Option(help: ArgumentHelp("Where to write the demo's evidence report.", valueName: "file"))
    var report = (NSTemporaryDirectory() as NSString).appendingPathComponent("walaudit-demo-report.html")

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        try failing("the demo failed") { try tellTheStory() }
    }

    private func tellTheStory() throws {
        step("Starting a throwaway PostgreSQL cluster")
        let cluster = try ThrowawayCluster()
        defer { cluster.shutdown() }
        let database = try cluster.createDatabase(prefix: "shop")
        let conninfo = cluster.conninfo(database: database)
        let dba = try Connection(conninfo)
        note("PostgreSQL \(try dba.execute("SHOW server_version").scalar ?? "?") in \(cluster.directory), wal_level=logical")

        step("walaudit setup")
        for line in try Setup.install(source: dba, store: dba, slot: "walaudit") { note(line) }

        step("An application table, two database roles, and walaudit attach")
        try dba.execute("""
            CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), status text);
            INSERT INTO orders VALUES (100, 'Umbrella', 310.00, 'shipped'), (101, 'Hooli', 42.00, 'shipped');
            CREATE ROLE clerk LOGIN; CREATE ROLE manager LOGIN;
            GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO clerk, manager;
            """)
        try Attachment.attach(dba, table: "orders")
        note("attached public.orders (REPLICA IDENTITY FULL, actor trigger, DDL watch); its 2 existing orders")
        note("will be recorded once each as SNAPSHOT events (its baseline), read by the worker without locking")

        step("The capture worker starts, signing checkpoints")
        let (signingKey, publicKey) = try Ed25519.generateKeyPair()
        // Not in the cluster's directory: its watchdog removes that as the server's user.
        let checkpointDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("walaudit-demo-checkpoints-" + UUID().uuidString)
        defer { try? FileManager.default.removeItem(atPath: checkpointDirectory) }
        let checkpoints = CheckpointFile(checkpointDirectory)
        let background = BackgroundWorker(conninfo: conninfo, checkpoints: checkpoints, signingKey: signingKey)
        note("with a fresh Ed25519 key (walaudit keygen), into \(checkpoints.path), where a superuser could not reach it in real life")
        let baselineDeadline = Date().addingTimeInterval(30)
        while try dba.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar != "1" {
            if let failure = background.failure { throw CLIError("the worker stopped: \(failure)") }
            guard Date() < baselineDeadline else { throw CLIError("the worker did not record the baseline within 30 s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        note("it recorded the 2 existing orders (SNAPSHOT events) and now follows the changes")

        step("Changes by three actors")
        let app = try Connection(cluster.tcpConninfo(database: database, user: "clerk"), overrides: [("application_name", "shop-web")])
        try app.execute("BEGIN")
        try Attachment.setActor(app, "alice@shop.example", context: #"{"request_id": "r-17"}"#)
        try app.execute("INSERT INTO orders VALUES (1, 'ACME', 120.00, 'new'), (2, 'Globex', 75.50, 'new'), (3, 'Initech', 9.99, 'new')")
        try app.execute("COMMIT")
        note("shop-web (role clerk) for alice@shop.example: 3 orders")
        let manager = try Connection(cluster.conninfo(database: database, user: "manager"), overrides: [("application_name", "psql")])
        try manager.execute("UPDATE orders SET amount = 70.00, status = 'discounted' WHERE id = 2")
        try manager.execute("DELETE FROM orders WHERE id = 3")
        note("manager in psql: discounted order 2, deleted order 3")
        try dba.execute("ALTER TABLE orders ADD COLUMN shipped_at timestamptz")
        note("the DBA (postgres): added a column")

        // attach, 2 SNAPSHOTs and the baseline's end, 3 inserts, an update, a delete, the DDL
        let expected = 10
        let deadline = Date().addingTimeInterval(30)
        while try EventListing.count(dba) < expected {
            if let failure = background.failure { throw CLIError("the worker stopped: \(failure)") }
            guard Date() < deadline else { throw CLIError("the worker did not store the events within 30 s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        while try checkpoints.readAll().last.map({ $0.seq < expected }) ?? true {
            if let failure = background.failure { throw CLIError("the worker stopped: \(failure)") }
            guard Date() < deadline else { throw CLIError("the worker did not sign a checkpoint within 30 s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        background.stopAndWait()

        step("Who changed what, when (SELECT … FROM walaudit.events)")
        let events = try EventListing.all(dba)
        printTable(["seq", "time", "what", "table", "row", "db user", "app user", "application", "columns / command"], events.map { e in
            [String(e.seq), e.time, e.operation, e.table ?? "", e.rowKey ?? "",
             (e.dbUser ?? "?") + (e.roleName.map { $0 == e.dbUser ? "" : " as \($0)" } ?? ""),
             e.appUser ?? "", e.applicationName ?? "", e.changedColumns?.joined(separator: ",") ?? e.commandTag ?? ""]
        })

        step("walaudit verify")
        let intact = try StoreVerification.verify(dba)
        note(intact.ok ? "intact: \(intact.checked) events, every hash and link holds" : "unexpected: \(intact.problem ?? "")")

        step("Retention and a legal hold, set by a data-protection officer (walaudit_admin)")
        try dba.execute("CREATE ROLE dpo LOGIN IN ROLE walaudit_admin")
        let dpo = try Connection(cluster.conninfo(database: database, user: "dpo"))
        try Retention.actAs(dpo, "dana@shop.example")
        try Retention.setPolicy(dpo, table: "orders", keep: "30 days")
        try Retention.placeLegalHold(dpo, name: "dispute-2", reason: "Globex disputes order 2", table: "orders", rowKey: #"{"id": 2}"#)
        note("set_retention('orders', '30 days'); place_legal_hold('dispute-2', …, 'orders', '{\"id\": 2}')")
        // The demo cannot wait a month: a superuser session may move the retention clock (recorded in the chain).
        let aYearLater = ISO8601DateFormatter().string(from: Date().addingTimeInterval(366 * 86_400))
        for table in try Retention.apply(dba, dryRun: false, clock: aYearLater) {
            note("a year later, apply_retention(): \(table.table): \(table.purged) payloads purged, \(table.held) kept by the hold")
        }
        let changes = try EventListing.all(dba).filter { ["SNAPSHOT", "INSERT", "UPDATE", "DELETE", "POLICY"].contains($0.operation) }
        printTable(["seq", "what", "row", "payload", "by", "policy action"], changes.map { e in
            [String(e.seq), e.operation, e.rowKey ?? "", e.purged ? "purged" : "",
             e.dbUser.map { $0 + (e.appUser.map { " for \($0)" } ?? "") } ?? "", e.policyAction ?? ""]
        })
        let afterRetention = try StoreVerification.verify(dba)
        note(afterRetention.ok ? "verify: intact: \(afterRetention.checked) events, \(afterRetention.purged) with purged payloads"
                               : "unexpected: \(afterRetention.problem ?? "")")

        step("A superuser quietly rewrites history")
        guard let tampered = events.first(where: { $0.operation == "UPDATE" })?.seq else { throw CLIError("no UPDATE event to tamper with") }
        try TamperDrill.rewriteNewRow(dba, seq: tampered, path: "{amount}", value: "7.00")
        note("disabled the append-only trigger, set amount 70.00 → 7.00 in event \(tampered), re-enabled it")

        step("walaudit verify, again")
        let caught = try StoreVerification.verify(dba)
        if caught.ok { throw CLIError("verify did not catch the tampering") }
        note("TAMPERED at seq \(caught.firstBadSeq!): \(caught.problem!)")

        step("walaudit report --html, for the auditor")
        let evidence = try ReportCommand.evidence(dba, jobs: 1, connect: { throw CLIError("one connection") },
                                                  anchors: (CheckpointAnchors(checkpoints: try checkpoints.readAll(), publicKey: publicKey), checkpoints.path),
                                                  request: EvidenceReading.Request(since: nil, until: nil, table: nil),
                                                  command: "walaudit demo --report " + ReportCommand.shellQuoted(report))
        try ReportCommand.write(evidence, to: report)
        note("wrote \(report): \(evidence.verdict.headline)")
        note("one HTML file, no script, nothing fetched: open it in a browser, print it, attach it to a case")

        step("Cleaning up")
        note("stopping the cluster and removing \(cluster.directory)")
        print("\nThat was walaudit. The evidence report stays: \(report). Next: README.md (a tour for DBAs and auditors).")
    }

    private func step(_ title: String) { print("\n== \(title)") }
    private func note(_ text: String) { print("   \(text)") }

    private func printTable(_ header: [String], _ rows: [[String]]) {
        let cells = [header] + rows
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        for (index, row) in cells.enumerated() {
            print("   " + row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
            if index == 0 { print("   " + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
    }
}

/// The capture worker on a thread of its own, for the demo.
final class BackgroundWorker: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let state = Mutex<(done: Bool, failure: String?)>((false, nil))

    /// Signs a checkpoint into `checkpoints` every half second.
    init(conninfo: String, checkpoints: CheckpointFile, signingKey: [UInt8]) {
        var configuration = WorkerConfiguration(source: conninfo, target: conninfo, slot: "walaudit")
        configuration.checkpointFile = checkpoints
        configuration.signingKey = signingKey
        configuration.checkpointInterval = 0.5
        let worker = CaptureWorker(configuration,
                                   logger: Logger(label: "walaudit.demo"),
                                   shouldStop: { [unowned self] in self.stopRequested.load(ordering: .relaxed) })
        Thread.detachNewThread { [self] in
            var failure: String?
            do { try worker.run() } catch { failure = "\(error)" }
            state.withLock { $0 = (true, failure) }
        }
    }

    /// Why the worker stopped on its own, if it did.
    var failure: String? { state.withLock { $0.failure } }

    func stopAndWait() {
        stopRequested.store(true, ordering: .relaxed)
        while !state.withLock({ $0.done }) { Thread.sleep(forTimeInterval: 0.05) }
    }
}
