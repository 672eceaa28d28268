import Decoding

/// One stored event as the binary values of its columns: the columns of
/// `EventField.stored` in that order, then whether it is purged.
public struct StoredEvent {
    /// What `walaudit.event_log` is read with: every chain column, then the
    /// purged flag. inet is read in its output form (127.0.0.1, not the
    /// ::text cast's 127.0.0.1/32), the form the chain hashes.
    public static let selectList = EventField.stored.map { field in
        field.columnType == .inet ? "CASE WHEN \(field.name) IS NOT NULL THEN format('%s', \(field.name)) END" : field.name
    }.joined(separator: ", ") + ", purged_at IS NOT NULL"
    static let purgedColumn = EventField.stored.count

    private let message: UnsafeRawBufferPointer
    private let fields: [Range<Int>?]
    public let seq: Int64
    /// True when retention purged the payload (its digest stays).
    public let purged: Bool

    public init(message: UnsafeRawBufferPointer, fields: [Range<Int>?]) throws(BinaryCopyError) {
        guard fields.count == Self.purgedColumn + 1, let seq = fields[EventField.seq.rawValue], seq.count == 8,
              let purged = fields[Self.purgedColumn], purged.count == 1, fields[EventField.hash.rawValue] != nil else {
            throw BinaryCopyError("unexpected columns in walaudit.event_log")
        }
        self.message = message
        self.fields = fields
        self.seq = BinaryCopyReader.int64(message, at: seq.lowerBound)
        self.purged = message[purged.lowerBound] != 0
    }

    private func field(_ field: EventField) -> UnsafeRawBufferPointer? {
        fields[field.rawValue].map { UnsafeRawBufferPointer(rebasing: message[$0]) }
    }

    public var payloadSalt: UnsafeRawBufferPointer? { field(.payloadSalt) }
    /// Whether this is a GAP event.
    public var isGap: Bool { field(.operation).map { $0.elementsEqual("GAP".utf8) } ?? false }
    /// Whether any payload column or the salt is still there.
    public var holdsPayload: Bool {
        fields[EventField.payloadSalt.rawValue] != nil || EventField.payload.contains { fields[$0.rawValue] != nil }
    }
    /// Whether this is a row change (INSERT, UPDATE, DELETE, SNAPSHOT): the
    /// only events retention purges.
    var isRowChange: Bool {
        guard let operation = field(.operation) else { return false }
        return Self.rowChanges.contains { operation.elementsEqual($0.utf8) }
    }
    private static let rowChanges = ["INSERT", "UPDATE", "DELETE", "SNAPSHOT"]
    /// A text column's bytes (nil when NULL).
    func bytes(_ field: EventField) -> [UInt8]? {
        self.field(field).map(Array.init)
    }
    /// `event_time` in microseconds since 1970 (nil when NULL).
    var eventTimeMicroseconds: Int64? {
        field(.eventTime).map { BinaryCopyReader.int64($0, at: 0) &+ postgresEpochOffsetMicroseconds }
    }
    public var payloadDigest: UnsafeRawBufferPointer? { field(.payloadDigest) }
    public var prevHash: UnsafeRawBufferPointer? { field(.prevHash) }
    public var hash: UnsafeRawBufferPointer { field(.hash)! }

    /// Which stored field has no encoding in the chain (docs/chain-format.md,
    /// "Values with no encoding"), and why; nil if none. The worker never
    /// writes such a value, and no hash can vouch for it: the event is
    /// *event altered*. The texts are those of `walaudit.chain_unencodable`.
    public var unencodableField: String? {
        if let time = field(.eventTime) {
            // microseconds since 2000: ±infinity are Int64.max/min; since 1970 must fit an Int64
            let value = BinaryCopyReader.int64(time, at: 0)
            if value == .min || value > .max - postgresEpochOffsetMicroseconds {
                return "event_time (±infinity, or after \(PostgresTimestamp.latestEncodable.iso8601))"
            }
        }
        if let array = field(.changedColumns) {
            // ndim, has-null flag, element type, then (size, lower bound) per dimension
            let dimensions = BinaryCopyReader.int32(array, at: 0)
            if dimensions > 1 || (dimensions == 1 && BinaryCopyReader.int32(array, at: 16) != 1) {
                return "changed_columns (not a one-dimensional array with lower bound 1)"
            }
        }
        return nil
    }

    /// The bytes the event hash covers, after the domain tag and prev_hash.
    func encodeHashFields(into encoder: inout CanonicalEncoder) throws(JSONSyntaxError) {
        for field in EventField.hashed { try encode(field, into: &encoder) }
    }

    /// The bytes the payload digest covers, after the domain tag and salt.
    func encodePayload(into encoder: inout CanonicalEncoder) throws(JSONSyntaxError) {
        for field in EventField.payload { try encode(field, into: &encoder) }
    }

    private func encode(_ field: EventField, into e: inout CanonicalEncoder) throws(JSONSyntaxError) {
        guard let value = self.field(field) else { return e.null() }
        switch field.kind {
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
