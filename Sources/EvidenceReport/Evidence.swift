/// Everything an evidence report shows, as read from an audit store and
/// its verification; `EvidencePage.render` turns it into one HTML file.
/// Times are ISO 8601 text in UTC; tables are `schema.table`.
public struct Evidence: Sendable {
    public var verdict: Verdict
    public var selection: Selection
    /// Events in the selection per operation, with how many of them are purged.
    public var operations: [OperationCount]
    public var activity: Activity
    /// GAP events of the selection (and table-less ones, which concern every table).
    public var gaps: [TrailEvent]
    /// POLICY events of the selection (and table-less ones), oldest first.
    public var policyEvents: [TrailEvent]
    public var retentionPolicies: [RetentionSetting]
    public var legalHolds: [LegalHold]
    /// DDL events of the selection, oldest first.
    public var ddlEvents: [TrailEvent]
    /// Lists show this many entries; one holding more (read one past the limit) says it was cut.
    public var listLimit: Int
    /// The rows changed most often in the selection, with their events.
    public var topRows: [RowActivity]
    /// The actors with the most events in the selection, with their latest events.
    public var topActors: [ActorActivity]
    public var provenance: Provenance

    public init(verdict: Verdict, selection: Selection, operations: [OperationCount], activity: Activity, gaps: [TrailEvent],
                policyEvents: [TrailEvent], retentionPolicies: [RetentionSetting], legalHolds: [LegalHold], ddlEvents: [TrailEvent],
                listLimit: Int, topRows: [RowActivity], topActors: [ActorActivity], provenance: Provenance) {
        self.verdict = verdict
        self.selection = selection
        self.operations = operations
        self.activity = activity
        self.gaps = gaps
        self.policyEvents = policyEvents
        self.retentionPolicies = retentionPolicies
        self.legalHolds = legalHolds
        self.ddlEvents = ddlEvents
        self.listLimit = listLimit
        self.topRows = topRows
        self.topActors = topActors
        self.provenance = provenance
    }
}

/// What verifying the whole chain found (`walaudit verify`'s result).
public struct Verdict: Sendable {
    /// Events checked before the first problem (all of them when intact).
    public var checked: Int64
    /// Events whose payload retention purged, over the whole chain.
    public var purged: Int64
    public var firstBadSeq: Int64?
    /// What is wrong at `firstBadSeq`, in verify's words (its kind first).
    public var problem: String?
    /// Seqs of the chain's GAP events (all that the store holds).
    public var gapSeqs: [Int64]
    /// The signed checkpoints the chain was held against; nil when none were given.
    public var anchor: CheckpointAnchor?
    /// The store's own newest checkpoint record (seq, time): unverified, shown when no file was given.
    public var storedCheckpoint: (seq: Int64, time: String)?
    /// Purges that `apply_retention` runs in the chain say they made (dry runs excluded).
    public var purgesRecordedByRetention: Int64

    public init(checked: Int64, purged: Int64, firstBadSeq: Int64?, problem: String?, gapSeqs: [Int64], anchor: CheckpointAnchor?,
                storedCheckpoint: (seq: Int64, time: String)?, purgesRecordedByRetention: Int64) {
        self.checked = checked
        self.purged = purged
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.gapSeqs = gapSeqs
        self.anchor = anchor
        self.storedCheckpoint = storedCheckpoint
        self.purgesRecordedByRetention = purgesRecordedByRetention
    }

    public var intact: Bool { firstBadSeq == nil }

    /// The one line that says it: `TAMPERED at seq 8: payload altered: …`
    /// or `INTACT: 13 events checked …`.
    public var headline: String {
        if let firstBadSeq {
            return "TAMPERED at seq \(firstBadSeq): \(problem ?? "?")"
        }
        let anchored = anchor.map { ", up to the signed checkpoint at seq \(HTML.grouped($0.seq))" } ?? ""
        return "INTACT: \(HTML.grouped(checked)) events checked, every hash and link holds\(anchored)"
    }
}

/// The signed checkpoint a chain was checked against, and the key.
public struct CheckpointAnchor: Sendable {
    /// The checkpoint file as given.
    public var path: String
    /// Checkpoints read (file lines, and a heartbeat that follows the last).
    public var count: Int
    /// The newest of them: the point up to which a cut tail or rewrite would show.
    public var seq: Int64
    public var time: String
    /// SHA-256 of the 32-byte Ed25519 public key, hex.
    public var publicKeySHA256: String
    /// The C2SP note key of the tree checkpoint (origin and key ID, hex), when the checkpoint has one.
    public var noteOrigin: String?
    public var noteKeyID: String?

    public init(path: String, count: Int, seq: Int64, time: String, publicKeySHA256: String, noteOrigin: String?, noteKeyID: String?) {
        self.path = path
        self.count = count
        self.seq = seq
        self.time = time
        self.publicKeySHA256 = publicKeySHA256
        self.noteOrigin = noteOrigin
        self.noteKeyID = noteKeyID
    }
}

/// Which events the report covers.
public struct Selection: Sendable {
    /// As given (`--since`, `--until`); nil: unbounded.
    public var since: String?
    public var until: String?
    /// `schema.table` as given (`--table`); nil: every table.
    public var table: String?
    /// Events in the selection, and the first and last of them.
    public var events: Int64
    public var firstSeq: Int64?
    public var lastSeq: Int64?
    public var firstTime: String?
    public var lastTime: String?
    /// The store's last seq when the report was read.
    public var storeHeadSeq: Int64

    public init(since: String?, until: String?, table: String?, events: Int64, firstSeq: Int64?, lastSeq: Int64?,
                firstTime: String?, lastTime: String?, storeHeadSeq: Int64) {
        self.since = since
        self.until = until
        self.table = table
        self.events = events
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.firstTime = firstTime
        self.lastTime = lastTime
        self.storeHeadSeq = storeHeadSeq
    }
}

/// Events of one operation (INSERT, UPDATE, …) in the selection.
public struct OperationCount: Sendable {
    public var operation: String
    public var events: Int64
    public var purged: Int64

    public init(operation: String, events: Int64, purged: Int64) {
        self.operation = operation
        self.events = events
        self.purged = purged
    }
}

/// Events over time, by table and by actor.
public struct Activity: Sendable {
    public var bucket: TimeBucket
    public var byTable: Breakdown
    public var byActor: Breakdown

    public init(bucket: TimeBucket, byTable: Breakdown, byActor: Breakdown) {
        self.bucket = bucket
        self.byTable = byTable
        self.byActor = byActor
    }
}

/// Event counts per bucket for the largest few series (tables or actors),
/// the rest summed as one; and the totals of the largest ones.
public struct Breakdown: Sendable {
    /// The series drawn, largest first; the rest are `nil` in `cells`.
    public var series: [String]
    /// Events per bucket start (seconds since 1970, UTC) and series (nil: all others).
    public var cells: [Cell]
    /// The largest series overall: name, events, seq of the last one.
    public var totals: [Total]
    /// How many distinct series there are in all.
    public var distinct: Int

    public init(series: [String], cells: [Cell], totals: [Total], distinct: Int) {
        self.series = series
        self.cells = cells
        self.totals = totals
        self.distinct = distinct
    }

    /// Events of one series in one bucket.
    public struct Cell: Sendable, Equatable {
        public var bucketStart: Int64
        public var series: String?
        public var events: Int64

        public init(bucketStart: Int64, series: String?, events: Int64) {
            self.bucketStart = bucketStart
            self.series = series
            self.events = events
        }
    }

    /// One series' events in the whole selection.
    public struct Total: Sendable {
        public var name: String
        public var events: Int64

        public init(name: String, events: Int64) {
            self.name = name
            self.events = events
        }
    }
}

/// One event as the report lists it: what, when, who.
public struct TrailEvent: Sendable {
    public var seq: Int64
    public var time: String
    public var operation: String
    public var table: String?
    /// JSON text.
    public var rowKey: String?
    public var oldRow: String?
    public var newRow: String?
    public var changedColumns: [String]
    public var purged: Bool
    public var who: Who

    public init(seq: Int64, time: String, operation: String, table: String?, rowKey: String?, oldRow: String?, newRow: String?,
                changedColumns: [String], purged: Bool, who: Who) {
        self.seq = seq
        self.time = time
        self.operation = operation
        self.table = table
        self.rowKey = rowKey
        self.oldRow = oldRow
        self.newRow = newRow
        self.changedColumns = changedColumns
        self.purged = purged
        self.who = who
    }
}

/// Who made an event: the login, the role it ran as, the application's
/// user, the application and where from.
public struct Who: Sendable {
    public var dbUser: String?
    public var roleName: String?
    public var appUser: String?
    public var applicationName: String?
    public var clientAddr: String?

    public init(dbUser: String?, roleName: String?, appUser: String?, applicationName: String?, clientAddr: String?) {
        self.dbUser = dbUser
        self.roleName = roleName
        self.appUser = appUser
        self.applicationName = applicationName
        self.clientAddr = clientAddr
    }

    /// The name charts and lists use: the application's user, else the login.
    public var actor: String? { appUser ?? dbUser }
}

/// A retention policy in force (`walaudit.retention_policies`).
public struct RetentionSetting: Sendable {
    public var table: String
    public var keep: String
    public var mode: String
    public var setAt: String
    public var setBy: String

    public init(table: String, keep: String, mode: String, setAt: String, setBy: String) {
        self.table = table
        self.keep = keep
        self.mode = mode
        self.setAt = setAt
        self.setBy = setBy
    }
}

/// A legal hold, active or released (`walaudit.legal_holds`).
public struct LegalHold: Sendable {
    public var name: String
    public var active: Bool
    public var reason: String
    /// What it matches: table, row key, time range, actor.
    public var scope: String
    public var placedAt: String
    public var placedBy: String
    public var releasedAt: String?
    public var releasedBy: String?
    public var releaseReason: String?

    public init(name: String, active: Bool, reason: String, scope: String, placedAt: String, placedBy: String,
                releasedAt: String?, releasedBy: String?, releaseReason: String?) {
        self.name = name
        self.active = active
        self.reason = reason
        self.scope = scope
        self.placedAt = placedAt
        self.placedBy = placedBy
        self.releasedAt = releasedAt
        self.releasedBy = releasedBy
        self.releaseReason = releaseReason
    }
}

/// A row changed often, and its events in the selection (newest `listLimit`).
public struct RowActivity: Sendable {
    public var table: String
    /// JSON text.
    public var rowKey: String
    /// INSERT, UPDATE and DELETE events of the row in the selection.
    public var changes: Int64
    public var events: [TrailEvent]

    public init(table: String, rowKey: String, changes: Int64, events: [TrailEvent]) {
        self.table = table
        self.rowKey = rowKey
        self.changes = changes
        self.events = events
    }
}

/// An actor with many events, and their latest events in the selection.
public struct ActorActivity: Sendable {
    /// nil: events with no actor recorded.
    public var actor: String?
    public var events: Int64
    public var latest: [TrailEvent]

    public init(actor: String?, events: Int64, latest: [TrailEvent]) {
        self.actor = actor
        self.events = events
        self.latest = latest
    }
}

/// How the report was made, so that it can be made again.
public struct Provenance: Sendable {
    /// The command line, connection strings without passwords.
    public var command: String
    /// The audit store's connection, without password.
    public var database: String
    public var serverVersion: String
    public var chainID: String?
    public var walauditVersion: String
    public var generatedAt: String
    /// Seconds spent verifying and reading.
    public var verifySeconds: Double
    public var readSeconds: Double

    public init(command: String, database: String, serverVersion: String, chainID: String?, walauditVersion: String,
                generatedAt: String, verifySeconds: Double, readSeconds: Double) {
        self.command = command
        self.database = database
        self.serverVersion = serverVersion
        self.chainID = chainID
        self.walauditVersion = walauditVersion
        self.generatedAt = generatedAt
        self.verifySeconds = verifySeconds
        self.readSeconds = readSeconds
    }
}
