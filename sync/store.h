/* The node's store: one SQLite file holding the immutable event log and
 * the tables derived from it by the fold (sync/fold.h).
 *
 * Durability: WAL mode with synchronous=FULL, so a committed transaction
 * survives a power cut; every write is one transaction taken with BEGIN
 * IMMEDIATE, so concurrent processes on one home queue on the write lock
 * (busy timeout) instead of failing or interleaving. Events cannot be
 * updated or deleted (triggers refuse it). Schema changes are migrations
 * keyed by PRAGMA user_version. See docs/store.md. */
#ifndef DAIBAN_SYNC_STORE_H
#define DAIBAN_SYNC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_BUSY_TIMEOUT_MS 30000    /* a write lock is waited for this long */
#define STORE_BUSY_POLL_MS 4            /* and tried this often, for 100 ms, */
#define STORE_BUSY_POLL_SLOW_MS 16      /* then this often */
#define STORE_YIELD_MS 20               /* store_commit_and_yield leaves it free this long */
#define STORE_WAIT_TELL_S 10            /* store_set_wait's function is told this often */

typedef struct store store;

/* Open (create == true: create and initialise) the store at path.
 * Returns 0, or a negative errno-style code with a message in err. A
 * store written by a newer daiban (user_version too high) is refused. */
int store_open(const char *path, bool create, store **ret, char *err, size_t errlen);
void store_close(store *s);

/* The last SQLite error as text, for messages. */
const char *store_errmsg(store *s);

/* One write transaction (BEGIN IMMEDIATE ... COMMIT). store_commit
 * returns 0 only when the transaction is durable. On any error the
 * caller calls store_rollback, which leaves the store as it was. */
int store_begin(store *s);
int store_commit(store *s);
/* How long s waits for another connection's write lock (0: the default,
 * STORE_BUSY_TIMEOUT_MS), and a function told every STORE_WAIT_TELL_S
 * seconds of such a wait, with the seconds so far (NULL: none): a hall's
 * check tells the pusher its push waits its turn. */
void store_set_wait(store *s, unsigned max_ms, void (*waiting)(void *ud, unsigned waited_s), void *ud);
/* For a long writer between its steps: commit, give the lock to whoever
 * waits for it (a few milliseconds; nobody: nothing lost but those), and
 * begin again. 0; -1 when the commit failed; -2 when it was committed
 * but could not begin again (store_errmsg). */
int store_commit_and_yield(store *s);
void store_rollback(store *s);

/* What the last failure of s was, as a negative errno: -ENOSPC (the
 * disk is full), -EIO (an I/O error), -EBUSY (another writer held the
 * lock past the busy timeout), else -EPROTO. */
int store_error(store *s);

/* SQLite's online backup of the database file from into the file to (a
 * store or any other SQLite file of a home), in one step: a WAL
 * reader's snapshot, so writers carry on meanwhile. 0, or -EIO with the
 * reason in err. */
int store_copy_file(const char *from, const char *to, char *err, size_t errlen);

/* PRAGMA quick_check of the store file at path, on a read-only
 * connection of its own (a damaged store is reported, not opened).
 * Returns 0 when the check ran (*ok: it passed; first: its first line),
 * -EBADMSG when it could not run because SQLite found the file damaged
 * (not a database, corrupt), -EIO when it could not run otherwise
 * (locked, unreadable: not known to be damaged); first says why. */
int store_quick_check(const char *path, bool *ok, char *first, size_t firstlen);

/* What a backup's manifest and a restore's report say of a store: its
 * node, role and name (meta), its events, applications and the node's
 * own highest seq, its schema version; quick_ok: quick_check passed
 * (store_summary_of only). */
struct store_summary {
        char node[64], role[32], name[256];
        long long events, apps, own_seq, schema;
        bool quick_ok;
};
/* Of the store file at path, read-only (not migrated): 0, -EIO when it
 * cannot be read, -EINVAL when it names no node or role. */
int store_summary_read(const char *path, struct store_summary *ret);
/* Of an open store, with its quick_check. */
void store_summary_of(store *s, struct store_summary *ret);

/* Node configuration (written by `daiban init`). *ret is malloc'ed;
 * -ENOENT when the key is absent. */
int store_meta_get(store *s, const char *key, char **ret);
/* value NULL removes the key. */
int store_meta_set(store *s, const char *key, const char *value);
/* The keys starting with prefix whose value is not empty, in order: the
 * part after prefix of each, a NULL-terminated array the caller frees
 * (store_meta_keys_free). 0 or -EIO. */
int store_meta_keys(store *s, const char *prefix, char ***ret);
void store_meta_keys_free(char **keys);
/* Remove every key starting with prefix (in the caller's transaction). */
int store_meta_delete_prefix(store *s, const char *prefix);

/* The mark of a home restored from a backup that has not yet fetched
 * back from the hall what it sent after that backup (agent/backup.h).
 * While it is there store_append refuses (-EROFS): a sequence number
 * taken then could be one this node already signed. */
#define STORE_RESTORE_PENDING "restore.pending"
bool store_restore_pending(store *s);

/* A new key epoch (an offline restore, docs/backup.md): this node's own
 * sequence numbers go on from the value of this key, a multiple of
 * 2^32 above every number its previous key could have signed, and
 * store_append writes even while the restore mark is there (what it
 * writes is committed to a feed only once the mark is lifted). */
#define STORE_SEQ_FLOOR "seq.floor"
#define STORE_EPOCH_SPAN ((int64_t)1 << 32)
int64_t store_seq_floor(store *s);
/* The mark of a restore that began a new epoch (an offline restore, a
 * county's restore): with it, a home still marked restored writes
 * (above STORE_SEQ_FLOOR). Lifted with STORE_RESTORE_PENDING; a plain
 * restore removes it, whatever the backup held. */
#define STORE_RESTORE_EPOCH "restore.epoch"
bool store_new_epoch(store *s);
/* Writing refused: restored, not caught up, and no new epoch. */
bool store_writes_held(store *s);
/* Lift the restore mark (and its epoch's), in the caller's transaction. */
int store_restore_done(store *s);

/* An event. node, operator, type, part and body are required; app is
 * NULL for events about no application (an operator added). */
struct event {
        const char *node;
        int64_t seq;            /* per node, from 1, no gaps */
        uint64_t hlc;           /* hybrid logical clock stamp */
        int64_t wall_ms;        /* the writer's wall clock */
        const char *operator;
        const char *type;
        const char *app;
        const char *part;       /* partition: the origin station */
        const char *body;       /* canonical JSON (sorted keys, compact) */
};

/* Append a new local event inside the caller's transaction: assigns
 * ev->seq (next on ev->node) and ev->hlc (after every stamp in the
 * store), and ev->wall_ms when it is 0. Returns 0 or -EIO (see
 * store_errmsg), -EOVERFLOW (clock). */
int store_append(store *s, struct event *ev);

/* Insert an event received from another node, as it is (its seq and
 * stamp were given by its writer), inside the caller's transaction.
 * Returns 0, -EEXIST when the very same event is already stored (a
 * duplicate delivery: nothing to do), -EBADMSG when a different event
 * holds that (node, seq) (the writer equivocated: refuse), -EIO. fresh:
 * the caller knows the seq is above every stored one of that node, so
 * the duplicate check is skipped. */
int store_insert_remote(store *s, const struct event *ev, bool fresh);

/* The seq the next event of node will get (inside a transaction): an
 * application's id is made from its creation event's node and seq. */
int64_t store_next_seq(store *s, const char *node);

/* Count of events (all nodes). */
int64_t store_nevents(store *s);

#endif
