import Decoding
import EvidenceReport
import PostgresClient

/// Reads what an evidence report shows from the audit store, in one
/// REPEATABLE READ snapshot. The server aggregates: counts per bucket,
/// table, actor and operation come from one GROUP BY over the selection
/// (the BRIN index on event_time narrows a time range), the busiest rows
/// from another; the lists (rows' and actors' events, POLICY, DDL and GAP
/// events) are read through indexes and cut at a limit. So a store of
/// 10M events is scanned, never loaded.
public enum EvidenceReading {
    /// Which events, and how much of each list.
    public struct Request: Sendable {
        public var since: String?
        public var until: String?
        /// `schema.table`, names unquoted (as `walaudit export --table`).
        public var table: String?
        /// Longest list of POLICY, DDL or GAP events.
        public var listLimit = 500
        /// How many top rows and top actors, and how many events each shows.
        public var topCount = 10
        public var eventsPerEntry = 30
        /// Series drawn per chart; the rest are summed as one.
        public var seriesCount = 8

        public init(since: String?, until: String?, table: String?) {
            self.since = since
            self.until = until
            self.table = table
        }
    }

    /// The report's contents; `verdict` and `provenance` come from the
    /// caller, and get what only the store knows (its newest checkpoint
    /// record, the purges retention runs recorded, server version, chain id).
    public static func read(_ store: Connection, _ request: Request, verdict: Verdict, provenance: Provenance) throws -> Evidence {
        try store.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? store.execute("ROLLBACK") }
        // Grouping a big selection by row key needs room; it spills to disk beyond this.
        try store.execute("SET LOCAL work_mem = '64MB'")
        let bounds = [request.since ?? "-infinity", request.until ?? "infinity", request.table ?? ""]

        let head = try store.execute("""
            SELECT \(epoch("greatest($1::timestamptz, (SELECT event_time FROM walaudit.event_log ORDER BY seq LIMIT 1))")),
                   \(epoch("least($2::timestamptz, (SELECT event_time FROM walaudit.event_log ORDER BY seq DESC LIMIT 1))")),
                   (SELECT coalesce(max(seq), 0) FROM walaudit.event_log), (SELECT chain_id::text FROM walaudit.chain),
                   current_setting('server_version'),
                   (SELECT seq FROM walaudit.checkpoints ORDER BY seq DESC LIMIT 1),
                   (SELECT \(iso("checkpoint_time")) FROM walaudit.checkpoints ORDER BY seq DESC LIMIT 1)
            """, Array(bounds.prefix(2))).rows[0]
        let first = head[0].flatMap { Int64($0) } ?? 0
        let bucket = TimeBucket.choose(first: first, last: head[1].flatMap { Int64($0) } ?? first)

        var verdict = verdict
        verdict.storedCheckpoint = head[5].flatMap { Int64($0) }.map { ($0, head[6] ?? "?") }
        verdict.purgesRecordedByRetention = try purgesRecordedByRetention(store)
        // Verification lists the GAPs it met, so none after a tampered seq: these are all of them.
        verdict.gapSeqs = try store.execute("SELECT seq FROM walaudit.event_log WHERE operation = 'GAP' ORDER BY seq").rows.compactMap { $0[0].flatMap { Int64($0) } }
        var provenance = provenance
        provenance.serverVersion = head[4] ?? "?"
        provenance.chainID = head[3]

        let (operations, activity, selectionRange, actorLastSeqs) = try aggregate(store, bounds, bucket: bucket, request: request)
        let selection = Selection(since: request.since, until: request.until, table: request.table, events: selectionRange.events,
                                  firstSeq: selectionRange.firstSeq, lastSeq: selectionRange.lastSeq, firstTime: selectionRange.firstTime,
                                  lastTime: selectionRange.lastTime, storeHeadSeq: head[2].flatMap { Int64($0) } ?? 0)
        let limit = String(request.listLimit + 1)  // one more: the page says whether a list was cut
        return Evidence(
            verdict: verdict, selection: selection, operations: operations, activity: activity,
            gaps: try events(store, where: "e.operation = 'GAP' AND \(inRange) AND \(ofTableOrAll)", order: "ASC", limit: limit, bounds),
            policyEvents: try events(store, where: "e.operation = 'POLICY' AND \(inRange) AND \(ofTableOrAll)", order: "ASC", limit: limit, bounds),
            retentionPolicies: try store.execute("""
                SELECT table_name, keep::text, mode, \(iso("set_at")), set_by FROM walaudit.retention_policies ORDER BY table_name
                """).rows.map { RetentionSetting(table: $0[0] ?? "", keep: $0[1] ?? "", mode: $0[2] ?? "", setAt: $0[3] ?? "", setBy: $0[4] ?? "") },
            legalHolds: try legalHolds(store),
            ddlEvents: try events(store, where: "e.operation = 'DDL' AND \(inRange) AND \(ofTable)", order: "ASC", limit: limit, bounds),
            listLimit: request.listLimit,
            topRows: try topRows(store, bounds, request: request),
            topActors: try activity.byActor.totals.prefix(request.topCount).map { total in
                let lastSeq = actorLastSeqs[total.name] ?? 0
                let latest = try events(store, where: "e.seq <= \(lastSeq) AND \(actor) = $4 AND \(inRange) AND \(ofTable)",
                                        order: "DESC", limit: String(request.eventsPerEntry), bounds + [total.name])
                return ActorActivity(actor: total.name == noActor ? nil : total.name, events: total.events, latest: latest.reversed())
            },
            provenance: provenance)
    }

    // MARK: - The selection

    /// Conditions on `e` (walaudit.event_log) with $1 since, $2 until, $3 table ('' for all).
    static let inRange = "e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz"
    static let ofTable = "($3 = '' OR e.schema_name || '.' || e.table_name = $3)"
    /// With a table given, events of no table (default policies, retention runs, a lost slot's GAP) concern it too.
    static let ofTableOrAll = "($3 = '' OR e.table_name IS NULL OR e.schema_name || '.' || e.table_name = $3)"
    static let noTable = "(no table)"
    static let noActor = "(no actor recorded)"
    static let actor = "coalesce(e.app_user, e.db_user, '\(noActor)')"

    // MARK: - Aggregates

    /// One pass over the selection: events per bucket, table, login,
    /// application user and operation (a hash aggregate: a few thousand
    /// groups for millions of events), then, from those, events per
    /// operation (with purged payloads), the largest tables and actors,
    /// and the cells of the charts (the largest series each, the rest as one).
    static func aggregate(_ store: Connection, _ bounds: [String], bucket: TimeBucket, request: Request) throws
        -> ([OperationCount], Activity, (events: Int64, firstSeq: Int64?, lastSeq: Int64?, firstTime: String?, lastTime: String?), [String: Int64])
    {
        let rows = try store.execute("""
            WITH fine AS MATERIALIZED (
                SELECT \(bucketStart(bucket)) AS bucket, e.schema_name, e.table_name, e.app_user, e.db_user, e.operation AS op,
                       count(*) AS events, count(e.purged_at) AS purged, min(e.seq) AS first_seq, max(e.seq) AS last_seq,
                       min(e.event_time) AS first_time, max(e.event_time) AS last_time
                FROM walaudit.event_log e WHERE \(inRange) AND \(ofTable)
                GROUP BY 1, 2, 3, 4, 5, 6
            ), labelled AS (
                SELECT extract(epoch FROM bucket)::bigint AS bucket, coalesce(schema_name || '.' || table_name, '\(noTable)') AS tbl,
                       coalesce(app_user, db_user, '\(noActor)') AS actor, op, events, purged, first_seq, last_seq, first_time, last_time
                FROM fine
            ), per AS (
                SELECT 'table' AS dimension, bucket, tbl AS name, sum(events)::bigint AS events, max(last_seq) AS last_seq
                FROM labelled GROUP BY bucket, tbl
                UNION ALL
                SELECT 'actor', bucket, actor, sum(events)::bigint, max(last_seq) FROM labelled GROUP BY bucket, actor
            ), totals AS (
                SELECT dimension, name, sum(events)::bigint AS events, max(last_seq) AS last_seq,
                       row_number() OVER (PARTITION BY dimension ORDER BY sum(events) DESC, name) AS rank,
                       count(*) OVER (PARTITION BY dimension) AS names
                FROM per GROUP BY dimension, name
            )
            SELECT 'operation', NULL::bigint, op, sum(events)::bigint, sum(purged)::bigint, min(first_seq), max(last_seq),
                   \(iso("min(first_time)")), \(iso("max(last_time)"))
            FROM labelled GROUP BY op
            UNION ALL
            SELECT 'total ' || dimension, NULL, name, events, names, rank, last_seq, NULL, NULL
            FROM totals WHERE rank <= $4
            UNION ALL
            SELECT 'cell ' || p.dimension, p.bucket, CASE WHEN t.rank <= $5 THEN p.name END, sum(p.events)::bigint, NULL, NULL, NULL, NULL, NULL
            FROM per p JOIN totals t USING (dimension, name) WHERE p.bucket IS NOT NULL
            GROUP BY p.dimension, p.bucket, 3
            ORDER BY 1, 6, 3
            """, bounds + [String(max(request.topCount, 20)), String(request.seriesCount)]).rows

        var operations: [OperationCount] = []
        var range: (events: Int64, firstSeq: Int64?, lastSeq: Int64?, firstTime: String?, lastTime: String?) = (0, nil, nil, nil, nil)
        var totals: [String: [Breakdown.Total]] = [:], distinct: [String: Int] = [:], cells: [String: [Breakdown.Cell]] = [:]
        var actorLastSeqs: [String: Int64] = [:]
        for row in rows {
            let kind = row[0] ?? "", name = row[2] ?? "", events = row[3].flatMap { Int64($0) } ?? 0
            switch kind {
            case "operation":
                operations.append(OperationCount(operation: name, events: events, purged: row[4].flatMap { Int64($0) } ?? 0))
                range.events += events
                range.firstSeq = [range.firstSeq, row[5].flatMap { Int64($0) }].compactMap { $0 }.min()
                range.lastSeq = [range.lastSeq, row[6].flatMap { Int64($0) }].compactMap { $0 }.max()
                range.firstTime = [range.firstTime, row[7]].compactMap { $0 }.min()  // ISO 8601: text order is time order
                range.lastTime = [range.lastTime, row[8]].compactMap { $0 }.max()
            case "total table", "total actor":
                let dimension = String(kind.dropFirst(6))
                totals[dimension, default: []].append(.init(name: name, events: events))
                distinct[dimension] = row[4].flatMap { Int($0) } ?? 0
                if dimension == "actor" { actorLastSeqs[name] = row[6].flatMap { Int64($0) } ?? 0 }
            default:  // "cell table", "cell actor"
                cells[String(kind.dropFirst(5)), default: []].append(.init(bucketStart: row[1].flatMap { Int64($0) } ?? 0, series: row[2], events: events))
            }
        }
        operations.sort { $0.events > $1.events }
        func breakdown(_ dimension: String) -> Breakdown {
            let all = totals[dimension] ?? []
            return Breakdown(series: all.prefix(request.seriesCount).map(\.name), cells: cells[dimension] ?? [], totals: all,
                             distinct: distinct[dimension] ?? 0)
        }
        return (operations, Activity(bucket: bucket, byTable: breakdown("table"), byActor: breakdown("actor")), range, actorLastSeqs)
    }

    /// The start of the bucket of `e.event_time` (NULL for ±infinity), aligned as `TimeBucket` aligns it.
    static func bucketStart(_ bucket: TimeBucket) -> String {
        let start = if let seconds = bucket.seconds {
            "date_bin('\(seconds) seconds', e.event_time, to_timestamp(\(TimeBucket.origin)))"
        } else {
            "date_trunc('month', e.event_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        }
        return "CASE WHEN isfinite(e.event_time) THEN \(start) END"
    }

    /// The rows with the most INSERT, UPDATE and DELETE events, each with
    /// its newest events. Counted by row reference first (a bigint: a
    /// million rows' counts fit in memory where their keys would not), then
    /// exactly, by key, through the row index for the references on top;
    /// so a hash collision may cost a place in the list, never a wrong count.
    static func topRows(_ store: Connection, _ bounds: [String], request: Request) throws -> [RowActivity] {
        let changes = "\(inRange) AND \(ofTable) AND e.operation IN ('INSERT', 'UPDATE', 'DELETE') AND e.row_key IS NOT NULL"
        return try store.execute("""
            WITH top AS (
                SELECT walaudit.row_ref(e.schema_name, e.table_name, e.row_key) AS ref
                FROM walaudit.event_log e WHERE \(changes)
                GROUP BY 1 ORDER BY count(*) DESC, max(e.seq) DESC LIMIT \(request.topCount)
            )
            SELECT e.schema_name, e.table_name, e.row_key::text, count(*) AS changes
            FROM top JOIN walaudit.event_log e ON walaudit.row_ref(e.schema_name, e.table_name, e.row_key) = top.ref
            WHERE \(changes)
            GROUP BY e.schema_name, e.table_name, e.row_key ORDER BY changes DESC, max(e.seq) DESC LIMIT \(request.topCount)
            """, bounds).rows.map { row in
            let (schema, table, key) = (row[0] ?? "", row[1] ?? "", row[2] ?? "")
            // The row index, as walaudit.row_history reads it.
            let latest = try events(store, where: """
                walaudit.row_ref(e.schema_name, e.table_name, e.row_key) = walaudit.row_ref($4, $5, $6::jsonb)
                AND e.schema_name = $4 AND e.table_name = $5 AND e.row_key = $6::jsonb AND \(inRange) AND \(ofTable)
                """, order: "DESC", limit: String(request.eventsPerEntry), bounds + [schema, table, key])
            return RowActivity(table: schema + "." + table, rowKey: key, changes: row[3].flatMap { Int64($0) } ?? 0, events: latest.reversed())
        }
    }

    // MARK: - Lists

    /// Events matching `condition`, in seq `order`, at most `limit`; long
    /// values are cut (row images at 400 characters, others at 4,000).
    static func events(_ store: Connection, where condition: String, order: String, limit: String, _ parameters: [String]) throws -> [TrailEvent] {
        func cut(_ column: String) -> String {
            "CASE WHEN length(\(column)::text) > 400 AND e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT') THEN left(\(column)::text, 400) || '…' "
                + "WHEN length(\(column)::text) > 4000 THEN left(\(column)::text, 4000) || '…' ELSE \(column)::text END"
        }
        return try store.execute("""
            SELECT e.seq, \(iso("e.event_time")), e.operation, e.schema_name || '.' || e.table_name, \(cut("e.row_key")), \(cut("e.old_row")),
                   \(cut("e.new_row")), e.changed_columns::text, e.purged_at IS NOT NULL, e.db_user, e.role_name, e.app_user,
                   e.application_name, host(e.client_addr)
            FROM walaudit.event_log e WHERE \(condition) ORDER BY e.seq \(order) LIMIT \(limit)
            """, parameters).rows.map { row in
            TrailEvent(seq: row[0].flatMap { Int64($0) } ?? 0, time: row[1] ?? "?", operation: row[2] ?? "?", table: row[3], rowKey: row[4],
                       oldRow: row[5], newRow: row[6], changedColumns: row[7].map(TextArray.parse) ?? [], purged: row[8] == "t",
                       who: Who(dbUser: row[9], roleName: row[10], appUser: row[11], applicationName: row[12], clientAddr: row[13]))
        }
    }

    static func legalHolds(_ store: Connection) throws -> [LegalHold] {
        try store.execute("""
            SELECT name, active, reason,
                   concat_ws(', ', coalesce('table ' || table_name, 'every table'), 'row ' || row_key::text, 'from ' || \(iso("since")),
                             'until ' || \(iso("until")), 'actor ' || actor),
                   \(iso("placed_at")), placed_by, \(iso("released_at")), released_by, release_reason
            FROM walaudit.legal_holds ORDER BY placed_at, name
            """).rows.map { row in
            LegalHold(name: row[0] ?? "", active: row[1] == "t", reason: row[2] ?? "", scope: row[3] ?? "", placedAt: row[4] ?? "",
                      placedBy: row[5] ?? "", releasedAt: row[6], releasedBy: row[7], releaseReason: row[8])
        }
    }

    /// What the chain's apply_retention POLICY events say they purged (dry
    /// runs not), read defensively: a tampered event must not stop the report.
    static func purgesRecordedByRetention(_ store: Connection) throws -> Int64 {
        let sum = try store.execute("""
            SELECT coalesce(sum(CASE WHEN jsonb_typeof(t.value->0) = 'number' THEN (t.value->>0)::numeric END), 0)::text
            FROM walaudit.event_log e,
                 jsonb_each(CASE WHEN jsonb_typeof(e.new_row->'tables') = 'object' THEN e.new_row->'tables' ELSE '{}' END) t
            WHERE e.operation = 'POLICY' AND e.new_row->>'action' = 'apply_retention' AND e.new_row->'dry_run' IS DISTINCT FROM 'true'
            """).scalar
        return sum.flatMap { Int64($0) } ?? 0
    }

    /// A timestamptz as ISO 8601 text in UTC (±infinity as such).
    static func iso(_ column: String) -> String {
        "CASE WHEN isfinite(\(column)) THEN to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ELSE \(column)::text END"
    }

    /// A timestamptz as whole seconds since 1970; NULL when infinite or NULL.
    static func epoch(_ expression: String) -> String {
        "(SELECT CASE WHEN isfinite(t) THEN extract(epoch FROM t)::bigint END FROM (SELECT \(expression) AS t) x)"
    }
}
