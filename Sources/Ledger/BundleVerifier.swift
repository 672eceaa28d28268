import Decoding

/// Checks an export bundle (`walaudit export`, jsonl) with no database: the
/// records link from the first to the last, each hash and (unless purged or
/// a link) payload digest is recomputed, the last hash is the head a signed
/// checkpoint vouches for, and every full record matches the export's range
/// while every link record does not (nothing matching was left out).
public struct BundleVerifier {
    public struct Report: Sendable {
        public var ok: Bool { problem == nil }
        public var events = 0
        public var links = 0
        public var purged = 0
        public var checkpointSeq: Int64?
        /// The origin of the signed tree checkpoint the records lead to, if the bundle has one.
        public var treeOrigin: String?
        /// Line number (1-based) and seq of the first problem.
        public var badLine: Int?
        public var badSeq: Int64?
        public var problem: String?
    }

    private let publicKey: [UInt8]
    public private(set) var report = Report()
    private var header: JSONValue?
    private var expectedSeq: Int64?
    private var previousHash: [UInt8]?
    private var finished = false
    private var line = 0
    private var firstFullSeq: Int64?
    private var lastFullSeq: Int64?
    /// The Merkle tree up to the last record, from the `tree` line on.
    private var tree: MerkleFrontier?

    public init(publicKey: [UInt8]) {
        self.publicKey = publicKey
    }

    /// Checks the next line; returns false once a problem was found.
    @discardableResult
    public mutating func check(line text: String) -> Bool {
        guard report.ok else { return false }
        line += 1
        guard !text.isEmpty else { return true }
        guard let json = try? JSONValue(parsing: text), case .string(let type)? = json["type"] else {
            return fail(nil, "line \(line) is not a bundle record")
        }
        // Read here the first, by jq or Python the last: one line, two meanings.
        if let key = json.repeatedKey {
            return fail(Self.int(json[EventField.seq.name]), "line \(line) has the key \"\(key)\" twice (JSON readers disagree on which counts): altered")
        }
        guard !finished else { return fail(nil, "records after the checkpoint") }
        if type == "header" && header == nil && line == 1 {
            guard json["format"] == .string("walaudit-export/1") else { return fail(nil, "not a walaudit-export/1 bundle") }
            header = json
            return true
        }
        guard header != nil else { return fail(nil, "the bundle does not start with its header") }
        switch type {
        case "tree" where tree == nil && expectedSeq == nil: return startTree(json)
        case "event", "link": return checkEvent(json, full: type == "event")
        case "checkpoint": return checkCheckpoint(json)
        default: return fail(nil, "unexpected \(type) record on line \(line)")
        }
    }

    /// After the last line: the bundle must have ended with its checkpoint.
    public mutating func finish() {
        if report.ok && !finished { _ = fail(nil, "the bundle ends without its signed checkpoint (truncated)") }
    }

    private mutating func checkEvent(_ record: JSONValue, full: Bool) -> Bool {
        guard let seq = Self.int(record[EventField.seq.name]), let hash = Self.hex(record[EventField.hash.name]),
              let prevHash = Self.hex(record[EventField.prevHash.name]), Self.hex(record[EventField.payloadDigest.name]) != nil else {
            return fail(Self.int(record[EventField.seq.name]), "a record lacks a chain field")
        }
        // Kinds and seqs as the store check names them (docs/chain-format.md).
        if let expectedSeq, seq != expectedSeq {
            return seq < expectedSeq ? fail(seq, "seq \(seq) out of order (a record repeated or moved; expected \(expectedSeq))")
                                     : fail(expectedSeq, "events missing: seq \(expectedSeq) to \(seq - 1) are not in the bundle")
        }
        // The chain's first event follows 32 zero bytes.
        if let expected = previousHash ?? (seq == 1 ? [UInt8](repeating: 0, count: 32) : nil), expected != prevHash {
            return fail(seq, "link broken: prev_hash of seq \(seq) is not the hash of seq \(seq - 1)")
        }
        let purged = record["purged"] == .bool(true)
        // A payload field listed in json_nulls holds JSON null: a payload, as in the store check.
        let holdsPayload = (record[EventField.payloadSalt.bundleKey] ?? .null) != .null
            || EventField.payload.contains { Self.value($0, in: record) != .null }
        if purged && holdsPayload {
            // Otherwise marking an event purged would hide an altered payload (as in the store check).
            return fail(seq, "payload altered: seq \(seq) is marked purged but still holds a payload")
        }
        if !full && holdsPayload {
            return fail(seq, "payload altered: seq \(seq) is a link record (outside the export's range) but carries a payload")
        }
        if full && purged { report.purged += 1 }
        if full && !purged {
            guard let salt = Self.hex(record[EventField.payloadSalt.name]),
                  let digest = Self.digest(Chain.payloadDomain, salt, EventField.payload, of: record),
                  digest == Self.hex(record[EventField.payloadDigest.name]) else {
                return fail(seq, "payload altered: row_key, old_row or new_row of seq \(seq) does not match its digest")
            }
        }
        // null: the store holds a time with no encoding (±infinity, or past the range), as the store check says.
        guard let time = Self.int(record[EventField.eventTime.bundleKey]) else {
            return fail(seq, "event altered: event_time (±infinity, or after \(PostgresTimestamp.latestEncodable.iso8601)) of seq \(seq) has no encoding in the chain, so no hash can vouch for it")
        }
        guard Self.digest(Chain.eventDomain, prevHash, EventField.hashed, of: record) == hash else {
            return fail(seq, "event altered: a field of seq \(seq) does not match its hash")
        }
        // The readable time must say what the hashed microseconds say.
        let readable = PostgresTimestamp(microsecondsSinceEpoch: time).iso8601
        guard case .string(let text)? = record[EventField.eventTime.name], text == readable else {
            return fail(seq, "event altered: event_time of seq \(seq) (\(record[EventField.eventTime.name]?.serialized ?? "missing")) is not its hashed event_time_us (\(readable))")
        }
        if full != matchesHeader(record, time: time) {
            return fail(seq, full ? "seq \(seq) is exported in full but lies outside the export's range"
                                  : "seq \(seq) matches the export's range but was left out (only its link is here)")
        }
        if full {
            report.events += 1
            firstFullSeq = firstFullSeq ?? seq
            lastFullSeq = seq
        } else {
            report.links += 1
        }
        if tree != nil { hash.withUnsafeBytes { _ = tree!.append(leafData: $0) } }
        expectedSeq = seq + 1
        previousHash = hash
        return true
    }

    /// The `tree` line: the Merkle tree of the events before the first
    /// record, as the roots of its complete subtrees, so that the tree
    /// checkpoint's root can be recomputed from the records that follow.
    private mutating func startTree(_ json: JSONValue) -> Bool {
        guard let size = Self.int(json["size"]), case .array(let items)? = json["subtrees"] else {
            return fail(nil, "the tree record cannot be read")
        }
        var subtrees: [(level: Int, hash: [UInt8])] = []
        for item in items {
            guard let level = Self.int(item["level"]), (0...62).contains(level), let hash = Self.hex(item["hash"]), hash.count == 32 else {
                return fail(nil, "the tree record cannot be read")
            }
            subtrees.append((Int(level), hash))
        }
        guard let frontier = MerkleFrontier(size: size, subtrees: subtrees) else {
            return fail(nil, "the tree record's subtrees do not make a tree of \(size) events")
        }
        tree = frontier
        return true
    }

    /// SHA-256 of `domain ‖ first ‖ fields…`, the fields read from the
    /// record by their `bundleKey`; nil if one is not of its kind.
    static func digest(_ domain: [UInt8], _ first: [UInt8], _ fields: [EventField], of record: JSONValue) -> [UInt8]? {
        var encoder = CanonicalEncoder()
        encoder.raw(domain)
        encoder.raw(first)
        for field in fields {
            guard let value = value(field, in: record) else { return nil }
            encoder.field(value)
        }
        return Crypto.sha256(encoder.bytes)
    }

    /// The record's list of jsonb fields that hold JSON `null` (not SQL NULL).
    public static let jsonNullsKey = "json_nulls"

    /// A field of a record as the export writes it (see `EventField.bundleKey`).
    static func value(_ field: EventField, in record: JSONValue) -> ChainValue? {
        guard let json = record[field.bundleKey], json != .null else {
            // JSON null, which the line cannot tell from SQL NULL, is listed apart.
            if case .array(let nulls)? = record[jsonNullsKey], nulls.contains(.string(field.bundleKey)) { return .json(.null) }
            return .null
        }
        switch (field.columnType, json) {
        case (.pgLSN, .string(let text)): return LSN(text).map { .integer(Int64(bitPattern: $0.rawValue)) }
        case (.bigint, .number(let text)), (.integer, .number(let text)): return Int64(text).map(ChainValue.integer)
        case (.timestamptz, .number(let text)): return Int64(text).map { .timestamp(PostgresTimestamp(microsecondsSinceEpoch: $0)) }
        case (.text, .string(let text)), (.inet, .string(let text)): return .text(text)
        case (.textArray, .array(let items)):
            // Strings and nulls (NULL elements); anything else (a nested
            // array: more than one dimension) is no text array of the chain.
            var texts: [String?] = []
            for item in items {
                switch item {
                case .string(let text): texts.append(text)
                case .null: texts.append(nil)
                default: return nil
                }
            }
            return .textArray(texts)
        case (.jsonb, _): return .json(json)
        case (.bytea, .string(let text)): return Hex.decode(text).map(ChainValue.bytes)
        default: return nil
        }
    }

    private func matchesHeader(_ record: JSONValue, time: Int64) -> Bool {
        guard let header else { return false }
        // A null bound is no bound (--since -infinity, --until infinity); a missing one matches nothing.
        func bound(_ key: String) -> Int64?? { header[key] == .null ? .some(nil) : Self.int(header[key]).map { $0 } }
        guard let since = bound("since_us"), let until = bound("until_us") else { return false }
        guard time >= since ?? .min && until.map({ time < $0 }) ?? true else { return false }
        guard case .string(let table)? = header["table"] else { return true }
        func text(_ field: EventField) -> String { if case .string(let s)? = record[field.name] { s } else { "" } }
        return table == text(.schemaName) + "." + text(.tableName)
    }

    private mutating func checkCheckpoint(_ json: JSONValue) -> Bool {
        finished = true
        guard let inner = json["checkpoint"] else { return fail(nil, "the checkpoint record cannot be read") }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(jsonLine: inner.serialized)
        } catch {
            return fail(nil, "the checkpoint record cannot be read: \(error)")
        }
        report.checkpointSeq = checkpoint.seq
        guard checkpoint.isSigned(by: publicKey) else {
            return fail(checkpoint.seq, "the checkpoint is not signed by this public key (forged or altered)")
        }
        guard case .string(let chainID)? = header?["chain_id"], chainID == checkpoint.chainID else {
            return fail(checkpoint.seq, "the checkpoint belongs to another chain")
        }
        guard let expectedSeq, checkpoint.seq == expectedSeq - 1, checkpoint.head == previousHash else {
            return fail(checkpoint.seq, "the records do not end at the signed head (seq \(checkpoint.seq)): events cut or altered")
        }
        // The tree checkpoint: signed by the key, of this size, with the root the records make.
        do {
            if let head = try checkpoint.treeHead(publicKey: publicKey) {
                guard let tree, tree.size == checkpoint.seq else {
                    return fail(checkpoint.seq, "checkpoint mismatch: the bundle's tree record does not start where its first record does")
                }
                guard tree.root == head.root else {
                    return fail(checkpoint.seq, "checkpoint mismatch: the signed tree root of seq \(checkpoint.seq) is not the root the records make")
                }
                report.treeOrigin = head.origin
            }
        } catch {
            return fail(checkpoint.seq, "checkpoint mismatch: \(error)")
        }
        // The header's promise: how many events, from which seq to which.
        let promised = (Self.int(header?["events"]), Self.int(header?["first_seq"]), Self.int(header?["last_seq"]))
        guard promised.0 == Int64(report.events), report.events == 0 || (promised.1 == firstFullSeq && promised.2 == lastFullSeq) else {
            return fail(nil, "the header promises \(promised.0.map(String.init) ?? "?") events (seq \(promised.1.map(String.init) ?? "?") to \(promised.2.map(String.init) ?? "?")) but the bundle holds \(report.events) (seq \(firstFullSeq.map(String.init) ?? "-") to \(lastFullSeq.map(String.init) ?? "-")): cut or padded")
        }
        return true
    }

    private mutating func fail(_ seq: Int64?, _ problem: String) -> Bool {
        report.badLine = line
        report.badSeq = seq
        report.problem = problem
        return false
    }

    static func int(_ value: JSONValue?) -> Int64? { if case .number(let n)? = value { Int64(n) } else { nil } }
    static func hex(_ value: JSONValue?) -> [UInt8]? { if case .string(let s)? = value { Hex.decode(s) } else { nil } }
}
