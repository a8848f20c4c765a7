/* Transfer with another repository (libgit2 fetch and push): the feeds,
 * scan chains, catalogue and roster a node may hold, fetched into the
 * incoming refs; pushes fast-forward only, the far side's refusals and
 * the hall's clock read from its answers. See docs/sync.md. */
#ifndef DAIBAN_SYNC_TRANSFER_H
#define DAIBAN_SYNC_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "sync/refs.h"

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
        unsigned *scan_batch;           /* optional, in and out: scan pieces per push the
                                         * link last allowed (scan_push starts there) */
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

#endif
