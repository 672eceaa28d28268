import Decoding

/// The hash chain (docs/chain-format.md, version 1):
///
///     payload_digest = SHA-256("walaudit/payload/v1\0" ‖ salt ‖ enc(row_key) ‖ enc(old_row) ‖ enc(new_row))
///     hash           = SHA-256("walaudit/event/v1\0" ‖ prev_hash ‖ enc(metadata fields…) ‖ enc(payload_digest))
///
/// The 16-byte random salt keeps a purged low-entropy payload (a status
/// flag, a small amount) from being recovered by hashing guesses.
public struct Chain: Sendable {
    /// The last event's sequence number (0 before the first event).
    public private(set) var seq: Int64
    /// The last event's hash (32 zero bytes before the first event).
    public private(set) var head: [UInt8]

    public static let genesisHash = [UInt8](repeating: 0, count: 32)
    static let eventDomain = Array("walaudit/event/v1".utf8) + [0]
    static let payloadDomain = Array("walaudit/payload/v1".utf8) + [0]

    /// The encoder and hashing context `append` reuses from one event to the
    /// next (a fresh encoder and an OpenSSL context per digest were most of
    /// the allocations per event). Copy on write: a copy that appends first
    /// takes a workspace of its own, so two copies never share its buffers
    /// or draw the same salts, on one thread or two.
    private var workspace = Workspace()

    private final class Workspace: @unchecked Sendable {
        var encoder = CanonicalEncoder()
        let hasher = SHA256Hasher()
        /// Salts drawn from the CSPRNG 256 at a time: one `RAND_bytes` call
        /// per event was 7 % of the worker's CPU.
        private var salts: [UInt8] = []
        private var saltsUsed = 0

        /// The next unused 16 random bytes.
        func nextSalt() -> [UInt8] {
            if saltsUsed == salts.count {
                salts = Crypto.randomBytes(16 * 256)
                saltsUsed = 0
            }
            defer { saltsUsed += 16 }
            return Array(salts[saltsUsed..<saltsUsed + 16])
        }

        /// SHA-256 of what `encode` writes.
        func digest(_ encode: (inout CanonicalEncoder) -> Void) -> [UInt8] {
            encoder.removeAll()
            encode(&encoder)
            encoder.withBytes(hasher.hash)
            return hasher.digest
        }
    }

    public init(seq: Int64 = 0, head: [UInt8] = Chain.genesisHash) {
        self.seq = seq
        self.head = head
    }

    /// Links `event` after the head and advances the head; `salt` is fresh
    /// random bytes unless given (test vectors give theirs).
    public mutating func append(_ event: AuditEvent, salt: [UInt8]? = nil) -> ChainedEvent {
        if !isKnownUniquelyReferenced(&workspace) { workspace = Workspace() }
        var chained = ChainedEvent(seq: seq + 1, event: event, payloadSalt: salt ?? workspace.nextSalt(), payloadDigest: [],
                                   prevHash: head, hash: [])
        let digest = workspace.digest { Self.encodePayload(of: chained, into: &$0) }
        chained.payloadDigest = digest
        let hash = workspace.digest { Self.encodeHashed(chained, into: &$0) }
        chained.hash = hash
        seq = chained.seq
        head = hash
        return chained
    }

    public static func payloadDigest(of event: AuditEvent, salt: [UInt8]) -> [UInt8] {
        Crypto.sha256(payloadPreimage(of: event, salt: salt))
    }

    /// The bytes the payload digest hashes (docs/chain-format.md).
    public static func payloadPreimage(of event: AuditEvent, salt: [UInt8]) -> [UInt8] {
        var e = CanonicalEncoder()
        encodePayload(of: ChainedEvent(seq: 0, event: event, payloadSalt: salt, payloadDigest: [], prevHash: [], hash: []), into: &e)
        return e.bytes
    }

    /// The domain, the salt, then the payload fields in `EventField` order.
    private static func encodePayload(of c: ChainedEvent, into e: inout CanonicalEncoder) {
        e.raw(payloadDomain)
        e.raw(c.payloadSalt)
        for field in EventField.payload { e.field(field.value(of: c)) }
    }

    public static func hash(seq: Int64, event: AuditEvent, payloadDigest: [UInt8], prevHash: [UInt8]) -> [UInt8] {
        Crypto.sha256(hashPreimage(seq: seq, event: event, payloadDigest: payloadDigest, prevHash: prevHash))
    }

    /// The bytes the event hash hashes (docs/chain-format.md).
    public static func hashPreimage(seq: Int64, event: AuditEvent, payloadDigest: [UInt8], prevHash: [UInt8]) -> [UInt8] {
        var e = CanonicalEncoder()
        encodeHashed(ChainedEvent(seq: seq, event: event, payloadSalt: [], payloadDigest: payloadDigest, prevHash: prevHash, hash: []),
                     into: &e)
        return e.bytes
    }

    /// The domain, prev_hash, then the hashed fields in `EventField` order.
    private static func encodeHashed(_ c: ChainedEvent, into e: inout CanonicalEncoder) {
        e.raw(eventDomain)
        e.raw(c.prevHash)
        for field in EventField.hashed { e.field(field.value(of: c)) }
    }
}
