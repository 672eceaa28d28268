@testable import Decoding
import Testing

/// Corner cases of the grammar that are awkward to provoke from a server;
/// the integration tests cover the rest with real output.
@Suite struct GrammarTests {
    @Test func quotedTypeNamesMayContainBracketsAndColons() throws {
        let record = try TestDecoding.parseRecord(#"table public.t: INSERT: c["we]:ird"[]]:'{x}' d[public."My Type"]:'a'"#)
        guard case .change(let change) = record else { Issue.record("not a change"); return }
        #expect(change.newTuple?.map(\.typeName) == [#""we]:ird"[]"#, #"public."My Type""#])
        #expect(change.newTuple?.first?.value == .text("{x}"))
    }

    /// The worker skips records of unaudited tables by their first words:
    /// exactly the one-table records, judged by the table the whole parse
    /// finds; anything else parses as without skipping.
    @Test(arguments: [
        #"table public.t: INSERT: id[integer]:1"#,
        #"table "a.b: c"."x"".y: z": UPDATE: id[integer]:1"#,
        #"table "; DROP TABLE x; --".t: DELETE: id[integer]:1"#,
        #"table s."table public.u: INSERT: ": INSERT: v[text]:'table public.w: '"#,
        #"table public.t: TRUNCATE: (no-flags)"#,
        #"table public.t, public.u: TRUNCATE: restart_seqs cascade"#,
        #"message: transactional: 1 prefix: walaudit.actor, sz: 2 content:{}"#,
        "BEGIN 42",
        #"table public.t INSERT: id[integer]:1"#,
        #"table "unterminated: INSERT: id[integer]:1"#,
    ])
    func skippingJudgesByTheWholeParsesTable(record: String) throws {
        let bytes = Array(record.utf8)
        let whole = try? TestDecoding.parseRecord(record)
        let table: RelationName? = switch whole {
        case .change(let change)?: change.relation
        case .truncate(let truncate)? where truncate.relations.count == 1: truncate.relations[0]
        default: nil
        }
        var asked: [RelationName] = []
        let skipped = try? TestDecoding.parseRecord(bytes, skipping: { asked.append($0); return true })
        if let table {
            #expect(asked == [table] && skipped == .some(nil))
        } else if whole != nil {
            #expect(asked.isEmpty && skipped == .some(whole))
        }
        let kept = try? TestDecoding.parseRecord(bytes, skipping: { _ in false })
        #expect(kept == .some(whole) || (whole == nil && kept == nil))
    }

    @Test func emptyOldKeyBeforeNewTuple() throws {
        let record = try TestDecoding.parseRecord("table public.t: UPDATE: old-key: new-tuple: a[integer]:null")
        #expect(record == .change(RowChange(relation: RelationName(schema: "public", table: "t"), operation: .update,
                                            oldTuple: [], newTuple: [Column(name: "a", typeName: "integer", value: .null)])))
    }

    @Test func beginAndCommitWithoutXids() throws {
        #expect(try TestDecoding.parseRecord("BEGIN") == .begin(xid: nil))
        #expect(try TestDecoding.parseRecord("COMMIT") == .commit(xid: nil, time: nil))
    }

    @Test func timestampOffsetsAreApplied() throws {
        let utc = PostgresTimestamp(postgresText: "2026-01-01 00:00:00+00")
        #expect(PostgresTimestamp(postgresText: "2026-01-01 05:30:00+05:30") == utc)
        #expect(PostgresTimestamp(postgresText: "2025-12-31 20:06:32.5-03:53:28")?.microsecondsSinceEpoch
                    == utc!.microsecondsSinceEpoch + 500_000)
        #expect(utc?.iso8601 == "2026-01-01T00:00:00.000000Z")
        #expect(PostgresTimestamp(postgresText: "2026-01-01 00:00:00.1234567+00") == nil)
        #expect(PostgresTimestamp(postgresText: "0044-03-15 12:00:00+00 BC") == nil)
    }

    @Test func jsonNumbersKeepTheirExactText() throws {
        let column = Column(name: "n", typeName: "numeric", value: .number("1234567890123456789012345678901234567890.0123456789"))
        #expect(try ValueConversion.json(column) == .number("1234567890123456789012345678901234567890.0123456789"))
        let nan = Column(name: "f", typeName: "double precision", value: .number("NaN"))
        #expect(try ValueConversion.json(nan) == .string("NaN"))
    }

    @Test func jsonTextRoundTrips() throws {
        let text = #"{"a":[1,-2.5e+10,true,null,"x\"\\\n\u0001é😀"],"a":{}}"#
        let value = try JSONValue(parsing: text)
        #expect(value.serialized == #"{"a":[1,-2.5e+10,true,null,"x\"\\\n\u0001é😀"],"a":{}}"#)
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: "[1,]") }
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: "01") }
        #expect(try JSONValue(parsing: #""\ud83d\ude00""#) == .string("😀"))
    }
}
