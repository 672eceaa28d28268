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

    @Test func connectionStringsAreRedacted() {
        #expect(ConnectionString.redacted("host=x password=s3cret user=u") == "host=x password=*** user=u")
        #expect(ConnectionString.redacted("host=x password = 'a b\\' c' user=u") == "host=x password=*** user=u")
        #expect(ConnectionString.redacted("postgresql://u:s3cret@h:5432/db?sslmode=off&password=p2")
                    == "postgresql://u:***@h:5432/db?sslmode=off&password=***")
    }
}
