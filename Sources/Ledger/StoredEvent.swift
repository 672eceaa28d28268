import Decoding

/// One stored event as the binary values of its columns.
public struct StoredEvent {
    /// How a column's binary value becomes a canonical field.
    enum Kind {
        case integer, timestamp, text, textArray, json, bytes
    }

    /// The fields of the event hash, in chain order (docs/chain-format.md),
    /// as the stored columns that hold them.
    static let hashFields: [(column: String, kind: Kind)] = [
        ("seq", .integer), ("event_time", .timestamp), ("operation", .text), ("schema_name", .text),
        ("table_name", .text), ("changed_columns", .textArray), ("db_user", .text), ("role_name", .text),
        ("app_user", .text), ("app_context", .json), ("application_name", .text),
        // inet's output form (127.0.0.1, not the ::text cast's 127.0.0.1/32)
        ("CASE WHEN client_addr IS NOT NULL THEN format('%s', client_addr) END", .text),
        ("client_port", .integer), ("backend_pid", .integer), ("xid", .integer), ("lsn", .integer),
        ("lsn_position", .integer), ("payload_digest", .bytes),
    ]
    /// The payload the digest covers, in order.
    static let payloadFields: [(column: String, kind: Kind)] = [("row_key", .json), ("old_row", .json), ("new_row", .json)]
    static let saltColumn = hashFields.count + payloadFields.count
    // The kinds alone: iterating the tuples retains and releases their strings.
    static let hashKinds = hashFields.map(\.kind)
    static let payloadKinds = payloadFields.map(\.kind)
    public static let selectList = (hashFields + payloadFields).map(\.column).joined(separator: ", ")
        + ", payload_salt, prev_hash, hash, purged_at IS NOT NULL"

    private let message: UnsafeRawBufferPointer
    private let fields: [Range<Int>?]
    public let seq: Int64
    /// True when retention purged the payload (its digest stays).
    public let purged: Bool

    public init(message: UnsafeRawBufferPointer, fields: [Range<Int>?]) throws(BinaryCopyError) {
        guard fields.count == Self.saltColumn + 4, let seq = fields[0], seq.count == 8,
              let purged = fields[Self.saltColumn + 3], purged.count == 1, fields[Self.saltColumn + 2] != nil else {
            throw BinaryCopyError("unexpected columns in walaudit.event_log")
        }
        self.message = message
        self.fields = fields
        self.seq = BinaryCopyReader.int64(message, at: seq.lowerBound)
        self.purged = message[purged.lowerBound] != 0
    }

    private func field(_ index: Int) -> UnsafeRawBufferPointer? {
        fields[index].map { UnsafeRawBufferPointer(rebasing: message[$0]) }
    }

    public var payloadSalt: UnsafeRawBufferPointer? { field(Self.saltColumn) }
    /// Whether this is a GAP event (operation is the third column).
    public var isGap: Bool { field(2).map { $0.elementsEqual("GAP".utf8) } ?? false }
    /// Whether any payload column or the salt is still there.
    public var holdsPayload: Bool { (Self.hashFields.count...Self.saltColumn).contains { fields[$0] != nil } }
    public var payloadDigest: UnsafeRawBufferPointer? { field(Self.hashFields.count - 1) }
    public var prevHash: UnsafeRawBufferPointer? { field(Self.saltColumn + 1) }
    public var hash: UnsafeRawBufferPointer { field(Self.saltColumn + 2)! }

    /// The bytes the event hash covers, after the domain tag and prev_hash.
    func encodeHashFields(into encoder: inout CanonicalEncoder) throws(JSONSyntaxError) {
        for (index, kind) in Self.hashKinds.enumerated() { try encode(index, as: kind, into: &encoder) }
    }

    /// The bytes the payload digest covers, after the domain tag and salt.
    func encodePayload(into encoder: inout CanonicalEncoder) throws(JSONSyntaxError) {
        for (offset, kind) in Self.payloadKinds.enumerated() {
            try encode(Self.hashKinds.count + offset, as: kind, into: &encoder)
        }
    }

    private func encode(_ index: Int, as kind: Kind, into e: inout CanonicalEncoder) throws(JSONSyntaxError) {
        guard let value = field(index) else { return e.null() }
        switch kind {
        case .integer:
            // int4 or int8 (pg_lsn: the same 8 bytes, unsigned)
            e.integer(value.count == 4 ? Int64(BinaryCopyReader.int32(value, at: 0)) : BinaryCopyReader.int64(value, at: 0))
        case .timestamp:
            // microseconds since 2000-01-01 UTC → since 1970
            e.timestamp(PostgresTimestamp(microsecondsSinceEpoch: BinaryCopyReader.int64(value, at: 0) &+ postgresEpochOffsetMicroseconds))
        case .text:
            e.text(bytes: value)
        case .bytes:
            e.data(bytes: value)
        case .json:
            // jsonb's binary form: version 1, then its text
            guard value.first == 1 else { throw JSONSyntaxError(offset: 0, reason: "unknown jsonb binary version") }
            try e.json(text: UnsafeRawBufferPointer(rebasing: value.dropFirst()))
        case .textArray:
            // ndim, has-null flag, element type, (size, lower bound) per
            // dimension, then the elements in order (-1 length: NULL)
            let dimensions = Int(BinaryCopyReader.int32(value, at: 0))
            var offset = 12 + 8 * dimensions
            e.textArray { e in
                while offset + 4 <= value.count {
                    let length = Int(BinaryCopyReader.int32(value, at: offset))
                    offset += 4
                    if length < 0 {
                        e.null()
                    } else {
                        e.text(bytes: UnsafeRawBufferPointer(rebasing: value[offset..<min(offset + length, value.count)]))
                        offset += length
                    }
                }
            }
        }
    }
}
