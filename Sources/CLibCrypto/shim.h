// OpenSSL libcrypto (Debian: libssl-dev): SHA-256, HMAC, Ed25519.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

// SHA-256 with its state on the stack. OpenSSL 3's EVP interface allocates
// a provider context at every EVP_DigestInit_ex (four heap allocations per
// chained event); the low-level SHA256_* functions, deprecated in 3.0 but
// still shipped, allocate nothing.
static inline void walaudit_sha256(const void *data, size_t count, unsigned char digest[32]) {
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, count);
    SHA256_Final(digest, &context);
#pragma clang diagnostic pop
}
