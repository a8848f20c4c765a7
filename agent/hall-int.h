/* The county hall's own files (agent/hall*.c): the running hall's state
 * and what they call of each other. Private to them; the command is
 * hall_commands in agent/cli.h. */
#ifndef DAIBAN_AGENT_HALL_INT_H
#define DAIBAN_AGENT_HALL_INT_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <git2.h>
#include <uv.h>

#include "agent/home.h"
#include "agent/http.h"
#include "sync/feed.h"
#include "sync/repack.h"

#define HALL_DEFAULT_LISTEN "127.0.0.1:8420"
#define HALL_MAX_BODY_DEFAULT (64ull * 1024 * 1024)     /* one push */
/* scanned materials one node may keep at the hall, MiB: some years of a
 * busy village's ID cards and certificates at a few hundred KB each */
#define HALL_SCAN_QUOTA_DEFAULT 4096ull
#define HALL_SCAN_QUOTA_DEFAULT_STR "4096"
/* meta: a push by NODE since the hall was restored ("<unix s> <returns>") */
#define HALL_RESTORE_SEEN "restore.seen."
/* meta: a push by NODE whose returned chains were refused, not yet given
 * back cleanly since */
#define HALL_RESTORE_REFUSED "restore.refused."
#define HALL_TICK_MS 5000                               /* ingest the county's own events */
/* pack the loose objects once this many are there (git's own gc, which
 * is off, starts at about 6,700); packs are merged into one from this
 * many on; a packing is followed by a minute without another */
#define HALL_PACK_LOOSE_DEFAULT 1024
#define HALL_PACK_LOOSE_DEFAULT_STR "1024"
/* The time an ingest round may spend joining scans (--assemble-ms): in a
 * herd one round once joined 755 scans for a minute while the feeds
 * pushed meanwhile waited for the next (docs/BENCHMARKS.md) */
#define HALL_ASSEMBLE_MS_DEFAULT 2000
#define HALL_ASSEMBLE_MS_DEFAULT_STR "2000"
#define HALL_MERGE_PACKS 16
#define HALL_PACK_PAUSE_MS 60000
/* libgit2 maps packs in windows of up to 1 GiB and keeps up to 8 GiB
 * mapped (its 64-bit defaults). Those pages are the page cache, which the
 * kernel drops when it must, but they count in the hall's resident size
 * and its service's memory: a herd that reads every scan once left 700 MB
 * of them. The hall maps at most this much, in windows of a quarter. */
#define HALL_PACK_MAPPED (128u << 20)

struct hall {
        uv_loop_t *loop;
        struct home h;
        char home_abs[PATH_MAX];
        char repo_dir[PATH_MAX + 8];    /* home_abs/repo */
        git_repository *repo;
        http_server *srv;
        struct spawner *spawner;        /* starts the backends off the loop's thread */
        struct tls_ctx *tls;
        char backend[PATH_MAX];         /* git-http-backend */
        char self_exe[PATH_MAX];        /* this program, to wrap the backend */
        /* daiban-hall-helper, as opened at the start ("/proc/<pid>/fd/<n>";
         * "" when not found: then this program does its work) */
        char helper[64];
        /* daiban-hall-check, the same way: the pre-receive check and a
         * fetch's gate without daiban's every library */
        char check[64];
        char hooks[PATH_MAX];           /* core.hooksPath for receive-pack */
        uint64_t max_body;
        uint64_t scan_quota;            /* bytes of scan pieces one node may keep here */
        uv_timer_t tick;
        uv_signal_t sig[2];
        int pushes;                     /* receive-pack POSTs running */
        int lockfd;                     /* the repository lock, held while a push or an ingest runs */
        bool ingest_wanted;
        /* ingest runs on a worker thread, with handles of its own, so
         * that neither the loop nor a push waits for it, and it does not
         * wait for pushes to end (a herd of slow pushes once kept the
         * county from ingesting at all) */
        bool ingesting;
        uv_work_t ingest_work;
        struct home wh;                 /* the worker's home and repository */
        git_repository *wrepo;
        struct feed_report wrep;
        long wscans;
        bool wscans_more;               /* scans left for the next round */
        /* the round's CPU priority: how many nice levels it ran above the
         * hall's (wahead; 0 with wnice_err when it could not be raised),
         * and the rounds run (GET /health: "ingest") */
        int wahead, wnice_err, ingest_ahead;
        long ingest_rounds;
        bool nice_told;
        /* the partitions the repository holds feeds of, for every
         * request's visibility; listed again only when refs/feeds or
         * packed-refs changed (hall-front.c) */
        char (*parts)[32];
        size_t nparts;
        struct timespec parts_dir_mt, parts_pack_mt;
        bool parts_valid;
        bool refs_moved;                /* since refs were last packed */
        /* the refs packed at the end of an ingest round (the worker's):
         * whether due and moved when it was queued, whether refs moved
         * by then (wmoved: those or the round's own), and how it went
         * (1 packed, 0 not asked, -1 failed: wpack_err) */
        bool wpack_due, wrefs_moved, wmoved;
        int wpacked;
        char wpack_err[256];
        bool pushed_since;              /* a push succeeded since the last ingest */
        uint64_t packed_at;             /* uv_now() of the last packing of the refs */
        /* objects: loose ones packed on a worker thread (sync/repack.h) */
        size_t pack_loose;              /* at this many loose objects (0: never) */
        unsigned long assemble_ms;      /* a round's time for scans (0: all they need) */
        bool objects_moved;             /* since the last look at objects/ */
        bool repacking;
        bool reopen_wrepo;              /* packs were merged away: the ingest's handle lets them go */
        atomic_bool stopping;           /* a signal came: a running packing stops */
        uint64_t repacked_at;           /* uv_now() when the last packing ended, 0: none yet */
        uv_work_t repack_work;
        struct repack_report rrep;
        size_t rloose, rpacks;          /* what the worker counted */
        int rr;
        char rerr[256];
};

/* `daiban hall`'s usage (hall.c), printed by every subcommand. */
extern const char usage_hall[];

/* ---- hall.c: the hall's life --------------------------------------------------- */

/* The home's repository lock keeps the CLI out while the hall writes;
 * the hall takes it once for all its pushes and ingests at a time.
 * true when held. hall_unlock_idle lets it go once no push and no
 * ingest runs; hall_push_done ends one push (H->pushes). Loop only. */
bool hall_lock(struct hall *H);
void hall_unlock_idle(struct hall *H);
void hall_push_done(struct hall *H);
/* Replace *repo by a fresh handle on the hall's repository; on failure
 * the old one stays. true when replaced. */
bool hall_reopen(struct hall *H, git_repository **repo);
/* The arguments of a command that takes --home and one flag: open the
 * home into h (the caller closes it). 0, or the exit code (the usage
 * printed). */
int hall_open_with_flag(int argc, char **argv, const char *flag, bool *set, struct home *h);

/* ---- hall-front.c: the HTTP front, relaying to git http-backend ----------------- */

/* The handler http_server_start runs the hall's requests with (its data
 * is the struct hall). */
extern const struct http_handler hall_front;

/* ---- hall-token.c: the nodes' tokens ------------------------------------------ */

/* The node a request's token names ("<node>.<48 hex digits>", checked
 * against its stored SHA-256): 0 with node set, -ENOENT when the
 * request carries no token, -EACCES for a wrong one. */
int hall_token_node(store *st, const struct http_request *req, char node[32]);
/* `hall token NODE [--revoke]`. */
int hall_token(int argc, char **argv);

/* ---- hall-ingest.c and hall-pack.c: the work in the background ------------------ */

/* Ingest now on a worker thread, or as soon as the running ingest ends;
 * not while a CLI command holds the repository (the next tick tries
 * again). Loop only. */
void hall_ingest(struct hall *H);
/* Pack the objects on a worker thread when pushes or ingests added
 * some; not within a minute of the last packing, not while one runs,
 * not once stopping. Loop only. */
void hall_repack(struct hall *H);
/* libgit2's mapping of packs kept to HALL_PACK_MAPPED (after git_libgit2_init). */
void hall_limit_mapped(void);
/* `hall pack [--merge]`. */
int hall_pack(int argc, char **argv);

/* ---- hall-hook.c: what git http-backend runs for the hall ----------------------- */

/* `hall pre-receive`, `hall ref-sync`, `hall cgi`: run by git and the
 * hall, not by hand. Exit codes. */
#define HALL_CHECK "daiban-hall-check"
/* A push's check waits this long for the store's write lock (a command:
 * STORE_BUSY_TIMEOUT_MS, 30 s); the pusher hears from it every 10 s */
#define HALL_CHECK_LOCK_WAIT_MS 150000u
int hall_pre_receive(int argc, char **argv);
int hall_ref_sync(int argc, char **argv);
int hall_cgi(int argc, char **argv);

#endif
