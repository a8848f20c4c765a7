/* Walking a single-writer chain of commits back from its tip. See
 * chain.h. */
#include <errno.h>
#include <stdlib.h>

#include "sync/chain.h"

int chain_walk(git_repository *repo, const git_oid *tip, const git_oid *stop, size_t max, bool refuse_merges,
               git_oid **ret, size_t *ret_n, enum chain_fault *fault)
{
        git_oid *ids = NULL, cur = *tip;
        size_t n = 0;
        int r = 0;

        for (;;) {
                git_commit *c = NULL;
                git_oid *ni;
                if (stop && git_oid_equal(&cur, stop))
                        break;
                if ((max && n >= max) || git_commit_lookup(&c, repo, &cur) < 0) {
                        *fault = CHAIN_MISSING;
                        r = -EINVAL;
                        break;
                }
                if (!(ni = realloc(ids, (n + 1) * sizeof *ids))) {
                        git_commit_free(c);
                        r = -ENOMEM;
                        break;
                }
                ids = ni;
                ids[n++] = cur;
                unsigned pc = git_commit_parentcount(c);
                if (pc == 1 || (pc > 1 && !refuse_merges))
                        cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
                if (pc > 1 && refuse_merges) {
                        *fault = CHAIN_MERGE;
                        r = -EINVAL;
                        break;
                }
                if (pc == 0) {
                        if (stop) {
                                *fault = CHAIN_REWRITTEN;
                                r = -EINVAL;
                        }
                        break;
                }
        }
        if (r < 0) {
                free(ids);
                return r;
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}
