/* libFuzzer target for where an HTTP/1.1 response ends, as the sync's
 * connection pool reads it (sync/httpend.c): any bytes, read in pieces
 * whose sizes the input's first bytes choose. Nothing may crash or read
 * out of bounds, the state is the same whatever the pieces, and a
 * response said to have ended is one of the two kinds it may be. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/httpend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct httpend whole, parts;
        bool lw, lp;
        size_t nsplit, off = 0;

        if (size < 1)
                return 0;
        nsplit = data[0] % 8;
        if (size < 1 + nsplit)
                return 0;
        const uint8_t *cuts = data + 1, *body = data + 1 + nsplit;
        size_t n = size - 1 - nsplit;

        httpend_begin(&whole);
        httpend_read(&whole, (const char *)body, n);
        httpend_begin(&parts);
        for (size_t i = 0; i <= nsplit; i++) {
                size_t k = i < nsplit ? cuts[i] % (n - off + 1) : n - off;
                httpend_read(&parts, (const char *)body + off, k);
                off += k;
        }
        bool ew = httpend_ended(&whole, &lw), ep = httpend_ended(&parts, &lp);
        /* the pieces do not matter, within the head's buffer */
        if (n < sizeof whole.head - 1 && (ew != ep || lw != lp || whole.body != parts.body))
                abort();
        if (ew && !lw && !whole.chunked && whole.body != whole.length)
                abort();
        if (lw && !whole.chunked)
                abort();
        return 0;
}
