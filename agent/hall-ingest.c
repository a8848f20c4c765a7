/* The hall's ingest, on a worker thread with handles of its own: the
 * county's own new events committed, every feed that moved ingested,
 * scans assembled, and the refusals nodes reported noted in the
 * county's supervision log; back on the loop, the refs packed. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <uv.h>

#include "agent/hall-int.h"
#include "agent/log.h"
#include "agent/round.h"
#include "forms/division.h"
#include "sync/feed.h"
#include "sync/report.h"
#include "sync/refs.h"

/* ---- ingest ------------------------------------------------------------------------ */

/* Lines one node's reports may add to the county's log in a day: the
 * alarms read the log's last 512 KiB, and one chatty (or hostile)
 * township must not push every other alarm out of it. */
#define REPORTED_PER_DAY 200

struct report_note {
        const char *path, *by;
        long noted, ignored, over, budget;
};

static void note_report_line(void *ud, const char *text)
{
        struct report_note *rn = ud;

        if (rn->noted >= rn->budget)
                rn->over++;     /* counted, and told in one line after */
        else if (home_refusal_note_reported(rn->path, rn->by, text))
                rn->noted++;
        else
                rn->ignored++;
}

/* How many lines node may still add today ("<day> <count>" in the meta). */
static long report_budget(store *st, const char *node, long day, long *ret_today)
{
        char key[64], *v = NULL;
        long d = -1, n = 0;

        snprintf(key, sizeof key, "report.lines.%.16s", node);
        if (store_meta_get(st, key, &v) == 0 && v && sscanf(v, "%ld %ld", &d, &n) == 2 && d == day)
                *ret_today = n;
        else
                *ret_today = 0;
        free(v);
        return *ret_today >= REPORTED_PER_DAY ? 0 : REPORTED_PER_DAY - *ret_today;
}

/* The refusals nodes reported since the last look (refs/reports/<node>,
 * sync/report.h) go into the county's supervision log, with who reported
 * them; how far each chain was read is kept in the store. */
static void note_reports(struct hall *H)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/" HOME_REFUSALS, H->wh.dir);
        if (git_reference_iterator_glob_new(&it, H->wrepo, REPORT_PREFIX "*") < 0)
                return;
        while (git_reference_next(&ref, it) == 0) {
                const char *node = git_reference_name(ref) + strlen(REPORT_PREFIX);
                const git_oid *head = git_reference_target(ref);
                char key[64], hex[GIT_OID_HEXSZ + 1], *done = NULL;
                git_oid from;
                snprintf(key, sizeof key, "report.done.%.16s", node);
                store_meta_get(H->wh.st, key, &done);
                bool have = done && git_oid_fromstr(&from, done) == 0;
                if (head && division_code_valid(node) && (!have || !git_oid_equal(&from, head))) {
                        long day = (long)(time(NULL) / 86400), today;
                        struct report_note rn = { path, node, 0, 0, 0, report_budget(H->wh.st, node, day, &today) };
                        if (report_read(H->wrepo, have ? &from : NULL, head, note_report_line, &rn) == 0) {
                                char lkey[64], lval[64];
                                git_oid_tostr(hex, sizeof hex, head);
                                snprintf(lkey, sizeof lkey, "report.lines.%.16s", node);
                                snprintf(lval, sizeof lval, "%ld %ld", day, today + rn.noted);
                                if (store_begin(H->wh.st) < 0 || store_meta_set(H->wh.st, key, hex) < 0 ||
                                    store_meta_set(H->wh.st, lkey, lval) < 0 || store_commit(H->wh.st) < 0)
                                        store_rollback(H->wh.st);
                                if (rn.over) {
                                        char msg[160];
                                        snprintf(msg, sizeof msg, "reported %ld more refusals today than the county"
                                                 " notes one by one (%d a day)", rn.over, REPORTED_PER_DAY);
                                        home_refusal_note(path, node, msg);
                                }
                                log_line("%s reported %ld refusals at its USB imports%s%s", node, rn.noted + rn.over,
                                         rn.ignored ? " (some lines were not about nodes below it: ignored)" : "",
                                         rn.over ? " (over its daily share: counted, not noted one by one)" : "");
                        }
                }
                free(done);
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
}

/* The lines of an ingest, held (while holding) until it is known whether
 * they stand; the round's other lines are said at once */
struct held_log {
        char **line;
        size_t n;
        bool holding;
};

static void held_log_add(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void held_log_add(void *ud, const char *fmt, ...)
{
        struct held_log *hl = ud;
        char **grown = hl->holding ? realloc(hl->line, (hl->n + 1) * sizeof *grown) : NULL;
        va_list ap, aq;

        va_start(ap, fmt);
        va_copy(aq, ap);        /* a failed vasprintf may have used ap */
        if (grown && (hl->line = grown, vasprintf(&grown[hl->n], fmt, ap) >= 0))
                hl->n++;
        else
                log_vline(fmt, aq);     /* not held, or no memory to hold it: said at once */
        va_end(aq);
        va_end(ap);
}

static void held_log_end(struct held_log *hl, bool say)
{
        hl->holding = false;
        for (size_t i = 0; i < hl->n; i++) {
                if (say)
                        log_line("%s", hl->line[i]);
                free(hl->line[i]);
        }
        free(hl->line);
        hl->line = NULL;
        hl->n = 0;
}

/* The head of the county's roster (zero when it has none) */
static void roster_head(struct hall *H, git_oid *head)
{
        char ref[64];

        snprintf(ref, sizeof ref, ROSTER_PREFIX "%s", H->wh.node);
        if (git_reference_name_to_id(head, H->wrepo, ref) < 0)
                memset(head, 0, sizeof *head);
}

/* Ingest the feeds that moved, trusting the roster the round read (the
 * chain's head was read_at just before). A station's first push enrolls
 * its key in the pre-receive check and then moves its feed's ref; an
 * ingest that read the roster just before the enrolment would refuse
 * that feed for want of a key, a false alarm in the log (a refusal has
 * no other effect: the store and the feed's position stay). So the
 * ingest's lines are held, and when the roster moved since it was read
 * and something was refused, they are dropped and the roster is read
 * again and the feeds are ingested once more against it. */
static void ingest_feeds(struct hall *H, struct round *rd, const git_oid *read_at, struct held_log *hl)
{
        git_oid before = *read_at, after;

        for (int pass = 0; pass < 2; pass++) {
                if (pass) {
                        roster_head(H, &before);
                        round_reread(rd);
                }
                int refused = H->wrep.refused;
                hl->holding = true;
                round_ingest(rd);
                roster_head(H, &after);
                bool again = pass == 0 && H->wrep.refused > refused && !git_oid_equal(&before, &after);
                held_log_end(hl, !again);
                if (!again)
                        return;
                H->wrep.refused = refused;
        }
}

/* Every push leaves loose refs, and each git process of a request reads
 * them all (an advertisement: 30 ms at 1,200 refs against 5 ms packed,
 * docs/BENCHMARKS.md). So the round packs them, at most every 30 s, when
 * refs moved. Pushes go on meanwhile, as they may with git's own
 * pack-refs: the packed file is written first, and a loose ref is
 * removed only under its lock and while it still holds what was packed
 * (libgit2's packed_remove_loose), and git reads loose refs before the
 * packed file. Worker thread. */
static void pack_refs(struct hall *H)
{
        git_refdb *db = NULL;

        H->wpacked = 0;
        if (!H->wpack_due || !H->wmoved)
                return;
        if (git_repository_refdb(&db, H->wrepo) == 0 && git_refdb_compress(db) == 0) {
                H->wpacked = 1;
        } else {
                H->wpacked = -1;
                snprintf(H->wpack_err, sizeof H->wpack_err, "%s", git_error_last() ? git_error_last()->message : "?");
        }
        git_refdb_free(db);
}

/* The round takes in the feeds INGEST_AHEAD nice levels above the hall: in a herd the
 * hall's hundreds of backends (and whatever else the machine runs) each
 * had the CPU share of this one thread, and a round of 259 feeds took
 * 160 s (docs/BENCHMARKS.md). Raising needs RLIMIT_NICE (the unit's
 * LimitNICE=) or CAP_SYS_NICE; a lower limit raises it less, and
 * without either the round runs at the hall's priority (ahead 0, errno
 * in *ret_err). Only this pool thread,
 * and the preparing thread it starts (which inherits it), while the
 * feeds go in: ingest_lower puts it back. Returns the thread's nice
 * before, or INT_MIN. */
#define INGEST_AHEAD 10

static int ingest_raise(int *ret_ahead, int *ret_err)
{
        pid_t tid = (pid_t)syscall(SYS_gettid);
        int was, want;

        *ret_ahead = 0;
        *ret_err = 0;
        errno = 0;
        was = getpriority(PRIO_PROCESS, (id_t)tid);
        if (was == -1 && errno) {
                *ret_err = errno;
                return INT_MIN;
        }
        want = was - INGEST_AHEAD < -20 ? -20 : was - INGEST_AHEAD;
        if (want < was && setpriority(PRIO_PROCESS, (id_t)tid, want) < 0) {
                /* as far as RLIMIT_NICE lets it, if that is any way */
                struct rlimit rl;
                int err = errno, floor = was;
                if (getrlimit(RLIMIT_NICE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= 40)
                        floor = 20 - (int)rl.rlim_cur;
                want = floor > want && floor < was && setpriority(PRIO_PROCESS, (id_t)tid, floor) == 0 ? floor : was;
                *ret_err = want == was ? err : 0;
        }
        if (want == was)
                return INT_MIN;
        *ret_ahead = was - want;
        return was;
}

static void ingest_lower(int was)
{
        if (was != INT_MIN)
                setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), was);
}

/* On the worker thread, with its own handles, one round: the roster,
 * the catalogue (a newly installed version published), the county's own
 * new events committed, every feed that moved ingested (while pushes go on:
 * receive-pack moves a ref only after its objects are in place, and the
 * pre-receive check and this ingest take SQLite's write lock in turn). */
static void ingest_work(uv_work_t *w)
{
        struct hall *H = w->data;
        struct held_log hl = { 0 };
        struct round rd;
        git_oid read_at;

        int was = ingest_raise(&H->wahead, &H->wnice_err);
        memset(&H->wrep, 0, sizeof H->wrep);
        /* restored: its own feeds, returned by the nodes, are taken in */
        round_init(&rd, &H->wh, H->wrepo, &H->wrep, store_restore_pending(H->wh.st), held_log_add, &hl);
        roster_head(H, &read_at);
        round_trust(&rd);
        const struct sshsig_key *key;
        if (home_key(&H->wh, &key) == 0)
                feed_commit_local(H->wh.st, H->wrepo, H->wh.node, key, &H->wrep, log_feed, NULL);
        ingest_feeds(H, &rd, &read_at, &hl);
        /* the rest at the hall's own priority: nothing waits for the
         * county's copy of a scan (its township joins its own from the
         * pieces), and joining one is zlib and SHA-1 over megabytes */
        ingest_lower(was);
        was = INT_MIN;
        rd.assemble_ns = (uint64_t)H->assemble_ms * 1000000u;
        round_assemble(&rd);
        H->wscans = rd.scans;
        H->wscans_more = rd.scans_more;
        round_end(&rd);
        note_reports(H);
        H->wmoved = H->wrefs_moved || H->wrep.committed || H->wrep.ingested_feeds || H->wscans;
        pack_refs(H);
        ingest_lower(was);
}

/* Back on the loop: report, note whether the refs were packed, and
 * ingest again if more arrived meanwhile. */
static void ingest_after(uv_work_t *w, int status)
{
        struct hall *H = w->data;
        struct feed_report *rep = &H->wrep;

        (void)status;
        H->ingest_rounds++;
        H->ingest_ahead = H->wahead;
        if (H->wnice_err && !H->nice_told) {
                H->nice_told = true;
                log_line("the ingest runs at the hall's CPU priority, not %d levels above it (%s): in a herd it"
                         " then waits behind every request; let it with LimitNICE=-%d in the hall's unit (the"
                         " package's does)", INGEST_AHEAD, strerror(H->wnice_err), INGEST_AHEAD);
        }
        if (H->wscans || H->wscans_more)
                log_line("%ld scans received whole%s", H->wscans, H->wscans_more ? "; more in the next round" : "");
        if (H->wscans_more)
                H->ingest_wanted = true;        /* at once, the feeds that came meanwhile first */
        H->objects_moved |= H->wmoved;
        if (H->wpacked > 0) {
                /* what pushes moved since the round was queued is in
                 * pushed_since, for the next round */
                H->refs_moved = false;
                H->packed_at = uv_now(H->loop);
                /* and the folders that held them, which every listing of
                 * the refs walks: only while no push runs (a push makes its
                 * ref's folder before it locks the ref; the lock is held
                 * and this is the loop, so no ingest runs) */
                if (H->pushes == 0)
                        repack_prune_ref_dirs(H->repo_dir);
        } else {
                H->refs_moved |= H->wmoved;
                if (H->wpacked < 0)
                        log_line("cannot pack the refs: %s", H->wpack_err);
        }
        if (rep->committed || rep->ingested_events || rep->refused)
                log_line("ingest: %d change sets made (%ld events); %ld events from %d feeds (%ld already held); %d refused",
                         rep->committed, rep->committed_events, rep->ingested_events, rep->ingested_feeds,
                         rep->duplicate_events, rep->refused);
        H->ingesting = false;
        hall_unlock_idle(H);
        if (H->ingest_wanted && H->srv)
                hall_ingest(H);
}

/* Ingest now, or as soon as the running ingest ends; not while a CLI
 * command holds the repository (the next tick tries again). */
void hall_ingest(struct hall *H)
{
        if (H->ingesting || !H->wrepo) {
                H->ingest_wanted = true;
                return;
        }
        if (!hall_lock(H)) {
                H->ingest_wanted = true;        /* a CLI holds it: the next tick */
                return;
        }
        if (H->reopen_wrepo && hall_reopen(H, &H->wrepo))
                H->reopen_wrepo = false;
        H->ingest_wanted = false;
        H->ingesting = true;
        H->wpack_due = uv_now(H->loop) - H->packed_at >= 30000;
        H->wrefs_moved = H->refs_moved || H->pushed_since;
        H->pushed_since = false;
        H->ingest_work.data = H;
        if (uv_queue_work(H->loop, &H->ingest_work, ingest_work, ingest_after) < 0) {
                H->ingesting = false;
                H->ingest_wanted = true;
                hall_unlock_idle(H);
        }
}

