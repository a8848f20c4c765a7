/* Transfer of feeds, scan chains, the catalogue and the roster with
 * another repository: fetch into the incoming refs (from a path, or
 * over HTTP(S) with the hall's token and its certificate pinned), push
 * fast-forward only with the far side's refusals logged, and listing
 * the far side's refs. See transfer.h and docs/sync.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "forms/division.h"
#include "sync/connpool.h"
#include "sync/incoming.h"
#include "sync/transfer.h"
#include "sync/platform.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

bool feed_show_progress;

static int fetch_progress(const git_indexer_progress *st, void *payload)
{
        (void)payload;
        if (st->total_objects)
                fprintf(stderr, "\rreceiving %u/%u objects, %.1f KiB%s", st->received_objects, st->total_objects,
                        st->received_bytes / 1024.0, st->received_objects == st->total_objects ? "\n" : "");
        return 0;
}

static int push_progress(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
        (void)payload;
        if (total)
                fprintf(stderr, "\rsending %u/%u objects, %.1f KiB%s", current, total, bytes / 1024.0,
                        current == total ? "\n" : "");
        return 0;
}

static int remote_open(git_repository *repo, const char *url, git_remote **ret, feed_log_fn log, void *ud)
{
        /* one connection for the sync's steps, TLS 1.3 (sync/connpool.h);
         * DAIBAN_TLS=libgit2 keeps libgit2's own streams (a comparison) */
        const char *tls = getenv("DAIBAN_TLS");
        if (strncmp(url, "https://", 8) == 0 && !(tls && strcmp(tls, "libgit2") == 0))
                connpool_install();
        if (git_remote_create_anonymous(ret, repo, url) < 0) {
                if (log)
                        log(ud, "cannot use the remote %s: %s", url, gerr());
                return -EIO;
        }
        return 0;
}

/* What the callbacks of one transfer share. */
struct xfer {
        const struct feed_remote *rm;
        feed_log_fn log;
        void *ud;
        int rejected;           /* refs the far side refused */
        bool pin_mismatch, auth_refused;
        char *text;             /* what the far side said (a push), raw */
        size_t tlen;
};

/* A pinned certificate is accepted whatever its chain (a county's
 * self-signed one), and only if its SHA-256 is the pin; without a pin,
 * libgit2's own verification against the system's authorities decides. */
static int check_cert(git_cert *cert, int valid, const char *host, void *payload)
{
        struct xfer *x = payload;
        git_cert_x509 *xc = (git_cert_x509 *)cert;
        unsigned char md[32];
        char hex[65];

        (void)valid;
        (void)host;
        if (!x->rm->pin || !x->rm->pin[0])
                return GIT_PASSTHROUGH;
        if (cert->cert_type != GIT_CERT_X509 || crypto_hash_sha256(md, xc->data, xc->len) != 0) {
                x->pin_mismatch = true;
                return -1;
        }
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (strcasecmp(hex, x->rm->pin) != 0) {
                x->pin_mismatch = true;
                return -1;
        }
        return 0;
}

/* The hall answered 401: the token is wrong, revoked, or missing. Say
 * so instead of libgit2's "no callback set". */
static int no_credentials(git_credential **out, const char *url, const char *user, unsigned int allowed, void *payload)
{
        struct xfer *x = payload;

        (void)out;
        (void)url;
        (void)user;
        (void)allowed;
        x->auth_refused = true;
        return GIT_EUSER;
}

static int push_status(const char *refname, const char *status, void *payload)
{
        struct xfer *x = payload;

        if (status) {
                x->rejected++;
                if (x->log)
                        x->log(x->ud, "the remote refused %s: %s", refname, status);
        }
        return 0;
}

/* Messages from the far side's hooks ("remote: ..."), one line each. */
static int remote_text(const char *str, int len, void *payload)
{
        struct xfer *x = payload;

        /* kept whole as well: the hall's reasons come in chunks that may
         * split a line, and a push reads the refs it refused from them */
        if (len > 0 && x->tlen + (size_t)len < 256 * 1024) {
                char *nt = realloc(x->text, x->tlen + (size_t)len + 1);
                if (nt) {
                        memcpy(nt + x->tlen, str, (size_t)len);
                        x->tlen += (size_t)len;
                        nt[x->tlen] = '\0';
                        x->text = nt;
                }
        }
        while (len > 0) {
                int l = 0;
                while (l < len && str[l] != '\n' && str[l] != '\r')
                        l++;
                size_t tl = strlen(FEED_HALL_TIME);
                bool quiet = false;
                if ((size_t)l > tl && strncmp(str, FEED_HALL_TIME, tl) == 0) {
                        /* the hall's clock, for `daiban doctor`: not for the log */
                        char num[32];
                        struct timespec ts;
                        snprintf(num, sizeof num, "%.*s", (int)((size_t)l - tl), str + tl);
                        if (x->rm->clock && clock_gettime(CLOCK_REALTIME, &ts) == 0) {
                                x->rm->clock->hall_ms = strtoll(num, NULL, 10);
                                x->rm->clock->local_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                                x->rm->clock->valid = x->rm->clock->hall_ms > 0;
                        }
                        quiet = true;
                }
                if (l > 0 && x->log && !quiet)
                        x->log(x->ud, "remote: %.*s", l, str);
                str += l;
                len -= l;
                while (len > 0 && (*str == '\n' || *str == '\r')) {
                        str++;
                        len--;
                }
        }
        return 0;
}

static void xfer_setup(git_remote_callbacks *cb, struct xfer *x, git_strarray *hdrs, char *header, size_t hlen,
                       char **hv)
{
        cb->certificate_check = check_cert;
        cb->credentials = no_credentials;
        cb->payload = x;
        if (x->rm->token) {
                snprintf(header, hlen, "Authorization: Bearer %s", x->rm->token);
                hv[0] = header;
                hdrs->strings = hv;
                hdrs->count = 1;
        }
}

/* Connect first, with options we own: libgit2 1.5.1's git_remote_fetch
 * and git_remote_push leak their copy of the custom headers when their
 * own connect fails (a 401, a dead link); once connected they do not. */
static int xfer_connect(git_remote *remote, git_direction dir, const git_remote_callbacks *cb,
                        const git_strarray *hdrs)
{
        git_remote_connect_options co = GIT_REMOTE_CONNECT_OPTIONS_INIT;

        co.callbacks = *cb;
        co.custom_headers = *hdrs;
        return git_remote_connect_ext(remote, dir, &co);
}

static int xfer_failed(struct xfer *x, const char *what)
{
        if (x->log) {
                if (x->auth_refused)
                        x->log(x->ud, "%s %s failed: the remote refused this node's token (HTTP 401); ask the county"
                               " for a token and run 'daiban remote set URL --token TOKEN'", what, x->rm->url);
                else if (x->pin_mismatch)
                        x->log(x->ud, "%s %s failed: the server's certificate does not match the pinned SHA-256;"
                               " ask the county for its certificate's pin and run 'daiban remote set' again", what,
                               x->rm->url);
                else
                        x->log(x->ud, "%s %s failed: %s (if the link is down: what this node holds is kept, and the"
                               " next sync resumes where this one stopped)", what, x->rm->url, gerr());
        }
        return -EIO;
}

/* The directory of a path remote ("file://" or a plain path), or NULL. */
static bool local_remote(const char *url, char *path, size_t plen)
{
        const char *p = url;
        size_t n;

        if (strncmp(p, "file://", 7) == 0)
                p += 7;
        else if (strstr(p, "://"))
                return false;
        n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
                n--;
        return (size_t)snprintf(path, plen, "%.*s", (int)n, p) < plen;
}

/* Would a fetch by this node take the peer's ref name, and under which
 * incoming name? The same three refspecs as a fetch over the network. */
static bool wanted_ref(const char *name, const char *self, const char *county_ref, char *inc, size_t ilen)
{
        size_t fl = strlen(FEED_PREFIX), sl = strlen(SCAN_PREFIX), rl = strlen(ROSTER_PREFIX);

        if (strncmp(name, FEED_PREFIX, fl) == 0 && strncmp(name + fl, self, strlen(self)) == 0)
                return (size_t)snprintf(inc, ilen, FEED_INCOMING "%s", name + fl) < ilen;
        if (strncmp(name, SCAN_PREFIX, sl) == 0 && strncmp(name + sl, self, strlen(self)) == 0)
                return (size_t)snprintf(inc, ilen, SCAN_INCOMING "%s", name + sl) < ilen;
        if (strcmp(name, county_ref) == 0)
                return (size_t)snprintf(inc, ilen, CATFEED_INCOMING "%s", name + strlen(CATFEED_PREFIX)) < ilen;
        if (strncmp(name, ROSTER_PREFIX, rl) == 0 && strcmp(name + rl, county_ref + strlen(CATFEED_PREFIX)) == 0)
                return (size_t)snprintf(inc, ilen, ROSTER_INCOMING "%s", name + rl) < ilen;
        return false;
}

/* A fetch from another home's repository on this machine. libgit2
 * 1.5.1's local transport packs every ref the peer holds, not the
 * wanted ones, so it would copy other partitions' objects here: the
 * pack is built from the wanted refs alone instead, less what this
 * repository already holds, and indexed as a received pack is. */
static int local_fetch(git_repository *repo, const char *path, const struct feed_remote *rm, const char *self,
                       feed_log_fn log, void *ud)
{
        git_repository *peer = NULL;
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_revwalk *walk = NULL;
        git_packbuilder *pb = NULL;
        git_odb *peer_odb = NULL, *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        git_buf pack = { 0 };
        char county[7], county_ref[64];
        char **inc = NULL;
        git_oid *ids = NULL;
        size_t n = 0;
        int r = -EIO;

        catfeed_county(self, county);
        snprintf(county_ref, sizeof county_ref, CATFEED_PREFIX "%s", county);
        if (git_repository_open_bare(&peer, path) < 0) {
                if (log)
                        log(ud, "fetch from %s failed: %s", rm->url, gerr());
                return -EIO;
        }
        if (rm->seen)
                feed_seen_free(rm->seen);
        if (git_repository_odb(&peer_odb, peer) < 0 || git_revwalk_new(&walk, peer) < 0 ||
            git_packbuilder_new(&pb, peer) < 0 || git_reference_iterator_glob_new(&it, peer, "refs/*") < 0)
                goto out;
        while (git_reference_next(&ref, it) == 0) {
                const char *name = git_reference_name(ref);
                const git_oid *id = git_reference_target(ref);
                char in[256];
                int ok = 0;
                if (id && rm->seen) {
                        /* what the peer holds, as a network fetch sees it advertised */
                        char **nn = realloc(rm->seen->names, (rm->seen->n + 1) * sizeof *nn);
                        git_oid *ni = nn ? realloc(rm->seen->ids, (rm->seen->n + 1) * sizeof *ni) : NULL;
                        if (nn)
                                rm->seen->names = nn;
                        if (ni)
                                rm->seen->ids = ni;
                        if (ni && (nn[rm->seen->n] = strdup(name)))
                                ni[rm->seen->n++] = *id;
                        else
                                ok = -1;
                }
                if (ok == 0 && id && wanted_ref(name, self, county_ref, in, sizeof in)) {
                        char **ni = realloc(inc, (n + 1) * sizeof *ni);
                        git_oid *nd = ni ? realloc(ids, (n + 1) * sizeof *nd) : NULL;
                        if (ni)
                                inc = ni;
                        if (nd)
                                ids = nd;
                        if (!nd || !(inc[n] = strdup(in)))
                                ok = -1;
                        else if ((ok = git_revwalk_push(walk, id)) == 0)
                                ids[n++] = *id;
                        else
                                free(inc[n]);
                }
                git_reference_free(ref);
                if (ok < 0)
                        goto out;
        }
        git_reference_iterator_free(it);
        it = NULL;
        if (rm->seen)
                rm->seen->valid = true;
        /* what this repository holds already is not sent again */
        if (git_reference_iterator_glob_new(&it, repo, "refs/*") < 0)
                goto out;
        while (git_reference_next(&ref, it) == 0) {
                const git_oid *id = git_reference_target(ref);
                git_object *obj = NULL;
                if (id && git_odb_exists(peer_odb, id) && git_object_lookup(&obj, peer, id, GIT_OBJECT_COMMIT) == 0)
                        git_revwalk_hide(walk, id);
                git_object_free(obj);
                git_reference_free(ref);
        }
        if (git_packbuilder_insert_walk(pb, walk) < 0)
                goto out;
        if (git_packbuilder_object_count(pb) > 0) {
                if (git_packbuilder_write_buf(&pack, pb) < 0 || feed_incoming_odb(repo, &odb) < 0 ||
                    git_odb_write_pack(&wp, odb, feed_show_progress ? fetch_progress : NULL, NULL) < 0 ||
                    wp->append(wp, pack.ptr, pack.size, &stats) < 0 || wp->commit(wp, &stats) < 0)
                        goto out;
        }
        for (size_t i = 0; i < n; i++) {
                git_reference *nr = NULL;
                int cr = git_reference_create(&nr, feed_incoming_repo(repo), inc[i], &ids[i], 1, "daiban: fetch feeds");
                git_reference_free(nr);
                if (cr < 0)
                        goto out;
        }
        r = 0;
out:
        if (r < 0 && log)
                log(ud, "fetch from %s failed: %s", rm->url, gerr());
        if (wp)
                wp->free(wp);
        git_buf_dispose(&pack);
        git_odb_free(odb);
        git_odb_free(peer_odb);
        git_packbuilder_free(pb);
        git_revwalk_free(walk);
        git_reference_iterator_free(it);
        git_repository_free(peer);
        for (size_t i = 0; i < n; i++)
                free(inc[i]);
        free(inc);
        free(ids);
        return r;
}

static int cmp_lines(const void *a, const void *b)
{
        /* "<40 hex> <name>": by name */
        return strcmp(*(char *const *)a + GIT_OID_HEXSZ + 1, *(char *const *)b + GIT_OID_HEXSZ + 1);
}

/* The quarantine's repository names what repo holds (as packed refs: one
 * file, no fsync per ref), so that a fetch into it asks only for what is
 * new; the objects themselves it reads through its alternate. */
static int mirror_haves(git_repository *repo, git_repository *qrepo)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char **lines = NULL, path[4300];
        size_t n = 0;
        FILE *f;
        int r = 0;

        if (git_reference_iterator_glob_new(&it, repo, "refs/*") < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                const git_oid *id = git_reference_target(ref);
                const char *name = git_reference_name(ref);
                char hex[GIT_OID_HEXSZ + 1], **nl;
                if (id && strncmp(name, "refs/incoming/", 14) != 0) {
                        if ((nl = realloc(lines, (n + 1) * sizeof *lines)))
                                lines = nl;
                        if (nl && asprintf(&lines[n], "%s %s", git_oid_tostr(hex, sizeof hex, id), name) > 0)
                                n++;
                        else
                                r = -ENOMEM;
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        if (n)
                qsort(lines, n, sizeof *lines, cmp_lines);     /* (a new home holds no ref: lines is NULL) */
        snprintf(path, sizeof path, "%spacked-refs", git_repository_path(qrepo));
        /* (binary: on Windows a text-mode file would end each line in
         * "\r\n", and libgit2 would read the names with the '\r') */
        if (r == 0 && (f = fopen(path, "wb"))) {
                fputs("# pack-refs with: peeled fully-peeled sorted \n", f);
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%s\n", lines[i]);
                if (fclose(f) != 0)
                        r = -EIO;
        } else if (r == 0) {
                r = -EIO;
        }
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        return r;
}

int feed_fetch(git_repository *repo, const struct feed_remote *rm, const char *self, feed_log_fn log, void *ud)
{
        git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
        git_remote *remote = NULL;
        char spec[160], cspec[160], sspec[160], rspec[160], pspec[160], county[7];
        char *specp[5] = { spec, cspec, sspec, rspec, pspec };
        git_strarray specs = { specp, 5 };
        char header[512], *hv[1], path[4096];
        struct xfer x = { rm, log, ud, 0, false, false };
        int r;

        if (local_remote(rm->url, path, sizeof path))
                return local_fetch(repo, path, rm, self, log, ud);

        /* what comes in waits in the quarantine until its refs are
         * accepted: a refused feed's objects never enter the repository */
        git_repository *frepo = feed_incoming_repo(repo);
        if (frepo != repo && mirror_haves(repo, frepo) < 0) {
                if (log)
                        log(ud, "cannot prepare the quarantine for the fetch");
                return -EIO;
        }
        if ((r = remote_open(frepo, rm->url, &remote, log, ud)) < 0)
                return r;
        /* the partitions under this node's code, into the incoming area */
        snprintf(spec, sizeof spec, "+" FEED_PREFIX "%s*:" FEED_INCOMING "%s*", self, self);
        /* and the county's catalogue chain */
        catfeed_county(self, county);
        snprintf(cspec, sizeof cspec, "+" CATFEED_PREFIX "%s:" CATFEED_INCOMING "%s", county, county);
        /* and the scan chains of the same partitions */
        snprintf(sspec, sizeof sspec, "+" SCAN_PREFIX "%s*:" SCAN_INCOMING "%s*", self, self);
        /* and the county's key roster */
        snprintf(rspec, sizeof rspec, "+" ROSTER_PREFIX "%s:" ROSTER_INCOMING "%s", county, county);
        /* and how far the hall holds this node's own reports (a restored
         * home goes on from there: sync/report.h) */
        snprintf(pspec, sizeof pspec, "+" REPORT_PREFIX "%s:" REPORT_INCOMING "%s", self, self);
        xfer_setup(&fo.callbacks, &x, &fo.custom_headers, header, sizeof header, hv);
        if (feed_show_progress)
                fo.callbacks.transfer_progress = fetch_progress;
        fo.prune = GIT_FETCH_NO_PRUNE;
        fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
        fo.update_fetchhead = 0;
        r = xfer_connect(remote, GIT_DIRECTION_FETCH, &fo.callbacks, &fo.custom_headers);
        if (r == 0 && rm->seen) {
                /* remember what the remote holds: the push that follows
                 * skips what is there already (no connection at all when
                 * nothing is new) */
                const git_remote_head **heads;
                size_t nheads;
                feed_seen_free(rm->seen);
                if (git_remote_ls(&heads, &nheads, remote) == 0 && nheads < 1000000 &&
                    (rm->seen->names = calloc(nheads + 1, sizeof *rm->seen->names)) &&
                    (rm->seen->ids = calloc(nheads + 1, sizeof *rm->seen->ids))) {
                        for (size_t i = 0; i < nheads; i++) {
                                if (!(rm->seen->names[rm->seen->n] = strdup(heads[i]->name)))
                                        break;
                                rm->seen->ids[rm->seen->n++] = heads[i]->oid;
                        }
                        rm->seen->valid = rm->seen->n == nheads;
                }
        }
        if (r == 0)
                r = git_remote_fetch(remote, &specs, &fo, "daiban: fetch feeds");
        if (r < 0)
                r = xfer_failed(&x, "fetch from");
        git_remote_free(remote);
        connpool_settle(r == 0);
        return r < 0 ? -EIO : 0;
}

/* One push of specs; when refused is given, the refs the hall named in
 * its reasons ("daiban: refused <ref>: ...") are added to it. */
static int push_once(git_repository *repo, const struct feed_remote *rm, char **specs, size_t n, char ***refused,
                     size_t *nrefused, feed_log_fn log, void *ud)
{
        git_push_options po = GIT_PUSH_OPTIONS_INIT;
        git_remote *remote = NULL;
        git_strarray arr = { specs, n };
        char header[512], *hv[1];
        struct xfer x = { rm, log, ud, 0, false, false, NULL, 0 };
        int r;

        if (!n)
                return 0;
        xfer_setup(&po.callbacks, &x, &po.custom_headers, header, sizeof header, hv);
        po.callbacks.push_update_reference = push_status;
        po.callbacks.sideband_progress = remote_text;
        if (feed_show_progress)
                po.callbacks.push_transfer_progress = push_progress;
        if ((r = remote_open(repo, rm->url, &remote, log, ud)) < 0)
                return r;
        if (xfer_connect(remote, GIT_DIRECTION_PUSH, &po.callbacks, &po.custom_headers) < 0 ||
            git_remote_push(remote, &arr, &po) < 0)
                r = xfer_failed(&x, "push to");
        else if (x.rejected)
                r = -EPERM;
        git_remote_free(remote);
        /* (a refusal is an answer read to its end) */
        connpool_settle(r == 0 || r == -EPERM);
        for (const char *p = x.text; refused && p && (p = strstr(p, "daiban: refused refs/"));) {
                const char *name = p + strlen("daiban: refused "), *end = name;
                while (*end && *end != ':' && *end != ' ' && *end != '\n' && *end != '\r')
                        end++;
                char **nr = realloc(*refused, (*nrefused + 1) * sizeof *nr);
                if (nr) {
                        *refused = nr;
                        if ((nr[*nrefused] = strndup(name, (size_t)(end - name))))
                                (*nrefused)++;
                }
                p = end;
        }
        free(x.text);
        return r;
}

int feed_push_specs(git_repository *repo, const struct feed_remote *rm, char **specs, size_t n, feed_log_fn log,
                    void *ud)
{
        return push_once(repo, rm, specs, n, NULL, NULL, log, ud);
}

int feed_remote_ls(git_repository *repo, const struct feed_remote *rm, const char *prefix,
                   int (*cb)(const char *name, const git_oid *id, void *payload), void *payload, feed_log_fn log,
                   void *ud)
{
        git_remote_callbacks cb0 = GIT_REMOTE_CALLBACKS_INIT;
        git_strarray hdrs = { NULL, 0 };
        git_remote *remote = NULL;
        const git_remote_head **heads;
        size_t nheads;
        char header[512], *hv[1];
        struct xfer x = { rm, log, ud, 0, false, false };
        int r;

        xfer_setup(&cb0, &x, &hdrs, header, sizeof header, hv);
        if ((r = remote_open(repo, rm->url, &remote, log, ud)) < 0)
                return r;
        if (xfer_connect(remote, GIT_DIRECTION_PUSH, &cb0, &hdrs) < 0 || git_remote_ls(&heads, &nheads, remote) < 0) {
                r = xfer_failed(&x, "listing the refs of");
        } else {
                for (size_t i = 0; i < nheads && r == 0; i++)
                        if (strncmp(heads[i]->name, prefix, strlen(prefix)) == 0)
                                r = cb(heads[i]->name, &heads[i]->oid, payload);
        }
        git_remote_disconnect(remote);
        git_remote_free(remote);
        connpool_settle(r == 0);
        return r;
}

void feed_seen_free(struct feed_seen *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                free(s->names[i]);
        free(s->names);
        free(s->ids);
        memset(s, 0, sizeof *s);
}

/* Does the remote hold ref at id, by what the last fetch saw? */
static bool remote_holds(const struct feed_seen *s, const char *ref, const git_oid *id)
{
        if (!s || !s->valid)
                return false;
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->names[i], ref) == 0)
                        return git_oid_equal(&s->ids[i], id);
        return false;
}

/* The id the remote holds ref at, or NULL (not known, or not held). */
static const git_oid *remote_id(const struct feed_seen *s, const char *ref)
{
        for (size_t i = 0; s && s->valid && i < s->n; i++)
                if (strcmp(s->names[i], ref) == 0)
                        return &s->ids[i];
        return NULL;
}

/* Push name back when the remote lacks it or holds an ancestor of it. */
static void add_return(git_repository *repo, const struct feed_seen *seen, const char *name, const git_oid *mine,
                       char ***specs, size_t *n)
{
        const git_oid *theirs = remote_id(seen, name);
        char **ns;

        if (theirs && (git_oid_equal(theirs, mine) || git_graph_descendant_of(repo, mine, theirs) != 1))
                return;
        if (!(ns = realloc(*specs, (*n + 1) * sizeof *ns)))
                return;
        *specs = ns;
        if (asprintf(&ns[*n], "%s:%s", name, name) > 0)
                (*n)++;
}

int feed_push(git_repository *repo, const struct feed_remote *rm, const char *self, feed_log_fn log, void *ud)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char **specs = NULL;
        size_t n = 0;
        int r;

        if (git_reference_iterator_glob_new(&it, repo, FEED_PREFIX "*") < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char part[32], writer[32];
                /* this node's feeds, and those it relays: feeds of the
                 * partitions it may hold (a township carries its villages'
                 * feeds up) */
                if (feed_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                    feed_may_write(self, part, writer) && git_reference_target(ref) &&
                    !remote_holds(rm->seen, git_reference_name(ref), git_reference_target(ref))) {
                        char **ns = realloc(specs, (n + 1) * sizeof *specs);
                        if (ns) {
                                specs = ns;
                                /* no '+': fast-forward only */
                                if (asprintf(&specs[n], "%s:%s", git_reference_name(ref), git_reference_name(ref)) > 0)
                                        n++;
                        }
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        /* the county's own chains, when the hall is behind on them: a hall
         * restored from an older backup takes back what it wrote since
         * (agent/hall.c; a hall in service is never behind on its own) */
        size_t returns_from = n, returns_to = n;
        if (rm->seen && rm->seen->valid && division_code_level(self) > 1) {
                char county[7], cref[64];
                catfeed_county(self, county);
                if (git_reference_iterator_glob_new(&it, repo, FEED_PREFIX "*") == 0) {
                        while (git_reference_next(&ref, it) == 0) {
                                char part[32], writer[32];
                                const char *name = git_reference_name(ref);
                                if (git_reference_target(ref) &&
                                    feed_parse_ref(name, part, sizeof part, writer, sizeof writer) &&
                                    strcmp(writer, county) == 0 && feed_entitled(self, part))
                                        add_return(repo, rm->seen, name, git_reference_target(ref), &specs, &n);
                                git_reference_free(ref);
                        }
                        git_reference_iterator_free(it);
                }
                const char *chains[] = { ROSTER_PREFIX, CATFEED_PREFIX };
                for (size_t i = 0; i < 2; i++) {
                        git_oid mine;
                        snprintf(cref, sizeof cref, "%s%s", chains[i], county);
                        if (git_reference_name_to_id(&mine, repo, cref) == 0)
                                add_return(repo, rm->seen, cref, &mine, &specs, &n);
                }
                returns_to = n;
        }
        /* evidence of a second signed history, kept here (a stick brought
         * it), goes to the county: when the remote holds the feed as this
         * node does, the evidence is news to it */
        if (rm->seen && rm->seen->valid && git_reference_iterator_glob_new(&it, repo, FEED_EVIDENCE "*") == 0) {
                while (git_reference_next(&ref, it) == 0) {
                        char part[32], writer[32], feed[160];
                        git_oid head, mine;
                        const char *name = git_reference_name(ref);
                        if (feed_parse_evidence(name, part, sizeof part, writer, sizeof writer, &head, feed,
                                                sizeof feed) &&
                            feed_entitled(self, part) && git_reference_name_to_id(&mine, repo, feed) == 0 &&
                            remote_holds(rm->seen, feed, &mine) && !remote_holds(rm->seen, name, &head)) {
                                char **ns = realloc(specs, (n + 1) * sizeof *specs);
                                if (ns) {
                                        specs = ns;
                                        if (asprintf(&specs[n], "%s:%s", name, name) > 0)
                                                n++;
                                }
                        }
                        git_reference_free(ref);
                }
                git_reference_iterator_free(it);
        }
        /* this node's reports to the county (sync/report.h) */
        {
                char rref[96];
                git_oid rid;
                snprintf(rref, sizeof rref, REPORT_PREFIX "%s", self);
                /* (a home restored from an older backup may hold a chain the
                 * remote has gone past: it is not pushed, never forced) */
                const git_oid *theirs = remote_id(rm->seen, rref);
                if (git_reference_name_to_id(&rid, repo, rref) == 0 && !remote_holds(rm->seen, rref, &rid) &&
                    (!theirs || git_graph_descendant_of(repo, &rid, theirs) == 1)) {
                        char **ns = realloc(specs, (n + 1) * sizeof *specs);
                        if (ns) {
                                specs = ns;
                                if (asprintf(&specs[n], "%s:%s", rref, rref) > 0)
                                        n++;
                        }
                }
        }
        char **refused = NULL;
        size_t nrefused = 0;
        r = push_once(repo, rm, specs, n, &refused, &nrefused, log, ud);
        if (r == -EPERM && nrefused) {
                /* the hall's check takes a push whole or not at all: push
                 * again without the feeds it refused, so that one bad feed
                 * a township relays does not hold back the others */
                size_t k = 0;
                bool only_returns = true;
                for (size_t i = 0; i < n; i++) {
                        bool bad = false;
                        for (size_t j = 0; j < nrefused && !bad; j++)
                                bad = strncmp(specs[i], refused[j], strlen(refused[j])) == 0 &&
                                      specs[i][strlen(refused[j])] == ':';
                        if (bad && (i < returns_from || i >= returns_to))
                                only_returns = false;
                        if (bad)
                                free(specs[i]);
                        else
                                specs[k++] = specs[i];
                }
                int r2 = k && k < n ? push_once(repo, rm, specs, k, NULL, NULL, log, ud) : 0;
                if (r2 == -EIO)
                        r = -EIO;
                /* the county's chains given back and refused (a hall that
                 * is not restoring takes none): not this node's failure */
                else if (only_returns && r2 == 0)
                        r = 0;
                n = k;
        }
        for (size_t j = 0; j < nrefused; j++)
                free(refused[j]);
        free(refused);
        for (size_t i = 0; i < n; i++)
                free(specs[i]);
        free(specs);
        return r;
}
