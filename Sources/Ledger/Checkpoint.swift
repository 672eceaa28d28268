import Decoding
import Foundation

/// A signed statement "chain `chainID` had `seq` events ending in `head` at
/// `time`", linked to the previous checkpoint. Kept outside the database
/// (an append-only file), it exposes what the chain alone cannot: a cut
/// tail, a restored older copy, or a superuser who recomputed every hash.
public struct Checkpoint: Equatable, Sendable {
    public var chainID: String
    public var seq: Int64
    public var head: [UInt8]
    public var time: PostgresTimestamp
    /// `hash` of the previous checkpoint; nil for the first.
    public var previous: [UInt8]?
    public var signature: [UInt8] = []
    /// The same moment as a C2SP tlog checkpoint (a signed note of origin,
    /// tree size = `seq`, Merkle root), signed with the same key, for
    /// stock verifiers; nil in files written before the tree existed.
    public var note: String?

    public init(chainID: String, seq: Int64, head: [UInt8], time: PostgresTimestamp, previous: [UInt8]?) {
        self.chainID = chainID
        self.seq = seq
        self.head = head
        self.time = time
        self.previous = previous
    }

    /// The signed bytes (docs/chain-format.md, "Checkpoints").
    public var signedBytes: [UInt8] {
        var e = CanonicalEncoder()
        e.raw(Array("walaudit/checkpoint/v1".utf8) + [0])
        e.text(chainID)
        e.integer(seq)
        e.data(head)
        e.timestamp(time)
        e.data(previous)
        return e.bytes
    }

    /// SHA-256 of the signed bytes: what the next checkpoint links to.
    public var hash: [UInt8] { Crypto.sha256(signedBytes) }

    public mutating func sign(with privateKey: [UInt8]) throws(SigningError) {
        signature = try Ed25519.sign(signedBytes, privateKey: privateKey)
    }

    public func isSigned(by publicKey: [UInt8]) -> Bool {
        Ed25519.verify(signature, of: signedBytes, publicKey: publicKey)
    }

    /// One line of the checkpoint file.
    public var jsonLine: String {
        JSONValue.object([
            .init("v", .number("1")), .init("chain_id", .string(chainID)), .init("seq", .number(String(seq))),
            .init("head", .string(Hex.encode(head))), .init("time_us", .number(String(time.microsecondsSinceEpoch))),
            .init("time", .string(time.iso8601)), .init("previous", previous.map { .string(Hex.encode($0)) } ?? .null),
            .init("signature", .string(Hex.encode(signature))),
        ] + (note.map { [.init("note", .string($0))] } ?? [])).serialized
    }

    public init(jsonLine: String) throws {
        let json = try JSONValue(parsing: jsonLine)
        if let key = json.repeatedKey {
            throw SigningError("a checkpoint line has the key \"\(key)\" twice (JSON readers disagree on which counts): altered: \(jsonLine.prefix(80))")
        }
        func string(_ key: String) -> String? { if case .string(let s)? = json[key] { s } else { nil } }
        func number(_ key: String) -> Int64? { if case .number(let n)? = json[key] { Int64(n) } else { nil } }
        guard json["v"] == .number("1"), let chainID = string("chain_id"), let seq = number("seq"),
              let head = string("head").flatMap(Hex.decode), let time = number("time_us"),
              let signature = string("signature").flatMap(Hex.decode) else {
            throw SigningError("not a walaudit checkpoint line: \(jsonLine.prefix(80))")
        }
        // `time` is for reading; what is signed is `time_us`, and the two must agree.
        if let text = string("time"), text != PostgresTimestamp(microsecondsSinceEpoch: time).iso8601 {
            throw SigningError("a checkpoint's time (\(text)) is not its signed time_us (\(time)): the line was altered")
        }
        self.init(chainID: chainID, seq: seq, head: head, time: PostgresTimestamp(microsecondsSinceEpoch: time),
                  previous: string("previous").flatMap(Hex.decode))
        self.signature = signature
        note = string("note")
    }

    /// The signed note's tree head, after checking that the note is signed
    /// by `publicKey` and that it speaks of this checkpoint's size; nil
    /// when the checkpoint has no note.
    public func treeHead(publicKey: [UInt8]) throws(SigningError) -> TreeHead? {
        guard let note else { return nil }
        let signed = try SignedNote(parsing: note)
        let head = try TreeHead(text: signed.text)
        guard signed.isSigned(by: try NoteKey(name: head.origin, publicKey: publicKey)) else {
            throw SigningError("the tree checkpoint of seq \(seq) is not signed by this public key under its origin \(head.origin)")
        }
        guard head.size == seq else {
            throw SigningError("the tree checkpoint of seq \(seq) speaks of a tree of \(head.size) events")
        }
        return head
    }
}

/// The external, append-only home of checkpoints: `checkpoints.jsonl` in a
/// directory, one line each, flushed to disk before the store hears of it.
public struct CheckpointFile: Sendable {
    public let path: String

    /// `location` is a directory (the file inside it) or the file itself.
    public init(_ location: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory), !isDirectory.boolValue {
            path = location
        } else {
            path = (location as NSString).appendingPathComponent("checkpoints.jsonl")
        }
    }

    public func readAll() throws -> [Checkpoint] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try Checkpoint(jsonLine: String($0)) }
    }

    /// The latest heartbeat: a checkpoint signed while the chain did not
    /// grow, linked to the file's last line and replacing the one before.
    public var heartbeatPath: String { ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("heartbeat.json") }

    /// The note verifier key of the checkpoints' signer (public).
    public var verifierKeyPath: String { ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("verifier-key") }

    public func readHeartbeat() throws -> Checkpoint? {
        guard FileManager.default.fileExists(atPath: heartbeatPath) else { return nil }
        return try Checkpoint(jsonLine: String(contentsOfFile: heartbeatPath, encoding: .utf8).trimmingCharacters(in: .newlines))
    }

    /// Replaces the heartbeat: written to a temporary file, fsynced, renamed.
    public func writeHeartbeat(_ checkpoint: Checkpoint) throws {
        try replace(heartbeatPath, with: checkpoint.jsonLine + "\n")
    }

    /// Writes the verifier key file unless it already says this.
    public func writeVerifierKey(_ key: String) throws {
        if (try? String(contentsOfFile: verifierKeyPath, encoding: .utf8)) == key + "\n" { return }
        try replace(verifierKeyPath, with: key + "\n")
    }

    private func replace(_ target: String, with text: String) throws {
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = target + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SigningError("cannot open \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        close(fd)
        guard written, rename(temporary, target) == 0 else { throw SigningError("cannot write \(target): \(String(cString: strerror(errno)))") }
    }

    /// Appends one checkpoint and fsyncs.
    public func append(_ checkpoint: Checkpoint) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SigningError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((checkpoint.jsonLine + "\n").utf8)
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count, fsync(fd) == 0 else {
            throw SigningError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Key files written by `walaudit keygen`: one line of hex with a label.
public enum KeyFile {
    public static func write(_ key: [UInt8], label: String, to path: String, secret: Bool) throws {
        let text = "walaudit-ed25519-\(label) \(Hex.encode(key))\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: secret ? 0o600 : 0o644]) else {
            throw SigningError("cannot write \(path)")
        }
    }

    public static func read(_ path: String, label: String) throws -> [UInt8] {
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let prefix = "walaudit-ed25519-\(label) "
        guard text.hasPrefix(prefix), let key = Hex.decode(String(text.dropFirst(prefix.count))), key.count == 32 else {
            throw SigningError("\(path) is not a walaudit Ed25519 \(label) key (expected a line \"\(prefix)<64 hex digits>\")")
        }
        return key
    }
}
