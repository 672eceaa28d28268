import Foundation
import Logging
import PostgresClient

/// A PostgreSQL cluster that lives in a temporary directory for as long as
/// the process that started it: tests and `walaudit demo` use one.
///
/// It listens on a Unix socket in its directory and on 127.0.0.1 at a free
/// port, with `wal_level=logical` and trust authentication. PostgreSQL
/// refuses to run as root, so when the process is root the server runs as
/// the `postgres` system user (`runuser`). A watchdog process holds the read
/// end of a pipe this process keeps open; when this process exits for any
/// reason (a failed test, a crash, SIGKILL) the pipe closes and the watchdog
/// stops the server and removes the directory.
public final class ThrowawayCluster: Sendable {
    /// How `stop` shuts the server down (`pg_ctl stop -m`).
    public enum ShutdownMode: String, Sendable {
        case smart, fast, immediate
    }

    /// The temporary directory holding data, socket and logs.
    public let directory: String
    public let dataDirectory: String
    /// The server log, worth reading when a test fails.
    public let logFile: String
    /// The TCP port on 127.0.0.1 (the Unix socket uses the same number).
    public let port: Int
    /// Where `initdb`, `pg_ctl`, `pg_recvlogical` and `pgbench` are.
    public let binDirectory: String
    private let serverUser: ServerUser
    private let watchdog: Watchdog
    private let logger: Logger

    /// The superuser `initdb` created.
    public static let superuser = "postgres"

    /// Creates, configures and starts a new cluster.
    /// - Parameter fsync: durability; off by default since a throwaway
    ///   cluster never survives a machine crash anyway. Benchmarks turn it on.
    /// - Parameter settings: extra `postgresql.conf` lines (name → value as written).
    public init(fsync: Bool = false, settings: [String: String] = [:], logger: Logger = Logger(label: "walaudit.cluster")) throws {
        self.logger = logger
        binDirectory = try Self.locateServerBinaries()
        serverUser = try ServerUser.forCurrentProcess()
        directory = try Self.makeDirectory(ownedBy: serverUser)
        dataDirectory = directory + "/data"
        logFile = directory + "/server.log"
        port = try Self.freePort()
        // From here on the watchdog removes the directory whatever happens.
        watchdog = try Watchdog(cleaning: directory, dataDirectory: dataDirectory,
                                pgCtl: binDirectory + "/pg_ctl", as: serverUser)
        do {
            try serverUser.run([binDirectory + "/initdb", "-D", dataDirectory, "-U", Self.superuser,
                                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                               log: directory + "/initdb.log")
            try appendSettings(fsync: fsync, extra: settings)
            try start()
        } catch {
            shutdown()
            throw error
        }
        logger.info("started throwaway PostgreSQL", metadata: ["directory": "\(directory)", "port": "\(port)"])
    }

    /// libpq conninfo for `database` over the Unix socket.
    public func conninfo(database: String = "postgres", user: String = superuser) -> String {
        "host=\(directory) port=\(port) dbname=\(database) user=\(user)"
    }

    /// libpq conninfo for `database` over TCP on 127.0.0.1, where the server
    /// sees a client address and port.
    public func tcpConninfo(database: String = "postgres", user: String = superuser) -> String {
        "host=127.0.0.1 port=\(port) dbname=\(database) user=\(user)"
    }

    /// Creates a database with a fresh unique name and returns the name.
    public func createDatabase(prefix: String = "db") throws -> String {
        let name = prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let connection = try Connection(conninfo())
        try connection.execute("CREATE DATABASE " + SQLText.identifier(name))
        return name
    }

    /// Starts the server (after `stop`) and waits until it accepts connections.
    public func start() throws {
        try serverUser.run([binDirectory + "/pg_ctl", "-D", dataDirectory, "-l", logFile, "-w", "-t", "120", "start"],
                           log: directory + "/pg_ctl.log")
    }

    /// Stops the server and waits until it is down; the data stays.
    public func stop(mode: ShutdownMode = .fast) throws {
        try serverUser.run([binDirectory + "/pg_ctl", "-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", "120", "stop"],
                           log: directory + "/pg_ctl.log")
    }

    /// Stops the server and removes the directory now, waiting for both;
    /// safe to call more than once. Without it, this happens at process exit.
    public func shutdown() {
        watchdog.finish()
        logger.debug("removed throwaway PostgreSQL", metadata: ["directory": "\(directory)"])
    }

    /// Tests create a slot per database and never need to drop it, hence
    /// room for 200 slots.
    private func appendSettings(fsync: Bool, extra: [String: String]) throws {
        let settings = """

            # walaudit throwaway cluster
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)'
            wal_level = logical
            max_replication_slots = 200
            max_wal_senders = 50
            max_prepared_transactions = 10
            max_connections = 100
            shared_buffers = 128MB
            fsync = \(fsync ? "on" : "off")
            full_page_writes = \(fsync ? "on" : "off")
            log_min_messages = warning
            log_timezone = 'UTC'

            """ + extra.sorted(by: { $0.key < $1.key }).map { "\($0.key) = \($0.value)\n" }.joined()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private static func locateServerBinaries() throws -> String {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["WALAUDIT_PG_BIN"] { candidates.append(configured) }
        candidates += ["17", "16", "15"].map { "/usr/lib/postgresql/\($0)/bin" }
        let fileManager = FileManager.default
        for directory in candidates
        where ["initdb", "pg_ctl", "postgres"].allSatisfy({ fileManager.isExecutableFile(atPath: directory + "/" + $0) }) {
            return directory
        }
        throw ClusterError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in \(candidates.joined(separator: ", ")). "
                + "Install them with: apt-get install -y postgresql-15 postgresql-contrib "
                + "(or set WALAUDIT_PG_BIN to their directory)")
    }

    private static func makeDirectory(ownedBy user: ServerUser) throws -> String {
        var template = Array("/tmp/walaudit-pg-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw ClusterError("could not create a temporary directory: \(String(cString: strerror(errno)))")
        }
        let path = String(cString: created)
        try user.takeOwnership(of: path)
        return path
    }

    /// A TCP port nothing listens on right now (bound to port 0, then released).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic -> Bool in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else { throw ClusterError("could not find a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A failure to create, start or stop a throwaway cluster, with what to do.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) { self.description = description }
}
