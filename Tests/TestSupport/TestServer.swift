import EmbeddedPostgres
import Testing
import Foundation
import PostgresClient

/// The one throwaway cluster of this test process, started on first use and
/// removed when the process exits (see `ThrowawayCluster`).
public enum TestServer {
    private static let started: Result<ThrowawayCluster, any Error> = Result { try ThrowawayCluster() }

    /// The cluster, or the reason it could not start (e.g. which package to install).
    public static func cluster() throws -> ThrowawayCluster {
        try started.get()
    }

    /// A new, empty database for one test, and a superuser connection to it.
    public static func freshDatabase(on cluster: ThrowawayCluster? = nil) throws -> TestDatabase {
        let cluster = try cluster ?? self.cluster()
        let name = try cluster.createDatabase(prefix: "test")
        return TestDatabase(cluster: cluster, name: name, connection: try Connection(cluster.conninfo(database: name)))
    }
}

/// A database created for one test.
public struct TestDatabase {
    public let cluster: ThrowawayCluster
    public let name: String
    /// A superuser session on the database.
    public let connection: Connection

    /// conninfo for another session on this database.
    public var conninfo: String { cluster.conninfo(database: name) }
}

/// The `walaudit` executable that `swift build` put next to the test bundle.
public enum WalauditBinary {
    public static var path: String {
        if let configured = ProcessInfo.processInfo.environment["WALAUDIT_BINARY"] { return configured }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("walaudit").path
    }

    /// Runs `walaudit` with `arguments` and `input` on stdin; returns exit
    /// status, stdout and stderr.
    public static func run(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let (status, stdout, stderr) = try ChildProcess.run([path] + arguments, input: input)
        return (status, stdout, String(decoding: stderr, as: UTF8.self))
    }
}

extension Tag {
    /// Fault and abuse drills (docs/reliability.md): crashes, outages,
    /// hostile input. They run with the rest; select them by suite name
    /// (`swift test --filter 'CrashTests|RecoveryTests|SlotLossTests|FaultDrillTests'`).
    @Tag public static var drill: Self
}
