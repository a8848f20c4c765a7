/* USB bundles: feeds, scan chains, the catalogue and the roster carried
 * on a stick between nodes without a link. See docs/sync.md. */
#ifndef DAIBAN_SYNC_BUNDLE_H
#define DAIBAN_SYNC_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/refs.h"

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
