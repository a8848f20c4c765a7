/* libFuzzer target for the hall's reading of a fetch request
 * (agent/fetchguard.c): any bytes are walked as upload-pack pkt-lines,
 * and every want reported must be 40 hex digits that the request holds.
 * Nothing may crash, read outside the input, or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fetchguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
        const char *body;
        size_t len;
};

static int check_want(void *ud, const git_oid *want)
{
        const struct seen *s = ud;
        char hex[GIT_OID_HEXSZ + 1];

        git_oid_tostr(hex, sizeof hex, want);
        if (!memmem(s->body, s->len, hex, 40))
                abort();                /* a want the request does not hold */
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct seen s = { (const char *)data, size };
        char err[256];

        fetchguard_wants((const char *)data, size, check_want, &s, err, sizeof err);
        return 0;
}
