import Decoding
import Foundation
import Ledger
import Testing

/// docs/tree-vector.json: the Merkle tree over the seven events of
/// docs/chain-vectors.json — its root at every size, every inclusion proof
/// in the tree of seven and every consistency proof to it — checked against
/// RFC 6962 written out here from the document (SHA-256 only, no Ledger
/// tree code), and against Ledger's tree and verifiers.
/// WALAUDIT_WRITE_VECTORS=1 rewrites the file.
@Suite struct TreeVectorTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/tree-vector.json").standardized.path

    /// RFC 6962 §2.1, from the document: leaf hash 0x00 ‖ data, node 0x01 ‖ left ‖ right, split at the largest power of two below n.
    static func mth(_ data: ArraySlice<[UInt8]>) -> [UInt8] {
        if data.isEmpty { return Crypto.sha256([]) }
        if data.count == 1 { return Crypto.sha256([0] + data.first!) }
        var k = 1
        while k * 2 < data.count { k *= 2 }
        return Crypto.sha256([1] + mth(data.prefix(k)) + mth(data.dropFirst(k)))
    }

    static func path(_ m: Int, _ data: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard data.count > 1 else { return [] }
        var k = 1
        while k * 2 < data.count { k *= 2 }
        return m < k ? path(m, data.prefix(k)) + [mth(data.dropFirst(k))] : path(m - k, data.dropFirst(k)) + [mth(data.prefix(k))]
    }

    static func subproof(_ m: Int, _ data: ArraySlice<[UInt8]>, _ complete: Bool) -> [[UInt8]] {
        if m == data.count { return complete ? [] : [mth(data)] }
        var k = 1
        while k * 2 < data.count { k *= 2 }
        return m <= k ? subproof(m, data.prefix(k), complete) + [mth(data.dropFirst(k))]
                      : subproof(m - k, data.dropFirst(k), false) + [mth(data.prefix(k))]
    }

    @Test func theTreeOfTheChainVectors() throws {
        let chain = try JSONValue(parsing: String(contentsOfFile: ChainVectorTests.vectorsPath, encoding: .utf8))
        guard case .array(let events) = chain else { Issue.record("no vectors"); return }
        let data = events.compactMap { event -> [UInt8]? in if case .string(let hex)? = event["hash"] { Hex.decode(hex) } else { nil } }
        #expect(data.count == 7)
        let hex = { (bytes: [UInt8]) in JSONValue.string(Hex.encode(bytes)) }
        let expected = JSONValue.object([
            .init("leaf_data", .array(data.map(hex))),
            .init("roots", .array((0...data.count).map { hex(Self.mth(data.prefix($0)[...])) })),
            .init("inclusion_in_7", .array((0..<data.count).map { .array(Self.path($0, data[...]).map(hex)) })),
            .init("consistency_to_7", .array((1...data.count).map { .array(Self.subproof($0, data[...], true).map(hex)) })),
        ])
        if ProcessInfo.processInfo.environment["WALAUDIT_WRITE_VECTORS"] == "1" {
            try (expected.serialized + "\n").write(toFile: Self.path, atomically: true, encoding: .utf8)
        }
        let file = try JSONValue(parsing: String(contentsOfFile: Self.path, encoding: .utf8))
        #expect(file == expected, "docs/tree-vector.json is not RFC 6962's tree of the chain vectors")
        // Ledger's tree agrees with the document.
        let leaves = data.map(MerkleTree.leafHash)
        var frontier = MerkleFrontier()
        for (size, leaf) in leaves.enumerated() {
            frontier.append(leafHash: leaf)
            #expect(frontier.root == Self.mth(data.prefix(size + 1)[...]))
        }
        for index in 0..<7 {
            #expect(MerkleTree.verifyInclusion(leaf: leaves[index], index: Int64(index), size: 7, proof: Self.path(index, data[...]), root: Self.mth(data[...])))
        }
        for old in 1...7 {
            #expect(MerkleTree.verifyConsistency(old: Int64(old), new: 7, oldRoot: Self.mth(data.prefix(old)[...]), newRoot: Self.mth(data[...]),
                                                 proof: Self.subproof(old, data[...], true)))
        }
    }
}
