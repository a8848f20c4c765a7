/* Benchmarks of the store (sync/store.c, sync/fold.c).
 *
 *   bench-store capture DIR [ROUNDS] [PER_ROUND]
 *       Durable captures per second in-process: each capture is one
 *       BEGIN IMMEDIATE transaction that appends an app.created event
 *       (clock, sequence, a 600-byte body) and folds the application,
 *       committed with WAL and synchronous=FULL; side by side, in
 *       alternating rounds, with a bare SQLite loop of one INSERT of the
 *       same bytes per transaction at the same durability. Medians.
 *   bench-store populate STORE NAPPS
 *       Append NAPPS applications of 5 events each (created, 2 materials,
 *       submitted, and a review or a decision) to an existing store, in
 *       transactions of 10,000 events, then rebuild the derived tables.
 *   bench-store rebuild STORE [RUNS]
 *       Time `rebuild` (fold every event again) RUNS times; events/s.
 *   bench-store ingest DIR NPART NEVENTS
 *       The hall's ingest: NPART villages' feeds of NEVENTS events each
 *       (applications of 5 events) are written as change sets into a
 *       repository, then a fresh county store ingests them all (parse,
 *       store, fold, record heads); events/s of the ingest alone.
 *   bench-store backlog DIR NAPPS
 *       A week's backlog of one village (NAPPS applications, 5 events
 *       each, no scans) as change sets: the git bundle of its feed
 *       against the zlib-compressed size of the events themselves.
 *   bench-store feeds REPO SCRATCH_DB NPART NEVENTS
 *       Only write the feeds of the ingest benchmark into an existing
 *       repository (a county home's), for `daiban sync` to ingest. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sync/feed.h"
#include "sync/fold.h"
#include <git2.h>
#include <zlib.h>
#include <sys/stat.h>
#include "sync/store.h"

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static const char data_json[] =
        "{\\\"address\\\":\\\"象山县西周镇下沈村12号\\\",\\\"applicant_name\\\":\\\"王秀英\\\",\\\"hukou_type\\\":\\\"agri\\\","
        "\\\"id_number\\\":\\\"33022519700315124X\\\",\\\"phone\\\":\\\"13857412345\\\",\\\"tier\\\":\\\"500\\\"}";

static void created_body(char *buf, size_t n)
{
        snprintf(buf, n, "{\"applicant\":\"王秀英\",\"applicant_id\":\"33022519700315124X\",\"data\":\"%s\","
                 "\"decider\":\"330225\",\"matter\":\"MZ-DB-001\",\"matter_name\":\"最低生活保障申请\","
                 "\"origin\":\"330225101201\",\"reviewer\":\"330225101\",\"time_limit\":30}", data_json);
}

static store *open_store(const char *path, bool create)
{
        char err[512];
        store *s;

        if (store_open(path, create, &s, err, sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                exit(1);
        }
        return s;
}

static int capture(int argc, char **argv)
{
        const char *dir = argv[2];
        int rounds = argc > 3 ? atoi(argv[3]) : 7, per = argc > 4 ? atoi(argv[4]) : 200;
        double cap[64], bare[64];
        char path[4096], body[2048], id[64];
        sqlite3 *db;
        sqlite3_stmt *ins;
        store *s;
        int64_t k = 0;

        if (rounds < 1 || rounds > 64 || per < 1)
                return 2;
        created_body(body, sizeof body);
        snprintf(path, sizeof path, "%s/capture.db", dir);
        unlink(path);
        s = open_store(path, true);
        snprintf(path, sizeof path, "%s/bare.db", dir);
        unlink(path);
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                             "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)", NULL, NULL, NULL) ||
            sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?)", -1, &ins, NULL))
                return 1;
        for (int r = 0; r < rounds; r++) {
                double t0 = now_s();
                for (int i = 0; i < per; i++) {
                        struct event ev = { .node = "330225101201", .operator = "op01", .type = "app.created",
                                            .part = "330225101201", .body = body };
                        if (store_begin(s) < 0)
                                return 1;
                        snprintf(id, sizeof id, "330225101201-%" PRId64, store_next_seq(s, ev.node));
                        ev.app = id;
                        if (store_append(s, &ev) < 0 || fold_app(s, id) < 0 || store_commit(s) < 0) {
                                fprintf(stderr, "capture failed: %s\n", store_errmsg(s));
                                return 1;
                        }
                        k++;
                }
                cap[r] = per / (now_s() - t0);
                t0 = now_s();
                for (int i = 0; i < per; i++) {
                        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
                        sqlite3_bind_text(ins, 1, body, -1, SQLITE_STATIC);
                        if (sqlite3_step(ins) != SQLITE_DONE)
                                return 1;
                        sqlite3_reset(ins);
                        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                                return 1;
                }
                bare[r] = per / (now_s() - t0);
        }
        qsort(cap, (size_t)rounds, sizeof(double), cmp);
        qsort(bare, (size_t)rounds, sizeof(double), cmp);
        printf("durable captures (WAL, synchronous=FULL), %d rounds of %d, medians:\n", rounds, per);
        printf("  daiban capture (append + fold + commit): %.0f/s (min %.0f, max %.0f)\n", cap[rounds / 2], cap[0],
               cap[rounds - 1]);
        printf("  bare SQLite INSERT + COMMIT:             %.0f/s (min %.0f, max %.0f)\n", bare[rounds / 2], bare[0],
               bare[rounds - 1]);
        printf("  ratio: %.0f%% of the bare loop (target: at least 50%%)\n", 100.0 * cap[rounds / 2] / bare[rounds / 2]);
        sqlite3_finalize(ins);
        sqlite3_close(db);
        store_close(s);
        return 0;
}

static int populate(int argc, char **argv)
{
        store *s = open_store(argv[2], false);
        long napps = argc > 3 ? atol(argv[3]) : 200000;
        char created[2048], body[512], id[64];
        static const char *const node = "330225101201";
        long inbatch = 0;
        double t0 = now_s();
        int32_t day0 = 20700;   /* 2026-09-03 */

        created_body(created, sizeof created);
        if (store_begin(s) < 0)
                return 1;
        for (long a = 0; a < napps; a++) {
                struct event ev = { .node = node, .operator = "op01", .part = node };
                int64_t seq = store_next_seq(s, node);
                int32_t day = day0 + (int32_t)(a % 80);
                snprintf(id, sizeof id, "%s-%" PRId64, node, seq);
                ev.app = id;
                for (int e = 0; e < 5; e++) {
                        ev.node = node;
                        ev.wall_ms = 0;
                        switch (e) {
                        case 0: ev.type = "app.created"; ev.body = created; break;
                        case 1:
                        case 2:
                                ev.type = "app.material";
                                snprintf(body, sizeof body, "{\"material\":\"%s\",\"state\":\"provided\"}", e == 1 ? "SFZ" : "HKB");
                                ev.body = body;
                                break;
                        case 3:
                                ev.type = "app.submitted";
                                snprintf(body, sizeof body, "{\"accepted_on\":%d,\"deficiencies\":[],\"due\":%d,"
                                         "\"receipt\":\"101201-%ld\"}", day, day + 42, a);
                                ev.body = body;
                                break;
                        case 4:
                                if (a % 3 == 0)
                                        continue;        /* a third still waits for review */
                                ev.node = "330225101";
                                ev.type = "app.reviewed";
                                ev.body = a % 3 == 1 ? "{\"result\":\"pass\"}" : "{\"reason\":\"补正\",\"result\":\"return\"}";
                                break;
                        }
                        if (store_append(s, &ev) < 0) {
                                fprintf(stderr, "append failed: %s\n", store_errmsg(s));
                                return 1;
                        }
                        if (++inbatch == 10000) {
                                if (store_commit(s) < 0 || store_begin(s) < 0)
                                        return 1;
                                inbatch = 0;
                        }
                }
        }
        if (store_commit(s) < 0)
                return 1;
        fprintf(stderr, "appended %" PRId64 " events in %.1f s; folding...\n", store_nevents(s), now_s() - t0);
        if (store_begin(s) < 0 || fold_rebuild(s, NULL, NULL) < 0 || store_commit(s) < 0)
                return 1;
        store_close(s);
        return 0;
}

static int rebuild(int argc, char **argv)
{
        store *s = open_store(argv[2], false);
        int runs = argc > 3 ? atoi(argv[3]) : 3;
        double t[16];
        int64_t n = store_nevents(s);

        if (runs < 1 || runs > 16)
                return 2;
        for (int r = 0; r < runs; r++) {
                double t0 = now_s();
                if (store_begin(s) < 0 || fold_rebuild(s, NULL, NULL) < 0 || store_commit(s) < 0) {
                        fprintf(stderr, "rebuild failed: %s\n", store_errmsg(s));
                        return 1;
                }
                t[r] = now_s() - t0;
        }
        qsort(t, (size_t)runs, sizeof(double), cmp);
        printf("rebuild of %" PRId64 " events, %d runs: median %.2f s = %.0f events/s (min %.2f s, max %.2f s);"
               " target at least 100,000 events/s\n", n, runs, t[runs / 2], n / t[runs / 2], t[0], t[runs - 1]);
        store_close(s);
        return 0;
}

static void quiet(void *ud, const char *fmt, ...)
{
        (void)ud;
        (void)fmt;
}

/* Write n applications (5 events each) of village into s as its own
 * events, with raw inserts (seq from 1, clock increasing). */
static int village_events(store *s, const char *village, long napps, int64_t *seq, uint64_t *hlc)
{
        char created[2048], body[512], id[64];

        created_body(created, sizeof created);
        /* the creation body names origin 330225101201: point it at this village */
        char *o = strstr(created, "330225101201");
        if (o)
                memcpy(o, village, 12);
        for (long a = 0; a < napps; a++) {
                snprintf(id, sizeof id, "%s-%" PRId64, village, *seq + 1);
                for (int e = 0; e < 5; e++) {
                        struct event ev = { .node = village, .seq = ++*seq, .hlc = ++*hlc, .wall_ms = 1795000000000,
                                            .operator = "op01", .app = id, .part = village };
                        switch (e) {
                        case 0: ev.type = "app.created"; ev.body = created; break;
                        case 1:
                        case 2:
                                ev.type = "app.material";
                                snprintf(body, sizeof body, "{\"material\":\"%s\",\"state\":\"provided\"}",
                                         e == 1 ? "SFZ" : "HKB");
                                ev.body = body;
                                break;
                        case 3:
                                ev.type = "app.submitted";
                                snprintf(body, sizeof body, "{\"accepted_on\":20781,\"deficiencies\":[],\"due\":20823,"
                                         "\"receipt\":\"%s-%ld\"}", village + 6, a);
                                ev.body = body;
                                break;
                        default:
                                ev.type = "app.withdrawn";
                                ev.body = "{\"reason\":\"moved away\"}";
                                break;
                        }
                        if (store_insert_remote(s, &ev, false) < 0)
                                return -1;
                }
        }
        return 0;
}

static git_repository *new_repo(const char *path)
{
        git_repository *repo;

        if (git_repository_init(&repo, path, 1) < 0) {
                fprintf(stderr, "git init %s: %s\n", path, git_error_last()->message);
                exit(1);
        }
        return repo;
}

/* Write npart villages' feeds of nev events each into repo (change sets
 * made by feed_commit_local from a scratch store at path). */
static int write_feeds(git_repository *repo, const char *path, long npart, long nev)
{
        store *src;
        double t0 = now_s();

        unlink(path);
        src = open_store(path, true);
        for (long p = 0; p < npart; p++) {
                char village[16];
                int64_t seq = 0;
                uint64_t hlc = (uint64_t)1795000000000 << 16;
                /* 330225 + township 100..119 + village 201..225 */
                snprintf(village, sizeof village, "330225%03ld%03ld", 100 + p / 25, 201 + p % 25);
                if (store_begin(src) < 0 || village_events(src, village, nev / 5, &seq, &hlc) < 0 ||
                    store_commit(src) < 0 || feed_commit_local(src, repo, village, NULL, quiet, NULL) < 0) {
                        fprintf(stderr, "writing feeds failed: %s\n", store_errmsg(src));
                        return -1;
                }
        }
        fprintf(stderr, "wrote %ld feeds of %ld events in %.1f s\n", npart, nev, now_s() - t0);
        store_close(src);
        return 0;
}

/* bench-store feeds REPO SCRATCH_DB NPART NEVENTS: only write the feeds
 * into an existing repository (a county home's repo), for the hall's own
 * ingest through `daiban sync` (bench/sync-bench.py). */
static int feeds(int argc, char **argv)
{
        git_repository *repo;

        if (argc < 6)
                return 2;
        git_libgit2_init();
        if (git_repository_open(&repo, argv[2]) < 0) {
                fprintf(stderr, "git open %s: %s\n", argv[2], git_error_last()->message);
                return 1;
        }
        if (write_feeds(repo, argv[3], atol(argv[4]), atol(argv[5])) < 0)
                return 1;
        git_repository_free(repo);
        git_libgit2_shutdown();
        return 0;
}

static int ingest(int argc, char **argv)
{
        const char *dir = argv[2];
        long npart = argc > 3 ? atol(argv[3]) : 500, nev = argc > 4 ? atol(argv[4]) : 2000;
        char path[4096];
        struct feed_report rep = { 0 };
        store *dst;
        git_repository *repo;
        double t0;

        git_libgit2_init();
        snprintf(path, sizeof path, "%s/hall.git", dir);
        repo = new_repo(path);
        snprintf(path, sizeof path, "%s/villages.db", dir);
        if (write_feeds(repo, path, npart, nev) < 0)
                return 1;
        fprintf(stderr, "ingesting...\n");
        snprintf(path, sizeof path, "%s/county.db", dir);
        unlink(path);
        dst = open_store(path, true);
        t0 = now_s();
        if (feed_ingest(dst, repo, "330225", &rep, quiet, NULL) < 0 || rep.refused) {
                fprintf(stderr, "ingest failed (%d refused)\n", rep.refused);
                return 1;
        }
        double t = now_s() - t0;
        printf("hall ingest of %ld partitions x %ld events = %ld events (parse, store, fold, heads; one transaction"
               " per round, a savepoint per feed): %.2f s = %.0f events/s; target at least 50,000 events/s\n", npart, nev, rep.ingested_events,
               t, rep.ingested_events / t);
        store_close(dst);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return 0;
}

static int backlog(int argc, char **argv)
{
        const char *dir = argv[2];
        long napps = argc > 3 ? atol(argv[3]) : 300;
        const char *v = "330225101201";
        char path[4096], bpath[4200];
        store *s;
        git_repository *repo;
        int64_t seq = 0;
        uint64_t hlc = (uint64_t)1795000000000 << 16;
        long nrefs;
        struct stat sb;

        git_libgit2_init();
        snprintf(path, sizeof path, "%s/village.git", dir);
        repo = new_repo(path);
        snprintf(path, sizeof path, "%s/village.db", dir);
        unlink(path);
        s = open_store(path, true);
        if (store_begin(s) < 0 || village_events(s, v, napps, &seq, &hlc) < 0 || store_commit(s) < 0 ||
            feed_commit_local(s, repo, v, NULL, quiet, NULL) < 0)
                return 1;
        /* the events themselves, as the store holds them, compressed */
        sqlite3_stmt *st;
        size_t raw = 0, cap = 1 << 20;
        char *buf = malloc(cap);
        sqlite3_prepare_v2(store_db(s), "SELECT node, seq, hlc, wall, operator, type, app, part, body FROM events", -1,
                           &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
                for (int i = 0; i < 9; i++) {
                        const char *t = (const char *)sqlite3_column_text(st, i);
                        size_t l = t ? strlen(t) : 0;
                        if (raw + l + 1 > cap)
                                buf = realloc(buf, cap *= 2);
                        memcpy(buf + raw, t ? t : "", l);
                        raw += l;
                        buf[raw++] = i == 8 ? '\n' : '\t';
                }
        sqlite3_finalize(st);
        uLongf zlen = compressBound((uLong)raw);
        unsigned char *z = malloc(zlen);
        compress2(z, &zlen, (const Bytef *)buf, (uLong)raw, 9);
        if (feed_bundle_export(repo, dir, v, "330225101", &nrefs, quiet, NULL) < 0)
                return 1;
        snprintf(bpath, sizeof bpath, "%s/daiban-%s-to-330225101.bundle", dir, v);
        stat(bpath, &sb);
        printf("backlog of %ld applications = %" PRId64 " events: events %zu bytes raw, %lu bytes zlib -9;"
               " bundle of the feed %lld bytes = %.2fx the zlib size (target at most 1.3x)\n", napps, store_nevents(s),
               raw, (unsigned long)zlen, (long long)sb.st_size, (double)sb.st_size / (double)zlen);
        free(buf);
        free(z);
        store_close(s);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "capture") == 0)
                return capture(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "populate") == 0)
                return populate(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "rebuild") == 0)
                return rebuild(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "ingest") == 0)
                return ingest(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "backlog") == 0)
                return backlog(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "feeds") == 0)
                return feeds(argc, argv);
        fprintf(stderr, "usage: bench-store capture DIR | populate STORE NAPPS | rebuild STORE [RUNS] |"
                        " ingest DIR NPART NEVENTS | backlog DIR NAPPS | feeds REPO SCRATCH_DB NPART NEVENTS\n");
        return 2;
}
