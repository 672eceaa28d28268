/// What `walaudit verify --checkpoints` checks of the Merkle tree, from the
/// chain hashes it reads anyway: each tree checkpoint's root is the root of
/// the chain's prefix of its size, each is consistent with the one before
/// (an RFC 9162 consistency proof, built from the recomputed tree and
/// checked against the two signed roots), and the stored nodes are the
/// recomputed ones. The chain is read in seq ranges, one `Part` each, in
/// parallel; the parts are joined in order.
public final class TreeCheck: @unchecked Sendable {  // parts are made before the threads start, read after they end
    /// One seq range's share: roots of the 256-leaf blocks complete in it,
    /// the leaves of blocks cut by its ends, and the subtrees under a block
    /// that a checkpoint's root or proof needs, caught as they complete.
    public final class Part: @unchecked Sendable {  // filled by one thread, read after it ends
        fileprivate var blockRoots: [Int64: [UInt8]] = [:]
        fileprivate var partial: [Int64: [(seq: Int64, leaf: [UInt8])]] = [:]
        fileprivate var captured: [Int64: [UInt8]] = [:]
        /// The highest seq read.
        fileprivate var lastSeq: Int64 = 0
        private let needed: Set<Int64>
        private let hasher = MerkleHasher()
        private var block: Int64 = -1
        private var leaves: [[UInt8]] = []
        private var firstSeq: Int64 = 0

        fileprivate init(needed: Set<Int64>) { self.needed = needed }

        /// The next event of the range, in seq order.
        public func add(seq: Int64, hash: UnsafeRawBufferPointer) {
            let leaf = hasher.leaf(hash)
            let number = (seq - 1) / MerkleTree.blockSize
            if number != block { close() ; block = number ; firstSeq = seq }
            leaves.append(leaf)
            lastSeq = seq
        }

        /// Files the current block: a complete one by its root, a cut one by its leaves.
        fileprivate func close() {
            guard block >= 0, !leaves.isEmpty else { return }
            if leaves.count == Int(MerkleTree.blockSize) {
                blockRoots[block] = TreeCheck.absorb(leaves, firstLeaf: block * MerkleTree.blockSize, needed: needed,
                                                     into: &captured, hasher: hasher)
            } else {
                partial[block, default: []] += leaves.enumerated().map { (firstSeq + Int64($0.offset), $0.element) }
            }
            leaves = []
        }
    }

    /// Tree checkpoints to check: (seq of the line, its tree head).
    private let heads: [(seq: Int64, head: TreeHead)]
    /// The subtrees under a block (level < 8, by `key`) the heads' roots
    /// and consistency proofs are made of; the rest come from block nodes.
    private let needed: Set<Int64>
    private var parts: [Part] = []

    /// `heads` in file order; their sizes decide which small subtrees are caught.
    public init(heads: [(seq: Int64, head: TreeHead)]) {
        self.heads = heads
        var needed: Set<Int64> = []
        func need(_ range: Range<Int64>) {
            for (level, index) in MerkleTree.alignedSubtrees(of: range) where level < MerkleTree.storedLevel {
                needed.insert(Self.key(level, index))
            }
        }
        var previous: Int64?
        for (_, head) in heads where head.size > 0 {
            need(0..<head.size)
            if let previous, previous <= head.size {
                for range in MerkleTree.consistencyRanges(old: previous, new: head.size) { need(range) }
            }
            previous = head.size
        }
        self.needed = needed
    }

    /// A part for the next seq range (ranges are asked for in order).
    public func part() -> Part {
        let part = Part(needed: needed)
        parts.append(part)
        return part
    }

    /// The chain's length as read.
    public var size: Int64 { parts.map(\.lastSeq).max() ?? 0 }

    /// Merges `leaves` (a block's, from its first, complete or not) as the
    /// tree does, keeping the needed subtrees as they complete; returns the
    /// block's root when all 256 are there.
    static func absorb(_ leaves: [[UInt8]], firstLeaf: Int64, needed: Set<Int64>, into captured: inout [Int64: [UInt8]],
                       hasher: MerkleHasher) -> [UInt8]? {
        var stack: [(level: Int, hash: [UInt8])] = []
        for (offset, leaf) in leaves.enumerated() {
            let position = firstLeaf + Int64(offset)
            var level = 0, hash = leaf
            if needed.contains(key(0, position)) { captured[key(0, position)] = leaf }
            while let last = stack.last, last.level == level {
                stack.removeLast()
                hash = hasher.node(last.hash, hash)
                level += 1
                let subtree = key(level, position >> level)
                if level < MerkleTree.storedLevel && needed.contains(subtree) { captured[subtree] = hash }
            }
            stack.append((level, hash))
        }
        return leaves.count == Int(MerkleTree.blockSize) ? stack.first?.hash : nil
    }

    /// The first problem, as (seq it names, what is wrong), after all parts
    /// were read: `stored` holds the stored nodes within `size` by `key`.
    public func problem(stored: [Int64: [UInt8]]) -> (seq: Int64, problem: String)? {
        let size = self.size
        // Join the parts: blocks cut between two parts are whole again.
        var blockRoots: [Int64: [UInt8]] = [:]
        var captured: [Int64: [UInt8]] = [:]
        var partial: [Int64: [(seq: Int64, leaf: [UInt8])]] = [:]
        for part in parts {
            part.close()
            blockRoots.merge(part.blockRoots) { a, _ in a }
            captured.merge(part.captured) { a, _ in a }
            for (block, leaves) in part.partial { partial[block, default: []] += leaves }
        }
        let hasher = MerkleHasher()
        for (block, pieces) in partial {
            let leaves = pieces.sorted { $0.seq < $1.seq }.map(\.leaf)
            blockRoots[block] = Self.absorb(leaves, firstLeaf: block * MerkleTree.blockSize, needed: needed, into: &captured, hasher: hasher)
        }
        // Every node from the blocks up, as the chain makes them.
        var nodes: [Int64: [UInt8]] = [:]
        let blocks = size / MerkleTree.blockSize
        for block in 0..<blocks { nodes[Self.key(MerkleTree.storedLevel, block)] = blockRoots[block] }
        var level = MerkleTree.storedLevel, count = blocks
        while count > 1 {
            for index in 0..<count / 2 {
                if let left = nodes[Self.key(level, 2 * index)], let right = nodes[Self.key(level, 2 * index + 1)] {
                    nodes[Self.key(level + 1, index)] = hasher.node(left, right)
                }
            }
            level += 1
            count /= 2
        }
        for (key, hash) in stored.sorted(by: { Self.firstSeq($0.key) < Self.firstSeq($1.key) }) where nodes[key] != hash {
            return (Self.firstSeq(key), nodes[key] == nil ? "tree node altered: a stored Merkle node covers events the chain does not have"
                                                           : "tree node altered: the stored Merkle node over seq \(Self.firstSeq(key)) and after is not the hash of those events")
        }
        if let missing = nodes.keys.filter({ stored[$0] == nil }).min(by: { Self.firstSeq($0) < Self.firstSeq($1) }) {
            return (Self.firstSeq(missing), "tree node missing: the Merkle node over seq \(Self.firstSeq(missing)) and after was not stored (run walaudit setup, which stores it)")
        }
        func subtree(_ level: Int, _ index: Int64) throws -> [UInt8] {
            guard let hash = level >= MerkleTree.storedLevel ? nodes[Self.key(level, index)] : captured[Self.key(level, index)] else {
                throw SigningError("the subtree of 2^\(level) events from seq \((index << level) + 1) was not read")
            }
            return hash
        }
        func hash(_ range: Range<Int64>) throws -> [UInt8] {
            try MerkleTree.hash(of: range) { level, index in try subtree(level, index) }
        }
        var previous: TreeHead?
        for (seq, head) in heads {
            guard head.size <= size else { return (seq, "the tree checkpoint of seq \(seq) speaks of \(head.size) events; the store has \(size)") }
            do {
                let root = head.size == 0 ? MerkleTree.emptyRoot : try hash(0..<head.size)
                guard root == head.root else {
                    return (seq, "checkpoint mismatch: the tree checkpoint of seq \(seq) does not have the root of the stored events 1 to \(head.size)")
                }
                if let previous, previous.size <= head.size {
                    let proof = try MerkleTree.consistencyRanges(old: previous.size, new: head.size).map { range in try hash(range) }
                    guard MerkleTree.verifyConsistency(old: previous.size, new: head.size, oldRoot: previous.root, newRoot: head.root, proof: proof) else {
                        return (seq, "the tree checkpoint of seq \(seq) is not consistent with the one of seq \(previous.size): the history was rewritten")
                    }
                } else if let previous {
                    return (seq, "the tree checkpoint of seq \(seq) is smaller than the one before (\(previous.size) events)")
                }
            } catch {
                return (seq, "cannot check the tree checkpoint of seq \(seq): \(error)")
            }
            previous = head
        }
        return nil
    }

    /// A node's key in the maps: level and index in one integer.
    public static func key(_ level: Int, _ index: Int64) -> Int64 { Int64(level) << 56 | index }

    static func firstSeq(_ key: Int64) -> Int64 { (key & (1 << 56 - 1)) << (key >> 56) + 1 }

}
