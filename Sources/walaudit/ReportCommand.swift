import ArgumentParser
import AuditStore
import Decoding
import EvidenceReport
import Foundation
import Ledger
import PostgresClient
import Service

/// `walaudit report --html FILE`: the evidence report for auditors.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML evidence report: the verdict, activity, policies, DDL and gaps.",
        discussion: """
            Verifies the whole chain as `walaudit verify` does (against the signed checkpoints \
            when --checkpoints and --public-key are given), then reads the activity of the \
            selected events from the store, aggregated by the server, and writes one HTML file \
            with no script and nothing fetched from elsewhere: it can be opened anywhere, printed \
            or attached to a case. The verdict comes first. Exit status: 0 written and intact, \
            1 written and not intact (the verdict says where and why), 2 error.

            Examples:
              walaudit report --html evidence.html --checkpoints /var/lib/walaudit/checkpoints \\
                --public-key signing.key.pub
              walaudit report --html october.html --since 2026-10-01 --until 2026-11-01 --table public.orders
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Write the report to this file.", valueName: "file"))
    var html: String

    @Option(help: ArgumentHelp("Only events committed from then on (e.g. 2026-11-01 or 2026-11-01T12:00Z). Verification covers the whole chain regardless.", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Only events committed before then.", valueName: "time"))
    var until: String?

    @Option(help: ArgumentHelp("Only events of this table, as schema.table (names unquoted).", valueName: "table"))
    var table: String?

    @Option(help: ArgumentHelp("Signed checkpoints written by `walaudit run --checkpoint-dir` (directory or file).", valueName: "path"))
    var checkpoints: String?

    @Option(help: ArgumentHelp("The public key from `walaudit keygen` (FILE.pub).", valueName: "file"))
    var publicKey: String?

    @Option(help: ArgumentHelp("Connections verifying seq ranges in parallel (default: the number of CPU cores, at most 8).", valueName: "n"))
    var jobs: Int = min(ProcessInfo.processInfo.activeProcessorCount, 8)

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        guard (checkpoints == nil) == (publicKey == nil) else { throw ValidationError("--checkpoints and --public-key go together") }
    }

    func run() throws {
        var anchors: CheckpointAnchors?
        if let checkpoints, let publicKey {
            anchors = try failing("cannot read the checkpoints") { try CheckpointAnchors.read(checkpoints: checkpoints, publicKeyFile: publicKey) }
            if anchors!.checkpoints.isEmpty { throw CLIError("no checkpoints in \(CheckpointFile(checkpoints).path)") }
        }
        let store = try connection.connectTarget()
        let connection = self.connection
        let evidence = try Self.evidence(store, jobs: jobs, connect: { try connection.connectTarget() },
                                         anchors: anchors.map { ($0, checkpoints ?? "") },
                                         request: EvidenceReading.Request(since: since, until: until, table: table),
                                         command: Self.commandLine(CommandLine.arguments))
        try Self.write(evidence, to: html)
        print("wrote \(html): \(evidence.verdict.headline)")
        if !evidence.verdict.intact { throw CLIError.notIntact }
    }

    /// Verifies the whole chain of `store` (against `anchors`, the
    /// checkpoints and where they were read from, when given) and reads
    /// what the report shows: `walaudit report` and `walaudit demo`.
    static func evidence(_ store: Connection, jobs: Int, connect: () throws -> Connection, anchors: (CheckpointAnchors, path: String)?,
                         request: EvidenceReading.Request, command: String) throws(CLIError) -> Evidence {
        let started = Date()
        let report = try failing("cannot verify the audit store") {
            try StoreVerification.verify(store, jobs: jobs, connect: connect, anchors: anchors?.0)
        }
        let verified = Date()
        let verdict = Verdict(checked: report.checked, purged: report.purged, firstBadSeq: report.firstBadSeq, problem: report.problem,
                              gapSeqs: report.gaps, anchor: anchors.flatMap { anchor($0.0, path: $0.path) },
                              storedCheckpoint: nil, purgesRecordedByRetention: 0)
        let provenance = Provenance(command: command, database: describe(store), serverVersion: "", chainID: nil,
                                    walauditVersion: walauditVersion,
                                    generatedAt: PostgresTimestamp(microsecondsSinceEpoch: Int64(started.timeIntervalSince1970) * 1_000_000).iso8601
                                        .replacingOccurrences(of: ".000000Z", with: "Z"),
                                    verifySeconds: verified.timeIntervalSince(started), readSeconds: 0)
        var evidence = try failing("cannot read the audit store") {
            try EvidenceReading.read(store, request, verdict: verdict, provenance: provenance)
        }
        evidence.provenance.readSeconds = Date().timeIntervalSince(verified)
        return evidence
    }

    /// Writes the page to `path` (replaced whole: written aside, then renamed).
    static func write(_ evidence: Evidence, to path: String) throws(CLIError) {
        try failing("cannot write \(path)") { try Data(EvidencePage.render(evidence).utf8).write(to: URL(fileURLWithPath: path), options: .atomic) }
    }

    /// What the report says about the checkpoints the chain was held against: the newest.
    static func anchor(_ anchors: CheckpointAnchors, path: String) -> CheckpointAnchor? {
        guard let newest = anchors.checkpoints.max(by: { $0.seq < $1.seq }) else { return nil }
        let origin = (try? newest.treeHead(publicKey: anchors.publicKey))??.origin
        let keyID = origin.flatMap { try? NoteKey(name: $0, publicKey: anchors.publicKey) }.map { Hex.encode($0.keyID) }
        return CheckpointAnchor(path: path, count: anchors.checkpoints.count, seq: newest.seq, time: newest.time.iso8601,
                                publicKeySHA256: Hex.encode(Crypto.sha256(anchors.publicKey)), noteOrigin: origin, noteKeyID: keyID)
    }

    /// The store's connection as libpq made it: host, port, database, user; never a password.
    static func describe(_ store: Connection) -> String {
        ["host", "port", "dbname", "user"].compactMap { key in store.setting(key).map { "\(key)=\($0)" } }.joined(separator: " ")
    }

    /// The command line, each argument shell-quoted, with the connection
    /// strings given to --source and --target shown without passwords.
    static func commandLine(_ arguments: [String]) -> String {
        var shown: [String] = ["walaudit"]
        var redactNext = false
        for argument in arguments.dropFirst() {
            if redactNext {
                shown.append(shellQuoted(ConnectionString.redacted(argument)))
                redactNext = false
            } else if argument == "--source" || argument == "--target" {
                shown.append(argument)
                redactNext = true
            } else if let equals = argument.firstIndex(of: "="), ["--source", "--target"].contains(String(argument[..<equals])) {
                shown.append(String(argument[..<equals]) + "=" + shellQuoted(ConnectionString.redacted(String(argument[argument.index(after: equals)...]))))
            } else {
                shown.append(shellQuoted(argument))
            }
        }
        return shown.joined(separator: " ")
    }

    static func shellQuoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./=:,@+%".unicodeScalars.contains($0) }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
