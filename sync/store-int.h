/* The store's raw SQLite handle, private to sync/: the fold, feeds, scans
 * and the read model (sync/readmodel.c) run their SQL next to the schema;
 * nothing above sync/ sees a database handle. */
#ifndef DAIBAN_SYNC_STORE_INT_H
#define DAIBAN_SYNC_STORE_INT_H

#include <sqlite3.h>

#include "sync/store.h"

sqlite3 *store_db(store *s);

#endif
