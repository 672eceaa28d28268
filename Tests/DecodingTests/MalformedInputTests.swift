import Decoding
import Testing

/// Hand-written malformed records: each must fail with a reason and the
/// offset of the offending text, never a partial record.
@Suite struct MalformedInputTests {
    private func failure(_ text: String) throws -> DecodeError {
        do {
            let record = try TestDecoding.parseRecord(text)
            Issue.record("expected an error, parsed \(record)")
            throw CancellationError()
        } catch let error as DecodeError {
            return error
        }
    }

    @Test func truncatedQuote() throws {
        let error = try failure("table public.t: INSERT: id[integer]:1 name[text]:'never closed")
        #expect(error.reason == "unterminated quoted literal")
        #expect(error.offset == 49)
        #expect(error.excerpt.hasPrefix("'never closed"))
    }

    @Test func unknownOperation() throws {
        let error = try failure("table public.t: UPSERT: id[integer]:1")
        #expect(error.reason == "unknown operation \"UPSERT\"")
        #expect(error.offset == 16)
    }

    /// Operations are matched as bytes: a known one's prefix or extension,
    /// an empty one, one without its colon, and a row change naming two
    /// tables each fail at the operation.
    @Test(arguments: [
        ("table public.t: INSERTED: id[integer]:1", "unknown operation \"INSERTED\""),
        ("table public.t: UPDAT: id[integer]:1", "unknown operation \"UPDAT\""),
        ("table public.t: : id[integer]:1", "unknown operation \"\""),
        ("table public.t: DELETE id[integer]:1", "expected an operation (INSERT, UPDATE, DELETE, TRUNCATE) followed by ':'"),
        ("table public.t: delete: id[integer]:1", "expected an operation (INSERT, UPDATE, DELETE, TRUNCATE) followed by ':'"),
        ("table public.t, public.u: DELETE: id[integer]:1", "DELETE names more than one table"),
    ])
    func badOperations(record: String, reason: String) throws {
        let error = try failure(record)
        #expect(error.reason == reason)
        let operationStart = record.utf8.count - record.split(separator: ": ", maxSplits: 1)[1].utf8.count
        #expect(error.offset == operationStart)
    }

    @Test func messageSizeLargerThanContent() throws {
        let error = try failure("message: transactional: 1 prefix: p, sz: 10 content:abc")
        #expect(error.reason == "message sz does not match its content")
        #expect(error.offset == 35)
    }

    @Test func messageSizeSmallerThanContent() throws {
        let error = try failure("message: transactional: 0 prefix: p, sz: 1 content:abc")
        #expect(error.reason == "message sz does not match its content")
    }

    @Test func messageSizeNotANumber() throws {
        let error = try failure("message: transactional: 1 prefix: p, sz: ten content:abc")
        #expect(error.reason == "message sz does not match its content")
    }

    @Test func garbage() throws {
        let error = try failure("\u{1}\u{2}garbage")
        #expect(error.reason.hasPrefix("unknown record"))
        #expect(error.offset == 0)
        #expect(error.quotedExcerpt == "\"\\x1\\x2garbage\"")
    }

    @Test func trailingTextAfterTheRecord() throws {
        let error = try failure("BEGIN 12 extra")
        #expect(error.reason == "unexpected text after the end of the record")
        #expect(error.offset == 8)
    }

    @Test func unexpectedValue() throws {
        let error = try failure("table public.t: INSERT: id[integer]:12abc")
        #expect(error.reason == "unexpected value")
        #expect(error.offset == 36)
    }

    @Test func missingSpaceBetweenColumns() throws {
        let error = try failure("table public.t: INSERT: a[text]:'x'b[text]:'y'")
        #expect(error.reason == "expected \" \"")
    }

    @Test func unterminatedTypeName() throws {
        let error = try failure("table public.t: INSERT: a[text:'x'")
        #expect(error.reason == "unterminated type name")
    }

    @Test func invalidUTF8Value() throws {
        var bytes = Array("table public.t: INSERT: a[text]:'".utf8)
        bytes += [0xC3, 0x28, UInt8(ascii: "'")]
        #expect(throws: DecodeError.self) { try TestDecoding.parseRecord(bytes) }
    }

    @Test func badCommitTimestamp() throws {
        let error = try failure("COMMIT 5 (at yesterday)")
        #expect(error.reason == "invalid commit timestamp")
    }

    @Test func streamedBlocksAreRefusedClearly() throws {
        let error = try failure("opening a streamed block for transaction TXN 5")
        #expect(error.reason.contains("stream-changes"))
    }

    @Test func updateWithTwoTables() throws {
        let error = try failure("table public.a, public.b: UPDATE: id[integer]:1")
        #expect(error.reason == "UPDATE names more than one table")
    }

    @Test func truncateWithoutFlags() throws {
        let error = try failure("table public.a: TRUNCATE:")
        #expect(error.reason.hasPrefix("expected TRUNCATE flags"))
    }
}

/// The stream splitter for `pg_recvlogical -f -` output.
@Suite struct RecordStreamTests {
    private func records(_ text: String, chunkSize: Int) throws -> [DecodedRecord] {
        try Self.records(Array(text.utf8), chunkSize: chunkSize)
    }

    /// The records of newline-separated `bytes` fed to a stream `chunkSize` bytes at a time.
    static func records(_ bytes: [UInt8], chunkSize: Int) throws -> [DecodedRecord] {
        var stream = RecordStream()
        var out: [DecodedRecord] = []
        var index = 0
        repeat {
            let end = min(index + chunkSize, bytes.count)
            stream.append(bytes[index..<end])
            index = end
            while let (record, _) = try stream.next(isFinal: index == bytes.count) { out.append(record) }
        } while index < bytes.count
        return out
    }

    static let sample = """
        message: transactional: 1 prefix: walaudit, sz: 46 content:line one
        table public.t: INSERT: id[integer]:9
        BEGIN 7
        table public.t: INSERT: id[integer]:1 note[text]:'two
        lines, and ''quotes''' n[numeric]:-1.5e+3
        COMMIT 7 (at 2026-11-28 05:00:00.5+00)

        """

    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func sameRecordsWhateverTheChunking(chunkSize: Int) throws {
        let parsed = try records(Self.sample, chunkSize: chunkSize)
        #expect(parsed.count == 4)
        guard parsed.count == 4 else { return }
        #expect(parsed[0] == .message(LogicalMessage(transactional: true, prefix: "walaudit",
                                                      content: Array("line one\ntable public.t: INSERT: id[integer]:9".utf8))))
        #expect(parsed[1] == .begin(xid: 7))
        guard case .change(let change) = parsed[2] else { Issue.record("expected a change"); return }
        #expect(change.newTuple?[1].value == .text("two\nlines, and 'quotes'"))
        #expect(change.newTuple?[2].value == .number("-1.5e+3"))
        #expect(parsed[3] == .commit(xid: 7, time: PostgresTimestamp(microsecondsSinceEpoch: 1_795_842_000_500_000)))
    }

    @Test func truncatedStreamIsAnErrorWithTheStreamOffset() throws {
        var stream = RecordStream()
        stream.append(Array("BEGIN 1\ntable public.t: INSERT: a[text]:'cut".utf8))
        #expect(try stream.next(isFinal: false)?.record == .begin(xid: 1))
        #expect(try stream.next(isFinal: false) == nil)
        do {
            _ = try stream.next(isFinal: true)
            Issue.record("expected an error")
        } catch {
            #expect(error.reason == "unterminated quoted literal")
            #expect(error.offset == 8 + 32)
        }
    }

    @Test func messagePrefixContainingTheSizeMarker() throws {
        let text = "message: transactional: 0 prefix: a, sz: 3 content:b, sz: 2 content:xy\nBEGIN 3\n"
        let parsed = try records(text, chunkSize: 5)
        #expect(parsed.first == .message(LogicalMessage(transactional: false, prefix: "a, sz: 3 content:b", content: Array("xy".utf8))))
        #expect(parsed.count == 2)
    }
}
