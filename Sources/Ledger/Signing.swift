import CLibCrypto

/// Ed25519 keys and signatures through OpenSSL's libcrypto.
public enum Ed25519 {
    /// A new key pair: (private, public), 32 raw bytes each.
    public static func generateKeyPair() throws(SigningError) -> (privateKey: [UInt8], publicKey: [UInt8]) {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw SigningError("no Ed25519 in libcrypto") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw SigningError("Ed25519 key generation failed")
        }
        defer { EVP_PKEY_free(key) }
        var privateKey = [UInt8](repeating: 0, count: 32), publicKey = [UInt8](repeating: 0, count: 32)
        var privateLength = 32, publicLength = 32
        guard EVP_PKEY_get_raw_private_key(key, &privateKey, &privateLength) == 1,
              EVP_PKEY_get_raw_public_key(key, &publicKey, &publicLength) == 1 else {
            throw SigningError("cannot read the new Ed25519 key")
        }
        return (privateKey, publicKey)
    }

    /// The public key of a raw 32-byte private key.
    public static func publicKey(of privateKey: [UInt8]) throws(SigningError) -> [UInt8] {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, privateKey, privateKey.count) else {
            throw SigningError("not an Ed25519 private key")
        }
        defer { EVP_PKEY_free(key) }
        var publicKey = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &publicKey, &length) == 1 else { throw SigningError("cannot derive the public key") }
        return publicKey
    }

    /// The 64-byte signature of `message` under a raw 32-byte private key.
    public static func sign(_ message: [UInt8], privateKey: [UInt8]) throws(SigningError) -> [UInt8] {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, privateKey, privateKey.count) else {
            throw SigningError("not an Ed25519 private key")
        }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { throw SigningError("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
              EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            throw SigningError("Ed25519 signing failed")
        }
        return signature
    }

    /// Whether `signature` is a valid signature of `message` by `publicKey`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKey.count) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        return EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
            && EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }
}

/// A key that cannot be made, read or used.
public struct SigningError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
