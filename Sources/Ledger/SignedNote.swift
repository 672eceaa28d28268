import Decoding
import Foundation

/// A C2SP signed note (c2sp.org/signed-note) signed with an Ed25519 key:
/// the text, an empty line, and one signature line per signer,
/// `— <key name> <base64(key ID ‖ signature)>`. The key ID is the first 4
/// bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key); the signature
/// covers the text. Stock tools (golang.org/x/mod/sumdb/note) verify it.
public struct NoteKey: Equatable, Sendable {
    public var name: String
    public var publicKey: [UInt8]

    /// `name` must be non-empty, with no whitespace and no "+".
    public init(name: String, publicKey: [UInt8]) throws(SigningError) {
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "+" }), publicKey.count == 32 else {
            throw SigningError("a note key name must be non-empty, without spaces or \"+\" (got \"\(name)\"), with a 32-byte Ed25519 key")
        }
        (self.name, self.publicKey) = (name, publicKey)
    }

    /// Signature type 0x01: Ed25519.
    static let ed25519: UInt8 = 0x01

    public var keyID: [UInt8] { Array(Crypto.sha256(Array(name.utf8) + [0x0A, Self.ed25519] + publicKey).prefix(4)) }

    /// The verifier key an auditor gives a stock verifier:
    /// `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    public var verifierKey: String {
        name + "+" + Hex.encode(keyID) + "+" + Data([Self.ed25519] + publicKey).base64EncodedString()
    }

    /// Parses a verifier key (`verifierKey`'s form).
    public init(verifierKey text: String) throws(SigningError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", omittingEmptySubsequences: false)
        guard parts.count == 3, let id = Hex.decode(String(parts[1])), id.count == 4,
              let key = Data(base64Encoded: String(parts[2])).map(Array.init), key.count == 33, key[0] == Self.ed25519
        else { throw SigningError("not a note verifier key (<name>+<8 hex digits>+<base64 of 0x01 and the Ed25519 key>): \(text.prefix(80))") }
        try self.init(name: String(parts[0]), publicKey: Array(key.dropFirst()))
        guard keyID == id else { throw SigningError("the verifier key's ID \(parts[1]) does not match its name and key") }
    }
}

/// A signed note: text and signatures.
public struct SignedNote: Sendable {
    /// The signed text; ends with a newline.
    public var text: String
    public var signatures: [(name: String, keyID: [UInt8], signature: [UInt8])]

    static let dash = "\u{2014} "

    /// Signs `text` (which must end with a newline) with `privateKey`, the seed of `key`.
    public static func sign(_ text: String, key: NoteKey, privateKey: [UInt8]) throws(SigningError) -> SignedNote {
        guard text.hasSuffix("\n") else { throw SigningError("a note's text must end with a newline") }
        let signature = try Ed25519.sign(Array(text.utf8), privateKey: privateKey)
        return SignedNote(text: text, signatures: [(key.name, key.keyID, signature)])
    }

    /// The note as written: text, empty line, signature lines.
    public var serialized: String {
        text + "\n" + signatures.map { Self.dash + $0.name + " " + Data($0.keyID + $0.signature).base64EncodedString() + "\n" }.joined()
    }

    /// Parses a note; its signatures are not checked here (`isSigned(by:)`).
    public init(parsing note: String) throws(SigningError) {
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw SigningError("not a signed note: no empty line before its signatures") }
        let text = String(note[..<split.lowerBound]) + "\n"
        var signatures: [(String, [UInt8], [UInt8])] = []
        for line in note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard line.hasPrefix(Self.dash) else { throw SigningError("not a signature line of a note: \(line.prefix(60))") }
            let fields = line.dropFirst(Self.dash.count).split(separator: " ")
            guard fields.count == 2, let blob = Data(base64Encoded: String(fields[1])).map(Array.init), blob.count == 68 else {
                throw SigningError("a note signature line is not `— <name> <base64 of key ID and 64-byte signature>`: \(line.prefix(60))")
            }
            signatures.append((String(fields[0]), Array(blob.prefix(4)), Array(blob.dropFirst(4))))
        }
        guard note.hasSuffix("\n"), !signatures.isEmpty else { throw SigningError("a signed note ends with its signature lines, each ending in a newline") }
        self.init(text: text, signatures: signatures)
    }

    init(text: String, signatures: [(name: String, keyID: [UInt8], signature: [UInt8])]) {
        (self.text, self.signatures) = (text, signatures)
    }

    /// Whether one of its signatures is `key`'s, over its text.
    public func isSigned(by key: NoteKey) -> Bool {
        signatures.contains { $0.name == key.name && $0.keyID == key.keyID && Ed25519.verify($0.signature, of: Array(text.utf8), publicKey: key.publicKey) }
    }
}

/// A C2SP tlog checkpoint (c2sp.org/tlog-checkpoint): the note text
/// `<origin>\n<tree size>\n<base64 root>\n`. walaudit adds no extension
/// lines: a checkpoint's time and its link to the previous one are in the
/// checkpoint file's line (`Checkpoint`), signed with the same key.
public struct TreeHead: Equatable, Sendable {
    public var origin: String
    public var size: Int64
    public var root: [UInt8]

    public init(origin: String, size: Int64, root: [UInt8]) {
        (self.origin, self.size, self.root) = (origin, size, root)
    }

    public var text: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" }

    public init(text: String) throws(SigningError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines.last == "", !lines[0].isEmpty, let size = Int64(lines[1]), size >= 0, String(size) == lines[1],
              let root = Data(base64Encoded: String(lines[2])).map(Array.init), root.count == 32
        else { throw SigningError("not a tlog checkpoint (origin, tree size, base64 root hash, each on its line): \(text.prefix(80))") }
        self.init(origin: String(lines[0]), size: size, root: root)
    }
}
