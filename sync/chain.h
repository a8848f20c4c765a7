/* Single-writer chains of commits (a feed, a scan chain, the roster):
 * linear histories read back from their tip along first parents to
 * where the reader stands. One walk for every chain, so each refuses a
 * missing commit, a merge or a rewrite the same way. */
#ifndef DAIBAN_SYNC_CHAIN_H
#define DAIBAN_SYNC_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

/* Why a walk stopped short. */
enum chain_fault {
        CHAIN_MISSING,          /* a commit is missing, or the chain is longer than allowed */
        CHAIN_MERGE,            /* a commit with more than one parent */
        CHAIN_REWRITTEN,        /* the root was reached without meeting stop */
};

/* The commits from tip back along first parents to stop (stop excluded;
 * NULL: down to the root), newest first, in *ret (malloc'ed; NULL when
 * there are none) and *ret_n. max: at most that many (0: no cap).
 * refuse_merges: a commit with more than one parent fails the walk
 * (else its first parent is followed). 0; -ENOMEM; -EINVAL with *fault
 * set (for CHAIN_MISSING after a failed lookup, git's last error says
 * why). *ret and *ret_n are written only on success. */
int chain_walk(git_repository *repo, const git_oid *tip, const git_oid *stop, size_t max, bool refuse_merges,
               git_oid **ret, size_t *ret_n, enum chain_fault *fault);

#endif
