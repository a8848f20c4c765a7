/* Digests: the SHA-256 the hall and the station keep of a token, and
 * a certificate's pin. */
#ifndef DAIBAN_AGENT_DIGEST_H
#define DAIBAN_AGENT_DIGEST_H

#include <stddef.h>

/* The SHA-256 of len bytes as 64 lowercase hex digits. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
