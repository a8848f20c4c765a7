/* Removing given objects from a repository, only when nothing can need
 * them. git's own prune cannot be used on a home's repository: scans are
 * blobs that no ref reaches (events name them), so it would take them.
 * This removes only the objects it is handed (the pieces of a refused
 * scan chain, sync/scanreceive.c) and, of those, only the ones that are
 *   - loose (an object in a pack stays where it is),
 *   - not reachable from any ref, and
 *   - not a scan an app.material event in the store names, nor one in
 *     keep (the scans the chains name, which no ref reaches either).
 * Refs are to be moved off the objects first. */
#ifndef DAIBAN_SYNC_PRUNE_H
#define DAIBAN_SYNC_PRUNE_H

#include <stddef.h>

#include <git2.h>

#include "sync/store.h"

struct prune_result {
        size_t removed;         /* loose objects unlinked */
        size_t needed;          /* kept: reachable, or named as a scan */
        size_t packed;          /* kept: in a pack, not loose */
};

/* 0, or negative (-EIO, -ENOMEM) with nothing removed. */
int prune_objects(git_repository *repo, store *s, const git_oid *cand, size_t ncand, const git_oid *keep,
                  size_t nkeep, struct prune_result *res);

#endif
