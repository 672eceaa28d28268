import Decoding
import Ledger
import PostgresClient

/// Where the chain stands and which chain it is: the one place these are
/// read from the audit store.
public enum ChainHead {
    /// The last event's seq and hash in hex, nil while the log is empty
    /// (read as the worker reads it, `EventStore.loadChain`).
    public static func read(_ store: Connection) throws(PostgresError) -> (seq: Int64, hash: String)? {
        let chain = try EventStore(connection: store).loadChain()
        return chain.seq == 0 ? nil : (chain.seq, Hex.encode(chain.head))
    }

    /// The store's chain id (`walaudit.chain`), which every signed checkpoint names.
    public static func chainID(_ store: Connection) throws(PostgresError) -> String? {
        try store.execute("SELECT chain_id::text FROM walaudit.chain").scalar
    }

    /// How many GAP events the chain holds (an index keeps them).
    public static func gapCount(_ store: Connection) throws(PostgresError) -> Int64 {
        Int64(try store.execute("SELECT count(*) FROM walaudit.event_log WHERE operation = 'GAP'").scalar ?? "0") ?? 0
    }
}
