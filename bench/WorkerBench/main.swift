// Worker benchmarks, side by side in one run on one throwaway cluster
// (fsync on, so "stored" means durable):
//
//   1. memory: a single 1,000,000-row UPDATE captured by `walaudit run`;
//      worker peak RSS (VmHWM) and events/s. Then verify on that chain:
//      `walaudit verify` (all events) and `walaudit.verify_chain()` (the
//      first 100k; plpgsql is far slower), both must say intact.
//   2. ingest: a pgbench backlog of >= 300k row changes decoded by
//      pg_recvlogical to /dev/null (from a second slot at the same position)
//      vs drained by `walaudit run` into the chained store; the ratio.
//   3. overhead: pgbench TPS for --seconds each (4 clients, scale 10) with
//      no audit, with walaudit attached and its worker running, and with a
//      classic trigger audit (AFTER ROW trigger inserting to_jsonb(OLD/NEW)).
//   4. lag: pgbench at a fixed rate for --seconds with the worker running;
//      per event, the time from commit to the store (recorded_at −
//      event_time): p50, p99, max.
//
//   swift build -c release && .build/release/worker-bench [--rows N] [--transactions N] [--seconds N] [--rate TPS]
//       [--only memory|ingest|overhead|lag]
import EmbeddedPostgres
import Foundation
import PostgresClient

var rows = 1_000_000
var transactions = 80_000
var only: String?
var benchSeconds = 60
var rate = 200
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rows": rows = Int(arguments.next() ?? "") ?? rows
    case "--transactions": transactions = Int(arguments.next() ?? "") ?? transactions
    case "--only": only = arguments.next()
    case "--seconds": benchSeconds = Int(arguments.next() ?? "") ?? benchSeconds
    case "--rate": rate = Int(arguments.next() ?? "") ?? rate
    default:
        FileHandle.standardError.write(Data("usage: worker-bench [--rows N] [--transactions N] [--seconds N] [--rate TPS] [--only memory|ingest|overhead|lag]\n".utf8))
        exit(2)
    }
}

let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let walaudit = binDirectory + "/walaudit"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("worker-bench: \(message)\n".utf8))
    exit(1)
}

func run(_ command: [String]) throws {
    let result = try ChildProcess.run(command)
    if result.status != 0 { fail("\(command.joined(separator: " ")) failed: \(String(decoding: result.stderr, as: UTF8.self))") }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Peak resident set size of a process in MiB (VmHWM).
func peakRSS(_ pid: pid_t) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kilobytes / 1024
}

func startWorker(_ connection: [String]) throws -> ChildProcess {
    let log = open(NSTemporaryDirectory() + "/worker-bench.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
    defer { close(log); close(devNull) }
    return try ChildProcess.spawn([walaudit, "run"] + connection, stdin: devNull, stdout: log, stderr: log)
}

func waitForEvents(_ connection: Connection, _ count: Int, worker: ChildProcess) throws {
    while Int(try connection.execute("SELECT count(*) FROM walaudit.event_log").scalar!)! < count {
        var status: Int32 = 0
        if waitpid(worker.pid, &status, WNOHANG) == worker.pid { fail("the worker exited; see \(NSTemporaryDirectory())/worker-bench.log") }
        Thread.sleep(forTimeInterval: 0.2)
    }
}

let cluster = try ThrowawayCluster(fsync: true)
defer { cluster.shutdown() }
print("worker-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, "
      + "\(ProcessInfo.processInfo.physicalMemory >> 30) GiB, PostgreSQL at \(cluster.binDirectory), fsync on")

// 1. One huge transaction.
if only == nil || only == "memory" {
    let database = try cluster.createDatabase(prefix: "memory")
    let conninfo = cluster.conninfo(database: database)
    let connection = try Connection(conninfo)
    let walauditConnection = ["--source", conninfo, "--slot", "memory"]
    try connection.execute("CREATE TABLE wide (id integer PRIMARY KEY, v integer, pad text)")
    try connection.execute("INSERT INTO wide SELECT i, 0, md5(i::text) FROM generate_series(1, \(rows)) i")
    try run([walaudit, "setup"] + walauditConnection)
    try run([walaudit, "attach", "wide"] + walauditConnection)
    let worker = try startWorker(walauditConnection)
    try waitForEvents(connection, 1, worker: worker)
    let start = ContinuousClock.now
    try connection.execute("UPDATE wide SET v = v + 1")
    try waitForEvents(connection, 1 + rows, worker: worker)
    let elapsed = seconds(since: start)
    let rss = peakRSS(worker.pid)
    worker.send(SIGTERM)
    _ = worker.wait()
    print(String(format: "  memory: %d-row UPDATE in one transaction stored in %.1f s (%.0f events/s), worker peak RSS %.1f MiB",
                 rows, elapsed, Double(rows) / elapsed, rss))

    let events = 1 + rows
    // Right after the ingest, the first read of fresh rows also sets their
    // hint bits, and autovacuum works on the 1M-row UPDATE's dead tuples
    // on one of the two cores. Both are measured: cold, then after VACUUM
    // of the whole database (what a store in service looks like).
    func timedVerify() throws -> (seconds: Double, result: (status: Int32, stdout: [UInt8], stderr: [UInt8])) {
        let start = ContinuousClock.now
        let result = try ChildProcess.run([walaudit, "verify", "--json"] + walauditConnection)
        return (seconds(since: start), result)
    }
    let cold = try timedVerify()
    try connection.execute("VACUUM ANALYZE")
    let (cliSeconds, cli) = try timedVerify()
    let sqlRange = min(events, 100_000)
    let sqlStart = ContinuousClock.now
    let sql = try connection.execute("SELECT ok, checked FROM walaudit.verify_chain(1, \(sqlRange))").rows.first ?? []
    let sqlSeconds = seconds(since: sqlStart)
    let cliOutput = String(decoding: cli.stdout, as: UTF8.self)
    guard cold.result.status == 0, cli.status == 0, cliOutput.contains("\"checked\":\(events)"), sql == ["t", String(sqlRange)] else {
        fail("verification disagreed: CLI \(cli.status) \(cliOutput), SQL \(sql)")
    }
    print(String(format: "  verify: walaudit verify %d events in %.1f s (%.0f events/s; cold, first read after ingest: %.1f s, %.0f events/s); walaudit.verify_chain() %d events in %.1f s (%.0f events/s); both intact",
                 events, cliSeconds, Double(events) / cliSeconds, cold.seconds, Double(events) / cold.seconds,
                 sqlRange, sqlSeconds, Double(sqlRange) / sqlSeconds))
}

// 2. Ingest of a pgbench backlog, walaudit vs pg_recvlogical.
if only == nil || only == "ingest" {
    let database = try cluster.createDatabase(prefix: "ingest")
    let conninfo = cluster.conninfo(database: database)
    let connection = try Connection(conninfo)
    let walauditConnection = ["--source", conninfo, "--slot", "ingest"]
    let pgbench = ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database]
    try run([cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "10"] + pgbench)
    try run([walaudit, "setup"] + walauditConnection)
    try run([walaudit, "attach", "pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history"] + walauditConnection)
    try connection.execute("SELECT pg_create_logical_replication_slot('ingest_copy', 'test_decoding')")
    // The backlog is made as fast as possible; how it was made does not matter.
    setenv("PGOPTIONS", "-c synchronous_commit=off", 1)
    try run([cluster.binDirectory + "/pgbench", "-n", "-c", "4", "-j", "2", "-t", String(transactions / 4)] + pgbench)
    unsetenv("PGOPTIONS")
    let endLSN = try connection.execute("SELECT pg_current_wal_lsn()").scalar!
    let changes = transactions * 4

    let decodeStart = ContinuousClock.now
    try run([cluster.binDirectory + "/pg_recvlogical", "-d", conninfo, "--slot", "ingest_copy", "--start",
             "--endpos", endLSN, "--no-loop", "-o", "include-xids=1", "-o", "include-timestamp=1",
             "-o", "skip-empty-xacts=1", "-f", "/dev/null"])
    let decodeSeconds = seconds(since: decodeStart)

    let ingestStart = ContinuousClock.now
    let worker = try startWorker(walauditConnection)
    try waitForEvents(connection, 4 + changes, worker: worker)
    let ingestSeconds = seconds(since: ingestStart)
    let rss = peakRSS(worker.pid)
    worker.send(SIGTERM)
    _ = worker.wait()
    let decodeRate = Double(changes) / decodeSeconds, ingestRate = Double(changes) / ingestSeconds
    print(String(format: "  ingest: %d row changes; pg_recvlogical to /dev/null %.1f s (%.0f changes/s); "
                 + "walaudit run to the chained store %.1f s (%.0f events/s, peak RSS %.1f MiB); ratio %.2f (target >= 0.5)",
                 changes, decodeSeconds, decodeRate, ingestSeconds, ingestRate, rss, ingestRate / decodeRate))
}

/// pgbench's connection arguments for `database`.
func pgbenchArguments(_ database: String) -> [String] {
    ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database]
}

/// The TPS pgbench reports (without connection time) for a timed run,
/// started from a fresh checkpoint with the cluster's earlier work vacuumed,
/// so one run's leftovers do not slow the next.
func pgbenchTPS(_ database: String, seconds: Int, _ options: [String]) throws -> Double {
    try run([cluster.binDirectory + "/vacuumdb", "--all", "-q", "-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser])
    try Connection(cluster.conninfo()).execute("CHECKPOINT")
    let result = try ChildProcess.run([cluster.binDirectory + "/pgbench", "-n", "-c", "4", "-j", "2", "-T", String(seconds)]
                                      + options + pgbenchArguments(database))
    let output = String(decoding: result.stdout, as: UTF8.self)
    guard result.status == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
          let tps = Double(line.dropFirst(6).prefix { $0 != " " }) else {
        fail("pgbench failed: \(output) \(String(decoding: result.stderr, as: UTF8.self))")
    }
    return tps
}

/// A fresh database initialised by pgbench at scale 10.
func pgbenchDatabase(_ prefix: String) throws -> String {
    let database = try cluster.createDatabase(prefix: prefix)
    try run([cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "10"] + pgbenchArguments(database))
    return database
}

let pgbenchTables = ["pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history"]

// 3. Source overhead: no audit, walaudit, trigger audit.
if only == nil || only == "overhead" {
    // walaudit first, and its slot dropped after: a slot left behind would
    // make the next worker read the other runs' WAL.
    let audited = try pgbenchDatabase("overhead_walaudit")
    let auditedConnection = ["--source", cluster.conninfo(database: audited), "--slot", "overhead"]
    try run([walaudit, "setup"] + auditedConnection)
    try run([walaudit, "attach"] + pgbenchTables + auditedConnection)
    // The source-side cost alone (actor trigger, REPLICA IDENTITY FULL), the
    // worker not running: what is left is the worker's and the store's CPU.
    let attachedTPS = try pgbenchTPS(audited, seconds: benchSeconds, [])
    let worker = try startWorker(auditedConnection)
    let walauditTPS = try pgbenchTPS(audited, seconds: benchSeconds, [])
    worker.send(SIGTERM)
    _ = worker.wait()
    try run([walaudit, "teardown", "--drop-slot"] + auditedConnection)

    let plainTPS = try pgbenchTPS(try pgbenchDatabase("overhead_none"), seconds: benchSeconds, [])

    let triggered = try pgbenchDatabase("overhead_trigger")
    let connection = try Connection(cluster.conninfo(database: triggered))
    try connection.execute("""
        CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text NOT NULL, operation text NOT NULL,
                                old_row jsonb, new_row jsonb, changed_by text NOT NULL DEFAULT current_user,
                                changed_at timestamptz NOT NULL DEFAULT now());
        CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO audit_log (table_name, operation, old_row, new_row)
            VALUES (TG_TABLE_NAME, TG_OP,
                    CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
            RETURN NULL;
        END $$;
        """)
    for table in pgbenchTables {
        try connection.execute("CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON \(table) FOR EACH ROW EXECUTE FUNCTION audit_row()")
    }
    let triggerTPS = try pgbenchTPS(triggered, seconds: benchSeconds, [])
    print(String(format: "  overhead: pgbench TPS over %d s, 4 clients, scale 10: no audit %.0f; walaudit %.0f (%.2f of none; "
                 + "attached with the worker stopped %.0f, %.2f); trigger audit %.0f (%.2f of none); walaudit / trigger %.2f (target >= 1.1)",
                 benchSeconds, plainTPS, walauditTPS, walauditTPS / plainTPS, attachedTPS, attachedTPS / plainTPS,
                 triggerTPS, triggerTPS / plainTPS, walauditTPS / triggerTPS))
}

// 4. Commit-to-store lag at a sustained rate.
if only == nil || only == "lag" {
    let database = try pgbenchDatabase("lag")
    let conninfo = cluster.conninfo(database: database)
    let connection = try Connection(conninfo)
    let walauditConnection = ["--source", conninfo, "--slot", "lag"]
    try run([walaudit, "setup"] + walauditConnection)
    try run([walaudit, "attach"] + pgbenchTables + walauditConnection)
    let worker = try startWorker(walauditConnection)
    let start = try connection.execute("SELECT clock_timestamp()").scalar!
    let tps = try pgbenchTPS(database, seconds: benchSeconds, ["-R", String(rate)])
    let endLSN = try connection.execute("SELECT pg_current_wal_lsn()").scalar!
    while try connection.execute("SELECT confirmed_flush_lsn < $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'lag'",
                                 [endLSN]).scalar == "t" {
        Thread.sleep(forTimeInterval: 0.2)
    }
    worker.send(SIGTERM)
    _ = worker.wait()
    // recorded_at is taken as the event is written, just before its batch commits.
    let lag = try connection.execute("""
        SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms)
        FROM (SELECT extract(epoch FROM recorded_at - event_time) * 1000 AS ms FROM walaudit.event_log
              WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') AND event_time >= $1::timestamptz) l
        """, [start]).rows[0]
    print(String(format: "  lag: pgbench at %d TPS (%.0f achieved) for %d s, %@ events: commit to store p50 %.0f ms, p99 %.0f ms, max %.0f ms (target p99 < 1000 ms)",
                 rate, tps, benchSeconds, lag[0] ?? "0", Double(lag[1] ?? "") ?? .nan, Double(lag[2] ?? "") ?? .nan, Double(lag[3] ?? "") ?? .nan))
}
