/* Signed commits. See signed.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/signed.h"

int signed_commit(git_repository *repo, const char *ref, const git_oid *parent, const git_signature *sig,
                  const char *msg, const git_tree *tree, const struct sshsig_key *key, git_oid *out)
{
        git_commit *par = NULL;
        git_buf content = { 0 };
        git_reference *nr = NULL;
        char *armor = NULL;
        int r = -EIO;

        if (parent && git_commit_lookup(&par, repo, parent) < 0)
                return -EIO;
        if (!key) {
                if (git_commit_create(out, repo, NULL, sig, sig, NULL, msg, tree, par ? 1 : 0,
                                      par ? (const git_commit **)&par : NULL) < 0)
                        goto out;
        } else {
                if (git_commit_create_buffer(&content, repo, sig, sig, NULL, msg, tree, par ? 1 : 0,
                                             par ? (const git_commit **)&par : NULL) < 0 ||
                    sshsig_sign(key, content.ptr, content.size, &armor) < 0 ||
                    git_commit_create_with_signature(out, repo, content.ptr, armor, "gpgsig") < 0)
                        goto out;
        }
        int rc = parent ? git_reference_create_matching(&nr, repo, ref, out, 1, parent, "daiban: commit")
                        : git_reference_create(&nr, repo, ref, out, 0, "daiban: commit");
        if (rc < 0) {
                /* another writer holds the ref or moved it: try again */
                if (rc == GIT_EMODIFIED || rc == GIT_ELOCKED || rc == GIT_EEXISTS)
                        r = -EAGAIN;
                goto out;
        }
        r = 0;
out:
        git_reference_free(nr);
        free(armor);
        git_buf_dispose(&content);
        git_commit_free(par);
        return r;
}

int signed_check(git_repository *repo, const git_oid *id, bool *ret_signed, uint8_t pk[SSHSIG_PK_BYTES], char *err,
                 size_t errlen)
{
        git_buf sig = { 0 }, data = { 0 };
        int r;

        *ret_signed = false;
        r = git_commit_extract_signature(&sig, &data, repo, (git_oid *)id, NULL);
        if (r == GIT_ENOTFOUND) {
                const git_error *e = git_error_last();
                /* "this commit is not signed" vs a commit that is missing */
                git_odb *odb = NULL;
                bool have = git_repository_odb(&odb, repo) == 0 && git_odb_exists(odb, id);
                git_odb_free(odb);
                if (have)
                        return 0;
                snprintf(err, errlen, "the commit is missing: %s", e && e->message ? e->message : "?");
                return -EIO;
        }
        if (r < 0) {
                const git_error *e = git_error_last();
                snprintf(err, errlen, "cannot read the commit: %s", e && e->message ? e->message : "?");
                return -EIO;
        }
        *ret_signed = true;
        r = sshsig_verify(sig.ptr, sig.size, data.ptr, data.size, pk, err, errlen);
        git_buf_dispose(&sig);
        git_buf_dispose(&data);
        return r;
}
