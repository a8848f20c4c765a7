/* Digests: see digest.h. */
#include "agent/digest.h"

#include <stdio.h>

#include <openssl/evp.h>

void sha256_hex(const void *data, size_t len, char hex[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}
