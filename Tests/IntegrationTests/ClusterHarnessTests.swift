import Foundation
import PostgresClient
import Testing
import TestSupport

/// The throwaway cluster every integration test stands on.
@Suite struct ClusterHarnessTests {
    @Test func clusterIsReadyForLogicalDecoding() throws {
        let db = try TestServer.freshDatabase()
        let settings = try db.connection.execute("""
            SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int >= 10,
                   current_setting('max_wal_senders')::int >= 10, current_setting('server_version_num')::int >= 150000
            """)
        #expect(settings.rows.first == ["logical", "t", "t", "t"])
    }

    @Test func eachTestGetsItsOwnDatabase() throws {
        let first = try TestServer.freshDatabase(), second = try TestServer.freshDatabase()
        #expect(first.name != second.name)
        try first.connection.execute("CREATE TABLE only_here (id integer)")
        let seen = try second.connection.execute("SELECT to_regclass('only_here') IS NULL").scalar
        #expect(seen == "t")
    }

    @Test func tcpConnectionsShowAClientAddress() throws {
        let cluster = try TestServer.cluster()
        let connection = try Connection(cluster.tcpConninfo())
        #expect(try connection.execute("SELECT inet_client_addr()::text").scalar == "127.0.0.1/32")
    }

    @Test func serverRunsAsAnUnprivilegedUser() throws {
        let cluster = try TestServer.cluster()
        let attributes = try FileManager.default.attributesOfItem(atPath: cluster.dataDirectory)
        let owner = attributes[.ownerAccountName] as? String
        if geteuid() == 0 {
            #expect(owner == "postgres")
        } else {
            #expect(owner == NSUserName())
        }
    }

    @Test func errorsCarrySQLStateAndNeverThePassword() throws {
        let db = try TestServer.freshDatabase()
        do {
            try db.connection.execute("SELECT * FROM no_such_table")
            Issue.record("expected an error")
        } catch {
            #expect(error.sqlState == "42P01")
        }
        let cluster = try TestServer.cluster()
        do {
            _ = try Connection("host=\(cluster.directory) port=\(cluster.port) dbname=no_such_db password=s3cret")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("no_such_db"))
            #expect(!error.message.contains("s3cret"))
        }
    }

    /// Redaction reads a conninfo as libpq does (PQconninfoParse) and writes
    /// it back in libpq's keyword order, password fields masked: quoting,
    /// escapes and percent-encoding cannot smuggle a password past it, and a
    /// value that merely contains "password=" is shown as the value it is.
    @Test func connectionStringsAreRedacted() {
        let cases: [(String, String)] = [
            ("host=x password=s3cret user=u", "user=u password=*** host=x"),
            // Spaces around '=', a quoted value with a space and an escaped quote.
            (#"host=x password = 'a b\' c' user=u"#, "user=u password=*** host=x"),
            // Quoted values elsewhere keep their spaces, quotes and backslashes, quoted so libpq reads them back.
            (#"host=x application_name='shop \'web\' \\ 1' password='p w\'d s3cret'"#,
             #"password=*** host=x application_name='shop \'web\' \\ 1'"#),
            // "password=" inside another value is not a password; the real one is hidden.
            ("host=x application_name='password=visible' password=s3cret", "password=*** host=x application_name='password=visible'"),
            ("options='-c password=x' password=s3cret dbname=d", "password=*** dbname=d options='-c password=x'"),
            // URLs: user:password@, percent-encoding, password in the query, sslpassword.
            ("postgresql://u:s3cret@h:5432/db?sslmode=disable&password=p2", "user=u password=*** dbname=db host=h port=5432 sslmode=disable"),
            ("postgres://al%69ce:s3%63r%65t%40%3A@h/d%20b?application_name=a%20b", "user=alice password=*** dbname='d b' host=h application_name='a b'"),
            ("postgresql://h/db?sslpassword=k3y-s3cret&sslmode=require", "dbname=db host=h sslmode=require sslpassword=***"),
            ("postgresql:///db?host=/tmp&password=s3cret", "password=*** dbname=db host=/tmp"),
            // A dbname that is itself a URL or conninfo.
            ("dbname=postgresql://u:s3cret@h/db", "dbname='user=u password=*** dbname=db host=h'"),
            ("", ""),
        ]
        for (conninfo, expected) in cases {
            let redacted = ConnectionString.redacted(conninfo)
            #expect(redacted == expected, "\(conninfo)")
            #expect(!redacted.contains("s3cr") && !redacted.contains("s3%63") && !redacted.contains("p2") && !redacted.contains("k3y"), "\(redacted)")
        }
        // What libpq cannot parse is not shown at all: its pieces could be anything.
        for broken in ["host=x password='s3cret", "postgresql://u:s3%zzcret@h/db", "password"] {
            #expect(ConnectionString.redacted(broken) == "(a connection string libpq cannot parse)", "\(broken)")
        }
    }

    /// The errors of a connection that could not be made name the target
    /// without its password, for the URL form too.
    @Test func connectionErrorsHideTheURLPassword() throws {
        let cluster = try TestServer.cluster()
        do {
            _ = try Connection("postgresql://postgres:s3cr%65t@/no_such_db?host=\(cluster.directory)&port=\(cluster.port)")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("no_such_db"), "\(error.message)")
            #expect(!error.message.contains("s3cr"), "\(error.message)")
        }
    }
}
