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
/// keeps sending feedback) until the writer has caught up. The writer
/// publishes what it made durable; the reader hears of it at once through
/// `wake`, a pipe it polls together with the replication socket.
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
    /// A pipe's read end, readable once the writer published progress or failed.
    let wake: Int32
    private let wakeWriter: Int32
    /// Whether `wake` holds a signal: the writer writes it and the reader
    /// drains it only on a change, not once per message.
    private let signalled = Atomic<Bool>(false)

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

    // MARK: Reader side

    /// Queues a committed transaction (one larger than the limits too: it
    /// is already read, and reading pauses until it is stored).
    func put(_ transaction: CommittedTransaction) {
        condition.lock()
        queue.append(transaction)
        queuedChanges += transaction.changeCount
        queuedBytes += transaction.memoryBytes
        condition.signal()
        condition.unlock()
    }

    /// What the store has made durable, and whether the queue is full.
    /// Throws the writer's error once it stopped on one.
    func progress() throws -> (stored: LSN, full: Bool) {
        // Cleared before draining: a signal that comes in between writes again.
        if signalled.exchange(false, ordering: .acquiringAndReleasing) {
            var bytes = [UInt8](repeating: 0, count: 16)
            _ = read(wake, &bytes, bytes.count)
        }
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        return (stored, queuedChanges >= changeLimit || queuedBytes >= byteLimit)
    }

    /// Waits for the writer's next progress, at most until `deadline` (monotonic seconds).
    func waitForProgress(until deadline: Double) {
        var descriptor = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(max(0, (deadline - monotonicSeconds()) * 1000).rounded(.up)))
    }

    /// Asks the writer to store everything handed over, commit and stop;
    /// returns what is then durable, or the writer's error.
    func finish() throws -> LSN {
        condition.lock()
        defer { condition.unlock() }
        finishing = true
        condition.broadcast()
        while writerRunning { condition.wait() }
        if let failure { throw failure }
        return stored
    }

    /// Stops the writer without storing what is queued (the session
    /// failed): its open batch is rolled back. No-op once it has stopped.
    func cancel() {
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

    /// The transactions from `take` are written: their memory is free.
    func written(_ work: [CommittedTransaction]) {
        condition.lock()
        queuedChanges -= work.reduce(0) { $0 + $1.changeCount }
        queuedBytes -= work.reduce(0) { $0 + $1.memoryBytes }
        condition.unlock()
        signal()
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
        signal()
    }

    /// The writer stopped on `error`.
    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.unlock()
        signal()
    }

    /// The writer thread has ended.
    func writerEnded() {
        condition.lock()
        writerRunning = false
        condition.broadcast()
        condition.unlock()
    }

    private func signal() {
        guard !signalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
    }
}
