import Decoding

extension BundleVerifier {
    /// The seq and chain hash an event record commits to (a bundle's
    /// `event` line, or `walaudit prove --event`'s file), after checking its
    /// payload against its digest unless it was purged; a description of
    /// what is wrong otherwise.
    public static func chainHash(ofRecord text: String) -> Result<(seq: Int64, hash: [UInt8]), SigningError> {
        guard let record = try? JSONValue(parsing: text), record["type"] == .string("event"),
              let seq = int(record[EventField.seq.name]), let prevHash = hex(record[EventField.prevHash.name]) else {
            return .failure(SigningError("not an event record of a walaudit bundle"))
        }
        if record["purged"] != .bool(true) {
            guard let salt = hex(record[EventField.payloadSalt.name]),
                  digest(Chain.payloadDomain, salt, EventField.payload, of: record) == hex(record[EventField.payloadDigest.name]) else {
                return .failure(SigningError("the event record's payload does not match its digest: it was altered"))
            }
        }
        guard let hash = digest(Chain.eventDomain, prevHash, EventField.hashed, of: record) else {
            return .failure(SigningError("the event record lacks a hashed field"))
        }
        return .success((seq, hash))
    }
}
