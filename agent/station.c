/* HOME/station.db: passwords, sessions, drafts. See station.h. */
#include "agent/station.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <uv.h>

static const char schema[] =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS passwords(operator TEXT PRIMARY KEY, hash TEXT NOT NULL,"
        " set_at INTEGER NOT NULL) WITHOUT ROWID;"
        /* the token is stored as its SHA-256 hex: a copy of the file
         * does not hand out sessions (the CSRF token alone is no use) */
        "CREATE TABLE IF NOT EXISTS sessions(token TEXT PRIMARY KEY, operator TEXT NOT NULL, csrf TEXT NOT NULL,"
        " created INTEGER NOT NULL, used INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS drafts(operator TEXT NOT NULL, id TEXT NOT NULL, matter TEXT NOT NULL,"
        " body TEXT NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY(operator, id)) WITHOUT ROWID;";

int station_open(const char *home_dir, sqlite3 **ret, char *err, size_t errlen)
{
        char path[4096];
        sqlite3 *db = NULL;
        char *msg = NULL;

        *ret = NULL;
        if (sodium_init() < 0) {
                snprintf(err, errlen, "libsodium failed to start");
                return -1;
        }
        snprintf(path, sizeof path, "%s/station.db", home_dir);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
                snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
                sqlite3_close(db);
                return -1;
        }
        sqlite3_busy_timeout(db, 10000);
        if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
                snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
                sqlite3_free(msg);
                sqlite3_close(db);
                return -1;
        }
        *ret = db;
        return 0;
}

int station_set_password(sqlite3 *db, const char *op, const char *password)
{
        char hash[crypto_pwhash_STRBYTES];
        sqlite3_stmt *st;
        int rc;

        if (crypto_pwhash_str_alg(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
                return -1;
        if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO passwords(operator, hash, set_at) VALUES (?, ?, ?)", -1, &st,
                               NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return -1;
        /* a new password ends the operator's sessions (a stolen one too) */
        if (sqlite3_prepare_v2(db, "DELETE FROM sessions WHERE operator = ?", -1, &st, NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
}

static int lookup(sqlite3 *db, const char *op, char *hash, size_t n)
{
        sqlite3_stmt *st;
        int found = 0;

        if (sqlite3_prepare_v2(db, "SELECT hash FROM passwords WHERE operator = ?", -1, &st, NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
                snprintf(hash, n, "%s", (const char *)sqlite3_column_text(st, 0));
                found = 1;
        }
        sqlite3_finalize(st);
        return found;
}

bool station_has_password(sqlite3 *db, const char *op)
{
        char hash[crypto_pwhash_STRBYTES];

        return lookup(db, op, hash, sizeof hash) == 1;
}

/* An operator without a password still costs one hash, so the time of
 * an answer does not tell who exists. Made once, whichever thread of
 * the pool asks first. */
static char dummy[crypto_pwhash_STRBYTES];
static uv_once_t dummy_once = UV_ONCE_INIT;

static void make_dummy(void)
{
        if (crypto_pwhash_str_alg(dummy, "-", 1, crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0)
                dummy[0] = '\0';
}

int station_check_password(sqlite3 *db, const char *op, const char *password)
{
        char hash[crypto_pwhash_STRBYTES];
        int found = lookup(db, op, hash, sizeof hash);

        if (found < 0)
                return -1;
        if (!found) {
                uv_once(&dummy_once, make_dummy);
                if (!dummy[0])
                        return -1;
                if (crypto_pwhash_str_verify(dummy, password, strlen(password)) == 0)
                        return 0;       /* "-" is no password anyone can set */
                return 0;
        }
        return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
