/* See fetchguard.h. */
#include "agent/fetchguard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <zlib.h>

#include "sync/refs.h"

static int grow(char **buf, size_t *cap, size_t need)
{
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : 65536;
        while (n < need)
                n *= 2;
        char *b = realloc(*buf, n);
        if (!b)
                return -ENOMEM;
        *buf = b;
        *cap = n;
        return 0;
}

int fetchguard_read(int fd, const char *encoding, char **ret, size_t *ret_len, char *err, size_t errlen)
{
        bool gz = false;
        char *raw = NULL, *out = NULL;
        size_t rn = 0, rcap = 0, on = 0, ocap = 0;
        int r = 0;

        *ret = NULL;
        *ret_len = 0;
        if (encoding && *encoding && strcasecmp(encoding, "identity") != 0) {
                if (strcasecmp(encoding, "gzip") != 0 && strcasecmp(encoding, "x-gzip") != 0) {
                        snprintf(err, errlen, "the content encoding %.40s is not accepted (gzip or none)", encoding);
                        return -EINVAL;
                }
                gz = true;
        }
        for (;;) {
                if ((r = grow(&raw, &rcap, rn + 65536)) < 0)
                        goto fail;
                ssize_t n = read(fd, raw + rn, 65536);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(err, errlen, "cannot read the request: %s", strerror(errno));
                        r = -EIO;
                        goto fail;
                }
                if (n == 0)
                        break;
                rn += (size_t)n;
                if (rn > FETCHGUARD_MAX_IN) {
                        snprintf(err, errlen, "the fetch request is larger than %u MiB", FETCHGUARD_MAX_IN >> 20);
                        r = -E2BIG;
                        goto fail;
                }
        }
        if (!gz) {
                *ret = raw;
                *ret_len = rn;
                return 0;
        }
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
                r = -ENOMEM;
                goto fail;
        }
        z.next_in = (Bytef *)raw;
        z.avail_in = (uInt)rn;
        int zr = Z_OK;
        while (zr != Z_STREAM_END) {
                if (on >= FETCHGUARD_MAX_OUT) {
                        snprintf(err, errlen, "the fetch request inflates to more than %u MiB",
                                 FETCHGUARD_MAX_OUT >> 20);
                        r = -E2BIG;
                        break;
                }
                if ((r = grow(&out, &ocap, on + 65536)) < 0)
                        break;
                size_t room = ocap - on;
                if (room > FETCHGUARD_MAX_OUT - on + 1)
                        room = FETCHGUARD_MAX_OUT - on + 1;     /* one byte over the cap shows it */
                z.next_out = (Bytef *)out + on;
                z.avail_out = (uInt)room;
                zr = inflate(&z, Z_NO_FLUSH);
                on += room - z.avail_out;
                if (zr != Z_OK && zr != Z_STREAM_END) {
                        snprintf(err, errlen, "the fetch request is not a valid gzip stream");
                        r = -EINVAL;
                        break;
                }
                if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
                        snprintf(err, errlen, "the fetch request's gzip stream is cut short");
                        r = -EINVAL;
                        break;
                }
        }
        inflateEnd(&z);
        if (r == 0 && on > FETCHGUARD_MAX_OUT) {
                snprintf(err, errlen, "the fetch request inflates to more than %u MiB", FETCHGUARD_MAX_OUT >> 20);
                r = -E2BIG;
        }
        if (r < 0)
                goto fail;
        free(raw);
        *ret = out;
        *ret_len = on;
        return 0;
fail:
        free(raw);
        free(out);
        return r;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int fetchguard_wants(const char *body, size_t len, int (*fn)(void *ud, const git_oid *want), void *ud, char *err,
                     size_t errlen)
{
        size_t off = 0;

        while (off < len) {
                int v = 0;
                if (len - off < 4) {
                        snprintf(err, errlen, "the fetch request ends inside a pkt-line length");
                        return -EINVAL;
                }
                for (int i = 0; i < 4; i++) {
                        int h = hexval(body[off + i]);
                        if (h < 0) {
                                snprintf(err, errlen, "the fetch request has a bad pkt-line length at byte %zu", off);
                                return -EINVAL;
                        }
                        v = v * 16 + h;
                }
                if (v == 0 || v == 1 || v == 2) {       /* flush, delim, response-end */
                        off += 4;
                        continue;
                }
                if (v < 4 || (size_t)v > len - off) {
                        snprintf(err, errlen, "the fetch request has a pkt-line of length %d at byte %zu", v, off);
                        return -EINVAL;
                }
                const char *p = body + off + 4;
                size_t n = (size_t)v - 4;
                off += (size_t)v;
                if (n < 5 || memcmp(p, "want ", 5) != 0)
                        continue;
                git_oid id;
                if (n < 45 || git_oid_fromstrn(&id, p + 5, 40) < 0 || (n > 45 && p[45] != ' ' && p[45] != '\n')) {
                        snprintf(err, errlen, "the fetch request has a want that is not an object id");
                        return -EINVAL;
                }
                for (int i = 0; i < 40; i++)
                        if (hexval(p[5 + i]) < 0) {     /* lower-case only, as git writes it */
                                snprintf(err, errlen, "the fetch request has a want that is not an object id");
                                return -EINVAL;
                        }
                int r = fn(ud, &id);
                if (r)
                        return r;
        }
        return 0;
}

/* No fetch of a county's partitions asks for more; a request that does
 * is refused before any work (it could cost the hall a walk per want). */
#define MAX_WANTS 10000
#define MAX_WALKED_WANTS 64     /* wants that are not tips (a ref moved meanwhile) */

struct tips {
        git_repository *repo;
        git_oid *v;             /* sorted */
        size_t n, cap;
        size_t wants, walked;
        char *err;
        size_t errlen;
};

static int oid_cmp(const void *a, const void *b)
{
        return git_oid_cmp(a, b);
}

static bool visible(const char *node, const char *name)
{
        char part[32], writer[32];

        if (strncmp(name, CATFEED_PREFIX, strlen(CATFEED_PREFIX)) == 0 ||
            strncmp(name, ROSTER_PREFIX, strlen(ROSTER_PREFIX)) == 0)
                return true;
        /* its own reports: a home restored from an older backup goes on
         * from the hall's copy (sync/report.h) */
        if (strncmp(name, REPORT_PREFIX, strlen(REPORT_PREFIX)) == 0)
                return strcmp(name + strlen(REPORT_PREFIX), node) == 0;
        if (feed_parse_ref(name, part, sizeof part, writer, sizeof writer) ||
            scan_parse_ref(name, part, sizeof part, writer, sizeof writer))
                return feed_entitled(node, part);
        return false;
}

static int want_is_tip(void *ud, const git_oid *want)
{
        struct tips *t = ud;
        char hex[GIT_OID_HEXSZ + 1];
        git_object_t type;
        size_t len;
        git_odb *odb = NULL;

        if (++t->wants > MAX_WANTS) {
                snprintf(t->err, t->errlen, "the fetch request asks for more than %d objects", MAX_WANTS);
                return -EINVAL;
        }
        if (t->n && bsearch(want, t->v, t->n, sizeof *t->v, oid_cmp))
                return 0;
        if (++t->walked > MAX_WALKED_WANTS) {
                snprintf(t->err, t->errlen, "the fetch request asks for more than %d objects that are not tips of refs",
                         MAX_WALKED_WANTS);
                return -EINVAL;
        }
        /* a ref that moved between the advertisement and this request (a
         * stateless HTTP fetch is two requests): a commit its new tip
         * still reaches is what git itself allows; a tree or a blob never */
        if (git_repository_odb(&odb, t->repo) == 0 && git_odb_read_header(&len, &type, odb, want) == 0 &&
            type == GIT_OBJECT_COMMIT && t->n && git_graph_reachable_from_any(t->repo, want, t->v, t->n) == 1) {
                git_odb_free(odb);
                return 0;
        }
        git_odb_free(odb);
        git_oid_tostr(hex, sizeof hex, want);
        snprintf(t->err, t->errlen, "want %s is not the tip of a ref this node may fetch", hex);
        return -EPERM;
}

int fetchguard_check(git_repository *repo, const char *node, const char *body, size_t len, char *err,
                     size_t errlen)
{
        struct tips t = { .repo = repo, .err = err, .errlen = errlen };
        git_reference_iterator *it = NULL;
        git_reference *ref;
        int r = 0;

        if (git_reference_iterator_new(&it, repo) < 0) {
                snprintf(err, errlen, "cannot list the hall's refs");
                return -EIO;
        }
        while (r == 0 && git_reference_next(&ref, it) == 0) {
                const git_oid *id = git_reference_target(ref);
                if (id && visible(node, git_reference_name(ref))) {
                        if (t.n == t.cap) {
                                size_t cap = t.cap ? 2 * t.cap : 256;
                                git_oid *v = realloc(t.v, cap * sizeof *v);
                                if (!v)
                                        r = -ENOMEM;
                                else
                                        t.v = v, t.cap = cap;
                        }
                        if (r == 0)
                                t.v[t.n++] = *id;
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        if (r == 0 && t.n)
                qsort(t.v, t.n, sizeof *t.v, oid_cmp);
        if (r == 0)
                r = fetchguard_wants(body, len, want_is_tip, &t, err, errlen);
        free(t.v);
        return r;
}
