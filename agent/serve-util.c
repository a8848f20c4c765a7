/* The station daemon: answers, dates, query parameters and
 * path segments. See serve-int.h. */
#include "agent/serve-int.h"

static bool url_decode(const char *s, size_t n, char *out, size_t cap);

/* ---- small helpers ---------------------------------------------------------- */

int32_t today(void)
{
        bool bad;

        return home_today(NULL, &bad);
}

int hexval(int ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

/* Decode %XX and '+' of a query value into out; false when malformed
 * or it holds a NUL. */
static bool url_decode(const char *s, size_t n, char *out, size_t cap)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                int ch = (unsigned char)s[i];
                if (ch == '%') {
                        if (i + 2 >= n)
                                return false;
                        int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
                        if (a < 0 || b < 0)
                                return false;
                        ch = a * 16 + b;
                        i += 2;
                } else if (ch == '+') {
                        ch = ' ';
                }
                if (ch == 0 || k + 1 >= cap)
                        return false;
                out[k++] = (char)ch;
        }
        out[k] = '\0';
        return true;
}

/* The value of query parameter name (decoded), or NULL when absent;
 * *bad when present but malformed. */
const char *qparam(const struct req *r, const char *name, char *buf, size_t cap, bool *bad)
{
        size_t nl = strlen(name);
        const char *p = r->query;

        while (*p) {
                const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
                if ((size_t)(end - p) > nl && !strncmp(p, name, nl) && p[nl] == '=') {
                        if (!url_decode(p + nl + 1, (size_t)(end - p - nl - 1), buf, cap)) {
                                *bad = true;
                                return NULL;
                        }
                        return buf;
                }
                if ((size_t)(end - p) == nl && !strncmp(p, name, nl)) {
                        buf[0] = '\0';
                        return buf;
                }
                p = amp ? amp + 1 : end;
        }
        return NULL;
}

/* A path segment names an application, draft or material: a key the
 * CLI takes (app_key_ok: a draft's id is also its request key), and no
 * ".." in a path. */
bool ident_ok(const char *s, size_t n)
{
        return app_key_ok(s, n) && !(n >= 2 && memmem(s, n, "..", 2));
}

/* Split "/api/apps/ID/rest" after prefix: the segment into seg, the rest
 * (with its '/') returned; NULL when the segment is not an ident. */
const char *segment(const char *path, const char *prefix, char *seg, size_t cap)
{
        size_t pl = strlen(prefix);

        if (strncmp(path, prefix, pl))
                return NULL;
        const char *s = path + pl, *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (!ident_ok(s, n) || n >= cap)
                return NULL;
        memcpy(seg, s, n);
        seg[n] = '\0';
        return slash ? slash : "";
}

/* The body as JSON, read once: its bytes (a password, an ID number) are
 * wiped as soon as they are parsed, not when the request's answer has
 * gone out (the parsed value is the route's to wipe or keep). */
json_t *body_json(struct req *r)
{
        json_error_t e;
        json_t *j;

        if (!r->len)
                return NULL;
        j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &e);
        explicit_bzero(r->body, r->len);
        r->len = 0;
        return j;
}

bool is_write(const struct req *r)
{
        return strcmp(r->method, "GET") && strcmp(r->method, "HEAD");
}

/* nbytes random bytes as hex (at most 64 bytes) */
void random_hex(char *out, size_t nbytes)
{
        unsigned char b[64];

        randombytes_buf(b, nbytes);
        sodium_bin2hex(out, 2 * nbytes + 1, b, nbytes);
}

void token_hash(const char *s, char out[65])
{
        sha256_hex(s, strlen(s), out);
}

const char *operator_name(struct station *st, const char *op, char *buf, size_t cap)
{
        struct readmodel_operator o;

        buf[0] = '\0';
        /* a disabled operator is no one here: no sign-in, no session */
        bool found = readmodel_operator(st->h.st, st->h.node, op, &o) == 0 && !o.disabled;
        if (found)
                snprintf(buf, cap, "%s", o.name);
        return found ? buf : NULL;
}
