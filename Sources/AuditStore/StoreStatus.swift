import PostgresClient

/// What `walaudit status` reports: the source's slot, where the store
/// stands, the chain head, the last signed checkpoint, gaps and attached
/// tables, and warnings that each name their fix.
public struct StoreStatus: Sendable {
    public var slotName: String
    /// nil when the slot does not exist.
    public var slot: ReplicationSlot?
    /// The newest source transaction in the store (`walaudit.capture_state`).
    public var storedLSN: String?
    /// Its commit time, ISO 8601 in UTC.
    public var lastStoredCommit: String?
    /// Seconds since that commit.
    public var lastStoredCommitAge: Int64?
    /// Events stored in the last minute / 60, one decimal (numeric text).
    public var eventsPerSecond: String?
    public var head: (seq: Int64, hash: String)?
    public var lastCheckpoint: (seq: Int64, ageSeconds: Int64)?
    /// Every GAP event, newest first.
    public var gaps: [(seq: Int64, reason: String)]
    /// `schema.table` of each attached table.
    public var attachedTables: [String]
    /// Attached tables whose changes were found escaping capture
    /// (`gap_since`, set by `walaudit.check_coverage`), with since when
    /// (ISO 8601, UTC), until they are attached again.
    public var uncoveredTables: [(table: String, since: String)] = []
    /// Baselines being taken.
    public var baselines: [BaselineState] = []
    /// walaudit's event triggers that are missing or not enabled ALWAYS:
    /// the name, and `pg_event_trigger.evtenabled` (nil: missing).
    public var eventTriggerProblems: [(name: String, enabled: String?)] = []

    /// Retained WAL above this, with no worker connected, is a warning.
    public static let retainedWarningBytes: Int64 = 1 << 30

    /// Reads the slot and attached tables from `source` and the rest from `store`.
    public static func read(source: Connection, store: Connection, slot: String) throws(PostgresError) -> StoreStatus {
        let state = try store.execute("""
            SELECT last_lsn::text, to_char(last_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   extract(epoch FROM now() - last_commit_time)::bigint
            FROM walaudit.capture_state WHERE slot = $1
            """, [slot]).rows.first
        let rate = try store.execute("""
            SELECT round(count(*) / 60.0, 1) FROM walaudit.event_log WHERE event_time > now() - interval '1 minute'
            """).scalar
        let checkpoint = try store.execute("""
            SELECT seq, extract(epoch FROM now() - checkpoint_time)::bigint FROM walaudit.checkpoint_log
            ORDER BY recorded_at DESC LIMIT 1
            """).rows.first
        let gaps = try store.execute("""
            SELECT seq, coalesce(new_row->>'reason', new_row->>'detail', '') FROM walaudit.event_log
            WHERE operation = 'GAP' ORDER BY seq DESC
            """).rows
        var status = StoreStatus(
            slotName: slot, slot: try ReplicationSlot.read(source, slot: slot),
            storedLSN: state?[0] ?? nil, lastStoredCommit: state?[1] ?? nil, lastStoredCommitAge: (state?[2] ?? nil).flatMap { Int64($0) },
            eventsPerSecond: rate, head: try ChainHead.read(store),
            lastCheckpoint: checkpoint.flatMap { row in Int64(row[0] ?? "").map { ($0, Int64(row[1] ?? "") ?? 0) } },
            gaps: gaps.map { (Int64($0[0] ?? "") ?? 0, $0[1] ?? "") },
            attachedTables: try Attachment.attachedTables(source))
        try status.readCoverage(source)
        status.baselines = try BaselineState.unfinished(slot: slot, store)
        return status
    }

    /// Tables marked uncovered, and the event triggers' state, from the source.
    mutating func readCoverage(_ source: Connection) throws(PostgresError) {
        uncoveredTables = try source.execute("""
            SELECT format('%I.%I', schema_name, table_name), to_char(gap_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM walaudit.attached_tables WHERE gap_since IS NOT NULL ORDER BY 1
            """).rows.map { ($0[0] ?? "?", $0[1] ?? "?") }
        eventTriggerProblems = try source.execute("""
            SELECT w.name, e.evtenabled::text FROM unnest(ARRAY['walaudit_ddl', 'walaudit_drop']) AS w(name)
            LEFT JOIN pg_event_trigger e ON e.evtname = w.name
            WHERE e.evtenabled IS DISTINCT FROM 'A' ORDER BY 1
            """).rows.map { ($0[0] ?? "?", $0[1]) }
    }

    /// Seconds behind: the age of the newest stored commit while WAL is
    /// still waiting (past a 16 MiB segment of keepalive drift), else 0;
    /// nil before anything is stored while WAL waits.
    public var lagSeconds: Int64? {
        (slot?.lagBytes ?? 0) > 16 << 20 ? lastStoredCommitAge : 0
    }

    /// Sentences, each with its fix; empty when all is well.
    public var warnings: [String] {
        var warnings: [String] = []
        if let slot {
            if slot.walStatus == "lost" {
                warnings.append("the slot was invalidated and changes are lost: the worker records a GAP; recreate the slot (SELECT pg_drop_replication_slot('\(slotName)'); then walaudit setup), see docs/operations.md")
            } else if slot.walStatus == "unreserved" {
                warnings.append("the slot is about to lose WAL it still needs (wal_status unreserved): start the worker now, or raise max_slot_wal_keep_size")
            }
            if !slot.isActive && (slot.retainedBytes ?? 0) >= Self.retainedWarningBytes {
                warnings.append("slot retains \(Self.formatBytes(slot.retainedBytes ?? 0)) of WAL and no worker is connected: start it (walaudit run) or remove the slot (walaudit teardown --drop-slot)")
            } else if !slot.isActive {
                warnings.append("no worker is connected to slot \(slotName): start walaudit run")
            } else if slot.clientApplication != "walaudit" {
                warnings.append("slot \(slotName) is used by another client (\(slot.clientApplication.map { $0.isEmpty ? "no application_name" : $0 } ?? "?")), not by a walaudit worker")
            }
        } else {
            warnings.append("replication slot \(slotName) does not exist: run walaudit setup")
        }
        if let lastCheckpoint {
            if lastCheckpoint.ageSeconds > 600 {
                warnings.append("the last signed checkpoint is \(lastCheckpoint.ageSeconds / 60) minutes old: is the worker running with --checkpoint-dir and --signing-key?")
            }
        } else {
            warnings.append("no signed checkpoint yet: without them a cut tail or a superuser's rewrite goes unnoticed; run the worker with --checkpoint-dir and --signing-key")
        }
        if let latest = gaps.first {
            warnings.append("the trail has \(gaps.count) gap(s); the latest, at seq \(latest.seq), says: \(latest.reason) (see walaudit.events where operation = 'GAP')")
        }
        if attachedTables.isEmpty { warnings.append("no table is attached: walaudit attach TABLE") }
        for (table, since) in uncoveredTables {
            warnings.append("\(table) has been UNLOGGED or otherwise uncovered since \(since): its changes are not (all) captured, a GAP event says so and the worker's log names the cause; SET LOGGED if it or a partition is UNLOGGED, and attach it again (walaudit attach), which takes a new baseline")
        }
        for (name, enabled) in eventTriggerProblems {
            let what = name == "walaudit_ddl"
                ? "DDL on attached tables is not being recorded and nothing refuses turning them UNLOGGED or captures their new partitions (the worker finds these within seconds and records a GAP)"
                : "dropping an attached table is not being recorded"
            let state = switch enabled {
            case nil: "is missing"
            case "D": "is disabled"
            case "R": "fires only in replica mode"
            default: "does not fire in replica mode"
            }
            let fix = enabled == nil ? "run walaudit setup" : "ALTER EVENT TRIGGER \(name) ENABLE ALWAYS (as a superuser), or run walaudit setup"
            warnings.append("walaudit's event trigger \(name) \(state): \(what); \(fix)")
        }
        return warnings
    }

    /// "1.5 GB" or "512 MB".
    public static func formatBytes(_ bytes: Int64) -> String {
        let gigabytes = Double(bytes) / Double(1 << 30)
        return gigabytes >= 1 ? "\(rounded(gigabytes)) GB" : "\(Int((Double(bytes) / Double(1 << 20)).rounded())) MB"
    }

    private static func rounded(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
