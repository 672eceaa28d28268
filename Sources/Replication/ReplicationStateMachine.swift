import Decoding

/// What the stream reader does next. Every step that waits carries its
/// deadline (monotonic seconds), so feedback is never late.
public enum ReplicationStep: Equatable, Sendable {
    /// Send a standby status update confirming `lsn`, then report it with `feedbackSent`.
    case sendFeedback(LSN)
    /// Read the stream until `deadline`. With nothing buffered, first let
    /// `gather` seconds of it arrive (0 when the stream is quiet).
    case read(until: Double, gather: Double)
    /// The store is behind and the handoff is full: read nothing, wait for
    /// the store until `deadline`.
    case waitForStore(until: Double)
}

/// A piece of decoded output to turn into events: `lsn` is the position
/// the plugin tied it to (for a COMMIT, the end of the commit record).
public struct Delivery: Equatable, Sendable {
    public var lsn: LSN
    public var data: [UInt8]

    public init(lsn: LSN, data: [UInt8]) {
        self.lsn = lsn
        self.data = data
    }
}

/// The rule "never confirm past what is stored", as a pure value.
///
/// Events in: messages from the server, committed transactions handed to
/// the store, the store's durable position, whether the handoff is full, and
/// the time. Steps out: deliver, send feedback, read, wait. The session
/// that owns the connection only drives it (pg_recvlogical's loop, with the
/// decisions taken out of the I/O).
///
/// The confirmed LSN is the store's durable position, or the `walEnd` of a
/// keepalive that arrived while the reader had nothing pending, once every
/// transaction handed over before that keepalive is stored: the server had
/// sent everything up to `walEnd`, so all of it is stored or needed no
/// storing. Feedback keeps flowing while reading is paused, so a slow store
/// never makes the walsender time out.
public struct ReplicationStateMachine: Sendable {
    /// Timing choices; the defaults are the worker's.
    public struct Settings: Sendable {
        /// A standby status update at least this often (seconds), as pg_recvlogical's default.
        public var feedbackInterval = 10.0
        /// …and this often while reading is paused: the server's keepalive
        /// requests wait unread in the socket then, so only our own updates
        /// keep `wal_sender_timeout` (60 s by default, settable per session) from firing.
        public var pausedFeedbackInterval = 1.0
        /// While the stream flows (a message arrived within `flowingWindow`)
        /// and the socket is found empty, let this much of it arrive before
        /// reading: at live rates, reading a few records per wake-up had the
        /// worker, its walsender and its store each pay per wake-up (1 ms
        /// instead of 0.2 about halved the walsender's CPU per pgbench
        /// transaction, bench/RESULTS.md, session 8). A backlog is read
        /// without a pause.
        public var gather = 0.001
        public var flowingWindow = 0.001

        public init() {}
    }

    private let settings: Settings
    /// The last LSN sent to the server in a status update.
    public private(set) var confirmed: LSN
    /// Everything up to here is durable in the audit store.
    public private(set) var stored: LSN
    /// The commit LSN of the last transaction handed to the store.
    private var handedOver: LSN
    /// A keepalive's end, received with nothing pending on the reader side,
    /// and what had been handed over by then.
    private var quiet: (walEnd: LSN, handedOver: LSN)?
    private var replyRequested = false
    private var storeFull = false
    private var lastFeedbackAt: Double
    private var lastDataAt = -Double.infinity

    /// Streaming starts at `lsn`, the position stored with the events.
    public init(startingAt lsn: LSN, now: Double, settings: Settings = Settings()) {
        self.settings = settings
        confirmed = lsn
        stored = lsn
        handedOver = lsn
        lastFeedbackAt = now - settings.feedbackInterval  // the first step confirms where we start
    }

    /// Everything up to here may be confirmed (never less than what
    /// already was: a confirmation stays true).
    public var confirmable: LSN {
        guard let quiet, quiet.handedOver <= stored else { return max(stored, confirmed) }
        return max(stored, quiet.walEnd, confirmed)
    }

    /// A message from the server. `readerIdle`: every record received before
    /// it has been handed over (no transaction is half read). Returns what
    /// to deliver, if anything.
    public mutating func receive(_ message: ReplicationMessage, now: Double, readerIdle: Bool) -> Delivery? {
        switch message {
        case .xLogData(let start, _, _, let data):
            lastDataAt = now
            return Delivery(lsn: start, data: data)
        case .keepalive(let walEnd, _, let reply):
            if readerIdle && walEnd > (quiet?.walEnd ?? stored) { quiet = (walEnd, handedOver) }
            replyRequested = replyRequested || reply
            return nil
        }
    }

    /// A committed transaction (empty or not) went to the store.
    public mutating func handedOver(upTo commitLSN: LSN) {
        handedOver = max(handedOver, commitLSN)
    }

    /// The store made everything up to `lsn` durable.
    public mutating func stored(upTo lsn: LSN) {
        stored = max(stored, lsn)
    }

    /// Whether the handoff to the store is full (reading pauses while it is).
    public mutating func store(full: Bool) {
        storeFull = full
    }

    /// What to do now.
    public func nextStep(now: Double) -> ReplicationStep {
        let interval = storeFull ? settings.pausedFeedbackInterval : settings.feedbackInterval
        let confirmable = confirmable
        if confirmable > confirmed || replyRequested || now - lastFeedbackAt >= interval {
            return .sendFeedback(confirmable)
        }
        let deadline = lastFeedbackAt + interval
        if storeFull { return .waitForStore(until: deadline) }
        return .read(until: deadline, gather: now - lastDataAt < settings.flowingWindow ? settings.gather : 0)
    }

    /// A status update confirming `lsn` went out.
    public mutating func feedbackSent(_ lsn: LSN, now: Double) {
        confirmed = max(confirmed, lsn)
        replyRequested = false
        lastFeedbackAt = now
    }
}
