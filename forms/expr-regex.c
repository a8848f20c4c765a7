/* regex() patterns that regcomp must not see: back-references, patterns
 * past 512 bytes, and patterns whose repeats would make regcomp take
 * gigabytes or seconds. See expr-int.h. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "forms/expr-int.h"

/* ---- how big a pattern grows in regcomp ------------------------------------------ */

/* glibc's regcomp copies what a repeat applies to: "a+" holds "a" twice,
 * "(x){50}" fifty copies of x, and repeats of repeats multiply, so a
 * pattern of a few dozen bytes ("a++++...", "((a{99}){99}){99}") takes
 * gigabytes to compile. The size here follows those copies (saturating)
 * and refuses a pattern past RE_MAX_PARTS before regcomp sees it; real
 * patterns (ID numbers, phone numbers, postal codes) stay under 100. */
#define RE_MAX_PARTS 2000
#define RE_MAX_LEN 512

static uint64_t re_sat_mul(uint64_t a, uint64_t b)
{
        return a && b > (UINT64_MAX / 4) / a ? UINT64_MAX / 4 : a * b;
}

static uint64_t re_size_alt(const char **pp, int depth, bool *stacked);

/* The number in a bound "{n}", "{n,}", "{n,m}" at *pp (just after '{'):
 * its largest count (n+1 when open), or 0 if this is not a bound. */
static uint64_t re_bound(const char **pp)
{
        const char *q = *pp;
        uint64_t lo = 0, hi = 0;
        bool comma = false, any = false;

        while (*q >= '0' && *q <= '9') {
                lo = lo * 10 + (uint64_t)(*q++ - '0');
                any = true;
                if (lo > 100000)
                        lo = 100000;
        }
        if (*q == ',') {
                comma = true;
                q++;
                while (*q >= '0' && *q <= '9') {
                        hi = hi * 10 + (uint64_t)(*q++ - '0');
                        any = true;
                        if (hi > 100000)
                                hi = 100000;
                }
        }
        if (!any || *q != '}')
                return 0;
        *pp = q + 1;
        if (!comma)
                return lo ? lo : 1;
        return hi ? hi : lo + 1;
}

static uint64_t re_size_seq(const char **pp, int depth, bool *stacked)
{
        const char *q = *pp;
        uint64_t total = 0;

        while (*q && *q != '|' && *q != ')') {
                uint64_t atom = 1;
                if (*q == '(') {
                        q++;
                        if (depth > 64)
                                return UINT64_MAX / 4;
                        atom = re_size_alt(&q, depth + 1, stacked) + 1;
                        if (*q == ')')
                                q++;
                } else if (*q == '[') {
                        q++;
                        if (*q == '^')
                                q++;
                        if (*q == ']')
                                q++;
                        while (*q && *q != ']') {
                                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                                        char close = q[1];
                                        q += 2;
                                        while (*q && !(*q == close && q[1] == ']'))
                                                q++;
                                        if (*q)
                                                q += 2;
                                } else {
                                        q++;
                                }
                        }
                        if (*q)
                                q++;
                } else if (*q == '\\' && q[1]) {
                        q += 2;
                } else {
                        q++;
                }
                /* the repeats that follow, each copying what came before;
                 * a repeat right after a repeat ("+?", "?*", "{2}{3}"; not
                 * defined by POSIX) makes regcomp's closures explode
                 * whatever the size ("x??????++++++??????" takes seconds) */
                int nq = 0;
                for (;; nq++) {
                        if (*q == '+') {
                                atom = re_sat_mul(atom, 2);
                                q++;
                        } else if (*q == '*' || *q == '?') {
                                atom += 1;
                                q++;
                        } else if (*q == '{') {
                                const char *b = q + 1;
                                uint64_t n = re_bound(&b);
                                if (!n)
                                        break;
                                atom = re_sat_mul(atom, n + 1);
                                q = b;
                        } else {
                                break;
                        }
                }
                if (nq > 1)
                        *stacked = true;
                total += atom;
                if (total > UINT64_MAX / 4)
                        total = UINT64_MAX / 4;
        }
        *pp = q;
        return total;
}

static uint64_t re_size_alt(const char **pp, int depth, bool *stacked)
{
        uint64_t total = re_size_seq(pp, depth, stacked);

        while (**pp == '|') {
                (*pp)++;
                total += re_size_seq(pp, depth, stacked) + 1;
                if (total > UINT64_MAX / 4)
                        total = UINT64_MAX / 4;
        }
        return total;
}

const char *expr_regex_refused(const char *pat)
{
        if (strstr(pat, "\\1") || strstr(pat, "\\2"))
                return "back-references are not supported";
        if (strlen(pat) > RE_MAX_LEN)
                return "the pattern is longer than 512 bytes";
        const char *q = pat;
        uint64_t n = 0;
        bool stacked = false;
        while (*q) {
                n += re_size_alt(&q, 0, &stacked);
                if (*q)
                        q++;    /* an unmatched ')': regcomp says so */
        }
        if (stacked)
                return "a repeat right after a repeat (like '+?' or '{2}{3}'): put the first in parentheses";
        if (n > RE_MAX_PARTS)
                return "too complex: its repeats expand past 2000 parts; simplify it";
        return NULL;
}
