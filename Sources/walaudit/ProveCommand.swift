import ArgumentParser
import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient

/// `walaudit prove`: an offline inclusion proof of one event.
struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Write a proof that an event is in the signed audit trail (c2sp.org/tlog-proof).",
        discussion: """
            The proof holds the event's chain hash, its Merkle inclusion proof and the signed \
            tree checkpoint it leads to; anyone with the public key checks it offline, with \
            `walaudit verify --proof` or a stock tool (golang.org/x/mod/sumdb/tlog and note). \
            By default the newest checkpoint the store recorded is used; --checkpoint picks \
            the newest in a checkpoint directory or file instead. With --event, the event's \
            record goes to that file too, so the check also recomputes its hash from its values.

            Example:
              walaudit prove 4711 --out event-4711.tlog-proof --event event-4711.json
              walaudit verify --proof event-4711.tlog-proof --public-key signing.key.pub --event event-4711.json
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The event's seq.")
    var seq: Int64

    @Option(help: ArgumentHelp("Checkpoints written by `walaudit run --checkpoint-dir` (directory or file).", valueName: "path"))
    var checkpoint: String?

    @Option(help: ArgumentHelp("Where to write the proof (default: standard output).", valueName: "file"))
    var out: String?

    @Option(help: ArgumentHelp("Also write the event's record (a bundle line) to this file.", valueName: "file"))
    var event: String?

    func validate() throws {
        guard seq >= 1 else { throw ValidationError("a seq is 1 or more") }
    }

    func run() throws {
        let note = try failing("cannot read the checkpoint") { () throws -> String? in
            guard let checkpoint else { return nil }
            let file = CheckpointFile(checkpoint)
            guard let newest = try file.readAll().last(where: { $0.note != nil }) else {
                throw CLIError("no tree checkpoint in \(file.path): it was written before walaudit signed Merkle trees, or is empty")
            }
            return newest.note
        }
        let store = try connection.connectTarget()
        let proof = try failing("cannot prove seq \(seq)") { () throws -> (TlogProof, String) in
            try store.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? store.execute("ROLLBACK") }
            guard let signed = try note ?? store.execute("SELECT note FROM walaudit.checkpoint_log WHERE note IS NOT NULL ORDER BY seq DESC LIMIT 1").scalar else {
                throw CLIError("the store has recorded no tree checkpoint yet: the worker signs one every --checkpoint-interval when run with --checkpoint-dir and --signing-key")
            }
            let head = try TreeHead(text: SignedNote(parsing: signed).text)
            guard seq <= head.size else {
                throw CLIError("the newest tree checkpoint covers \(head.size) events, not seq \(seq) yet: ask again after the next checkpoint")
            }
            guard let row = try store.execute("SELECT encode(hash, 'hex') FROM walaudit.event_log WHERE seq = $1", [String(seq)]).rows.first,
                  let leaf = row[0].flatMap(Hex.decode) else { throw CLIError("no event \(seq) in the store") }
            var tree = MerkleStore(store)
            guard try tree.root(size: head.size) == head.root else {
                throw CLIError("the store's tree of \(head.size) events does not have the signed root: the store was altered since (run walaudit verify)")
            }
            let proof = TlogProof(index: seq - 1, hashes: try tree.inclusionProof(seq: seq, size: head.size), checkpoint: signed, leafData: leaf)
            return (proof, try EventExport.recordLine(store, seq: seq))
        }
        if let event {
            guard FileManager.default.createFile(atPath: event, contents: Data((proof.1 + "\n").utf8)) else { throw CLIError("cannot write \(event)") }
        }
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: Data(proof.0.serialized.utf8)) else { throw CLIError("cannot write \(out)") }
        } else {
            print(proof.0.serialized, terminator: "")
        }
    }
}
