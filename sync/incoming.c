/* Incoming refs and the quarantine: where fetched or imported refs wait
 * (refs/incoming/...) until accepted, the quarantine repository that
 * keeps a stick's objects apart until a ref that needs them is
 * accepted, and moving a held ref forward only. See incoming.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2/sys/repository.h>     /* git_repository_set_odb */

#include "sync/durable.h"
#include "sync/incoming.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* The names of the refs matching glob (malloc'ed). */
int feed_ref_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char **names = NULL;
        size_t n = 0;

        if (git_reference_iterator_glob_new(&it, repo, glob) < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char **nn = realloc(names, (n + 1) * sizeof *names);
                if (nn) {
                        names = nn;
                        if ((names[n] = strdup(git_reference_name(ref))))
                                n++;
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        *ret = names;
        *ret_n = n;
        return 0;
}

/* Objects that came in on a stick are kept apart, in a repository of
 * their own (REPO/daiban-quarantine, with the incoming refs that name
 * them), until a ref that needs them is accepted: then the objects that
 * ref reaches are written into the repository's own store, before the
 * ref moves. A crash leaves objects no ref needs, never a ref without
 * its objects; what was refused goes when the quarantine does. */
static struct {
        git_repository *repo, *qrepo;
        char dir[4200];
} q;

int feed_quarantine_begin(git_repository *repo)
{
        git_odb *odb = NULL, *qodb = NULL;
        char objs[4300], main_objs[4300];
        int r = 0;

        feed_quarantine_end(repo);
        snprintf(q.dir, sizeof q.dir, "%sdaiban-quarantine", git_repository_path(repo));
        durable_remove_tree(q.dir);     /* one a crash left */
        snprintf(objs, sizeof objs, "%s/objects", q.dir);
        snprintf(main_objs, sizeof main_objs, "%sobjects", git_repository_path(repo));
        /* each reads the other's objects: the repository sees what waits,
         * the quarantine names what is held already */
        if (git_repository_init(&q.qrepo, q.dir, 1) < 0 || git_repository_odb(&odb, repo) < 0 ||
            git_odb_add_disk_alternate(odb, objs) < 0 || git_repository_odb(&qodb, q.qrepo) < 0 ||
            git_odb_add_disk_alternate(qodb, main_objs) < 0)
                r = -EIO;
        git_odb_free(odb);
        git_odb_free(qodb);
        if (r == 0) {
                q.repo = repo;
        } else {
                git_repository_free(q.qrepo);
                q.qrepo = NULL;
                durable_remove_tree(q.dir);
        }
        return r;
}

void feed_quarantine_end(git_repository *repo)
{
        if (q.repo != repo || !repo)
                return;
        git_repository_free(q.qrepo);
        q.qrepo = NULL;
        if (PLATFORM_OPEN_FILES_STAY) {
                /* repo's handle reads the quarantine as an alternate and
                 * holds its packs open, and an open file cannot be removed
                 * there: the handle gets its own objects alone first */
                git_odb *odb;
                char objs[4300];
                snprintf(objs, sizeof objs, "%sobjects", git_repository_path(repo));
                if (git_odb_open(&odb, objs) == 0) {
                        git_repository_set_odb(repo, odb);
                        git_odb_free(odb);
                }
        }
        durable_remove_tree(q.dir);
        q.repo = NULL;
}

/* Where incoming refs live: the quarantine's repository while one is
 * open for repo, else repo itself. */
git_repository *feed_incoming_repo(git_repository *repo)
{
        return q.repo == repo && q.qrepo ? q.qrepo : repo;
}

int feed_incoming_id(git_repository *repo, const char *name, git_oid *out)
{
        return git_reference_name_to_id(out, feed_incoming_repo(repo), name);
}

void feed_incoming_drop(git_repository *repo, const char *name)
{
        git_reference *ref = NULL;

        if (git_reference_lookup(&ref, feed_incoming_repo(repo), name) == 0)
                git_reference_delete(ref);
        git_reference_free(ref);
}

int feed_incoming_names(git_repository *repo, const char *glob, char ***ret, size_t *ret_n)
{
        return feed_ref_names(feed_incoming_repo(repo), glob, ret, ret_n);
}

/* The odb that incoming packs are written into: the quarantine's when
 * one is open for repo, else the repository's own. */
int feed_incoming_odb(git_repository *repo, git_odb **ret)
{
        return git_repository_odb(ret, feed_incoming_repo(repo));
}

/* The objects reachable from to and not from held (NULL: none), packed
 * and written into repo's primary store (libgit2 never writes into an
 * alternate, such as the quarantine). */
int feed_copy_reachable(git_repository *repo, const git_oid *held, const git_oid *to)
{
        git_packbuilder *pb = NULL;
        git_revwalk *walk = NULL;
        git_buf pack = { 0 };
        git_odb *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        int r = -EIO;

        if (git_packbuilder_new(&pb, repo) < 0 || git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, to) < 0)
                goto out;
        if (held)
                git_revwalk_hide(walk, held);
        if (git_packbuilder_insert_walk(pb, walk) < 0)
                goto out;
        if (git_packbuilder_object_count(pb) == 0) {
                r = 0;
                goto out;
        }
        if (git_packbuilder_write_buf(&pack, pb) < 0 || git_repository_odb(&odb, repo) < 0 ||
            git_odb_write_pack(&wp, odb, NULL, NULL) < 0 || wp->append(wp, pack.ptr, pack.size, &stats) < 0 ||
            wp->commit(wp, &stats) < 0)
                goto out;
        r = 0;
out:
        if (wp)
                wp->free(wp);
        git_odb_free(odb);
        git_buf_dispose(&pack);
        git_revwalk_free(walk);
        git_packbuilder_free(pb);
        return r;
}

int feed_quarantine_keep(git_repository *repo, const git_oid *held, const git_oid *to)
{
        return q.repo == repo ? feed_copy_reachable(repo, held, to) : 0;   /* no quarantine: in place */
}

/* Move ref `local` to `inc` when that is a fast-forward (or a new ref).
 * 0 (*ret_moved tells), -EINVAL when inc does not descend from what is
 * held (a rewrite), -EIO. */

int feed_ff_update(git_repository *repo, const char *local, const git_oid *inc, bool *ret_moved, char *err,
                   size_t errlen)
{
        git_oid cur;
        git_reference *ref = NULL;

        *ret_moved = false;
        bool held = git_reference_name_to_id(&cur, repo, local) == 0;
        if (held) {
                if (git_oid_equal(&cur, inc) || git_graph_descendant_of(repo, &cur, inc) == 1)
                        return 0;       /* held already, or ahead */
                if (git_graph_descendant_of(repo, inc, &cur) != 1) {
                        snprintf(err, errlen, "refused %s: it was rewritten (its new head does not descend from the"
                                 " one held); it is not followed", local);
                        return -EINVAL;
                }
        }
        if (feed_quarantine_keep(repo, held ? &cur : NULL, inc) < 0) {
                snprintf(err, errlen, "cannot keep the objects of %s: %s", local, gerr());
                return -EIO;
        }
        if (git_reference_create(&ref, repo, local, inc, 1, "daiban: advanced") < 0) {
                snprintf(err, errlen, "cannot update %s: %s", local, gerr());
                return -EIO;
        }
        git_reference_free(ref);
        *ret_moved = true;
        return 0;
}
