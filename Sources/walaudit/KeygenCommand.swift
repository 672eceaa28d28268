import ArgumentParser
import Foundation
import Ledger

/// `walaudit keygen`: the Ed25519 key pair for signed checkpoints.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signing checkpoints.",
        discussion: """
            Writes the private key to FILE (mode 0600; give it to `walaudit run --signing-key`) \
            and the public key to FILE.pub (give it to auditors for `walaudit verify --public-key`). \
            Keep the private key away from the database's superusers: whoever holds it can sign \
            a rewritten history.

            Example: walaudit keygen --out /etc/walaudit/signing.key
            """
    )

    @Option(help: ArgumentHelp("Where to write the private key; the public key goes to FILE.pub.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp("Also write FILE.vkey, the note verifier key stock tools take (golang.org/x/mod/sumdb/note), for the origin `walaudit run --origin` will sign under.",
                               discussion: "The worker also writes it to its checkpoint directory (file verifier-key) for its origin.",
                               valueName: "origin"))
    var origin: String?

    func run() throws {
        let verifierKey: String? = try failing("keygen failed") {
            let (privateKey, publicKey) = try Ed25519.generateKeyPair()
            let verifierKey = try origin.map { try NoteKey(name: $0, publicKey: publicKey).verifierKey }
            try KeyFile.write(privateKey, label: "private", to: out, secret: true)
            try KeyFile.write(publicKey, label: "public", to: out + ".pub", secret: false)
            if let verifierKey {
                guard FileManager.default.createFile(atPath: out + ".vkey", contents: Data((verifierKey + "\n").utf8)) else {
                    throw CLIError("cannot write \(out).vkey")
                }
            }
            return verifierKey
        }
        print("private key: \(out)\npublic key:  \(out).pub" + (verifierKey == nil ? "" : "\nnote verifier key: \(out).vkey"))
    }
}
