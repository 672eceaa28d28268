import Capture
import Decoding
import Foundation
import Glibc
import PostgresClient
import Synchronization

/// The one meeting point of the stream reader and the store writer thread.
///
/// The reader hands committed transactions over in commit order and never
/// blocks here: when the queue is full it stops reading the stream (and
/// keeps sending feedback) until the writer has caught up. The writer tells
/// the reader only what it must act on — a commit made durable, room again
/// in a full queue, a failure — by raising `changed` and writing a byte to
/// `wake`, a pipe the reader polls together with the replication socket.
final class Handoff: @unchecked Sendable {  // the fields below `condition` are guarded by it
    private let condition = NSCondition()
    private var queue: [CommittedTransaction] = []
    private var queuedChanges = 0
    private var queuedBytes = 0
    private var stored: LSN
    private var failure: (any Error)?
    private var finishing = false
    private var writerRunning = true

    private let changeLimit: Int
    private let byteLimit: Int
    /// Raised by the writer with news for the reader; checked once per
    /// message without taking the lock.
    private let changed = Atomic<Bool>(false)
    /// Whether a wake byte may be pending: at most one is written per drain.
    private let signalled = Atomic<Bool>(false)
    /// Set when the session failed: the writer stops before its next transaction.
    private let cancelled = Atomic<Bool>(false)
    /// The read end of the wake pipe.
    let wake: Int32
    private let wakeWriter: Int32

    init(stored: LSN, changeLimit: Int, byteLimit: Int) {
        self.stored = stored
        self.changeLimit = changeLimit
        self.byteLimit = byteLimit
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { fatalError("pipe() failed: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        (wake, wakeWriter) = (ends[0], ends[1])
    }

    deinit {
        close(wake)
        close(wakeWriter)
    }

    private var isFull: Bool { queuedChanges >= changeLimit || queuedBytes >= byteLimit }  // under the lock

    // MARK: Reader side

    /// Queues a committed transaction (one larger than the limits too: it
    /// is already read). Returns whether the queue is now full.
    func put(_ transaction: CommittedTransaction) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        queue.append(transaction)
        queuedChanges += transaction.changeCount
        queuedBytes += transaction.memoryBytes
        condition.signal()
        return isFull
    }

    /// What the store has made durable and whether the queue is full, if
    /// the writer has news since the last call; throws the writer's error
    /// once it stopped on one.
    func news() throws -> (stored: LSN, full: Bool)? {
        guard changed.exchange(false, ordering: .acquiringAndReleasing) else { return nil }
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        return (stored, isFull)
    }

    /// Empties the wake pipe; the reader calls it whenever a wait ended
    /// without a message (the pipe may have been what ended it).
    func drainWake() {
        signalled.store(false, ordering: .releasing)  // cleared first: a signal that comes in between writes again
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(wake, &bytes, bytes.count) > 0 {}
    }

    /// Waits for the writer's next news, at most until `deadline` (monotonic seconds).
    func waitForNews(until deadline: Double) {
        var descriptor = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(max(0, (deadline - monotonicSeconds()) * 1000).rounded(.up)))
        drainWake()
    }

    /// Asks the writer to store everything handed over, commit and stop.
    func requestFinish() {
        condition.lock()
        finishing = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits at most until `deadline` for the writer to stop; returns what is
    /// then durable once it has, or nil while it still runs. Throws its error.
    func writerResult(until deadline: Double) throws -> LSN? {
        condition.lock()
        defer { condition.unlock() }
        while writerRunning {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { return nil }
            _ = condition.wait(until: Date(timeIntervalSinceNow: remaining))
        }
        if let failure { throw failure }
        return stored
    }

    /// What the store has made durable so far.
    var durable: LSN {
        condition.lock()
        defer { condition.unlock() }
        return stored
    }

    /// Stops the writer without storing what it has not committed (the
    /// session failed): it stops before its next transaction and rolls back
    /// its open batch. No-op once it has stopped.
    func cancel() {
        cancelled.store(true, ordering: .releasing)
        condition.lock()
        defer { condition.unlock() }
        if writerRunning && failure == nil { failure = CancellationError() }
        condition.broadcast()
        while writerRunning { condition.wait() }
    }

    // MARK: Writer side

    /// Waits until transactions arrive, the reader finishes, or `deadline`
    /// (monotonic seconds); returns them (in order) and whether the reader
    /// is finishing, or nil once the session was cancelled.
    func take(until deadline: Double) -> (work: [CommittedTransaction], finishing: Bool)? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finishing && failure == nil {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: remaining))
        }
        if failure != nil { return nil }
        let work = queue
        queue.removeAll()
        return (work, finishing)
    }

    /// Whether the session was cancelled (checked between transactions).
    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// The transactions from `take` are written: their memory is free. A
    /// reader paused on a full queue hears of the room.
    func written(_ work: [CommittedTransaction]) {
        guard !work.isEmpty else { return }
        condition.lock()
        let wasFull = isFull
        queuedChanges -= work.reduce(0) { $0 + $1.changeCount }
        queuedBytes -= work.reduce(0) { $0 + $1.memoryBytes }
        let roomAgain = wasFull && !isFull
        condition.unlock()
        if roomAgain { tell() }
    }

    /// Whether nothing waits: the writer has caught up with the stream.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return queue.isEmpty
    }

    /// Everything up to `lsn` is durable in the store.
    func publish(stored lsn: LSN) {
        condition.lock()
        stored = max(stored, lsn)
        condition.unlock()
        tell()
    }

    /// The writer stopped on `error`.
    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.unlock()
        tell()
    }

    /// The writer thread has ended.
    func writerEnded() {
        condition.lock()
        writerRunning = false
        condition.broadcast()
        condition.unlock()
    }

    private func tell() {
        changed.store(true, ordering: .releasing)
        guard !signalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
    }
}
