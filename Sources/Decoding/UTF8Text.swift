import Glibc

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

extension String {
    /// Whether two strings have the same UTF-8 bytes. PostgreSQL compares
    /// names and (under deterministic collations) values this way; Swift's
    /// `==` takes canonically equivalent strings ("é" and "e\u{301}") as
    /// equal.
    public func hasSameBytes(as other: String) -> Bool {
        utf8.count == other.utf8.count && compareBytes(with: other) == 0
    }

    /// The order of the two strings' UTF-8 bytes (as jsonb orders keys of
    /// equal length, and memcmp does): negative, zero or positive. memcmp
    /// where the storage is contiguous (native strings are).
    public func compareBytes(with other: String) -> Int {
        let fast = utf8.withContiguousStorageIfAvailable { x in
            other.utf8.withContiguousStorageIfAvailable { y -> Int in
                let common = min(x.count, y.count)
                let c = common == 0 ? 0 : Int(memcmp(x.baseAddress!, y.baseAddress!, common))
                return c != 0 ? c : x.count - y.count
            }
        }
        if let result = fast ?? nil { return result }
        if utf8.elementsEqual(other.utf8) { return 0 }
        return utf8.lexicographicallyPrecedes(other.utf8) ? -1 : 1
    }
}
