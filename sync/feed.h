/* Feeds in git: a node's events as change sets on single-writer refs
 * refs/feeds/<partition>/<writer>, ingest of other writers' feeds, and
 * the transfer of feeds with another repository (libgit2 fetch/push).
 * See docs/change-set.md and docs/sync.md. */
#ifndef DAIBAN_SYNC_FEED_H
#define DAIBAN_SYNC_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/roster.h"
#include "sync/sshsig.h"
#include "sync/store.h"

struct cs_event;

#define FEED_PREFIX "refs/feeds/"
#define FEED_INCOMING "refs/incoming/feeds/"
#define FEED_EVIDENCE "refs/evidence/"

/* Which partitions a node may hold: its own (and, for a township, those
 * of its villages; the county: all). Decided from division codes: a
 * village's code starts with its township's. */
bool feed_entitled(const char *self, const char *partition);

/* Split "refs/feeds/<partition>/<writer>" (or the incoming form). */
bool feed_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen);
/* The same for any "<prefix><partition>/<writer>" (or "<incoming>..."). */
bool feed_split_ref(const char *ref, const char *prefix, const char *incoming, char *partition, size_t plen,
                    char *writer, size_t wlen);

struct feed_report {
        int committed;          /* change sets made from local events */
        long committed_events;
        int ingested_feeds;
        long ingested_events;   /* new events stored */
        long duplicate_events;  /* already held (a duplicated delivery) */
        int refused;            /* feeds refused (reason in the log callback) */
        int updated_refs;       /* incoming refs moved into refs/feeds */
};

/* Messages for the operator and the log (English). */
typedef void (*feed_log_fn)(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Turn this node's events not yet on its feeds into change sets (one
 * commit per partition per batch of at most CHANGESET_MAX_EVENTS). A
 * crash between the store and the commit only delays the commit: the
 * position is read back from the feed itself. Each commit is signed with
 * key (sync/signed.h). */
int feed_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key,
                      struct feed_report *rep, feed_log_fn log, void *ud);

/* Trust: ro is the county's roster this node holds (sync/roster.h), or
 * NULL when it holds none. Every change set that comes in must then be
 * signed by a key the roster gives its writer for its seqs (change sets
 * from before the writer's signatures began excepted); a signature that
 * does not verify is refused with or without a roster. */

/* Equivocation kept as evidence: a writer that signed two different
 * histories of one feed (a PC restored from an old backup, a copied
 * key). The history offered second is kept at
 * refs/evidence/<part>/<writer>/<its head>; the feed held stays. */
struct feed_evidence {
        char part[32], writer[32];
        git_oid held, other;            /* the two signed heads */
        int64_t from_seq, to_seq;       /* the seqs in dispute */
};
int feed_evidence_list(git_repository *repo, struct feed_evidence **ret, size_t *ret_n);

/* Feed ref is held at held and offered at other, which does not continue
 * it. When other's change sets after the two part are signed as the
 * roster requires of the writer, keep other as evidence (copy_objects:
 * first write its objects into repo's own store, for a push whose objects
 * git would discard) and return 1 with the alarm in msg; 0 with the
 * reason it is refused in msg when it is not an equivocation; -EIO. The
 * offered history is never followed either way. */
int feed_equivocation(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                      const git_oid *other, bool copy_objects, char *msg, size_t msglen);

/* The same check, keeping nothing: 1 when other is a second history of
 * ref's writer beside held, signed as the roster requires (evidence a
 * node passes on to the county), 0 with the reason in msg, -EIO. */
int feed_evidence_genuine(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                          const git_oid *other, char *msg, size_t msglen);

/* refs/evidence/<part>/<writer>/<hex>: its parts, and the feed it is
 * about in feed (FEED_PREFIX<part>/<writer>). */
bool feed_parse_evidence(const char *ref, char *part, size_t plen, char *writer, size_t wlen, git_oid *head,
                         char *feed, size_t flen);

/* The seqs a change-set commit announces (changeset.json's first_seq
 * and last_seq; not checked). 0 or -EINVAL. */
int feed_commit_seqs(git_repository *repo, const git_oid *id, int64_t *first, int64_t *last);

/* What a receiver trusts of what comes in. ro: the county's roster, who
 * may sign which seqs (NULL: no roster held yet, signatures are not
 * required). admit: the receiver's own rule for what a writer may say,
 * asked of every new event before its feed's ref can move (NULL: no
 * rule); it returns 0, or non-zero with the reason in err, and is called
 * from a preparing thread, one call at a time. */
struct feed_trust {
        const struct roster *ro;
        int (*admit)(void *ud, const struct cs_event *e, char *err, size_t errlen);
        void *ud;
        /* a home restored from a backup catching up: this node's own
         * feeds, as the hall holds them, are taken when they extend what
         * is held (signed with this node's key as the roster requires),
         * and ingested like another writer's */
        bool catch_up_own;
};

/* Move fetched or imported refs from FEED_INCOMING into FEED_PREFIX when
 * they are entitled, not this node's own, and fast-forwards of what is
 * held whose new change sets parse strictly and are signed as the roster
 * requires; anything else is refused and reported, and the held ref does
 * not move. */
int feed_accept_incoming(git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                         feed_log_fn log, void *ud);

/* Ingest every entitled feed of another writer from its last ingested
 * commit to its head: parse each change set strictly, store new events
 * and the new head in one transaction per feed, fold what they touch.
 * A refused feed leaves the store as it was. */
int feed_ingest(store *s, git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                feed_log_fn log, void *ud);

/* The far side of a transfer: a path, file:// or http(s):// URL; a
 * bearer token for the hall (or NULL); the SHA-256 of the hall's
 * certificate (64 hex digits) to pin it, or NULL to use the system's
 * certificate authorities. */
struct feed_seen;
struct feed_remote {
        const char *url, *token, *pin;
        struct feed_seen *seen; /* optional: what feed_fetch saw, so that
                                 * feed_push skips refs the remote holds */
        struct feed_clock *clock;       /* optional: the hall's clock, from a push */
};

/* The hall's clock as a push saw it: the hall's pre-receive hook says
 * "daiban: hall time <ms>" first; local_ms is this PC's clock as the
 * line arrived (UTC milliseconds both). */
struct feed_clock {
        int64_t hall_ms, local_ms;
        bool valid;
};
#define FEED_HALL_TIME "daiban: hall time "

/* The refs a fetch saw advertised (feed_fetch fills it when given). */
struct feed_seen {
        char **names;
        git_oid *ids;
        size_t n;
        bool valid;
};
void feed_seen_free(struct feed_seen *s);

/* Print transfer progress on stderr during fetch and push (the CLI sets
 * it when stderr is a terminal). */
extern bool feed_show_progress;

/* Fetch the feeds this node may hold into FEED_INCOMING. 0 or -EIO with
 * a message logged (a certificate that does not match the pin says so). */
int feed_fetch(git_repository *repo, const struct feed_remote *rm, const char *self, feed_log_fn log, void *ud);
/* Push this node's feeds and those it relays (feed_may_write),
 * fast-forward only: fetch and accept first, so what is pushed is never
 * behind the remote. 0; -EPERM when the far side refused a ref (its
 * reasons are logged, "remote: ..."); -EIO when the transfer failed. */
int feed_push(git_repository *repo, const struct feed_remote *rm, const char *self, feed_log_fn log, void *ud);

/* Push refspecs ("src:dst", no '+') with the transfer's callbacks: the
 * far side's refusals are logged. 0, -EPERM (a ref refused), -EIO. */
int feed_push_specs(git_repository *repo, const struct feed_remote *rm, char **specs, size_t n, feed_log_fn log,
                    void *ud);

/* List the far side's refs under prefix (as a push sees them). cb's
 * non-zero return stops and is returned. */
int feed_remote_ls(git_repository *repo, const struct feed_remote *rm, const char *prefix,
                   int (*cb)(const char *name, const git_oid *id, void *payload), void *payload, feed_log_fn log,
                   void *ud);

/* Quarantine for what comes in on a stick: between begin and end, the
 * packs feed_bundle_import reads go into a repository of their own
 * (REPO/daiban-quarantine, which repo's handle reads as an alternate),
 * with the incoming refs that name them; the objects a ref reaches are
 * written into the repository's own store (feed_quarantine_keep, from
 * held, or NULL, to the new head) only when the ref is accepted, before
 * it moves; end removes the rest: a refused feed leaves no object, and a
 * crash no ref without its objects. One quarantine at a time per process.
 * The incoming refs are read and dropped through feed_incoming_*, which
 * look in the quarantine while one is open. */
int feed_quarantine_begin(git_repository *repo);
int feed_quarantine_keep(git_repository *repo, const git_oid *held, const git_oid *to);
void feed_quarantine_end(git_repository *repo);
int feed_incoming_id(git_repository *repo, const char *name, git_oid *out);
void feed_incoming_drop(git_repository *repo, const char *name);
int feed_incoming_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n);

/* Move ref local to inc when that is a fast-forward or a new ref: 0
 * (*ret_moved says whether it moved), -EINVAL for a rewrite (err), -EIO. */
int feed_ff_update(git_repository *repo, const char *local, const git_oid *inc, bool *ret_moved, char *err,
                   size_t errlen);

/* May pusher update refs/feeds/<part>/<writer>? Only within the
 * partitions it may hold, and only its own feeds or those of a node
 * under it that it relays (a township carrying its villages' feeds). */
bool feed_may_write(const char *pusher, const char *part, const char *writer);

/* Would moving ref to new_head be ingested? Runs the strict ingest of
 * the new change sets inside a transaction that is rolled back: the
 * hall's pre-receive check, so a bad batch never lands in its
 * repository. 0; -EINVAL with the reason in err; -EIO. */
int feed_verify(store *s, git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *new_head,
                char *err, size_t errlen);


/* USB bundles (git bundle v2 files that stock `git bundle verify`
 * accepts). Export writes, atomically, DIR/daiban-<self>-to-<target>.bundle
 * holding the full history of every feed the target may hold (its own
 * partition, and below it): a feed is small, and a full bundle needs no
 * prerequisites on the far side. Import reads every DIR/daiban-<sender>-to-<self>.bundle
 * (at most FEED_BUNDLE_MAX bytes), checks its header, indexes its pack and
 * offers its refs as incoming feeds; the caller then accepts and ingests
 * them as after a fetch. */
#define FEED_BUNDLE_MAX (512u * 1024u * 1024u)
int feed_bundle_export(git_repository *repo, const char *dir, const char *self, const char *target, long *ret_refs,
                       feed_log_fn log, void *ud);
int feed_bundle_import(git_repository *repo, const char *dir, const char *self, char ***ret_senders, size_t *ret_n,
                       feed_log_fn log, void *ud);

/* Parse a bundle's header: returns the offset of the pack, fills refs
 * (names and ids, malloc'ed arrays). -EINVAL with a message for anything
 * but a v2 bundle of feed refs without prerequisites. */
int feed_bundle_parse_header(const char *data, size_t len, char ***ret_names, git_oid **ret_ids, size_t *ret_n,
                             size_t *ret_pack_off, char *err, size_t errlen);

#endif
