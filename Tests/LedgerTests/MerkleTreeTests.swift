import Ledger
import Testing

/// The tree against RFC 6962's recursive definition, computed naively.
@Suite struct MerkleTreeTests {
    static func leaves(_ n: Int) -> [[UInt8]] { (0..<n).map { MerkleTree.leafHash(Crypto.sha256([UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)])) } }

    /// MTH(D[n]) exactly as RFC 6962 §2.1 defines it.
    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return MerkleTree.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        let k = Int(MerkleTree.split(Int64(leaves.count)))
        return MerkleTree.nodeHash(mth(leaves.prefix(k)), mth(leaves.dropFirst(k)))
    }

    @Test func frontierRootsAndClosedNodesMatchTheDefinition() {
        let all = Self.leaves(1100)
        var frontier = MerkleFrontier()
        var closed: [String: [UInt8]] = [:]
        #expect(frontier.root == MerkleTree.emptyRoot)
        for (i, leaf) in all.enumerated() {
            for node in frontier.append(leafHash: leaf) { closed["\(node.level)/\(node.index)"] = node.hash }
            if [0, 1, 2, 254, 255, 256, 511, 512, 513, 1023, 1024, 1099].contains(i) {
                #expect(frontier.root == Self.mth(all.prefix(i + 1)[...]), "size \(i + 1)")
            }
        }
        #expect(closed.count == 4 + 2 + 1, "blocks 0-3 at level 8, two at 9, one at 10")
        #expect(closed["8/3"] == Self.mth(all[768..<1024]))
        #expect(closed["10/0"] == Self.mth(all[0..<1024]))
        let rebuilt = MerkleFrontier(size: frontier.size, subtrees: frontier.subtrees)
        #expect(rebuilt == frontier)
        #expect(MerkleFrontier(size: 3, subtrees: [(0, all[0]), (1, all[1])]) == nil, "largest first")
    }

    /// Leaves added by their data (the worker's and the bundle verifier's
    /// way, hashing in the hasher's buffer) make the tree leaves added by
    /// their leaf hash make: the same roots, the same closed nodes; a
    /// frontier resumed from stored subtrees, one of them damaged (not 32
    /// bytes), goes on as the general way does.
    @Test func leavesByDataMakeTheSameTreeAsLeavesByHash() {
        let data = (0..<1100).map { Crypto.sha256([UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8), 7]) }
        var byData = MerkleFrontier(), byHash = MerkleFrontier()
        for (i, leaf) in data.enumerated() {
            let closedByData = leaf.withUnsafeBytes { byData.append(leafData: $0) }
            let closedByHash = byHash.append(leafHash: MerkleTree.leafHash(leaf))
            #expect(closedByData.map(\.hash) == closedByHash.map(\.hash) && closedByData.map(\.index) == closedByHash.map(\.index)
                        && closedByData.map(\.level) == closedByHash.map(\.level), "leaf \(i)")
            if i % 97 == 0 || i == 1099 { #expect(byData == byHash && byData.root == byHash.root, "size \(i + 1)") }
        }
        let damaged = [UInt8](repeating: 9, count: 31)
        guard var resumedByData = MerkleFrontier(size: 3, subtrees: [(1, data[0]), (0, damaged)]) else {
            Issue.record("a frontier of 3 leaves")
            return
        }
        var resumedByHash = resumedByData
        _ = data[5].withUnsafeBytes { resumedByData.append(leafData: $0) }
        resumedByHash.append(leafHash: MerkleTree.leafHash(data[5]))
        #expect(resumedByData == resumedByHash)
        #expect(resumedByData.root == MerkleTree.nodeHash(data[0], MerkleTree.nodeHash(damaged, MerkleTree.leafHash(data[5]))))
    }

    @Test func everyInclusionProofVerifiesAndNoAlteredOneDoes() throws {
        let all = Self.leaves(70)
        for size in 1...70 {
            let root = Self.mth(all.prefix(size)[...])
            for index in 0..<size {
                let proof = MerkleTree.inclusionRanges(index: Int64(index), size: Int64(size)).map { Self.mth(all[Int($0.lowerBound)..<Int($0.upperBound)]) }
                #expect(MerkleTree.verifyInclusion(leaf: all[index], index: Int64(index), size: Int64(size), proof: proof, root: root))
                #expect(!MerkleTree.verifyInclusion(leaf: all[(index + 1) % 70], index: Int64(index), size: Int64(size), proof: proof, root: root))
                if !proof.isEmpty {
                    var altered = proof
                    altered[altered.count / 2][0] ^= 1
                    #expect(!MerkleTree.verifyInclusion(leaf: all[index], index: Int64(index), size: Int64(size), proof: altered, root: root))
                    #expect(!MerkleTree.verifyInclusion(leaf: all[index], index: Int64(index), size: Int64(size), proof: proof.dropLast().map { $0 }, root: root))
                }
            }
        }
    }

    @Test func everyConsistencyProofVerifiesAndARewrittenHistoryDoesNot() {
        let all = Self.leaves(40)
        var rewritten = all
        rewritten[3] = MerkleTree.leafHash([9, 9])
        for new in 1...40 {
            let newRoot = Self.mth(all.prefix(new)[...])
            for old in 0...new {
                let proof = MerkleTree.consistencyRanges(old: Int64(old), new: Int64(new)).map { Self.mth(all[Int($0.lowerBound)..<Int($0.upperBound)]) }
                let oldRoot = Self.mth(all.prefix(old)[...])
                #expect(MerkleTree.verifyConsistency(old: Int64(old), new: Int64(new), oldRoot: oldRoot, newRoot: newRoot, proof: proof), "\(old)→\(new)")
                if old > 3 && old < new {
                    let forged = Self.mth(rewritten.prefix(old)[...])
                    #expect(!MerkleTree.verifyConsistency(old: Int64(old), new: Int64(new), oldRoot: forged, newRoot: newRoot, proof: proof))
                }
            }
        }
    }

    @Test func subtreeHashesComposeFromAlignedSubtrees() {
        let all = Self.leaves(300)
        for range in [0..<300, 5..<6, 256..<300, 0..<256, 17..<45] as [Range<Int64>] {
            let hash = MerkleTree.hash(of: range) { level, index in Self.mth(all[Int(index << level)..<Int((index + 1) << level)]) }
            #expect(hash == Self.mth(all[Int(range.lowerBound)..<Int(range.upperBound)]))
        }
    }
}

/// The verifier's tree check over a chain read in parts with arbitrary cuts.
@Suite struct TreeCheckTests {
    static func run(_ leaves: [[UInt8]], heads: [(Int64, TreeHead)], cuts: [Int], stored: (inout [Int64: [UInt8]]) -> Void = { _ in }) -> (seq: Int64, problem: String)? {
        let check = TreeCheck(heads: heads)
        let bounds = [0] + cuts + [leaves.count]
        for (from, to) in zip(bounds, bounds.dropFirst()) {
            let part = check.part()
            for index in from..<to {
                let data = Crypto.sha256([UInt8(truncatingIfNeeded: index), UInt8(index >> 8)])
                data.withUnsafeBytes { part.add(seq: Int64(index + 1), hash: $0) }
            }
        }
        var nodes: [Int64: [UInt8]] = [:]
        var frontier = MerkleFrontier()
        for leaf in leaves { for node in frontier.append(leafHash: leaf) { nodes[TreeCheck.key(node.level, node.index)] = node.hash } }
        stored(&nodes)
        return check.problem(stored: nodes)
    }

    @Test func rootsConsistencyAndStoredNodes() {
        let leaves = (0..<900).map { MerkleTree.leafHash(Crypto.sha256([UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)])) }
        func head(_ size: Int) -> (Int64, TreeHead) { (Int64(size), TreeHead(origin: "o", size: Int64(size), root: MerkleTreeTests.mth(leaves.prefix(size)[...]))) }
        let heads = [head(5), head(256), head(300), head(300), head(513), head(900)]
        #expect(Self.run(leaves, heads: heads, cuts: [100, 400, 401, 768]) == nil)
        #expect(Self.run(leaves, heads: heads, cuts: []) == nil)
        // A root of another history.
        var forged = heads
        forged[3].1.root = MerkleTreeTests.mth(leaves.prefix(299)[...])
        #expect(Self.run(leaves, heads: forged, cuts: [300])?.problem.contains("does not have the root") == true)
        // A stored node altered, or missing.
        let altered = Self.run(leaves, heads: heads, cuts: [300]) { $0[TreeCheck.key(8, 1)] = MerkleTree.emptyRoot }
        #expect(altered?.seq == 257 && altered?.problem.contains("tree node altered") == true)
        let missing = Self.run(leaves, heads: heads, cuts: [300]) { $0[TreeCheck.key(9, 0)] = nil }
        #expect(missing?.seq == 1 && missing?.problem.contains("missing") == true)
        // A checkpoint smaller than the one before.
        #expect(Self.run(leaves, heads: [head(300), head(200)], cuts: [])?.problem.contains("smaller") == true)
    }
}
