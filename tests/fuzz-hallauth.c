/* libFuzzer target for the hall's reading of who is asking
 * (agent/hallauth.c): any bytes are an Authorization header's value.
 * Nothing may crash or read outside it, and a header that is taken must
 * give a division code as its node and a token that starts with that
 * node and a '.'; for Basic, the user, when given, is that node. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/hallauth.h"
#include "forms/division.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *hdr = malloc(size + 1), tok[256], node[32];
        int r;

        if (!hdr)
                return 0;
        memcpy(hdr, data, size);
        hdr[size] = '\0';
        memset(node, 0x7f, sizeof node);
        r = hallauth_parse(hdr, tok, sizeof tok, node);
        if (r != 0 && r != -EACCES)
                abort();
        if (r == 0) {
                size_t n = strnlen(node, sizeof node);
                if (n == sizeof node || !division_code_valid(node) || strncmp(tok, node, n) != 0 || tok[n] != '.' ||
                    strnlen(tok, sizeof tok) == sizeof tok)
                        abort();
        }
        free(hdr);
        return 0;
}
