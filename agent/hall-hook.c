/* What git http-backend runs for the hall (see hall.c): the pre-receive
 * hook that checks every push all or nothing before git moves a ref
 * (`hall pre-receive`), the reference-transaction hook that makes it
 * durable (`hall ref-sync`), and `hall cgi`, the gate a request runs
 * through (a fetch's wants checked) when there is no
 * daiban-hall-helper. Each runs in a process of its own: their stderr
 * is the pusher's; the hall's log is fd 3. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "agent/authority.h"
#include "agent/cli.h"
#include "agent/fetchguard.h"
#include "agent/hall-int.h"
#include "agent/hallcgi.h"
#include "agent/log.h"
#include "sync/catfeed.h"
#include "sync/changeset.h"
#include "sync/feed.h"
#include "sync/report.h"
#include "sync/roster.h"
#include "sync/scan.h"
#include "sync/signed.h"

/* The hook receive-pack runs before it moves any ref: stdin holds
 * "<old> <new> <ref>" lines; the pushed objects are in the quarantine
 * (GIT_QUARANTINE_PATH) until every ref is accepted. Its stderr reaches
 * the pusher as "remote: ..." lines. */
static void refuse(const char *pusher, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse_busy(const char *pusher, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The refusals of one push told in full; the rest are counted (a push of
 * 100,000 bad refs once wrote 10,000 lines to the hall's log). More are
 * noted for the county's supervision than told, so that junk pushed
 * first does not hide what follows. */
#define REFUSALS_TOLD 20
#define REFUSALS_NOTED 200
static unsigned refusals;
static char refusal_log[PATH_MAX];      /* HOME/hall/refused.jsonl: the county's supervision reads it */

/* A refusal goes to the pusher (stderr, relayed as "remote: ...") and to
 * the hall's log (fd 3, which the hall hands down through git); unless
 * it is the hall's own trouble (note false), also to the supervision. */
static void vrefuse(const char *pusher, bool note, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void vrefuse(const char *pusher, bool note, const char *fmt, va_list ap)
{
        char msg[1024];

        ++refusals;
        if (refusals > REFUSALS_NOTED || (!note && refusals > REFUSALS_TOLD))
                return;
        vsnprintf(msg, sizeof msg, fmt, ap);
        if (note && refusal_log[0])
                home_refusal_note(refusal_log, pusher, msg);
        if (refusals > REFUSALS_TOLD)
                return;
        fprintf(stderr, "daiban: refused %s\n", msg);
        log_line("push by %s refused %s", pusher, msg);
}

static void refuse(const char *pusher, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vrefuse(pusher, true, fmt, ap);
        va_end(ap);
}

/* The hall could not check the push (its store busy, a disk error): the
 * pusher is not to blame, and it tries again at its next sync. */
static void refuse_busy(const char *pusher, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vrefuse(pusher, false, fmt, ap);
        va_end(ap);
}

/* Mark the fan-out directory (first byte) of every object reachable
 * from new and not from old: the objects this push brought. */
/* Mark in fan the first bytes of the objects of the commits in
 * (old, new] (trees are flat: the pre-receive check refuses others);
 * objects the repository held already count too, for their folder
 * entries may not be durable yet (another push's, still running). 0, or
 * -1. */
static int mark_pushed(git_repository *repo, const git_oid *old, const git_oid *new, unsigned char fan[256])
{
        git_revwalk *walk = NULL;
        git_oid id;
        int r = -1;

        fan[new->id[0]] = 1;
        if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, new) < 0 ||
            (!git_oid_is_zero(old) && git_revwalk_hide(walk, old) < 0))
                goto out;
        while ((r = git_revwalk_next(&id, walk)) == 0) {
                git_commit *c = NULL;
                git_tree *t = NULL;

                fan[id.id[0]] = 1;
                if (git_commit_lookup(&c, repo, &id) < 0 || git_commit_tree(&t, c) < 0) {
                        git_commit_free(c);
                        r = -1;
                        goto out;
                }
                fan[git_tree_id(t)->id[0]] = 1;
                for (size_t k = 0; k < git_tree_entrycount(t); k++)
                        fan[git_tree_entry_id(git_tree_entry_byindex(t, k))->id[0]] = 1;
                git_tree_free(t);
                git_commit_free(c);
        }
        r = r == GIT_ITEROVER ? 0 : -1;
out:
        git_revwalk_free(walk);
        return r;
}

/* git's reference-transaction hook. git (2.39) syncs the files it
 * writes when core.fsync says so, but never a directory. Before the
 * refs move ("prepared"; git has moved the pushed objects out of
 * quarantine) the fan-out directories of this push's objects are
 * synced, and a pack directory that changed; once they moved
 * ("committed") the directories of these refs, so the push is durable
 * before receive-pack reports it. Only this push's directories, as the
 * pre-receive check noted them from the quarantine: a clean directory's
 * fsync still costs a disk flush on ext4, and syncing all 256 fan-out
 * directories made every push take a second. A failure in "prepared"
 * refuses the push; the village tries again. The hall runs
 * daiban-hall-helper for it when it has one (agent/hallcgi.h); this is
 * the same code, for a hall without. */
int hall_ref_sync(int argc, char **argv)
{
        if (argc < 2 || !getenv("DAIBAN_PUSHER")) {
                cli_error("%s", "this is the hall's reference-transaction hook; git receive-pack runs it, behind"
                                " 'daiban hall serve'");
                return EXIT_USAGE;
        }
        return hallcgi_ref_sync(argv[1]) ? EXIT_REFUSED : 0;
}

/* A check waiting for the store's write lock says so to the pusher (its
 * stderr reaches it as "remote: ..." lines), which also keeps the link
 * from falling silent while it waits. */
static void tell_waiting(void *ud, unsigned waited_s)
{
        (void)ud;
        fprintf(stderr, "daiban: the county's hall is busy: this push waits its turn (%u s)\n", waited_s);
        fflush(stderr);
}

/* A node's first signed push, with its own token, enrolls the key it
 * signs with (the token is the county's word for who it is): from the
 * first change set of the signed run that ends at its new head. Change
 * sets before that run were written before the node had a key. Only for
 * the pusher's own feed; any other node is enrolled by `roster add`.
 * ro is reloaded when it changed. */
static void enroll_on_push(struct home *h, git_repository *repo, struct roster *ro, const char *pusher,
                           const git_oid *n)
{
        uint8_t pk[SSHSIG_PK_BYTES], first_pk[SSHSIG_PK_BYTES];
        int64_t from = 0, first, last;
        git_oid cur = *n;
        bool have_pk = false;
        char err[512];

        for (int depth = 0; depth < 1000000; depth++) {
                git_commit *c = NULL;
                bool sgn = false;
                if (signed_check(repo, &cur, &sgn, pk, err, sizeof err) < 0 || !sgn)
                        break;
                if (have_pk && memcmp(pk, first_pk, sizeof pk) != 0)
                        break;
                if (feed_commit_seqs(repo, &cur, &first, &last) < 0)
                        break;
                memcpy(first_pk, pk, sizeof pk);
                have_pk = true;
                from = first;
                if (git_commit_lookup(&c, repo, &cur) < 0)
                        break;
                bool more = git_commit_parentcount(c) == 1;
                if (more)
                        cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
                if (!more)
                        break;
        }
        if (!have_pk || from < 1)
                return;         /* unsigned: the roster check refuses it, with the reason */
        const struct sshsig_key *key;
        if (home_key(h, &key))
                return;
        /* many stations' first pushes at once (a county installed in a
         * week, syncing on the same morning) enroll one after another:
         * each try reads the roster afresh and writes only on what it
         * read (roster_commit), a short random wait between tries */
        for (int attempt = 0; attempt < 200; attempt++) {
                struct roster cur_ro;
                if (attempt) {
                        unsigned char jitter;
                        if (getrandom(&jitter, 1, 0) != 1)
                                jitter = 0;
                        struct timespec ts = { 0, (long)(1 + jitter % 20) * 1000000L };
                        nanosleep(&ts, NULL);
                }
                bool present = false;
                struct roster_entry e = { 0 };
                if (roster_open(h->st, repo, h->node, &cur_ro, &present, err, sizeof err) < 0 || !present)
                        return;
                if (roster_lists(&cur_ro, pusher)) {
                        roster_free(ro);
                        *ro = cur_ro;   /* enrolled meanwhile (another push) */
                        return;
                }
                snprintf(e.node, sizeof e.node, "%s", pusher);
                memcpy(e.pk, first_pk, sizeof e.pk);
                e.from = from;
                snprintf(e.by, sizeof e.by, "hall");
                e.at = (int64_t)time(NULL) * 1000;
                snprintf(e.note, sizeof e.note, "enrolled at its first signed push, made with its own token");
                char msg[128];
                snprintf(msg, sizeof msg, "roster: enroll %s (its first signed push)\n", pusher);
                int r = roster_add(&cur_ro, &e);
                if (r == 0)
                        r = roster_commit(h->st, repo, &cur_ro, key, msg, err, sizeof err);
                if (r == 0) {
                        char fp[80];
                        sshsig_fingerprint(first_pk, fp, sizeof fp);
                        log_line("enrolled %s's key %s from seq %" PRId64, pusher, fp, from);
                        roster_free(ro);
                        *ro = cur_ro;
                        return;
                }
                roster_free(&cur_ro);
                if (r != -EAGAIN)
                        return;
        }
}

/* The county key a returned roster must name: the pin kept, else the
 * hall's own key (a county restored from a backup made before its
 * roster: never a root anyone could sign). *ret is malloc'ed. */
static void own_pin(struct home *h, char **ret)
{
        const struct sshsig_key *key;
        char line[160];

        *ret = NULL;
        if (store_meta_get(h->st, "roster.pin", ret) == 0 && *ret && **ret)
                return;
        free(*ret);
        *ret = NULL;
        if (home_key(h, &key) == 0) {
                sshsig_pubkey_line(key->pk, NULL, line, sizeof line);
                *ret = strdup(line);
        }
}

int hall_pre_receive(int argc, char **argv)
{
        const char *pusher = getenv("DAIBAN_PUSHER"), *home = getenv("DAIBAN_HOME");
        const char *quarantine = getenv("GIT_QUARANTINE_PATH");
        const char *quota_env = getenv("DAIBAN_SCAN_QUOTA");
        uint64_t scan_quota = quota_env && *quota_env ? strtoull(quota_env, NULL, 10)
                                                      : (uint64_t)HALL_SCAN_QUOTA_DEFAULT << 20;
        struct home h;
        git_repository *repo = NULL;
        git_odb *odb = NULL, *pushed = NULL;
        char line[1024], path[PATH_MAX + 8];
        int refused = 0, nlines = 0, returns = 0, returns_refused = 0, r;
        unsigned char fan[256] = { 0 };         /* where this push's objects are: for the ref hook */
        bool fan_ok = true;
        struct roster ro = { 0 };
        bool have_ro = false;
        struct timespec now;
        struct {
                char writer[32];
                uint64_t bytes;
        } sums[64];                     /* scan bytes this push adds, per writer */
        size_t nsums = 0;

        /* the hall's log: git hands it down as fd 3 (front_request) */
        log_open("hall", getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0 ? 3 : -1);
        /* first, the hall's clock: the pusher compares its own with it
         * (daiban doctor); git shows it to a stock client as remote text */
        if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
                fprintf(stderr, FEED_HALL_TIME "%lld\n", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
                fflush(stderr);
        }

        (void)argc;
        (void)argv;
        if (!pusher || !home) {
                cli_error("%s", "this is the hall's pre-receive hook; git receive-pack runs it, behind 'daiban hall serve'");
                return EXIT_USAGE;
        }
        if ((r = home_open(home, &h)))
                return r;
        /* in a herd every push's check queues for the store's write lock:
         * it waits longer than a command does before the push is refused
         * as busy (and sent again), and tells the pusher meanwhile */
        store_set_wait(h.st, HALL_CHECK_LOCK_WAIT_MS, tell_waiting, NULL);
        snprintf(refusal_log, sizeof refusal_log, "%s/" HOME_REFUSALS, h.dir);
        git_libgit2_init();
        /* an enrollment writes the roster here: durable before the push
         * is acknowledged */
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", h.dir);
        if (git_repository_open_bare(&repo, path) < 0 || git_repository_odb(&odb, repo) < 0 ||
            (quarantine && git_odb_add_disk_alternate(odb, quarantine) < 0) ||
            /* the pushed objects alone, to tell them from the hall's own */
            git_odb_new(&pushed) < 0 || (quarantine && git_odb_add_disk_alternate(pushed, quarantine) < 0)) {
                fprintf(stderr, "daiban: cannot open the county's repository: %s\n",
                        git_error_last() ? git_error_last()->message : "?");
                refused = 1;
                goto out;
        }
        if (roster_open(h.st, repo, h.node, &ro, &have_ro, path, sizeof path) < 0) {
                fprintf(stderr, "daiban: the county's roster cannot be trusted (%s); the hall takes nothing\n", path);
                refused = 1;
                goto out;
        }
        /* a hall restored from a backup takes back what it wrote after
         * that backup from those that hold it (docs/backup.md) */
        bool restoring = store_restore_pending(h.st);
        char own_roster[64], own_catalog[64];
        snprintf(own_roster, sizeof own_roster, ROSTER_PREFIX "%s", h.node);
        snprintf(own_catalog, sizeof own_catalog, CATFEED_PREFIX "%s", h.node);
        while (fgets(line, sizeof line, stdin)) {
                char old[64], new[64], ref[512], part[32], writer[32], err[768];
                git_oid o, n;
                if (++nlines > 10000 || sscanf(line, "%63s %63s %511s", old, new, ref) != 3 ||
                    git_oid_fromstr(&o, old) < 0 || git_oid_fromstr(&n, new) < 0) {
                        refuse(pusher, "%s", "a malformed ref update");
                        refused++;
                        break;
                }
                if (!git_oid_is_zero(&n) && fan_ok && mark_pushed(repo, &o, &n, fan) < 0)
                        fan_ok = false;
                if (strncmp(ref, REPORT_PREFIX, strlen(REPORT_PREFIX)) == 0) {
                        /* a node's reports: its own chain, forward only */
                        if (strcmp(ref + strlen(REPORT_PREFIX), pusher) != 0)
                                snprintf(err, sizeof err, "node %s may write only its own reports", pusher);
                        else if (git_oid_is_zero(&n))
                                snprintf(err, sizeof err, "reports are never deleted");
                        else if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) &&
                                 git_graph_descendant_of(repo, &n, &o) != 1)
                                snprintf(err, sizeof err, "not a fast-forward; reports are never rewritten");
                        else if (report_check(repo, &o, &n, err, sizeof err) == 0)
                                continue;
                        refuse(pusher, "%s: %s", ref, err);
                        refused++;
                        continue;
                }
                char efeed[160];
                git_oid ehead;
                if (feed_parse_evidence(ref, part, sizeof part, writer, sizeof writer, &ehead, efeed, sizeof efeed)) {
                        /* evidence a node kept of a second signed history:
                         * taken when the hall can check it itself */
                        git_oid held;
                        int er = 0;
                        if (!feed_entitled(pusher, part))
                                snprintf(err, sizeof err, "node %s may not hold partition %s", pusher, part);
                        else if (!git_oid_is_zero(&o) || !git_oid_equal(&n, &ehead))
                                snprintf(err, sizeof err, "evidence is named for its head, and never moved");
                        else if (git_reference_name_to_id(&held, repo, efeed) < 0)
                                snprintf(err, sizeof err, "the hall holds no %s to compare it with", efeed);
                        else if (!have_ro)
                                snprintf(err, sizeof err, "the hall has no roster to check its signatures with");
                        else
                                er = feed_evidence_genuine(repo, &ro, efeed, &held, &n, err, sizeof err);
                        if (er == 1) {
                                /* for the hall's log (the hook's stderr is the pusher's) */
                                log_line("%s passed on evidence: %s signed two histories of %s (kept at %s)", pusher,
                                         writer, efeed, ref);
                        } else if (er < 0) {
                                refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                            ref, err);
                                refused++;
                        } else {
                                refuse(pusher, "%s: not evidence of a second history: %s", ref, err);
                                refused++;
                        }
                        continue;
                }
                if (restoring && (strcmp(ref, own_roster) == 0 || strcmp(ref, own_catalog) == 0)) {
                        /* the county's own roster or catalogue, returned:
                         * forward only, every new commit signed as the
                         * chain requires */
                        bool is_roster = ref[5] == 'r';
                        char *pin = NULL;
                        int vr = 0;
                        if (git_oid_is_zero(&n))
                                snprintf(err, sizeof err, "the county's chains are never deleted");
                        else if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) &&
                                 git_graph_descendant_of(repo, &n, &o) != 1)
                                snprintf(err, sizeof err, "not a continuation of the one the hall holds");
                        else if (is_roster && (own_pin(&h, &pin), !pin))
                                snprintf(err, sizeof err, "the hall cannot read its own key to check the roster with");
                        else if (is_roster &&
                                 (vr = roster_verify_update(repo, h.node, pin, git_oid_is_zero(&o) ? NULL : &o, &n,
                                                            err, sizeof err)) == 0)
                                err[0] = '\0';
                        else if (!is_roster &&
                                 (vr = catfeed_verify_update(repo, h.node, have_ro ? &ro : NULL,
                                                             git_oid_is_zero(&o) ? NULL : &o, &n, err, sizeof err)) == 0)
                                err[0] = '\0';
                        free(pin);
                        if (!err[0]) {
                                returns++;
                                continue;
                        }
                        if (vr == -EIO)
                                refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                            ref, err);
                        else
                                refuse(pusher, "%s: %s", ref, err);
                        refused++;
                        returns_refused++;
                        continue;
                }
                bool is_scan = strncmp(ref, SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0 &&
                               scan_parse_ref(ref, part, sizeof part, writer, sizeof writer);
                if (!is_scan && (!feed_parse_ref(ref, part, sizeof part, writer, sizeof writer) ||
                                 strncmp(ref, FEED_PREFIX, strlen(FEED_PREFIX)) != 0)) {
                        refuse(pusher, "%s: only feeds (refs/feeds/<partition>/<writer>) and scan chains can be pushed",
                               ref);
                        refused++;
                        continue;
                }
                /* the county's own feeds come back only to a restored hall */
                bool returned = restoring && !is_scan && strcmp(writer, h.node) == 0 && strcmp(pusher, h.node) != 0 &&
                                feed_entitled(pusher, part);
                if (!returned && !feed_may_write(pusher, part, writer)) {
                        refuse(pusher, "%s: node %s may not write the feed of %s in partition %s", ref, pusher, writer,
                               part);
                        refused++;
                        continue;
                }
                returns += returned;
                if (git_oid_is_zero(&n)) {
                        refuse(pusher, "%s: feeds are never deleted", ref);
                        refused++;
                        continue;
                }
                if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) && git_graph_descendant_of(repo, &n, &o) != 1) {
                        /* a second signed history is evidence the county keeps */
                        if (!is_scan && have_ro &&
                            feed_equivocation(repo, &ro, ref, &o, &n, true, err, sizeof err) == 1)
                                refuse(pusher, "%s: %s", ref, err);
                        else
                                refuse(pusher, "%s: not a fast-forward; a feed is never rewritten", ref);
                        refused++;
                        continue;
                }
                if (is_scan) {
                        uint64_t added, held, before = 0;
                        /* this push's other chains of the same writer count too */
                        size_t w;
                        for (w = 0; w < nsums && strcmp(sums[w].writer, writer) != 0; w++)
                                ;
                        if (w < nsums)
                                before = sums[w].bytes;
                        if (scan_verify(repo, have_ro ? &ro : NULL, ref, &o, &n, pushed, &added, err, sizeof err) < 0) {
                                refuse(pusher, "%s: %s", ref, err);
                                refused++;
                        } else if (scan_usage(h.st, repo, writer, &held) < 0) {
                                refuse_busy(pusher, "%s: the county's hall could not count %s's scans now; sync again"
                                            " later", ref, writer);
                                refused++;
                        } else if (held + before + added > scan_quota) {
                                /* a token cannot fill the hall's disk with scans */
                                refuse(pusher, "%s: %s's scanned materials at the county's hall would take %.2f MiB,"
                                       " over its quota of %llu MiB; ask the county to raise it (hall serve"
                                       " --scan-quota)", ref, writer, (double)(held + before + added) / (1 << 20),
                                       (unsigned long long)(scan_quota >> 20));
                                refused++;
                        } else if (w < nsums) {
                                sums[w].bytes += added;
                        } else if (nsums < sizeof sums / sizeof sums[0]) {
                                snprintf(sums[nsums].writer, sizeof sums[nsums].writer, "%s", writer);
                                sums[nsums++].bytes = added;
                        }
                        continue;
                }
                /* (not while restoring: the roster waits for its own return) */
                if (have_ro && !restoring && strcmp(writer, pusher) == 0 && !roster_lists(&ro, pusher))
                        enroll_on_push(&h, repo, &ro, pusher, &n);
                struct feed_trust tr;
                authority_trust(&h, have_ro ? &ro : NULL, &tr);
                tr.catch_up_own = returned;
                int vr = feed_verify(h.st, repo, &tr, ref, &n, err, sizeof err);
                if (vr == -EINVAL) {
                        /* err reads "refused <ref>: <why>" */
                        refuse(pusher, "%s", strncmp(err, "refused ", 8) == 0 ? err + 8 : err);
                        refused++;
                        returns_refused += returned;
                        continue;
                }
                if (vr < 0) {
                        refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                    ref, err);
                        refused++;
                        returns_refused += returned;
                        continue;
                }
        }
        /* a restored hall counts who has pushed since: `hall resume`
         * waits for every township */
        if (restoring && (!refused || returns_refused)) {
                /* a refused return is noted for `hall resume` to show (a
                 * forger's, or a chain the hall cannot check yet: the
                 * clean push retried without it counts the node as seen) */
                char key[64], rkey[64], val[80];
                snprintf(key, sizeof key, HALL_RESTORE_SEEN "%s", pusher);
                snprintf(rkey, sizeof rkey, HALL_RESTORE_REFUSED "%s", pusher);
                snprintf(val, sizeof val, "%lld %d", (long long)now.tv_sec, returns);
                int w = store_begin(h.st);
                if (w == 0)
                        w = store_meta_set(h.st, returns_refused ? rkey : key, val);
                if (w < 0 || store_commit(h.st) < 0)
                        store_rollback(h.st);
        }
out:
        if (refusals > REFUSALS_NOTED && refusal_log[0]) {
                char more[96];
                snprintf(more, sizeof more, "%u more refs of one push refused (not noted one by one)",
                         refusals - REFUSALS_NOTED);
                home_refusal_note(refusal_log, pusher, more);
        }
        if (refusals > REFUSALS_TOLD) {
                fprintf(stderr, "daiban: refused %u more refs of this push (not listed)\n", refusals - REFUSALS_TOLD);
                log_line("push by %s: %u more refs refused (not listed)", pusher, refusals - REFUSALS_TOLD);
        }
        /* for the reference-transaction hook: where the objects go */
        if (!refused)
                hallcgi_note_push(home, quarantine, fan_ok ? fan : NULL);
        roster_free(&ro);
        git_odb_free(pushed);
        git_odb_free(odb);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_close(&h);
        return refused ? EXIT_REFUSED : 0;
}

/* The answer of `hall cgi` itself, in CGI form, for a request it refuses
 * before git sees it. */
/* A fetch: read the request (bounded, inflated here), check its wants
 * (agent/fetchguard.h) and hand git the plain body on stdin. 0, or -1
 * when the request was refused (answered). */
static int fetch_guard(const char *node)
{
        char err[256], *body = NULL, path[PATH_MAX];
        size_t len = 0;
        git_repository *repo = NULL;
        int r = fetchguard_read(0, getenv("HTTP_CONTENT_ENCODING"), &body, &len, err, sizeof err);

        if (r == -E2BIG || r == -EINVAL) {
                hallcgi_refuse(r == -E2BIG ? 413 : 415, err, r == -E2BIG ? "下载请求过大" : "下载请求编码有误");
                free(body);
                return -1;
        }
        snprintf(path, sizeof path, "%s/repo", getenv("GIT_PROJECT_ROOT") ? getenv("GIT_PROJECT_ROOT") : ".");
        git_libgit2_init();
        if (r == 0 && git_repository_open_bare(&repo, path) < 0) {
                snprintf(err, sizeof err, "cannot open the hall's repository");
                r = -EIO;
        }
        if (r == 0)
                r = fetchguard_check(repo, node, body, len, err, sizeof err);
        git_repository_free(repo);
        if (r == 0) {
                /* the plain body on stdin, from memory */
                int fd = memfd_create("daiban-fetch-request", MFD_CLOEXEC);
                char n[32];
                if (fd < 0 || write(fd, body, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0 ||
                    dup2(fd, 0) < 0) {
                        snprintf(err, sizeof err, "cannot pass the request on: %s", strerror(errno));
                        r = -EIO;
                }
                if (fd > 0)
                        close(fd);
                snprintf(n, sizeof n, "%zu", len);
                setenv("CONTENT_LENGTH", n, 1);
                unsetenv("HTTP_CONTENT_ENCODING");
        }
        free(body);
        if (r == -EPERM) {
                char note[PATH_MAX + 32], why[320];
                snprintf(note, sizeof note, "%s/" HOME_REFUSALS, getenv("GIT_PROJECT_ROOT") ? getenv("GIT_PROJECT_ROOT") : ".");
                snprintf(why, sizeof why, "a fetch: %s", err);
                home_refusal_note(note, node, why);
                hallcgi_refuse(403, err, "请求了本站点无权获取的数据");
        }
        else if (r < 0)
                hallcgi_refuse(r == -EINVAL ? 400 : 500, err, r == -EINVAL ? "下载请求格式有误" : "服务端出错");
        return r < 0 ? -1 : 0;
}

/* `daiban hall cgi BACKEND`: run the backend so that it is killed when
 * the hall dies (even by SIGKILL), instead of lingering as an orphan that
 * might still be writing the repository when a new hall starts. The hall
 * runs it for fetches, whose wants it checks first with libgit2, and for
 * every request when it has no daiban-hall-helper (which does the rest:
 * agent/hallcgi.h). */
int hall_cgi(int argc, char **argv)
{
        if (argc != 2 || !getenv("DAIBAN_PUSHER")) {
                cli_error("%s", "this runs git http-backend for 'daiban hall serve'; it is not for use by hand");
                return EXIT_USAGE;
        }
        if (hallcgi_start() < 0)
                return EXIT_REFUSED;
        const char *method = getenv("REQUEST_METHOD"), *path = getenv("PATH_INFO");
        size_t plen = path ? strlen(path) : 0;
        bool post = method && strcmp(method, "POST") == 0;
        if (post && plen >= 16 && strcmp(path + plen - 16, "/git-upload-pack") == 0) {
                hallcgi_yield();
                if (fetch_guard(getenv("DAIBAN_PUSHER")) < 0)
                        return 0;       /* answered */
        } else if (!hallcgi_push_ok()) {
                return 0;
        }
        hallcgi_exec(argv[1]);
        return EXIT_REFUSED;
}

