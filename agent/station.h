/* The station's local database, HOME/station.db: what belongs to this
 * machine and is never replicated (operators' password hashes, web
 * sessions, drafts being typed). Events stay in store.db; losing
 * station.db loses no application. See docs/store.md. */
#ifndef DAIBAN_AGENT_STATION_H
#define DAIBAN_AGENT_STATION_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#define STATION_MIN_PASSWORD 6          /* characters (bytes of UTF-8) */
#define STATION_MAX_PASSWORD 256

/* Open (creating it and its tables) HOME/station.db. 0 or -1 with a
 * message in err. */
int station_open(const char *home_dir, sqlite3 **ret, char *err, size_t errlen);

/* Set op's password: an argon2id hash (libsodium, interactive limits).
 * 0, or -1 (out of memory for the hash, or the store failed). */
int station_set_password(sqlite3 *db, const char *op, const char *password);
/* 1: the password is op's; 0: it is not, or op has none; -1: error.
 * Takes about as long whether op exists or not. Slow (argon2id): call
 * it off the event loop. */
int station_check_password(sqlite3 *db, const char *op, const char *password);
bool station_has_password(sqlite3 *db, const char *op);

#endif
