/* Pinyin for search: see pinyin.h and docs/catalog.md ("Pinyin search").
 *
 * The table (forms/pinyin-int.h) is generated from Unihan at build time;
 * this file looks code points up in it, decodes UTF-8 strictly and
 * builds the initials and full-pinyin strings that queries are matched
 * against. Matching is plain substring search: the texts are names of
 * matters and forms, tens of bytes, searched a few hundred at a time. */
#include "forms/pinyin.h"
#include "forms/pinyin-int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many bytes of text are romanised on the stack; longer ones
 * (rare: names are short) on the heap. */
#define STACK_TEXT 255

static uint16_t lookup(uint32_t cp)
{
        size_t lo = 0, hi = pinyin_nsparse;

        if (cp >= pinyin_direct_lo && cp - pinyin_direct_lo < pinyin_ndirect)
                return pinyin_direct[cp - pinyin_direct_lo];
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pinyin_sparse_cp[mid] < cp)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < pinyin_nsparse && pinyin_sparse_cp[lo] == cp)
                return pinyin_sparse_syl[lo];
        return 0;
}

const char *pinyin_syllable(uint32_t cp)
{
        uint16_t k = lookup(cp);

        if (k == 0 || k > pinyin_nsyllables)
                return NULL;
        return pinyin_syllables[k - 1];
}

/* Decodes the UTF-8 sequence at s (n >= 1 bytes available). Returns its
 * length and sets *cp, or 0 when s does not start a well-formed
 * sequence: a stray continuation byte, C0/C1/F5..FF, a sequence cut
 * short, an overlong form, a surrogate or a value past U+10FFFF. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
        uint32_t v, min;
        size_t len;

        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2, v = s[0] & 0x1f, min = 0x80;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3, v = s[0] & 0x0f, min = 0x800;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4, v = s[0] & 0x07, min = 0x10000;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                v = v << 6 | (s[i] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return len;
}

/* An output string that truncates like snprintf: n counts the NUL. */
struct out {
        char *p;
        size_t n, len;
};

static void put(struct out *o, const char *s, size_t k)
{
        if (o->n == 0)
                return;
        if (k > o->n - 1 - o->len)
                k = o->n - 1 - o->len;
        memcpy(o->p + o->len, s, k);
        o->len += k;
        o->p[o->len] = '\0';
}

/* The ASCII letter or digit that cp is or stands for (lower-cased; the
 * full-width forms U+FF10.. that Chinese input methods type too), or 0. */
static char ascii_alnum(uint32_t cp)
{
        if (cp >= 0xff10 && cp <= 0xff5a)
                cp -= 0xfee0;
        if (cp >= 'A' && cp <= 'Z')
                return (char)(cp - 'A' + 'a');
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
                return (char)cp;
        return 0;
}

int pinyin_romanise(const char *s, size_t len, char *ini, size_t nini,
                    char *full, size_t nfull)
{
        const unsigned char *p = (const unsigned char *)s;
        struct out oi = { ini, nini, 0 }, of = { full, nfull, 0 };
        size_t i = 0;

        put(&oi, "", 0);
        put(&of, "", 0);
        while (i < len) {
                uint32_t cp;
                size_t k = utf8_next(p + i, len - i, &cp);
                const char *syl;
                char c;

                if (k == 0) {
                        i++;   /* resynchronise on the next byte */
                        continue;
                }
                i += k;
                if ((c = ascii_alnum(cp)) != 0) {
                        put(&oi, &c, 1);
                        put(&of, &c, 1);
                } else if ((syl = pinyin_syllable(cp)) != NULL) {
                        put(&oi, syl, 1);
                        put(&of, syl, strlen(syl));
                }
        }
        return 0;
}

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Is needle a substring of hay, ASCII letters compared without case?
 * Other bytes compare exactly, so UTF-8 needles match whole characters. */
static bool contains_fold(const char *hay, const char *needle)
{
        size_t n = strlen(needle);

        for (; *hay; hay++) {
                size_t k = 0;
                while (k < n && hay[k] && lower(hay[k]) == lower(needle[k]))
                        k++;
                if (k == n)
                        return true;
        }
        return n == 0;
}

bool pinyin_match(const char *text, const char *q)
{
        char ini_stack[STACK_TEXT + 1], full_stack[2 * STACK_TEXT + 1];
        char *ini = ini_stack, *full = full_stack, *heap = NULL;
        size_t len, nini = sizeof ini_stack, nfull = sizeof full_stack;
        bool hit;

        if (contains_fold(text, q))
                return true;
        /* The romanised forms are ASCII: a query with any other byte
         * could only have matched the text itself. */
        for (const char *c = q; *c; c++)
                if ((unsigned char)*c >= 0x80)
                        return false;
        /* Each output byte takes at least one input byte, and a syllable
         * (6 letters at most) at least 3: gen-pinyin.py checks that every
         * character with a reading is U+0800 or above. So ini needs
         * len + 1 bytes and full 2 * len + 1 to hold everything. */
        len = strlen(text);
        if (len > (SIZE_MAX - 2) / 3)
                return false;
        if (len > STACK_TEXT) {
                nini = len + 1;
                nfull = 2 * len + 1;
                heap = malloc(nini + nfull);
                if (!heap)
                        return false;
                ini = heap;
                full = heap + nini;
        }
        pinyin_romanise(text, len, ini, nini, full, nfull);
        hit = contains_fold(ini, q) || contains_fold(full, q);
        free(heap);
        return hit;
}
