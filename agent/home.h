/* A node's home: the folder that holds its store (store.db), its git
 * repository for change sets and scanned materials (repo/), and the
 * installed catalogue (catalog/). See docs/store.md.
 *
 * The module never prints. A function that can fail for a reason a
 * person must read takes a struct core_result (agent/core/result.h),
 * sets its status, code and message in both languages there, and
 * returns the status (0, CORE_OK, on success; a function answering a
 * descriptor returns -1 instead); lower-level helpers return 0 or
 * -errno. The CLI's wrappers at the end of this header (agent/cli-home.c)
 * print that message and return an exit code.
 *
 * home.c opens and closes a home; home-init.c makes one; home-key.c
 * holds its key; home-lock.c its locks; home-catalog.c its catalogue
 * versions; home-alarms.c what supervision is told. */
#ifndef DAIBAN_AGENT_HOME_H
#define DAIBAN_AGENT_HOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forms/catalog.h"
#include "sync/sshsig.h"
#include "sync/store.h"

#define HOME_MAX_FILE_DEFAULT (20u * 1024u * 1024u)   /* scanned material cap */

#define HOME_CATALOG_CACHE 4

struct home {
        char *dir;
        store *st;
        catalog *cat;                           /* the current version */
        char *catalog_version;                  /* its id (40 hex) */
        struct {
                char version[41];
                catalog *cat;
        } older[HOME_CATALOG_CACHE];            /* other versions, loaded on demand */
        char *node;                             /* this node's division code */
        char *role;                             /* village, township, county */
        char *name;
        const struct cat_division *div;
        struct sshsig_key *key;                 /* loaded by home_key */
};

/* Whether operator op may act at this home's node: HOME_OP_ACTIVE, or
 * HOME_OP_DISABLED ('daiban operator disable'), HOME_OP_UNKNOWN (not
 * registered here), -EIO when the store cannot say (busy, an I/O error). */
enum { HOME_OP_ACTIVE = 1, HOME_OP_DISABLED = 2, HOME_OP_UNKNOWN = 0 };
int home_operator_state(struct home *h, const char *op);

/* The county key a node is told at its setup (--county-key: a public key
 * line, a file holding one, a fingerprint "SHA256:..." or its spoken
 * form) as the pin the roster is checked against. 0 or -EINVAL. */
int home_county_pin(const char *arg, char *pin, size_t len);

/* The home folder: --home, else $DAIBAN_HOME, else
 * $XDG_DATA_HOME/daiban, else ~/.local/share/daiban. Never NULL. */
/* The files of a home that only its owner may read (NULL-terminated);
 * opening a home makes them so again. */
extern const char *const home_private_files[];

const char *home_path(const char *opt);

/* Create a home (`daiban init`): the status (CORE_USAGE for a bad
 * option), why in res; on success what was made (core_done). */
struct home_init_opts {
        const char *name;               /* NULL: the division's */
        const char *county_key;         /* a township's or village's pin of its county's key */
        const char *key_file;           /* this node's key kept from before; NULL: a new one */
        bool rejoin;                    /* a node that exists already (a re-imaged PC): write
                                         * nothing until a sync brings its own history back */
};
struct core_result;
int home_create(const char *dir, const char *node, const char *role, const char *catalog_dir,
                const struct home_init_opts *opt, struct core_result *res);

/* The version id of a catalogue folder: a SHA-1 over its sheets (name,
 * size and bytes of every *.csv, in name order). 0 or -errno. */
int home_catalog_version(const char *dir, char hex[41]);

/* Install the catalogue at src as a version of this home
 * (HOME/catalogs/<version>/, written under a temporary name and renamed)
 * and make it current. The status, why in res. */
int home_catalog_install(const char *home_dir, const char *src, store *st, char hex[41], struct core_result *res);

/* The catalogue of a given version (NULL or "" : the current one), or
 * NULL when this home has not received that version yet. */
const catalog *home_catalog_for(struct home *h, const char *version);

/* Open an existing home: store and catalogue. home_load says why it
 * cannot in res and returns its status, 0 when open. */
int home_load(const char *dir, struct home *h, struct core_result *res);
void home_close(struct home *h);

/* This home's repository (HOME/repo), opened for writing (libgit2's
 * fsync of the git folder on): 0 with libgit2 initialised and *ret to
 * free, the caller shutting libgit2 down after; or the status, why in
 * res, and libgit2 as it was. */
struct git_repository;
int home_repo_open(const struct home *h, struct git_repository **ret, struct core_result *res);

/* This node's signing key, HOME/node.key (an OpenSSH private key, mode
 * 0600, never replicated): read on first use, and created then for a
 * home made before keys. The status, why in res. */
int home_key_load(struct home *h, const struct sshsig_key **ret, struct core_result *res);
/* Create HOME/node.key if it does not exist (`daiban init`). 0 or -errno;
 * a message in err. */
int home_key_create(const char *dir, const char *node, char *err, size_t errlen);

/* Reopen h when its current catalogue changed under it (a sync
 * installed a version, the county published one, the CLI did): 1
 * reopened, 0 unchanged, -1 cannot be reopened (h is kept as it was;
 * why in res). */
int home_reload(struct home *h, struct core_result *res);

/* The largest scan accepted: $DAIBAN_MAX_FILE_BYTES, else
 * HOME_MAX_FILE_DEFAULT. */
size_t home_max_file_bytes(void);

/* Read blob hex (40 hex digits) of the repository at repo_dir into a
 * malloc'ed buffer. 0, or -1 when it is not there. */
int home_read_blob(const char *repo_dir, const char *hex, void **ret, size_t *len);

/* Take this home's repository lock (an flock on HOME/repo.flock, held
 * until the process ends or home_unlock_repo) before writing refs. A
 * daiban killed while git held a ref's .lock file leaves it behind, and
 * git would refuse that ref for ever: with the flock held no other daiban
 * is writing, so every *.lock under repo/ is stale and is removed.
 * Each removed is told to log (may be NULL). Without wait, -2 when
 * another process holds the lock. Returns the lock's descriptor, or -1
 * with the reason in res. */
typedef void home_log_fn(void *ud, const char *fmt, ...);
int home_repo_lock(const struct home *h, bool wait, home_log_fn *log, void *ud, struct core_result *res);
void home_unlock_repo(int fd);
/* One daemon of each kind per home (which: "serve", the station, or
 * "hall", the county's hall): an flock on HOME/<which>.lock held while it
 * runs. Returns its descriptor (keep it open), or -1 with the reason in
 * res: another such daemon holds it. */
int home_daemon_lock(const struct home *h, const char *which, struct core_result *res);
/* True while such a daemon holds dir's lock (for `daiban doctor`). */
bool home_daemon_running(const char *dir, const char *which);
/* The same for another home's repository used as a path remote (a hub):
 * its lock, and its stale .lock files removed. -1 when it has no lock
 * file (not a daiban home's repository). */
int home_lock_peer_repo(const char *repo_dir, home_log_fn *log, void *ud);

/* The county's roster this node trusts, after taking a roster that came
 * in (fetched or imported; sync/roster.h): *ro (roster_free it), and
 * *ret_present false when the node holds none. Problems go to log. 0, or
 * -1 when the roster held cannot be trusted: then ingest nothing. */
struct roster;
int home_roster(struct home *h, struct git_repository *repo, struct roster *ro, bool *ret_present,
                void (*log)(void *, const char *, ...), void *ud);

/* The catalogue feed (sync/catfeed.h) after a fetch or an import: the
 * county publishes its current version; another node accepts the
 * fetched chain (fast-forward only) and installs, in order, every
 * version it lacks that matches its announced id, checks clean and lists
 * this node; the newest installed becomes current. Messages go to log.
 * Returns 0, or negative when something was refused (the rest still
 * goes in); *ret_installed counts the versions installed. */
int home_sync_catalog(struct home *h, struct git_repository *repo, int *ret_installed,
                      void (*log)(void *, const char *, ...), void *ud);

/* Alarms for supervision: every equivocation this node holds evidence
 * of (sync/feed.h, feed_evidence_list), as JSON objects {kind, writer,
 * partition, from_seq, to_seq, held, other, en, zh} where en and zh say
 * what happened and what to do. Never NULL. */
#include <jansson.h>
json_t *home_alarms(const struct home *h);

/* What the hall refused, one JSON line each ({"at","node","ref","why"}),
 * for the county's supervision: home_alarms lists the last 30 days'. */
#define HOME_REFUSALS "hall/refused.jsonl"
void home_refusal_note(const char *path, const char *node, const char *msg);
/* A line of a node's report (sync/report.h) noted in path with who
 * reported it; false (not noted) when it is not a refusal of a node
 * below the reporter. */
bool home_refusal_note_reported(const char *path, const char *by, const char *text);
/* Refusals a node made at a USB import, waiting for its next report. */
/* The day (days since 1970, China time) a new epoch began at an offline
 * restore: receipt numbers of that day and before start at 501, above
 * any the lost PC could have given that day (store.h STORE_SEQ_FLOOR). */
#define HOME_EPOCH_DAY "epoch.day"
#define HOME_EPOCH_RECEIPTS 500
/* A county restored from a backup changes neither its roster nor its
 * catalogue until `daiban hall resume`: the nodes may hold newer ones of
 * its chains, which come back with their syncs (docs/backup.md).
 * CORE_REFUSED with why in res while so, else 0. */
int home_county_held(struct home *h, struct core_result *res);

#define HOME_REPORT_PENDING "reports-pending.jsonl"

/* This node's keys for `daiban status`: {fingerprint (absent before the
 * first key), county_key_pinned (or null), roster (does the node hold
 * its county's roster), enrolled ({from, until} of the roster's entry
 * for this node's key, or null)}. */
json_t *home_keys(struct home *h);

/* This node's events the remote does not hold yet (sync.sent_seq
 * against the node's last sequence number): what `daiban status` and
 * the station's banner call waiting. */
long long home_events_waiting(const struct home *h);

/* Today for the CLI: --today if given, else $DAIBAN_TODAY (tests and
 * demos), else the machine's date. */
int32_t home_today(const char *opt, bool *bad);

/* The command line's wrappers (agent/cli-home.c): each calls the
 * function above of the same concern, prints its message through
 * cli_error_both (a stale lock removed: a line on stderr) and returns
 * the CLI's exit code (0, 1, 2), or the descriptor for the locks. Only
 * fronts (cmd-*.c, the daemons' start-up) call them. */
int home_init(const char *dir, const char *node, const char *role, const char *catalog_dir,
              const struct home_init_opts *opt);
int home_open(const char *dir, struct home *h);
/* A command's start: its usage on stderr and EXIT_USAGE when bad_usage
 * (operands it does not take...), else home_open(home_path(home_opt)). */
int home_open_cmd(const char *home_opt, bool bad_usage, const char *usage, struct home *h);
int home_key(struct home *h, const struct sshsig_key **ret);
int home_open_repo(const struct home *h, struct git_repository **ret);
int home_install_catalog(const char *home_dir, const char *src, store *st, char hex[41]);
int home_county_restoring(struct home *h);
int home_lock_repo(const struct home *h);
int home_trylock_repo(const struct home *h);
int home_lock_daemon(const struct home *h, const char *which);
/* A stale lock removed, told on stderr (a home_log_fn). */
void home_log_stderr(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
