/// How records are delimited in the bytes handed to the parser.
enum RecordFraming {
    /// The bytes are exactly one record: an XLogData payload, or one row of
    /// `pg_logical_slot_get_changes`.
    case wholeMessage
    /// Records end with a newline, as `pg_recvlogical -f -` writes them.
    /// `isFinal` says no bytes follow the buffer (end of input).
    case newlineSeparated(isFinal: Bool)
}

/// The `test_decoding` grammar, one record at a time, over raw bytes.
///
/// Values may contain newlines, so records cannot be split on "\n" first:
/// the grammar itself finds where a record ends (a quoted literal ends at
/// its closing quote, a message's content is exactly `sz` bytes).
struct RecordParser {
    enum Failure: Error {
        case malformed(DecodeError)
        /// More bytes are needed before the record can be parsed.
        case incomplete
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let newlineEnds: Bool
    private let isFinal: Bool
    private(set) var position: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, framing: RecordFraming) {
        self.bytes = bytes
        self.position = start
        switch framing {
        case .wholeMessage:
            newlineEnds = false
            isFinal = true
        case .newlineSeparated(let final):
            newlineEnds = true
            isFinal = final
        }
    }

    // MARK: Records

    /// Parses one record and its terminator; `position` is then just past it.
    mutating func record() throws(Failure) -> DecodedRecord {
        try record(skipping: { _ in false })!
    }

    /// `record()`, except that a one-table record (a row change, or a
    /// TRUNCATE of that table alone) of a table `skip` names is passed over
    /// once its table is read: nil, the rest unparsed.
    mutating func record(skipping skip: (RelationName) -> Bool) throws(Failure) -> DecodedRecord? {
        let record: DecodedRecord
        if try consume("table ") {
            let first = try relationName()
            if try hasPrefix(": "), skip(first) { return nil }
            record = try tableRecord(first: first)
        } else if try consume("BEGIN") {
            record = .begin(xid: try optionalXid())
        } else if try consume("COMMIT PREPARED ") {
            record = .commitPrepared(try preparedTransaction())
        } else if try consume("COMMIT") {
            let xid = try optionalXid()
            record = .commit(xid: xid, time: try optionalTimestamp())
        } else if try consume("PREPARE TRANSACTION ") {
            record = .prepare(try preparedTransaction())
        } else if try consume("ROLLBACK PREPARED ") {
            record = .rollbackPrepared(try preparedTransaction())
        } else if try consume("message: transactional: ") {
            record = .message(try message())
        } else if try startsStreamedOutput() {
            throw malformed("streamed in-progress transactions are not supported (start replication without 'stream-changes')")
        } else {
            throw malformed("unknown record: expected BEGIN, COMMIT, table, message or a prepared-transaction line")
        }
        try expectRecordEnd()
        return record
    }

    private mutating func startsStreamedOutput() throws(Failure) -> Bool {
        let starts: [StaticString] = ["opening a streamed", "closing a streamed", "streaming ",
                                      "committing streamed", "aborting streamed", "preparing streamed"]
        for start in starts where try hasPrefix(start) {
            return true
        }
        return false
    }

    private mutating func tableRecord(first: RelationName) throws(Failure) -> DecodedRecord {
        // Only a TRUNCATE names more than one table: no array for the others
        // (one allocation per change).
        var others: [RelationName] = []
        while try consume(", ") {
            others.append(try relationName())
        }
        try expect(": ")
        let operationStart = position
        let op: RowChange.Operation
        // Matched as bytes: a String built per record was a cost per change.
        if try consume("INSERT:") {
            op = .insert
        } else if try consume("UPDATE:") {
            op = .update
        } else if try consume("DELETE:") {
            op = .delete
        } else if try consume("TRUNCATE:") {
            return .truncate(try truncateFlags([first] + others))
        } else {
            while let b = try byte(), b >= UInt8(ascii: "A"), b <= UInt8(ascii: "Z") { position += 1 }
            let operation = String(decoding: UnsafeBufferPointer(rebasing: bytes[operationStart..<position]), as: UTF8.self)
            guard try consume(":") else {
                throw malformed("expected an operation (INSERT, UPDATE, DELETE, TRUNCATE) followed by ':'", at: operationStart)
            }
            throw malformed("unknown operation \"\(operation)\"", at: operationStart)
        }
        guard others.isEmpty else {
            throw malformed("\(op.rawValue) names more than one table", at: operationStart)
        }
        var change = RowChange(relation: first, operation: op, oldTuple: nil, newTuple: nil)
        switch op {
        case .insert:
            change.newTuple = try tupleOrNoData()
        case .update:
            if try consume(" old-key:") {
                change.oldTuple = try tuple(endsBeforeNewTuple: true)
                try expect(" new-tuple:")
            }
            change.newTuple = try tupleOrNoData()
        case .delete:
            change.oldTuple = try tupleOrNoData()
        }
        return .change(change)
    }

    private mutating func truncateFlags(_ relations: [RelationName]) throws(Failure) -> Truncate {
        if try consume(" (no-flags)") {
            return Truncate(relations: relations, restartSeqs: false, cascade: false)
        }
        let restart = try consume(" restart_seqs")
        let cascade = try consume(" cascade")
        guard restart || cascade else {
            throw malformed("expected TRUNCATE flags: restart_seqs, cascade or (no-flags)")
        }
        return Truncate(relations: relations, restartSeqs: restart, cascade: cascade)
    }

    private mutating func preparedTransaction() throws(Failure) -> PreparedTransaction {
        let gid = try quotedLiteral()
        var xid: UInt32?
        if try consume(", txid ") {
            xid = try unsignedXid()
        }
        return PreparedTransaction(gid: gid, xid: xid, time: try optionalTimestamp())
    }

    /// `message: transactional: N prefix: P, sz: N content:<sz bytes>`.
    ///
    /// The prefix is printed unquoted and may itself contain ", sz: ", so
    /// each candidate split is tried; the one whose `sz` bytes end exactly at
    /// the record's end wins.
    private mutating func message() throws(Failure) -> LogicalMessage {
        let transactional: Bool
        if try consume("1") { transactional = true } else if try consume("0") { transactional = false } else {
            throw malformed("expected 0 or 1 after 'transactional:'")
        }
        try expect(" prefix: ")
        let prefixStart = position
        let marker = Array(", sz: ".utf8)
        let contentMarker = Array(" content:".utf8)
        var search = prefixStart
        var firstCandidate: Int?
        while true {
            guard let candidate = find(marker, from: search) else {
                if !isFinal { throw .incomplete }
                throw malformed(firstCandidate == nil ? "message without ', sz: N content:'"
                                    : "message sz does not match its content", at: firstCandidate ?? prefixStart)
            }
            firstCandidate = firstCandidate ?? candidate
            search = candidate + 1
            var cursor = candidate + marker.count
            var size = 0
            var digitCount = 0
            while cursor < bytes.count, let digit = asciiDigit(bytes[cursor]) {
                let (product, overflow1) = size.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = product.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { throw malformed("message sz is out of range", at: candidate + marker.count) }
                size = sum
                digitCount += 1
                cursor += 1
            }
            if cursor + contentMarker.count > bytes.count && !isFinal { throw .incomplete }
            guard digitCount > 0, matches(contentMarker, at: cursor) else { continue }
            let contentStart = cursor + contentMarker.count
            let (contentEnd, overflow) = contentStart.addingReportingOverflow(size)
            if overflow || contentEnd > bytes.count {
                if !isFinal { throw .incomplete }
                continue
            }
            if contentEnd == bytes.count && !isFinal { throw .incomplete }
            guard contentEnd == bytes.count || (newlineEnds && bytes[contentEnd] == 0x0A) else { continue }
            let prefix = try string(prefixStart..<candidate, what: "message prefix")
            position = contentEnd
            return LogicalMessage(transactional: transactional, prefix: prefix,
                                  content: Array(bytes[contentStart..<contentEnd]))
        }
    }

    // MARK: Tuples and values

    private mutating func tupleOrNoData() throws(Failure) -> [Column]? {
        if try consume(" (no-tuple-data)") { return nil }
        return try tuple(endsBeforeNewTuple: false)
    }

    /// Columns ` name[type]:value` until the record ends (or ` new-tuple:`
    /// for an old key; an unquoted column name cannot contain '-').
    private mutating func tuple(endsBeforeNewTuple: Bool) throws(Failure) -> [Column] {
        var columns: [Column] = []
        columns.reserveCapacity(8)  // one allocation for most rows, not four as it grows
        while true {
            if try atRecordEnd() { return columns }
            if endsBeforeNewTuple, try hasPrefix(" new-tuple:") { return columns }
            try expect(" ")
            let name = try identifier(what: "column name")
            try expect("[")
            let typeName = try typeNameThroughColon()
            columns.append(Column(name: name, typeName: typeName, value: try datum()))
        }
    }

    /// The type between `[` and `]:`, as `format_type_be` prints it; it may
    /// contain brackets (`integer[]`) and quoted parts (`"My]: Type"`).
    private mutating func typeNameThroughColon() throws(Failure) -> String {
        let start = position
        var quoted = false
        while true {
            guard let b = try byte() else { throw malformed("unterminated type name", at: start) }
            if b == UInt8(ascii: "\"") {
                quoted.toggle()
            } else if !quoted && b == 0x0A && newlineEnds {
                throw malformed("unterminated type name", at: start)
            } else if !quoted && b == UInt8(ascii: "]") {
                guard let next = try byte(at: position + 1) else { throw malformed("unterminated type name", at: start) }
                if next == UInt8(ascii: ":") {
                    guard position > start else { throw malformed("empty type name", at: start) }
                    let name = try string(start..<position, what: "type name")
                    position += 2
                    return name
                }
            }
            position += 1
        }
    }

    private mutating func datum() throws(Failure) -> Datum {
        let start = position
        guard let b = try byte() else { throw malformed("missing value") }
        switch b {
        case UInt8(ascii: "'"):
            return .text(try quotedLiteral())
        case UInt8(ascii: "n"):
            try expect("null", reason: "unexpected value")
            return .null
        case UInt8(ascii: "u"):
            try expect("unchanged-toast-datum", reason: "unexpected value")
            return .unchangedToast
        case UInt8(ascii: "t"):
            try expect("true", reason: "unexpected value")
            return .boolean(true)
        case UInt8(ascii: "f"):
            try expect("false", reason: "unexpected value")
            return .boolean(false)
        case UInt8(ascii: "B"):
            try expect("B'", reason: "unexpected value")
            let digitsStart = position
            while let d = try byte(), d == UInt8(ascii: "0") || d == UInt8(ascii: "1") { position += 1 }
            let digits = try string(digitsStart..<position, what: "bit string")
            guard try consume("'") else { throw malformed("unterminated or invalid bit string", at: start) }
            return .bits(digits)
        default:
            while let c = try byte(), c != UInt8(ascii: " "), !(newlineEnds && c == 0x0A) { position += 1 }
            let token = try string(start..<position, what: "number")
            guard isPostgresNumber(token) else { throw malformed("unexpected value", at: start) }
            return .number(token)
        }
    }

    /// A `'...'` literal with `''` for a quote (standard_conforming_strings).
    private mutating func quotedLiteral() throws(Failure) -> String {
        let start = position
        try expect("'")
        var segmentStart = position
        var unescaped: [UInt8]?
        while true {
            guard let b = try byte() else { throw malformed("unterminated quoted literal", at: start) }
            if b == UInt8(ascii: "'") {
                if try byte(at: position + 1) == UInt8(ascii: "'") {
                    unescaped = (unescaped ?? []) + bytes[segmentStart...position]
                    position += 2
                    segmentStart = position
                    continue
                }
                let text: String
                if var collected = unescaped {
                    collected += bytes[segmentStart..<position]
                    guard let s = UTF8Text.validated(collected) else {
                        throw malformed("value is not valid UTF-8 (walaudit needs a UTF8 database)", at: start)
                    }
                    text = s
                } else {
                    text = try string(segmentStart..<position, what: "value")
                }
                position += 1
                return text
            }
            position += 1
        }
    }

    /// `schema.table`, each part an identifier as `quote_identifier` prints it.
    private mutating func relationName() throws(Failure) -> RelationName {
        let schema = try identifier(what: "schema name")
        try expect(".")
        return RelationName(schema: schema, table: try identifier(what: "table name"))
    }

    /// A plain identifier (`[a-z0-9_]+`) or a double-quoted one with `""` doubled.
    private mutating func identifier(what: String) throws(Failure) -> String {
        let start = position
        if try consume("\"") {
            var collected: [UInt8] = []
            while true {
                guard let b = try byte() else { throw malformed("unterminated quoted \(what)", at: start) }
                position += 1
                if b == UInt8(ascii: "\"") {
                    guard try byte() == UInt8(ascii: "\"") else { break }
                    position += 1
                }
                collected.append(b)
            }
            guard let name = UTF8Text.validated(collected), !name.isEmpty else {
                throw malformed("invalid quoted \(what)", at: start)
            }
            return name
        }
        while let b = try byte(), isPlainIdentifierByte(b) { position += 1 }
        guard position > start else { throw malformed("expected a \(what)", at: start) }
        return try string(start..<position, what: what)
    }

    private mutating func optionalXid() throws(Failure) -> UInt32? {
        guard try hasPrefix(" "), let next = try byte(at: position + 1), asciiDigit(next) != nil else { return nil }
        position += 1
        return try unsignedXid()
    }

    private mutating func unsignedXid() throws(Failure) -> UInt32 {
        let start = position
        while let b = try byte(), asciiDigit(b) != nil { position += 1 }
        guard let xid = UInt32(try string(start..<position, what: "xid")) else {
            throw malformed("expected a transaction id", at: start)
        }
        return xid
    }

    /// ` (at 2026-11-28 05:00:00.123456+00)` after COMMIT and prepared lines.
    private mutating func optionalTimestamp() throws(Failure) -> PostgresTimestamp? {
        guard try consume(" (at ") else { return nil }
        let start = position
        while let b = try byte(), b != UInt8(ascii: ")"), !(newlineEnds && b == 0x0A) { position += 1 }
        let text = try string(start..<position, what: "timestamp")
        guard try consume(")"), let time = PostgresTimestamp(postgresText: Substring(text)) else {
            throw malformed("invalid commit timestamp", at: start)
        }
        return time
    }

    // MARK: Bytes

    /// The byte at `index` (default: the current position); nil at the end
    /// of a final buffer; `.incomplete` at the end of a buffer more may follow.
    private func byte(at index: Int? = nil) throws(Failure) -> UInt8? {
        let i = index ?? position
        if i < bytes.count { return bytes[i] }
        if isFinal { return nil }
        throw .incomplete
    }

    private func atRecordEnd() throws(Failure) -> Bool {
        guard let b = try byte() else { return true }
        return newlineEnds && b == 0x0A
    }

    private mutating func expectRecordEnd() throws(Failure) {
        guard let b = try byte() else { return }
        guard newlineEnds && b == 0x0A else { throw malformed("unexpected text after the end of the record") }
        position += 1
    }

    private func hasPrefix(_ literal: StaticString) throws(Failure) -> Bool {
        var i = position
        // StaticString literals here are ASCII, so their UTF-8 bytes are the pattern.
        for expected in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard let b = try byte(at: i), b == expected else { return false }
            i += 1
        }
        return true
    }

    private mutating func consume(_ literal: StaticString) throws(Failure) -> Bool {
        guard try hasPrefix(literal) else { return false }
        position += literal.utf8CodeUnitCount
        return true
    }

    private mutating func expect(_ literal: StaticString, reason: String? = nil) throws(Failure) {
        guard try consume(literal) else {
            throw malformed(reason ?? "expected \"\(literal)\"")
        }
    }

    private func matches(_ literal: [UInt8], at index: Int) -> Bool {
        guard index + literal.count <= bytes.count else { return false }
        for (offset, b) in literal.enumerated() where bytes[index + offset] != b { return false }
        return true
    }

    private func find(_ literal: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + literal.count <= bytes.count {
            if bytes[i] == literal[0] && matches(literal, at: i) { return i }
            i += 1
        }
        return nil
    }

    private func string(_ range: Range<Int>, what: String) throws(Failure) -> String {
        guard let s = UTF8Text.validated(UnsafeBufferPointer(rebasing: bytes[range])) else {
            throw malformed("\(what) is not valid UTF-8 (walaudit needs a UTF8 database)", at: range.lowerBound)
        }
        return s
    }

    private func malformed(_ reason: String, at offset: Int? = nil) -> Failure {
        let at = min(offset ?? position, bytes.count)
        let excerptEnd = min(at + 60, bytes.count)
        let excerpt = String(decoding: UnsafeBufferPointer(rebasing: bytes[at..<excerptEnd]), as: UTF8.self)
        return .malformed(DecodeError(offset: at, reason: reason, excerpt: excerpt))
    }
}

private func asciiDigit(_ b: UInt8) -> Int? {
    b >= 0x30 && b <= 0x39 ? Int(b - 0x30) : nil
}

private func isPlainIdentifierByte(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || asciiDigit(b) != nil || b == UInt8(ascii: "_")
}

/// The forms numeric output functions print: integers, decimals, exponents,
/// `NaN` and the infinities.
func isPostgresNumber(_ token: String) -> Bool {
    if token == "NaN" || token == "Infinity" || token == "-Infinity" { return true }
    return isJSONNumber(token)
}

/// RFC 8259 number syntax: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
public func isJSONNumber(_ token: String) -> Bool {
    // Without copying the bytes: this runs for every numeric value captured.
    if let answer = token.utf8.withContiguousStorageIfAvailable(isJSONNumber(bytes:)) { return answer }
    return Array(token.utf8).withUnsafeBufferPointer(isJSONNumber(bytes:))
}

private func isJSONNumber(bytes b: UnsafeBufferPointer<UInt8>) -> Bool {
    var i = 0
    func digits() -> Int {
        let start = i
        while i < b.count, asciiDigit(b[i]) != nil { i += 1 }
        return i - start
    }
    if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
    let integerStart = i
    let integerDigits = digits()
    guard integerDigits > 0, integerDigits == 1 || b[integerStart] != UInt8(ascii: "0") else { return false }
    if i < b.count, b[i] == UInt8(ascii: ".") {
        i += 1
        guard digits() > 0 else { return false }
    }
    if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
        i += 1
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
        guard digits() > 0 else { return false }
    }
    return i == b.count
}

extension RecordParser {
    /// Where a one-row change record's tuple text begins (just after
    /// `table NAME: OP:`), and where its table name ends.
    mutating func changeLayout(_ operation: StaticString) throws(Failure) -> (nameEnd: Int, tupleStart: Int) {
        try expect("table ")
        _ = try relationName()
        let nameEnd = position
        try expect(": ")
        try expect(operation)
        return (nameEnd, position)
    }
}
