import Glibc
import Decoding

/// The outcome of checking a chain (same fields as `walaudit.verify_chain`).
public struct VerificationReport: Equatable, Sendable {
    public var ok: Bool { firstBadSeq == nil }
    public var checked: Int64 = 0
    public var purged: Int64 = 0
    /// Seqs of GAP events: the chain is intact, the trail says it is incomplete there.
    public var gaps: [Int64] = []
    public var firstBadSeq: Int64?
    public var problem: String?

    public init() {}
}

/// Rechecks events one at a time, in seq order, in constant memory: every
/// seq follows the last, every prev_hash is the last hash, every payload
/// matches its digest (unless purged), every hash matches its event and,
/// given the chain's `accounting`, every purge was made by retention.
public struct ChainVerifier: Sendable {
    public private(set) var report = VerificationReport()
    /// What the chain's POLICY events account for; nil: purges are not checked.
    public var accounting: PurgeAccounting?
    /// nil: take the first event's seq on trust (a range, see `continuation()`).
    private var expectedSeq: Int64?
    private var previousHash: [UInt8]?
    /// The first event checked (its seq and prev_hash), for joining ranges.
    private var first: (seq: Int64, prevHash: [UInt8]?)?
    /// Heads vouched for by signed checkpoints: seq → hash.
    private var anchors: [Int64: [UInt8]] = [:]
    /// Reused for every preimage and digest (no allocation per event).
    private var encoder = CanonicalEncoder()
    private let hasher = SHA256Hasher()

    /// Starts at `fromSeq`; `previousHash` is the hash of `fromSeq - 1` (nil:
    /// take the first event's seq or prev_hash on trust, e.g. for a range).
    public init(fromSeq: Int64? = 1, previousHash: [UInt8]? = Chain.genesisHash) {
        expectedSeq = fromSeq
        self.previousHash = previousHash
    }

    /// A verifier for a later range of the same chain, checked on its own
    /// (another thread): same checkpoints, its first event taken on trust
    /// until `append(_:)` joins it to the range before it.
    public func continuation() -> ChainVerifier {
        var next = ChainVerifier(fromSeq: nil, previousHash: nil)
        next.anchors = anchors
        next.accounting = accounting
        return next
    }

    /// Joins the verifier of the range that follows this one (made by
    /// `continuation()`): its first event must follow this range's last, as
    /// if one verifier had read both ranges in turn.
    public mutating func append(_ next: ChainVerifier) {
        guard report.ok, let first = next.first else { return }  // an empty range changes nothing
        if let expectedSeq, first.seq != expectedSeq {
            _ = failSeq(first.seq, expected: expectedSeq)
            return
        }
        if let previousHash, let linked = first.prevHash, previousHash != linked {
            _ = failLink(first.seq)
            return
        }
        report.checked += next.report.checked
        report.purged += next.report.purged
        report.gaps += next.report.gaps
        report.firstBadSeq = next.report.firstBadSeq
        report.problem = next.report.problem
        expectedSeq = next.expectedSeq
        previousHash = next.previousHash
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

    /// A stored row with a seq below 1: outside the chain, so no link shows
    /// it; reported before anything else (as `walaudit.verify_chain` does).
    public mutating func rowOutsideChain(seq: Int64) {
        guard report.ok else { return }
        _ = fail(seq, "seq \(seq) is outside the chain (seqs start at 1): a row was added to the event log")
    }

    /// After the last event: a signed checkpoint beyond it means events were
    /// cut from the tail (or an older copy of the store was restored).
    public mutating func finish() {
        let next = expectedSeq ?? 1
        guard report.ok, let highest = anchors.keys.max(), highest >= next else { return }
        _ = fail(next, "events missing at the tail: the store ends at seq \(next - 1), but a signed checkpoint covers seq \(highest) (tail deleted or an older copy restored)")
    }

    /// Checks the next event; returns false once a problem was found.
    /// Throws only when a stored value cannot be read at all.
    @discardableResult
    public mutating func check(_ stored: StoredEvent) throws -> Bool {
        guard report.ok else { return false }
        let seq = stored.seq
        if first == nil { first = (seq, stored.prevHash.map(Array.init)) }
        if let expectedSeq, seq != expectedSeq { return failSeq(seq, expected: expectedSeq) }
        guard let prevHash = stored.prevHash else { return fail(seq, "link broken: seq \(seq) has no prev_hash") }
        if let previousHash, !Self.same(previousHash, prevHash) { return failLink(seq) }
        if stored.purged {
            // Otherwise marking an event purged would hide an altered payload.
            guard !stored.holdsPayload else {
                return fail(seq, "payload altered: seq \(seq) is marked purged but still holds a payload")
            }
            report.purged += 1
        } else {
            encoder.removeAll()
            encoder.raw(Chain.payloadDomain)
            guard let salt = stored.payloadSalt, let digest = stored.payloadDigest else {
                return fail(seq, "payload altered: seq \(seq) has no payload salt or digest but is not marked purged")
            }
            encoder.raw(salt)
            try stored.encodePayload(into: &encoder)
            encoder.withBytes(hasher.hash)
            guard Self.same(hasher.digest, digest) else {
                return fail(seq, "payload altered: row_key, old_row or new_row of seq \(seq) does not match its digest")
            }
        }
        if let field = stored.unencodableField {
            return fail(seq, "event altered: \(field) of seq \(seq) has no encoding in the chain, so no hash can vouch for it")
        }
        encoder.removeAll()
        encoder.raw(Chain.eventDomain)
        encoder.raw(prevHash)
        try stored.encodeHashFields(into: &encoder)
        let hash = stored.hash
        encoder.withBytes(hasher.hash)
        guard Self.same(hasher.digest, hash) else {
            return fail(seq, "event altered: a field of seq \(seq) (time, operation, table, who, where, digest) does not match its hash")
        }
        if let signed = anchors[seq], !Self.same(signed, hash) {
            return fail(seq, "seq \(seq) differs from its signed checkpoint: the chain from here on was rewritten (or another copy restored)")
        }
        if stored.purged, accounting?.accounts(for: stored) == false {
            return fail(seq, "purged outside retention: the payload of seq \(seq) was purged, but no apply_retention run accounts for it "
                + "(none purged it under the retention then in force, older than its cutoff, held by no legal hold)")
        }
        if stored.isGap { report.gaps.append(seq) }
        report.checked += 1
        expectedSeq = seq + 1
        if previousHash?.count == hash.count {
            previousHash!.withUnsafeMutableBytes { $0.copyMemory(from: hash) }  // no allocation per event
        } else {
            previousHash = Array(hash)
        }
        return true
    }

    private static func same(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.isEmpty || a.withUnsafeBytes { memcmp($0.baseAddress!, b.baseAddress!, a.count) == 0 })
    }

    private mutating func failSeq(_ seq: Int64, expected: Int64) -> Bool {
        fail(seq < expected ? seq : expected,
             seq < expected ? "seq \(seq) out of order (expected \(expected))"
                            : "events missing: seq \(expected) to \(seq - 1) are not in the store")
    }

    private mutating func failLink(_ seq: Int64) -> Bool {
        fail(seq, "link broken: prev_hash of seq \(seq) is not the hash of seq \(seq - 1) (events removed, reordered or replaced)")
    }

    private mutating func fail(_ seq: Int64, _ problem: String) -> Bool {
        report.firstBadSeq = seq
        report.problem = problem
        return false
    }
}
