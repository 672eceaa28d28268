import EmbeddedPostgres
import Foundation
import PostgresClient

/// Drives the real `walaudit` binary against a test database: setup, attach,
/// and the worker as a child process that tests can stop, kill or restart.
public struct WalauditHarness {
    public let database: TestDatabase
    public let slot: String
    /// conninfo of a separate audit store, if any.
    public let target: String?
    /// The workers started here, so a timeout can say what they logged.
    private let workers = WorkerList()

    /// Sets walaudit up on a fresh database of `cluster` (default: the test
    /// process's cluster); with `separateStore`, the audit store is another
    /// fresh database.
    public static func make(cluster: ThrowawayCluster? = nil, separateStore: Bool = false) throws -> WalauditHarness {
        let cluster = try cluster ?? TestServer.cluster()
        let database = try TestServer.freshDatabase(on: cluster)
        let target = try separateStore ? cluster.conninfo(database: cluster.createDatabase(prefix: "store")) : nil
        let harness = WalauditHarness(database: database, slot: String(database.name.prefix(60)), target: target)
        try harness.expectSuccess(["setup"])
        return harness
    }

    /// `--source … [--target …] --slot …` for this database.
    public var connectionArguments: [String] {
        ["--source", database.conninfo, "--slot", slot] + (target.map { ["--target", $0] } ?? [])
    }

    /// A connection to the audit store.
    public func storeConnection() throws -> Connection {
        try target.map { try Connection($0) } ?? database.connection
    }

    /// Runs a walaudit command that must succeed; returns its stdout.
    @discardableResult
    public func expectSuccess(_ arguments: [String]) throws -> String {
        let result = try WalauditBinary.run(arguments + connectionArguments)
        guard result.status == 0 else {
            throw HarnessError("walaudit \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }

    /// Runs `sql` as a superuser with the event log's append-only triggers
    /// off, as an attacker with superuser rights would, then turns them on.
    public func tamperAsSuperuser(_ sql: String) throws {
        try database.connection.execute("""
            ALTER TABLE walaudit.event_log DISABLE TRIGGER ALL;
            \(sql);
            ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only;
            ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_no_truncate;
            """)
    }

    /// Starts `walaudit run` in the background, with `environment` added to the test's.
    public func startWorker(_ extraArguments: [String] = [], environment: [String: String] = [:]) throws -> WorkerProcess {
        let worker = try WorkerProcess(arguments: ["run"] + connectionArguments + extraArguments, environment: environment)
        workers.add(worker)
        return worker
    }

    /// What the database's sessions are doing (for a timeout's message):
    /// which one waits, on what, running which statement.
    func sessions() -> String {
        let rows = (try? Connection(database.conninfo).execute("""
            SELECT application_name, backend_type, state, coalesce(wait_event_type || ':' || wait_event, '-'),
                   extract(epoch FROM now() - state_change)::int, left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
            FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY application_name
            """).rows) ?? []
        let senders = (try? Connection(database.conninfo).execute("""
            SELECT s.application_name, s.state, s.sent_lsn::text, s.flush_lsn::text, pg_current_wal_lsn()::text
            FROM pg_stat_replication s JOIN pg_replication_slots r ON r.active_pid = s.pid WHERE r.slot_name = $1
            """, [slot]).rows) ?? []
        return "\n--- sessions (application, type, state, wait, seconds in state, query) ---\n"
            + rows.map { $0.map { $0 ?? "" }.joined(separator: " | ") }.joined(separator: "\n")
            + "\n--- the slot's walsender (application, state, sent, flushed, server's WAL end) ---\n"
            + senders.map { $0.map { $0 ?? "" }.joined(separator: " | ") }.joined(separator: "\n")
    }

    /// Waits until the store holds at least `count` events (default 120 s: see below).
    @discardableResult
    public func waitForEvents(atLeast count: Int, timeout: Double = 120) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = 0
        while Date() < deadline {
            seen = (try? Int(storeConnection().execute("SELECT count(*) FROM walaudit.event_log").scalar ?? "0") ?? 0) ?? seen
            if seen >= count { return seen }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for \(count) events; the store has \(seen)" + workers.logTails)
    }

    /// Waits until the worker has confirmed the slot up to the source's WAL
    /// position as of this call: everything committed before it has been
    /// streamed, stored and confirmed, so a duplicate of any of it would be
    /// in the store by now. The default timeout (300 s) is long because
    /// every slot of the test cluster decodes all of its WAL: while a drill
    /// writes a million-row table and its events, the others' walsenders
    /// wade through that too.
    public func waitForConfirmationOfCurrentWAL(timeout: Double = 300) throws {
        do {
            try Self.waitForConfirmationOfCurrentWAL(source: Connection(database.conninfo), slot: slot, timeout: timeout)
        } catch let error as HarnessError {
            throw HarnessError(error.description + sessions() + workers.logTails)
        }
    }

    /// The same for any source connection and slot.
    public static func waitForConfirmationOfCurrentWAL(source: Connection, slot: String, timeout: Double = 300) throws {
        let target = try source.execute("SELECT pg_current_wal_lsn()::text").scalar ?? "0/0"
        let deadline = Date().addingTimeInterval(timeout)
        var confirmed: String?
        while Date() < deadline {
            let row = try source.execute("""
                SELECT confirmed_flush_lsn::text, confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1
                """, [slot, target]).rows.first
            confirmed = row?[0] ?? nil
            if row?[1] == "t" { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for the worker to confirm \(target); slot \(slot) is confirmed up to \(confirmed ?? "nothing")")
    }
}

/// pgbench as a workload for the drills.
extension WalauditHarness {
    /// pgbench's connection options for this database.
    public var pgbenchConnection: [String] {
        let cluster = database.cluster
        return ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database.name]
    }

    /// `pgbench -i` at `scale`, then its four tables attached.
    public func attachPgbench(scale: Int = 1) throws {
        let initialize = try ChildProcess.run([database.cluster.binDirectory + "/pgbench", "-i", "-q", "-s", String(scale)] + pgbenchConnection)
        guard initialize.status == 0 else { throw HarnessError("pgbench -i failed: \(String(decoding: initialize.stderr, as: UTF8.self))") }
        try expectSuccess(["attach", "pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history"])
    }

    /// pgbench in the background, 4 clients, output discarded.
    public func spawnPgbench(transactionsPerClient: Int) throws -> ChildProcess {
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        return try ChildProcess.spawn([database.cluster.binDirectory + "/pgbench", "-n", "-c", "4", "-j", "2",
                                       "-t", String(transactionsPerClient)] + pgbenchConnection,
                                      stdin: devNull, stdout: devNull, stderr: devNull)
    }
}

/// The workers a harness started (weakly: a test ends them by dropping them).
final class WorkerList: @unchecked Sendable {  // used from the test's own thread only
    private struct Entry { weak var worker: WorkerProcess? }
    private var entries: [Entry] = []

    func add(_ worker: WorkerProcess) { entries.append(Entry(worker: worker)) }

    /// The end of each live worker's log, for an error message.
    var logTails: String {
        entries.compactMap(\.worker).map { "\n--- worker log (end) ---\n" + String($0.log.suffix(4000)) }.joined()
    }
}

/// `walaudit run` as a child process, its stderr kept in a file.
public final class WorkerProcess {
    public let child: ChildProcess
    public let logPath: String
    private var exitStatus: Int32?

    public init(arguments: [String], environment: [String: String] = [:]) throws {
        logPath = NSTemporaryDirectory() + "/walaudit-worker-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = open(logPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(log); close(devNull) }
        // env(1) execs walaudit in its place: the child's pid is the worker's.
        let settings = environment.isEmpty ? [] : ["/usr/bin/env"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        child = try ChildProcess.spawn(settings + [WalauditBinary.path] + arguments, stdin: devNull, stdout: log, stderr: log)
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        if let exitStatus { return exitStatus }
        child.send(SIGTERM)
        let status = child.wait()
        exitStatus = status
        return status
    }

    /// SIGKILL: no chance to clean up.
    public func kill() {
        guard exitStatus == nil else { return }
        child.send(SIGKILL)
        exitStatus = child.wait()
    }

    /// Waits for the worker to exit by itself (e.g. a fatal error).
    public func waitForExit() -> Int32 {
        if let exitStatus { return exitStatus }
        let status = child.wait()
        exitStatus = status
        return status
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log holds `text`; returns the log.
    @discardableResult
    public func waitForLog(_ text: String, timeout: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let log = self.log
            if log.contains(text) { return log }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("the worker did not log \"\(text)\" within \(Int(timeout)) s:\n\(log.suffix(4000))")
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
