import ArgumentParser
import AuditStore
import Decoding

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

    func run() throws {
        let (source, store) = try connection.connectBoth()
        let status = try failing("cannot read the status") { try StoreStatus.read(source: source, store: store, slot: connection.slot) }
        let report = Self.report(status)
        if json {
            print(JSONValue.object(report.map { .init($0.0, $0.1) }).serialized)
            return
        }
        for (key, value) in report where key != "warnings" {
            print("\(key.replacingOccurrences(of: "_", with: " ")): \(Self.plain(value))")
        }
        if !status.warnings.isEmpty {
            print("")
            for warning in status.warnings { print("WARNING: \(warning)") }
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

    /// The status as ordered key/value pairs: the --json object, whose keys
    /// docs/operations.md documents.
    static func report(_ status: StoreStatus) -> [(String, JSONValue)] {
        func number<N: BinaryInteger>(_ value: N?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        func string(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        let slot = status.slot
        return [
            ("slot", .string(status.slotName)), ("slot_active", .bool(slot?.isActive ?? false)), ("wal_status", string(slot?.walStatus)),
            ("retained_wal_bytes", number(slot?.retainedBytes)), ("confirmed_lsn", string(slot?.confirmedLSN)),
            ("lag_bytes", number(slot?.lagBytes)), ("stored_lsn", string(status.storedLSN)),
            ("last_stored_commit", string(status.lastStoredCommit)), ("lag_seconds", number(status.lagSeconds)),
            ("events_per_second", status.eventsPerSecond.map { .number($0) } ?? .null),
            ("chain_head_seq", number(status.head?.seq)), ("chain_head_hash", string(status.head?.hash)),
            ("last_checkpoint_seq", number(status.lastCheckpoint?.seq)),
            ("last_checkpoint_age_seconds", number(status.lastCheckpoint?.ageSeconds)),
            ("gaps", .array(status.gaps.map { .object([.init("seq", number($0.seq)), .init("reason", .string($0.reason))]) })),
            ("attached_tables", .array(status.attachedTables.map(JSONValue.string))),
            ("uncovered_tables", .array(status.uncoveredTables.map {
                .object([.init("table", .string($0.table)), .init("since", .string($0.since))])
            })),
            ("baselines", .array(status.baselines.map {
                .object([.init("table", .string($0.table)), .init("rows_recorded", number($0.rowsRecorded)),
                         .init("rows_skipped", number($0.rowsSkipped)), .init("requested_at", .string($0.requestedAt))])
            })),
            ("warnings", .array(status.warnings.map(JSONValue.string))),
        ]
    }
}
