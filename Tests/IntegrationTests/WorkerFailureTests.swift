import AuditStore
import Capture
import Decoding
import Foundation
@testable import PostgresClient
import Testing
import TestSupport
@testable import Worker

/// Every error is decided passing or fatal where it is made; the worker
/// retries only the passing ones and stops on anything else with the fix.
@Suite(.tags(.drill)) struct WorkerFailureTests {
    @Test func onlyErrorsMarkedPassingAreRetried() {
        #expect(isTransient(PostgresError(message: "server closed the connection unexpectedly", connectionLost: true)))
        for state in ["08006", "40001", "40P01", "53100", "53300", "57P01", "57P02", "57P03", "55P03", "58030"] {
            #expect(isTransient(PostgresError(sqlState: state, message: "x")), "\(state)")
        }
        for state in ["42P01", "42501", "22P02", "XX000", "55006", "57P04", "0A000"] {
            #expect(!isTransient(PostgresError(sqlState: state, message: "x")), "\(state)")
        }
        // Client-side errors without a SQLSTATE, and every other type, are fatal.
        #expect(!isTransient(PostgresError(message: "unexpected IDENTIFY_SYSTEM reply")))
        #expect(!isTransient(CaptureError("two-phase decoding output at 0/16B3748")))
        #expect(!isTransient(StoreStateError("no mask key")))
        #expect(!isTransient(CancellationError()))
        #expect(!isTransient(BinaryCopyError("truncated row")))
    }

    @Test func connectionFailuresAreRetriedOnlyWhenTheServerMayComeBack() {
        let refused = [
            #"connection to server at "db1" (10.0.0.1), port 5432 failed: fe_sendauth: no password supplied"#,
            #"connection to server at "db1" (10.0.0.1), port 5432 failed: server does not support SSL, but SSL was required"#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: FATAL:  password authentication failed for user "w""#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: FATAL:  no pg_hba.conf entry for host "[local]""#,
        ]
        let passing = [
            #"connection to server at "db1" (10.0.0.1), port 5432 failed: Connection refused"#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: No such file or directory"#,
            #"connection to server at "db1" (10.0.0.1), port 5432 failed: timeout expired"#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: FATAL:  the database system is starting up"#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: FATAL:  database "s" is not currently accepting connections"#,
            #"connection to server on socket "/tmp/.s.PGSQL.5432" failed: FATAL:  sorry, too many clients already"#,
        ]
        for message in refused { #expect(Connection.refusedForGood(message), "\(message)") }
        for message in passing { #expect(!Connection.refusedForGood(message), "\(message)") }
        #expect(!PostgresError(sqlState: "53400", message: "configuration limit exceeded").isTransient)
    }

    @Test func aServerThatRefusesTheLoginIsFatalOneThatIsDownIsNot() throws {
        let cluster = try TestServer.cluster()
        do {
            _ = try Connection(cluster.conninfo(database: "walaudit_no_such_database"))
            Issue.record("connected to a database that does not exist")
        } catch {
            #expect(!error.isTransient, "\(error)")
        }
        do {
            _ = try Connection("host=/nonexistent-socket-dir port=1 connect_timeout=2")
            Issue.record("connected to nothing")
        } catch {
            #expect(error.isTransient, "\(error)")
        }
    }

    /// Every connection gets TCP keepalives and a user timeout, so a dead
    /// network ends a hung query; the user's conninfo still decides.
    @Test func connectionsNoticeADeadNetworkUnlessTheConninfoSaysOtherwise() throws {
        let cluster = try TestServer.cluster()
        let plain = try Connection(cluster.conninfo())
        #expect(plain.setting("keepalives_idle") == "30")
        #expect(plain.setting("tcp_user_timeout") == "60000")
        let chosen = try Connection(cluster.conninfo() + " keepalives_idle=5 tcp_user_timeout=0")
        #expect(chosen.setting("keepalives_idle") == "5")
        #expect(chosen.setting("tcp_user_timeout") == "0")
    }

    /// libpq's parse error may quote the piece it could not read: a
    /// password must never reach an error that way.
    @Test func anUnparsableConninfoIsNeverEchoed() {
        for conninfo in ["host=x password='s3cret", "postgresql://u:s3cret%zz@host/db"] {
            do {
                _ = try Connection(conninfo)
                Issue.record("connected with \(conninfo)")
            } catch {
                #expect(!error.description.contains("s3cret"), "\(error)")
                #expect(!error.isTransient, "\(error)")
            }
        }
    }

    /// A slot created with two_phase would hand over prepared transactions
    /// before they commit: the worker refuses it at once, with the fix.
    @Test func aTwoPhaseSlotIsFatal() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("SELECT pg_drop_replication_slot($1)", [harness.slot])
        try connection.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding', false, true)", [harness.slot])
        try expectFatal(harness, saying: "was created with two_phase")
    }

    /// A mask key that is not what setup made would mask values differently
    /// from before: fatal, where it used to become an empty key silently.
    @Test func aMalformedMaskKeyIsFatal() throws {
        let harness = try WalauditHarness.make()
        try harness.storeConnection().execute("UPDATE walaudit.store_secrets SET value = '\\x0102' WHERE name = 'mask_key'")
        try expectFatal(harness, saying: "mask key")
    }

    /// A server error that does not pass by itself (here: walaudit's own
    /// table is gone) stops the worker with the fix instead of a retry loop.
    @Test func aMissingStoreTableIsFatalWithTheFix() throws {
        let harness = try WalauditHarness.make()
        try harness.storeConnection().execute("ALTER TABLE walaudit.capture_config RENAME TO capture_config_gone")
        try expectFatal(harness, saying: "run `walaudit setup`")
    }

    /// `walaudit run` stops by itself with status 2 and `message`, without a retry.
    private func expectFatal(_ harness: WalauditHarness, saying message: String) throws {
        let worker = try harness.startWorker()
        #expect(worker.waitForExit() == 2)
        #expect(worker.log.contains(message), "\(worker.log)")
        #expect(!worker.log.contains("retrying"), "\(worker.log)")
    }
}
