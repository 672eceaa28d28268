// Loads N synthetic events into an empty audit store as a real chain (so
// `walaudit verify` and `walaudit report` check every hash), spread over
// one year: 10 tables of 100,000 row keys, 200 actors (a few busy ones,
// many occasional), mostly UPDATEs, and per 1M events one DDL, one
// retention setting and one legal hold (POLICY), with one GAP in the
// middle. Run by bench/report-html.sh.
//
//   report-bench CONNINFO N
import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient

let arguments = CommandLine.arguments
guard arguments.count == 3, let total = Int64(arguments[2]), total > 0 else {
    FileHandle.standardError.write(Data("usage: report-bench CONNINFO N\n".utf8))
    exit(2)
}
let connection = try Connection(arguments[1])
let store = EventStore(connection: connection)
var chain = try store.loadChain()
guard chain.seq == 0 else {
    FileHandle.standardError.write(Data("report-bench: the store has events already; give it an empty one\n".utf8))
    exit(2)
}

let yearStart = PostgresTimestamp(postgresText: "2026-01-01 00:00:00+00")!.microsecondsSinceEpoch
let step = 365 * 86_400 * 1_000_000 / total  // microseconds between events
let actors = (0..<200).map { Actor(dbUser: $0 < 20 ? "svc_\($0)" : "app", roleName: "app",
                                   appUser: $0 < 20 ? nil : "user\($0)@example.com", applicationName: "shop") }
let dba = Actor(dbUser: "postgres", roleName: "postgres", applicationName: "psql")
let officer = Actor(dbUser: "dpo", roleName: "walaudit_admin", appUser: "officer@example.com")

/// The event with seq `seq`: a row change, or now and then a DDL, POLICY or GAP event.
func event(_ seq: Int64) -> AuditEvent {
    let time = PostgresTimestamp(microsecondsSinceEpoch: yearStart + seq * step)
    let table = "t\(seq % 10)"
    switch seq % 1_000_000 {
    case 250_000:
        return AuditEvent(eventTime: time, operation: .ddl, schemaName: "public", tableName: table, actor: dba,
                          newRow: .object([.init("command_tag", .string("ALTER TABLE")), .init("object_type", .string("table")),
                                           .init("object_identity", .string("public.\(table)"))]))
    case 500_000:
        return AuditEvent(eventTime: time, operation: .policy, schemaName: "public", tableName: table, actor: officer,
                          rowKey: .object([.init("policy", .string("retention"))]),
                          newRow: .object([.init("action", .string("set_retention")), .init("keep", .string("7 years")),
                                           .init("mode", .string("compliance"))]))
    case 750_000:
        return AuditEvent(eventTime: time, operation: .policy, schemaName: "public", tableName: table, actor: officer,
                          rowKey: .object([.init("policy", .string("legal_hold")), .init("name", .string("case-\(seq)"))]),
                          newRow: .object([.init("action", .string("place_legal_hold")), .init("reason", .string("subpoena \(seq)")),
                                           .init("row_key", .object([.init("id", .number("42"))]))]))
    default: break
    }
    if seq == total / 2 {
        return AuditEvent(eventTime: time, operation: .gap, actor: .unknown,
                          newRow: .object([.init("reason", .string("slot invalidated")), .init("detail", .string("synthetic gap"))]))
    }
    // A skewed mix of actors: every other event by one of the first ten.
    let mixed = (UInt64(seq) &* 0x9E37_79B9_7F4A_7C15) >> 32
    let actor = actors[Int(seq % 2 == 0 ? mixed % 10 : mixed % 200)]
    let id = JSONValue.number(String((seq / 10) % 100_000))
    let operation: AuditEvent.Operation = seq % 50 == 1 ? .insert : seq % 50 == 2 ? .delete : .update
    let image = JSONValue.object([.init("id", id), .init("v", .number(String(seq)))])
    return AuditEvent(eventTime: time, operation: operation, schemaName: "public", tableName: table,
                      changedColumns: operation == .update ? ["v"] : ["id", "v"], actor: actor, xid: seq,
                      lsn: LSN(UInt64(seq) << 8), lsnPosition: 0, rowKey: .object([.init("id", id)]),
                      oldRow: operation == .insert ? nil : image, newRow: operation == .delete ? nil : image)
}

let started = Date()
let batch: Int64 = 100_000
var seq: Int64 = 1
while seq <= total {
    try connection.execute("BEGIN")
    let last = min(seq + batch - 1, total)
    for next in seq...last { try store.write(chain.append(event(next))) }
    try store.finishCopy()
    try connection.execute("COMMIT")
    seq = last + 1
}
let seconds = Date().timeIntervalSince(started)
print("loaded \(total) chained events in \(Int(seconds)) s (\(Int(Double(total) / seconds)) events/s)")
