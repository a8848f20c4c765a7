/* Reading a received git blob whose size is checked from the object's
 * header before a byte of it is inflated: a few megabytes of pack can
 * hold a blob that inflates to gigabytes, and git_blob_lookup would
 * allocate all of it first. */
#ifndef DAIBAN_SYNC_BLOB_H
#define DAIBAN_SYNC_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

/* Look up blob id in repo if it is a blob of at most max bytes. 0;
 * -EFBIG when larger (nothing was inflated); -ENOENT when it is missing
 * or not a blob. */
int blob_lookup_max(git_blob **ret, git_repository *repo, const git_oid *id, size_t max);

/* Does tree hold two blobs named a and b and nothing else (the shape of
 * a change set's and of a scan piece's commit)? When it does, their
 * entries (owned by tree) are in *ret_a and *ret_b. */
bool blob_tree_pair(const git_tree *tree, const char *a, const char *b, const git_tree_entry **ret_a,
                    const git_tree_entry **ret_b);

#endif
