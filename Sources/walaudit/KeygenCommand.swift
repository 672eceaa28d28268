import ArgumentParser
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

    func run() throws {
        try failing("keygen failed") {
            let (privateKey, publicKey) = try Ed25519.generateKeyPair()
            try KeyFile.write(privateKey, label: "private", to: out, secret: true)
            try KeyFile.write(publicKey, label: "public", to: out + ".pub", secret: false)
        }
        print("private key: \(out)\npublic key:  \(out).pub")
    }
}
