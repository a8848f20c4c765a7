/* The catalogue's expression language: lexer, recursive-descent parser,
 * static type checker and evaluator. See expr.h for the grammar and the
 * rules, docs/catalog.md ("Expressions") for the user's view.
 *
 * Every error carries the byte offset of the token that caused it, so the
 * catalogue checker can point at FILE:LINE:COL. Authors type these in
 * Excel with a Chinese input method on, so full-width punctuation gets a
 * message that names the ASCII character to use instead. */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/calendar.h"
#include "forms/csv.h"
#include "forms/expr.h"
#include "forms/expr-tree.h"
#include "forms/ftype.h"

static const struct {
        const char *name;
        int nargs;
} functions[] = {
        [F_TODAY] = { "today", 0 },
        [F_AGE] = { "age", 1 },
        [F_GENDER] = { "gender", 1 },
        [F_STRING_LENGTH] = { "string-length", 1 },
        [F_COUNT] = { "count", 1 },
        [F_SELECTED] = { "selected", 2 },
        [F_COUNT_SELECTED] = { "count-selected", 1 },
        [F_REGEX] = { "regex", 2 },
        [F_NOT] = { "not", 1 },
};
#define NFUNCTIONS (sizeof functions / sizeof functions[0])

const char *expr_type_name(enum expr_type t)
{
        switch (t) {
        case ET_BOOL: return "true/false";
        case ET_NUMBER: return "number";
        case ET_STRING: return "text";
        case ET_DATE: return "date";
        case ET_REPEAT: return "repeat group";
        }
        return "?";
}

static void set_error(struct expr_error *err, size_t off, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_error(struct expr_error *err, size_t off, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
}

static void node_free(struct node *n)
{
        if (!n)
                return;
        node_free(n->kid[0]);
        node_free(n->kid[1]);
        if (n->re) {
                regfree(n->re);
                free(n->re);
        }
        free(n->str);
        free(n);
}

void expr_free(expr *e)
{
        if (!e)
                return;
        node_free(e->root);
        free(e);
}

/* ---- lexer --------------------------------------------------------------- */

enum tok {
        T_END, T_NUM, T_STR, T_DOT, T_REF, T_NAME, T_LP, T_RP, T_COMMA,
        T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR,
        T_AND, T_OR, T_DIV, T_MOD,
        T_ERROR,
};

struct parser {
        const char *src;
        size_t len;
        size_t pos;             /* next byte to lex */
        /* the current token */
        enum tok t;
        size_t toff, tlen;      /* its bytes in src */
        size_t sval, slen;      /* T_STR: the text between the quotes; T_REF: the name */
        int nesting;
        bool oom;
        struct expr_error *err;
        bool failed;
};

static void fail(struct parser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, size_t off, const char *fmt, ...)
{
        va_list ap;

        if (p->failed)
                return;
        p->failed = true;
        if (!p->err)
                return;
        p->err->offset = off;
        va_start(ap, fmt);
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
}

/* Full-width and curly punctuation that a Chinese input method produces,
 * and the ASCII character the author meant. */
static const struct {
        const char *wide;
        const char *ascii;
} wide_chars[] = {
        { "（", "(" }, { "）", ")" }, { "，", "," }, { "＝", "=" }, { "＜", "<" },
        { "＞", ">" }, { "！", "!" }, { "‘", "'" }, { "’", "'" }, { "“", "\"" },
        { "”", "\"" }, { "＄", "$" }, { "｛", "{" }, { "｝", "}" }, { "　", "space" },
        { "＋", "+" }, { "－", "-" }, { "＊", "*" }, { "．", "." }, { "。", "." },
        { "＿", "_" }, { "、", "," }, { "《", "<" }, { "》", ">" },
};

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
        return is_alpha(c) || is_digit(c);
}

/* Length of the UTF-8 character at s (1 for a bad byte). */
static size_t char_len(const char *s, size_t avail)
{
        unsigned char c = (unsigned char)s[0];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return n <= avail && utf8_valid(s, n) ? n : 1;
}

static void bad_char(struct parser *p, size_t off)
{
        const char *s = p->src + off;
        size_t n = char_len(s, p->len - off);

        for (size_t i = 0; i < sizeof wide_chars / sizeof wide_chars[0]; i++) {
                size_t wl = strlen(wide_chars[i].wide);
                if (wl <= p->len - off && memcmp(s, wide_chars[i].wide, wl) == 0) {
                        fail(p, off, "full-width character '%s': type the ASCII '%s' instead "
                             "(switch the input method to English)", wide_chars[i].wide, wide_chars[i].ascii);
                        return;
                }
        }
        if (n > 1)
                fail(p, off, "unexpected character '%.*s'", (int)n, s);
        else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                fail(p, off, "unexpected byte 0x%02x", (unsigned)(unsigned char)*s);
        else
                fail(p, off, "unexpected character '%c'", *s);
}

static void next(struct parser *p)
{
        const char *s = p->src;
        size_t i = p->pos;

        while (i < p->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
                i++;
        p->toff = i;
        if (i >= p->len) {
                p->t = T_END;
                p->tlen = 0;
                p->pos = i;
                return;
        }
        char c = s[i];
        size_t j = i + 1;
        p->t = T_ERROR;
        if (is_digit(c) || (c == '.' && i + 1 < p->len && is_digit(s[i + 1]))) {
                j = i;
                while (j < p->len && is_digit(s[j]))
                        j++;
                if (j < p->len && s[j] == '.') {
                        j++;
                        while (j < p->len && is_digit(s[j]))
                                j++;
                }
                if (j < p->len && (is_alpha(s[j]) || s[j] == '.')) {
                        fail(p, i, "malformed number '%.*s'", (int)(j - i + 1), s + i);
                        return;
                }
                if (j - i > 30) {
                        fail(p, i, "number too long (at most 30 characters)");
                        return;
                }
                p->t = T_NUM;
        } else if (c == '\'' || c == '"') {
                const char *q = memchr(s + i + 1, c, p->len - i - 1);
                if (!q) {
                        fail(p, i, "unterminated string: add the closing %c", c);
                        return;
                }
                p->sval = i + 1;
                p->slen = (size_t)(q - s) - i - 1;
                j = (size_t)(q - s) + 1;
                p->t = T_STR;
        } else if (c == '$') {
                size_t k = i + 1;
                if (k >= p->len || s[k] != '{') {
                        if (k < p->len && (unsigned char)s[k] >= 0x80)
                                bad_char(p, k);
                        else
                                fail(p, k, "expected '{' after '$' (write a field as ${name})");
                        return;
                }
                k++;
                if (k >= p->len || !is_alpha(s[k])) {
                        fail(p, k, "expected a field name after '${'");
                        return;
                }
                p->sval = k;
                while (k < p->len && is_alnum(s[k]))
                        k++;
                p->slen = k - p->sval;
                if (p->slen > 128) {
                        fail(p, p->sval, "field name too long");
                        return;
                }
                if (k >= p->len || s[k] != '}') {
                        if (k < p->len && (unsigned char)s[k] >= 0x80)
                                bad_char(p, k);
                        else
                                fail(p, k, "expected '}' to close the field name");
                        return;
                }
                j = k + 1;
                p->t = T_REF;
        } else if (is_alpha(c)) {
                j = i;
                while (j < p->len && (is_alnum(s[j]) || (s[j] == '-' && j + 1 < p->len && is_alpha(s[j + 1]))))
                        j++;
                p->t = T_NAME;
                if (j - i == 3 && memcmp(s + i, "and", 3) == 0)
                        p->t = T_AND;
                else if (j - i == 2 && memcmp(s + i, "or", 2) == 0)
                        p->t = T_OR;
                else if (j - i == 3 && memcmp(s + i, "div", 3) == 0)
                        p->t = T_DIV;
                else if (j - i == 3 && memcmp(s + i, "mod", 3) == 0)
                        p->t = T_MOD;
        } else {
                char d = i + 1 < p->len ? s[i + 1] : '\0';
                switch (c) {
                case '.': p->t = T_DOT; break;
                case '(': p->t = T_LP; break;
                case ')': p->t = T_RP; break;
                case ',': p->t = T_COMMA; break;
                case '+': p->t = T_PLUS; break;
                case '-': p->t = T_MINUS; break;
                case '*': p->t = T_STAR; break;
                case '=':
                        if (d == '=') {
                                fail(p, i, "'==' is not an operator: use '=' to compare");
                                return;
                        }
                        p->t = T_EQ;
                        break;
                case '!':
                        if (d != '=') {
                                fail(p, i, "'!' is not an operator: use not(...) or '!='");
                                return;
                        }
                        p->t = T_NE;
                        j++;
                        break;
                case '<':
                        p->t = d == '=' ? T_LE : T_LT;
                        j += d == '=';
                        break;
                case '>':
                        p->t = d == '=' ? T_GE : T_GT;
                        j += d == '=';
                        break;
                case '&':
                        fail(p, i, "'&' is not an operator: use 'and'");
                        return;
                case '|':
                        fail(p, i, "'|' is not an operator: use 'or'");
                        return;
                case '/':
                        fail(p, i, "'/' is not an operator: use 'div' to divide");
                        return;
                case '%':
                        fail(p, i, "'%%' is not an operator: use 'mod'");
                        return;
                default:
                        bad_char(p, i);
                        return;
                }
        }
        p->tlen = j - i;
        p->pos = j;
}

/* The current token, for "unexpected ..." messages. */
static void unexpected(struct parser *p, const char *wanted)
{
        if (p->t == T_END)
                fail(p, p->toff, "unexpected end of expression%s%s", wanted ? ": expected " : "",
                     wanted ? wanted : "");
        else
                fail(p, p->toff, "unexpected '%.*s'%s%s", (int)(p->tlen > 40 ? 40 : p->tlen), p->src + p->toff,
                     wanted ? ": expected " : "", wanted ? wanted : "");
}

/* ---- parser -------------------------------------------------------------- */

static struct node *mk(struct parser *p, enum nkind k, size_t off, struct node *a, struct node *b)
{
        struct node *n;
        int d = 0;

        if (p->failed) {
                node_free(a);
                node_free(b);
                return NULL;
        }
        if (a && a->depth > d)
                d = a->depth;
        if (b && b->depth > d)
                d = b->depth;
        if (d + 1 > EXPR_MAX_DEPTH) {
                fail(p, off, "expression nested too deeply (at most %d levels)", EXPR_MAX_DEPTH);
                node_free(a);
                node_free(b);
                return NULL;
        }
        n = calloc(1, sizeof *n);
        if (!n) {
                p->oom = true;
                fail(p, off, "out of memory");
                node_free(a);
                node_free(b);
                return NULL;
        }
        n->kind = k;
        n->off = off;
        n->depth = d + 1;
        n->kid[0] = a;
        n->kid[1] = b;
        return n;
}

static struct node *parse_or(struct parser *p);

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

/* Why regcomp must not see this pattern, or NULL. */
static const char *re_refused(const char *pat)
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

static struct node *parse_call(struct parser *p)
{
        size_t off = p->toff, nlen = p->tlen;
        const char *name = p->src + off;
        struct node *args[2] = { NULL, NULL };
        int nargs = 0;
        size_t f;

        for (f = 0; f < NFUNCTIONS; f++)
                if (strlen(functions[f].name) == nlen && memcmp(functions[f].name, name, nlen) == 0)
                        break;
        next(p);
        if (p->t != T_LP) {
                if (f < NFUNCTIONS)
                        unexpected(p, "'(' after the function name");
                else
                        fail(p, off, "unexpected name '%.*s': write a field as ${%.*s}", (int)nlen, name,
                             (int)nlen, name);
                return NULL;
        }
        if (f == NFUNCTIONS) {
                fail(p, off, "unknown function '%.*s()'", (int)(nlen > 40 ? 40 : nlen), name);
                return NULL;
        }
        next(p);
        if (p->t != T_RP) {
                for (;;) {
                        size_t aoff = p->toff;
                        struct node *a = parse_or(p);
                        if (!a)
                                goto fail;
                        if (nargs >= functions[f].nargs) {
                                node_free(a);
                                fail(p, aoff, "%s() takes %d argument%s", functions[f].name,
                                     functions[f].nargs, functions[f].nargs == 1 ? "" : "s");
                                goto fail;
                        }
                        args[nargs++] = a;
                        if (p->t == T_RP)
                                break;
                        if (p->t != T_COMMA) {
                                unexpected(p, "',' or ')'");
                                goto fail;
                        }
                        next(p);
                }
        }
        if (nargs != functions[f].nargs) {
                fail(p, p->toff, "%s() takes %d argument%s, not %d", functions[f].name, functions[f].nargs,
                     functions[f].nargs == 1 ? "" : "s", nargs);
                goto fail;
        }
        next(p);        /* ')' */
        struct node *n = mk(p, N_CALL, off, args[0], args[1]);
        if (!n)
                return NULL;
        n->fn = (enum fn)f;
        if (n->fn == F_REGEX && n->kid[1]->kind == N_STR) {
                int rc;
                n->re = malloc(sizeof *n->re);
                if (!n->re) {
                        p->oom = true;
                        fail(p, off, "out of memory");
                        node_free(n);
                        return NULL;
                }
                const char *why = re_refused(n->kid[1]->str);
                if (why) {
                        snprintf(n->re_error, sizeof n->re_error, "%s", why);
                        free(n->re);
                        n->re = NULL;
                } else if ((rc = regcomp(n->re, n->kid[1]->str, REG_EXTENDED | REG_NOSUB)) != 0) {
                        regerror(rc, n->re, n->re_error, sizeof n->re_error);
                        free(n->re);
                        n->re = NULL;
                        if (!n->re_error[0])
                                snprintf(n->re_error, sizeof n->re_error, "does not compile");
                }
        }
        return n;
fail:
        node_free(args[0]);
        node_free(args[1]);
        return NULL;
}

static struct node *parse_primary(struct parser *p)
{
        struct node *n;
        size_t off = p->toff;

        if (p->failed)
                return NULL;
        switch (p->t) {
        case T_NUM:
                n = mk(p, N_NUM, off, NULL, NULL);
                if (n) {
                        char buf[40];
                        memcpy(buf, p->src + off, p->tlen);
                        buf[p->tlen] = '\0';
                        n->num = strtod(buf, NULL);
                }
                next(p);
                return n;
        case T_STR:
        case T_REF:
                n = mk(p, p->t == T_STR ? N_STR : N_REF, off, NULL, NULL);
                if (!n)
                        return NULL;
                n->str = strndup(p->src + p->sval, p->slen);
                if (!n->str) {
                        p->oom = true;
                        fail(p, off, "out of memory");
                        node_free(n);
                        return NULL;
                }
                if (n->kind == N_STR && cal_date_parse(n->str, &n->date) == 0)
                        n->is_date = true;
                next(p);
                return n;
        case T_DOT:
                n = mk(p, N_SELF, off, NULL, NULL);
                next(p);
                return n;
        case T_NAME:
                return parse_call(p);
        case T_LP:
                next(p);
                n = parse_or(p);
                if (!n)
                        return NULL;
                if (p->t != T_RP) {
                        unexpected(p, "')'");
                        node_free(n);
                        return NULL;
                }
                next(p);
                return n;
        default:
                unexpected(p, "a value, a field or a function");
                return NULL;
        }
}

static struct node *parse_unary(struct parser *p)
{
        struct node *n;

        if (p->failed)
                return NULL;
        if (++p->nesting > EXPR_MAX_DEPTH) {
                fail(p, p->toff, "expression nested too deeply (at most %d levels)", EXPR_MAX_DEPTH);
                return NULL;
        }
        if (p->t == T_MINUS) {
                size_t off = p->toff;
                next(p);
                struct node *a = parse_unary(p);
                n = a ? mk(p, N_NEG, off, a, NULL) : NULL;
        } else {
                n = parse_primary(p);
        }
        p->nesting--;
        return n;
}

static struct node *parse_mul(struct parser *p)
{
        struct node *l = parse_unary(p);

        while (l && (p->t == T_STAR || p->t == T_DIV || p->t == T_MOD)) {
                enum nkind k = p->t == T_STAR ? N_MUL : p->t == T_DIV ? N_DIV : N_MOD;
                size_t off = p->toff;
                next(p);
                struct node *r = parse_unary(p);
                if (!r) {
                        node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
        }
        return l;
}

static struct node *parse_add(struct parser *p)
{
        struct node *l = parse_mul(p);

        while (l && (p->t == T_PLUS || p->t == T_MINUS)) {
                enum nkind k = p->t == T_PLUS ? N_ADD : N_SUB;
                size_t off = p->toff;
                next(p);
                struct node *r = parse_mul(p);
                if (!r) {
                        node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
        }
        return l;
}

static bool is_cmp(enum tok t)
{
        return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE;
}

static struct node *parse_cmp(struct parser *p)
{
        static const enum nkind kinds[] = {
                [T_EQ] = N_EQ, [T_NE] = N_NE, [T_LT] = N_LT, [T_LE] = N_LE, [T_GT] = N_GT, [T_GE] = N_GE,
        };
        struct node *l = parse_add(p);

        if (l && is_cmp(p->t)) {
                enum nkind k = kinds[p->t];
                size_t off = p->toff;
                next(p);
                struct node *r = parse_add(p);
                if (!r) {
                        node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
                if (l && is_cmp(p->t)) {
                        fail(p, p->toff, "comparisons do not chain: write a < b and b < c");
                        node_free(l);
                        return NULL;
                }
        }
        return l;
}

static struct node *parse_and(struct parser *p)
{
        struct node *l = parse_cmp(p);

        while (l && p->t == T_AND) {
                size_t off = p->toff;
                next(p);
                struct node *r = parse_cmp(p);
                if (!r) {
                        node_free(l);
                        return NULL;
                }
                l = mk(p, N_AND, off, l, r);
        }
        return l;
}

static struct node *parse_or(struct parser *p)
{
        struct node *l = parse_and(p);

        while (l && p->t == T_OR) {
                size_t off = p->toff;
                next(p);
                struct node *r = parse_and(p);
                if (!r) {
                        node_free(l);
                        return NULL;
                }
                l = mk(p, N_OR, off, l, r);
        }
        return l;
}

int expr_parse(const char *src, expr **ret, struct expr_error *err)
{
        struct parser p = { .src = src, .err = err };
        struct node *root;
        expr *e;

        p.len = strlen(src);
        if (p.len > EXPR_MAX_LEN) {
                set_error(err, EXPR_MAX_LEN, "expression too long (at most %d bytes)", EXPR_MAX_LEN);
                return -EINVAL;
        }
        next(&p);
        if (p.t == T_END && !p.failed) {
                set_error(err, 0, "empty expression");
                return -EINVAL;
        }
        root = parse_or(&p);
        if (root && p.t != T_END) {
                if (p.t == T_REF || p.t == T_NUM || p.t == T_STR || p.t == T_DOT || p.t == T_NAME || p.t == T_LP)
                        unexpected(&p, "an operator");
                else
                        unexpected(&p, NULL);
        }
        if (p.failed) {
                node_free(root);
                return p.oom ? -ENOMEM : -EINVAL;
        }
        e = malloc(sizeof *e);
        if (!e) {
                node_free(root);
                return -ENOMEM;
        }
        e->root = root;
        *ret = e;
        return 0;
}

/* ---- type checking ------------------------------------------------------- */

struct checker {
        const struct expr_env *env;
        struct expr_error *err;
};

static int check_node(struct checker *c, const struct node *n, enum expr_type *ret);

static int want(struct checker *c, const struct node *n, enum expr_type t, const char *what)
{
        enum expr_type got;

        if (check_node(c, n, &got) < 0)
                return -EINVAL;
        if (got != t) {
                set_error(c->err, n->off, "%s needs a %s, not a %s", what, expr_type_name(t), expr_type_name(got));
                return -EINVAL;
        }
        return 0;
}

/* A string literal that is a date compares with a date. */
static bool date_literal(const struct node *n)
{
        return n->kind == N_STR && n->is_date;
}

static const char *op_name(enum nkind k)
{
        switch (k) {
        case N_OR: return "'or'";
        case N_AND: return "'and'";
        case N_EQ: return "'='";
        case N_NE: return "'!='";
        case N_LT: return "'<'";
        case N_LE: return "'<='";
        case N_GT: return "'>'";
        case N_GE: return "'>='";
        case N_ADD: return "'+'";
        case N_SUB: return "'-'";
        case N_MUL: return "'*'";
        case N_DIV: return "'div'";
        case N_MOD: return "'mod'";
        case N_NEG: return "'-'";
        default: return "?";
        }
}

static int check_call(struct checker *c, const struct node *n, enum expr_type *ret)
{
        enum expr_type a;

        switch (n->fn) {
        case F_TODAY:
                *ret = ET_DATE;
                return 0;
        case F_AGE:
                if (check_node(c, n->kid[0], &a) < 0)
                        return -EINVAL;
                if (a != ET_STRING && a != ET_DATE) {
                        set_error(c->err, n->kid[0]->off, "age() needs an ID number or a date, not a %s",
                                  expr_type_name(a));
                        return -EINVAL;
                }
                *ret = ET_NUMBER;
                return 0;
        case F_GENDER:
                *ret = ET_STRING;
                return want(c, n->kid[0], ET_STRING, "gender()");
        case F_STRING_LENGTH:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_STRING, "string-length()");
        case F_COUNT:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_REPEAT, "count()");
        case F_SELECTED:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_STRING, "selected()") < 0)
                        return -EINVAL;
                return want(c, n->kid[1], ET_STRING, "selected()'s second argument");
        case F_COUNT_SELECTED:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_STRING, "count-selected()");
        case F_REGEX:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_STRING, "regex()") < 0)
                        return -EINVAL;
                if (n->kid[1]->kind != N_STR) {
                        set_error(c->err, n->kid[1]->off, "regex() needs its pattern as a quoted string");
                        return -EINVAL;
                }
                if (!n->re) {
                        set_error(c->err, n->kid[1]->off, "bad regular expression: %s", n->re_error);
                        return -EINVAL;
                }
                return 0;
        case F_NOT:
                *ret = ET_BOOL;
                return want(c, n->kid[0], ET_BOOL, "not()");
        }
        return -EINVAL;
}

static int check_node(struct checker *c, const struct node *n, enum expr_type *ret)
{
        enum expr_type a, b;
        int r;

        switch (n->kind) {
        case N_NUM:
                *ret = ET_NUMBER;
                return 0;
        case N_STR:
                *ret = ET_STRING;
                return 0;
        case N_SELF:
                if (!c->env->type_of || c->env->type_of(c->env->userdata, NULL, ret) < 0) {
                        set_error(c->err, n->off, "'.' (this field) cannot be used here");
                        return -EINVAL;
                }
                return 0;
        case N_REF:
                if (!c->env->type_of || c->env->type_of(c->env->userdata, n->str, ret) < 0) {
                        set_error(c->err, n->off, "unknown field '%s'", n->str);
                        return -EINVAL;
                }
                return 0;
        case N_OR:
        case N_AND:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_BOOL, op_name(n->kind)) < 0)
                        return -EINVAL;
                return want(c, n->kid[1], ET_BOOL, op_name(n->kind));
        case N_NEG:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_NUMBER, "'-'");
        case N_CALL:
                return check_call(c, n, ret);
        default:
                break;
        }
        /* binary operators over values */
        if ((r = check_node(c, n->kid[0], &a)) < 0 || (r = check_node(c, n->kid[1], &b)) < 0)
                return r;
        switch (n->kind) {
        case N_EQ:
        case N_NE:
        case N_LT:
        case N_LE:
        case N_GT:
        case N_GE:
                *ret = ET_BOOL;
                if (a == ET_REPEAT || b == ET_REPEAT) {
                        set_error(c->err, n->off, "a repeat group cannot be compared: use count(...)");
                        return -EINVAL;
                }
                if ((a == ET_DATE && b == ET_STRING && date_literal(n->kid[1])) ||
                    (b == ET_DATE && a == ET_STRING && date_literal(n->kid[0])))
                        return 0;
                if (a != b) {
                        set_error(c->err, n->off, "%s compares a %s with a %s", op_name(n->kind),
                                  expr_type_name(a), expr_type_name(b));
                        return -EINVAL;
                }
                if (a == ET_BOOL && n->kind != N_EQ && n->kind != N_NE) {
                        set_error(c->err, n->off, "%s cannot order true/false values", op_name(n->kind));
                        return -EINVAL;
                }
                return 0;
        case N_ADD:
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                if ((a == ET_DATE && b == ET_NUMBER) || (a == ET_NUMBER && b == ET_DATE)) {
                        *ret = ET_DATE;
                        return 0;
                }
                break;
        case N_SUB:
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                if (a == ET_DATE && b == ET_NUMBER) {
                        *ret = ET_DATE;
                        return 0;
                }
                if (a == ET_DATE && b == ET_DATE) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                break;
        default:        /* * div mod */
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                break;
        }
        set_error(c->err, n->off, "%s cannot combine a %s and a %s", op_name(n->kind), expr_type_name(a),
                  expr_type_name(b));
        return -EINVAL;
}

int expr_check(const expr *e, const struct expr_env *env, enum expr_type *ret_type, struct expr_error *err)
{
        struct checker c = { env, err };
        enum expr_type t;

        if (check_node(&c, e->root, &t) < 0)
                return -EINVAL;
        if (ret_type)
                *ret_type = t;
        return 0;
}

/* ---- evaluation ---------------------------------------------------------- */

struct evaluator {
        const struct expr_env *env;
};

static void eval_node(const struct evaluator *ev, const struct node *n, struct expr_value *v);

static void set_null(struct expr_value *v)
{
        v->kind = EV_NULL;
}

static void set_bool(struct expr_value *v, bool b)
{
        v->kind = EV_BOOL;
        v->b = b;
}

static void set_num(struct expr_value *v, double d)
{
        if (!isfinite(d)) {
                v->kind = EV_NULL;
                return;
        }
        v->kind = EV_NUMBER;
        v->num = d;
}

static void set_date(struct expr_value *v, double d)
{
        /* 1900-01-01 .. 2999-12-31 */
        if (!(d >= -25567 && d <= 376199)) {
                v->kind = EV_NULL;
                return;
        }
        v->kind = EV_DATE;
        v->date = (int32_t)d;
}

bool expr_value_truthy(const struct expr_value *v)
{
        return v->kind == EV_BOOL ? v->b : v->kind != EV_NULL;
}

static bool is_empty(const struct expr_value *v)
{
        return v->kind == EV_NULL || (v->kind == EV_STRING && v->str[0] == '\0');
}

/* Both sides as dates, when one is a date and the other a string that
 * reads as one. */
static bool as_dates(const struct expr_value *a, const struct expr_value *b, int32_t *x, int32_t *y)
{
        if (a->kind == EV_DATE && b->kind == EV_DATE) {
                *x = a->date;
                *y = b->date;
                return true;
        }
        if (a->kind == EV_DATE && b->kind == EV_STRING && cal_date_parse(b->str, y) == 0) {
                *x = a->date;
                return true;
        }
        if (b->kind == EV_DATE && a->kind == EV_STRING && cal_date_parse(a->str, x) == 0) {
                *y = b->date;
                return true;
        }
        return false;
}

/* -1, 0, 1, or 2 when the two cannot be compared. */
static int compare(const struct expr_value *a, const struct expr_value *b)
{
        int32_t x, y;
        int r;

        if (as_dates(a, b, &x, &y))
                return (x > y) - (x < y);
        if (a->kind != b->kind)
                return 2;
        switch (a->kind) {
        case EV_BOOL:
                return (a->b > b->b) - (a->b < b->b);
        case EV_NUMBER:
                return (a->num > b->num) - (a->num < b->num);
        case EV_STRING:
                r = strcmp(a->str, b->str);
                return (r > 0) - (r < 0);
        case EV_REPEAT:
                return (a->rows > b->rows) - (a->rows < b->rows);
        default:
                return 2;
        }
}

/* Is word (len bytes) one of the space-separated values in list? */
static bool list_has(const char *list, const char *word, size_t len)
{
        const char *p = list;

        if (len == 0)
                return false;
        while (*p) {
                while (*p == ' ')
                        p++;
                const char *e = p;
                while (*e && *e != ' ')
                        e++;
                if ((size_t)(e - p) == len && memcmp(p, word, len) == 0)
                        return true;
                p = e;
        }
        return false;
}

static long list_count(const char *list)
{
        long n = 0;
        const char *p = list;

        while (*p) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                n++;
                while (*p && *p != ' ')
                        p++;
        }
        return n;
}

static void eval_call(const struct evaluator *ev, const struct node *n, struct expr_value *v)
{
        struct expr_value a, b;
        int32_t birth;
        char g;

        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        if (n->fn != F_TODAY)
                eval_node(ev, n->kid[0], &a);
        switch (n->fn) {
        case F_TODAY:
                v->kind = EV_DATE;
                v->date = ev->env->today;
                return;
        case F_AGE:
                /* a date, an ID number, or text that reads as a date */
                if (a.kind == EV_DATE)
                        birth = a.date;
                else if (a.kind != EV_STRING ||
                         (idnum_birth(a.str, &birth) < 0 && cal_date_parse(a.str, &birth) < 0)) {
                        set_null(v);
                        return;
                }
                if (birth > ev->env->today) {
                        set_null(v);
                        return;
                }
                set_num(v, cal_years_between(birth, ev->env->today));
                return;
        case F_GENDER:
                if (a.kind != EV_STRING || idnum_gender(a.str, &g) < 0) {
                        set_null(v);
                        return;
                }
                v->kind = EV_STRING;
                v->str = g == 'M' ? "M" : "F";
                return;
        case F_STRING_LENGTH:
                if (a.kind == EV_STRING)
                        set_num(v, (double)utf8_length(a.str, strlen(a.str)));
                else if (a.kind == EV_NULL)
                        set_num(v, 0);
                else
                        set_null(v);
                return;
        case F_COUNT:
                if (a.kind == EV_REPEAT)
                        set_num(v, (double)a.rows);
                else
                        set_null(v);
                return;
        case F_SELECTED:
                eval_node(ev, n->kid[1], &b);
                set_bool(v, a.kind == EV_STRING && b.kind == EV_STRING && list_has(a.str, b.str, strlen(b.str)));
                return;
        case F_COUNT_SELECTED:
                set_num(v, a.kind == EV_STRING ? (double)list_count(a.str) : 0);
                return;
        case F_REGEX:
                set_bool(v, a.kind == EV_STRING && n->re && regexec(n->re, a.str, 0, NULL, 0) == 0);
                return;
        case F_NOT:
                set_bool(v, !expr_value_truthy(&a));
                return;
        }
        set_null(v);
}

static void eval_node(const struct evaluator *ev, const struct node *n, struct expr_value *v)
{
        struct expr_value a, b;
        int c;

        memset(v, 0, sizeof *v);
        switch (n->kind) {
        case N_NUM:
                set_num(v, n->num);
                return;
        case N_STR:
                v->kind = EV_STRING;
                v->str = n->str;
                return;
        case N_SELF:
        case N_REF:
                if (!ev->env->value_of || ev->env->value_of(ev->env->userdata, n->kind == N_REF ? n->str : NULL, v) < 0)
                        memset(v, 0, sizeof *v);
                if (v->kind == EV_STRING && !v->str)
                        set_null(v);
                return;
        case N_OR:
        case N_AND:
                eval_node(ev, n->kid[0], &a);
                if (expr_value_truthy(&a) == (n->kind == N_OR)) {
                        set_bool(v, n->kind == N_OR);
                        return;
                }
                eval_node(ev, n->kid[1], &b);
                set_bool(v, expr_value_truthy(&b));
                return;
        case N_NEG:
                eval_node(ev, n->kid[0], &a);
                if (a.kind == EV_NUMBER)
                        set_num(v, -a.num);
                else
                        set_null(v);
                return;
        case N_CALL:
                eval_call(ev, n, v);
                return;
        default:
                break;
        }
        eval_node(ev, n->kid[0], &a);
        eval_node(ev, n->kid[1], &b);
        switch (n->kind) {
        case N_EQ:
        case N_NE:
                if (is_empty(&a) || is_empty(&b))
                        c = is_empty(&a) && is_empty(&b) ? 0 : 2;
                else
                        c = compare(&a, &b);
                set_bool(v, (c == 0) == (n->kind == N_EQ));
                return;
        case N_LT:
        case N_LE:
        case N_GT:
        case N_GE:
                c = a.kind == EV_NULL || b.kind == EV_NULL ? 2 : compare(&a, &b);
                if (c == 2)
                        set_bool(v, false);
                else
                        set_bool(v, n->kind == N_LT ? c < 0 : n->kind == N_LE ? c <= 0 : n->kind == N_GT ? c > 0 : c >= 0);
                return;
        default:
                break;
        }
        /* arithmetic */
        if (a.kind == EV_NUMBER && b.kind == EV_NUMBER) {
                switch (n->kind) {
                case N_ADD: set_num(v, a.num + b.num); return;
                case N_SUB: set_num(v, a.num - b.num); return;
                case N_MUL: set_num(v, a.num * b.num); return;
                case N_DIV:
                        if (b.num == 0)
                                set_null(v);
                        else
                                set_num(v, a.num / b.num);
                        return;
                case N_MOD:
                        if (b.num == 0)
                                set_null(v);
                        else
                                set_num(v, fmod(a.num, b.num));
                        return;
                default:
                        break;
                }
        } else if (n->kind == N_ADD && a.kind == EV_DATE && b.kind == EV_NUMBER) {
                set_date(v, (double)a.date + trunc(b.num));
                return;
        } else if (n->kind == N_ADD && a.kind == EV_NUMBER && b.kind == EV_DATE) {
                set_date(v, trunc(a.num) + (double)b.date);
                return;
        } else if (n->kind == N_SUB && a.kind == EV_DATE && b.kind == EV_NUMBER) {
                set_date(v, (double)a.date - trunc(b.num));
                return;
        } else if (n->kind == N_SUB && a.kind == EV_DATE && b.kind == EV_DATE) {
                set_num(v, (double)a.date - (double)b.date);
                return;
        }
        set_null(v);
}

int expr_eval(const expr *e, const struct expr_env *env, struct expr_value *ret)
{
        struct evaluator ev = { env };

        eval_node(&ev, e->root, ret);
        return 0;
}

static void foreach_ref(const struct node *n, void (*fn)(void *, const char *, size_t), void *ud)
{
        if (!n)
                return;
        if (n->kind == N_REF)
                fn(ud, n->str, n->off);
        foreach_ref(n->kid[0], fn, ud);
        foreach_ref(n->kid[1], fn, ud);
}

void expr_foreach_ref(const expr *e, void (*fn)(void *ud, const char *name, size_t offset), void *ud)
{
        foreach_ref(e->root, fn, ud);
}
