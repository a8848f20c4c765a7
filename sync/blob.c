/* See blob.h. */
#include "sync/blob.h"

#include <errno.h>

int blob_lookup_max(git_blob **ret, git_repository *repo, const git_oid *id, size_t max)
{
        git_odb *odb = NULL;
        git_object_t type;
        size_t len;
        int r;

        *ret = NULL;
        if (git_repository_odb(&odb, repo) < 0)
                return -ENOENT;
        r = git_odb_read_header(&len, &type, odb, id);
        git_odb_free(odb);
        if (r < 0 || type != GIT_OBJECT_BLOB)
                return -ENOENT;
        if (len > max)
                return -EFBIG;
        return git_blob_lookup(ret, repo, id) < 0 ? -ENOENT : 0;
}

bool blob_tree_pair(const git_tree *tree, const char *a, const char *b, const git_tree_entry **ret_a,
                    const git_tree_entry **ret_b)
{
        const git_tree_entry *ea = git_tree_entry_byname(tree, a), *eb = git_tree_entry_byname(tree, b);

        if (git_tree_entrycount(tree) != 2 || !ea || !eb || git_tree_entry_type(ea) != GIT_OBJECT_BLOB ||
            git_tree_entry_type(eb) != GIT_OBJECT_BLOB)
                return false;
        *ret_a = ea;
        *ret_b = eb;
        return true;
}
