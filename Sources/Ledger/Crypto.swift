import CLibCrypto

/// SHA-256 and HMAC-SHA-256 through OpenSSL's libcrypto.
public enum Crypto {
    /// SHA-256 fetched once: `EVP_sha256()` makes OpenSSL 3 look the
    /// algorithm up again on every digest, which cost more than the hashing.
    nonisolated(unsafe) static let sha256Algorithm: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil)

    /// SHA-256 of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = data.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, sha256Algorithm, nil)
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

/// SHA-256 with one OpenSSL context and one digest buffer reused for every
/// message: `EVP_Digest` allocates and frees a context per call, which the
/// verifier would pay twice per event.
public final class SHA256Hasher: @unchecked Sendable {  // used by one verifier at a time
    private let context: OpaquePointer
    /// The last digest.
    public private(set) var digest = [UInt8](repeating: 0, count: 32)

    public init() {
        context = EVP_MD_CTX_new()
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Hashes `data` into `digest`.
    public func hash(_ data: UnsafeRawBufferPointer) {
        var length: UInt32 = 0
        EVP_DigestInit_ex(context, Crypto.sha256Algorithm, nil)
        EVP_DigestUpdate(context, data.baseAddress, data.count)
        digest.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
    }
}
