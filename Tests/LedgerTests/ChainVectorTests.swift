import Decoding
import Foundation
import Ledger
import Testing

/// The test vectors of docs/chain-format.md (docs/chain-vectors.json),
/// checked two ways: by walaudit's Ledger, and by `DocumentVerifier` below,
/// written from the document alone (it shares no encoding code with Ledger).
/// WALAUDIT_WRITE_VECTORS=1 rewrites the file from Ledger.
@Suite struct ChainVectorTests {
    static let vectorsPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/chain-vectors.json").standardized.path

    /// The events of the vectors and their salts.
    static func inputs() -> [(name: String, event: AuditEvent, salt: [UInt8], purged: Bool)] {
        let time = PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_000_123_456)  // 2026-11-28T05:00:00.123456Z
        let alice = Actor(dbUser: "clerk", roleName: "clerk", appUser: "alice@shop.example",
                          appContext: .object([.init("request_id", .string("r-17"))]), applicationName: "shop-web",
                          clientAddr: "127.0.0.1", clientPort: 51234, backendPID: 4242)
        let insert = AuditEvent(eventTime: time, operation: .insert, schemaName: "public", tableName: "orders",
                                changedColumns: ["id", "customer", "amount"], actor: alice, xid: 731, lsn: LSN(0x0000_0001_016B_3748),
                                lsnPosition: 1, rowKey: .object([.init("id", .number("1"))]),
                                newRow: .object([.init("id", .number("1")), .init("customer", .string("ACME")),
                                                 .init("amount", .number("120.00"))]))
        var update = insert
        update.operation = .update
        update.eventTime = PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_001_000_000)
        update.changedColumns = ["amount", "tags"]
        update.actor = Actor(dbUser: "clerk", roleName: "manager", applicationName: "psql")
        update.lsnPosition = 2
        update.oldRow = .object([.init("id", .number("1")), .init("amount", .number("120.00")), .init("city", .string("Zürich ✓"))])
        update.newRow = .object([.init("id", .number("1")), .init("amount", .number("1.5e3")), .init("tags", .array([.number("-0"), .null, .bool(true)])),
                                 .init("b", .number("1")), .init("b", .number("2.50")), .init("city", .string("Zürich ✓"))])
        var delete = insert
        delete.operation = .delete
        delete.actor = .unknown
        delete.changedColumns = ["id", "customer"]
        delete.lsnPosition = 3
        delete.oldRow = .object([.init("id", .number("1")), .init("customer", .string("ACME"))])
        delete.newRow = nil
        let purged = update
        let gap = AuditEvent(eventTime: time, operation: .gap,
                             newRow: .object([.init("reason", .string("slot invalidated")), .init("last_stored_lsn", .string("1/16B3748"))]))
        // A baseline row: no xid (it is no source transaction), the LSN of
        // its chunk's mark, the actor who attached, no changed columns.
        let snapshot = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_002_000_000), operation: .snapshot,
                                  schemaName: "public", tableName: "orders", actor: Actor(dbUser: "dba", roleName: "dba"),
                                  lsn: LSN(0x0000_0001_016B_4000), lsnPosition: 1, rowKey: .object([.init("id", .number("2"))]),
                                  newRow: .object([.init("id", .number("2")), .init("customer", .string("Initech")),
                                                   .init("amount", .number("9.99"))]))
        // Edge values: an LSN past 2^63 (unsigned), a time before 1970, an
        // empty text array, an IPv6 client with a netmask, and context keys
        // whose byte order differs from jsonb's (shorter keys first).
        let edges = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: -14_182_940_000_001), operation: .update,
                               schemaName: "public", tableName: "orders", changedColumns: [],
                               actor: Actor(dbUser: "clerk", roleName: "clerk",
                                            appContext: .object([.init("b", .number("1")), .init("aa", .number("2"))]),
                                            clientAddr: "2001:db8::1/64", clientPort: 5432),
                               xid: 4_294_967_295, lsn: LSN(0x8000_0000_0000_0001), lsnPosition: 1,
                               rowKey: .object([.init("id", .number("2"))]), oldRow: .object([.init("id", .number("2"))]),
                               newRow: .object([.init("id", .number("2"))]))
        let salt = (0..<16).map { UInt8($0) }
        return [("insert with an application actor", insert, salt, false),
                ("update: exponent, negative zero, duplicate keys, UTF-8", update, salt.reversed(), false),
                ("delete with an unknown actor", delete, [UInt8](repeating: 0xAB, count: 16), false),
                ("the update again, payload purged", purged, salt.reversed(), true),
                ("GAP event", gap, [UInt8](repeating: 0, count: 16), false),
                ("SNAPSHOT of a baseline row", snapshot, [UInt8](repeating: 0x5A, count: 16), false),
                ("edge values: LSN past 2^63, before 1970, empty array, IPv6 with a netmask, key order", edges,
                 [UInt8](repeating: 0xC3, count: 16), false)]
    }

    /// docs/value-vectors.json: a chain of its own whose events hold values
    /// at the edges of the rules (a file apart, so the seven above and the
    /// checkpoint over them stay as they are).
    static let valueVectorsPath = URL(fileURLWithPath: vectorsPath).deletingLastPathComponent()
        .appendingPathComponent("value-vectors.json").path

    static func valueInputs() -> [(name: String, event: AuditEvent, salt: [UInt8], purged: Bool)] {
        let time = PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_000_123_456)  // 2026-11-28T05:00:00.123456Z
        let clerk = Actor(dbUser: "clerk", roleName: "clerk", applicationName: "psql", clientAddr: "127.0.0.1",
                          clientPort: 50000, backendPID: 4243)
        // Arrays: a text[] column is a JSON string of PostgreSQL's array
        // output (a NULL element prints NULL, the text "NULL" prints quoted,
        // an empty array {}); the text-array field changed_columns with a
        // NULL element (the store's text[] admits one; the worker writes none).
        let arrays = AuditEvent(eventTime: time, operation: .update, schemaName: "public", tableName: "docs",
                                changedColumns: ["tags", nil, "b c"], actor: clerk, xid: 800, lsn: LSN(0x0000_0002_0000_0010),
                                lsnPosition: 1, rowKey: .object([.init("id", .number("1"))]),
                                oldRow: .object([.init("id", .number("1")), .init("tags", .string("{a}")), .init("empty", .null)]),
                                newRow: .object([.init("id", .number("1")), .init("tags", .string("{a,NULL,\"b c\"}")),
                                                 .init("empty", .string("{}")), .init("null_only", .string("{NULL}")),
                                                 .init("null_text", .string("{\"NULL\"}")), .init("ints", .string("{1,NULL,3}"))]))
        // Timestamps: ±infinity (and NaN, Infinity) in a row image are JSON
        // strings of the text output; an event_time before year 1 (44 BC,
        // written -0043); the last instant the chain can encode (Int64.max).
        let infinities = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: -63_517_780_800_000_000), operation: .insert,
                                    schemaName: "public", tableName: "terms", changedColumns: ["id", "valid_from", "valid_until", "day", "score", "amount"],
                                    actor: clerk, xid: 801, lsn: LSN(0x0000_0002_0000_0020), lsnPosition: 1,
                                    rowKey: .object([.init("id", .number("2"))]),
                                    newRow: .object([.init("id", .number("2")), .init("valid_from", .string("-infinity")),
                                                     .init("valid_until", .string("infinity")), .init("day", .string("infinity")),
                                                     .init("score", .string("-Infinity")), .init("amount", .string("NaN"))]))
        let latest = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: .max), operation: .gap,
                                newRow: .object([.init("reason", .string("the last encodable instant"))]))
        return [("text arrays: NULL elements in changed_columns and in text[] values, an empty array", arrays,
                 [UInt8](repeating: 0x11, count: 16), false),
                ("timestamps: ±infinity and NaN in a row image, an event_time in 44 BC", infinities,
                 [UInt8](repeating: 0x22, count: 16), false),
                ("timestamps: the last encodable event_time, 294247-01-10T04:00:54.775807Z", latest,
                 [UInt8](repeating: 0x33, count: 16), false)]
    }

    static func vectorsFromLedger() -> [[String: Any]] { vectors(of: inputs()) }

    static func vectors(of inputs: [(name: String, event: AuditEvent, salt: [UInt8], purged: Bool)]) -> [[String: Any]] {
        var chain = Chain()
        return inputs.map { input in
            let chained = chain.append(input.event, salt: input.salt)
            var vector: [String: Any] = [
                "name": input.name, "seq": chained.seq, "prev_hash": hex(chained.prevHash),
                "event": eventJSON(input.event, purged: input.purged), "purged": input.purged,
                "payload_digest": hex(chained.payloadDigest), "hash": hex(chained.hash),
            ]
            vector["hashed_bytes"] = hex(Chain.hashPreimage(seq: chained.seq, event: input.event,
                                                            payloadDigest: chained.payloadDigest, prevHash: chained.prevHash))
            if !input.purged {
                vector["payload_salt"] = hex(input.salt)
                vector["payload_bytes"] = hex(Chain.payloadPreimage(of: input.event, salt: input.salt))
            }
            return vector
        }
    }

    /// A fixed key (Ed25519 signatures are deterministic) and a checkpoint
    /// over the vectors' chain.
    static let checkpointKey = [UInt8](repeating: 7, count: 32)

    static func checkpointVector() throws -> [String: Any] {
        var chain = Chain()
        for input in inputs() { _ = chain.append(input.event, salt: input.salt) }
        var checkpoint = Checkpoint(chainID: "5f0c8a4e-2f1d-4b7a-9c3e-1d2b3a4c5d6e", seq: chain.seq, head: chain.head,
                                    time: PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_060_000_000), previous: nil)
        try checkpoint.sign(with: checkpointKey)
        let publicKey = try Ed25519.publicKey(of: checkpointKey)
        // The next one: an idle heartbeat a minute later, linked to it.
        var next = Checkpoint(chainID: checkpoint.chainID, seq: chain.seq, head: chain.head,
                              time: PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_120_000_000), previous: checkpoint.hash)
        try next.sign(with: checkpointKey)
        return ["chain_id": checkpoint.chainID, "seq": checkpoint.seq, "head": hex(checkpoint.head),
                "time_us": checkpoint.time.microsecondsSinceEpoch, "previous": NSNull(),
                "signed_bytes": hex(checkpoint.signedBytes), "hash": hex(checkpoint.hash),
                "signature": hex(checkpoint.signature), "public_key": hex(publicKey), "private_key_for_testing_only": hex(checkpointKey),
                "next": ["seq": next.seq, "time_us": next.time.microsecondsSinceEpoch, "previous": hex(checkpoint.hash),
                         "signed_bytes": hex(next.signedBytes), "hash": hex(next.hash), "signature": hex(next.signature)] as [String: Any]]
    }

    @Test func checkpointVectorMatchesTheDocument() throws {
        let file = URL(fileURLWithPath: Self.vectorsPath).deletingLastPathComponent().appendingPathComponent("checkpoint-vector.json")
        if ProcessInfo.processInfo.environment["WALAUDIT_WRITE_VECTORS"] == "1" {
            try JSONSerialization.data(withJSONObject: try Self.checkpointVector(), options: [.prettyPrinted, .sortedKeys]).write(to: file)
        }
        let vector = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.vectorsPath))) as? [[String: Any]])
        // Independently: the signed bytes from the document's rules.
        let chainID = vector["chain_id"] as! String
        var bytes = Array("walaudit/checkpoint/v1".utf8) + [0]
        bytes += DocumentVerifier.field(1, Array(chainID.utf8))
        bytes += DocumentVerifier.field(2, DocumentVerifier.i64((vector["seq"] as! NSNumber).int64Value))
        bytes += DocumentVerifier.field(3, unhex(stored.last?["hash"] as? String) ?? [])
        bytes += DocumentVerifier.field(5, DocumentVerifier.i64((vector["time_us"] as! NSNumber).int64Value))
        bytes += DocumentVerifier.null
        #expect(hex(bytes) == vector["signed_bytes"] as? String)
        #expect(hex(Crypto.sha256(bytes)) == vector["hash"] as? String)
        let publicKey = try #require(unhex(vector["public_key"] as? String))
        #expect(Ed25519.verify(try #require(unhex(vector["signature"] as? String)), of: bytes, publicKey: publicKey))
        #expect(!Ed25519.verify(try #require(unhex(vector["signature"] as? String)), of: bytes + [0], publicKey: publicKey))
        // The next checkpoint names this one as its previous.
        let next = try #require(vector["next"] as? [String: Any])
        var nextBytes = Array("walaudit/checkpoint/v1".utf8) + [0]
        nextBytes += DocumentVerifier.field(1, Array(chainID.utf8))
        nextBytes += DocumentVerifier.field(2, DocumentVerifier.i64((next["seq"] as! NSNumber).int64Value))
        nextBytes += DocumentVerifier.field(3, unhex(stored.last?["hash"] as? String) ?? [])
        nextBytes += DocumentVerifier.field(5, DocumentVerifier.i64((next["time_us"] as! NSNumber).int64Value))
        nextBytes += DocumentVerifier.field(3, try #require(unhex(vector["hash"] as? String)))
        #expect(hex(nextBytes) == next["signed_bytes"] as? String)
        #expect(hex(Crypto.sha256(nextBytes)) == next["hash"] as? String)
        #expect(Ed25519.verify(try #require(unhex(next["signature"] as? String)), of: nextBytes, publicKey: publicKey))
        // And walaudit produces exactly this vector.
        #expect(try Self.checkpointVector()["signature"] as? String == vector["signature"] as? String)
    }

    @Test func vectorsMatchTheDocumentedEncoding() throws {
        try Self.checkVectorFile(Self.vectorsPath, inputs: Self.inputs(), count: 7)
    }

    @Test func valueVectorsMatchTheDocumentedEncoding() throws {
        try Self.checkVectorFile(Self.valueVectorsPath, inputs: Self.valueInputs(), count: 3)
    }

    /// Checks a vector file with `DocumentVerifier`, then that Ledger makes
    /// exactly that file from `inputs`.
    static func checkVectorFile(_ path: String, inputs: [(name: String, event: AuditEvent, salt: [UInt8], purged: Bool)],
                                count: Int) throws {
        if ProcessInfo.processInfo.environment["WALAUDIT_WRITE_VECTORS"] == "1" {
            let data = try JSONSerialization.data(withJSONObject: vectors(of: inputs), options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
        }
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]])
        #expect(stored.count == count)
        var previous = [UInt8](repeating: 0, count: 32)
        for vector in stored {
            let name = vector["name"] as? String ?? "?"
            let event = try #require(vector["event"] as? [String: Any])
            let digest = try #require(unhex(vector["payload_digest"] as? String))
            #expect(unhex(vector["prev_hash"] as? String) == previous, "\(name): prev_hash")
            if vector["purged"] as? Bool != true {
                let salt = try #require(unhex(vector["payload_salt"] as? String))
                #expect(hex(DocumentVerifier.payloadPreimage(event, salt: salt)) == vector["payload_bytes"] as? String, "\(name): payload bytes")
                #expect(DocumentVerifier.payloadDigest(event, salt: salt) == digest, "\(name): payload digest")
            }
            // The readable time says the hashed microseconds.
            #expect(DocumentVerifier.readableTime((event["event_time_us"] as! NSNumber).int64Value) == event["event_time"] as? String,
                    "\(name): event_time")
            let preimage = DocumentVerifier.eventPreimage(event, seq: vector["seq"] as! Int, prevHash: previous, payloadDigest: digest)
            #expect(hex(preimage) == vector["hashed_bytes"] as? String, "\(name): hashed bytes")
            let hash = Crypto.sha256(preimage)
            #expect(hex(hash) == vector["hash"] as? String, "\(name): hash")
            previous = hash
        }
        // And Ledger produces exactly the stored vectors.
        let fresh = vectors(of: inputs)
        #expect(fresh.map { $0["hash"] as? String } == stored.map { $0["hash"] as? String })
        #expect(fresh.map { $0["hashed_bytes"] as? String } == stored.map { $0["hashed_bytes"] as? String })
    }
}

/// An implementation of docs/chain-format.md written from the document
/// only, over the vectors' JSON form of events.
enum DocumentVerifier {
    static func u32(_ n: Int) -> [UInt8] { (0..<4).map { UInt8((n >> (24 - 8 * $0)) & 0xFF) } }
    static func i64(_ n: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * Int64($0))) } }
    static func field(_ tag: UInt8, _ body: [UInt8]) -> [UInt8] { [tag] + u32(body.count) + body }
    static let null: [UInt8] = [0, 0, 0, 0, 0]
    static func text(_ v: Any?) -> [UInt8] { (v as? String).map { field(1, Array($0.utf8)) } ?? null }
    static func integer(_ v: Any?) -> [UInt8] { (v as? NSNumber).map { field(2, i64($0.int64Value)) } ?? null }
    /// Each element a text field; a NULL element (JSON null) the NULL field.
    static func textArray(_ v: Any?) -> [UInt8] { (v as? [Any]).map { field(4, $0.flatMap { text($0) }) } ?? null }
    static func json(_ v: Any?) -> [UInt8] {
        guard let v, !(v is NSNull) else { return null }
        let wrapped = v as! [String: Any]
        return field(6, jsonBody(wrapped["v"]!))
    }

    /// Values in the vector file are wrapped: {"v": …}; numbers are {"n": "text"}
    /// and objects lists of [key, value] pairs, so nothing is lost in transit.
    static func jsonBody(_ v: Any) -> [UInt8] {
        switch v {
        case is NSNull: return [UInt8(ascii: "n")]
        case let b as Bool: return [UInt8(ascii: b ? "t" : "f")]
        case let s as String: return [UInt8(ascii: "s")] + u32(s.utf8.count) + Array(s.utf8)
        case let a as [Any]: return [UInt8(ascii: "a")] + u32(a.count) + a.flatMap(jsonBody)
        case let d as [String: Any] where d["n"] != nil:
            let digits = numeric(d["n"] as! String)
            return [UInt8(ascii: "d")] + u32(digits.utf8.count) + Array(digits.utf8)
        case let d as [String: Any]:
            var last: [String: Any] = [:]
            for pair in d["o"] as! [[Any]] { last[pair[0] as! String] = pair[1] }
            let keys = last.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            return [UInt8(ascii: "o")] + u32(keys.count) + keys.flatMap { u32($0.utf8.count) + Array($0.utf8) + jsonBody(last[$0]!) }
        default: fatalError("unexpected \(v)")
        }
    }

    /// Plain decimal with max(0, f − e) fraction digits; no sign on zero.
    static func numeric(_ text: String) -> String {
        var s = Substring(text)
        let negative = s.hasPrefix("-")
        if negative { s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...].replacingOccurrences(of: "+", with: ""))!
            s = s[..<e]
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0]), fraction = parts.count > 1 ? String(parts[1]) : ""
        let scale = max(0, fraction.count - exponent)
        var digits = whole + fraction
        var point = whole.count + exponent
        if point < 1 { digits = String(repeating: "0", count: 1 - point) + digits; point = 1 }
        if digits.count < point + scale { digits += String(repeating: "0", count: point + scale - digits.count) }
        var integerPart = String(digits.prefix(point))
        let fractionPart = String(digits.dropFirst(point).prefix(scale))
        while integerPart.count > 1 && integerPart.hasPrefix("0") { integerPart.removeFirst() }
        let zero = (integerPart + fractionPart).allSatisfy { $0 == "0" }
        return (negative && !zero ? "-" : "") + integerPart + (fractionPart.isEmpty ? "" : "." + fractionPart)
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, proleptic Gregorian, years
    /// numbered astronomically (1 BC is 0000, 2 BC -0001), at least 4 digits.
    static func readableTime(_ us: Int64) -> String {
        let micro = ((us % 1_000_000) + 1_000_000) % 1_000_000
        let seconds = (us - micro) / 1_000_000  // exact: floor division
        let secondOfDay = ((seconds % 86_400) + 86_400) % 86_400
        var days = (seconds - secondOfDay) / 86_400
        // Civil date from days since 1970-01-01, counted by 400-year cycles from 0000-03-01.
        days += 719_468
        let cycle = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfCycle = days - cycle * 146_097
        let yearOfCycle = (dayOfCycle - dayOfCycle / 1460 + dayOfCycle / 36_524 - dayOfCycle / 146_096) / 365
        let dayOfYear = dayOfCycle - (365 * yearOfCycle + yearOfCycle / 4 - yearOfCycle / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfCycle + cycle * 400 + (month <= 2 ? 1 : 0)
        func digits(_ n: Int64, _ width: Int) -> String {
            let text = String(n.magnitude)
            return (n < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(year, 4) + "-" + digits(month, 2) + "-" + digits(day, 2) + "T" + digits(secondOfDay / 3600, 2) + ":"
            + digits(secondOfDay / 60 % 60, 2) + ":" + digits(secondOfDay % 60, 2) + "." + digits(micro, 6) + "Z"
    }

    static func payloadPreimage(_ e: [String: Any], salt: [UInt8]) -> [UInt8] {
        Array("walaudit/payload/v1".utf8) + [0] + salt + json(e["row_key"]) + json(e["old_row"]) + json(e["new_row"])
    }

    static func payloadDigest(_ e: [String: Any], salt: [UInt8]) -> [UInt8] { Crypto.sha256(payloadPreimage(e, salt: salt)) }

    static func eventPreimage(_ e: [String: Any], seq: Int, prevHash: [UInt8], payloadDigest: [UInt8]) -> [UInt8] {
        var bytes = Array("walaudit/event/v1".utf8) + [0] + prevHash
        bytes += field(2, i64(Int64(seq)))
        bytes += field(5, i64((e["event_time_us"] as! NSNumber).int64Value))
        bytes += text(e["operation"]) + text(e["schema_name"]) + text(e["table_name"]) + textArray(e["changed_columns"])
        bytes += text(e["db_user"]) + text(e["role_name"]) + text(e["app_user"]) + json(e["app_context"])
        bytes += text(e["application_name"]) + text(e["client_addr"]) + integer(e["client_port"]) + integer(e["backend_pid"])
        // The LSN is unsigned; its 8 bytes big-endian are the same read either way.
        let lsn = (e["lsn"] as? String).flatMap(UInt64.init).map { field(2, i64(Int64(bitPattern: $0))) } ?? null
        bytes += integer(e["xid"]) + lsn + integer(e["lsn_position"]) + field(3, payloadDigest)
        return bytes
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
func unhex(_ text: String?) -> [UInt8]? {
    guard let text, text.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
        out.append(byte)
        index = next
    }
    return out
}

/// An event in the vector file's JSON form.
func eventJSON(_ e: AuditEvent, purged: Bool) -> [String: Any] {
    func wrap(_ v: JSONValue?) -> Any {
        guard let v else { return NSNull() }
        func plain(_ v: JSONValue) -> Any {
            switch v {
            case .null: return NSNull()
            case .bool(let b): return b
            case .number(let n): return ["n": n]
            case .string(let s): return s
            case .array(let a): return a.map(plain)
            case .object(let m): return ["o": m.map { [$0.key, plain($0.value)] }]
            }
        }
        return ["v": plain(v)]
    }
    func opt(_ v: Any?) -> Any { v ?? NSNull() }
    return [
        "event_time_us": e.eventTime.microsecondsSinceEpoch, "event_time": e.eventTime.iso8601,
        "operation": e.operation.rawValue, "schema_name": opt(e.schemaName), "table_name": opt(e.tableName),
        "changed_columns": opt(e.changedColumns.map { $0.map { $0 ?? NSNull() as Any } }), "db_user": opt(e.actor.dbUser), "role_name": opt(e.actor.roleName),
        "app_user": opt(e.actor.appUser), "app_context": wrap(e.actor.appContext),
        "application_name": opt(e.actor.applicationName), "client_addr": opt(e.actor.clientAddr),
        "client_port": opt(e.actor.clientPort), "backend_pid": opt(e.actor.backendPID), "xid": opt(e.xid),
        // Unsigned, as a decimal string: it may pass 2^63 (and JSON readers' 2^53).
        "lsn": opt(e.lsn.map { String($0.rawValue) }), "lsn_position": opt(e.lsnPosition),
        "row_key": purged ? NSNull() : wrap(e.rowKey), "old_row": purged ? NSNull() : wrap(e.oldRow),
        "new_row": purged ? NSNull() : wrap(e.newRow),
    ]
}
