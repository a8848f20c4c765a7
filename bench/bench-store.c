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
 *   bench-store fill STORE NAPPS TODAY VILLAGE...
 *       A station's history for the daemon's benchmark (bench/serve-bench.py):
 *       NAPPS MZ-DB-001 applications of the given villages (round robin),
 *       accepted over the year up to TODAY (YYYY-MM-DD), with varied
 *       applicants, households and 容缺 promises, and a status mix by age
 *       (recent ones mostly open, older ones mostly delivered; a few old
 *       ones still open, so overdue). Each application is written as the
 *       real commands write it: created, 5 materials, submitted, then
 *       reviews (the village's township), decisions (its county),
 *       delivery, rating or withdrawal, each event by its node, stored as
 *       the ingest stores events (store_insert_remote: each node's next
 *       seq, a clock stamp at the event's day, so the events are dated as
 *       they would have been, which store_append cannot do in the past);
 *       then the derived tables are folded. Transactions of 10,000 events.
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
 *   bench-store day STORE NAPPS TODAY [SEED [SCAN_PERCENT]]
 *       A village's working day for the county simulator
 *       (bench/county-sim.py): NAPPS MZ-DB-001 applications appended to
 *       the village's own store through store_append, as the station's
 *       commands write them (created, five materials, submitted with the
 *       day's next receipt numbers), each folded; an operator op01 is
 *       registered first when the store has none. SCAN_PERCENT of the
 *       applications (default 33) have one of their materials scanned:
 *       a JPEG-framed random payload of 60-120 KB (a card) or 120-250 KB
 *       (a page), stored as the station stores a scan, a blob in the
 *       home's repository (STORE's folder's repo/) named by its
 *       app.material event. The same SEED makes the same day. Prints
 *       each application's id on a line, followed by its scan's blob id
 *       and bytes when it has one. `daiban sync` then commits, signs and
 *       pushes them like any capture, the scans in pieces.
 *   bench-store feeds REPO SCRATCH_DB NPART NEVENTS
 *       Only write the feeds of the ingest benchmark into an existing
 *       repository (a county home's), for `daiban sync` to ingest.
 *   bench-store ingest-lock NPART NEVENTS
 *       A test (tests/meson.build): a county store ingests NPART feeds of
 *       NEVENTS events on a thread while this one, on a connection of
 *       its own, takes the store's write lock again and again (BEGIN
 *       IMMEDIATE through the store's own code, then ROLLBACK), as every
 *       push's pre-receive check does at a hall. Prints the round's time, how often the lock was had
 *       during it and the longest wait; fails unless the round took at
 *       least 1.5 s (the case occurred; the feeds are doubled, up to
 *       three times, until it does), the lock was had at least 3 times in
 *       it, and no wait passed 0.75 s (three of the round's 250 ms
 *       commit intervals): a round that held the lock to its end would
 *       make the first wait the whole round. Its own folder under
 *       TMPDIR, removed after. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "sync/bundle.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/sshsig.h"
#include "sync/fold.h"
#include "sync/hlc.h"
#include <git2.h>
#include <zlib.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <uv.h>
#include "sync/store-int.h"

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

/* ---- fill: a station's year for the daemon's benchmark -------------------- */

static uint64_t rng_next(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
}

static int rnd(uint64_t *x, int lo, int hi)
{
        return lo + (int)(rng_next(x) % (uint64_t)(hi - lo + 1));
}

/* A valid 18-character ID number (GB 11643 check character). */
static void id_number(uint64_t *x, int y0, int y1, char out[19])
{
        static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
        int s = 0;
        snprintf(out, 19, "330225%04d%02d%02d%03d", rnd(x, y0, y1), rnd(x, 1, 12), rnd(x, 1, 28), rnd(x, 100, 999));
        for (int i = 0; i < 17; i++)
                s += (out[i] - '0') * w[i];
        out[17] = "10X98765432"[s % 11];
        out[18] = 0;
}

static int32_t day_of(const char *ymd)
{
        struct tm tm = { 0 };
        if (sscanf(ymd, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
                return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return (int32_t)(timegm(&tm) / 86400);
}

static char *dumps(json_t *j)
{
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        return t;
}

static int fill(int argc, char **argv)
{
        static const char *const sur[] = { "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马",
                                           "朱", "胡", "郭", "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐" };
        static const char *const given[] = { "秀英", "建国", "桂芳", "伟", "芳", "娜", "敏", "静", "丽", "强", "磊",
                                             "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞",
                                             "平", "刚", "桂英", "志强", "海燕", "国华", "春梅", "德明" };
        static const char *const reasons[] = { "家庭主要劳动力患病，收入不足以维持基本生活",
                                               "本人年老体弱，无固定收入来源，生活困难",
                                               "因意外事故致残，丧失劳动能力，家庭生活困难",
                                               "配偶长期患病需要照料，家庭收入低于当地低保标准",
                                               "子女在读，家庭仅靠务农收入，人均收入低于低保标准",
                                               "房屋受台风损毁，家庭积蓄用尽，生活难以为继" };
        static const char *const rels[] = { "spouse", "child", "parent", "child" };
        static const char *const mats[] = { "SFZ", "HKB", "SRZM", "HDSQ", "YHK" };
#define N(a) (sizeof(a) / sizeof((a)[0]))
        if (argc < 6)
                return 2;
        store *s = open_store(argv[2], false);
        long napps = atol(argv[3]);
        int32_t today = day_of(argv[4]);
        int nv = argc - 5;
        char **villages = argv + 5, *catv = NULL;
        long inbatch = 0, counts[9] = { 0 }, perday[64];
        int32_t lastday = -1;
        uint64_t hlc = 0;
        int64_t dayidx = 0, spacing = 36000000 / (napps / 365 + 1);
        if (spacing > 60000)
                spacing = 60000;
        static const char *const stname[9] = { "accepted", "passed", "returned", "approved", "rejected",
                                               "delivered", "rated", "withdrawn", "overdue" };
        uint64_t x = 20261124;
        double t0 = now_s();

        if (today < 0 || napps < 1 || nv > 64)
                return 2;
        store_meta_get(s, "catalog.current", &catv);
        if (store_begin(s) < 0)
                return 1;
        for (long a = 0; a < napps; a++) {
                const char *v = villages[a % nv];
                char town[16], county[16], id[64], receipt[64], idn[19], name[32];
                snprintf(town, sizeof town, "%.9s", v);
                snprintf(county, sizeof county, "%.6s", v);
                int32_t acc = today - 364 + (int32_t)(a * 365 / napps), due = acc + 42, age = today - acc;
                if (acc != lastday) {
                        memset(perday, 0, sizeof perday);
                        lastday = acc;
                        dayidx = 0;
                } else {
                        dayidx++;
                }
                int r = rnd(&x, 0, 999), st;
                /* 0 accepted 1 passed 2 returned 3 approved 4 rejected 5 delivered 6 rated 7 withdrawn */
                if (age <= 60)
                        st = r < 350 ? 0 : r < 600 ? 1 : r < 700 ? 2 : r < 850 ? 3 : r < 970 ? 5 : 7;
                else
                        st = r < 40 ? 0 : r < 65 ? 1 : r < 80 ? 2 : r < 110 ? 3 : r < 140 ? 4 : r < 160 ? 7
                           : r < 820 ? 5 : 6;
                counts[st]++;
                bool deficient = rnd(&x, 0, 9) == 0;
                if (st <= 2 && (due < today || (deficient && acc + 30 < today)))
                        counts[8]++;

                /* the form's data, as a station captures it */
                int hh = rnd(&x, 1, 4);
                snprintf(name, sizeof name, "%s%s", sur[rnd(&x, 0, N(sur) - 1)], given[rnd(&x, 0, N(given) - 1)]);
                id_number(&x, 1940, 1985, idn);
                json_t *members = json_array();
                for (int m = 0; m < hh; m++) {
                        char mid[19], mname[32], inc[32];
                        if (m == 0)
                                memcpy(mid, idn, sizeof mid);
                        else
                                id_number(&x, 1940, 2020, mid);
                        snprintf(mname, sizeof mname, "%s%s", m ? sur[rnd(&x, 0, N(sur) - 1)] : "",
                                 m ? given[rnd(&x, 0, N(given) - 1)] : name);
                        snprintf(inc, sizeof inc, "%d.%02d", rnd(&x, 0, 1500), rnd(&x, 0, 99));
                        json_array_append_new(members, json_pack("{s:s,s:s,s:s,s:s}", "member_name", mname, "member_id",
                                                                 mid, "relation", m ? rels[m - 1] : "self",
                                                                 "monthly_income", inc));
                }
                char phone[16], bank[24], addr[128];
                snprintf(phone, sizeof phone, "1%d%09d", (int[]){ 3, 5, 8 }[rnd(&x, 0, 2)], rnd(&x, 0, 999999999));
                snprintf(bank, sizeof bank, "621700%013lld", (long long)(rng_next(&x) % 10000000000000ull));
                snprintf(addr, sizeof addr, "象山县%s村%d号", v + 9, rnd(&x, 1, 300));
                char *data = dumps(json_pack("{s:s,s:s,s:s,s:s,s:i,s:o,s:s,s:s}", "applicant_name", name, "id_number",
                                             idn, "phone", phone, "address", addr, "household_size", hh, "members",
                                             members, "reason", reasons[rnd(&x, 0, N(reasons) - 1)], "bank_account",
                                             bank));

                struct event ev = { .operator = "op01", .part = v };
                /* the day's applications from 08:00, 10 hours of working day shared among them */
                int64_t wall = (int64_t)acc * 86400000 + 8 * 3600000 + dayidx * spacing;
                int rc = 0;
#define EMIT(NODE, TYPE, BODY)                                                                  \
        do {                                                                                    \
                char *b_ = (BODY);                                                              \
                ev.node = (NODE);                                                               \
                ev.type = (TYPE);                                                               \
                ev.body = b_;                                                                   \
                ev.wall_ms = (wall += 1000);                                                    \
                ev.seq = store_next_seq(s, ev.node);                                            \
                ev.hlc = hlc_make((uint64_t)ev.wall_ms, 0) > hlc ? hlc_make((uint64_t)ev.wall_ms, 0) \
                                                                  : hlc + 1;                    \
                hlc = ev.hlc;                                                                   \
                rc = b_ ? store_insert_remote(s, &ev, true) : -1;                               \
                free(b_);                                                                       \
                if (rc < 0) {                                                                   \
                        fprintf(stderr, "append failed: %s\n", store_errmsg(s));              \
                        return 1;                                                               \
                }                                                                               \
                if (++inbatch == 10000) {                                                       \
                        if (store_commit(s) < 0 || store_begin(s) < 0)                          \
                                return 1;                                                       \
                        inbatch = 0;                                                            \
                }                                                                               \
        } while (0)
                snprintf(id, sizeof id, "%s-%" PRId64, v, store_next_seq(s, v));
                ev.app = id;
                json_t *cb = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "matter", "MZ-DB-001", "matter_name",
                                       "最低生活保障申请", "origin", v, "data", data, "reviewer", town, "decider",
                                       county, "applicant", name, "applicant_id", idn, "time_limit", 30);
                if (catv)
                        json_object_set_new(cb, "catalog", json_string(catv));
                free(data);
                EMIT(v, "app.created", dumps(cb));
                for (size_t m = 0; m < N(mats); m++) {
                        bool def = deficient && !strcmp(mats[m], "SRZM");
                        EMIT(v, "app.material",
                             dumps(def ? json_pack("{s:s,s:i,s:s}", "material", mats[m], "promise", acc + 30, "state",
                                                   "deficient")
                                       : json_pack("{s:s,s:s}", "material", mats[m], "state", "provided")));
                }
                int y, mo, d;
                {
                        time_t tt = (time_t)acc * 86400;
                        struct tm tm;
                        gmtime_r(&tt, &tm);
                        y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday;
                }

                /* the receipt number the station gives: its digits, the day, its count that day */
                snprintf(receipt, sizeof receipt, "%s-%02d%02d%02d-%03ld", v + 6, y % 100, mo, d, ++perday[a % nv]);
                json_t *defs = json_array();
                if (deficient)
                        json_array_append_new(defs, json_pack("{s:s,s:i}", "material", "SRZM", "promise", acc + 30));
                EMIT(v, "app.submitted", dumps(json_pack("{s:i,s:o,s:i,s:s}", "accepted_on", acc, "deficiencies", defs,
                                                         "due", due, "receipt", receipt)));
                if (st == 7) {
                        EMIT(v, "app.withdrawn", dumps(json_pack("{s:s}", "reason", "申请人撤回申请")));
                } else if (st == 2) {
                        EMIT(town, "app.reviewed", dumps(json_pack("{s:s,s:s}", "reason", "收入证明需村委会盖章",
                                                                   "result", "return")));
                } else if (st != 0) {
                        EMIT(town, "app.reviewed", dumps(json_pack("{s:s}", "result", "pass")));
                        if (st >= 3) {
                                int32_t dd = acc + rnd(&x, 5, 40);
                                if (dd > today)
                                        dd = today;
                                if (st == 4)
                                        EMIT(county, "app.decided",
                                             dumps(json_pack("{s:i,s:s,s:s}", "decided_on", dd, "reason",
                                                             "家庭人均收入高于当地低保标准", "result", "reject")));
                                else
                                        EMIT(county, "app.decided",
                                             dumps(json_pack("{s:i,s:s}", "decided_on", dd, "result", "approve")));
                        }
                        if (st >= 5)
                                EMIT(v, "app.delivered", dumps(json_object()));
                        if (st == 6)
                                EMIT(v, "app.rated", dumps(json_pack("{s:i}", "level", rnd(&x, 3, 5))));
                }
#undef EMIT
        }
        if (store_commit(s) < 0)
                return 1;
        fprintf(stderr, "appended %" PRId64 " events in %.1f s; folding...\n", store_nevents(s), now_s() - t0);
        t0 = now_s();
        if (store_begin(s) < 0 || fold_rebuild(s, NULL, NULL) < 0 || store_commit(s) < 0) {
                fprintf(stderr, "rebuild failed: %s\n", store_errmsg(s));
                return 1;
        }
        fprintf(stderr, "folded in %.1f s\n", now_s() - t0);
        printf("filled: %ld applications:", napps);
        for (int i = 0; i < 9; i++)
                printf(" %s %ld%s", stname[i], counts[i], i < 8 ? "," : "\n");
        free(catv);
        store_close(s);
        return 0;
#undef N
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
 * made by feed_commit_local from a scratch store at path), signed with
 * keys[p] when keys is given. */
static int write_feeds_keyed(git_repository *repo, const char *path, long npart, long nev,
                             const struct sshsig_key *keys)
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
                    store_commit(src) < 0 ||
                    feed_commit_local(src, repo, village, keys ? &keys[p] : NULL, NULL, quiet, NULL) < 0) {
                        fprintf(stderr, "writing feeds failed: %s\n", store_errmsg(src));
                        return -1;
                }
        }
        fprintf(stderr, "wrote %ld %s feeds of %ld events in %.1f s\n", npart, keys ? "signed" : "unsigned", nev,
                now_s() - t0);
        store_close(src);
        return 0;
}

static int write_feeds(git_repository *repo, const char *path, long npart, long nev)
{
        return write_feeds_keyed(repo, path, npart, nev, NULL);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
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

/* One ingest of every feed in repo into a fresh store at path: events/s. */
static double ingest_once(git_repository *repo, const char *path, const struct roster *ro, long *ret_events)
{
        struct feed_report rep = { 0 };
        store *dst;
        double t0;

        unlink(path);
        dst = open_store(path, true);
        t0 = now_s();
        struct feed_trust tr = { .ro = ro };
        if (feed_ingest(dst, repo, "330225", &tr, &rep, quiet, NULL) < 0 || rep.refused) {
                fprintf(stderr, "ingest failed (%d refused)\n", rep.refused);
                exit(1);
        }
        double t = now_s() - t0;
        store_close(dst);
        *ret_events = rep.ingested_events;
        return rep.ingested_events / t;
}

struct lock_round {
        git_repository *repo;
        store *st;
        atomic_bool done;
        double t0, t1;
        int r;
};

static void lock_round_main(void *arg)
{
        struct lock_round *lr = arg;
        struct feed_report rep = { 0 };

        lr->t0 = now_s();
        lr->r = feed_ingest(lr->st, lr->repo, "330225", NULL, &rep, quiet, NULL) < 0 || rep.refused ||
                rep.ingested_feeds < 1;
        lr->t1 = now_s();
        atomic_store(&lr->done, true);
}

/* The ingest commits at least every 250 ms (sync/ingest.c): a writer that
 * waits is let in within a few such intervals, whatever the round's length */
#define LOCK_WAIT_MAX 0.75
#define LOCK_ROUND_MIN (2 * LOCK_WAIT_MAX)

struct lock_trial {
        double round, max_wait;
        int had;                /* lock taken while the round ran */
        bool begin_failed, ingest_failed;
};

/* One round of npart feeds with a prober beside it. 0, or -1 (setup). */
static int lock_trial(const char *tmp, long npart, long nev, struct lock_trial *t)
{
        char dir[4096], path[4200];
        struct lock_round lr = { .r = 1 };
        store *prober = NULL;
        uv_thread_t th;
        static double at[65536];
        size_t nat = 0;
        int r = -1;

        memset(t, 0, sizeof *t);
        snprintf(dir, sizeof dir, "%s/daiban-ingest-lock-XXXXXX", tmp);
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof path, "%s/hall.git", dir);
        lr.repo = new_repo(path);
        snprintf(path, sizeof path, "%s/villages.db", dir);
        if (write_feeds(lr.repo, path, npart, nev) < 0)
                goto out;
        snprintf(path, sizeof path, "%s/county.db", dir);
        lr.st = open_store(path, true);
        {
                char err[512];
                if (store_open(path, false, &prober, err, sizeof err) < 0) {
                        fprintf(stderr, "cannot open %s a second time: %s\n", path, err);
                        goto out;
                }
        }
        if (uv_thread_create(&th, lock_round_main, &lr) != 0)
                goto out;
        while (!atomic_load(&lr.done)) {
                double a = now_s();
                int b = store_begin(prober);
                double w = now_s() - a;
                t->max_wait = w > t->max_wait ? w : t->max_wait;
                if (b < 0) {
                        fprintf(stderr, "BEGIN IMMEDIATE: %s\n", store_errmsg(prober));
                        t->begin_failed = true;
                        break;
                }
                store_rollback(prober);
                if (nat < sizeof at / sizeof *at)
                        at[nat++] = a + w;
                usleep(20000);
        }
        uv_thread_join(&th);
        t->round = lr.t1 - lr.t0;
        t->ingest_failed = lr.r != 0;
        /* taken inside the round: after its start (and its listing of the
         * feeds) and before its end */
        for (size_t i = 0; i < nat; i++)
                t->had += at[i] > lr.t0 + 0.1 && at[i] < lr.t1;
        printf("ingest of %ld feeds x %ld events: the round took %.2f s; the write lock was had %d times during it,"
               " the longest wait %.3f s\n", npart, nev, t->round, t->had, t->max_wait);
        r = 0;
out:
        store_close(prober);
        if (lr.st)
                store_close(lr.st);
        git_repository_free(lr.repo);
        durable_remove_tree(dir);
        return r;
}

/* bench-store ingest-lock NPART NEVENTS (the header says what it asserts) */
static int ingest_lock(int argc, char **argv)
{
        long npart = atol(argv[2]), nev = atol(argv[3]);
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        struct lock_trial t = { 0 };
        int r = 1;

        if (npart < 2 || nev < 5)
                return 2;
        git_libgit2_init();
        /* a faster machine ingests faster: more feeds until the round is
         * long enough to tell a lock kept from a lock let go */
        for (int k = 0; k < 4; k++, npart *= 2)
                if (lock_trial(tmp, npart, nev, &t) < 0 || t.round >= LOCK_ROUND_MIN || t.begin_failed ||
                    t.ingest_failed)
                        break;
        if (t.ingest_failed)
                fprintf(stderr, "FAIL: the ingest failed\n");
        else if (t.begin_failed)
                fprintf(stderr, "FAIL: the second connection could not take the lock (after %.3f s)\n", t.max_wait);
        else if (t.round < LOCK_ROUND_MIN)
                fprintf(stderr, "FAIL: the round took %.2f s, under the %.1f s this test needs, even with %ld feeds\n",
                        t.round, LOCK_ROUND_MIN, npart);
        else if (t.had < 3 || t.max_wait > LOCK_WAIT_MAX)
                fprintf(stderr, "FAIL: the round kept the write lock (had %d times, waited up to %.3f s of %.2f s;"
                        " at most %.2f s expected)\n", t.had, t.max_wait, t.round, LOCK_WAIT_MAX);
        else
                r = 0;
        git_libgit2_shutdown();
        return r;
}

/* bench-store ingest DIR [NPART NEVENTS [RUNS]]: the hall's ingest, with
 * every change set signed and checked against a roster of the villages'
 * keys, and the same feeds unsigned without a roster, alternately. */
static int ingest(int argc, char **argv)
{
        const char *dir = argv[2];
        long npart = argc > 3 ? atol(argv[3]) : 500, nev = argc > 4 ? atol(argv[4]) : 2000;
        int runs = argc > 5 ? atoi(argv[5]) : 3;
        char path[4096];
        git_repository *plain, *signed_repo;
        struct sshsig_key *keys = calloc((size_t)npart, sizeof *keys);
        struct roster ro = { 0 };
        double with[16], without[16];
        long n = 0;

        if (runs < 1 || runs > 16 || !keys)
                return 2;
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/hall.git", dir);
        plain = new_repo(path);
        snprintf(path, sizeof path, "%s/hall-signed.git", dir);
        signed_repo = new_repo(path);
        snprintf(ro.county, sizeof ro.county, "330225");
        for (long p = 0; p < npart; p++) {
                struct roster_entry e = { 0 };
                if (sshsig_keygen(&keys[p]) < 0)
                        return 1;
                snprintf(e.node, sizeof e.node, "330225%03ld%03ld", 100 + p / 25, 201 + p % 25);
                memcpy(e.pk, keys[p].pk, sizeof e.pk);
                e.from = 1;
                snprintf(e.by, sizeof e.by, "bench");
                if (roster_add(&ro, &e) < 0)
                        return 1;
        }
        snprintf(path, sizeof path, "%s/villages.db", dir);
        if (write_feeds(plain, path, npart, nev) < 0 || write_feeds_keyed(signed_repo, path, npart, nev, keys) < 0)
                return 1;
        snprintf(path, sizeof path, "%s/county.db", dir);
        for (int i = 0; i < runs; i++) {
                fprintf(stderr, "run %d: ingesting signed...\n", i + 1);
                with[i] = ingest_once(signed_repo, path, &ro, &n);
                fprintf(stderr, "  %.0f events/s\nrun %d: ingesting unsigned...\n", with[i], i + 1);
                without[i] = ingest_once(plain, path, NULL, &n);
                fprintf(stderr, "  %.0f events/s\n", without[i]);
        }
        qsort(with, (size_t)runs, sizeof *with, cmp_double);
        qsort(without, (size_t)runs, sizeof *without, cmp_double);
        printf("hall ingest of %ld partitions x %ld events = %ld events (parse, store, fold, heads; one transaction"
               " per round, a savepoint per feed), median of %d runs each, alternating:\n"
               "  signed, every change set checked against a roster of %ld keys: %.0f events/s (%.0f..%.0f)\n"
               "  unsigned, no roster: %.0f events/s (%.0f..%.0f)\n"
               "  ratio signed/unsigned: %.3f (target at least 0.95); target at least 50,000 events/s\n",
               npart, nev, n, runs, npart, with[runs / 2], with[0], with[runs - 1], without[runs / 2], without[0],
               without[runs - 1], with[runs / 2] / without[runs / 2]);
        roster_free(&ro);
        free(keys);
        git_repository_free(plain);
        git_repository_free(signed_repo);
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
        /* signed, as a station's change sets are */
        struct sshsig_key key;
        if (sshsig_keygen(&key) < 0 || store_begin(s) < 0 || village_events(s, v, napps, &seq, &hlc) < 0 ||
            store_commit(s) < 0 || feed_commit_local(s, repo, v, &key, NULL, quiet, NULL) < 0)
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
               " bundle of the signed feed %lld bytes = %.2fx the zlib size (target at most 1.3x)\n", napps, store_nevents(s),
               raw, (unsigned long)zlen, (long long)sb.st_size, (double)sb.st_size / (double)zlen);
        free(buf);
        free(z);
        store_close(s);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return 0;
}

/* ---- day: a village's working day for the county simulator ----------------- */

/* Scanned materials: the cards (the ID card, SFZ; the bank card, YHK) as
 * a phone or a station's scanner takes them, 60-120 KB, the pages (the
 * household register, HKB; the income certificate, SRZM; the signed
 * application, HDSQ) at 150-200 dpi as JPEG, 120-250 KB. */
static size_t scan_size(uint64_t *x, const char *material)
{
        bool card = !strcmp(material, "SFZ") || !strcmp(material, "YHK");
        return (size_t)rnd(x, card ? 60000 : 120000, card ? 120000 : 250000);
}

/* A scan of n bytes stored as the station stores one (agent/core/capture.c,
 * store_scan: a blob of the home's repository, fsynced, which the
 * app.material event then names); `daiban sync` cuts it into pieces
 * (sync/scanwrite.c, scan_commit_local) and pushes them. The bytes are a
 * JPEG's frame (SOI, a JFIF header, EOI) around random ones from x: a
 * photograph's entropy-coded data does not compress, nor do these. 0 and
 * the blob's id in hex, or -1 with the reason printed. */
static int scan_store(git_repository *repo, uint64_t *x, size_t n, char hex[41])
{
        static const unsigned char head[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01,
                                              0x01, 0x01, 0x00, 0x96, 0x00, 0x96, 0x00, 0x00 };
        unsigned char *buf = malloc(n);
        git_oid oid;
        int r = 0;

        if (!buf || n < sizeof head + 2)
                return -1;
        memcpy(buf, head, sizeof head);
        for (size_t i = sizeof head; i < n - 2; i += 8) {
                uint64_t v = rng_next(x);
                memcpy(buf + i, &v, n - 2 - i < 8 ? n - 2 - i : 8);
        }
        buf[n - 2] = 0xff;
        buf[n - 1] = 0xd9;
        if (git_blob_create_from_buffer(&oid, repo, buf, n) < 0) {
                fprintf(stderr, "cannot store a scan: %s\n", git_error_last()->message);
                r = -1;
        } else {
                git_oid_tostr(hex, 41, &oid);
        }
        free(buf);
        return r;
}

/* The home's repository beside its store (DIR/store.db: DIR/repo), for
 * the scans; NULL with the reason printed. */
static git_repository *home_repo(const char *store_path)
{
        char path[4096];
        const char *slash = strrchr(store_path, '/');
        git_repository *repo;

        snprintf(path, sizeof path, "%.*srepo", slash ? (int)(slash - store_path + 1) : 0, store_path);
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        if (git_repository_open_bare(&repo, path) < 0) {
                fprintf(stderr, "git open %s: %s\n", path, git_error_last()->message);
                return NULL;
        }
        return repo;
}

static int day(int argc, char **argv)
{
        static const char *const sur[] = { "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周" };
        static const char *const given[] = { "秀英", "建国", "桂芳", "伟", "芳", "娜", "敏", "静", "丽", "强" };
        static const char *const mats[] = { "SFZ", "HKB", "SRZM", "HDSQ", "YHK" };
        if (argc < 5)
                return 2;
        store *s = open_store(argv[2], false);
        long napps = atol(argv[3]);
        int32_t today = day_of(argv[4]);
        uint64_t x = argc > 5 ? strtoull(argv[5], NULL, 10) : (uint64_t)time(NULL);
        /* the scans draw from a stream of their own, so that without them
         * the day is the one it was before they were added */
        uint64_t xs = x ^ 0x5ca75ca75ca75ca7u;
        int scan_pct = argc > 6 ? atoi(argv[6]) : 33;
        git_repository *repo = NULL;
        char *v = NULL, *catv = NULL, prefix[32], like[40];
        long best = 0;
        sqlite3_stmt *q;

        if (today < 0 || napps < 0 || scan_pct < 0 || scan_pct > 100 || store_meta_get(s, "node", &v) < 0 ||
            strlen(v) != 12)
                return 2;
        if (scan_pct && !(repo = home_repo(argv[2])))
                return 1;
        store_meta_get(s, "catalog.current", &catv);
        int y, mo, d;
        {
                time_t tt = (time_t)today * 86400;
                struct tm tm;
                gmtime_r(&tt, &tm);
                y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday;
        }
        snprintf(prefix, sizeof prefix, "%s-%02d%02d%02d-", v + 6, y % 100, mo, d);
        snprintf(like, sizeof like, "%s%%", prefix);
        if (store_begin(s) < 0)
                return 1;
        if (sqlite3_prepare_v2(store_db(s), "SELECT receipt FROM apps WHERE receipt LIKE ?", -1, &q, NULL) != SQLITE_OK)
                return 1;
        sqlite3_bind_text(q, 1, like, -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW) {
                long n = strtol((const char *)sqlite3_column_text(q, 0) + strlen(prefix), NULL, 10);
                if (n > best)
                        best = n;
        }
        sqlite3_finalize(q);
        struct event ev = { .node = v, .operator = "op01", .part = v };
        int rc = 0;
#define APPEND(TYPE, APP, BODY)                                                              \
        do {                                                                             \
                char *b_ = (BODY);                                                       \
                ev.type = (TYPE);                                                        \
                ev.app = (APP);                                                          \
                ev.body = b_;                                                            \
                ev.wall_ms = 0;                                                          \
                rc = b_ ? store_append(s, &ev) : -1;                                     \
                free(b_);                                                                \
                if (rc < 0) {                                                            \
                        fprintf(stderr, "append failed: %s\n", store_errmsg(s));        \
                        return 1;                                                        \
                }                                                                        \
        } while (0)
        if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM events WHERE type = 'operator.added'", -1, &q, NULL) !=
            SQLITE_OK)
                return 1;
        bool have_op = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > 0;
        sqlite3_finalize(q);
        if (!have_op) {
                char *body = dumps(json_pack("{s:s,s:s}", "id", "op01", "name", "模拟经办人"));
                APPEND("operator.added", NULL, strdup(body));
                fold_operator(s, v, ev.hlc, body);
                free(body);
        }
        for (long a = 0; a < napps; a++) {
                char id[64], receipt[64], idn[19], name[32], town[16], county[16];
                snprintf(town, sizeof town, "%.9s", v);
                snprintf(county, sizeof county, "%.6s", v);
                snprintf(name, sizeof name, "%s%s", sur[rnd(&x, 0, 9)], given[rnd(&x, 0, 9)]);
                id_number(&x, 1940, 1985, idn);
                char *data = dumps(json_pack("{s:s,s:s,s:s,s:s,s:i,s:[{s:s,s:s,s:s,s:s}],s:s,s:s}", "applicant_name", name,
                                             "id_number", idn, "phone", "13800000000", "address", "模拟村1号",
                                             "household_size", 1, "members", "member_name", name, "member_id", idn,
                                             "relation", "self", "monthly_income", "300.00", "reason",
                                             "家庭主要劳动力患病，收入不足以维持基本生活", "bank_account",
                                             "6217000000000000000"));
                snprintf(id, sizeof id, "%s-%" PRId64, v, store_next_seq(s, v));
                json_t *cb = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "matter", "MZ-DB-001", "matter_name",
                                       "最低生活保障申请", "origin", v, "data", data, "reviewer", town, "decider",
                                       county, "applicant", name, "applicant_id", idn, "time_limit", 30);
                if (catv)
                        json_object_set_new(cb, "catalog", json_string(catv));
                free(data);
                APPEND("app.created", id, dumps(cb));
                /* one material of about one application in three scanned
                 * (scan_pct of them), stored before the event names it */
                int scanned = rnd(&xs, 0, 99) < scan_pct ? rnd(&xs, 0, 4) : -1;
                size_t scan_len = 0;
                char blob[41] = "";
                if (scanned >= 0 && scan_store(repo, &xs, scan_len = scan_size(&xs, mats[scanned]), blob) < 0)
                        return 1;
                for (int m = 0; m < 5; m++) {
                        json_t *mb = json_pack("{s:s,s:s}", "material", mats[m], "state", "provided");
                        if (m == scanned)
                                json_object_set_new(mb, "blob", json_string(blob));
                        APPEND("app.material", id, dumps(mb));
                }
                snprintf(receipt, sizeof receipt, "%s%03ld", prefix, ++best);
                APPEND("app.submitted", id, dumps(json_pack("{s:i,s:[],s:i,s:s}", "accepted_on", today, "deficiencies",
                                                            "due", today + 42, "receipt", receipt)));
                if (fold_app(s, id) < 0) {
                        fprintf(stderr, "fold failed: %s\n", store_errmsg(s));
                        return 1;
                }
                if (scanned >= 0)
                        printf("%s %s %zu\n", id, blob, scan_len);
                else
                        printf("%s\n", id);
        }
#undef APPEND
        if (store_commit(s) < 0)
                return 1;
        free(v);
        free(catv);
        store_close(s);
        if (repo) {
                git_repository_free(repo);
                git_libgit2_shutdown();
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "day") == 0)
                return day(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "capture") == 0)
                return capture(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "populate") == 0)
                return populate(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "fill") == 0)
                return fill(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "rebuild") == 0)
                return rebuild(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "ingest") == 0)
                return ingest(argc, argv);
        if (argc >= 4 && strcmp(argv[1], "ingest-lock") == 0)
                return ingest_lock(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "backlog") == 0)
                return backlog(argc, argv);
        if (argc >= 3 && strcmp(argv[1], "feeds") == 0)
                return feeds(argc, argv);
        fprintf(stderr, "usage: bench-store capture DIR | populate STORE NAPPS | fill STORE NAPPS TODAY VILLAGE... |"
                        " rebuild STORE [RUNS] | day STORE NAPPS TODAY [SEED [SCAN_PERCENT]] |"
                        " ingest DIR NPART NEVENTS | ingest-lock NPART NEVENTS | backlog DIR NAPPS | feeds REPO SCRATCH_DB NPART NEVENTS\n");
        return 2;
}
