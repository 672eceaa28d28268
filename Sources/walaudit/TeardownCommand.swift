import ArgumentParser
import AuditStore

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
        let (source, store) = try connection.connectBoth()
        let outcome: (detached: [String], slot: Teardown.SlotOutcome)
        do {
            outcome = try Teardown.run(source: source, store: store, slot: slot, dropSlot: dropSlot)
        } catch let busy as Teardown.WorkerConnected {
            throw CLIError("\(busy)")
        } catch {
            throw CLIError(error, context: "teardown failed")
        }
        for table in outcome.detached { print("detached \(table)") }
        switch outcome.slot {
        case .absent:
            print("no replication slot \(slot)")
        case .kept(let confirmedLSN):
            print("""
                WARNING: replication slot \(slot) still exists and keeps the source's WAL from \(confirmedLSN ?? "?") on. \
                An abandoned slot fills the disk: once the worker has stored what is left (walaudit status: lag_bytes), \
                run walaudit teardown --drop-slot.
                """)
        case .dropped:
            print("dropped replication slot \(slot); a GAP event in the chain records where capture ended")
        }
        print("the audit trail (walaudit.event_log) is kept")
    }
}
