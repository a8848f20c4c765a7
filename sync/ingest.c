/* Taking in other writers' feeds: incoming refs accepted into
 * refs/feeds when they are entitled fast-forwards that parse and are
 * signed (or kept as evidence of an equivocation), then ingest: the new
 * events stored, folded and the feed's head recorded in one transaction
 * per feed, with the next feeds prepared on a second thread; and the
 * same ingest as a check rolled back (feed_verify, the hall's
 * pre-receive). See feed.h and docs/sync.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sync/store-int.h"
#include "sync/changeset.h"
#include "sync/feed.h"
#include "sync/feed-int.h"
#include "sync/fold.h"
#include "sync/incoming.h"

/* What feed_accept_incoming hands accept_one for each incoming ref. */
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
static void equivocation(struct incoming *in, const char *local, const git_oid *held, const git_oid *other)
{
        char msg[1024];

        feed_equivocation(in->repo, in->tr ? in->tr->ro : NULL, local, held, other, false, msg, sizeof msg);
        if (in->log)
                in->log(in->ud, "refused %s: %s", local, msg);
        if (in->rep)
                in->rep->refused++;
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

/* The preparing thread of a round: prepares feeds in order into a small
 * ring the applying thread takes them from. */
#define PREP_AHEAD 4

struct pipeline {
        uv_mutex_t mu;
        uv_cond_t cv;
        git_repository *repo;           /* the worker's own handle */
        const struct feed_trust *tr;
        char **names;                   /* the feeds to prepare, in order */
        char (*parts)[32], (*writers)[32];
        struct feed_pos *pos;
        size_t n, next_prep, next_take;
        struct prepared ring[PREP_AHEAD];
        bool stop;
};

static void prep_main(void *arg)
{
        struct pipeline *pl = arg;

        for (;;) {
                size_t i;
                struct prepared p;
                uv_mutex_lock(&pl->mu);
                while (!pl->stop && pl->next_prep < pl->n && pl->next_prep - pl->next_take >= PREP_AHEAD)
                        uv_cond_wait(&pl->cv, &pl->mu);
                if (pl->stop || pl->next_prep >= pl->n) {
                        uv_mutex_unlock(&pl->mu);
                        return;
                }
                i = pl->next_prep;
                uv_mutex_unlock(&pl->mu);
                prepare_feed(pl->repo, pl->tr, pl->names[i], NULL, pl->parts[i], pl->writers[i], &pl->pos[i], &p);
                uv_mutex_lock(&pl->mu);
                pl->ring[i % PREP_AHEAD] = p;
                pl->next_prep++;
                uv_cond_broadcast(&pl->cv);
                uv_mutex_unlock(&pl->mu);
        }
}

/* How long a round holds the store's write lock before it commits what
 * it applied and takes the lock again */
#define INGEST_COMMIT_NS (250u * 1000u * 1000u)

int feed_ingest(store *s, git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                feed_log_fn log, void *ud)
{
        struct pipeline pl;
        uv_thread_t th;
        bool threaded = false;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        memset(&pl, 0, sizeof pl);
        pl.tr = tr;
        if (feed_ref_names(repo, FEED_PREFIX "*", &names, &n) < 0)
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
                if (uv_mutex_init(&pl.mu) == 0) {
                        if (uv_cond_init(&pl.cv) == 0) {
                                threaded = uv_thread_create(&th, prep_main, &pl) == 0;
                                if (!threaded)
                                        uv_cond_destroy(&pl.cv);
                        }
                        if (!threaded)
                                uv_mutex_destroy(&pl.mu);
                }
        }
        /* what the round had stored at its last commit */
        struct feed_report at_commit = rep ? *rep : (struct feed_report){ 0 };
        uint64_t since = uv_hrtime();
        for (size_t i = 0; i < pl.n && r == 0; i++) {
                struct prepared p;
                if (threaded) {
                        uv_mutex_lock(&pl.mu);
                        while (pl.next_prep <= i)
                                uv_cond_wait(&pl.cv, &pl.mu);
                        p = pl.ring[i % PREP_AHEAD];
                        memset(&pl.ring[i % PREP_AHEAD], 0, sizeof p);
                        pl.next_take++;
                        uv_cond_broadcast(&pl.cv);
                        uv_mutex_unlock(&pl.mu);
                } else {
                        prepare_feed(repo, tr, pl.names[i], NULL, pl.parts[i], pl.writers[i], &pl.pos[i], &p);
                }
                r = apply_feed(s, &p, rep, log, ud);
                prepared_free(&p);
                /* a long round commits as it goes and lets the others in:
                 * at a county's hall the pre-receive check of every push
                 * waits for this write lock, and in a herd a round of
                 * hundreds of feeds held it past their 30 s (each feed's
                 * events and position are applied together, so a commit
                 * between feeds is a round that took fewer) */
                if (r == 0 && i + 1 < pl.n && uv_hrtime() - since >= INGEST_COMMIT_NS) {
                        int y = store_commit_and_yield(s);
                        if (y != -1 && rep)
                                at_commit = *rep;       /* committed */
                        if (y < 0) {
                                if (log)
                                        log(ud, "the ingest stops here for this round: %s", store_errmsg(s));
                                r = -EIO;
                        }
                        since = uv_hrtime();
                }
        }
        if (threaded) {
                uv_mutex_lock(&pl.mu);
                pl.stop = true;
                uv_cond_broadcast(&pl.cv);
                uv_mutex_unlock(&pl.mu);
                uv_thread_join(&th);
                for (size_t i = pl.next_take; i < pl.next_prep; i++)
                        prepared_free(&pl.ring[i % PREP_AHEAD]);
                uv_cond_destroy(&pl.cv);
                uv_mutex_destroy(&pl.mu);
        }
        git_repository_free(pl.repo);
        if (n && r == 0 && store_commit(s) < 0)
                r = -EIO;
        if (r < 0) {
                store_rollback(s);
                if (rep) {
                        rep->ingested_events = at_commit.ingested_events;
                        rep->ingested_feeds = at_commit.ingested_feeds;
                }
        }
        for (size_t i = 0; i < pl.n; i++)
                free(pl.names[i]);
        free(pl.names);
        free(pl.parts);
        free(pl.writers);
        free(pl.pos);
        return r;
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
        struct feed_pos before, pos;
        struct prepared p;
        int r;

        err[0] = '\0';
        if (!feed_parse_ref(ref, part, sizeof part, writer, sizeof writer)) {
                snprintf(err, errlen, "%s is not a feed (refs/feeds/<partition>/<writer>)", ref);
                return -EINVAL;
        }
        /* git, JSON and the signatures before the write lock, which every
         * push's check at a hall queues for: a check that held it while it
         * parsed made a herd's queue pass the time a check waits */
        if (read_pos(s, ref, &before) < 0) {
                snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
                return -EIO;
        }
        prepare_feed(repo, tr, ref, new_head, part, writer, &before, &p);
        if (store_begin(s) < 0) {
                snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
                prepared_free(&p);
                return -EIO;
        }
        if (read_pos(s, ref, &pos) < 0) {
                r = -EIO;
        } else {
                if (pos.have_done != before.have_done || !git_oid_equal(&pos.done, &before.done) ||
                    pos.last_seq != before.last_seq || pos.total_events != before.total_events) {
                        /* the ingest moved the feed meanwhile: from where it stands */
                        prepared_free(&p);
                        prepare_feed(repo, tr, ref, new_head, part, writer, &pos, &p);
                }
                r = apply_feed(s, &p, &rep, log_to_buf, &eb);
        }
        prepared_free(&p);
        store_rollback(s);     /* a check only: the real ingest follows the ref update */
        if (r < 0) {
                if (!err[0])
                        snprintf(err, errlen, "cannot check %s: %s", ref, store_errmsg(s));
                return r;
        }
        return rep.refused ? -EINVAL : 0;
}
