/* Scan chains written and sent: the pieces of every scan this node
 * attached appended to its chains, signed, and pushed from where the
 * remote stands, a piece per push on a slow link and as many as take
 * about SCAN_PUSH_S on a fast one, so an interrupted transfer loses at
 * most the push in flight. A local marker ref,
 * refs/daiban/pushed/scans/<p>/<w>, keeps how far the remote is known to
 * hold a chain, so a sync with nothing new opens no connection for
 * scans. See scan.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "forms/division.h"
#include "sync/store-int.h"
#include "sync/scan.h"
#include "sync/connpool.h"
#include "sync/scan-int.h"
#include "sync/signed.h"

#define PUSHED_PREFIX "refs/daiban/pushed/scans/"

#define OUTGOING_PREFIX "refs/daiban/outgoing/scans/"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* The chain's tip: a scan interrupted while its pieces were written
 * (a crash) is to be finished before anything else is appended. */
static bool tip_unfinished(git_repository *repo, const git_oid *tip, char hex[41], int64_t *ret_next)
{
        git_commit *c = NULL;
        const char *m;
        long pi = 0, pk = 0;
        bool r = false;

        if (git_commit_lookup(&c, repo, tip) < 0)
                return false;
        m = git_commit_message(c);
        if (m && strncmp(m, "scan ", 5) == 0 && strspn(m + 5, "0123456789abcdef") == 40 &&
            sscanf(m + 45, " piece %ld/%ld", &pi, &pk) == 2 && pi < pk) {
                memcpy(hex, m + 5, 40);
                hex[40] = '\0';
                *ret_next = pi;         /* 1-based in the message: the next index */
                r = true;
        }
        git_commit_free(c);
        return r;
}

static int append_scan(git_repository *repo, const char *ref, const char *writer, const struct sshsig_key *key,
                       const char *hex, long *ret_pieces, char *err, size_t errlen)
{
        git_blob *b = NULL;
        git_oid id, tip;
        bool has_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
        int64_t size, count, first = 0;
        char pending[41];
        int r = 0;

        if (has_tip && tip_unfinished(repo, &tip, pending, &first)) {
                if (strcmp(pending, hex) != 0) {
                        /* finish the interrupted one first */
                        if ((r = append_scan(repo, ref, writer, key, pending, ret_pieces, err, errlen)) < 0)
                                return r;
                        has_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
                        first = 0;
                }
        }

        if (git_oid_fromstr(&id, hex) < 0 || git_blob_lookup(&b, repo, &id) < 0) {
                snprintf(err, errlen, "scan %.12s is not in this node's repository", hex);
                return -ENOENT;
        }
        size = (int64_t)git_blob_rawsize(b);
        if (size < 1 || size > (int64_t)SCAN_MAX_BYTES) {
                git_blob_free(b);
                snprintf(err, errlen, "scan %.12s is empty or larger than %u MiB", hex, SCAN_MAX_BYTES >> 20);
                return -EINVAL;
        }
        count = (size + SCAN_PIECE - 1) / SCAN_PIECE;
        for (int64_t i = first; i < count && r == 0; i++) {
                const char *data = (const char *)git_blob_rawcontent(b) + i * (int64_t)SCAN_PIECE;
                json_t *j = json_pack("{s:s,s:i,s:s,s:I,s:I,s:I}", "format", SCAN_FORMAT, "version", SCAN_VERSION, "blob",
                                      hex, "size", (json_int_t)size, "index", (json_int_t)i, "count", (json_int_t)count);
                char *meta = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), msg[128];
                git_oid mb, pb, tree_id, cid;
                git_treebuilder *tb = NULL;
                git_tree *tree = NULL;
                git_signature *sig = NULL;
                json_decref(j);
                r = -EIO;
                snprintf(msg, sizeof msg, "scan %s piece %" PRId64 "/%" PRId64 "\n", hex, i + 1, count);
                if (meta && git_blob_create_from_buffer(&mb, repo, meta, strlen(meta)) == 0 &&
                    git_blob_create_from_buffer(&pb, repo, data, (size_t)piece_len(size, i)) == 0 &&
                    git_treebuilder_new(&tb, repo, NULL) == 0 &&
                    git_treebuilder_insert(NULL, tb, "scan.json", &mb, GIT_FILEMODE_BLOB) == 0 &&
                    git_treebuilder_insert(NULL, tb, "piece", &pb, GIT_FILEMODE_BLOB) == 0 &&
                    git_treebuilder_write(&tree_id, tb) == 0 && git_tree_lookup(&tree, repo, &tree_id) == 0 &&
                    git_signature_new(&sig, writer, "daiban@localhost", 0, 0) == 0 &&
                    signed_commit(repo, ref, has_tip ? &tip : NULL, sig, msg, tree, key, &cid) == 0) {
                        tip = cid;
                        has_tip = true;
                        (*ret_pieces)++;
                        r = 0;
                } else {
                        snprintf(err, errlen, "cannot write a piece of scan %.12s: %s", hex, gerr());
                }
                free(meta);
                git_signature_free(sig);
                git_tree_free(tree);
                git_treebuilder_free(tb);
        }
        git_blob_free(b);
        return r;
}

int scan_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key, long *ret_pieces,
                      feed_log_fn log, void *ud)
{
        sqlite3_stmt *st;
        char lastpart[32] = "", ref[128], err[512];
        char (*have)[41] = NULL;
        size_t nhave = 0;

        if (store_restore_pending(s)) {         /* as feed_commit_local */
                *ret_pieces = 0;
                return 0;
        }
        int r = 0;

        *ret_pieces = 0;
        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT DISTINCT part, json_extract(body, '$.blob') AS b FROM events"
                               " WHERE node = ? AND type = 'app.material' AND b IS NOT NULL ORDER BY part",
                               -1, &st, NULL) != SQLITE_OK) {
                if (log)
                        log(ud, "cannot list scans: %s", store_errmsg(s));
                return -EIO;
        }
        sqlite3_bind_text(st, 1, self, -1, SQLITE_STATIC);
        while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
                const char *part = (const char *)sqlite3_column_text(st, 0);
                const char *hex = (const char *)sqlite3_column_text(st, 1);
                bool held = false;
                if (!part || !hex || strlen(hex) != 40 || !division_code_valid(part))
                        continue;
                snprintf(ref, sizeof ref, SCAN_PREFIX "%s/%s", part, self);
                if (strcmp(part, lastpart) != 0) {
                        free(have);
                        if (chain_blobs(repo, ref, &have, &nhave) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        snprintf(lastpart, sizeof lastpart, "%s", part);
                }
                for (size_t i = 0; i < nhave && !held; i++)
                        held = strcmp(have[i], hex) == 0;
                if (held)
                        continue;
                int ar = append_scan(repo, ref, self, key, hex, ret_pieces, err, sizeof err);
                if (ar == -ENOENT || ar == -EINVAL) {
                        if (log)
                                log(ud, "%s", err);     /* reported, the rest goes on */
                        continue;
                }
                if (ar < 0) {
                        if (log)
                                log(ud, "%s", err);
                        r = ar;
                        break;
                }
                void *nh = realloc(have, (nhave + 1) * sizeof *have);
                if (nh) {
                        have = nh;
                        memcpy(have[nhave++], hex, 41);
                }
        }
        sqlite3_finalize(st);
        free(have);
        return r;
}

/* ---- pushing ---------------------------------------------------------------------- */

struct remote_tips {
        char (*names)[128];
        git_oid *ids;
        size_t n;
};

static int collect_tip(const char *name, const git_oid *id, void *payload)
{
        struct remote_tips *t = payload;
        void *nn = realloc(t->names, (t->n + 1) * sizeof *t->names);
        void *ni = nn ? realloc(t->ids, (t->n + 1) * sizeof *t->ids) : NULL;

        if (nn)
                t->names = nn;
        if (!ni)
                return -ENOMEM;
        t->ids = ni;
        snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
        t->ids[t->n++] = *id;
        return 0;
}

/* The wall clock in milliseconds, as feed_clock's local_ms. */
static int64_t now_ms(void)
{
        uv_timeval64_t tv;

        if (uv_gettimeofday(&tv) != 0)
                return 0;
        return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* want pieces a push, as a count: at least one, at most SCAN_PUSH_MAX */
static size_t whole_pieces(double want)
{
        if (want > SCAN_PUSH_MAX)
                want = SCAN_PUSH_MAX;
        return want < 1 ? 1 : (size_t)want;
}

/* How many pieces the next push carries, from the last push's m pieces
 * uploaded in up_ns (from its start to the hall's first word) of the
 * took_ns it took in all, or delivered by the link at rate bytes/s (0:
 * not known). The link's rate is the higher of the two (both are lower
 * bounds: the upload's time holds the hall's start of the push, a busy
 * hall's is seconds; the kernel's rate is low when a small push did not
 * fill the link). What the push took beyond its pieces' time on the wire
 * at that rate is its fixed cost: round trips, the hall's checks. A push
 * lasts SCAN_PUSH_S, or longer when that cost is more than a quarter of
 * it (up to SCAN_PUSH_S_MAX): a slow link far from the hall (64 kbit/s,
 * 600 ms round trips) otherwise spent as long between its pushes as in
 * them. At least one piece, at most SCAN_PUSH_MAX, and at most twice the
 * last (a push's fixed cost makes a small push look slower than the
 * link is). */
size_t scan_next_batch(size_t m, uint64_t up_ns, uint64_t took_ns, uint64_t rate)
{
        double per_s = (double)m * 1e9 / (double)(up_ns ? up_ns : 1);
        if ((double)rate / SCAN_PIECE > per_s)
                per_s = (double)rate / SCAN_PIECE;
        double fixed_s = (double)took_ns / 1e9 - (double)m / per_s;
        double push_s = 3.0 * fixed_s;
        if (push_s < SCAN_PUSH_S)
                push_s = SCAN_PUSH_S;
        if (push_s > SCAN_PUSH_S_MAX)
                push_s = SCAN_PUSH_S_MAX;
        double want = per_s * push_s;

        if (want > 2.0 * (double)m)
                want = 2.0 * (double)m;
        return whole_pieces(want);
}

/* The first push's pieces: what the connection's delivery rate so far
 * (the fetch's and the events' push) shows the link moves in
 * SCAN_PUSH_S, or where the last sync's pushes ended, whichever is more;
 * at least one, at most SCAN_PUSH_MAX. */
static size_t first_batch(const struct feed_remote *rm)
{
        uint64_t rate = 0;
        size_t b = 1;

        if (connpool_link_rate(&rate) == 0 && rate)
                b = whole_pieces((double)rate / SCAN_PIECE * SCAN_PUSH_S);
        if (rm->scan_batch && *rm->scan_batch > b)
                b = *rm->scan_batch < SCAN_PUSH_MAX ? *rm->scan_batch : SCAN_PUSH_MAX;
        return b;
}

int scan_push(git_repository *repo, const struct feed_remote *rm, const char *self, long *ret_pieces,
              feed_log_fn log, void *ud)
{
        size_t link = 1;        /* pieces per push, as the link allows */
        size_t batch = 1;       /* this push's: link's, or one after a refusal */
        bool pushed_any = false;
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char (*todo)[128] = NULL;
        size_t ntodo = 0;
        struct remote_tips tips = { 0 };
        int r = 0;

        *ret_pieces = 0;
        /* the chains whose tip is past what the remote is known to hold */
        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char part[32], writer[32], marker[160];
                git_oid pushed;
                const git_oid *tip = git_reference_target(ref);
                if (tip && scan_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                    feed_may_write(self, part, writer)) {
                        snprintf(marker, sizeof marker, PUSHED_PREFIX "%s/%s", part, writer);
                        if (git_reference_name_to_id(&pushed, repo, marker) < 0 || !git_oid_equal(&pushed, tip)) {
                                void *nt = realloc(todo, (ntodo + 1) * sizeof *todo);
                                if (nt) {
                                        todo = nt;
                                        snprintf(todo[ntodo++], sizeof todo[0], "%s", git_reference_name(ref));
                                }
                        }
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        if (!ntodo)
                return 0;
        /* where the remote's chains stand: as this sync's fetch saw them
         * (a chain moved since is refused and listed again, below), else
         * listed now */
        bool from_fetch = rm->seen && rm->seen->valid;
        if (from_fetch) {
                for (size_t i = 0; i < rm->seen->n && r == 0; i++)
                        if (strncmp(rm->seen->names[i], SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0)
                                r = collect_tip(rm->seen->names[i], &rm->seen->ids[i], &tips);
                if (r < 0)
                        goto out;
        } else if ((r = feed_remote_ls(repo, rm, SCAN_PREFIX, collect_tip, &tips, log, ud)) < 0) {
                goto out;
        }
        link = first_batch(rm);
        bool relisted = false;
        for (size_t k = 0; k < ntodo && r == 0; k++) {
                const git_oid *from = NULL;
                git_oid tip, *ids = NULL, was = { { 0 } };
                size_t n = 0;
                char part[32], writer[32], marker[160], err[256];
again:
                from = NULL;
                ids = NULL;
                n = 0;
                scan_parse_ref(todo[k], part, sizeof part, writer, sizeof writer);
                snprintf(marker, sizeof marker, PUSHED_PREFIX "%s/%s", part, writer);
                for (size_t i = 0; i < tips.n; i++)
                        if (strcmp(tips.names[i], todo[k]) == 0)
                                from = &tips.ids[i];
                if (git_reference_name_to_id(&tip, repo, todo[k]) < 0)
                        continue;
                if (chain_since(repo, from, &tip, &ids, &n, err, sizeof err) < 0) {
                        /* the remote holds something this chain does not
                         * descend from. Another writer's chain, relayed, is
                         * left alone, as feed_push leaves such a feed: most
                         * often its writer pushed on since this node fetched
                         * it (a township's fetch in the middle of a village's
                         * pieces), and a push of it would only be refused. */
                        if (strcmp(writer, self) != 0)
                                continue;
                        /* this node's own: push it whole and let the far
                         * side refuse */
                        if (chain_since(repo, NULL, &tip, &ids, &n, err, sizeof err) < 0) {
                                if (log)
                                        log(ud, "%s: %s", todo[k], err);
                                r = -EIO;
                                break;
                        }
                }
                bool one_by_one = false;        /* after a refused batch, for this chain */
                batch = link;
                /* a piece per push on a slow link, more when the last push
                 * showed the link fast: a push takes about SCAN_PUSH_S, so a
                 * dropped link loses at most that much of its time */
                for (size_t i = 0; i < n && r == 0;) {
                        char out[160], spec[320], *specs[1] = { spec };
                        git_reference *mref = NULL, *oref = NULL;
                        size_t m = batch < n - i ? batch : n - i;
                        const git_oid *last = &ids[i + m - 1];
                        /* libgit2 pushes refs, not ids: stage the piece on a
                         * ref of our own */
                        snprintf(out, sizeof out, OUTGOING_PREFIX "%s/%s", part, writer);
                        if (git_reference_create(&oref, repo, out, last, 1, "daiban: scan piece to push") < 0) {
                                if (log)
                                        log(ud, "cannot stage a scan piece: %s", gerr());
                                r = -EIO;
                                break;
                        }
                        git_reference_free(oref);
                        snprintf(spec, sizeof spec, "%s:%s", out, todo[k]);
                        /* the link's rate from the upload alone: the hall's
                         * hook says its clock first, once the pieces are in;
                         * what the hall does after (a busy hall checks a
                         * push slowly) says nothing of the link */
                        struct feed_clock ck = { 0, 0, false };
                        struct feed_remote via = *rm;
                        via.clock = &ck;
                        int64_t t0 = now_ms();
                        if ((r = feed_push_specs(repo, &via, specs, 1, log, ud)) == -EPERM && m > 1) {
                                /* refused for one of its pieces (a quota): the
                                 * pieces before that one still go, one a push */
                                batch = 1;
                                one_by_one = true;
                                r = 0;
                                continue;
                        }
                        if (r < 0)
                                break;
                        if (rm->clock && ck.valid)
                                *rm->clock = ck;
                        int64_t t1 = ck.valid && ck.local_ms >= t0 ? ck.local_ms : now_ms();
                        uint64_t rate = 0;
                        if (connpool_link_rate(&rate) < 0)
                                rate = 0;       /* libgit2's own streams, or plain HTTP */
                        int64_t t2 = now_ms();
                        if (!one_by_one) {
                                size_t next = scan_next_batch(m, (uint64_t)(t1 - t0) * 1000000u,
                                                              (uint64_t)(t2 > t0 ? t2 - t0 : 0) * 1000000u, rate);
                                /* a push cut short by the chain's end says
                                 * little against the batch it was allowed */
                                link = m < batch && next < batch ? batch : next;
                        }
                        batch = one_by_one ? 1 : link;
                        *ret_pieces += (long)m;
                        pushed_any = true;
                        i += m;
                        git_reference_create(&mref, repo, marker, last, 1, "daiban: scan piece pushed");
                        git_reference_free(mref);
                        if (feed_show_progress)
                                fprintf(stderr, "\rscans: piece %zu/%zu of %s%s", i, n, todo[k], i == n ? "\n" : "");
                }
                if ((r == -EPERM || (r < 0 && from_fetch)) && !relisted) {
                        /* refused: the hall may have moved on since the
                         * listing (the push of a sync cut a moment ago,
                         * which the hall still finished): once, list again
                         * and go on from where it stands now. Where the
                         * listing was the fetch's, libgit2 itself may have
                         * stopped the push (the hall's chain no longer an
                         * ancestor of what it pushes): the same. */
                        int failed = r;
                        was = from ? *from : was;
                        free(ids);
                        free(tips.names);
                        free(tips.ids);
                        memset(&tips, 0, sizeof tips);
                        relisted = true;
                        if ((r = feed_remote_ls(repo, rm, SCAN_PREFIX, collect_tip, &tips, log, ud)) < 0)
                                goto out;
                        bool moved = false;
                        for (size_t i = 0; i < tips.n; i++)
                                if (strcmp(tips.names[i], todo[k]) == 0 && !git_oid_equal(&tips.ids[i], &was))
                                        moved = true;
                        r = moved ? 0 : failed;
                        if (moved)
                                goto again;
                        continue;
                }
                if (r == 0 && n == 0) {
                        git_reference *mref = NULL;
                        git_reference_create(&mref, repo, marker, &tip, 1, "daiban: scans held by the remote");
                        git_reference_free(mref);
                }
                free(ids);
        }
out:
        /* the next sync starts where this one's pushes left the link's
         * batch (a refusal lowers only its own chain's); after a link
         * that failed, at one piece (or what its rate then shows) */
        if (rm->scan_batch && r < 0 && r != -EPERM)
                *rm->scan_batch = 1;
        else if (rm->scan_batch && pushed_any)
                *rm->scan_batch = (unsigned)link;
        free(todo);
        free(tips.names);
        free(tips.ids);
        return r;
}
