/* The county's catalogue as a feed. See catfeed.h. */
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/roster.h"
#include "sync/signed.h"
#include "sync/incoming.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sync/platform.h"

#define MSG_PREFIX "catalogue version "

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}


static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The version a commit announces, or false. */
static bool commit_version(const git_commit *c, char out[41])
{
        const char *m = git_commit_message(c);

        if (!m || strncmp(m, MSG_PREFIX, strlen(MSG_PREFIX)) != 0)
                return false;
        m += strlen(MSG_PREFIX);
        if (strspn(m, "0123456789abcdef") != 40)
                return false;
        memcpy(out, m, 40);
        out[40] = '\0';
        return true;
}

int catfeed_publish(git_repository *repo, const char *county, const struct sshsig_key *key, const char *dir,
                    const char *version, bool *ret_published, char *err, size_t errlen)
{
        char ref[64], msg[96], path[4096 + 300], tipver[41];
        git_oid tip, tree_id, cid;
        bool has_tip;
        git_commit *par = NULL;
        git_treebuilder *tb = NULL;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        DIR *d = NULL;
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;
        int r = -EIO;

        *ret_published = false;
        snprintf(ref, sizeof ref, CATFEED_PREFIX "%s", county);
        has_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
        if (has_tip) {
                if (git_commit_lookup(&par, repo, &tip) < 0) {
                        snprintf(err, errlen, "cannot read %s: %s", ref, gerr());
                        return -EIO;
                }
                if (commit_version(par, tipver) && strcmp(tipver, version) == 0) {
                        git_commit_free(par);
                        return 0;       /* published already */
                }
        }
        if (!(d = opendir(dir))) {
                snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
                git_commit_free(par);
                return -errno;
        }
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                char **nn;
                if (l < 5 || strcmp(e->d_name + l - 4, ".csv") != 0)
                        continue;
                if (!(nn = realloc(names, (n + 1) * sizeof *names)) || !(nn[n] = strdup(e->d_name))) {
                        names = nn ? nn : names;
                        snprintf(err, errlen, "out of memory");
                        r = -ENOMEM;
                        goto out;
                }
                names = nn;
                n++;
        }
        if (n)
                qsort(names, n, sizeof *names, cmp_names);
        if (git_treebuilder_new(&tb, repo, NULL) < 0)
                goto gitfail;
        for (size_t i = 0; i < n; i++) {
                git_oid b;
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                if (git_blob_create_from_disk(&b, repo, path) < 0 ||
                    git_treebuilder_insert(NULL, tb, names[i], &b, GIT_FILEMODE_BLOB) < 0)
                        goto gitfail;
        }
        if (git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0 ||
            git_signature_new(&sig, county, "daiban@localhost", time(NULL), 0) < 0)
                goto gitfail;
        snprintf(msg, sizeof msg, MSG_PREFIX "%s\n", version);
        if (signed_commit(repo, ref, has_tip ? &tip : NULL, sig, msg, tree, key, &cid) < 0)
                goto gitfail;
        *ret_published = true;
        r = 0;
        goto out;
gitfail:
        snprintf(err, errlen, "cannot publish the catalogue on %s: %s", ref, gerr());
        r = -EIO;
out:
        if (d)
                closedir(d);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        git_commit_free(par);
        return r;
}

int catfeed_list(git_repository *repo, const char *ref, char (**ret_versions)[41], git_oid **ret_commits,
                 size_t *ret_n, char *err, size_t errlen)
{
        char (*vers)[41] = NULL;
        git_oid *ids = NULL, cur;
        size_t n = 0;
        int r = 0;

        *ret_versions = NULL;
        *ret_commits = NULL;
        *ret_n = 0;
        if (git_reference_name_to_id(&cur, repo, ref) < 0)
                return 0;
        for (;;) {
                git_commit *c = NULL;
                void *nv, *ni;
                if (n >= CATFEED_MAX_VERSIONS) {
                        snprintf(err, errlen, "%s: more than %u versions", ref, CATFEED_MAX_VERSIONS);
                        r = -EINVAL;
                        break;
                }
                if (git_commit_lookup(&c, repo, &cur) < 0) {
                        snprintf(err, errlen, "%s: a commit is missing: %s", ref, gerr());
                        r = -EINVAL;
                        break;
                }
                nv = realloc(vers, (n + 1) * sizeof *vers);
                ni = nv ? realloc(ids, (n + 1) * sizeof *ids) : NULL;
                if (nv)
                        vers = nv;
                if (ni)
                        ids = ni;
                if (!nv || !ni) {
                        git_commit_free(c);
                        snprintf(err, errlen, "out of memory");
                        r = -ENOMEM;
                        break;
                }
                if (!commit_version(c, vers[n]) || git_commit_parentcount(c) > 1) {
                        git_commit_free(c);
                        snprintf(err, errlen, "%s: a commit that is not a catalogue version", ref);
                        r = -EINVAL;
                        break;
                }
                ids[n++] = cur;
                if (git_commit_parentcount(c) == 0) {
                        git_commit_free(c);
                        break;
                }
                cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
        }
        if (r < 0) {
                free(vers);
                free(ids);
                return r;
        }
        for (size_t i = 0; i < n / 2; i++) {    /* oldest first */
                char tv[41];
                git_oid to = ids[i];
                memcpy(tv, vers[i], 41);
                memcpy(vers[i], vers[n - 1 - i], 41);
                memcpy(vers[n - 1 - i], tv, 41);
                ids[i] = ids[n - 1 - i];
                ids[n - 1 - i] = to;
        }
        *ret_versions = vers;
        *ret_commits = ids;
        *ret_n = n;
        return 0;
}

int catfeed_extract(git_repository *repo, const git_oid *commit, const char *dir, char *err, size_t errlen)
{
        git_commit *c = NULL;
        git_tree *tree = NULL;
        size_t n;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, commit) < 0 || git_commit_tree(&tree, c) < 0) {
                snprintf(err, errlen, "cannot read the catalogue version: %s", gerr());
                git_commit_free(c);
                return -EIO;
        }
        n = git_tree_entrycount(tree);
        if (n == 0 || n > CATFEED_MAX_SHEETS) {
                snprintf(err, errlen, "a catalogue version with %zu sheets", n);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const git_tree_entry *te = git_tree_entry_byindex(tree, i);
                const char *name = git_tree_entry_name(te);
                size_t l = strlen(name);
                if (git_tree_entry_type(te) != GIT_OBJECT_BLOB || l < 5 || strcmp(name + l - 4, ".csv") != 0 ||
                    name[0] == '.' || strchr(name, '/')) {
                        snprintf(err, errlen, "a catalogue version holds '%s', which is not a sheet", name);
                        goto out;
                }
        }
        if (mkdir(dir, 0755) < 0) {
                snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
                r = -errno;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const git_tree_entry *te = git_tree_entry_byindex(tree, i);
                git_blob *b = NULL;
                char path[4096 + 300];
                FILE *f;
                bool ok;
                int br = blob_lookup_max(&b, repo, git_tree_entry_id(te), CATFEED_MAX_SHEET);
                if (br == -ENOENT) {
                        snprintf(err, errlen, "cannot read a sheet: %s", gerr());
                        r = -EIO;
                        goto out;
                }
                if (br == -EFBIG) {
                        snprintf(err, errlen, "the sheet %s is larger than allowed", git_tree_entry_name(te));
                        goto out;
                }
                snprintf(path, sizeof path, "%s/%s", dir, git_tree_entry_name(te));
                f = fopen(path, "wb");
                ok = f && fwrite(git_blob_rawcontent(b), 1, (size_t)git_blob_rawsize(b), f) == (size_t)git_blob_rawsize(b);
                if (f && fclose(f) != 0)
                        ok = false;
                git_blob_free(b);
                if (!ok) {
                        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
                        r = -EIO;
                        goto out;
                }
        }
        r = 0;
out:
        git_tree_free(tree);
        git_commit_free(c);
        return r;
}

/* Every commit from inc back to what is held (or the root) signed by a
 * key the roster gives the county. */
static int check_signers(git_repository *repo, const struct roster *ro, const char *county, const git_oid *held,
                         const git_oid *inc, bool strict, char *err, size_t errlen)
{
        git_oid cur = *inc;

        for (int depth = 0; depth < CATFEED_MAX_VERSIONS + 1; depth++) {
                uint8_t pk[SSHSIG_PK_BYTES];
                bool is_signed;
                char why[384];
                git_commit *c = NULL;

                if (held && git_oid_equal(&cur, held))
                        return 0;
                if (signed_check(repo, &cur, &is_signed, pk, why, sizeof why) < 0) {
                        snprintf(err, errlen, "the catalogue offered has a bad signature (%s); it is refused", why);
                        return -EINVAL;
                }
                if (git_commit_lookup(&c, repo, &cur) < 0) {
                        snprintf(err, errlen, "the catalogue offered is incomplete: %s", gerr());
                        return -EINVAL;
                }
                /* versions published before the county's roster began
                 * (an upgraded county) were not signed */
                int64_t keys_began = INT64_MAX;
                for (size_t i = 0; ro && i < ro->n; i++)
                        if (strcmp(ro->e[i].node, county) == 0 && ro->e[i].at < keys_began)
                                keys_began = ro->e[i].at;
                /* (strict: no such exemption; a commit's time is the
                 * writer's to say) */
                bool before_keys = !strict && !is_signed && (int64_t)git_commit_time(c) * 1000 < keys_began;
                if (ro && !before_keys && (!is_signed || !roster_find(ro, county, pk))) {
                        git_commit_free(c);
                        snprintf(err, errlen, "the catalogue offered is %s; it is refused",
                                 is_signed ? "signed by a key that is not the county's" : "not signed by the county");
                        return -EINVAL;
                }
                bool more = git_commit_parentcount(c) == 1;
                if (more)
                        cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
                if (!more)
                        return 0;
        }
        snprintf(err, errlen, "the catalogue offered is longer than %d versions", CATFEED_MAX_VERSIONS);
        return -EINVAL;
}

int catfeed_verify_update(git_repository *repo, const char *county, const struct roster *ro, const git_oid *old,
                          const git_oid *new_tip, char *err, size_t errlen)
{
        if (!ro) {
                snprintf(err, errlen, "the hall holds no roster to check the catalogue's signatures with");
                return -EINVAL;
        }
        /* returned to a restored hall: every new version signed, whatever
         * its date says */
        return check_signers(repo, ro, county, old, new_tip, true, err, errlen) < 0 ? -EINVAL : 0;
}

int catfeed_verify_offered(git_repository *repo, const char *county, const struct roster *ro, char *err,
                           size_t errlen)
{
        char inc_name[64];
        git_oid inc;

        snprintf(inc_name, sizeof inc_name, CATFEED_INCOMING "%s", county);
        if (feed_incoming_id(repo, inc_name, &inc) < 0) {
                snprintf(err, errlen, "no catalogue of county %s was offered", county);
                return -ENOENT;
        }
        return check_signers(repo, ro, county, NULL, &inc, false, err, errlen) < 0 ? -EINVAL : 0;
}

int catfeed_accept(git_repository *repo, const char *county, const struct roster *ro, bool *ret_moved, char *err,
                   size_t errlen)
{
        char inc_name[64], local[64];
        git_oid inc, held;
        int r;

        *ret_moved = false;
        snprintf(inc_name, sizeof inc_name, CATFEED_INCOMING "%s", county);
        snprintf(local, sizeof local, CATFEED_PREFIX "%s", county);
        if (feed_incoming_id(repo, inc_name, &inc) < 0)
                return 0;
        bool have = git_reference_name_to_id(&held, repo, local) == 0;
        if (have && (git_oid_equal(&held, &inc) || git_graph_descendant_of(repo, &held, &inc) == 1))
                r = 0;          /* nothing new */
        else if (!have || git_graph_descendant_of(repo, &inc, &held) == 1)
                r = check_signers(repo, ro, county, have ? &held : NULL, &inc, false, err, errlen) < 0
                            ? -EINVAL
                            : feed_ff_update(repo, local, &inc, ret_moved, err, errlen);
        else
                r = feed_ff_update(repo, local, &inc, ret_moved, err, errlen);  /* a rewrite: refused there */
        feed_incoming_drop(repo, inc_name);
        return r;
}
