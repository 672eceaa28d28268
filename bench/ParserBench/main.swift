// Parser micro-benchmark: records a real pgbench stream with pg_recvlogical
// on a throwaway cluster, then times the test_decoding parser over it.
//
//   swift run -c release parser-bench [--transactions N] [--keep FILE]
//
// Prints MB/s and changes/s for: splitting and parsing the newline stream
// (`walaudit decode`), parsing whole records one by one (the replication
// path), and parsing plus JSON conversion of every row.
import Decoding
import EmbeddedPostgres
import Foundation
import PostgresClient

var transactions = 20_000
var keepFile: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--transactions": transactions = Int(arguments.next() ?? "") ?? transactions
    case "--keep": keepFile = arguments.next()
    default:
        FileHandle.standardError.write(Data("usage: parser-bench [--transactions N] [--keep FILE]\n".utf8))
        exit(2)
    }
}

func check(_ result: (status: Int32, stdout: [UInt8], stderr: [UInt8]), _ what: String) -> [UInt8] {
    guard result.status == 0 else {
        FileHandle.standardError.write(Data("\(what) failed: \(String(decoding: result.stderr, as: UTF8.self))\n".utf8))
        exit(1)
    }
    return result.stdout
}

// 1. Record a stream.
let cluster = try ThrowawayCluster()
defer { cluster.shutdown() }
let database = try cluster.createDatabase(prefix: "bench")
let connection = try Connection(cluster.conninfo(database: database))
let pgbenchConnection = ["-h", cluster.directory, "-p", String(cluster.port), "-U", ThrowawayCluster.superuser, database]
_ = check(try ChildProcess.run([cluster.binDirectory + "/pgbench", "-i", "-q", "-s", "1"] + pgbenchConnection), "pgbench -i")
try connection.execute("""
    ALTER TABLE pgbench_accounts REPLICA IDENTITY FULL; ALTER TABLE pgbench_branches REPLICA IDENTITY FULL;
    ALTER TABLE pgbench_tellers REPLICA IDENTITY FULL; ALTER TABLE pgbench_history REPLICA IDENTITY FULL;
    """)
try connection.execute("SELECT pg_create_logical_replication_slot('bench', 'test_decoding')")
_ = check(try ChildProcess.run([cluster.binDirectory + "/pgbench", "-n", "-c", "4", "-j", "2",
                                "-t", String(transactions / 4)] + pgbenchConnection), "pgbench")
let endLSN = try connection.execute("SELECT pg_current_wal_lsn()").scalar!
let stream = check(try ChildProcess.run([
    cluster.binDirectory + "/pg_recvlogical", "-d", cluster.conninfo(database: database), "--slot", "bench",
    "--start", "--endpos", endLSN, "--no-loop", "-o", "include-xids=1", "-o", "include-timestamp=1",
    "-o", "skip-empty-xacts=1", "-f", "-",
]), "pg_recvlogical")
if let keepFile { try Data(stream).write(to: URL(fileURLWithPath: keepFile)) }

// 2. Time the parser.
func best(of runs: Int = 5, _ body: () throws -> Int) rethrows -> (seconds: Double, changes: Int) {
    var fastest = Double.infinity
    var changes = 0
    for _ in 0..<runs {
        let start = ContinuousClock.now
        changes = try body()
        let elapsed = ContinuousClock.now - start
        fastest = min(fastest, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
    return (fastest, changes)
}

var recordRanges: [Range<Int>] = []
let splitAndParse = try best {
    var splitter = RecordStream()
    splitter.append(stream)
    var changes = 0
    var previous: Int?
    recordRanges.removeAll(keepingCapacity: true)
    while let (record, offset) = try splitter.next(isFinal: true) {
        if case .change = record { changes += 1 }
        if let previous { recordRanges.append(previous..<(offset - 1)) }
        previous = offset
    }
    if let previous { recordRanges.append(previous..<(stream.count - 1)) }
    return changes
}

let wholeRecords = try stream.withUnsafeBufferPointer { buffer in
    try best {
        var changes = 0
        for range in recordRanges {
            if case .change = try TestDecoding.parseRecord(UnsafeBufferPointer(rebasing: buffer[range])) { changes += 1 }
        }
        return changes
    }
}

let withJSON = try stream.withUnsafeBufferPointer { buffer in
    try best {
        var changes = 0
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        for range in recordRanges {
            let record = try TestDecoding.parseRecord(UnsafeBufferPointer(rebasing: buffer[range]))
            if case .change = record { changes += 1 }
            try record.json().write(to: &out)
            out.removeAll(keepingCapacity: true)
        }
        return changes
    }
}

let megabytes = Double(stream.count) / 1_000_000
print("parser-bench: \(recordRanges.count) records, \(splitAndParse.changes) row changes, "
      + String(format: "%.1f MB", megabytes) + " recorded from pgbench (\(transactions) transactions)")
for (name, result) in [("stream split + parse (walaudit decode)", splitAndParse),
                       ("whole-record parse (replication path)", wholeRecords),
                       ("parse + JSON conversion", withJSON)] {
    let label = name.padding(toLength: 40, withPad: " ", startingAt: 0)
    print("  " + label + String(format: "%8.1f MB/s %12.0f changes/s",
                                megabytes / result.seconds, Double(result.changes) / result.seconds))
}
