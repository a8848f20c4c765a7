/* libFuzzer target for forms/pinyin.c: any bytes as text. The first
 * byte picks the output sizes (0..15, small so that truncation in the
 * middle of a syllable is common); the rest is romanised, then split at
 * its first NUL into a text and a query for pinyin_match. Outputs are
 * exactly-sized heap buffers so ASan sees any write past them; they
 * must be NUL-terminated within their size and hold only [a-z0-9]. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forms/pinyin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_out(const char *s, size_t n)
{
        size_t len;

        if (n == 0)
                return;
        len = strnlen(s, n);
        if (len == n)
                abort();   /* not terminated */
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t nini, nfull, qoff;
        char *ini, *full, *text;

        if (size == 0)
                return 0;
        nini = data[0] & 0x0f;
        nfull = data[0] >> 4;
        data++, size--;

        ini = nini ? malloc(nini) : NULL;
        full = nfull ? malloc(nfull) : NULL;
        if ((nini && !ini) || (nfull && !full))
                goto free_out;
        pinyin_romanise((const char *)data, size, ini, nini, full, nfull);
        check_out(ini, nini);
        check_out(full, nfull);
        /* full pinyin is never shorter than the initials */
        if (nini && nfull && nini <= nfull && strlen(full) < strlen(ini))
                abort();

        /* text, NUL, query: one copy, NUL-terminated at both ends */
        text = malloc(size + 1);
        if (!text)
                goto free_out;
        memcpy(text, data, size);
        text[size] = '\0';
        qoff = strlen(text);
        qoff = qoff < size ? qoff + 1 : size;
        pinyin_match(text, text + qoff);
        /* any text matches itself and the empty query */
        if (!pinyin_match(text, text) || !pinyin_match(text, ""))
                abort();
        free(text);
free_out:
        free(full);
        free(ini);
        return 0;
}
