import Decoding
import Foundation
import Ledger
import Testing

/// `EventField` is the chain's one field table: its values are of its
/// declared kinds, and docs/chain-format.md lists the same fields in the
/// same order.
@Suite struct EventFieldTests {
    static let docPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/chain-format.md").standardized.path

    /// The field names of the first ``` block of the document that starts with `start`, in order.
    static func documentedFields(after start: String) throws -> [String] {
        let text = try String(contentsOfFile: docPath, encoding: .utf8)
        let block = try #require(text.components(separatedBy: "```").first { $0.contains(start) })
        let pattern = try NSRegularExpression(pattern: "\\b[IJTXAB]\\(([a-z_]+)\\)")
        return pattern.matches(in: block, range: NSRange(block.startIndex..., in: block)).map {
            String(block[Range($0.range(at: 1), in: block)!])
        }
    }

    @Test func theDocumentListsTheTablesFieldsInItsOrder() throws {
        #expect(try Self.documentedFields(after: "hash = H(\"walaudit/event/v1\"") == EventField.hashed.map(\.name))
        #expect(try Self.documentedFields(after: "payload_digest = H(") == EventField.payload.map(\.name))
    }

    @Test func everyValueIsOfItsFieldsKind() throws {
        let actor = Actor(dbUser: "u", roleName: "r", appUser: "a", appContext: .object([]), applicationName: "n",
                          clientAddr: "::1", clientPort: 1, backendPID: 2)
        let event = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: 0), operation: .insert, schemaName: "s",
                               tableName: "t", changedColumns: [], actor: actor, xid: 3, lsn: LSN(4), lsnPosition: 5,
                               rowKey: .null, oldRow: .bool(true), newRow: .number("6"))
        var chain = Chain()
        let full = chain.append(event)
        let empty = chain.append(AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: 0), operation: .gap))
        for field in EventField.stored {
            #expect(field.value(of: full).kind == field.kind, "\(field.name)")
            let value = field.value(of: empty)
            #expect(value == .null || value.kind == field.kind, "\(field.name)")
        }
        #expect(Set(EventField.stored.map(\.name)).count == EventField.stored.count)
        #expect(Set(EventField.stored.map(\.bundleKey)).count == EventField.stored.count)
    }
}
