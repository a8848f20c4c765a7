/* Where an HTTP/1.1 response ends, from the bytes a client read of it.
 * See httpend.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/httpend.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

void httpend_begin(struct httpend *r)
{
        memset(r, 0, sizeof *r);
        r->length = -1;
}

/* A header's value in the head (lines after the first), or NULL. */
static const char *head_value(const char *head, const char *name)
{
        size_t nl = strlen(name);

        for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
                if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
                        const char *v = l + 3 + nl;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        return v;
                }
        }
        return NULL;
}

void httpend_read(struct httpend *r, const char *data, size_t n)
{
        size_t body_from = 0;

        r->reading = true;
        if (!r->head_done) {
                size_t room = sizeof r->head - 1 - r->headlen;
                size_t take = n < room ? n : room;
                memcpy(r->head + r->headlen, data, take);
                r->headlen += take;
                r->head[r->headlen] = '\0';
                /* (a NUL in the head hides what follows it: never done) */
                char *end = strstr(r->head, "\r\n\r\n");
                if (!end)
                        return;         /* (a head past 4 KiB: never done, never kept) */
                r->head_done = true;
                body_from = (size_t)(end + 4 - r->head) - (r->headlen - take);
                end[2] = '\0';         /* the head alone: what came after is body */
                /* a connection the server closes after this response, or
                 * HTTP/1.0's (closed unless kept alive): never kept */
                const char *conn = head_value(r->head, "Connection");
                r->closes = (conn && strncasecmp(conn, "close", 5) == 0) ||
                            (strncmp(r->head, "HTTP/1.0", 8) == 0 && !(conn && strncasecmp(conn, "keep-alive", 10) == 0)) ||
                            strncmp(r->head, "HTTP/1.", 7) != 0;
                const char *te = head_value(r->head, "Transfer-Encoding");
                const char *cl = head_value(r->head, "Content-Length");
                r->chunked = te && strncasecmp(te, "chunked", 7) == 0;
                if (cl && !r->chunked) {
                        char *e;
                        long long v = strtoll(cl, &e, 10);
                        r->length = e != cl && v >= 0 ? v : -2;   /* -2: not understood */
                }
        }
        r->body += (long long)(n - body_from);
        for (size_t i = body_from; i < n; i++) {
                if (r->tlen == sizeof r->tail)
                        memmove(r->tail, r->tail + 1, --r->tlen);
                r->tail[r->tlen++] = data[i];
        }
}

bool httpend_ended(const struct httpend *r, bool *ret_last_chunk)
{
        *ret_last_chunk = false;
        if (!r->reading || !r->head_done || r->closes)
                return false;
        if (r->chunked) {
                if (r->tlen == sizeof r->tail && memcmp(r->tail, HTTPEND_LAST_CHUNK, sizeof r->tail) == 0)
                        return true;
                *ret_last_chunk = true;
                return true;
        }
        return r->length >= 0 && r->body == r->length;
}
