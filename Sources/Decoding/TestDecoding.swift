/// Entry points for parsing `test_decoding` output.
public enum TestDecoding {
    /// Parses one whole record: an XLogData payload of the replication
    /// stream, or the `data` of one `pg_logical_slot_get_changes` row.
    public static func parseRecord(_ bytes: UnsafeBufferPointer<UInt8>) throws(DecodeError) -> DecodedRecord {
        try parse(bytes, skipping: { _ in false })!
    }

    /// Parses one whole record, unless it is a one-table record (a row
    /// change, or a TRUNCATE of that table alone) of a table `skip` names:
    /// then nil, and the rest of it is not read — records of tables nobody
    /// audits cost their first words only.
    public static func parseRecord(_ bytes: [UInt8], skipping skip: (RelationName) -> Bool) throws(DecodeError) -> DecodedRecord? {
        try bytes.withUnsafeBufferPointer { (buffer) throws(DecodeError) in try parse(buffer, skipping: skip) }
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, skipping skip: (RelationName) -> Bool) throws(DecodeError) -> DecodedRecord? {
        var parser = RecordParser(bytes, from: 0, framing: .wholeMessage)
        do {
            return try parser.record(skipping: skip)
        } catch {
            switch error {
            case .malformed(let decodeError): throw decodeError
            case .incomplete: preconditionFailure("a whole-message parse never asks for more bytes")
            }
        }
    }

    /// The UPDATE record a row move between partitions would be if the
    /// stream said so: test_decoding prints it as the DELETE from the old
    /// partition then the INSERT into the new one. The result names the
    /// new partition and carries the deleted tuple as `old-key`.
    public static func movedRow(deleted: [UInt8], inserted: [UInt8]) throws(DecodeError) -> [UInt8] {
        func layout(_ raw: [UInt8], _ operation: StaticString) throws(DecodeError) -> (nameEnd: Int, tupleStart: Int) {
            try raw.withUnsafeBufferPointer { (buffer) throws(DecodeError) in
                var parser = RecordParser(buffer, from: 0, framing: .wholeMessage)
                do throws(RecordParser.Failure) {
                    return try parser.changeLayout(operation)
                } catch {
                    guard case .malformed(let decodeError) = error else { preconditionFailure("a whole-message parse never asks for more bytes") }
                    throw decodeError
                }
            }
        }
        let old = try layout(deleted, "DELETE:"), new = try layout(inserted, "INSERT:")
        return Array(inserted[..<new.nameEnd]) + Array(": UPDATE: old-key:".utf8) + Array(deleted[old.tupleStart...])
            + Array(" new-tuple:".utf8) + Array(inserted[new.tupleStart...])
    }

    /// Parses one whole record held in an array or a string.
    public static func parseRecord(_ bytes: [UInt8]) throws(DecodeError) -> DecodedRecord {
        try bytes.withUnsafeBufferPointer { (buffer) throws(DecodeError) in try parseRecord(buffer) }
    }

    public static func parseRecord(_ text: String) throws(DecodeError) -> DecodedRecord {
        try parseRecord(Array(text.utf8))
    }
}

/// Splits a newline-separated `test_decoding` stream (`pg_recvlogical -f -`)
/// into records as bytes arrive. Values may contain newlines, so the grammar
/// decides where each record ends.
public struct RecordStream {
    private var buffer: [UInt8] = []
    /// Bytes of `buffer` already returned as records.
    private var consumed = 0
    /// Stream offset of `buffer[0]`.
    private var base = 0
    /// Size of the unparsed tail when the last attempt needed more bytes.
    private var lastIncompleteSize: Int?
    private var newlineSinceAttempt = false

    public init() {}

    /// Offset in the whole stream of the next unparsed byte.
    public var offset: Int { base + consumed }

    public mutating func append(_ chunk: some Collection<UInt8>) {
        if consumed > 1 << 20 && consumed * 2 > buffer.count {
            buffer.removeFirst(consumed)
            base += consumed
            consumed = 0
        }
        if chunk.contains(0x0A) { newlineSinceAttempt = true }
        buffer.append(contentsOf: chunk)
    }

    /// The next complete record and its stream offset, or nil when more bytes
    /// are needed (or, with `isFinal`, when the stream is exhausted).
    /// Errors carry the offset in the whole stream.
    public mutating func next(isFinal: Bool) throws(DecodeError) -> (record: DecodedRecord, offset: Int)? {
        let available = buffer.count - consumed
        guard available > 0 else { return nil }
        // A record only ends at a newline, so retrying a long incomplete
        // record before a newline arrived or the data doubled would make
        // parsing a huge value quadratic.
        if !isFinal, let last = lastIncompleteSize, !newlineSinceAttempt, available < 2 * last { return nil }
        let start = consumed
        let outcome: Result<(DecodedRecord, Int), RecordParser.Failure> = buffer.withUnsafeBufferPointer { all in
            var parser = RecordParser(all, from: start, framing: .newlineSeparated(isFinal: isFinal))
            do throws(RecordParser.Failure) {
                let record = try parser.record()
                return .success((record, parser.position))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let (record, end)):
            consumed = end
            lastIncompleteSize = nil
            return (record, base + start)
        case .failure(.incomplete):
            lastIncompleteSize = available
            newlineSinceAttempt = false
            return nil
        case .failure(.malformed(var error)):
            error.offset += base
            throw error
        }
    }
}
