/* Digests: see digest.h. */
#include "agent/digest.h"

#include <sodium.h>

/* libsodium's SHA-256, as sync/ takes it, so that the station needs no
 * OpenSSL (the Windows build has none) */
void sha256_hex(const void *data, size_t len, char hex[65])
{
        unsigned char md[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(md, data, len);
        sodium_bin2hex(hex, 65, md, sizeof md);
}
