/* Feeds in git. See feed.h. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "forms/division.h"
#include "sync/store-int.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/changeset.h"
#include "sync/durable.h"
#include "sync/report.h"
#include "sync/scan.h"
#include "sync/signed.h"
#include "sync/roster.h"
#include "sync/feed.h"
#include "sync/fold.h"
#include "sync/hlc.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

bool feed_entitled(const char *self, const char *partition)
{
        /* a township's villages and a county's everything share its code
         * as a prefix; a village holds only itself */
        return division_code_valid(partition) && strncmp(partition, self, strlen(self)) == 0;
}

bool feed_split_ref(const char *ref, const char *prefix, const char *incoming, char *partition, size_t plen,
                    char *writer, size_t wlen)
{
        const char *p, *slash;

        if (strncmp(ref, prefix, strlen(prefix)) == 0)
                p = ref + strlen(prefix);
        else if (strncmp(ref, incoming, strlen(incoming)) == 0)
                p = ref + strlen(incoming);
        else
                return false;
        slash = strchr(p, '/');
        if (!slash || (size_t)(slash - p) >= plen || strlen(slash + 1) >= wlen || strchr(slash + 1, '/'))
                return false;
        memcpy(partition, p, (size_t)(slash - p));
        partition[slash - p] = '\0';
        strcpy(writer, slash + 1);
        return division_code_valid(partition) && division_code_valid(writer);
}

bool feed_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen)
{
        return feed_split_ref(ref, FEED_PREFIX, FEED_INCOMING, partition, plen, writer, wlen);
}

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* Read a change set's two files from a commit. */
static int read_commit(git_repository *repo, const git_commit *c, char **hdr, size_t *hlen, char **evs, size_t *elen,
                       char *err, size_t errlen)
{
        git_tree *tree = NULL;
        git_blob *b1 = NULL, *b2 = NULL;
        const git_tree_entry *h, *e;
        int r = -EINVAL;

        /* a missing object makes this feed bad (it is refused alone),
         * not the round */
        if (git_commit_tree(&tree, c) < 0) {
                snprintf(err, errlen, "cannot read the commit's tree: %s", gerr());
                return -EINVAL;
        }
        h = git_tree_entry_byname(tree, "changeset.json");
        e = git_tree_entry_byname(tree, "events.jsonl");
        if (git_tree_entrycount(tree) != 2 || !h || !e || git_tree_entry_type(h) != GIT_OBJECT_BLOB ||
            git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
                snprintf(err, errlen, "the commit's tree is not a change set (changeset.json and events.jsonl)");
                goto out;
        }
        /* sizes from the object headers, before anything is inflated */
        int r1 = blob_lookup_max(&b1, repo, git_tree_entry_id(h), CHANGESET_MAX_HEADER);
        int r2 = r1 == 0 ? blob_lookup_max(&b2, repo, git_tree_entry_id(e), CHANGESET_MAX_BYTES) : 0;
        if (r1 == -EFBIG || r2 == -EFBIG) {
                snprintf(err, errlen, "the change set is larger than allowed (changeset.json %u bytes, events.jsonl"
                         " %u MiB at most)", CHANGESET_MAX_HEADER, CHANGESET_MAX_BYTES >> 20);
                goto out;
        }
        if (r1 < 0 || r2 < 0) {
                snprintf(err, errlen, "cannot read the change set: %s", gerr());
                r = -EINVAL;
                goto out;
        }
        *hlen = (size_t)git_blob_rawsize(b1);
        *elen = (size_t)git_blob_rawsize(b2);
        *hdr = malloc(*hlen + 1);
        *evs = malloc(*elen + 1);
        if (!*hdr || !*evs) {
                free(*hdr);
                free(*evs);
                *hdr = *evs = NULL;
                r = -ENOMEM;
                goto out;
        }
        memcpy(*hdr, git_blob_rawcontent(b1), *hlen);
        memcpy(*evs, git_blob_rawcontent(b2), *elen);
        (*hdr)[*hlen] = (*evs)[*elen] = '\0';
        r = 0;
out:
        git_blob_free(b1);
        git_blob_free(b2);
        git_tree_free(tree);
        return r;
}

/* The last seq on feed ref (0 when it does not exist). */
static int feed_last_seq(git_repository *repo, const char *ref, int64_t *ret, git_oid *head, bool *exists)
{
        git_commit *c = NULL;
        char *hdr = NULL, *evs = NULL, err[256];
        size_t hl, el;
        json_t *h;

        *ret = 0;
        *exists = false;
        if (git_reference_name_to_id(head, repo, ref) < 0)
                return 0;
        *exists = true;
        if (git_commit_lookup(&c, repo, head) < 0 || read_commit(repo, c, &hdr, &hl, &evs, &el, err, sizeof err) < 0) {
                git_commit_free(c);
                return -EIO;
        }
        h = json_loadb(hdr, hl, 0, NULL);
        *ret = json_integer_value(json_object_get(h, "last_seq"));
        json_decref(h);
        free(hdr);
        free(evs);
        git_commit_free(c);
        return *ret > 0 ? 0 : -EIO;
}

int feed_commit_seqs(git_repository *repo, const git_oid *id, int64_t *first, int64_t *last)
{
        git_commit *c = NULL;
        char *hdr = NULL, *evs = NULL, err[256];
        size_t hl, el;
        json_t *h;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, id) < 0 || read_commit(repo, c, &hdr, &hl, &evs, &el, err, sizeof err) < 0) {
                git_commit_free(c);
                return -EINVAL;
        }
        if ((h = json_loadb(hdr, hl, 0, NULL)) && json_is_integer(json_object_get(h, "first_seq")) &&
            json_is_integer(json_object_get(h, "last_seq"))) {
                *first = json_integer_value(json_object_get(h, "first_seq"));
                *last = json_integer_value(json_object_get(h, "last_seq"));
                r = 0;
        }
        json_decref(h);
        free(hdr);
        free(evs);
        git_commit_free(c);
        return r;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *)t) : NULL;
}

static int commit_batch(git_repository *repo, const char *ref, const git_oid *parent, bool has_parent,
                        const struct changeset *cs, const struct sshsig_key *key, feed_log_fn log, void *ud)
{
        char *hdr = NULL, *evs = NULL, msg[256];
        size_t hl, el;
        git_oid hb, eb, tree_id, commit_id;
        git_treebuilder *tb = NULL;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        int r = changeset_build(cs, &hdr, &hl, &evs, &el);

        if (r < 0)
                return r;
        r = -EIO;
        if (git_blob_create_from_buffer(&hb, repo, hdr, hl) < 0 || git_blob_create_from_buffer(&eb, repo, evs, el) < 0 ||
            git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, "changeset.json", &hb, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_insert(NULL, tb, "events.jsonl", &eb, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0)
                goto out;
        /* the writer and the time of its last event: the same events make
         * the same commit */
        if (git_signature_new(&sig, cs->writer, "daiban@localhost", cs->ev[cs->n - 1].wall_ms / 1000, 0) < 0)
                goto out;
        snprintf(msg, sizeof msg, "change set: %zu events of %s in partition %s (seq %" PRId64 "..%" PRId64 ")\n",
                 cs->n, cs->writer, cs->partition, cs->ev[0].seq, cs->ev[cs->n - 1].seq);
        if (signed_commit(repo, ref, has_parent ? parent : NULL, sig, msg, tree, key, &commit_id) < 0)
                goto out;
        r = 0;
out:
        if (r < 0 && log)
                log(ud, "cannot write the change set on %s: %s", ref, gerr());
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        free(hdr);
        free(evs);
        return r;
}

int feed_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key,
                      struct feed_report *rep, feed_log_fn log, void *ud)
{
        sqlite3 *db = store_db(s);
        sqlite3_stmt *parts = NULL, *evq = NULL;
        int r = 0;

        /* a restored home signs nothing before it has caught up: its
         * events may already be on a feed it has not fetched back */
        if (store_restore_pending(s))
                return 0;
        if (sqlite3_prepare_v2(db, "SELECT DISTINCT part FROM events WHERE node = ? ORDER BY part", -1, &parts, NULL) ||
            sqlite3_prepare_v2(db, "SELECT node, seq, hlc, wall, operator, type, app, part, body FROM events"
                               " WHERE node = ?1 AND part = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4", -1, &evq, NULL)) {
                sqlite3_finalize(parts);
                return -EIO;
        }
        sqlite3_bind_text(parts, 1, self, -1, SQLITE_STATIC);
        while (r == 0 && sqlite3_step(parts) == SQLITE_ROW) {
                char part[32], ref[128];
                snprintf(part, sizeof part, "%s", (const char *)sqlite3_column_text(parts, 0));
                snprintf(ref, sizeof ref, FEED_PREFIX "%s/%s", part, self);
                for (;;) {
                        struct changeset cs = { 0 };
                        int64_t last;
                        git_oid head;
                        bool exists;

                        if (feed_last_seq(repo, ref, &last, &head, &exists) < 0) {
                                if (log)
                                        log(ud, "the feed %s cannot be read; it was not extended", ref);
                                r = -EIO;
                                break;
                        }
                        sqlite3_bind_text(evq, 1, self, -1, SQLITE_STATIC);
                        sqlite3_bind_text(evq, 2, part, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(evq, 3, last);
                        sqlite3_bind_int64(evq, 4, CHANGESET_MAX_EVENTS);
                        cs.writer = strdup(self);
                        cs.partition = strdup(part);
                        cs.ev = calloc(CHANGESET_MAX_EVENTS, sizeof *cs.ev);
                        while (cs.ev && sqlite3_step(evq) == SQLITE_ROW) {
                                struct cs_event *e = &cs.ev[cs.n++];
                                e->node = col_dup(evq, 0);
                                e->seq = sqlite3_column_int64(evq, 1);
                                e->hlc = (uint64_t)sqlite3_column_int64(evq, 2);
                                e->wall_ms = sqlite3_column_int64(evq, 3);
                                e->operator = col_dup(evq, 4);
                                e->type = col_dup(evq, 5);
                                e->app = col_dup(evq, 6);
                                e->part = col_dup(evq, 7);
                                e->body = col_dup(evq, 8);
                        }
                        sqlite3_reset(evq);
                        if (!cs.ev || !cs.writer || !cs.partition) {
                                changeset_free(&cs);
                                r = -ENOMEM;
                                break;
                        }
                        if (cs.n == 0) {
                                changeset_free(&cs);
                                break;
                        }
                        r = commit_batch(repo, ref, &head, exists, &cs, key, log, ud);
                        if (r == 0 && rep) {
                                rep->committed++;
                                rep->committed_events += (long)cs.n;
                        }
                        changeset_free(&cs);
                        if (r < 0)
                                break;
                }
        }
        sqlite3_finalize(parts);
        sqlite3_finalize(evq);
        return r;
}

/* Where ingest of a feed stands (its feed_heads row). */
struct feed_pos {
        bool have_done;
        git_oid done;
        int64_t last_seq;
        long total_events;
};

struct prepared {
        char *ref, part[32], writer[32];
        git_oid head;
        bool up_to_date;
        size_t nchain;                  /* change sets on the way */
        struct changeset *cs;           /* parsed, oldest first */
        size_t ncs;
        struct feed_pos pos;
        int r;                          /* 0, -EINVAL (refused: err), or -EIO/-ENOMEM */
        char err[512];
};

static void prepare_feed(git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *want,
                         const char *part, const char *writer, const struct feed_pos *pos, struct prepared *p);
static void prepared_free(struct prepared *p);
static int ref_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n);
static git_repository *inrepo(git_repository *repo);
static int incoming_odb(git_repository *repo, git_odb **ret);

struct incoming {
        git_repository *repo;
        const char *self;
        const struct feed_trust *tr;
        struct feed_report *rep;
        feed_log_fn log;
        void *ud;
        int r;
};

/* The feed local (held at held) is offered as other, which does not
 * continue it. When other's own change sets after the two histories part
 * are signed as the roster requires of the writer, the writer signed two
 * different histories: keep other as evidence, refs/evidence/<part>/
 * <writer>/<other>, never resolved silently (feed_evidence_list). Either
 * way the feed is refused and the held ref stays. */
static int copy_reachable(git_repository *repo, const git_oid *held, const git_oid *to);

bool feed_parse_evidence(const char *ref, char *part, size_t plen, char *writer, size_t wlen, git_oid *head,
                         char *feed, size_t flen)
{
        const char *rest = ref + strlen(FEED_EVIDENCE), *slash = strrchr(ref, '/');
        char f[160];

        if (strncmp(ref, FEED_EVIDENCE, strlen(FEED_EVIDENCE)) != 0 || !slash || slash < rest ||
            strlen(slash + 1) != GIT_OID_HEXSZ || strspn(slash + 1, "0123456789abcdef") != GIT_OID_HEXSZ ||
            (size_t)(slash - rest) + strlen(FEED_PREFIX) >= sizeof f)
                return false;
        snprintf(f, sizeof f, FEED_PREFIX "%.*s", (int)(slash - rest), rest);
        if (!feed_parse_ref(f, part, plen, writer, wlen) || git_oid_fromstr(head, slash + 1) < 0)
                return false;
        snprintf(feed, flen, "%s", f);
        return true;
}

/* Where a second history of a feed parts from the one held, and whether
 * its change sets from there are signed as the roster requires. */
static int second_history(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                          const git_oid *other, char *part, char *writer, struct feed_pos *bpos, char *msg,
                          size_t msglen)
{
        char local[160];
        struct prepared p;
        git_oid base;
        int64_t first, last;

        if (!feed_parse_ref(ref, part, 32, writer, 32)) {
                snprintf(msg, msglen, "%s is not a feed", ref);
                return 0;
        }
        if (git_oid_equal(held, other) || git_graph_descendant_of(repo, held, other) == 1 ||
            git_graph_descendant_of(repo, other, held) == 1) {
                snprintf(msg, msglen, "it is the history held here, not a second one");
                return 0;
        }
        snprintf(local, sizeof local, FEED_PREFIX "%s/%s", part, writer);
        if (git_merge_base(&base, repo, held, other) == 0 && feed_commit_seqs(repo, &base, &first, &last) == 0) {
                bpos->have_done = true;
                bpos->done = base;
                bpos->last_seq = last;
        }
        struct feed_trust only_ro = { .ro = ro };
        prepare_feed(repo, &only_ro, local, other, part, writer, bpos, &p);
        if (p.r != 0 || !ro) {
                snprintf(msg, msglen, "it does not continue the feed held here, and %s",
                         p.r == -EINVAL ? p.err : p.r ? "it cannot be read" : "it is not a fast-forward");
                prepared_free(&p);
                return p.r == -EINVAL || p.r == 0 ? 0 : -EIO;
        }
        prepared_free(&p);
        return 1;
}

int feed_evidence_genuine(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                          const git_oid *other, char *msg, size_t msglen)
{
        char part[32], writer[32];
        struct feed_pos bpos = { 0 };

        return second_history(repo, ro, ref, held, other, part, writer, &bpos, msg, msglen);
}

int feed_equivocation(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                      const git_oid *other, bool copy_objects, char *msg, size_t msglen)
{
        char part[32], writer[32], hex[GIT_OID_HEXSZ + 1], ev[256];
        struct feed_pos bpos = { 0 };
        git_reference *nr = NULL;
        int r;

        if ((r = second_history(repo, ro, ref, held, other, part, writer, &bpos, msg, msglen)) != 1)
                return r < 0 ? 0 : r;
        git_oid_tostr(hex, sizeof hex, other);
        snprintf(ev, sizeof ev, FEED_EVIDENCE "%s/%s/%s", part, writer, hex);
        r = (!copy_objects || copy_reachable(repo, held, other) == 0) && feed_quarantine_keep(repo, held, other) == 0 &&
                    git_reference_create(&nr, repo, ev, other, 1, "daiban: evidence") == 0
                ? 1
                : -EIO;
        git_reference_free(nr);
        snprintf(msg, msglen, "ALARM: %s signed two different histories of this feed from seq %" PRId64 " on; %s"
                 " (%s). The county should call the station, revoke the key from seq %" PRId64 " ('daiban roster"
                 " revoke %s --from %" PRId64 " --reason ...') and enroll a new one", writer, bpos.last_seq + 1,
                 r == 1 ? "both are kept, the other as evidence in" : "the other could not be kept as", ev,
                 bpos.last_seq + 1, writer, bpos.last_seq + 1);
        return r;
}

static void equivocation(struct incoming *in, const char *local, const git_oid *held, const git_oid *other)
{
        char msg[1024];

        feed_equivocation(in->repo, in->tr ? in->tr->ro : NULL, local, held, other, false, msg, sizeof msg);
        if (in->log)
                in->log(in->ud, "refused %s: %s", local, msg);
        if (in->rep)
                in->rep->refused++;
}

int feed_evidence_list(git_repository *repo, struct feed_evidence **ret, size_t *ret_n)
{
        char **names = NULL;
        size_t n = 0, k = 0;
        struct feed_evidence *ev;

        *ret = NULL;
        *ret_n = 0;
        if (ref_names(repo, FEED_EVIDENCE "*", &names, &n) < 0)
                return -EIO;
        ev = n ? calloc(n, sizeof *ev) : NULL;
        for (size_t i = 0; i < n; i++) {
                struct feed_evidence *e = ev ? &ev[k] : NULL;
                char local[160], hex[GIT_OID_HEXSZ + 1];
                const char *rest = names[i] + strlen(FEED_EVIDENCE), *s1 = strchr(rest, '/'),
                           *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
                git_oid base;
                int64_t first, last;
                if (e && s1 && s2 && (size_t)(s1 - rest) < sizeof e->part && (size_t)(s2 - s1 - 1) < sizeof e->writer &&
                    strlen(s2 + 1) == GIT_OID_HEXSZ) {
                        snprintf(e->part, sizeof e->part, "%.*s", (int)(s1 - rest), rest);
                        snprintf(e->writer, sizeof e->writer, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
                        snprintf(hex, sizeof hex, "%s", s2 + 1);
                        snprintf(local, sizeof local, FEED_PREFIX "%s/%s", e->part, e->writer);
                        if (git_oid_fromstr(&e->other, hex) == 0 &&
                            git_reference_name_to_id(&e->held, repo, local) == 0) {
                                e->from_seq = git_merge_base(&base, repo, &e->held, &e->other) == 0 &&
                                                      feed_commit_seqs(repo, &base, &first, &last) == 0
                                                  ? last + 1
                                                  : 1;
                                int64_t a = 0, b = 0;
                                feed_commit_seqs(repo, &e->held, &first, &a);
                                feed_commit_seqs(repo, &e->other, &first, &b);
                                e->to_seq = a > b ? a : b;
                                k++;
                        }
                }
                free(names[i]);
        }
        free(names);
        *ret = ev;
        *ret_n = k;
        return 0;
}

static int accept_one(const char *name, void *payload)
{
        struct incoming *in = payload;
        char part[32], writer[32], local[160];
        git_oid inc;

        if (!feed_parse_ref(name, part, sizeof part, writer, sizeof writer)) {
                if (in->log)
                        in->log(in->ud, "ignoring %s: not a feed ref", name);
                goto drop;
        }
        if (!feed_entitled(in->self, part))
                goto drop;     /* a partition we must not hold */
        if (feed_incoming_id(in->repo, name, &inc) < 0)
                goto drop;
        snprintf(local, sizeof local, FEED_PREFIX "%s/%s", part, writer);
        if (strcmp(writer, in->self) == 0) {
                /* our own feed comes back in answers: as it is here, or
                 * behind. Anything else was written by someone else. */
                git_oid own;
                bool held = git_reference_name_to_id(&own, in->repo, local) == 0;
                if (held && (git_oid_equal(&own, &inc) || git_graph_descendant_of(in->repo, &own, &inc) == 1))
                        goto drop;
                if (in->tr && in->tr->catch_up_own && in->tr->ro &&
                    (!held || git_graph_descendant_of(in->repo, &inc, &own) == 1))
                        goto take;      /* what this node sent after its backup comes back */
                if (in->log)
                        in->log(in->ud, "refused %s: it claims to be this node's own feed, but this node never wrote"
                                " it (a forgery; or this PC was re-imaged: make its home with daiban restore, or"
                                " daiban init --rejoin, which fetch this node's history back first)", local);
                if (in->rep)
                        in->rep->refused++;
                goto drop;
        }
take:
        /* what is new must parse and be signed as the roster requires
         * before the ref moves: a refused feed leaves it where it was */
        {
                struct feed_pos pos = { 0 };
                struct prepared p;
                bool exists = false;
                int64_t last = 0;
                if (feed_last_seq(in->repo, local, &last, &pos.done, &exists) < 0) {
                        if (in->log)
                                in->log(in->ud, "the feed %s cannot be read", local);
                        in->r = -EIO;
                        goto drop;
                }
                pos.have_done = exists;
                pos.last_seq = last;
                if (exists && in->tr && in->tr->ro && !git_oid_equal(&inc, &pos.done) &&
                    git_graph_descendant_of(in->repo, &inc, &pos.done) != 1 &&
                    git_graph_descendant_of(in->repo, &pos.done, &inc) != 1) {
                        /* two histories of one feed: an equivocation when
                         * the writer signed both, else a forgery */
                        equivocation(in, local, &pos.done, &inc);
                        goto drop;
                }
                if (!exists || git_graph_descendant_of(in->repo, &inc, &pos.done) == 1) {
                        prepare_feed(in->repo, in->tr, local, &inc, part, writer, &pos, &p);
                        int pr = p.r;
                        if (pr == -EINVAL && in->log)
                                in->log(in->ud, "refused %s: %s", local, p.err);
                        prepared_free(&p);
                        if (pr == -EINVAL) {
                                if (in->rep)
                                        in->rep->refused++;
                                goto drop;
                        }
                        if (pr < 0) {
                                in->r = pr;
                                goto drop;
                        }
                }
        }
        {
                char err[512];
                bool moved = false;
                int r = feed_ff_update(in->repo, local, &inc, &moved, err, sizeof err);
                if (r < 0 && in->log)
                        in->log(in->ud, "%s", err);
                if (r == -EINVAL && in->rep)
                        in->rep->refused++;
                else if (r < 0)
                        in->r = -EIO;
                else if (moved && in->rep)
                        in->rep->updated_refs++;
        }
drop:
        feed_incoming_drop(in->repo, name);
        return 0;
}

/* The names of the refs matching glob (malloc'ed). */
static int ref_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char **names = NULL;
        size_t n = 0;

        if (git_reference_iterator_glob_new(&it, repo, glob) < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char **nn = realloc(names, (n + 1) * sizeof *names);
                if (nn) {
                        names = nn;
                        if ((names[n] = strdup(git_reference_name(ref))))
                                n++;
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        *ret = names;
        *ret_n = n;
        return 0;
}

int feed_accept_incoming(git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                         feed_log_fn log, void *ud)
{
        struct incoming in = { repo, self, tr, rep, log, ud, 0 };
        char **names = NULL;
        size_t n = 0;

        /* collect first: accept_one deletes the refs it looked at */
        if (feed_incoming_names(repo, FEED_INCOMING "*", &names, &n) < 0)
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                accept_one(names[i], &in);
                free(names[i]);
        }
        free(names);
        return in.r;
}

/* ---- ingest ------------------------------------------------------------------ */

/* Ingest runs in two steps: prepare (read the feed's new change sets from
 * git and parse them: no SQLite) and apply (store the events, fold, record
 * the head: no git). A round over many feeds runs the first step of the
 * next feeds on a second thread while the first thread applies. */

static void prepared_free(struct prepared *p)
{
        for (size_t i = 0; i < p->ncs; i++)
                changeset_free(&p->cs[i]);
        free(p->cs);
        free(p->ref);
        memset(p, 0, sizeof *p);
}

static int read_pos(store *s, const char *ref, struct feed_pos *pos)
{
        sqlite3_stmt *st;

        memset(pos, 0, sizeof *pos);
        if (sqlite3_prepare_v2(store_db(s), "SELECT head, last_seq, events FROM feed_heads WHERE ref = ?", -1, &st, NULL) !=
            SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
                pos->have_done = git_oid_fromstr(&pos->done, (const char *)sqlite3_column_text(st, 0)) == 0;
                pos->last_seq = sqlite3_column_int64(st, 1);
                pos->total_events = (long)sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
        return 0;
}

/* Is change set `id` (writer's seqs first..last) signed as the roster
 * requires? A signature that does not verify is refused even without a
 * roster. 0, or -EINVAL with the reason in err. */
static int check_signature(git_repository *repo, const struct roster *ro, const git_oid *id, const char *writer,
                           int64_t first, int64_t last, char *err, size_t errlen)
{
        uint8_t pk[SSHSIG_PK_BYTES];
        bool is_signed;
        char why[384];
        int r = signed_check(repo, id, &is_signed, pk, why, sizeof why);

        if (r < 0) {
                snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") has a bad signature: %s", first,
                         last, why);
                return -EINVAL;
        }
        if (!ro)
                return 0;
        return roster_check(ro, writer, first, last, is_signed, pk, err, errlen);
}

/* Why an event stamped too far ahead is refused, with both times. */
static void stamp_ahead_msg(const struct cs_event *e, uint64_t now, char *err, size_t errlen)
{
        uint64_t stamp = hlc_ms(e->hlc) > (uint64_t)e->wall_ms ? e->hlc : hlc_make((uint64_t)e->wall_ms, 0);
        char at[48], here[48];

        if (hlc_ms(stamp) > UINT64_C(253402300799999))          /* past 9999-12-31: no calendar date */
                snprintf(at, sizeof at, "%" PRIu64 " (past the year 9999)", stamp);
        else
                hlc_format(stamp, at, sizeof at);
        hlc_format(hlc_make(now, 0), here, sizeof here);
        snprintf(err, errlen, "%s's event seq %" PRId64 " is stamped %s, more than a day ahead of this computer's"
                 " clock (%s); it is refused so that it cannot drag this node's clock forward. If this computer's"
                 " clock is wrong, set it right and sync again", e->node, e->seq, at, here);
}

/* Read and parse a feed's change sets after pos up to its head (want:
 * that commit instead of the ref's, for a proposed update). Fills p;
 * p->r says how it went. Touches git only. */
static void prepare_feed(git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *want,
                         const char *part, const char *writer, const struct feed_pos *pos, struct prepared *p)
{
        git_oid *chain = NULL;
        size_t nchain = 0;
        int64_t last_seq = pos->last_seq;
        uint64_t now = hlc_now_ms();
        int r = 0;

        memset(p, 0, sizeof *p);
        p->ref = strdup(ref);
        snprintf(p->part, sizeof p->part, "%s", part);
        snprintf(p->writer, sizeof p->writer, "%s", writer);
        p->pos = *pos;
        if (!p->ref) {
                p->r = -ENOMEM;
                return;
        }
        if (want) {
                p->head = *want;
        } else if (git_reference_name_to_id(&p->head, repo, ref) < 0) {
                p->up_to_date = true;
                return;
        }
        if (pos->have_done && git_oid_equal(&p->head, &pos->done)) {
                p->up_to_date = true;
                return;
        }
        /* walk back from the head to what was ingested: the first-parent
         * chain must reach it, or the feed was rewritten */
        {
                git_oid cur = p->head;
                for (;;) {
                        git_commit *c = NULL;
                        git_oid *nc;
                        if (pos->have_done && git_oid_equal(&cur, &pos->done))
                                break;
                        if (git_commit_lookup(&c, repo, &cur) < 0) {
                                snprintf(p->err, sizeof p->err, "a commit of the feed is missing: %s", gerr());
                                r = -EINVAL;
                                break;
                        }
                        nc = realloc(chain, (nchain + 1) * sizeof *chain);
                        if (!nc) {
                                git_commit_free(c);
                                r = -ENOMEM;
                                break;
                        }
                        chain = nc;
                        chain[nchain++] = cur;
                        if (git_commit_parentcount(c) == 0) {
                                git_commit_free(c);
                                if (pos->have_done) {
                                        snprintf(p->err, sizeof p->err, "the feed was rewritten: its head does not"
                                                 " descend from the change set ingested before; it is not followed");
                                        r = -EINVAL;
                                }
                                break;
                        }
                        if (git_commit_parentcount(c) > 1) {
                                git_commit_free(c);
                                snprintf(p->err, sizeof p->err, "a merge commit on a single-writer feed");
                                r = -EINVAL;
                                break;
                        }
                        cur = *git_commit_parent_id(c, 0);
                        git_commit_free(c);
                }
        }
        p->nchain = nchain;
        if (r == 0 && nchain && !(p->cs = calloc(nchain, sizeof *p->cs)))
                r = -ENOMEM;
        /* oldest first */
        for (size_t k = nchain; r == 0 && k-- > 0;) {
                git_commit *c = NULL;
                char *hdr = NULL, *evs = NULL;
                size_t hl = 0, el = 0;

                if (git_commit_lookup(&c, repo, &chain[k]) < 0) {
                        snprintf(p->err, sizeof p->err, "a commit of the feed is missing: %s", gerr());
                        r = -EINVAL;
                        break;
                }
                r = read_commit(repo, c, &hdr, &hl, &evs, &el, p->err, sizeof p->err);
                git_commit_free(c);
                if (r == 0)
                        r = changeset_parse(hdr, hl, evs, el, writer, part, last_seq, &p->cs[p->ncs], p->err,
                                            sizeof p->err);
                free(hdr);
                free(evs);
                if (r == 0) {
                        const struct changeset *cs = &p->cs[p->ncs];
                        r = check_signature(repo, tr ? tr->ro : NULL, &chain[k], writer, cs->n ? cs->ev[0].seq : cs->last_seq,
                                            cs->last_seq, p->err, sizeof p->err);
                        if (r < 0)
                                changeset_free(&p->cs[p->ncs]);
                }
                if (r == 0) {
                        /* stamps are checked before the ref can move, on every path */
                        const struct changeset *cs = &p->cs[p->ncs];
                        for (size_t i = 0; i < cs->n && r == 0; i++) {
                                if (hlc_too_far_ahead(cs->ev[i].hlc, cs->ev[i].wall_ms, now)) {
                                        stamp_ahead_msg(&cs->ev[i], now, p->err, sizeof p->err);
                                        r = -EINVAL;
                                } else if (tr && tr->admit && tr->admit(tr->ud, &cs->ev[i], p->err, sizeof p->err)) {
                                        /* the receiver's rules forbid it, or cannot judge it yet */
                                        r = -EINVAL;
                                }
                        }
                        if (r < 0)
                                changeset_free(&p->cs[p->ncs]);
                }
                if (r == 0)
                        last_seq = p->cs[p->ncs++].last_seq;
        }
        free(chain);
        p->r = r;
}

/* Store a prepared feed's events, fold what they touch and record its
 * head, in a savepoint of the caller's transaction. Touches SQLite
 * only. A refused feed is rolled back alone and reported. */
static int apply_feed(store *s, struct prepared *p, struct feed_report *rep, feed_log_fn log, void *ud)
{
        sqlite3 *db = store_db(s);
        sqlite3_stmt *st;
        long nevents = 0, dup = 0;
        int64_t last_seq = p->pos.last_seq;
        char err[512] = "";
        int r = p->r;

        if (p->up_to_date)
                return 0;
        if (r == -EINVAL)
                snprintf(err, sizeof err, "%s", p->err);
        /* each feed in a savepoint of the round's transaction: a refused
         * feed is rolled back alone, and the round pays one fsync */
        if (r == 0 && sqlite3_exec(db, "SAVEPOINT feed", NULL, NULL, NULL) != SQLITE_OK)
                r = -EIO;
        bool in_savepoint = r == 0;
        /* seqs of this writer above `known` cannot be stored yet */
        int64_t known = r == 0 ? store_next_seq(s, p->writer) - 1 : 0;
        if (known < 0)
                r = -EIO;
        char **apps = NULL;
        size_t napps = 0;
        for (size_t k = 0; r == 0 && k < p->ncs; k++) {
                struct changeset *cs = &p->cs[k];
                for (size_t i = 0; r == 0 && i < cs->n; i++) {
                        const struct cs_event *e = &cs->ev[i];
                        struct event ev = { e->node, e->seq, e->hlc, e->wall_ms, e->operator, e->type, e->app,
                                            e->part, e->body };
                        int ir = store_insert_remote(s, &ev, e->seq > known);
                        if (ir == -EEXIST) {
                                dup++;
                                continue;
                        }
                        if (ir == -EBADMSG) {
                                snprintf(err, sizeof err, "%s sent two different events with seq %" PRId64, e->node,
                                         e->seq);
                                r = -EINVAL;
                                break;
                        }
                        if (ir < 0) {
                                r = -EIO;
                                break;
                        }
                        nevents++;
                        if (!e->app && strcmp(e->type, "operator.added") == 0) {
                                if (fold_operator(s, e->node, e->hlc, e->body) < 0)
                                        r = -EIO;
                                continue;
                        }
                        bool seen = false;
                        for (size_t a = napps; a-- > 0 && !seen;)       /* the newest first: events cluster */
                                seen = strcmp(apps[a], e->app) == 0;
                        if (!seen) {
                                char **na = realloc(apps, (napps + 1) * sizeof *apps);
                                if (!na || !(na[napps] = strdup(e->app))) {
                                        if (na)
                                                apps = na;
                                        r = -ENOMEM;
                                        break;
                                }
                                apps = na;
                                napps++;
                        }
                }
                if (r == 0)
                        last_seq = cs->last_seq;
        }
        if (r == 0 && napps && fold_apps(s, (const char *const *)apps, napps) < 0)
                r = -EIO;
        for (size_t a = 0; a < napps; a++)
                free(apps[a]);
        free(apps);
        if (r == 0) {
                char hex[GIT_OID_HEXSZ + 1];
                git_oid_tostr(hex, sizeof hex, &p->head);
                if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO feed_heads(ref, head, last_seq, events) VALUES (?,?,?,?)",
                                       -1, &st, NULL) != SQLITE_OK) {
                        r = -EIO;
                } else {
                        sqlite3_bind_text(st, 1, p->ref, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 3, last_seq);
                        sqlite3_bind_int64(st, 4, p->pos.total_events + nevents);
                        r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
                        sqlite3_finalize(st);
                }
        }
        if (r == 0 && sqlite3_exec(db, "RELEASE feed", NULL, NULL, NULL) != SQLITE_OK)
                r = -EIO;
        if (r < 0) {
                if (in_savepoint)
                        sqlite3_exec(db, "ROLLBACK TO feed; RELEASE feed", NULL, NULL, NULL);
                if (log)
                        log(ud, "refused %s: %s", p->ref, err[0] ? err : store_errmsg(s));
                if (rep)
                        rep->refused++;
        } else if (rep) {
                rep->ingested_feeds += p->nchain > 0;
                rep->ingested_events += nevents;
                rep->duplicate_events += dup;
        }
        return r == -EINVAL ? 0 : r;   /* a refused feed is reported, not an I/O failure */
}

/* Ingest one feed up to its head (want: that commit instead of the
 * ref's, for a proposed update). */
static int ingest_feed(store *s, git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *want,
                       const char *part, const char *writer, struct feed_report *rep, feed_log_fn log, void *ud)
{
        struct feed_pos pos;
        struct prepared p;
        int r;

        if (read_pos(s, ref, &pos) < 0)
                return -EIO;
        prepare_feed(repo, tr, ref, want, part, writer, &pos, &p);
        r = apply_feed(s, &p, rep, log, ud);
        prepared_free(&p);
        return r;
}

/* The preparing thread of a round: prepares feeds in order into a small
 * ring the applying thread takes them from. */
#define PREP_AHEAD 4

struct pipeline {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        git_repository *repo;           /* the worker's own handle */
        const struct feed_trust *tr;
        char **names;                   /* the feeds to prepare, in order */
        char (*parts)[32], (*writers)[32];
        struct feed_pos *pos;
        size_t n, next_prep, next_take;
        struct prepared ring[PREP_AHEAD];
        bool stop;
};

static void *prep_main(void *arg)
{
        struct pipeline *pl = arg;

        for (;;) {
                size_t i;
                struct prepared p;
                pthread_mutex_lock(&pl->mu);
                while (!pl->stop && pl->next_prep < pl->n && pl->next_prep - pl->next_take >= PREP_AHEAD)
                        pthread_cond_wait(&pl->cv, &pl->mu);
                if (pl->stop || pl->next_prep >= pl->n) {
                        pthread_mutex_unlock(&pl->mu);
                        return NULL;
                }
                i = pl->next_prep;
                pthread_mutex_unlock(&pl->mu);
                prepare_feed(pl->repo, pl->tr, pl->names[i], NULL, pl->parts[i], pl->writers[i], &pl->pos[i], &p);
                pthread_mutex_lock(&pl->mu);
                pl->ring[i % PREP_AHEAD] = p;
                pl->next_prep++;
                pthread_cond_broadcast(&pl->cv);
                pthread_mutex_unlock(&pl->mu);
        }
}

int feed_ingest(store *s, git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                feed_log_fn log, void *ud)
{
        struct pipeline pl;
        pthread_t th;
        bool threaded = false;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        memset(&pl, 0, sizeof pl);
        pl.tr = tr;
        if (ref_names(repo, FEED_PREFIX "*", &names, &n) < 0)
                return -EIO;
        if (n && (!(pl.names = calloc(n, sizeof *pl.names)) || !(pl.parts = calloc(n, sizeof *pl.parts)) ||
                  !(pl.writers = calloc(n, sizeof *pl.writers)) || !(pl.pos = calloc(n, sizeof *pl.pos))))
                r = -ENOMEM;
        if (r == 0 && n && store_begin(s) < 0)
                r = -EIO;
        /* the feeds of other writers this node may hold, and where each
         * stands (read inside the round's transaction) */
        for (size_t i = 0; i < n; i++) {
                if (r == 0 && feed_parse_ref(names[i], pl.parts[pl.n], sizeof pl.parts[0], pl.writers[pl.n],
                                             sizeof pl.writers[0]) &&
                    (strcmp(pl.writers[pl.n], self) != 0 || (tr && tr->catch_up_own)) &&
                    feed_entitled(self, pl.parts[pl.n])) {
                        if (read_pos(s, names[i], &pl.pos[pl.n]) < 0)
                                r = -EIO;
                        pl.names[pl.n++] = names[i];
                } else {
                        free(names[i]);
                }
        }
        free(names);
        /* prepare on a second thread (its own repository handle) while this
         * one applies: git and JSON there, SQLite here */
        if (r == 0 && pl.n > 1 && git_repository_open_bare(&pl.repo, git_repository_path(repo)) == 0) {
                pthread_mutex_init(&pl.mu, NULL);
                pthread_cond_init(&pl.cv, NULL);
                threaded = pthread_create(&th, NULL, prep_main, &pl) == 0;
                if (!threaded) {
                        pthread_cond_destroy(&pl.cv);
                        pthread_mutex_destroy(&pl.mu);
                }
        }
        for (size_t i = 0; i < pl.n && r == 0; i++) {
                struct prepared p;
                if (threaded) {
                        pthread_mutex_lock(&pl.mu);
                        while (pl.next_prep <= i)
                                pthread_cond_wait(&pl.cv, &pl.mu);
                        p = pl.ring[i % PREP_AHEAD];
                        memset(&pl.ring[i % PREP_AHEAD], 0, sizeof p);
                        pl.next_take++;
                        pthread_cond_broadcast(&pl.cv);
                        pthread_mutex_unlock(&pl.mu);
                } else {
                        prepare_feed(repo, tr, pl.names[i], NULL, pl.parts[i], pl.writers[i], &pl.pos[i], &p);
                }
                r = apply_feed(s, &p, rep, log, ud);
                prepared_free(&p);
        }
        if (threaded) {
                pthread_mutex_lock(&pl.mu);
                pl.stop = true;
                pthread_cond_broadcast(&pl.cv);
                pthread_mutex_unlock(&pl.mu);
                pthread_join(th, NULL);
                for (size_t i = pl.next_take; i < pl.next_prep; i++)
                        prepared_free(&pl.ring[i % PREP_AHEAD]);
                pthread_cond_destroy(&pl.cv);
                pthread_mutex_destroy(&pl.mu);
        }
        git_repository_free(pl.repo);
        if (n && r == 0 && store_commit(s) < 0)
                r = -EIO;
        if (r < 0) {
                store_rollback(s);
                if (rep)
                        rep->ingested_events = rep->ingested_feeds = 0;
        }
        for (size_t i = 0; i < pl.n; i++)
                free(pl.names[i]);
        free(pl.names);
        free(pl.parts);
        free(pl.writers);
        free(pl.pos);
        return r;
}

bool feed_may_write(const char *pusher, const char *part, const char *writer)
{
        /* a partition under the pusher, written by the pusher itself or
         * relayed for a node under it (a township's villages) */
        return division_code_valid(pusher) && feed_entitled(pusher, part) &&
               (strcmp(writer, pusher) == 0 || feed_entitled(pusher, writer));
}

struct errbuf {
        char *buf;
        size_t len;
};

static void log_to_buf(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_to_buf(void *ud, const char *fmt, ...)
{
        struct errbuf *e = ud;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
}

int feed_verify(store *s, git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *new_head,
                char *err, size_t errlen)
{
        char part[32], writer[32];
        struct feed_report rep = { 0 };
        struct errbuf eb = { err, errlen };
        int r;

        err[0] = '\0';
        if (!feed_parse_ref(ref, part, sizeof part, writer, sizeof writer)) {
                snprintf(err, errlen, "%s is not a feed (refs/feeds/<partition>/<writer>)", ref);
                return -EINVAL;
        }
        if (store_begin(s) < 0) {
                snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
                return -EIO;
        }
        r = ingest_feed(s, repo, tr, ref, new_head, part, writer, &rep, log_to_buf, &eb);
        store_rollback(s);     /* a check only: the real ingest follows the ref update */
        if (r < 0) {
                if (!err[0])
                        snprintf(err, errlen, "cannot check %s: %s", ref, store_errmsg(s));
                return r;
        }
        return rep.refused ? -EINVAL : 0;
}

/* ---- transfer ------------------------------------------------------------------ */

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
        if (cert->cert_type != GIT_CERT_X509 || !SHA256(xc->data, xc->len, md)) {
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
                if (git_packbuilder_write_buf(&pack, pb) < 0 || incoming_odb(repo, &odb) < 0 ||
                    git_odb_write_pack(&wp, odb, feed_show_progress ? fetch_progress : NULL, NULL) < 0 ||
                    wp->append(wp, pack.ptr, pack.size, &stats) < 0 || wp->commit(wp, &stats) < 0)
                        goto out;
        }
        for (size_t i = 0; i < n; i++) {
                git_reference *nr = NULL;
                int cr = git_reference_create(&nr, inrepo(repo), inc[i], &ids[i], 1, "daiban: fetch feeds");
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
        if (r == 0 && (f = fopen(path, "w"))) {
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
        git_repository *frepo = inrepo(repo);
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
        if (rm->seen && rm->seen->valid && strlen(self) > 6) {
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

/* Move ref `local` to `inc` when that is a fast-forward (or a new ref).
 * 0 (*ret_moved tells), -EINVAL when inc does not descend from what is
 * held (a rewrite), -EIO. */
/* ---- quarantine ---------------------------------------------------------------- */

/* Objects that came in on a stick are kept apart, in a repository of
 * their own (REPO/daiban-quarantine, with the incoming refs that name
 * them), until a ref that needs them is accepted: then the objects that
 * ref reaches are written into the repository's own store, before the
 * ref moves. A crash leaves objects no ref needs, never a ref without
 * its objects; what was refused goes when the quarantine does. */
static struct {
        git_repository *repo, *qrepo;
        char dir[4200];
} q;


int feed_quarantine_begin(git_repository *repo)
{
        git_odb *odb = NULL, *qodb = NULL;
        char objs[4300], main_objs[4300];
        int r = 0;

        feed_quarantine_end(repo);
        snprintf(q.dir, sizeof q.dir, "%sdaiban-quarantine", git_repository_path(repo));
        durable_remove_tree(q.dir);     /* one a crash left */
        snprintf(objs, sizeof objs, "%s/objects", q.dir);
        snprintf(main_objs, sizeof main_objs, "%sobjects", git_repository_path(repo));
        /* each reads the other's objects: the repository sees what waits,
         * the quarantine names what is held already */
        if (git_repository_init(&q.qrepo, q.dir, 1) < 0 || git_repository_odb(&odb, repo) < 0 ||
            git_odb_add_disk_alternate(odb, objs) < 0 || git_repository_odb(&qodb, q.qrepo) < 0 ||
            git_odb_add_disk_alternate(qodb, main_objs) < 0)
                r = -EIO;
        git_odb_free(odb);
        git_odb_free(qodb);
        if (r == 0) {
                q.repo = repo;
        } else {
                git_repository_free(q.qrepo);
                q.qrepo = NULL;
                durable_remove_tree(q.dir);
        }
        return r;
}

void feed_quarantine_end(git_repository *repo)
{
        if (q.repo != repo || !repo)
                return;
        git_repository_free(q.qrepo);
        q.qrepo = NULL;
        durable_remove_tree(q.dir);
        q.repo = NULL;
}

/* Where incoming refs live: the quarantine's repository while one is
 * open for repo, else repo itself. */
static git_repository *inrepo(git_repository *repo)
{
        return q.repo == repo && q.qrepo ? q.qrepo : repo;
}

int feed_incoming_id(git_repository *repo, const char *name, git_oid *out)
{
        return git_reference_name_to_id(out, inrepo(repo), name);
}

void feed_incoming_drop(git_repository *repo, const char *name)
{
        git_reference *ref = NULL;

        if (git_reference_lookup(&ref, inrepo(repo), name) == 0)
                git_reference_delete(ref);
        git_reference_free(ref);
}

int feed_incoming_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n)
{
        return ref_names(inrepo(repo), glob, ret, ret_n);
}

/* The odb that incoming packs are written into: the quarantine's when
 * one is open for repo, else the repository's own. */
static int incoming_odb(git_repository *repo, git_odb **ret)
{
        return git_repository_odb(ret, inrepo(repo));
}

/* The objects reachable from to and not from held (NULL: none), packed
 * and written into repo's primary store (libgit2 never writes into an
 * alternate, such as the quarantine). */
static int copy_reachable(git_repository *repo, const git_oid *held, const git_oid *to)
{
        git_packbuilder *pb = NULL;
        git_revwalk *walk = NULL;
        git_buf pack = { 0 };
        git_odb *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        int r = -EIO;

        if (git_packbuilder_new(&pb, repo) < 0 || git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, to) < 0)
                goto out;
        if (held)
                git_revwalk_hide(walk, held);
        if (git_packbuilder_insert_walk(pb, walk) < 0)
                goto out;
        if (git_packbuilder_object_count(pb) == 0) {
                r = 0;
                goto out;
        }
        if (git_packbuilder_write_buf(&pack, pb) < 0 || git_repository_odb(&odb, repo) < 0 ||
            git_odb_write_pack(&wp, odb, NULL, NULL) < 0 || wp->append(wp, pack.ptr, pack.size, &stats) < 0 ||
            wp->commit(wp, &stats) < 0)
                goto out;
        r = 0;
out:
        if (wp)
                wp->free(wp);
        git_odb_free(odb);
        git_buf_dispose(&pack);
        git_revwalk_free(walk);
        git_packbuilder_free(pb);
        return r;
}

int feed_quarantine_keep(git_repository *repo, const git_oid *held, const git_oid *to)
{
        return q.repo == repo ? copy_reachable(repo, held, to) : 0;   /* no quarantine: in place */
}

int feed_ff_update(git_repository *repo, const char *local, const git_oid *inc, bool *ret_moved, char *err,
                   size_t errlen)
{
        git_oid cur;
        git_reference *ref = NULL;

        *ret_moved = false;
        bool held = git_reference_name_to_id(&cur, repo, local) == 0;
        if (held) {
                if (git_oid_equal(&cur, inc) || git_graph_descendant_of(repo, &cur, inc) == 1)
                        return 0;       /* held already, or ahead */
                if (git_graph_descendant_of(repo, inc, &cur) != 1) {
                        snprintf(err, errlen, "refused %s: it was rewritten (its new head does not descend from the"
                                 " one held); it is not followed", local);
                        return -EINVAL;
                }
        }
        if (feed_quarantine_keep(repo, held ? &cur : NULL, inc) < 0) {
                snprintf(err, errlen, "cannot keep the objects of %s: %s", local, gerr());
                return -EIO;
        }
        if (git_reference_create(&ref, repo, local, inc, 1, "daiban: advanced") < 0) {
                snprintf(err, errlen, "cannot update %s: %s", local, gerr());
                return -EIO;
        }
        git_reference_free(ref);
        *ret_moved = true;
        return 0;
}

/* ---- USB bundles ----------------------------------------------------------------- */

#define BUNDLE_SIG "# v2 git bundle\n"

/* refs/catalog/<county>: the county's catalogue chain (sync/catfeed.h) */
static bool is_catalog_ref(const char *name)
{
        const char *c = name + strlen(CATFEED_PREFIX);
        return strncmp(name, CATFEED_PREFIX, strlen(CATFEED_PREFIX)) == 0 && strlen(c) == 6 &&
               strspn(c, "0123456789") == 6;
}

/* refs/roster/<county>: the county's key roster (sync/roster.h) */
static bool is_roster_ref(const char *name)
{
        const char *c = name + strlen(ROSTER_PREFIX);
        return strncmp(name, ROSTER_PREFIX, strlen(ROSTER_PREFIX)) == 0 && strlen(c) == 6 &&
               strspn(c, "0123456789") == 6;
}

int feed_bundle_parse_header(const char *data, size_t len, char ***ret_names, git_oid **ret_ids, size_t *ret_n,
                             size_t *ret_pack_off, char *err, size_t errlen)
{
        size_t off = strlen(BUNDLE_SIG), n = 0;
        char **names = NULL;
        git_oid *ids = NULL;

        if (len < off || memcmp(data, BUNDLE_SIG, off) != 0) {
                snprintf(err, errlen, "not a git bundle (version 2)");
                return -EINVAL;
        }
        for (;;) {
                const char *nl = memchr(data + off, '\n', len - off);
                size_t l;
                if (!nl) {
                        snprintf(err, errlen, "the bundle's header is truncated");
                        goto bad;
                }
                l = (size_t)(nl - (data + off));
                if (l == 0) {
                        off++;
                        break;
                }
                if (data[off] == '-') {
                        snprintf(err, errlen, "the bundle needs prerequisite commits; daiban writes complete bundles");
                        goto bad;
                }
                if (l < 42 || l > 200 || data[off + 40] != ' ' || n >= 100000) {
                        snprintf(err, errlen, "bad line in the bundle's header");
                        goto bad;
                }
                char hex[41], name[201];
                memcpy(hex, data + off, 40);
                hex[40] = '\0';
                memcpy(name, data + off + 41, l - 41);
                name[l - 41] = '\0';
                char part[32], writer[32];
                git_oid id;
                /* check the hex here: libgit2 reports a bad id through its
                 * error state, which needs git_libgit2_init */
                if (strspn(hex, "0123456789abcdef") != 40 || git_oid_fromstr(&id, hex) < 0 ||
                    ((!feed_parse_ref(name, part, sizeof part, writer, sizeof writer) ||
                      strncmp(name, FEED_PREFIX, strlen(FEED_PREFIX)) != 0) && !is_catalog_ref(name) &&
                     !is_roster_ref(name) &&
                     (!scan_parse_ref(name, part, sizeof part, writer, sizeof writer) ||
                      strncmp(name, SCAN_PREFIX, strlen(SCAN_PREFIX)) != 0))) {
                        snprintf(err, errlen, "the bundle holds '%s', which is not a feed", name);
                        goto bad;
                }
                char **nn = realloc(names, (n + 1) * sizeof *names);
                git_oid *ni = nn ? realloc(ids, (n + 1) * sizeof *ids) : NULL;
                if (nn)
                        names = nn;
                if (!ni || !(names[n] = strdup(name))) {
                        if (ni)
                                ids = ni;
                        snprintf(err, errlen, "out of memory");
                        goto bad;
                }
                ids = ni;
                ids[n++] = id;
                off += l + 1;
        }
        if (off + 12 > len || memcmp(data + off, "PACK", 4) != 0) {
                snprintf(err, errlen, "the bundle's pack is missing or truncated");
                goto bad;
        }
        *ret_names = names;
        *ret_ids = ids;
        *ret_n = n;
        *ret_pack_off = off;
        return 0;
bad:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(ids);
        return -EINVAL;
}

int feed_bundle_export(git_repository *repo, const char *dir, const char *self, const char *target, long *ret_refs,
                       feed_log_fn log, void *ud)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_packbuilder *pb = NULL;
        git_revwalk *walk = NULL;
        git_buf pack = { 0 };
        char *hdr = NULL, path[4096], tmp[4200];
        size_t hlen = 0, hcap = 0;
        long nrefs = 0;
        FILE *f = NULL;
        int r = -EIO;

        *ret_refs = 0;
        char county_ref[64], roster_ref[64], county[7];
        catfeed_county(target, county);
        snprintf(county_ref, sizeof county_ref, CATFEED_PREFIX "%s", county);
        snprintf(roster_ref, sizeof roster_ref, ROSTER_PREFIX "%s", county);
        if (git_packbuilder_new(&pb, repo) < 0 || git_revwalk_new(&walk, repo) < 0 ||
            git_reference_iterator_glob_new(&it, repo, "refs/*") < 0)
                goto out;
        hdr = strdup(BUNDLE_SIG);
        hlen = hcap = strlen(BUNDLE_SIG);
        while (hdr && git_reference_next(&ref, it) == 0) {
                char part[32], writer[32], line[256];
                const git_oid *id = git_reference_target(ref);
                /* what the target may hold: its partition and those below
                 * it, and its county's catalogue */
                if (id && ((strncmp(git_reference_name(ref), FEED_PREFIX, strlen(FEED_PREFIX)) == 0 &&
                            feed_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                            feed_entitled(target, part)) ||
                           (strncmp(git_reference_name(ref), SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0 &&
                            scan_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                            feed_entitled(target, part)) ||
                           strcmp(git_reference_name(ref), county_ref) == 0 ||
                           strcmp(git_reference_name(ref), roster_ref) == 0)) {
                        char hex[GIT_OID_HEXSZ + 1];
                        int l = snprintf(line, sizeof line, "%s %s\n", git_oid_tostr(hex, sizeof hex, id),
                                         git_reference_name(ref));
                        if (hlen + (size_t)l + 2 > hcap) {
                                char *nh = realloc(hdr, (hlen + (size_t)l + 2) * 2);
                                if (!nh) {
                                        git_reference_free(ref);
                                        goto out;
                                }
                                hdr = nh;
                                hcap = (hlen + (size_t)l + 2) * 2;
                        }
                        memcpy(hdr + hlen, line, (size_t)l);
                        hlen += (size_t)l;
                        if (git_revwalk_push(walk, id) < 0) {
                                git_reference_free(ref);
                                goto out;
                        }
                        nrefs++;
                }
                git_reference_free(ref);
        }
        if (!hdr)
                goto out;
        hdr[hlen++] = '\n';
        if (git_packbuilder_insert_walk(pb, walk) < 0 || git_packbuilder_write_buf(&pack, pb) < 0)
                goto out;
        snprintf(path, sizeof path, "%s/daiban-%s-to-%s.bundle", dir, self, target);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "wb");
        /* readable on the next machine, whose user is another (a stick
         * formatted ext4): the file leaves this PC by hand either way */
        if (f)
                fchmod(fileno(f), 0644);
        if (!f || fwrite(hdr, 1, hlen, f) != hlen || fwrite(pack.ptr, 1, pack.size, f) != pack.size ||
            fflush(f) != 0 || fsync(fileno(f)) < 0) {
                if (log)
                        log(ud, "cannot write %s", tmp);
                goto out;
        }
        fclose(f);
        f = NULL;
        if (rename(tmp, path) < 0 || durable_sync_parent(path) < 0) {
                if (log)
                        log(ud, "cannot write %s", path);
                goto out;
        }
        *ret_refs = nrefs;
        r = 0;
out:
        if (r < 0 && log && git_error_last())
                log(ud, "bundle export failed: %s", gerr());
        if (f) {
                fclose(f);
                unlink(tmp);
        }
        git_buf_dispose(&pack);
        free(hdr);
        git_reference_iterator_free(it);
        git_revwalk_free(walk);
        git_packbuilder_free(pb);
        return r;
}

static int import_one(git_repository *repo, const char *path, const char *sender, feed_log_fn log, void *ud)
{
        char err[256], **names = NULL;
        git_oid *ids = NULL;
        size_t n = 0, off;
        git_odb *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        struct stat sb;
        char *data = NULL;
        FILE *f = NULL;
        int r = -EINVAL, bad = 0;

        if (stat(path, &sb) < 0 || (size_t)sb.st_size > FEED_BUNDLE_MAX) {
                if (log)
                        log(ud, "refused %s: larger than %u MiB or unreadable", path, FEED_BUNDLE_MAX >> 20);
                return -EINVAL;
        }
        data = malloc((size_t)sb.st_size + 1);
        f = fopen(path, "rb");
        if (!data || !f || fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
                if (log)
                        log(ud, "cannot read %s", path);
                goto out;
        }
        if (feed_bundle_parse_header(data, (size_t)sb.st_size, &names, &ids, &n, &off, err, sizeof err) < 0) {
                if (log)
                        log(ud, "refused %s: %s", path, err);
                goto out;
        }
        if (incoming_odb(repo, &odb) < 0 || git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
            wp->append(wp, data + off, (size_t)sb.st_size - off, &stats) < 0 || wp->commit(wp, &stats) < 0) {
                if (log)
                        log(ud, "refused %s: its pack is corrupt or truncated (%s)", path, gerr());
                goto out;
        }
        r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                char inc[256];
                git_reference *ref = NULL;
                git_object *obj = NULL;
                if (git_object_lookup(&obj, repo, &ids[i], GIT_OBJECT_COMMIT) < 0) {
                        if (log)
                                log(ud, "refused %s: %s points to a commit the bundle lacks", path, names[i]);
                        r = -EINVAL;
                        break;
                }
                git_object_free(obj);
                /* a stick carries only what its sender may hold (the
                 * signatures are checked when the feeds are accepted) */
                char part[32], writer[32];
                if ((feed_split_ref(names[i], FEED_PREFIX, FEED_PREFIX, part, sizeof part, writer, sizeof writer) ||
                     scan_parse_ref(names[i], part, sizeof part, writer, sizeof writer)) &&
                    !feed_entitled(sender, part)) {
                        if (log)
                                log(ud, "refused %s from %s: %s may not carry partition %s", names[i], path, sender,
                                    part);
                        bad++;
                        continue;
                }
                if (is_catalog_ref(names[i]))
                        snprintf(inc, sizeof inc, CATFEED_INCOMING "%s", names[i] + strlen(CATFEED_PREFIX));
                else if (is_roster_ref(names[i]))
                        snprintf(inc, sizeof inc, ROSTER_INCOMING "%s", names[i] + strlen(ROSTER_PREFIX));
                else if (strncmp(names[i], SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0)
                        snprintf(inc, sizeof inc, SCAN_INCOMING "%s", names[i] + strlen(SCAN_PREFIX));
                else
                        snprintf(inc, sizeof inc, FEED_INCOMING "%s", names[i] + strlen(FEED_PREFIX));
                if (git_reference_create(&ref, inrepo(repo), inc, &ids[i], 1, "daiban: bundle import") < 0)
                        r = -EIO;
                git_reference_free(ref);
        }
out:
        if (wp)
                wp->free(wp);
        git_odb_free(odb);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(ids);
        if (f)
                fclose(f);
        free(data);
        return r < 0 ? r : bad > 0;
}

int feed_bundle_import(git_repository *repo, const char *dir, const char *self, char ***ret_senders, size_t *ret_n,
                       feed_log_fn log, void *ud)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char suffix[64];
        int r = 0;

        *ret_senders = NULL;
        *ret_n = 0;
        if (!d) {
                if (log)
                        log(ud, "cannot open %s", dir);
                return -EIO;
        }
        snprintf(suffix, sizeof suffix, "-to-%s.bundle", self);
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name), sl = strlen(suffix);
                char path[4096], sender[32];
                if (l <= sl + 7 || strncmp(e->d_name, "daiban-", 7) != 0 || strcmp(e->d_name + l - sl, suffix) != 0)
                        continue;
                if (l - sl - 7 >= sizeof sender)
                        continue;
                memcpy(sender, e->d_name + 7, l - sl - 7);
                sender[l - sl - 7] = '\0';
                if (!division_code_valid(sender))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                int ir = import_one(repo, path, sender, log, ud);
                if (ir < 0) {
                        r = -EINVAL;
                        continue;
                }
                if (ir > 0)
                        r = -EINVAL;    /* refs it may not carry were left out; the rest went in */
                char **ns = realloc(*ret_senders, (*ret_n + 1) * sizeof **ret_senders);
                if (ns) {
                        *ret_senders = ns;
                        if ((ns[*ret_n] = strdup(sender)))
                                (*ret_n)++;
                }
        }
        closedir(d);
        return r;
}
