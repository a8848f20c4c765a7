/* Where an HTTP/1.1 response ends, from the bytes a client read of it.
 *
 * sync/connpool.c keeps a connection for the next request only when the
 * response before it was read to its end: the head, then Content-Length
 * bytes, or a chunked body to its last chunk. libgit2 stops reading at
 * the git protocol's end, which leaves a chunked body's last chunk
 * ("0\r\n\r\n") unread: such a response counts as ended with the last
 * chunk owed, which the pool reads before it reuses the connection.
 * Nothing here trusts the bytes: a head longer than the buffer, a
 * response that closes the connection (Connection: close, HTTP/1.0), or
 * any framing not understood, is "not ended", and the connection is
 * closed. The chunked framing itself is not followed: the pool keeps
 * only connections of steps that succeeded, whose git exchange libgit2
 * read to its end. */
#ifndef DAIBAN_SYNC_HTTPEND_H
#define DAIBAN_SYNC_HTTPEND_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPEND_LAST_CHUNK "0\r\n\r\n"

struct httpend {
        char head[4096];
        size_t headlen;
        bool reading;           /* a read came after the last write */
        bool head_done, chunked, closes;
        long long length;       /* Content-Length, or -1 */
        long long body;         /* body bytes read */
        char tail[5];           /* the body's last bytes read */
        size_t tlen;
};

/* A new request: forget the last response. */
void httpend_begin(struct httpend *r);

/* n more bytes of the response were read. */
void httpend_read(struct httpend *r, const char *data, size_t n);

/* Was the response read to its end? True also when all but a chunked
 * body's last chunk was read: then *ret_last_chunk is set. */
bool httpend_ended(const struct httpend *r, bool *ret_last_chunk);

#endif
