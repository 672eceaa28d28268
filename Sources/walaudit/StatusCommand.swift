import ArgumentParser
import Decoding
import Foundation
import PostgresClient

/// `walaudit status`: is capture healthy, and if not, what to do.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show slot health, lag, chain head, last checkpoint and warnings with their fixes.",
        discussion: """
            Reads the source's replication slot and the audit store. Exit status 0 with or \
            without warnings (they are printed, and listed under "warnings" with --json), \
            2 when a database cannot be reached. The --json keys are documented in \
            docs/operations.md and stay stable.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print one JSON object (stable keys; see docs/operations.md).")
    var json = false

    /// Retained WAL above this, with no worker connected, is a warning.
    static let retainedWarningBytes: Int64 = 1 << 30

    func run() throws {
        let report: [(String, JSONValue)]
        do {
            let source = try connection.connectSource()
            let target = connection.targetConninfo == connection.sourceConninfo ? source : try connection.connectTarget()
            report = try Self.report(source: source, store: target, slot: connection.slot)
        } catch {
            FileHandle.standardError.write(Data("walaudit status: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            print(JSONValue.object(report.map { .init($0.0, $0.1) }).serialized)
        } else {
            for (key, value) in report where key != "warnings" {
                print("\(key.replacingOccurrences(of: "_", with: " ")): \(Self.plain(value))")
            }
            if case .array(let warnings)? = report.first(where: { $0.0 == "warnings" })?.1, !warnings.isEmpty {
                print("")
                for case .string(let warning) in warnings { print("WARNING: \(warning)") }
            }
        }
    }

    static func plain(_ value: JSONValue) -> String {
        switch value {
        case .null: "-"
        case .string(let s): s
        case .array(let items): items.isEmpty ? "none" : items.map(plain).joined(separator: ", ")
        default: value.serialized
        }
    }

    /// The status as ordered key/value pairs (the --json object).
    static func report(source: Connection, store: Connection, slot: String) throws -> [(String, JSONValue)] {
        func number(_ text: String?) -> JSONValue { text.map { .number($0) } ?? .null }
        func string(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        var warnings: [String] = []
        var out: [(String, JSONValue)] = [("slot", .string(slot))]

        let slotRow = try source.execute("""
            SELECT s.active, s.wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
                   s.confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
                   coalesce(a.application_name, '')
            FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            WHERE s.slot_name = $1
            """, [slot]).rows.first
        if let row = slotRow {
            let active = row[0] == "t"
            let retained = Int64(row[2] ?? "0") ?? 0
            out += [("slot_active", .bool(active)), ("wal_status", string(row[1])), ("retained_wal_bytes", number(row[2])),
                    ("confirmed_lsn", string(row[3])), ("lag_bytes", number(row[4]))]
            if row[1] == "lost" {
                warnings.append("the slot was invalidated and changes are lost: the worker records a GAP; recreate the slot (SELECT pg_drop_replication_slot('\(slot)'); then walaudit setup), see docs/operations.md")
            } else if row[1] == "unreserved" {
                warnings.append("the slot is about to lose WAL it still needs (wal_status unreserved): start the worker now, or raise max_slot_wal_keep_size")
            }
            if !active && retained >= retainedWarningBytes {
                warnings.append("slot retains \(formatBytes(retained)) of WAL and no worker is connected: start it (walaudit run) or remove the slot (walaudit teardown --drop-slot)")
            } else if !active {
                warnings.append("no worker is connected to slot \(slot): start walaudit run")
            } else if row[5] != "walaudit" {
                warnings.append("slot \(slot) is used by another client (\(row[5] ?? "?")), not by a walaudit worker")
            }
        } else {
            out += [("slot_active", .bool(false)), ("wal_status", .null), ("retained_wal_bytes", .null), ("confirmed_lsn", .null),
                    ("lag_bytes", .null)]
            warnings.append("replication slot \(slot) does not exist: run walaudit setup")
        }

        let state = try store.execute("""
            SELECT last_lsn::text, to_char(last_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   extract(epoch FROM now() - last_commit_time)::bigint
            FROM walaudit.capture_state WHERE slot = $1
            """, [slot]).rows.first
        let lagBytes = Int64(out.first { $0.0 == "lag_bytes" }.flatMap { if case .number(let n) = $0.1 { n } else { nil } } ?? "0") ?? 0
        out += [("stored_lsn", string(state?[0] ?? nil)), ("last_stored_commit", string(state?[1] ?? nil)),
                // Seconds behind: the age of the newest stored commit while WAL
                // is still waiting (past a 16 MiB segment of keepalive drift).
                ("lag_seconds", lagBytes > 16 << 20 ? number(state?[2] ?? nil) : .number("0"))]

        let rate = try store.execute("""
            SELECT round(count(*) / 60.0, 1) FROM walaudit.event_log WHERE event_time > now() - interval '1 minute'
            """).scalar
        out.append(("events_per_second", number(rate)))

        let head = try store.execute("""
            SELECT seq, encode(hash, 'hex') FROM walaudit.event_log ORDER BY seq DESC LIMIT 1
            """).rows.first
        out += [("chain_head_seq", number(head?[0] ?? nil)), ("chain_head_hash", string(head?[1] ?? nil))]

        let checkpoint = try store.execute("""
            SELECT seq, extract(epoch FROM now() - checkpoint_time)::bigint FROM walaudit.checkpoint_log
            ORDER BY recorded_at DESC LIMIT 1
            """).rows.first
        out += [("last_checkpoint_seq", number(checkpoint?[0] ?? nil)), ("last_checkpoint_age_seconds", number(checkpoint?[1] ?? nil))]
        if checkpoint == nil {
            warnings.append("no signed checkpoint yet: without them a cut tail or a superuser's rewrite goes unnoticed; run the worker with --checkpoint-dir and --signing-key")
        } else if let age = Int(checkpoint?[1] ?? ""), age > 600 {
            warnings.append("the last signed checkpoint is \(age / 60) minutes old: is the worker running with --checkpoint-dir and --signing-key?")
        }

        let gaps = try store.execute("""
            SELECT seq, coalesce(new_row->>'reason', new_row->>'detail', '') FROM walaudit.event_log
            WHERE operation = 'GAP' ORDER BY seq DESC
            """).rows
        out.append(("gaps", .array(gaps.map { .object([.init("seq", number($0[0])), .init("reason", string($0[1]))]) })))
        if let latest = gaps.first {
            warnings.append("the trail has \(gaps.count) gap(s); the latest, at seq \(latest[0] ?? "?"), says: \(latest[1] ?? "") (see walaudit.events where operation = 'GAP')")
        }

        let tables = try source.execute("""
            SELECT format('%I.%I', schema_name, table_name) FROM walaudit.attached_tables ORDER BY 1
            """).rows.map { JSONValue.string($0[0] ?? "") }
        out.append(("attached_tables", .array(tables)))
        if tables.isEmpty { warnings.append("no table is attached: walaudit attach TABLE") }

        out.append(("warnings", .array(warnings.map(JSONValue.string))))
        return out
    }

    static func formatBytes(_ bytes: Int64) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GB", Double(bytes) / Double(1 << 30)) : String(format: "%.0f MB", Double(bytes) / Double(1 << 20))
    }
}
