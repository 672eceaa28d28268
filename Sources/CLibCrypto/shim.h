// OpenSSL libcrypto (Debian: libssl-dev): SHA-256, HMAC, Ed25519.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
