/* Feeds in git: a node's events as change sets on single-writer refs
 * refs/feeds/<partition>/<writer> (feedwrite.c), read and checked
 * (feedread.c), other writers' feeds accepted and ingested (ingest.c),
 * and a writer's second history kept as evidence (evidence.c). Ref names
 * are in refs.h, the transfer in transfer.h, USB bundles in bundle.h.
 * See docs/change-set.md and docs/sync.md. */
#ifndef DAIBAN_SYNC_FEED_H
#define DAIBAN_SYNC_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/roster.h"
#include "sync/sshsig.h"
#include "sync/store.h"

struct cs_event;

struct feed_report {
        int committed;          /* change sets made from local events */
        long committed_events;
        int ingested_feeds;
        long ingested_events;   /* new events stored */
        long duplicate_events;  /* already held (a duplicated delivery) */
        int refused;            /* feeds refused (reason in the log callback) */
        int updated_refs;       /* incoming refs moved into refs/feeds */
};

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
 * A refused feed leaves the store as it was. The round commits what it
 * applied at least every 250 ms, between feeds, so that it never holds
 * the store's write lock for long. */
int feed_ingest(store *s, git_repository *repo, const char *self, const struct feed_trust *tr, struct feed_report *rep,
                feed_log_fn log, void *ud);

/* Would moving ref to new_head be ingested? Runs the strict ingest of
 * the new change sets inside a transaction that is rolled back: the
 * hall's pre-receive check, so a bad batch never lands in its
 * repository. 0; -EINVAL with the reason in err; -EIO. */
int feed_verify(store *s, git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *new_head,
                char *err, size_t errlen);

#endif
