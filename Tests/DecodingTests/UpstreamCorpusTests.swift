import Decoding
import Foundation
import Testing

/// Every record PostgreSQL's own `test_decoding` regression tests printed
/// (`Corpus/`, see its SOURCE.md) parses, and prints back byte for byte
/// under `test_decoding.c`'s rules: the server's output is the ground truth,
/// not expectations written here. Streamed in-progress transactions are
/// refused with the error that says how to avoid them.
@Suite struct UpstreamCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static let files: [String] = ["pg15", "pg17", "history"].flatMap { directory in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent(directory).path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted().map { "\(directory)/\($0)" }
    }

    static func records(of file: String) throws -> [[UInt8]] {
        let data = try Data(contentsOf: corpus.appendingPathComponent(file))
        // No upstream record contains a newline (SOURCE.md), so lines are records.
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        #expect(lines.last?.isEmpty == true, "\(file) does not end with a newline")
        return lines.dropLast().map(Array.init)
    }

    static func isStreamed(_ line: [UInt8]) -> Bool {
        streamedStarts.contains { line.starts(with: $0.utf8) }
    }

    static let streamedStarts = ["opening a streamed", "closing a streamed", "streaming ", "aborting streamed",
                                 "committing streamed", "preparing streamed"]

    @Test func theCorpusIsThere() {
        // 25 pg15 files, 10 pg17, 2 history: a missing directory must not pass quietly.
        #expect(Self.files.count == 37)
    }

    @Test(arguments: files)
    func everyRecordParsesAndPrintsBack(file: String) throws {
        let records = try Self.records(of: file)
        #expect(!records.isEmpty)
        for line in records {
            let text = String(decoding: line, as: UTF8.self)
            if Self.isStreamed(line) {
                do {
                    Issue.record("\(file): a streamed record parsed as \(try TestDecoding.parseRecord(line))")
                } catch {
                    #expect(error.reason.contains("streamed in-progress transactions are not supported"))
                }
                continue
            }
            do {
                let printed = Self.printed(try TestDecoding.parseRecord(line))
                if printed != line {
                    Issue.record("\(file): printed back as\n\(String(decoding: printed, as: UTF8.self))\nnot as\n\(text)")
                }
            } catch {
                Issue.record("\(file): \(error) in \(text)")
            }
        }
    }

    /// A file's records (streamed ones left out) fed as one
    /// newline-separated stream, in chunks that split records anywhere,
    /// give the records parsed one by one.
    @Test(arguments: files)
    func aStreamOfTheFileGivesTheSameRecords(file: String) throws {
        let lines = try Self.records(of: file).filter { !Self.isStreamed($0) }
        let streamed = try RecordStreamTests.records(lines.flatMap { $0 + [UInt8(ascii: "\n")] }, chunkSize: 997)
        #expect(streamed == (try lines.map { try TestDecoding.parseRecord($0) }))
    }

    /// Every proper prefix of a record, more bytes to come, is incomplete:
    /// never an error, wherever a read ends (inside an operation's name, a
    /// literal, a type). Records over 1,000 bytes are left out: each
    /// prefix is parsed from the start.
    @Test(arguments: files)
    func everyPrefixOfARecordWaitsForMore(file: String) throws {
        for line in try Self.records(of: file) where !Self.isStreamed(line) && line.count <= 1000 {
            for end in 0..<line.count {
                var stream = RecordStream()
                stream.append(line[..<end])
                do {
                    if let (record, _) = try stream.next(isFinal: false) {
                        Issue.record("\(file): \(end) bytes parsed as \(record): \(String(decoding: line, as: UTF8.self))")
                    }
                } catch {
                    Issue.record("\(file): \(end) bytes failed with \(error): \(String(decoding: line, as: UTF8.self))")
                }
            }
        }
    }

    // MARK: test_decoding's printing (contrib/test_decoding/test_decoding.c)

    static func printed(_ record: DecodedRecord) -> [UInt8] {
        var out = ""
        switch record {
        case .begin(let xid):
            out = "BEGIN" + (xid.map { " \($0)" } ?? "")
        case .commit(let xid, let time):
            out = "COMMIT" + (xid.map { " \($0)" } ?? "") + (time.map { " (at \($0))" } ?? "")
        case .prepare(let t):
            out = "PREPARE TRANSACTION " + prepared(t)
        case .commitPrepared(let t):
            out = "COMMIT PREPARED " + prepared(t)
        case .rollbackPrepared(let t):
            out = "ROLLBACK PREPARED " + prepared(t)
        case .message(let m):
            let head = "message: transactional: \(m.transactional ? 1 : 0) prefix: \(m.prefix), sz: \(m.content.count) content:"
            return Array(head.utf8) + m.content
        case .truncate(let t):
            out = "table " + t.relations.map(relation).joined(separator: ", ") + ": TRUNCATE:"
            if !t.restartSeqs && !t.cascade { out += " (no-flags)" }
            if t.restartSeqs { out += " restart_seqs" }
            if t.cascade { out += " cascade" }
        case .change(let c):
            out = "table \(relation(c.relation)): \(c.operation.rawValue):"
            switch c.operation {
            case .insert:
                out += c.newTuple.map(tuple) ?? " (no-tuple-data)"
            case .update:
                if let old = c.oldTuple { out += " old-key:" + tuple(old) + " new-tuple:" }
                out += c.newTuple.map(tuple) ?? " (no-tuple-data)"
            case .delete:
                out += c.oldTuple.map(tuple) ?? " (no-tuple-data)"
            }
        }
        return Array(out.utf8)
    }

    static func prepared(_ t: PreparedTransaction) -> String {
        quoteLiteral(t.gid) + (t.xid.map { ", txid \($0)" } ?? "") + (t.time.map { " (at \($0))" } ?? "")
    }

    static func relation(_ name: RelationName) -> String { quoteIdentifier(name.schema) + "." + quoteIdentifier(name.table) }

    static func tuple(_ columns: [Column]) -> String {
        columns.map { column in
            let value: String = switch column.value {
            case .null: "null"
            case .unchangedToast: "unchanged-toast-datum"
            case .number(let n): n
            case .boolean(let b): b ? "true" : "false"
            case .bits(let digits): "B'\(digits)'"
            case .text(let s): quoteLiteral(s)
            }
            return " \(quoteIdentifier(column.name))[\(column.typeName)]:\(value)"
        }.joined()
    }

    /// quote_identifier without the keyword list: no upstream table or column is named after a keyword.
    static func quoteIdentifier(_ name: String) -> String {
        let plain = name.utf8.first.map { ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f } ?? false
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        return plain ? name : "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func quoteLiteral(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
}
