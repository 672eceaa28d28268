import ArgumentParser
import Foundation
import PostgresClient

/// `walaudit teardown`: stop capturing on the source; the trail stays.
struct TeardownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Stop capture on the source: detach every table, optionally drop the slot. The audit trail is kept.",
        discussion: """
            Refuses while a worker is connected to the slot (stop it first). Without --drop-slot \
            the slot stays and keeps WAL for a worker that may come back: an abandoned slot \
            fills the source's disk, so drop it once you are done (after the worker has drained, \
            see walaudit status). With --drop-slot a GAP event records, in the chain, where \
            capture ended. Nothing in the audit store is deleted.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Also drop the replication slot (changes not yet stored are then never captured; a GAP event says so).")
    var dropSlot = false

    func run() throws {
        let slot = connection.slot
        let source = try connection.connectSource()
        let store = connection.targetConninfo == connection.sourceConninfo ? source : try connection.connectTarget()
        do {
            let slotRow = try source.execute("SELECT active_pid, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                                             [slot]).rows.first
            if let pid = slotRow?[0] {
                throw CLIError("a worker is connected to slot \(slot) (pid \(pid)): stop it first (SIGTERM drains and exits)")
            }
            let tables = try source.execute("""
                SELECT format('%I.%I', n.nspname, c.relname) FROM walaudit.capture_tables t
                JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1
                """).rows.compactMap { $0[0] }
            for table in tables {
                try source.execute("SELECT walaudit.detach($1::regclass)", [table])
                print("detached \(table)")
            }
            guard let slotRow else {
                print("no replication slot \(slot); the audit trail is kept")
                return
            }
            guard dropSlot else {
                print("""
                    WARNING: replication slot \(slot) still exists and keeps the source's WAL from \(slotRow[1] ?? "?") on. \
                    An abandoned slot fills the disk: once the worker has stored what is left (walaudit status: lag_bytes), \
                    run walaudit teardown --drop-slot.
                    """)
                return
            }
            let stored = try store.execute("SELECT last_lsn::text FROM walaudit.capture_state WHERE slot = $1", [slot]).scalar
            let current = try source.execute("SELECT pg_current_wal_lsn()::text").scalar
            try store.execute("""
                SELECT walaudit.append_event('GAP', NULL, NULL, NULL, NULL, jsonb_build_object(
                    'reason', 'capture torn down', 'slot', $1::text, 'last_stored_lsn', $2::text, 'source_lsn', $3::text,
                    'detail', 'the slot was dropped: changes committed after the last stored LSN are not in the trail'))
                """, [slot, stored, current])
            try source.execute("SELECT pg_drop_replication_slot($1)", [slot])
            print("dropped replication slot \(slot); a GAP event in the chain records where capture ended")
        } catch let error as PostgresError {
            throw CLIError("teardown failed: \(error)")
        }
        print("the audit trail (walaudit.event_log) is kept")
    }
}
