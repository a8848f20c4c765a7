/* The fold: application state as a pure function of the events.
 *
 * For each application, its events are sorted by (hlc, node, seq) and
 * run through the lifecycle's state machine (docs/lifecycle.md). The
 * result fills the derived tables (apps, app_materials, conflicts,
 * operators). An event that is not valid where it lands (wrong status,
 * wrong node for its role, a second creation) changes nothing but is
 * recorded in `conflicts`, visible on the application: never dropped.
 *
 * Authority is decided from division codes alone, so every node folds
 * the same way: the origin station (where the application was created)
 * writes capture events; the reviewer and the decider are the origin's
 * ancestors at the matter's review and decision levels, recorded in the
 * creation event. */
#ifndef DAIBAN_SYNC_FOLD_H
#define DAIBAN_SYNC_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "sync/store.h"

/* Statuses (apps.status). */
#define ST_DRAFT     "draft"
#define ST_ACCEPTED  "accepted"
#define ST_RETURNED  "returned"
#define ST_PASSED    "passed"
#define ST_APPROVED  "approved"
#define ST_REJECTED  "rejected"
#define ST_DELIVERED "delivered"
#define ST_RATED     "rated"
#define ST_WITHDRAWN "withdrawn"

/* Fold application `app` again from its events (inside the caller's
 * transaction). Returns 0 or -EIO / -ENOMEM. */
int fold_app(store *s, const char *app);

/* The same for n applications, preparing the statements once (ingest). */
int fold_apps(store *s, const char *const *apps, size_t n);

/* Fold an operator.added event written by node (inside the caller's
 * transaction). */
int fold_operator(store *s, const char *node, uint64_t hlc, const char *body);

/* Recompute every derived table from the events alone (inside the
 * caller's transaction). progress, when not NULL, is called about every
 * 100,000 events with the count so far. */
int fold_rebuild(store *s, void (*progress)(void *ud, long long done, long long total), void *ud);

/* Fold everything again and compare with the stored derived tables;
 * the store is left unchanged. Returns 0 when they agree, 1 when they
 * differ (diff names the first difference), or a negative error. */
int fold_verify(store *s, char *diff, size_t difflen);

/* Is a transition valid? Used by commands to refuse before writing (the
 * fold applies the same rules). Returns NULL when event type `type`,
 * written by `node`, is valid for an application in state (status,
 * origin, reviewer, decider); else an English reason. */
const char *fold_check(const char *type, const char *result, const char *node, const char *status,
                       const char *origin, const char *reviewer, const char *decider, long long rating);

#endif
