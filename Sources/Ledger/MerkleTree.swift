/// The RFC 6962 Merkle tree over the chain (docs/chain-format.md, "Merkle
/// tree"): leaf i is the chain hash of the event with seq i + 1, so a purge,
/// which changes no chain hash, changes no leaf. Hashes, proofs (as the
/// subtree ranges whose hashes form them) and their verification, after
/// RFC 6962 §2.1 and RFC 9162 §2.1.3–2.1.4. Pure: what stores nodes and
/// reads leaves is elsewhere.
public enum MerkleTree {
    /// Complete subtrees of 2^storedLevel leaves and more are stored (one
    /// node per 128 events on average); smaller ones are computed from at
    /// most 255 leaves.
    public static let storedLevel = 8
    public static let blockSize: Int64 = 1 << storedLevel

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot = Crypto.sha256([])

    /// SHA-256(0x00 ‖ data).
    public static func leafHash(_ data: [UInt8]) -> [UInt8] { Crypto.sha256([0] + data) }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { Crypto.sha256([1] + left + right) }

    /// The largest power of two smaller than `n` (n ≥ 2): where RFC 6962 splits a tree of n leaves.
    public static func split(_ n: Int64) -> Int64 {
        precondition(n >= 2)
        var k: Int64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// The subtrees (leaf ranges) whose hashes are the inclusion proof of
    /// leaf `index` in the tree of `size` leaves, from the leaf's sibling up
    /// (RFC 6962 PATH).
    public static func inclusionRanges(index: Int64, size: Int64) -> [Range<Int64>] {
        precondition(index >= 0 && index < size)
        var ranges: [Range<Int64>] = []
        func path(_ m: Int64, _ lo: Int64, _ hi: Int64) {
            let n = hi - lo
            guard n > 1 else { return }
            let k = split(n)
            if m < k {
                path(m, lo, lo + k)
                ranges.append(lo + k..<hi)
            } else {
                path(m - k, lo + k, hi)
                ranges.append(lo..<lo + k)
            }
        }
        path(index, 0, size)
        return ranges
    }

    /// The subtrees whose hashes are the consistency proof from the tree of
    /// `old` leaves to the tree of `new` leaves (RFC 6962 PROOF); empty when
    /// `old` is 0 or equals `new`.
    public static func consistencyRanges(old: Int64, new: Int64) -> [Range<Int64>] {
        precondition(old >= 0 && old <= new)
        guard old > 0, old < new else { return [] }
        var ranges: [Range<Int64>] = []
        func subproof(_ m: Int64, _ lo: Int64, _ hi: Int64, _ complete: Bool) {
            let n = hi - lo
            if m == n {
                if !complete { ranges.append(lo..<hi) }
                return
            }
            let k = split(n)
            if m <= k {
                subproof(m, lo, lo + k, complete)
                ranges.append(lo + k..<hi)
            } else {
                subproof(m - k, lo + k, hi, false)
                ranges.append(lo..<lo + k)
            }
        }
        subproof(old, 0, new, true)
        return ranges
    }

    /// The hash of the leaves `range`, from `subtree`, which answers for
    /// complete aligned subtrees of 2^level leaves (level, index) and is
    /// asked only for those: a range is split as RFC 6962 splits trees.
    public static func hash(of range: Range<Int64>, subtree: (_ level: Int, _ index: Int64) throws -> [UInt8]) rethrows -> [UInt8] {
        let n = range.count
        precondition(n > 0)
        if n & (n - 1) == 0, range.lowerBound % Int64(n) == 0 {
            return try subtree(n.trailingZeroBitCount, range.lowerBound / Int64(n))
        }
        let k = split(Int64(n))
        let left = try hash(of: range.lowerBound..<range.lowerBound + k, subtree: subtree)
        let right = try hash(of: range.lowerBound + k..<range.upperBound, subtree: subtree)
        return nodeHash(left, right)
    }

    /// The complete aligned subtrees (level, index) `hash(of:)` composes
    /// `range` from, left to right.
    public static func alignedSubtrees(of range: Range<Int64>) -> [(level: Int, index: Int64)] {
        let n = Int64(range.count)
        guard n > 0 else { return [] }
        if n & (n - 1) == 0, range.lowerBound % n == 0 { return [(n.trailingZeroBitCount, range.lowerBound / n)] }
        let k = split(n)
        return alignedSubtrees(of: range.lowerBound..<range.lowerBound + k) + alignedSubtrees(of: range.lowerBound + k..<range.upperBound)
    }

    /// Whether `proof` shows the leaf with hash `leaf` at `index` in the
    /// tree of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
    public static func verifyInclusion(leaf: [UInt8], index: Int64, size: Int64, proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index, sn = size - 1
        var r = leaf
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows the tree of `new` leaves (root `newRoot`)
    /// extends the tree of `old` leaves (root `oldRoot`) (RFC 9162 §2.1.4.2;
    /// from an empty tree, or to the same size, the proof is empty).
    public static func verifyConsistency(old: Int64, new: Int64, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) -> Bool {
        guard old >= 0, old <= new else { return false }
        if old == new { return proof.isEmpty && oldRoot == newRoot }
        if old == 0 { return proof.isEmpty && oldRoot == emptyRoot }
        var path = proof
        if old & (old - 1) == 0 { path.insert(oldRoot, at: 0) }
        guard !path.isEmpty else { return false }
        var fn = old - 1, sn = new - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}

/// SHA-256 of leaves and inner nodes with one OpenSSL context and one input
/// buffer reused: an array and a context per hash were most of the cost of
/// keeping the tree (measured with tree-bench). One per thread.
final class MerkleHasher: @unchecked Sendable {  // used by one thread at a time (its owner's)
    private let hasher = SHA256Hasher()
    /// A node's input, 0x01 ‖ left ‖ right; its right half holds the
    /// current path's hash, so a path up the tree makes no array per hash.
    private var input = [UInt8](repeating: 0, count: 65)

    /// SHA-256(0x00 ‖ data) of a 32-byte chain hash.
    func leaf(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        guard startPath(leafData: data) else { return MerkleTree.leafHash(Array(data)) }
        return path
    }

    /// SHA-256(0x01 ‖ left ‖ right) of two 32-byte hashes.
    func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        guard left.count == 32, right.count == 32 else { return MerkleTree.nodeHash(left, right) }
        input.withUnsafeMutableBytes { buffer in
            right.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[33..<65]).copyMemory(from: $0) }
        }
        mergePath(left: left)
        return path
    }

    /// Starts a path up the tree at a new leaf: its hash, SHA-256(0x00 ‖
    /// data) of a 32-byte chain hash, becomes the path's. False (nothing
    /// done) for data of another size.
    func startPath(leafData data: UnsafeRawBufferPointer) -> Bool {
        guard data.count == 32 else { return false }
        input.withUnsafeMutableBytes { buffer in
            buffer[0] = 0
            UnsafeMutableRawBufferPointer(rebasing: buffer[1..<33]).copyMemory(from: data)
            hasher.hash(UnsafeRawBufferPointer(rebasing: buffer[0..<33]))
            keepPath(in: buffer)
        }
        return true
    }

    /// The path's next node: SHA-256(0x01 ‖ left ‖ path) with a 32-byte left sibling.
    func mergePath(left: [UInt8]) {
        precondition(left.count == 32, "a sibling of 32 bytes")
        input.withUnsafeMutableBytes { buffer in
            buffer[0] = 1
            left.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[1..<33]).copyMemory(from: $0) }
            hasher.hash(UnsafeRawBufferPointer(buffer))
            keepPath(in: buffer)
        }
    }

    /// The path's current hash.
    var path: [UInt8] { Array(input[33..<65]) }

    /// The digest just made becomes the right half of the next node's input.
    private func keepPath(in buffer: UnsafeMutableRawBufferPointer) {
        hasher.digest.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[33..<65]).copyMemory(from: $0) }
    }
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// largest first (one per set bit of the size). Appending a leaf merges
/// equal neighbours; the root folds them from the right. What appenders keep
/// in memory to hash new blocks, and verifiers to compute each
/// checkpoint's root in one pass over the chain.
public struct MerkleFrontier: Equatable, Sendable {
    public private(set) var size: Int64 = 0
    /// (level, hash) of each complete subtree, largest (leftmost) first.
    public private(set) var subtrees: [(level: Int, hash: [UInt8])] = []
    /// Copy on write, as `Chain`'s workspace: a copy that appends first takes its own.
    private var hasher = MerkleHasher()

    public init() {}

    /// The frontier of a tree of `size` leaves from its subtrees' hashes
    /// (levels must be the set bits of `size`, largest first).
    public init?(size: Int64, subtrees: [(level: Int, hash: [UInt8])]) {
        guard size >= 0, subtrees.reduce(Int64(0), { $0 + (Int64(1) << $1.level) }) == size,
              zip(subtrees, subtrees.dropFirst()).allSatisfy({ $0.level > $1.level }) else { return nil }
        (self.size, self.subtrees) = (size, subtrees)
    }

    public static func == (a: MerkleFrontier, b: MerkleFrontier) -> Bool {
        a.size == b.size && a.subtrees.map(\.level) == b.subtrees.map(\.level) && a.subtrees.map(\.hash) == b.subtrees.map(\.hash)
    }

    /// Adds a leaf by its data (a 32-byte chain hash), as `append(leafHash:)`.
    @discardableResult
    public mutating func append(leafData: UnsafeRawBufferPointer) -> [(level: Int, index: Int64, hash: [UInt8])] {
        if !isKnownUniquelyReferenced(&hasher) { hasher = MerkleHasher() }
        // The path's hashes stay in the hasher's buffer: one array per leaf
        // (the subtree it ends in), not one per hash (two allocations per
        // event of the worker were these). Siblings not 32 bytes long (a
        // damaged stored node) take the general way.
        var merges = 0
        while merges < subtrees.count, subtrees[subtrees.count - 1 - merges].level == merges { merges += 1 }
        guard subtrees.suffix(merges).allSatisfy({ $0.hash.count == 32 }), hasher.startPath(leafData: leafData) else {
            return append(leafHash: hasher.leaf(leafData))
        }
        var closed: [(level: Int, index: Int64, hash: [UInt8])] = []
        size += 1
        var level = 0
        while level < merges {
            hasher.mergePath(left: subtrees.removeLast().hash)
            level += 1
            if level >= MerkleTree.storedLevel { closed.append((level, (size >> level) - 1, hasher.path)) }
        }
        subtrees.append((merges, hasher.path))
        return closed
    }

    /// Adds a leaf (its leaf hash); returns the complete subtrees it closed
    /// at `MerkleTree.storedLevel` and above, as (level, index, hash): the
    /// nodes to store.
    @discardableResult
    public mutating func append(leafHash: [UInt8]) -> [(level: Int, index: Int64, hash: [UInt8])] {
        if !isKnownUniquelyReferenced(&hasher) { hasher = MerkleHasher() }
        var closed: [(level: Int, index: Int64, hash: [UInt8])] = []
        var level = 0, hash = leafHash
        size += 1
        while let last = subtrees.last, last.level == level {
            subtrees.removeLast()
            hash = hasher.node(last.hash, hash)
            level += 1
            if level >= MerkleTree.storedLevel { closed.append((level, (size >> level) - 1, hash)) }
        }
        subtrees.append((level, hash))
        return closed
    }

    /// The tree's root (RFC 6962 MTH): the subtrees folded from the right.
    public var root: [UInt8] {
        guard var hash = subtrees.last?.hash else { return MerkleTree.emptyRoot }
        for subtree in subtrees.dropLast().reversed() { hash = MerkleTree.nodeHash(subtree.hash, hash) }
        return hash
    }
}
