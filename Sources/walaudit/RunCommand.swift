import ArgumentParser
import Foundation
import Logging
import Synchronization
import Ledger
import Service
import Worker

/// Set by SIGINT/SIGTERM; the worker polls it between messages.
let stopRequested = Atomic<Bool>(false)

/// `walaudit run`: the capture worker.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the capture worker: stream the slot into the chained audit store.",
        discussion: """
            SIGINT or SIGTERM stops it cleanly: the current batch is committed and \
            confirmed, an unfinished transaction is left in the slot for the next run. \
            Lost connections (source or store) are retried with backoff; errors that a \
            retry cannot fix stop it with exit status 2 and the fix.

            Example:
              walaudit run --checkpoint-dir /var/lib/walaudit/checkpoints \\
                --signing-key /etc/walaudit/signing.key
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("MiB of one transaction's changes held in memory before the rest spills to a temporary file.",
                               valueName: "MiB"))
    var transactionMemory: Int = 8

    @Option(help: ArgumentHelp("Directory (or file) outside the database where signed checkpoints are appended.",
                               discussion: """
                                   Keep it where the database's superusers cannot write (another host, a WORM mount, \
                                   another Unix user): it is what exposes a rewritten, cut or restored chain.
                                   """,
                               valueName: "path"))
    var checkpointDir: String?

    @Option(help: ArgumentHelp("Ed25519 private key from `walaudit keygen` that signs the checkpoints.",
                               discussion: "Readable by the worker alone; auditors get the .pub file keygen wrote next to it.",
                               valueName: "file"))
    var signingKey: String?

    @Option(help: ArgumentHelp("The origin line of the tree checkpoints (c2sp.org/tlog-checkpoint) and the name of their note key.",
                               discussion: "Default: walaudit/<source system identifier>/<slot>. Keep it once auditors have it: it names this trail. No spaces or '+'.",
                               valueName: "name"))
    var origin: String?

    @Option(help: ArgumentHelp("Rows per chunk when recording a table's existing rows (its baseline); two chunks at most are held in memory.",
                               valueName: "rows"))
    var baselineChunkRows: Int = 10_000

    @Option(help: ArgumentHelp("Sign a checkpoint after this many new events.", valueName: "n"))
    var checkpointEvery: Int64 = 10_000

    @Option(help: ArgumentHelp("…or after this many seconds, also when idle (a heartbeat).", valueName: "seconds"))
    var checkpointInterval: Double = 60

    @Option(help: ArgumentHelp("Look this often (seconds) for changes escaping capture: a captured table turned UNLOGGED, or a partition added, while walaudit's event triggers were off.",
                               discussion: "Each one found is recorded as a GAP event and a warning of `walaudit status`.",
                               valueName: "seconds"))
    var coverageCheckInterval: Double = 10

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9187 (off by default).",
                               discussion: "[::1]:9187 for IPv6, :9187 for every interface; port 0 picks a free one (the log says which).",
                               valueName: "host:port"))
    var metricsAddress: String?

    @Option(help: ArgumentHelp("Log lines on standard error: text (for people) or json (one object per line: time, level, message, metadata).",
                               valueName: "format"))
    var logFormat: LogFormat = .text

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    func validate() throws {
        guard transactionMemory >= 0 else { throw ValidationError("--transaction-memory must be 0 or more") }
        guard (checkpointDir == nil) == (signingKey == nil) else {
            throw ValidationError("--checkpoint-dir and --signing-key go together")
        }
        guard checkpointEvery > 0, checkpointInterval > 0 else {
            throw ValidationError("--checkpoint-every and --checkpoint-interval must be positive")
        }
        guard coverageCheckInterval > 0 else { throw ValidationError("--coverage-check-interval must be positive") }
        if origin != nil && checkpointDir == nil {
            throw ValidationError("--origin names the signed tree checkpoints: it needs --checkpoint-dir and --signing-key")
        }
        if let origin, origin.isEmpty || origin.contains(where: { $0.isWhitespace || $0 == "+" }) {
            throw ValidationError("--origin must be non-empty, without spaces or '+'")
        }
        if let metricsAddress {
            do {
                _ = try MetricsEndpoint.split(metricsAddress)
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        switch logFormat {
        case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        case .json: LoggingSystem.bootstrap { _ in JSONLogHandler() }
        }
        let logger = Logger(label: "walaudit.worker")
        do {
            try runWorker(logger: logger)
        } catch where logFormat == .json {
            // The failure as one more JSON line, not the plain line `Walaudit.main` would print.
            let failure = CLIError(error)
            logger.critical("\(failure)")
            throw ExitCode(failure.kind.exitCode)
        }
    }

    private func runWorker(logger: Logger) throws {
        try connection.checkParsable()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in stopRequested.store(true, ordering: .relaxed) }
        }
        var configuration = WorkerConfiguration(source: connection.sourceConninfo, target: connection.targetConninfo,
                                                slot: connection.slot)
        configuration.memoryLimit = transactionMemory << 20
        configuration.baselineChunkRows = max(1, baselineChunkRows)
        configuration.coverageCheckInterval = coverageCheckInterval
        if let checkpointDir, let signingKey {
            configuration.signingKey = try failing("cannot read the signing key") { try KeyFile.read(signingKey, label: "private") }
            configuration.checkpointFile = CheckpointFile(checkpointDir)
            configuration.checkpointEvents = checkpointEvery
            configuration.checkpointInterval = checkpointInterval
            configuration.origin = origin
        }
        let metrics = WorkerMetrics(version: walauditVersion, checkpointInterval: configuration.checkpointInterval)
        if let metricsAddress {
            let endpoint = try failing("cannot serve metrics") { try MetricsEndpoint(address: metricsAddress) { metrics.exposition() } }
            logger.info("serving metrics", metadata: ["url": "http://\(endpoint.boundAddress)/metrics"])
        }
        var notifier: ServiceNotifier?
        do {
            notifier = try ServiceNotifier(environment: ProcessInfo.processInfo.environment)
        } catch {
            logger.error("systemd will not hear from the worker (Type=notify waits for READY=1 in vain)", metadata: ["error": "\(error)"])
        }
        let worker = CaptureWorker(configuration, logger: logger, metrics: metrics, notifier: notifier,
                                   shouldStop: { stopRequested.load(ordering: .relaxed) })
        try failing("the worker stopped") { try worker.run() }
    }
}
