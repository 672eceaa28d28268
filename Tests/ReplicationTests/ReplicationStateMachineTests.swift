import Decoding
import Replication
import Testing
import TestSupport

/// The feedback rules, without I/O: every ordering of stream, store and
/// clock that matters, each replayable.
@Suite struct ReplicationStateMachineTests {
    typealias Machine = ReplicationStateMachine

    static func data(_ lsn: UInt64) -> ReplicationMessage {
        .xLogData(start: LSN(lsn), walEnd: LSN(lsn), sendTime: 0, data: Array("COMMIT".utf8))
    }

    static func keepalive(_ walEnd: UInt64, reply: Bool = false) -> ReplicationMessage {
        .keepalive(walEnd: LSN(walEnd), sendTime: 0, replyRequested: reply)
    }

    /// A machine streaming from 0/64 whose start is confirmed.
    static func streaming() -> Machine {
        var machine = Machine(startingAt: LSN(100), now: 0)
        settle(&machine, now: 0)
        return machine
    }

    /// The reader receives a transaction's COMMIT at `lsn` and hands it to the store.
    static func handOver(_ machine: inout Machine, commit lsn: UInt64, now: Double) {
        _ = machine.receive(data(lsn), now: now, readerIdle: true)
        machine.handedOver(upTo: LSN(lsn))
    }

    /// Sends feedback if it is due (as the session does) and returns what it confirmed.
    @discardableResult
    static func settle(_ machine: inout Machine, now: Double) -> LSN? {
        guard case .sendFeedback(let lsn) = machine.nextStep(now: now) else { return nil }
        machine.feedbackSent(lsn, now: now)
        return lsn
    }

    @Test func firstStepConfirmsWhereStreamingStarts() {
        var machine = Machine(startingAt: LSN(100), now: 0)
        #expect(machine.nextStep(now: 0) == .sendFeedback(LSN(100)))
        machine.feedbackSent(LSN(100), now: 0)
        #expect(machine.nextStep(now: 1) == .read(until: 10, gather: 0))
    }

    @Test func dataIsDeliveredWithItsStartLSN() {
        var machine = Machine(startingAt: LSN(100), now: 0)
        #expect(machine.receive(Self.data(150), now: 0, readerIdle: true) == Delivery(lsn: LSN(150), data: Array("COMMIT".utf8)))
        #expect(machine.receive(Self.keepalive(160), now: 0, readerIdle: true) == nil)
    }

    @Test func nothingHandedOverIsConfirmedBeforeTheStoreSaysSo() {
        var machine = Self.streaming()
        Self.handOver(&machine, commit: 200, now: 1)
        #expect(Self.settle(&machine, now: 1) == nil)
        machine.stored(upTo: LSN(200))
        #expect(Self.settle(&machine, now: 1) == LSN(200), "a store commit is confirmed at once, not at the next poll")
    }

    @Test func anIdleKeepaliveSettlesEverythingTheServerSent() {
        var machine = Self.streaming()
        _ = machine.receive(Self.keepalive(500), now: 1, readerIdle: true)
        #expect(Self.settle(&machine, now: 1) == LSN(500))
    }

    @Test func aKeepaliveInsideATransactionSettlesNothing() {
        var machine = Self.streaming()
        _ = machine.receive(Self.data(120), now: 1, readerIdle: true)  // BEGIN: the reader is now mid-transaction
        _ = machine.receive(Self.keepalive(500), now: 1, readerIdle: false)
        #expect(Self.settle(&machine, now: 1) == nil)
        #expect(machine.confirmable == LSN(100))
    }

    /// An open store batch is unsettled work: an idle keepalive must not
    /// pass a transaction handed over but not yet stored.
    @Test func anIdleKeepaliveWaitsForWhatWasHandedOverBeforeIt() {
        var machine = Self.streaming()
        Self.handOver(&machine, commit: 300, now: 1)
        _ = machine.receive(Self.keepalive(500), now: 1, readerIdle: true)
        #expect(Self.settle(&machine, now: 1) == nil)
        machine.stored(upTo: LSN(250))  // an earlier batch
        #expect(Self.settle(&machine, now: 1) == LSN(250))
        machine.stored(upTo: LSN(300))
        #expect(Self.settle(&machine, now: 1) == LSN(500), "once the batch is stored, the keepalive's end is settled")
    }

    @Test func aReplyRequestIsAnsweredAtOnce() {
        var machine = Self.streaming()
        Self.handOver(&machine, commit: 200, now: 1)
        _ = machine.receive(Self.keepalive(300, reply: true), now: 2, readerIdle: true)
        #expect(machine.nextStep(now: 2) == .sendFeedback(LSN(100)), "the reply confirms only what is stored")
        machine.feedbackSent(LSN(100), now: 2)
        #expect(machine.nextStep(now: 2) == .read(until: 12, gather: 0))
    }

    @Test func feedbackGoesOutEveryIntervalWhenNothingHappens() {
        let machine = Self.streaming()
        #expect(machine.nextStep(now: 9.9) == .read(until: 10, gather: 0))
        #expect(machine.nextStep(now: 10) == .sendFeedback(LSN(100)))
    }

    /// A store slower than the stream pauses reading, never feedback: over
    /// a stall six times longer than a 5 s wal_sender_timeout, an update
    /// goes out every second and none confirms past what is stored.
    @Test func feedbackKeepsFlowingWhileReadingIsPaused() {
        var machine = Self.streaming()
        Self.handOver(&machine, commit: 200, now: 0)
        machine.store(full: true)
        var now = 0.0
        var sent: [Double] = []
        while now < 30 {
            switch machine.nextStep(now: now) {
            case .sendFeedback(let lsn):
                #expect(lsn == LSN(100))
                machine.feedbackSent(lsn, now: now)
                sent.append(now)
            case .waitForStore(let deadline):
                #expect(deadline - now <= 1)
                now = deadline
            case .read:
                Issue.record("read while the store is full")
                return
            }
        }
        #expect(sent.count >= 29)
        #expect(zip(sent, sent.dropFirst()).allSatisfy { $1 - $0 <= 1.0001 })
        machine.stored(upTo: LSN(200))
        machine.store(full: false)
        #expect(machine.nextStep(now: now) == .sendFeedback(LSN(200)))
    }

    @Test func readsGatherOnlyWhileTheStreamFlows() {
        var machine = Self.streaming()
        _ = machine.receive(Self.data(200), now: 5, readerIdle: true)
        #expect(machine.nextStep(now: 5.0005) == .read(until: 10, gather: 0.001))
        #expect(machine.nextStep(now: 5.01) == .read(until: 10, gather: 0))
    }

    @Test func confirmedNeverMovesBack() {
        var machine = Self.streaming()
        machine.stored(upTo: LSN(50))
        _ = machine.receive(Self.keepalive(80), now: 1, readerIdle: true)
        #expect(machine.confirmable == LSN(100))
        #expect(Self.settle(&machine, now: 20) == LSN(100))
        // A settled keepalive stays confirmed when a later one waits for unstored work.
        _ = machine.receive(Self.keepalive(500), now: 21, readerIdle: true)
        #expect(Self.settle(&machine, now: 21) == LSN(500))
        Self.handOver(&machine, commit: 600, now: 22)
        _ = machine.receive(Self.keepalive(700), now: 22, readerIdle: true)
        #expect(machine.confirmable == LSN(500))
        #expect(Self.settle(&machine, now: 40) == LSN(500))
    }

    /// Random interleavings of a stream of transactions (some with nothing
    /// to store) and keepalives with a store that commits in batches, late,
    /// or fails and never stores again: no feedback ever confirms past the
    /// first transaction handed over and not stored yet, and once everything
    /// is stored and the server idles, all of it is confirmed. The seed is
    /// printed; WALAUDIT_TEST_SEED replays a run.
    @Test func noOrderingConfirmsPastWhatIsStored() {
        var random = SeededRandom()
        for round in 0..<200 {
            var machine = Machine(startingAt: LSN(1_000), now: 0)
            var now = 0.0
            var lsn: UInt64 = 1_000
            var pending: [UInt64] = []        // handed over, not stored (commit LSNs, in order)
            var inTransaction = false
            var sentWalEnd: UInt64 = 1_000
            var storeFailed = false
            for _ in 0..<200 {
                now += Double.random(in: 0...0.5, using: &random)
                switch Int.random(in: 0..<6, using: &random) {
                case 0, 1:  // a record: BEGIN, a change, or COMMIT
                    lsn += UInt64.random(in: 1...100, using: &random)
                    sentWalEnd = lsn
                    _ = machine.receive(Self.data(lsn), now: now, readerIdle: !inTransaction)
                    if !inTransaction {
                        inTransaction = true
                    } else if Bool.random(using: &random) {
                        inTransaction = false
                        machine.handedOver(upTo: LSN(lsn))
                        // One with nothing to store is settled at once by an idle writer; else it joins the batch.
                        let empty = Int.random(in: 0..<3, using: &random) == 0
                        if empty && pending.isEmpty && !storeFailed { machine.stored(upTo: LSN(lsn)) } else { pending.append(lsn) }
                    }
                case 2:  // a keepalive (the server may have skipped WAL nobody audits)
                    if !inTransaction { lsn += UInt64.random(in: 0...50, using: &random) }
                    sentWalEnd = lsn
                    _ = machine.receive(Self.keepalive(lsn, reply: Bool.random(using: &random)), now: now, readerIdle: !inTransaction)
                case 3 where storeFailed:
                    break
                case 3:  // the store commits a prefix of what it holds, or fails for good
                    storeFailed = round % 5 == 0 && Int.random(in: 0..<20, using: &random) == 0
                    let count = storeFailed ? 0 : Int.random(in: 0...pending.count, using: &random)
                    if count > 0 { machine.stored(upTo: LSN(pending[count - 1])) }
                    pending.removeFirst(count)
                case 4:
                    machine.store(full: Bool.random(using: &random))
                default:
                    break
                }
                if let confirmed = Self.settle(&machine, now: now) {
                    let limit = pending.first.map { $0 - 1 } ?? sentWalEnd
                    #expect(confirmed.rawValue <= limit, "\(random), round \(round): confirmed \(confirmed) past unstored work (limit \(limit))")
                    if confirmed.rawValue > limit { return }
                }
            }
            if storeFailed { continue }
            // Drain: the transaction finishes, the store catches up, the server idles.
            if inTransaction {
                lsn += 1
                _ = machine.receive(Self.data(lsn), now: now, readerIdle: false)
                machine.handedOver(upTo: LSN(lsn))
                pending.append(lsn)
            }
            if let last = pending.last { machine.stored(upTo: LSN(last)) }
            _ = machine.receive(Self.keepalive(lsn + 10), now: now, readerIdle: true)
            Self.settle(&machine, now: now)
            #expect(machine.confirmed == LSN(lsn + 10), "round \(round)")
        }
    }
}
