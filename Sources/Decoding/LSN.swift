/// A WAL position (log sequence number), printed as PostgreSQL prints
/// `pg_lsn`: two hex halves, `16/B374D848`.
public struct LSN: RawRepresentable, Comparable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { rawValue = value }

    /// `X/Y` with each half at most 32 bits; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        // Hex digits only: UInt32(_:radix:) would also take a sign.
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit } }),
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16) else { return nil }
        rawValue = UInt64(high) << 32 | UInt64(low)
    }

    /// The start of WAL: nothing is before it.
    public static let zero = LSN(0)

    public var description: String {
        String(rawValue >> 32, radix: 16, uppercase: true) + "/" + String(rawValue & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func < (a: LSN, b: LSN) -> Bool { a.rawValue < b.rawValue }
}
