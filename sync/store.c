/* The node's SQLite store. See store.h and docs/store.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "sync/store-int.h"
#include "sync/durable.h"
#include "sync/hlc.h"
#include "sync/store.h"
#include "sync/platform.h"

struct store {
        sqlite3 *db;
        sqlite3_stmt *max_seq, *max_hlc, *insert, *find;
        uint64_t busy_since;    /* when the wait for a lock began (uv_hrtime) */
        unsigned busy_max_ms, busy_told_s;
        void (*waiting)(void *ud, unsigned waited_s);
        void *waiting_ud;
};

/* Migrations: entry i brings user_version from i to i + 1. */
static const char *const migrations[] = {
        /* 0 -> 1: the event log, node configuration, derived tables */
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE events("
        "  node TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL, wall INTEGER NOT NULL,"
        "  operator TEXT NOT NULL, type TEXT NOT NULL, app TEXT, part TEXT NOT NULL, body TEXT NOT NULL,"
        "  PRIMARY KEY(node, seq)) WITHOUT ROWID;"
        "CREATE INDEX events_app ON events(app, hlc, node, seq);"
        "CREATE INDEX events_hlc ON events(hlc);"
        "CREATE TRIGGER events_immutable_u BEFORE UPDATE ON events"
        "  BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;"
        "CREATE TRIGGER events_immutable_d BEFORE DELETE ON events"
        "  BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;"
        /* derived: everything below is rebuilt from events by the fold */
        "CREATE TABLE apps("
        "  id TEXT PRIMARY KEY, matter TEXT NOT NULL, matter_name TEXT NOT NULL,"
        "  bundle TEXT, bundle_code TEXT, bundle_receipt TEXT,"
        "  origin TEXT NOT NULL, reviewer TEXT, decider TEXT NOT NULL,"
        "  status TEXT NOT NULL, holder TEXT NOT NULL, receipt TEXT,"
        "  applicant TEXT, applicant_id TEXT, data TEXT NOT NULL, time_limit INTEGER NOT NULL,"
        "  accepted_on INTEGER, due INTEGER, accepted_by TEXT,"
        "  result TEXT, reason TEXT, rating INTEGER, rating_comment TEXT,"
        "  created_hlc INTEGER NOT NULL, updated_hlc INTEGER NOT NULL, nconflicts INTEGER NOT NULL, catalog TEXT"
        ") WITHOUT ROWID;"
        "CREATE INDEX apps_status ON apps(status, updated_hlc, id);"
        "CREATE INDEX apps_open_due ON apps(due, id) WHERE status IN ('accepted','returned','passed');"
        "CREATE INDEX apps_receipt ON apps(receipt);"
        "CREATE INDEX apps_updated ON apps(updated_hlc, id);"
        "CREATE INDEX apps_bundle ON apps(bundle);"
        "CREATE TABLE app_materials("
        "  app TEXT NOT NULL, material TEXT NOT NULL, state TEXT NOT NULL, blob TEXT, promise INTEGER,"
        "  PRIMARY KEY(app, material)) WITHOUT ROWID;"
        "CREATE INDEX app_materials_promise ON app_materials(state, promise);"
        "CREATE TABLE conflicts("
        "  app TEXT NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,"
        "  reason TEXT NOT NULL, PRIMARY KEY(app, node, seq)) WITHOUT ROWID;"
        "CREATE TABLE operators("
        "  node TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, hlc INTEGER NOT NULL,"
        "  PRIMARY KEY(node, id)) WITHOUT ROWID;",
        /* 1 -> 2: what has been ingested from each feed (not derived: the
         * position of ingest, recorded with the events it brought) */
        "CREATE TABLE feed_heads("
        "  ref TEXT PRIMARY KEY, head TEXT NOT NULL, last_seq INTEGER NOT NULL, events INTEGER NOT NULL)"
        " WITHOUT ROWID;",
        /* 2 -> 3 (derived): the earliest 容缺 promise of an open
         * application, so the overdue list finds late promises through
         * an index of the few applications that have one */
        "ALTER TABLE apps ADD COLUMN promise_due INTEGER;"
        "UPDATE apps SET promise_due = (SELECT min(promise) FROM app_materials m WHERE m.app = apps.id"
        "  AND m.state = 'deficient') WHERE status IN ('accepted','returned','passed');"
        "CREATE INDEX apps_open_promise ON apps(promise_due) WHERE promise_due IS NOT NULL;",
        /* 3 -> 4 (derived): the station's lists over 200,000 applications
         * (docs/BENCHMARKS.md): the open ones by due date carry what the
         * overdue and village filters test, so a page and its count read
         * the index alone; an office's queue and a village's list by
         * holder or origin, newest first */
        "DROP INDEX apps_open_due;"
        "CREATE INDEX apps_open_due ON apps(due, id, promise_due, origin, status)"
        "  WHERE status IN ('accepted','returned','passed');"
        "CREATE INDEX apps_origin_status ON apps(origin, status, updated_hlc, id);"
        "CREATE INDEX apps_holder_status ON apps(holder, status, updated_hlc, id);",
        /* 4 -> 5: a creation's request key (`app new --request`, the
         * station's draft id), so a retried request finds what the first
         * one created instead of accepting the application twice */
        ("CREATE INDEX events_request ON events(node, json_extract(body, '$.request'))"
         "  WHERE type = 'app.created';"),
        /* 5 -> 6 (derived): an operator disabled (operator.added with
         * "disabled": true) can no longer sign in or write; their name
         * stays for the audit trail */
        "ALTER TABLE operators ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

static int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EIO;
}

static int exec(sqlite3 *db, const char *sql)
{
        return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Before a store made by an older daiban is migrated, a copy of it as it
 * was: <store>.before-schema-<N> (SQLite's online backup), made once. A
 * migration that goes wrong, or a downgrade the county needs, has it. */
static int copy_before_migration(store *s, const char *path, int to, char *err, size_t errlen)
{
        char *copy = sqlite3_mprintf("%s.before-schema-%d", path, to);
        char *tmp = sqlite3_mprintf("%s.tmp", copy);
        sqlite3 *dst = NULL;
        sqlite3_backup *b;
        int rc;

        if (!copy || !tmp) {
                sqlite3_free(copy);
                sqlite3_free(tmp);
                return set_err(err, errlen, "out of memory");
        }
        if (access(copy, F_OK) == 0) {          /* an earlier attempt made it */
                sqlite3_free(copy);
                sqlite3_free(tmp);
                return 0;
        }
        unlink(tmp);
        rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc == SQLITE_OK && (b = sqlite3_backup_init(dst, "main", s->db, "main"))) {
                sqlite3_backup_step(b, -1);
                rc = sqlite3_backup_finish(b);
        } else if (rc == SQLITE_OK) {
                rc = sqlite3_errcode(dst);
        }
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
        sqlite3_close(dst);
        if (rc == SQLITE_OK && (durable_sync_file(tmp) < 0 || rename(tmp, copy) < 0 || durable_sync_parent(copy) < 0))
                rc = SQLITE_IOERR;
        if (rc != SQLITE_OK) {
                unlink(tmp);
                set_err(err, errlen, "cannot copy the store to %s before migrating it (nothing was changed): %s%s", copy,
                        sqlite3_errstr(rc), rc == SQLITE_FULL ? " (the disk is full: free some space)" : "");
        }
        sqlite3_free(copy);
        sqlite3_free(tmp);
        return rc == SQLITE_OK ? 0 : -EIO;
}

static int migrate(store *s, const char *path, char *err, size_t errlen)
{
        sqlite3_stmt *st;
        int version = 0;

        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return set_err(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(s->db));
        if (sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (version > (int)NMIGRATIONS) {
                set_err(err, errlen, "the store was written by a newer daiban (schema %d; this daiban knows up to %d):"
                        " install that version or a newer one; nothing was changed", version, (int)NMIGRATIONS);
                return -EPROTO;
        }
        if (version > 0 && version < (int)NMIGRATIONS && copy_before_migration(s, path, (int)NMIGRATIONS, err, errlen) < 0)
                return -EIO;
        while (version < (int)NMIGRATIONS) {
                char sql[64];
                if (exec(s->db, "BEGIN IMMEDIATE") < 0)
                        return set_err(err, errlen, "cannot migrate the store: %s", sqlite3_errmsg(s->db));
                snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
                if (exec(s->db, migrations[version]) < 0 || exec(s->db, sql) < 0) {
                        set_err(err, errlen, "cannot migrate the store: %s", sqlite3_errmsg(s->db));
                        exec(s->db, "ROLLBACK");
                        return -EIO;
                }
                if (exec(s->db, "COMMIT") < 0) {
                        set_err(err, errlen, "cannot migrate the store: %s", sqlite3_errmsg(s->db));
                        exec(s->db, "ROLLBACK");
                        return -EIO;
                }
                version++;
        }
        return 0;
}

/* Waiting for another connection's write lock. SQLite's own busy timeout
 * sleeps up to 100 ms between tries, so a writer that commits and begins
 * again within milliseconds (the hall's ingest between feeds, with every
 * push's check waiting) was never caught free: the checks waited out the
 * whole round. Tries after 1 ms, every STORE_BUSY_POLL_MS for the first
 * 100 ms, then every STORE_BUSY_POLL_SLOW_MS (under STORE_YIELD_MS, so a
 * yield is always seen, and a herd of waiting checks does not spin),
 * until STORE_BUSY_TIMEOUT_MS have passed by the clock (Windows sleeps
 * in steps of about 16 ms: counting the sleeps asked for would wait
 * longer). */
static int busy_wait(void *ud, int count)
{
        store *s = ud;
        uint64_t waited_ms;

        if (count == 0) {
                s->busy_since = uv_hrtime();
                s->busy_told_s = 0;
        }
        waited_ms = (uv_hrtime() - s->busy_since) / 1000000u;
        if (waited_ms >= (s->busy_max_ms ? s->busy_max_ms : STORE_BUSY_TIMEOUT_MS))
                return 0;
        if (s->waiting && waited_ms / 1000 >= s->busy_told_s + STORE_WAIT_TELL_S) {
                s->busy_told_s = (unsigned)(waited_ms / 1000);
                s->waiting(s->waiting_ud, s->busy_told_s);
        }
        sqlite3_sleep(count < 5 ? 1 : waited_ms < 100 ? STORE_BUSY_POLL_MS : STORE_BUSY_POLL_SLOW_MS);
        return 1;
}

int store_open(const char *path, bool create, store **ret, char *err, size_t errlen)
{
        store *s = calloc(1, sizeof *s);
        int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
        int r;

        if (!s)
                return -ENOMEM;
        if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
                r = set_err(err, errlen, "cannot open the store %s: %s", path,
                            s->db ? sqlite3_errmsg(s->db) : "out of memory");
                store_close(s);
                return create ? r : -ENOENT;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_handler(s->db, busy_wait, s);
        if (exec(s->db, "PRAGMA journal_mode=WAL") < 0 || exec(s->db, "PRAGMA synchronous=FULL") < 0 ||
            exec(s->db, "PRAGMA foreign_keys=ON") < 0 || exec(s->db, "PRAGMA cache_size=-16384") < 0) {
                int code = sqlite3_extended_errcode(s->db) & 0xff;
                r = set_err(err, errlen, "cannot open the store %s: %s%s", path, sqlite3_errmsg(s->db),
                            code == SQLITE_FULL ? " (the disk is full: free some space)" :
                            code == SQLITE_IOERR ? " (check the disk and its free space)" : "");
                store_close(s);
                return r;
        }
        r = migrate(s, path, err, errlen);
        if (r < 0) {
                store_close(s);
                return r;
        }
        if (sqlite3_prepare_v2(s->db, "SELECT max(seq) FROM events WHERE node = ?", -1, &s->max_seq, NULL) ||
            sqlite3_prepare_v2(s->db, "SELECT hlc, wall, operator, type, app, part, body FROM events"
                               " WHERE node = ? AND seq = ?", -1, &s->find, NULL) ||
            sqlite3_prepare_v2(s->db, "SELECT max(hlc) FROM events WHERE hlc <= ?", -1, &s->max_hlc, NULL) ||
            sqlite3_prepare_v2(s->db,
                               "INSERT INTO events(node, seq, hlc, wall, operator, type, app, part, body)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &s->insert, NULL)) {
                r = set_err(err, errlen, "cannot prepare the store %s: %s", path, sqlite3_errmsg(s->db));
                store_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

void store_close(store *s)
{
        if (!s)
                return;
        sqlite3_finalize(s->max_seq);
        sqlite3_finalize(s->max_hlc);
        sqlite3_finalize(s->insert);
        sqlite3_finalize(s->find);
        sqlite3_close_v2(s->db);
        free(s);
}

sqlite3 *store_db(store *s)
{
        return s->db;
}

const char *store_errmsg(store *s)
{
        return sqlite3_errmsg(s->db);
}

int store_begin(store *s)
{
        return exec(s->db, "BEGIN IMMEDIATE");
}

int store_commit(store *s)
{
        return exec(s->db, "COMMIT");
}

void store_set_wait(store *s, unsigned max_ms, void (*waiting)(void *ud, unsigned waited_s), void *ud)
{
        s->busy_max_ms = max_ms;
        s->waiting = waiting;
        s->waiting_ud = ud;
}

int store_commit_and_yield(store *s)
{
        if (store_commit(s) < 0)
                return -1;
        /* longer than the waiters' slowest poll: one of them takes it now */
        sqlite3_sleep(STORE_YIELD_MS);
        return store_begin(s) < 0 ? -2 : 0;
}

void store_rollback(store *s)
{
        if (!sqlite3_get_autocommit(s->db))
                exec(s->db, "ROLLBACK");
}

int store_error(store *s)
{
        switch (sqlite3_extended_errcode(s->db) & 0xff) {
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_IOERR:
                return -EIO;
        case SQLITE_BUSY:
                return -EBUSY;
        default:
                return -EPROTO;
        }
}

int store_copy_file(const char *from, const char *to, char *err, size_t errlen)
{
        sqlite3 *src = NULL, *dst = NULL;
        sqlite3_backup *b;
        int rc;

        rc = sqlite3_open_v2(from, &src, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_busy_timeout(src, 30000);
                if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
                        rc = sqlite3_errcode(dst);
                } else {
                        while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
                                sqlite3_sleep(50);
                        rc = sqlite3_backup_finish(b);
                }
        }
        if (rc != SQLITE_OK)
                snprintf(err, errlen, "%s: %s", from, src ? sqlite3_errmsg(src) : "out of memory");
        sqlite3_close(dst);
        sqlite3_close(src);
        return rc == SQLITE_OK ? 0 : -EIO;
}

int store_quick_check(const char *path, bool *ok, char *first, size_t firstlen)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int rows = 0, rc = SQLITE_OK;

        *ok = false;
        first[0] = '\0';
        if ((rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL)) != SQLITE_OK ||
            (sqlite3_busy_timeout(db, 10000), (rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL))) !=
                    SQLITE_OK) {
                snprintf(first, firstlen, "%s", sqlite3_errmsg(db));
        } else {
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        const char *t = (const char *)sqlite3_column_text(st, 0);
                        if (rows++ == 0) {
                                snprintf(first, firstlen, "%s", t ? t : "?");
                                *ok = t && strcmp(t, "ok") == 0;
                        }
                }
                if (rc != SQLITE_DONE) {
                        snprintf(first, firstlen, "%s", sqlite3_errmsg(db));
                        *ok = false;
                } else {
                        rc = SQLITE_OK;         /* the check ran: its rows say */
                }
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        rc &= 0xff;
        return rc == SQLITE_OK ? 0 : rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? -EBADMSG : -EIO;
}

static long long one(sqlite3 *db, const char *sql, const char *arg)
{
        sqlite3_stmt *st;
        long long v = -1;

        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                return -1;
        if (arg)
                sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static void meta_into(sqlite3 *db, const char *key, char *buf, size_t n)
{
        sqlite3_stmt *st;

        buf[0] = '\0';
        if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
                return;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
}

/* The counts and names of a summary, read from db. */
static void summarize(sqlite3 *db, struct store_summary *r)
{
        meta_into(db, "node", r->node, sizeof r->node);
        meta_into(db, "role", r->role, sizeof r->role);
        meta_into(db, "name", r->name, sizeof r->name);
        r->events = one(db, "SELECT count(*) FROM events", NULL);
        r->apps = one(db, "SELECT count(*) FROM apps", NULL);
        r->own_seq = one(db, "SELECT coalesce(max(seq), 0) FROM events WHERE node = ?", r->node);
        r->schema = one(db, "PRAGMA user_version", NULL);
}

int store_summary_read(const char *path, struct store_summary *ret)
{
        sqlite3 *db = NULL;

        memset(ret, 0, sizeof *ret);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                sqlite3_close(db);
                return -EIO;
        }
        summarize(db, ret);
        sqlite3_close(db);
        return ret->node[0] && ret->role[0] ? 0 : -EINVAL;
}

void store_summary_of(store *s, struct store_summary *ret)
{
        memset(ret, 0, sizeof *ret);
        summarize(s->db, ret);
        ret->quick_ok = one(s->db, "SELECT count(*) FROM pragma_quick_check WHERE quick_check <> 'ok'", NULL) == 0;
}

int store_meta_keys(store *s, const char *prefix, char ***ret)
{
        sqlite3_stmt *st;
        char **v = NULL;
        size_t k = 0, plen = strlen(prefix);
        int rc;

        if (sqlite3_prepare_v2(s->db, "SELECT substr(key, ?2 + 1) FROM meta WHERE substr(key, 1, ?2) = ?1"
                               " AND value <> '' ORDER BY key", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)plen);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char **nv = realloc(v, (k + 2) * sizeof *v);
                if (!nv)
                        break;
                v = nv;
                if (!(v[k] = strdup((const char *)sqlite3_column_text(st, 0))))
                        break;
                v[++k] = NULL;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                if (v)
                        v[k] = NULL;
                store_meta_keys_free(v);
                return -EIO;
        }
        if (!v && !(v = calloc(1, sizeof *v)))
                return -ENOMEM;
        *ret = v;
        return 0;
}

void store_meta_keys_free(char **keys)
{
        for (size_t i = 0; keys && keys[i]; i++)
                free(keys[i]);
        free(keys);
}

int store_meta_delete_prefix(store *s, const char *prefix)
{
        sqlite3_stmt *st;
        int rc;

        if (sqlite3_prepare_v2(s->db, "DELETE FROM meta WHERE substr(key, 1, ?2) = ?1", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)strlen(prefix));
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_meta_get(store *s, const char *key, char **ret)
{
        sqlite3_stmt *st;
        int r = -ENOENT;

        if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        switch (sqlite3_step(st)) {
        case SQLITE_ROW:
                *ret = strdup((const char *)sqlite3_column_text(st, 0));
                r = *ret ? 0 : -ENOMEM;
                break;
        case SQLITE_DONE:
                break;
        default:
                r = -EIO;
        }
        sqlite3_finalize(st);
        return r;
}

int store_meta_set(store *s, const char *key, const char *value)
{
        sqlite3_stmt *st;
        int r;

        if (!value) {
                if (sqlite3_prepare_v2(s->db, "DELETE FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
                        return -EIO;
                sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
                r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
                sqlite3_finalize(st);
                return r;
        }
        if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL) !=
            SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
        sqlite3_finalize(st);
        return r;
}

static int64_t one_int(sqlite3_stmt *st, bool *ok)
{
        int64_t v = 0;
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        else
                *ok = false;
        sqlite3_reset(st);
        return v;
}

/* The one INSERT of an event, for local and received ones alike. */
static int insert_event(store *s, const struct event *ev)
{
        int rc;

        sqlite3_bind_text(s->insert, 1, ev->node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->insert, 2, ev->seq);
        sqlite3_bind_int64(s->insert, 3, (sqlite3_int64)ev->hlc);
        sqlite3_bind_int64(s->insert, 4, ev->wall_ms);
        sqlite3_bind_text(s->insert, 5, ev->operator, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->insert, 6, ev->type, -1, SQLITE_STATIC);
        if (ev->app)
                sqlite3_bind_text(s->insert, 7, ev->app, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(s->insert, 7);
        sqlite3_bind_text(s->insert, 8, ev->part, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->insert, 9, ev->body, -1, SQLITE_STATIC);
        rc = sqlite3_step(s->insert);
        sqlite3_reset(s->insert);
        sqlite3_clear_bindings(s->insert);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

static bool meta_has(store *s, const char *key)
{
        char *v = NULL;
        bool has = store_meta_get(s, key, &v) == 0;

        free(v);
        return has;
}

bool store_restore_pending(store *s)
{
        return meta_has(s, STORE_RESTORE_PENDING);
}

bool store_new_epoch(store *s)
{
        return meta_has(s, STORE_RESTORE_EPOCH);
}

int64_t store_seq_floor(store *s)
{
        char *v = NULL;
        int64_t f = 0;

        if (store_meta_get(s, STORE_SEQ_FLOOR, &v) == 0)
                f = strtoll(v, NULL, 10);
        free(v);
        return f > 0 ? f : 0;
}

/* What a restore left that decides how node may write, in one read of
 * the meta table (store_append runs it for every event): whether
 * writing is held, and node's floor (the floor is this node's own). */
static int restore_state(store *s, const char *node, bool *held, int64_t *floor)
{
        sqlite3_stmt *st;
        bool pending = false, epoch = false, own = false;
        int64_t f = 0;
        int rc;

        if (sqlite3_prepare_v2(s->db, "SELECT key, value FROM meta WHERE key IN ('node', '" STORE_RESTORE_PENDING "', '"
                               STORE_RESTORE_EPOCH "', '" STORE_SEQ_FLOOR "')", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
                if (strcmp(k, "node") == 0)
                        own = v && strcmp(v, node) == 0;
                else if (strcmp(k, STORE_RESTORE_PENDING) == 0)
                        pending = true;
                else if (strcmp(k, STORE_RESTORE_EPOCH) == 0)
                        epoch = true;
                else if (v)
                        f = strtoll(v, NULL, 10);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return -EIO;
        *held = pending && !epoch;
        *floor = own && f > 0 ? f : 0;
        return 0;
}

bool store_writes_held(store *s)
{
        return store_restore_pending(s) && !store_new_epoch(s);
}

int store_restore_done(store *s)
{
        int r = store_meta_set(s, STORE_RESTORE_PENDING, NULL);

        return r < 0 ? r : store_meta_set(s, STORE_RESTORE_EPOCH, NULL);
}

int store_append(store *s, struct event *ev)
{
        struct hlc h;
        bool ok = true, held;
        int64_t floor;
        int rc;

        /* a restored home has not yet fetched back what it sent after its
         * backup: a sequence number taken now could be one it signed
         * before, unless a new epoch put its numbers above all of those */
        if ((rc = restore_state(s, ev->node, &held, &floor)) < 0)
                return rc;
        if (held)
                return -EROFS;

        if (!ev->wall_ms)
                ev->wall_ms = (int64_t)hlc_now_ms();
        sqlite3_bind_text(s->max_seq, 1, ev->node, -1, SQLITE_STATIC);
        ev->seq = one_int(s->max_seq, &ok) + 1;
        if (ev->seq < floor)
                ev->seq = floor;
        /* the clock follows stamps seen, but none beyond the bound that
         * ingest enforces (one taken before the bound existed would
         * otherwise hold every later stamp, or stop the clock) */
        sqlite3_bind_int64(s->max_hlc, 1,
                           (sqlite3_int64)hlc_make((uint64_t)ev->wall_ms + HLC_MAX_AHEAD_MS, HLC_LOGICAL_MASK));
        h.last = (uint64_t)one_int(s->max_hlc, &ok);
        if (!ok)
                return -EIO;
        rc = hlc_tick(&h, (uint64_t)ev->wall_ms, &ev->hlc);
        if (rc < 0)
                return rc;
        return insert_event(s, ev);
}

int store_insert_remote(store *s, const struct event *ev, bool fresh)
{
        sqlite3_stmt *st = s->find;
        int rc;

        if (fresh)
                goto insert;
        sqlite3_bind_text(st, 1, ev->node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ev->seq);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const char *app = (const char *)sqlite3_column_text(st, 4);
                bool same = (uint64_t)sqlite3_column_int64(st, 0) == ev->hlc && sqlite3_column_int64(st, 1) == ev->wall_ms &&
                            strcmp((const char *)sqlite3_column_text(st, 2), ev->operator) == 0 &&
                            strcmp((const char *)sqlite3_column_text(st, 3), ev->type) == 0 &&
                            ((!app && !ev->app) || (app && ev->app && strcmp(app, ev->app) == 0)) &&
                            strcmp((const char *)sqlite3_column_text(st, 5), ev->part) == 0 &&
                            strcmp((const char *)sqlite3_column_text(st, 6), ev->body) == 0;
                sqlite3_reset(st);
                return same ? -EEXIST : -EBADMSG;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return -EIO;
insert:
        return insert_event(s, ev);
}

int64_t store_next_seq(store *s, const char *node)
{
        bool ok = true;
        int64_t n;

        int64_t floor;
        bool held;

        if (restore_state(s, node, &held, &floor) < 0)
                return -1;
        sqlite3_bind_text(s->max_seq, 1, node, -1, SQLITE_STATIC);
        n = one_int(s->max_seq, &ok);
        if (!ok)
                return -1;
        return n + 1 < floor ? floor : n + 1;
}

int64_t store_nevents(store *s)
{
        sqlite3_stmt *st;
        int64_t n = -1;

        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM events", -1, &st, NULL) != SQLITE_OK)
                return -1;
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}
