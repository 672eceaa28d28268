import Glibc

/// An `inet` value read from its text form (`a.b.c.d`, an IPv6 address,
/// optionally `/bits`), in the parts of PostgreSQL's binary form.
public struct InetAddress: Equatable, Sendable {
    /// PostgreSQL's family code: 2 IPv4, 3 IPv6.
    public var family: UInt8
    public var bits: UInt8
    public var bytes: [UInt8]

    /// Only what inet_pton reads whole and a mask in plain digits: a form
    /// PostgreSQL would store differently (or refuse) is refused here too.
    public init?(_ text: String) {
        guard !text.utf8.contains(0) else { return nil }  // the C string would end early
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        let size: Int
        if inet_pton(AF_INET, host, &buffer) == 1 {
            (family, size) = (2, 4)
        } else if inet_pton(AF_INET6, host, &buffer) == 1 {
            (family, size) = (3, 16)
        } else {
            return nil
        }
        var mask = size * 8
        if parts.count == 2 {
            guard let given = Int(parts[1]), String(given) == parts[1], (0...size * 8).contains(given) else { return nil }
            mask = given
        }
        bits = UInt8(mask)
        bytes = Array(buffer.prefix(size))
    }
}
