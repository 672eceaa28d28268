import Decoding

/// Accounts for purged payloads from the chain alone (docs/chain-format.md,
/// "Purge accounting"): a purge is legitimate only if a run of
/// `walaudit.apply_retention` made it under what the chain's own POLICY
/// events say was in force then — the retention of the table and the
/// default, the event older than the run's cutoff, no legal hold matching
/// it. Built once from the POLICY events before the chain is read, then
/// asked about each purged event in any order, from any thread; the same
/// rules as `walaudit.first_unaccounted_purge` in SQL.
public struct PurgeAccounting: Sendable {
    /// One POLICY event as stored (payload intact: a purged one tells nothing).
    public struct PolicyEvent: Sendable {
        public var seq: Int64
        public var schemaName: String?
        public var tableName: String?
        /// `row_key->>'policy'`: `retention` or `legal_hold`.
        public var policy: String?
        /// `new_row`: what the call did.
        public var facts: JSONValue

        public init(seq: Int64, schemaName: String?, tableName: String?, policy: String?, facts: JSONValue) {
            self.seq = seq
            self.schemaName = schemaName
            self.tableName = tableName
            self.policy = policy
            self.facts = facts
        }
    }

    /// Texts are compared by their bytes, as PostgreSQL compares them
    /// (Swift's `String` equality would join canonically equivalent names).
    typealias Text = [UInt8]

    struct TableName: Hashable, Sendable {
        var schema: Text
        var table: Text
    }

    /// A retention setting: keep as IntervalStyle postgres prints it, and mode.
    struct Setting: Equatable, Sendable {
        var keep: Text?
        var mode: Text?
    }

    /// A legal hold as placed.
    struct Hold: Sendable {
        var id: JSONValue
        var table: TableName?
        var rowKey: JSONValue?
        var since: Int64?
        var until: Int64?
        var actor: Text?
    }

    /// A hold that keeps a run's purges off the events it matches (by
    /// table, which the table's ranges already fix, time and actor).
    struct Blocker: Sendable {
        var since: Int64?
        var until: Int64?
        var actor: Text?
    }

    /// Seqs `first...last` of one table, purged by one run.
    struct PurgedRange: Sendable {
        var first: Int64
        var last: Int64
        var cutoff: Int64?
        /// The run went by the retention the chain had set for the table and the default.
        var allowed: Bool
        var blockers: [Blocker]
    }

    /// What accounts for the purges of one table.
    struct TableAccount: Sendable {
        /// Runs that record their purges: ranges ordered by first seq.
        var ranges: [PurgedRange] = []
        /// Older runs, in seq order, and the latest clock of any of them from each on.
        var oldRuns: [Int64] = []
        var latestClock: [Int64] = []
    }

    private var tables: [TableName: TableAccount] = [:]

    /// Replays `events` (POLICY events, in seq order).
    public init(policyEvents events: [PolicyEvent]) {
        var settings: [TableName?: Setting] = [:]  // nil: the default
        var holds: [(placed: Int64, hold: Hold)] = []
        for event in events {
            let action = event.facts["action"]
            let scope = event.schemaName.flatMap { schema in
                event.tableName.map { TableName(schema: Array(schema.utf8), table: Array($0.utf8)) }
            }
            switch (event.policy, action) {
            case ("retention", .string("set_retention")):
                guard (event.schemaName == nil) == (event.tableName == nil) else { continue }
                let keep = event.facts["keep"].flatMap(Self.text)
                settings[scope] = keep == nil ? nil : Setting(keep: keep, mode: event.facts["mode"].flatMap(Self.text))
            case ("legal_hold", .string("place_legal_hold")):
                let rowKey = event.facts["row_key"].flatMap { $0 == .null ? nil : $0 }
                holds.append((event.seq, Hold(id: event.facts["hold_id"] ?? .null, table: scope, rowKey: rowKey,
                                              since: event.facts["since"].flatMap(Self.time),
                                              until: event.facts["until"].flatMap(Self.time),
                                              actor: event.facts["actor"].flatMap(Self.text))))
            case ("legal_hold", .string("release_legal_hold")):
                guard let id = event.facts["hold_id"] else { continue }
                holds.removeAll { $0.hold.id == id }
            case ("retention", .string("apply_retention")):
                guard event.facts["dry_run"] == .bool(false) else { continue }
                if let purges = event.facts["purges"] {
                    addRun(event.seq, purges: purges, facts: event.facts, settings: settings, holds: holds.map(\.hold))
                } else {
                    addOldRun(event.seq, facts: event.facts, settings: settings)
                }
            default:
                continue
            }
        }
        for name in tables.keys {
            tables[name]!.ranges.sort { $0.first < $1.first }
            var clocks = tables[name]!.latestClock
            for index in clocks.indices.reversed().dropFirst() { clocks[index] = max(clocks[index], clocks[index + 1]) }
            tables[name]!.latestClock = clocks
        }
    }

    /// A run that records its purges: per table, its cutoff and ranges.
    private mutating func addRun(_ run: Int64, purges: JSONValue, facts: JSONValue, settings: [TableName?: Setting], holds: [Hold]) {
        guard case .array(let perTable) = purges else { return }
        let wentBy = if case .array(let list) = facts["retention"] { list } else { [JSONValue]() }
        let listed = if case .array(let list) = facts["holds"] { list } else { [JSONValue]() }
        // Every active hold, unless it has a row key and the run lists it
        // exactly as placed: the run matched keys the verifier cannot see.
        let blocking = holds.filter { hold in
            hold.rowKey == nil || !listed.contains { entry in
                entry["hold_id"] == hold.id && entry["schema"].flatMap(Self.text) == hold.table?.schema
                    && entry["table"].flatMap(Self.text) == hold.table?.table
                    && entry["row_key"].flatMap { $0 == .null ? nil : $0 } == hold.rowKey
                    && entry["since"].flatMap(Self.time) == hold.since && entry["until"].flatMap(Self.time) == hold.until
                    && entry["actor"].flatMap(Self.text) == hold.actor
            }
        }
        /// The (keep, mode) pairs the run lists for a scope (nil: the default).
        func recorded(_ scope: TableName?) -> [Setting] {
            wentBy.compactMap { entry in
                let matches = if let scope {
                    entry["schema"].flatMap(Self.text) == scope.schema && entry["table"].flatMap(Self.text) == scope.table
                } else {
                    entry["schema"] == .null && entry["table"] == .null
                }
                return matches ? Setting(keep: entry["keep"].flatMap(Self.text), mode: entry["mode"].flatMap(Self.text)) : nil
            }
        }
        for entry in perTable {
            guard let schema = entry["schema"].flatMap(Self.text), let table = entry["table"].flatMap(Self.text),
                  case .array(let seqs)? = entry["seqs"] else { continue }
            let name = TableName(schema: schema, table: table)
            let allowed = recorded(name) == (settings[name].map { [$0] } ?? []) && recorded(nil) == (settings[nil].map { [$0] } ?? [])
            let blockers = blocking.filter { $0.table == nil || $0.table == name }
                .map { Blocker(since: $0.since, until: $0.until, actor: $0.actor) }
            let cutoff = entry["cutoff_us"].flatMap(Self.integer)
            for pair in seqs {
                guard case .array(let bounds) = pair, let first = bounds.first.flatMap(Self.integer) else { continue }
                let last = bounds.count > 1 ? Self.integer(bounds[1]) : nil
                tables[name, default: TableAccount()].ranges.append(
                    PurgedRange(first: first, last: last ?? .min, cutoff: cutoff, allowed: allowed, blockers: blockers))
            }
        }
    }

    /// A run recorded before runs recorded their purges: the tables it
    /// counts purges for (`schema.table` as `format('%I.%I')` wrote it),
    /// each with a retention then in force, and its clock.
    private mutating func addOldRun(_ run: Int64, facts: JSONValue, settings: [TableName?: Setting]) {
        guard case .object(let counts)? = facts["tables"], let clock = facts["clock"].flatMap(Self.time) else { return }
        for count in counts {
            guard let purged = count.value.arrayElement(0).flatMap(Self.integer), purged > 0,
                  let name = Self.qualifiedName(count.key), settings[name] != nil || settings[nil] != nil else { continue }
            tables[name, default: TableAccount()].oldRuns.append(run)
            tables[name, default: TableAccount()].latestClock.append(clock)
        }
    }

    /// Whether a run of apply_retention accounts for the purge of this event.
    func accounts(for event: StoredEvent) -> Bool {
        guard event.isRowChange, let schema = event.bytes(.schemaName), let table = event.bytes(.tableName),
              let time = event.eventTimeMicroseconds, let account = tables[TableName(schema: schema, table: table)] else { return false }
        let seq = event.seq
        // The ranges starting latest at or before the event.
        var index = Self.partition(account.ranges.count) { account.ranges[$0].first <= seq } - 1
        if index >= 0 {
            let start = account.ranges[index].first
            var actors: [Text?]?
            while index >= 0, account.ranges[index].first == start {
                let range = account.ranges[index]
                index -= 1
                guard seq <= range.last, range.allowed, let cutoff = range.cutoff, time < cutoff else { continue }
                let held = range.blockers.contains { blocker in
                    if let since = blocker.since, time < since { return false }
                    if let until = blocker.until, time > until { return false }
                    guard let actor = blocker.actor else { return true }
                    if actors == nil { actors = [event.bytes(.appUser), event.bytes(.dbUser), event.bytes(.roleName)] }
                    return actors!.contains(actor)
                }
                if !held { return true }
            }
        }
        // The older runs after the event: one whose clock it precedes.
        let next = Self.partition(account.oldRuns.count) { account.oldRuns[$0] <= seq }
        return next < account.oldRuns.count && time < account.latestClock[next]
    }

    /// The first index in `0..<count` for which `isBefore` is false (it must be true up to some index, false after).
    private static func partition(_ count: Int, _ isBefore: (Int) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if isBefore(middle) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private static func text(_ value: JSONValue) -> Text? {
        if case .string(let text) = value { Array(text.utf8) } else { nil }
    }

    private static func time(_ value: JSONValue) -> Int64? {
        if case .string(let text) = value { PostgresTimestamp(jsonText: Substring(text))?.microsecondsSinceEpoch } else { nil }
    }

    /// A JSON integer of at most 18 digits (as `walaudit.json_bigint` reads it).
    private static func integer(_ value: JSONValue) -> Int64? {
        guard case .number(let text) = value else { return nil }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard (1...18).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int64(text)
    }

    /// `schema.table` as `format('%I.%I')` writes it: each part quoted
    /// (`""` for a quote) or a plain name of `[a-z_][a-z0-9_]*`.
    static func qualifiedName(_ text: String) -> TableName? {
        let bytes = Array(text.utf8)
        var index = 0
        func part() -> Text? {
            var name: Text = []
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\"") {
                        guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\"") else {
                            index += 1
                            return name.isEmpty ? nil : name
                        }
                        index += 1
                    }
                    name.append(bytes[index])
                    index += 1
                }
                return nil
            }
            while index < bytes.count, bytes[index] == UInt8(ascii: "_") || (0x61...0x7a).contains(bytes[index])
                    || (!name.isEmpty && (0x30...0x39).contains(bytes[index])) {
                name.append(bytes[index])
                index += 1
            }
            return name.isEmpty ? nil : name
        }
        guard let schema = part(), index < bytes.count, bytes[index] == UInt8(ascii: ".") else { return nil }
        index += 1
        guard let table = part(), index == bytes.count else { return nil }
        return TableName(schema: schema, table: table)
    }
}

extension JSONValue {
    fileprivate func arrayElement(_ index: Int) -> JSONValue? {
        if case .array(let elements) = self, index < elements.count { elements[index] } else { nil }
    }
}
