import Decoding

/// An event as stored, with everything needed to recheck it.
public struct StoredEvent: Sendable {
    public var seq: Int64
    /// The event's fields; the payload fields are nil when purged.
    public var event: AuditEvent
    public var purged: Bool
    public var payloadSalt: [UInt8]?
    public var payloadDigest: [UInt8]
    public var prevHash: [UInt8]
    public var hash: [UInt8]

    public init(seq: Int64, event: AuditEvent, purged: Bool, payloadSalt: [UInt8]?, payloadDigest: [UInt8],
                prevHash: [UInt8], hash: [UInt8]) {
        self.seq = seq
        self.event = event
        self.purged = purged
        self.payloadSalt = payloadSalt
        self.payloadDigest = payloadDigest
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// The outcome of checking a chain (same fields as `walaudit.verify_chain`).
public struct VerificationReport: Equatable, Sendable {
    public var ok: Bool { firstBadSeq == nil }
    public var checked: Int64 = 0
    public var purged: Int64 = 0
    public var firstBadSeq: Int64?
    public var problem: String?

    public init() {}
}

/// Rechecks events one at a time, in seq order, in constant memory: every
/// seq follows the last, every prev_hash is the last hash, every payload
/// matches its digest (unless purged) and every hash matches its event.
public struct ChainVerifier: Sendable {
    public private(set) var report = VerificationReport()
    private var expectedSeq: Int64
    private var previousHash: [UInt8]?
    /// Heads vouched for by signed checkpoints: seq → hash.
    private var anchors: [Int64: [UInt8]] = [:]

    /// Starts at `fromSeq`; `previousHash` is the hash of `fromSeq - 1` (nil:
    /// take the first event's prev_hash on trust, e.g. for a range).
    public init(fromSeq: Int64 = 1, previousHash: [UInt8]? = Chain.genesisHash) {
        expectedSeq = fromSeq
        self.previousHash = previousHash
    }

    /// Checks signed checkpoints (in file order) and keeps their heads, so
    /// the events are also held against them. A bad signature, a broken link
    /// between checkpoints or another chain's checkpoint is a finding.
    public mutating func anchor(to checkpoints: [Checkpoint], publicKey: [UInt8], chainID: String) {
        var previous: [UInt8]?
        for (index, checkpoint) in checkpoints.enumerated() {
            let line = index + 1
            guard checkpoint.isSigned(by: publicKey) else {
                _ = fail(checkpoint.seq, "checkpoint on line \(line) is not signed by this public key (forged or altered checkpoint file)")
                return
            }
            guard checkpoint.previous == previous else {
                _ = fail(checkpoint.seq, "checkpoint on line \(line) does not link to the one before it (checkpoints removed or reordered)")
                return
            }
            guard checkpoint.chainID == chainID else {
                _ = fail(checkpoint.seq, "checkpoint on line \(line) belongs to chain \(checkpoint.chainID), not to this store's chain \(chainID)")
                return
            }
            anchors[checkpoint.seq] = checkpoint.head
            previous = checkpoint.hash
        }
    }

    /// After the last event: a signed checkpoint beyond it means events were
    /// cut from the tail (or an older copy of the store was restored).
    public mutating func finish() {
        guard report.ok, let highest = anchors.keys.max(), highest >= expectedSeq else { return }
        _ = fail(expectedSeq, "events missing at the tail: the store ends at seq \(expectedSeq - 1), but a signed checkpoint covers seq \(highest) (tail deleted or an older copy restored)")
    }

    /// Checks the next event; returns false once a problem was found.
    @discardableResult
    public mutating func check(_ stored: StoredEvent) -> Bool {
        guard report.ok else { return false }
        let seq = stored.seq
        if seq != expectedSeq {
            return fail(seq < expectedSeq ? seq : expectedSeq,
                        seq < expectedSeq ? "seq \(seq) out of order (expected \(expectedSeq))"
                                          : "events missing: seq \(expectedSeq) to \(seq - 1) are not in the store")
        }
        if let previousHash, stored.prevHash != previousHash {
            return fail(seq, "link broken: prev_hash of seq \(seq) is not the hash of seq \(seq - 1) (events removed, reordered or replaced)")
        }
        if stored.purged {
            report.purged += 1
        } else {
            guard let salt = stored.payloadSalt,
                  Chain.payloadDigest(of: stored.event, salt: salt) == stored.payloadDigest else {
                return fail(seq, "payload altered: row_key, old_row or new_row of seq \(seq) does not match its digest")
            }
        }
        if Chain.hash(seq: seq, event: stored.event, payloadDigest: stored.payloadDigest, prevHash: stored.prevHash) != stored.hash {
            return fail(seq, "event altered: a field of seq \(seq) (time, operation, table, who, where, digest) does not match its hash")
        }
        if let signed = anchors[seq], signed != stored.hash {
            return fail(seq, "seq \(seq) differs from its signed checkpoint: the chain from here on was rewritten (or another copy restored)")
        }
        report.checked += 1
        expectedSeq = seq + 1
        previousHash = stored.hash
        return true
    }

    private mutating func fail(_ seq: Int64, _ problem: String) -> Bool {
        report.firstBadSeq = seq
        report.problem = problem
        return false
    }
}
