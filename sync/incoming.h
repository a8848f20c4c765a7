/* Incoming refs and the quarantine. Fetched or imported refs wait under
 * refs/incoming/ until the file that owns them (feeds, scans, the
 * catalogue, the roster, a node's reports) accepts or drops them; a
 * held ref then moves forward only. Calls nothing above it in sync/. */
#ifndef DAIBAN_SYNC_INCOMING_H
#define DAIBAN_SYNC_INCOMING_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

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

/* Where incoming refs live: the quarantine's repository while one is
 * open for repo, else repo itself (a borrowed handle). */
git_repository *feed_incoming_repo(git_repository *repo);
/* The odb that incoming packs are written into: the quarantine's when
 * one is open for repo, else the repository's own. 0 or negative. */
int feed_incoming_odb(git_repository *repo, git_odb **ret);

/* The objects reachable from to and not from held (NULL: none), packed
 * and written into repo's primary store (libgit2 never writes into an
 * alternate, such as the quarantine). 0 or -EIO. */
int feed_copy_reachable(git_repository *repo, const git_oid *held, const git_oid *to);

/* The names of the refs of repo matching glob (malloc'ed, each and the
 * array). 0 or -EIO. */
int feed_ref_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n);

/* Move ref local to inc when that is a fast-forward or a new ref: 0
 * (*ret_moved says whether it moved), -EINVAL for a rewrite (err), -EIO. */
int feed_ff_update(git_repository *repo, const char *local, const git_oid *inc, bool *ret_moved, char *err,
                   size_t errlen);

#endif
