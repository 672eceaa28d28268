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
    /// equal. memcmp where the storage is contiguous (native strings are).
    public func hasSameBytes(as other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let fast = utf8.withContiguousStorageIfAvailable { x in
            other.utf8.withContiguousStorageIfAvailable { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
        return (fast ?? nil) ?? utf8.elementsEqual(other.utf8)
    }
}
