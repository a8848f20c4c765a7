/* The expression language's tokens: numbers, quoted strings, "." and
 * ${name}, names of functions and operators (and, or, div, mod). Every
 * error carries the byte offset of the token that caused it, so the
 * catalogue checker can point at FILE:LINE:COL. Authors type these in
 * Excel with a Chinese input method on, so full-width punctuation gets a
 * message that names the ASCII character to use instead, and an operator
 * from another language ('==', '&', '|', '/', '%') names the one to use. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "forms/csv.h"
#include "forms/expr-int.h"

/* ---- lexer --------------------------------------------------------------- */

void expr_fail(struct parser *p, size_t off, const char *fmt, ...)
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
                        expr_fail(p, off, "full-width character '%s': type the ASCII '%s' instead "
                                  "(switch the input method to English)", wide_chars[i].wide, wide_chars[i].ascii);
                        return;
                }
        }
        if (n > 1)
                expr_fail(p, off, "unexpected character '%.*s'", (int)n, s);
        else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                expr_fail(p, off, "unexpected byte 0x%02x", (unsigned)(unsigned char)*s);
        else
                expr_fail(p, off, "unexpected character '%c'", *s);
}

void expr_lex(struct parser *p)
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
                        expr_fail(p, i, "malformed number '%.*s'", (int)(j - i + 1), s + i);
                        return;
                }
                if (j - i > 30) {
                        expr_fail(p, i, "number too long (at most 30 characters)");
                        return;
                }
                p->t = T_NUM;
        } else if (c == '\'' || c == '"') {
                const char *q = memchr(s + i + 1, c, p->len - i - 1);
                if (!q) {
                        expr_fail(p, i, "unterminated string: add the closing %c", c);
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
                                expr_fail(p, k, "expected '{' after '$' (write a field as ${name})");
                        return;
                }
                k++;
                if (k >= p->len || !is_alpha(s[k])) {
                        expr_fail(p, k, "expected a field name after '${'");
                        return;
                }
                p->sval = k;
                while (k < p->len && is_alnum(s[k]))
                        k++;
                p->slen = k - p->sval;
                if (p->slen > 128) {
                        expr_fail(p, p->sval, "field name too long");
                        return;
                }
                if (k >= p->len || s[k] != '}') {
                        if (k < p->len && (unsigned char)s[k] >= 0x80)
                                bad_char(p, k);
                        else
                                expr_fail(p, k, "expected '}' to close the field name");
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
                                expr_fail(p, i, "'==' is not an operator: use '=' to compare");
                                return;
                        }
                        p->t = T_EQ;
                        break;
                case '!':
                        if (d != '=') {
                                expr_fail(p, i, "'!' is not an operator: use not(...) or '!='");
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
                        expr_fail(p, i, "'&' is not an operator: use 'and'");
                        return;
                case '|':
                        expr_fail(p, i, "'|' is not an operator: use 'or'");
                        return;
                case '/':
                        expr_fail(p, i, "'/' is not an operator: use 'div' to divide");
                        return;
                case '%':
                        expr_fail(p, i, "'%%' is not an operator: use 'mod'");
                        return;
                default:
                        bad_char(p, i);
                        return;
                }
        }
        p->tlen = j - i;
        p->pos = j;
}

void expr_unexpected(struct parser *p, const char *wanted)
{
        if (p->t == T_END)
                expr_fail(p, p->toff, "unexpected end of expression%s%s", wanted ? ": expected " : "",
                          wanted ? wanted : "");
        else
                expr_fail(p, p->toff, "unexpected '%.*s'%s%s", (int)(p->tlen > 40 ? 40 : p->tlen), p->src + p->toff,
                          wanted ? ": expected " : "", wanted ? wanted : "");
}
