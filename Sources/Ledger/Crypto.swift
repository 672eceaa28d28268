import CLibCrypto

/// SHA-256 and HMAC-SHA-256 through OpenSSL's libcrypto.
public enum Crypto {
    /// SHA-256 of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { walaudit_sha256(input.baseAddress, input.count, $0.baseAddress) }
        }
        return digest
    }

    /// HMAC-SHA-256 of `data` under `key`.
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, &digest, &length)
            }
        }
        return digest
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        precondition(RAND_bytes(&bytes, Int32(count)) == 1, "OpenSSL RAND_bytes failed")
        return bytes
    }
}

/// SHA-256 into one digest buffer reused for every message (the chain,
/// the tree and the verifiers hash millions of them).
public final class SHA256Hasher: @unchecked Sendable {  // used by one verifier at a time
    /// The last digest.
    public private(set) var digest = [UInt8](repeating: 0, count: 32)

    public init() {}

    /// Hashes `data` into `digest`.
    public func hash(_ data: UnsafeRawBufferPointer) {
        digest.withUnsafeMutableBufferPointer { walaudit_sha256(data.baseAddress, data.count, $0.baseAddress) }
    }
}
