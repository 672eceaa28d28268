/// UTF-8 bytes to a String, rejecting invalid sequences.
enum UTF8Text {
    /// `String(validating:as:)` with an ASCII fast path: most identifiers and
    /// values are ASCII, which needs no validation, and the generic
    /// initializer's metadata lookups cost more than this scan (measured in
    /// the worker's profile).
    static func validated(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    static func validated(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer(validated)
    }
}
