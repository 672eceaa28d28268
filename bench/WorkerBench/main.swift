// Worker benchmarks, side by side in one run on one throwaway cluster
// (fsync on, so "stored" means durable):
//
//   1. memory: a single 1,000,000-row UPDATE captured by `walaudit run`;
//      worker peak RSS (VmHWM) and events/s. Then verify on that chain:
//      `walaudit verify` (all events) and `walaudit.verify_chain()` (the
//      first 100k, or --sql-verify-events; plpgsql is far slower), both
//      must say intact.
//   2. ingest: a pgbench backlog of >= 300k row changes decoded by
//      pg_recvlogical to /dev/null (from a second slot at the same position)
//      vs drained by `walaudit run` into the chained store; --rounds rounds,
//      the ratio of the medians and the CPU per change by process. With
//      --metrics, each round also drains the backlog with the worker serving
//      /metrics (--metrics-address), scraped every second, into a third
//      database: paired with the run into another database without it, the
//      cost of serving metrics on ingest.
//   3. overhead: pgbench TPS (scale 10; 4 clients, saturating both cores,
//      then 1 client, leaving a core free), --rounds rounds of --run-seconds
//      per configuration, interleaved: no audit; a classic trigger audit
//      (AFTER ROW trigger inserting to_jsonb(OLD/NEW)); walaudit attached with
//      the worker stopped; walaudit running with the store in the source
//      database; walaudit with the store in another database. Medians, busy
//      CPU per transaction (the worker's catch-up after the run included).
//   4. lag: pgbench at a fixed rate for --seconds with the worker running;
//      per event, the time from commit to the store (recorded_at −
//      event_time): p50, p99, max.
//
//   swift build -c release && .build/release/worker-bench [--rows N] [--sql-verify-events N] [--transactions N] [--seconds N] [--rate TPS]
//       [--run-seconds N] [--rounds N] [--clients N,N] [--metrics] [--only memory|ingest|overhead|lag]
import Decoding
import EmbeddedPostgres
import Foundation
import PostgresClient
import Synchronization

var rows = 1_000_000
// verify_chain() (plpgsql, ~1k events/s) checks the first 100k events by
// default; the whole chain takes a quarter of an hour.
var sqlVerifyEvents = 100_000
var transactions = 80_000
var only: String?
var benchSeconds = 60
var overheadSeconds = 20
var rounds = 3
var clientCounts = [4, 1]
var rate = 200
var withMetrics = false
/// Where the worker serves /metrics in the --metrics runs.
let metricsPort: UInt16 = 19187
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rows": rows = Int(arguments.next() ?? "") ?? rows
    case "--sql-verify-events": sqlVerifyEvents = Int(arguments.next() ?? "") ?? sqlVerifyEvents
    case "--transactions": transactions = Int(arguments.next() ?? "") ?? transactions
    case "--only": only = arguments.next()
    case "--seconds": benchSeconds = Int(arguments.next() ?? "") ?? benchSeconds
    case "--run-seconds": overheadSeconds = Int(arguments.next() ?? "") ?? overheadSeconds
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--clients": clientCounts = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--rate": rate = Int(arguments.next() ?? "") ?? rate
    case "--metrics": withMetrics = true
    default:
        FileHandle.standardError.write(Data("usage: worker-bench [--rows N] [--sql-verify-events N] [--transactions N] [--seconds N] [--rate TPS] [--run-seconds N] [--rounds N] [--clients N,N] [--metrics] [--only memory|ingest|overhead|lag]\n".utf8))
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

/// CPU time (user + system) a process has used so far, in seconds, from
/// /proc/PID/stat (fields 14 and 15, after the parenthesised name).
func cpuSeconds(_ pid: pid_t) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let nameEnd = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The CPU seconds of named processes over a run: sampled every 100 ms
/// while `running` says so (a process's last sample counts, so work in its
/// final 100 ms is missed), summed per name. `pids` names the processes of
/// interest at each sample (e.g. a slot's walsender).
func cpuWhile(_ pids: () throws -> [(name: String, pid: pid_t)], running: () throws -> Bool) throws -> [String: Double] {
    var last: [pid_t: (name: String, seconds: Double)] = [:]
    while try running() {
        for (name, pid) in try pids() {
            if let seconds = cpuSeconds(pid) { last[pid] = (name, seconds) }
        }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return last.values.reduce(into: [:]) { $0[$1.name, default: 0] += $1.seconds }
}

/// The walsender serving `slot` and the backends of the worker's connections.
func pipelinePIDs(_ connection: Connection, slot: String) throws -> [(name: String, pid: pid_t)] {
    try connection.execute("""
        SELECT 'walsender', active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL
        UNION ALL SELECT 'store backend', pid FROM pg_stat_activity WHERE application_name = 'walaudit-worker' AND backend_type = 'client backend'
        """, [slot]).rows.map { ($0[0]!, pid_t($0[1]!)!) }
}

func startWorker(_ connection: [String]) throws -> ChildProcess {
    let log = open(NSTemporaryDirectory() + "/worker-bench.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
    defer { close(log); close(devNull) }
    return try ChildProcess.spawn([walaudit, "run"] + connection, stdin: devNull, stdout: log, stderr: log)
}

/// Waits until the store holds `count` events. max(seq) (the primary key's
/// last entry; seqs are gapless) instead of count(*), whose scan of a
/// growing log several times a second took CPU from what is measured.
func waitForEvents(_ connection: Connection, _ count: Int, worker: ChildProcess) throws {
    while Int(try connection.execute("SELECT coalesce(max(seq), 0) FROM walaudit.event_log").scalar!)! < count {
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
    try run([walaudit, "attach", "wide", "--no-baseline"] + walauditConnection)
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
    let sqlRange = min(events, sqlVerifyEvents)
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

// 2. Ingest of a pgbench backlog, walaudit vs pg_recvlogical: `rounds`
// rounds, each on a fresh database with its own backlog. walaudit drains
// the backlog twice, from slots made at the same point: with the store in
// the source database (the default; the walsender then also decodes the
// store's own inserts) and in another database of the cluster. This VM's
// speed drifts within a minute (pg_recvlogical's rate moved 44k-98k in one
// run), so pg_recvlogical decodes the backlog before and after each
// walaudit run (R W R W R) and each walaudit rate is compared with the mean
// of its two neighbours; the median of those ratios is reported.
if only == nil || only == "ingest" {
    struct Placement {
        let name: String
        var rates: [Double] = []
        var ratios: [Double] = []
        var cpus: [[String: Double]] = []
    }
    var placements = [Placement(name: "store in the source database"), Placement(name: "store in another database")]
    if withMetrics { placements.append(Placement(name: "store in another database, serving /metrics scraped every second")) }
    var decodeRates: [Double] = [], decodeCPUs: [[String: Double]] = []
    let changes = transactions * 4
    // CPU per 1,000 changes by process: on 2 cores the bound is 2
    // CPU-seconds per second of wall time, whoever spends them.
    func perThousand(_ cpu: [String: Double]) -> String {
        cpu.sorted { $0.key < $1.key }.map { String(format: "%@ %.0f ms", $0.key, $0.value * 1000 / Double(changes / 1000)) }
            .joined(separator: ", ") + String(format: "; total %.0f ms", cpu.values.reduce(0, +) * 1000 / Double(changes / 1000))
    }
    func medianCPU(_ runs: [[String: Double]]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: Set(runs.flatMap(\.keys)).map { name in
            (name, runs.map { $0[name] ?? 0 }.sorted()[runs.count / 2])
        })
    }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    for round in 1...rounds {
        let database = try cluster.createDatabase(prefix: "ingest")
        let conninfo = cluster.conninfo(database: database)
        let connection = try Connection(conninfo)
        let pgbench = ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database]
        try run([cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "10"] + pgbench)
        let otherStore = try cluster.createDatabase(prefix: "ingest_store")
        var stores = [conninfo, cluster.conninfo(database: otherStore)]
        var placementConnections = [
            ["--source", conninfo, "--slot", "ingest\(round)"],
            ["--source", conninfo, "--slot", "ingest_other\(round)", "--target", stores[1]],
        ]
        if withMetrics {
            stores.append(cluster.conninfo(database: try cluster.createDatabase(prefix: "ingest_metrics")))
            placementConnections.append(["--source", conninfo, "--slot", "ingest_metrics\(round)", "--target", stores[2]])
        }
        for walauditConnection in placementConnections { try run([walaudit, "setup"] + walauditConnection) }
        // --no-baseline: this measures change ingest; a baseline of
        // pgbench's existing rows would run alongside (bench/baseline.sh measures that).
        try run([walaudit, "attach", "--no-baseline", "pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history"] + placementConnections[0])
        let copySlots = (1...placements.count + 1).map { "ingest_copy\(round)_\($0)" }
        for slot in copySlots { try connection.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot]) }
        // The backlog is made as fast as possible; how it was made does not matter.
        setenv("PGOPTIONS", "-c synchronous_commit=off", 1)
        try run([cluster.binDirectory + "/pgbench", "-n", "-c", "4", "-j", "2", "-t", String(transactions / 4)] + pgbench)
        unsetenv("PGOPTIONS")
        let endLSN = try connection.execute("SELECT pg_current_wal_lsn()").scalar!

        func decode(_ slot: String) throws -> Double {
            let (rate, cpu) = try decodeBacklog(connection: connection, conninfo: conninfo, slot: slot, endLSN: endLSN, changes: changes)
            decodeRates.append(rate)
            decodeCPUs.append(cpu)
            return rate
        }
        var before = try decode(copySlots[0])
        var line = String(format: "  ingest round %d: %d row changes; pg_recvlogical %.0f changes/s", round, changes, before)
        for (index, walauditConnection) in placementConnections.enumerated() {
            let slot = walauditConnection[3]
            let store = try Connection(stores[index])
            let ingestStart = ContinuousClock.now
            let serving = index == 2
            let worker = try startWorker(walauditConnection + (serving ? ["--metrics-address", "127.0.0.1:\(metricsPort)"] : []))
            let scraper = serving ? Scraper(port: metricsPort) : nil
            let ingestCPU = try cpuWhile({ try pipelinePIDs(connection, slot: slot) + [("worker", worker.pid)] }, running: {
                var status: Int32 = 0
                if waitpid(worker.pid, &status, WNOHANG) == worker.pid { fail("the worker exited; see \(NSTemporaryDirectory())/worker-bench.log") }
                return Int(try store.execute("SELECT coalesce(max(seq), 0) FROM walaudit.event_log").scalar!)! < 4 + changes
            })
            let ingestSeconds = seconds(since: ingestStart)
            if let scraper, scraper.stop() == 0 { fail("no scrape of the worker's /metrics succeeded") }
            let rss = peakRSS(worker.pid)
            worker.send(SIGTERM)
            _ = worker.wait()
            // Its backends gone before the next run samples CPU by application name.
            while try connection.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'walaudit-worker'").scalar != "0" {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let after = try decode(copySlots[index + 1])
            let ingestRate = Double(changes) / ingestSeconds
            let ratio = ingestRate / ((before + after) / 2)
            placements[index].rates.append(ingestRate)
            placements[index].ratios.append(ratio)
            placements[index].cpus.append(ingestCPU)
            line += String(format: "; walaudit, %@, %.1f s (%.0f events/s, peak RSS %.1f MiB); pg_recvlogical %.0f; ratio %.2f",
                           placements[index].name, ingestSeconds, ingestRate, rss, after, ratio)
            before = after
        }
        print(line)
        // The slots go, so the next round's WAL is not held for them.
        try connection.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1::text[])",
                               [TextArray.literal(copySlots + placementConnections.map { $0[3] })])
    }
    print(String(format: "  ingest, pg_recvlogical to /dev/null: median %.0f changes/s (%.0f-%.0f over %d runs)",
                 median(decodeRates), decodeRates.min()!, decodeRates.max()!, decodeRates.count))
    print("  ingest CPU per 1000 changes, medians, pg_recvlogical run: \(perThousand(medianCPU(decodeCPUs)))")
    for placement in placements {
        print(String(format: "  ingest, %@: walaudit median %.0f events/s; ratio to the neighbouring pg_recvlogical runs: median %.2f (%@) (target >= 0.5)",
                     placement.name, median(placement.rates), median(placement.ratios),
                     placement.ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        print("  ingest CPU per 1000 changes, medians, \(placement.name): \(perThousand(medianCPU(placement.cpus)))")
    }
    if withMetrics {
        let paired = zip(placements[2].rates, placements[1].rates).map { $0 / $1 }
        print(String(format: "  ingest serving /metrics vs not (store in another database, same round): median ratio %.2f (%@)",
                     median(paired), paired.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
    }
}

/// GETs the worker's /metrics every second on its own thread, as Prometheus would.
final class Scraper: Sendable {
    private let running = Atomic<Bool>(true)
    private let scrapes = Atomic<Int>(0)
    private let finished = Atomic<Bool>(false)

    init(port: UInt16) {
        Thread { [self] in
            while running.load(ordering: .relaxed) {
                if Self.get(port: port) { scrapes.add(1, ordering: .relaxed) }
                Thread.sleep(forTimeInterval: 1)
            }
            finished.store(true, ordering: .releasing)
        }.start()
    }

    /// Stops scraping; how many scrapes answered 200.
    func stop() -> Int {
        running.store(false, ordering: .relaxed)
        while !finished.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.05) }
        return scrapes.load(ordering: .relaxed)
    }

    private static func get(port: UInt16) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }  // the worker is still starting
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            response += buffer[..<count]
        }
        return response.starts(with: Array("HTTP/1.1 200".utf8))
    }
}

/// pg_recvlogical decoding a backlog from `slot` to /dev/null up to
/// `endLSN`: changes/s, and CPU seconds by process.
func decodeBacklog(connection: Connection, conninfo: String, slot: String, endLSN: String, changes: Int) throws -> (Double, [String: Double]) {
    let decodeStart = ContinuousClock.now
    let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
    let recvlogical = try ChildProcess.spawn([cluster.binDirectory + "/pg_recvlogical", "-d", conninfo, "--slot", slot, "--start",
                                              "--endpos", endLSN, "--no-loop", "-o", "include-xids=1", "-o", "include-timestamp=1",
                                              "-o", "skip-empty-xacts=1", "-f", "/dev/null"], stdin: devNull, stdout: devNull, stderr: devNull)
    close(devNull)
    var recvlogicalStatus: Int32 = 0
    let cpu = try cpuWhile({
        try pipelinePIDs(connection, slot: slot) + [("pg_recvlogical", recvlogical.pid)]
    }, running: { waitpid(recvlogical.pid, &recvlogicalStatus, WNOHANG) == 0 })
    guard recvlogicalStatus == 0 else { fail("pg_recvlogical failed (status \(recvlogicalStatus))") }
    return (Double(changes) / seconds(since: decodeStart), cpu)
}

/// pgbench's connection arguments for `database`.
func pgbenchArguments(_ database: String) -> [String] {
    ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database]
}

/// The TPS of a timed pgbench run started from a fresh checkpoint with the
/// cluster's earlier work vacuumed, so one run's leftovers do not slow the next.
func pgbenchTPS(_ database: String, seconds: Int, _ options: [String]) throws -> Double {
    try run([cluster.binDirectory + "/vacuumdb", "--all", "-q", "-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser])
    try Connection(cluster.conninfo()).execute("CHECKPOINT")
    return try pgbench(database, seconds: seconds, options).tps
}

/// A timed pgbench run's TPS (without connection time) and transaction count.
func pgbench(_ database: String, seconds: Int, _ options: [String], clients: Int = 4) throws -> (tps: Double, transactions: Int) {
    let result = try ChildProcess.run([cluster.binDirectory + "/pgbench", "-n", "-c", String(clients), "-j", String(min(clients, 2)), "-T", String(seconds)]
                                      + options + pgbenchArguments(database))
    let output = String(decoding: result.stdout, as: UTF8.self)
    let lines = output.split(separator: "\n")
    guard result.status == 0, let tpsLine = lines.first(where: { $0.hasPrefix("tps = ") }),
          let tps = Double(tpsLine.dropFirst(6).prefix { $0 != " " }),
          let countLine = lines.first(where: { $0.hasPrefix("number of transactions actually processed: ") }),
          let transactions = Int(countLine.dropFirst(43).prefix { $0 != "/" && $0 != " " }) else {
        fail("pgbench failed: \(output) \(String(decoding: result.stderr, as: UTF8.self))")
    }
    return (tps, transactions)
}

/// CPU seconds the whole machine has spent busy (user, nice, system, irq,
/// softirq; not idle, I/O wait or time stolen by the hypervisor), from /proc/stat.
func busyCPUSeconds() -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
          let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
    let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard ticks.count >= 7 else { return 0 }
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// A fresh database initialised by pgbench at scale 10.
func pgbenchDatabase(_ prefix: String) throws -> String {
    let database = try cluster.createDatabase(prefix: prefix)
    try run([cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "10"] + pgbenchArguments(database))
    return database
}

let pgbenchTables = ["pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history"]

// 3. Source overhead: no audit, trigger audit, walaudit — interleaved.
// The machine is a shared VM whose speed drifts (steal time up to 40 %), so
// the configurations take turns, `rounds` times, and the medians compare.
if only == nil || only == "overhead" {
    /// One configuration: its own pgbench database; for walaudit, its slot and worker command.
    struct Setup {
        let name: String
        let database: String
        var worker: [String]? = nil
        var slot: String? = nil
        var tps: [Double] = []
        var cpuPerTransaction: [Double] = []
        var catchUp: [Double] = []
    }
    let admin = try Connection(cluster.conninfo())
    func walauditSetup(_ name: String, slot: String, separateStore: Bool, runWorker: Bool) throws -> Setup {
        let database = try pgbenchDatabase("overhead_\(slot)")
        var connection = ["--source", cluster.conninfo(database: database), "--slot", slot]
        if separateStore { connection += ["--target", cluster.conninfo(database: try cluster.createDatabase(prefix: "store_\(slot)"))] }
        try run([walaudit, "setup"] + connection)
        try run([walaudit, "attach", "--no-baseline"] + pgbenchTables + connection)
        return Setup(name: name, database: database, worker: runWorker ? [walaudit, "run"] + connection : nil, slot: slot)
    }
    var setups = [Setup(name: "no audit", database: try pgbenchDatabase("overhead_none"))]
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
    setups.append(Setup(name: "trigger audit", database: triggered))
    // Attached, worker stopped: the source-side cost alone (actor trigger,
    // REPLICA IDENTITY FULL). Its slot is advanced after each run (nothing
    // reads it), so retained WAL does not grow from round to round.
    setups.append(try walauditSetup("walaudit attached, worker stopped", slot: "attached", separateStore: false, runWorker: false))
    setups.append(try walauditSetup("walaudit, store in the source database", slot: "running", separateStore: false, runWorker: true))
    // The walsender decodes every change of its database: a store in the
    // source database has its own inserts decoded (and skipped by the
    // worker); in another database they are filtered out before decoding.
    setups.append(try walauditSetup("walaudit, store in another database", slot: "separate", separateStore: true, runWorker: true))
    let baseline = setups

    for clients in clientCounts {
        setups = baseline
        for _ in 1...rounds {
            for index in setups.indices {
                let setup = setups[index]
                try run([cluster.binDirectory + "/vacuumdb", "--all", "-q", "-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser])
                try admin.execute("CHECKPOINT")
                let log = open(NSTemporaryDirectory() + "/worker-bench.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
                let worker = try setup.worker.map { try ChildProcess.spawn($0, stdin: devNull, stdout: log, stderr: log) }
                close(log); close(devNull)
                if worker != nil {  // connected and caught up before the clock starts
                    let lsn = try admin.execute("SELECT pg_current_wal_lsn()").scalar!
                    while try admin.execute("SELECT coalesce(confirmed_flush_lsn < $1::pg_lsn, true) FROM pg_replication_slots WHERE slot_name = $2",
                                            [lsn, setup.slot!]).scalar != "f" {
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                }
                let busyBefore = busyCPUSeconds()
                let result = try pgbench(setup.database, seconds: overheadSeconds, [], clients: clients)
                let endLSN = try admin.execute("SELECT pg_current_wal_lsn()").scalar!
                if let worker {
                    // How long after pgbench stopped the worker had stored everything.
                    let catchUpStart = ContinuousClock.now
                    while try admin.execute("SELECT confirmed_flush_lsn < $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2",
                                            [endLSN, setup.slot!]).scalar == "t" {
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    setups[index].catchUp.append(seconds(since: catchUpStart))
                    worker.send(SIGTERM)
                    _ = worker.wait()
                } else if let slot = setup.slot {
                    try Connection(cluster.conninfo(database: setup.database))
                        .execute("SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())", [slot])
                }
                // CPU per transaction counts the worker's catch-up too: the whole cost of auditing the run.
                setups[index].cpuPerTransaction.append((busyCPUSeconds() - busyBefore) / Double(result.transactions))
                setups[index].tps.append(result.tps)
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let none = median(setups[0].tps), trigger = median(setups[1].tps)
        print("  overhead: pgbench, \(clients) client(s), scale 10, \(rounds) rounds of \(overheadSeconds) s per configuration, interleaved; median TPS (ratio to no audit), busy CPU per transaction:")
        for setup in setups {
            var line = String(format: "    %@: %.0f TPS (%.2f), %.2f ms CPU/transaction; per round %@",
                              setup.name, median(setup.tps), median(setup.tps) / none, median(setup.cpuPerTransaction) * 1000,
                              setup.tps.map { String(format: "%.0f", $0) }.joined(separator: ", "))
            if !setup.catchUp.isEmpty {
                line += String(format: "; everything stored %.1f s after pgbench stopped", median(setup.catchUp))
            }
            print(line)
        }
        // PRODUCT.md §7: ≥ 1.0× the trigger audit on the shared cores, ≥ 1.3× with a core to spare.
        let target = clients >= ProcessInfo.processInfo.activeProcessorCount ? 1.0 : 1.3
        for setup in setups[3...] {
            print(String(format: "    %@ / trigger audit: %.2f (target >= %.1f)", setup.name, median(setup.tps) / trigger, target))
        }
    }
}

// 4. Commit-to-store lag at a sustained rate.
if only == nil || only == "lag" {
    let database = try pgbenchDatabase("lag")
    let conninfo = cluster.conninfo(database: database)
    let connection = try Connection(conninfo)
    let walauditConnection = ["--source", conninfo, "--slot", "lag"]
    try run([walaudit, "setup"] + walauditConnection)
    try run([walaudit, "attach", "--no-baseline"] + pgbenchTables + walauditConnection)
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
        SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms),
               count(*) FILTER (WHERE ms > 250), count(DISTINCT tx) FILTER (WHERE ms > 250), (array_agg(at ORDER BY ms DESC))[1]
        FROM (SELECT extract(epoch FROM recorded_at - event_time) * 1000 AS ms, xid AS tx,
                     extract(epoch FROM event_time - $1::timestamptz) AS at FROM walaudit.event_log
              WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') AND event_time >= $1::timestamptz) l
        """, [start]).rows[0]
    print(String(format: "  lag: pgbench at %d TPS (%.0f achieved) for %d s, %@ events: commit to store p50 %.0f ms, p99 %.0f ms, max %.0f ms (target p99 < 1000 ms); over 250 ms: %@ events of %@ transactions; the worst committed %.1f s into the run",
                 rate, tps, benchSeconds, lag[0] ?? "0", Double(lag[1] ?? "") ?? .nan, Double(lag[2] ?? "") ?? .nan, Double(lag[3] ?? "") ?? .nan,
                 lag[4] ?? "0", lag[5] ?? "0", Double(lag[6] ?? "") ?? .nan))
}
