import ArgumentParser
import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient

/// `walaudit verify`: recheck the whole chain in the audit store.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recheck every event of the audit trail against the hash chain.",
        discussion: """
            Recomputes each payload digest and event hash (docs/chain-format.md) in seq order \
            and checks that no seq is missing, every link holds and every purged payload was \
            purged by an apply_retention run the chain's POLICY events allowed. With --checkpoints and \
            --public-key the chain must also end in what the worker signed, so a cut tail or a \
            history rewritten by a superuser is caught too. Exit status: 0 intact, 1 tampered \
            (the first bad seq and what is wrong are printed), 2 error.

            Examples:
              walaudit verify --checkpoints /var/lib/walaudit/checkpoints \\
                --public-key signing.key.pub
              walaudit verify --bundle october.jsonl --public-key signing.key.pub
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Signed checkpoints written by `walaudit run --checkpoint-dir` (directory or file).",
                               valueName: "path"))
    var checkpoints: String?

    @Option(help: ArgumentHelp("The public key from `walaudit keygen` (FILE.pub).", valueName: "file"))
    var publicKey: String?

    @Option(help: ArgumentHelp("Verify an export bundle (`walaudit export`, jsonl) offline, with --public-key; no database.",
                               valueName: "file"))
    var bundle: String?

    @Option(help: ArgumentHelp("Verify an inclusion proof (`walaudit prove`, c2sp.org/tlog-proof) offline, with --public-key; no database.",
                               valueName: "file"))
    var proof: String?

    @Option(help: ArgumentHelp("With --proof: the event's record (`walaudit prove --event`); its hash is recomputed from its values and must be the proven one.",
                               valueName: "file"))
    var event: String?

    @Option(help: ArgumentHelp("Connections reading seq ranges in parallel (default: the number of CPU cores, at most 8).",
                               valueName: "n"))
    var jobs: Int = min(ProcessInfo.processInfo.activeProcessorCount, 8)

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        if proof != nil {
            guard publicKey != nil, checkpoints == nil, bundle == nil else { throw ValidationError("--proof needs --public-key (and neither --checkpoints nor --bundle)") }
            return
        }
        guard event == nil else { throw ValidationError("--event goes with --proof") }
        if bundle != nil {
            guard publicKey != nil, checkpoints == nil else { throw ValidationError("--bundle needs --public-key (and no --checkpoints: the bundle carries its own)") }
            return
        }
        guard (checkpoints == nil) == (publicKey == nil) else { throw ValidationError("--checkpoints and --public-key go together") }
    }

    func run() throws {
        if let proof, let publicKey { return try verifyProof(proof, publicKey: publicKey) }
        if let bundle, let publicKey { return try verifyBundle(bundle, publicKey: publicKey) }
        var anchors: CheckpointAnchors?
        if let checkpoints, let publicKey {
            anchors = try failing("cannot read the checkpoints") { try CheckpointAnchors.read(checkpoints: checkpoints, publicKeyFile: publicKey) }
            if anchors!.checkpoints.isEmpty { throw CLIError("no checkpoints in \(CheckpointFile(checkpoints).path)") }
        }
        let store = try connection.connectTarget()
        let progress = isatty(STDERR_FILENO) == 1
        var shown: (@Sendable (Int) -> Void)?
        if progress { shown = { count in writeStandardError("\rchecked \(count) events…") } }
        let connection = self.connection
        let report: VerificationReport = try failing("cannot read the audit store") {
            try StoreVerification.verify(store, jobs: jobs, connect: { try connection.connectTarget() }, anchors: anchors, progress: shown)
        }
        if progress && report.checked >= 50_000 { writeStandardError("\r") }
        if json {
            print(JSONValue.object([
                .init("ok", .bool(report.ok)), .init("checked", .number(String(report.checked))),
                .init("purged", .number(String(report.purged))),
                .init("first_bad_seq", report.firstBadSeq.map { .number(String($0)) } ?? .null),
                .init("problem", report.problem.map(JSONValue.string) ?? .null),
                .init("gaps", .array(report.gaps.map { .number(String($0)) })),
            ]).serialized)
        } else if report.ok {
            print("intact: \(report.checked) events checked (\(report.purged) with purged payloads)")
            if !report.gaps.isEmpty {
                print("the trail records \(report.gaps.count) gap(s), changes it could not capture: GAP at seq \(report.gaps.map(String.init).joined(separator: ", ")) (see walaudit.events where operation = 'GAP')")
            }
        } else {
            print("TAMPERED at seq \(report.firstBadSeq!): \(report.problem!) (\(report.checked) events before it are intact)")
        }
        if !report.ok { throw CLIError.notIntact }
    }

    /// `--proof`: checks an inclusion proof, and with `--event` the event's record, offline.
    private func verifyProof(_ path: String, publicKey: String) throws {
        let key = try failing("cannot read the public key") { try KeyFile.read(publicKey, label: "public") }
        let proof = try failing("cannot read the proof") { try TlogProof(parsing: String(contentsOfFile: path, encoding: .utf8)) }
        var problem: String?
        var head: TreeHead?
        do {
            head = try proof.verify(publicKey: key)
            if let event {
                let record = try failing("cannot read the event") { try String(contentsOfFile: event, encoding: .utf8) }
                switch BundleVerifier.chainHash(ofRecord: record.trimmingCharacters(in: .newlines)) {
                case .failure(let error): problem = error.description
                case .success(let computed) where computed.seq != proof.index + 1:
                    problem = "the event record is seq \(computed.seq), the proof is for seq \(proof.index + 1)"
                case .success(let computed) where computed.hash != proof.leafData:
                    problem = "the event record's hash is not the proven one: the event was altered"
                case .success: break
                }
            }
        } catch {
            problem = "\(error)"
        }
        if json {
            print(JSONValue.object([
                .init("ok", .bool(problem == nil)), .init("seq", .number(String(proof.index + 1))),
                .init("tree_size", head.map { .number(String($0.size)) } ?? .null), .init("origin", head.map { .string($0.origin) } ?? .null),
                .init("problem", problem.map(JSONValue.string) ?? .null),
            ]).serialized)
        } else if let head, problem == nil {
            print("included: seq \(proof.index + 1) is in the signed tree of \(head.size) events of \(head.origin)" + (event == nil ? "" : ", with the values in \(event!)"))
        } else {
            print("NOT PROVEN: \(problem ?? "?")")
        }
        if problem != nil { throw CLIError.notIntact }
    }

    /// `--bundle`: checks an export file line by line, offline.
    private func verifyBundle(_ path: String, publicKey: String) throws {
        var verifier = BundleVerifier(publicKey: try failing("cannot read the public key") { try KeyFile.read(publicKey, label: "public") })
        guard let file = fopen(path, "r") else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        while true {
            let length = getline(&buffer, &capacity, file)
            if length < 0 { break }
            var line = String(cString: buffer!)
            if line.hasSuffix("\n") { line.removeLast() }
            guard verifier.check(line: line) else { break }
        }
        verifier.finish()
        let report = verifier.report
        if json {
            print(JSONValue.object([
                .init("ok", .bool(report.ok)), .init("events", .number(String(report.events))),
                .init("links", .number(String(report.links))), .init("purged", .number(String(report.purged))),
                .init("checkpoint_seq", report.checkpointSeq.map { .number(String($0)) } ?? .null),
                .init("tree_origin", report.treeOrigin.map(JSONValue.string) ?? .null),
                .init("first_bad_seq", report.badSeq.map { .number(String($0)) } ?? .null),
                .init("line", report.badLine.map { .number(String($0)) } ?? .null),
                .init("problem", report.problem.map(JSONValue.string) ?? .null),
            ]).serialized)
        } else if report.ok {
            print("intact: \(report.events) exported events (\(report.purged) purged) and \(report.links) links, up to the signed checkpoint at seq \(report.checkpointSeq ?? 0)"
                  + (report.treeOrigin.map { " and its signed tree root (\($0))" } ?? ""))
        } else {
            print("TAMPERED on line \(report.badLine ?? 0)\(report.badSeq.map { " (seq \($0))" } ?? ""): \(report.problem!)")
        }
        if !report.ok { throw CLIError.notIntact }
    }
}
