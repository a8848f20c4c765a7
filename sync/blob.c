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
