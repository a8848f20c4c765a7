/* Reading a received git blob whose size is checked from the object's
 * header before a byte of it is inflated: a few megabytes of pack can
 * hold a blob that inflates to gigabytes, and git_blob_lookup would
 * allocate all of it first. */
#ifndef DAIBAN_SYNC_BLOB_H
#define DAIBAN_SYNC_BLOB_H

#include <stddef.h>

#include <git2.h>

/* Look up blob id in repo if it is a blob of at most max bytes. 0;
 * -EFBIG when larger (nothing was inflated); -ENOENT when it is missing
 * or not a blob. */
int blob_lookup_max(git_blob **ret, git_repository *repo, const git_oid *id, size_t max);

#endif
