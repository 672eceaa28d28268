/// What `walaudit verify --checkpoints` checks of the Merkle tree, from the
/// chain hashes it reads anyway: each tree checkpoint's root is the root of
/// the chain's prefix of its size, each is consistent with the one before
/// (an RFC 9162 consistency proof, built from the recomputed tree and
/// checked against the two signed roots), and the stored nodes are the
/// recomputed ones. The chain is read in seq ranges, one `Part` each, in
/// parallel; the parts are joined in order.
public final class TreeCheck: @unchecked Sendable {  // parts are made before the threads start, read after they end
    /// One seq range's share: roots of the 256-leaf blocks complete in it,
    /// the leaves of blocks cut by its ends, and the leaves of the blocks a
    /// checkpoint's root or proof needs.
    public final class Part: @unchecked Sendable {  // filled by one thread, read after it ends
        fileprivate var blockRoots: [Int64: [UInt8]] = [:]
        fileprivate var partial: [Int64: [(seq: Int64, leaf: [UInt8])]] = [:]
        fileprivate var kept: [Int64: [[UInt8]]] = [:]
        /// The highest seq read.
        fileprivate var lastSeq: Int64 = 0
        private let wanted: Set<Int64>
        private var block: Int64 = -1
        private var leaves: [[UInt8]] = []
        private var firstSeq: Int64 = 0

        fileprivate init(wanted: Set<Int64>) { self.wanted = wanted }

        /// The next event of the range, in seq order.
        public func add(seq: Int64, hash: UnsafeRawBufferPointer) {
            let leaf = MerkleTree.leafHash(Array(hash))
            let number = (seq - 1) / MerkleTree.blockSize
            if number != block { close() ; block = number ; firstSeq = seq }
            leaves.append(leaf)
            lastSeq = seq
        }

        /// Files the current block: a complete one by its root, a cut one by its leaves.
        fileprivate func close() {
            guard block >= 0, !leaves.isEmpty else { return }
            if leaves.count == Int(MerkleTree.blockSize) {
                blockRoots[block] = TreeCheck.fold(leaves)
                if wanted.contains(block) { kept[block] = leaves }
            } else {
                partial[block, default: []] += leaves.enumerated().map { (firstSeq + Int64($0.offset), $0.element) }
            }
            leaves = []
        }
    }

    /// Tree checkpoints to check: (seq of the line, its tree head).
    private let heads: [(seq: Int64, head: TreeHead)]
    private let wanted: Set<Int64>
    private var parts: [Part] = []

    /// `heads` in file order; their sizes decide which blocks' leaves are kept.
    public init(heads: [(seq: Int64, head: TreeHead)]) {
        self.heads = heads
        var wanted: Set<Int64> = []
        for (_, head) in heads where head.size > 0 {
            for seq in [head.size - 1, head.size, head.size + 1] where seq >= 1 { wanted.insert((seq - 1) / MerkleTree.blockSize) }
        }
        self.wanted = wanted
    }

    /// A part for the next seq range (ranges are asked for in order).
    public func part() -> Part {
        let part = Part(wanted: wanted)
        parts.append(part)
        return part
    }

    /// The chain's length as read.
    public var size: Int64 { parts.map(\.lastSeq).max() ?? 0 }

    /// The first problem, as (seq it names, what is wrong), after all parts
    /// were read: `stored` holds the stored nodes within `size` by `key`.
    public func problem(stored: [Int64: [UInt8]]) -> (seq: Int64, problem: String)? {
        let size = self.size
        // Join the parts: blocks cut between two parts are whole again.
        var blockRoots: [Int64: [UInt8]] = [:]
        var kept: [Int64: [[UInt8]]] = [:]
        var partial: [Int64: [(seq: Int64, leaf: [UInt8])]] = [:]
        for part in parts {
            part.close()
            blockRoots.merge(part.blockRoots) { a, _ in a }
            kept.merge(part.kept) { a, _ in a }
            for (block, leaves) in part.partial { partial[block, default: []] += leaves }
        }
        for (block, pieces) in partial {
            let leaves = pieces.sorted { $0.seq < $1.seq }.map(\.leaf)
            if leaves.count == Int(MerkleTree.blockSize) { blockRoots[block] = Self.fold(leaves) }
            if leaves.count == Int(MerkleTree.blockSize) || wanted.contains(block) { kept[block] = leaves }
        }
        // Every node from the blocks up, as the chain makes them.
        var nodes: [Int64: [UInt8]] = [:]
        let blocks = size / MerkleTree.blockSize
        for block in 0..<blocks { nodes[Self.key(MerkleTree.storedLevel, block)] = blockRoots[block] }
        var level = MerkleTree.storedLevel, count = blocks
        while count > 1 {
            for index in 0..<count / 2 {
                if let left = nodes[Self.key(level, 2 * index)], let right = nodes[Self.key(level, 2 * index + 1)] {
                    nodes[Self.key(level + 1, index)] = MerkleTree.nodeHash(left, right)
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
            if level >= MerkleTree.storedLevel, let node = nodes[Self.key(level, index)] { return node }
            let first = index << level
            guard let leaves = kept[first / MerkleTree.blockSize] else { throw SigningError("leaves of block \(first / MerkleTree.blockSize) not kept") }
            let start = Int(first % MerkleTree.blockSize)
            return Self.fold(Array(leaves[start..<start + (1 << level)]))
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

    /// The root of a complete tree over `leaves` (a power of two of them).
    static func fold(_ leaves: [[UInt8]]) -> [UInt8] {
        var level = leaves
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { MerkleTree.nodeHash(level[$0], level[$0 + 1]) }
        }
        return level[0]
    }
}
