import Decoding
import Foundation
import Ledger
import PostgresClient

extension EventStore {
    /// Chains a GAP event saying that changes after `lastLSN` are gone
    /// because `slot` was invalidated, unless the chain's last event already
    /// says exactly that (a worker restarted on the same lost slot).
    /// Returns what the trail is missing, for the operator.
    public func recordSlotLoss(slot: String, lastLSN: LSN) throws -> String {
        let detail = "changes committed after \(lastLSN) until the slot was recreated are not in the trail"
        try connection.execute("BEGIN")
        do {
            var chain = try lockChain()
            let recorded = try connection.execute("""
                SELECT 1 FROM walaudit.event_log WHERE seq = $1 AND operation = 'GAP'
                  AND new_row->>'reason' = 'slot invalidated' AND new_row->>'slot' = $2 AND new_row->>'last_stored_lsn' = $3
                """, [String(chain.seq), slot, lastLSN.description])
            if recorded.rows.isEmpty {
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                let event = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: now), operation: .gap,
                                       newRow: .object([.init("reason", .string("slot invalidated")), .init("slot", .string(slot)),
                                                        .init("last_stored_lsn", .string(lastLSN.description)),
                                                        .init("detail", .string(detail))]))
                try write(chain.append(event))
                try finishCopy()
                try MerkleStore.extend(connection)  // in case it completed a block
            }
            try connection.execute("COMMIT")
        } catch {
            abandon()
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
        return detail
    }
}
