import Foundation

/// An offline proof that an event is in the chain's Merkle tree, as a
/// c2sp.org/tlog-proof@v1 file: the leaf's index (seq - 1), the inclusion
/// proof from the leaf's sibling up, and the signed tree checkpoint it
/// leads to. walaudit puts the event's chain hash (the leaf's data) in the
/// `extra` line, so the proof can be checked without the event; with the
/// event's record (`walaudit prove --event`), that hash is recomputed.
public struct TlogProof: Equatable, Sendable {
    public var index: Int64
    public var hashes: [[UInt8]]
    /// The signed note of the tree checkpoint, verbatim.
    public var checkpoint: String
    /// The event's chain hash.
    public var leafData: [UInt8]

    static let header = "c2sp.org/tlog-proof@v1"

    public init(index: Int64, hashes: [[UInt8]], checkpoint: String, leafData: [UInt8]) {
        (self.index, self.hashes, self.checkpoint, self.leafData) = (index, hashes, checkpoint, leafData)
    }

    public var serialized: String {
        ([Self.header, "extra " + Data(leafData).base64EncodedString(), "index \(index)"] + hashes.map { Data($0).base64EncodedString() })
            .joined(separator: "\n") + "\n\n" + checkpoint
    }

    public init(parsing text: String) throws(SigningError) {
        guard let split = text.range(of: "\n\n") else { throw SigningError("not a tlog proof: no empty line before its checkpoint") }
        var lines = text[..<split.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first == Self.header else { throw SigningError("not a \(Self.header) file") }
        lines.removeFirst()
        var leafData: [UInt8]?
        if let extra = lines.first, extra.hasPrefix("extra ") {
            leafData = Data(base64Encoded: String(extra.dropFirst(6))).map(Array.init)
            lines.removeFirst()
        }
        guard let indexLine = lines.first, indexLine.hasPrefix("index "), let index = Int64(indexLine.dropFirst(6)), index >= 0,
              String(index) == indexLine.dropFirst(6) else { throw SigningError("a tlog proof needs its `index N` line") }
        lines.removeFirst()
        var hashes: [[UInt8]] = []
        for line in lines {
            guard let hash = Data(base64Encoded: line).map(Array.init), hash.count == 32 else {
                throw SigningError("not a base64 SHA-256 hash in the proof: \(line.prefix(60))")
            }
            hashes.append(hash)
        }
        guard let leafData, leafData.count == 32 else {
            throw SigningError("the proof's extra line must hold the event's 32-byte chain hash (walaudit writes it)")
        }
        self.init(index: index, hashes: hashes, checkpoint: String(text[split.upperBound...]), leafData: leafData)
    }

    /// Checks the checkpoint's signature (key named after its origin) and
    /// the inclusion proof; returns the tree head on success.
    public func verify(publicKey: [UInt8]) throws(SigningError) -> TreeHead {
        let note = try SignedNote(parsing: checkpoint)
        let head = try TreeHead(text: note.text)
        guard note.isSigned(by: try NoteKey(name: head.origin, publicKey: publicKey)) else {
            throw SigningError("the proof's checkpoint is not signed by this public key (origin \(head.origin))")
        }
        guard MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(leafData), index: index, size: head.size, proof: hashes, root: head.root) else {
            throw SigningError("the inclusion proof does not lead from seq \(index + 1) to the signed root of \(head.size) events: the event or the proof was altered")
        }
        return head
    }
}
