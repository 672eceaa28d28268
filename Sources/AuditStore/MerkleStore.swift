import Decoding
import Ledger
import PostgresClient

/// The Merkle tree's stored nodes (`walaudit.merkle_nodes`,
/// sql/store/12_merkle_tree.sql) and what is read from them: the frontier
/// an appender continues from, roots and proofs. A subtree of fewer than
/// 256 leaves is hashed from the chain hashes in `walaudit.event_log`.
public struct MerkleStore {
    public let connection: Connection
    /// Leaf hashes of 256-leaf blocks already read, by block.
    private var blocks: [Int64: [[UInt8]]] = [:]
    private var nodes: [Int64: [UInt8]] = [:]

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// Whether the store has the tree (a store `walaudit setup` has not
    /// upgraded yet has none; the worker goes on without it).
    public static func exists(_ connection: Connection) throws(PostgresError) -> Bool {
        try connection.execute("SELECT to_regclass('walaudit.merkle_nodes') IS NOT NULL").scalar == "t"
    }

    /// Stores the nodes of every complete block not stored yet (a store
    /// older than the tree, or blocks SQL appenders left); returns how many.
    @discardableResult
    public static func extend(_ connection: Connection) throws(PostgresError) -> Int64 {
        Int64(try connection.execute("SELECT walaudit.tree_extend()").scalar ?? "0") ?? 0
    }

    /// Adds nodes an appender closed, in the caller's transaction.
    public static func write(_ closed: [(level: Int, index: Int64, hash: [UInt8])], _ connection: Connection) throws(PostgresError) {
        guard !closed.isEmpty else { return }
        try connection.execute("""
            INSERT INTO walaudit.merkle_nodes (level, idx, hash)
            SELECT l, i, decode(h, 'hex') FROM unnest($1::smallint[], $2::bigint[], $3::text[]) AS t(l, i, h)
            """, [TextArray.literal(closed.map { String($0.level) }), TextArray.literal(closed.map { String($0.index) }),
                  TextArray.literal(closed.map { Hex.encode($0.hash) })])
    }

    /// The frontier of the tree of `size` events: its stored nodes for the
    /// complete blocks, then the leaves after them. The nodes must be
    /// stored (`extend`).
    public mutating func frontier(size: Int64) throws(PostgresError) -> MerkleFrontier {
        let blocked = size / MerkleTree.blockSize * MerkleTree.blockSize
        var subtrees: [(level: Int, hash: [UInt8])] = []
        var offset: Int64 = 0
        for level in stride(from: 62, through: MerkleTree.storedLevel, by: -1) where blocked & (Int64(1) << level) != 0 {
            subtrees.append((level, try subtree(level: level, index: offset >> level)))
            offset += Int64(1) << level
        }
        guard var frontier = MerkleFrontier(size: blocked, subtrees: subtrees) else { preconditionFailure("frontier of \(blocked)") }
        if size > blocked {
            for leaf in try leaves(of: blocked / MerkleTree.blockSize).prefix(Int(size - blocked)) {
                frontier.append(leafHash: leaf)
            }
        }
        return frontier
    }

    /// The root of the tree of `size` events.
    public mutating func root(size: Int64) throws -> [UInt8] {
        size == 0 ? MerkleTree.emptyRoot : try hash(of: 0..<size)
    }

    /// The inclusion proof of the event `seq` in the tree of `size` events.
    public mutating func inclusionProof(seq: Int64, size: Int64) throws -> [[UInt8]] {
        try MerkleTree.inclusionRanges(index: seq - 1, size: size).map { range in try hash(of: range) }
    }

    /// The hash of the leaves `range`.
    public mutating func hash(of range: Range<Int64>) throws -> [UInt8] {
        try MerkleTree.hash(of: range) { level, index in try subtree(level: level, index: index) }
    }

    /// A complete aligned subtree: stored from the block level up (computed
    /// from its halves if it is missing), from a block's leaves below it.
    private mutating func subtree(level: Int, index: Int64) throws(PostgresError) -> [UInt8] {
        if level >= MerkleTree.storedLevel {
            let key = Int64(level) << 56 | index
            if let node = nodes[key] { return node }
            let stored = try connection.execute("SELECT encode(hash, 'hex') FROM walaudit.merkle_nodes WHERE level = $1 AND idx = $2",
                                                [String(level), String(index)]).scalar.flatMap(Hex.decode)
            var node: [UInt8]
            if let stored {
                node = stored
            } else {
                node = MerkleTree.nodeHash(try subtree(level: level - 1, index: index * 2), try subtree(level: level - 1, index: index * 2 + 1))
            }
            nodes[key] = node
            return node
        }
        let first = index << level
        let block = try leaves(of: first / MerkleTree.blockSize)
        let start = Int(first % MerkleTree.blockSize)
        var frontier = MerkleFrontier()
        for leaf in block[start..<start + (1 << level)] { frontier.append(leafHash: leaf) }
        return frontier.root
    }

    /// The leaf hashes of block `block` (as many as exist, up to 256).
    private mutating func leaves(of block: Int64) throws(PostgresError) -> [[UInt8]] {
        if let cached = blocks[block] { return cached }
        let rows = try connection.execute("""
            SELECT encode(hash, 'hex') FROM walaudit.event_log WHERE seq > $1 AND seq <= $2 ORDER BY seq
            """, [String(block * MerkleTree.blockSize), String((block + 1) * MerkleTree.blockSize)]).rows
        let hashes = rows.map { MerkleTree.leafHash(Hex.decode($0[0] ?? "") ?? []) }
        if hashes.count == Int(MerkleTree.blockSize) { blocks[block] = hashes }  // a partial block may still grow
        return hashes
    }
}
