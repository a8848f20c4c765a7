/* Signed commits: every commit daiban writes on a feed, a scan chain,
 * the catalogue or the roster carries its writer's SSH signature in a
 * `gpgsig` header, as `git commit -S` with gpg.format=ssh would write
 * it, so stock `git verify-commit` checks it. See docs/change-set.md
 * ("Signatures"). */
#ifndef DAIBAN_SYNC_SIGNED_H
#define DAIBAN_SYNC_SIGNED_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/sshsig.h"

/* Write a commit of tree with parent (or none), author and committer
 * sig and message msg, signed with key (NULL: unsigned, for tests of
 * the refusal), and move ref to it: from parent, or creating it when
 * parent is NULL (a ref that moved meanwhile fails). 0, -EAGAIN (the
 * ref moved, or another writer holds its lock: read again and retry) or
 * -EIO. */
int signed_commit(git_repository *repo, const char *ref, const git_oid *parent, const git_signature *sig,
                  const char *msg, const git_tree *tree, const struct sshsig_key *key, git_oid *out);

/* Check commit id's signature: 0 with *ret_signed false for a commit
 * without one; 0 with *ret_signed true and the signer's key in pk when
 * it verifies over the commit; -EINVAL with the reason in err when it
 * does not; -EIO when the commit cannot be read. */
int signed_check(git_repository *repo, const git_oid *id, bool *ret_signed, uint8_t pk[SSHSIG_PK_BYTES], char *err,
                 size_t errlen);

#endif
