import PostgresClient
import Testing
import TestSupport

/// Names and values that reach SQL text are quoted by Unicode scalar: the
/// server must see exactly the name we meant, whatever follows a quote.
@Suite struct QuotingTests {
    /// A quote followed by a combining mark is one grapheme cluster in Swift
    /// but still a quote to the server; quoting by Character left it undoubled.
    static let hostile = ["a\"\u{301}b", "'\u{301}", "\"; DROP TABLE x; --", "x\"\"y", "\u{301}\"", "e\u{301}", "é"]

    @Test(arguments: hostile)
    func identifiersNameExactlyThatObject(_ name: String) throws {
        let database = try TestServer.freshDatabase()
        try database.connection.execute("CREATE TABLE \(SQLText.qualified("public", name)) (\(SQLText.identifier(name)) text)")
        let created = try database.connection.execute("""
            SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
            WHERE c.relnamespace = 'public'::regnamespace
            """).rows
        // Bytes, not String ==, which treats canonically equivalent names as equal.
        #expect(created.map { $0.map { Array(($0 ?? "").utf8) } } == [[Array(name.utf8), Array(name.utf8)]])
    }

    @Test(arguments: hostile)
    func literalsAreExactlyThatValue(_ value: String) throws {
        let database = try TestServer.freshDatabase()
        let returned = try database.connection.execute("SELECT \(SQLText.literal(value))").scalar
        #expect(returned.map { Array($0.utf8) } == Array(value.utf8))
    }
}
