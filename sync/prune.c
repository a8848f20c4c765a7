/* Removing handed objects that nothing can need. See prune.h. */
#include "sync/store-int.h"
#include "sync/prune.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sync/durable.h"
#include "sync/platform.h"

/* A set of object ids: open addressing, the zero id marks a free slot
 * (no object is named by it). */
struct oidset {
        git_oid *v;
        size_t cap, n;
};

static size_t slot_of(const struct oidset *s, const git_oid *id)
{
        uint64_t h;

        memcpy(&h, id->id, sizeof h);   /* a hash already */
        return (size_t)h & (s->cap - 1);
}

static bool set_has(const struct oidset *s, const git_oid *id)
{
        if (!s->cap)
                return false;
        for (size_t i = slot_of(s, id);; i = (i + 1) & (s->cap - 1)) {
                if (git_oid_is_zero(&s->v[i]))
                        return false;
                if (git_oid_equal(&s->v[i], id))
                        return true;
        }
}

/* 1 when added, 0 when it was there, -ENOMEM. */
static int set_add(struct oidset *s, const git_oid *id)
{
        if (git_oid_is_zero(id))
                return 0;
        if ((s->n + 1) * 2 > s->cap) {
                struct oidset t = { calloc(s->cap ? s->cap * 2 : 1024, sizeof(git_oid)), s->cap ? s->cap * 2 : 1024, 0 };
                if (!t.v)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++)
                        if (!git_oid_is_zero(&s->v[i]))
                                set_add(&t, &s->v[i]);
                free(s->v);
                *s = t;
        }
        size_t i = slot_of(s, id);
        for (; !git_oid_is_zero(&s->v[i]); i = (i + 1) & (s->cap - 1))
                if (git_oid_equal(&s->v[i], id))
                        return 0;
        s->v[i] = *id;
        s->n++;
        return 1;
}

struct walk {
        struct oidset *set;
        int err;
};

static int tree_entry(const char *root, const git_tree_entry *e, void *payload)
{
        struct walk *w = payload;
        int r = set_add(w->set, git_tree_entry_id(e));

        (void)root;
        if (r < 0) {
                w->err = r;
                return -1;
        }
        /* a subtree seen before: its entries are in already */
        return r == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE ? 1 : 0;
}

static int add_tree(git_repository *repo, const git_oid *id, struct oidset *set)
{
        git_tree *t = NULL;
        struct walk w = { set, 0 };
        int r = set_add(set, id);

        if (r <= 0)
                return r;
        if (git_tree_lookup(&t, repo, id) < 0)
                return -EIO;
        if (git_tree_walk(t, GIT_TREEWALK_PRE, tree_entry, &w) < 0 && !w.err)
                w.err = -EIO;
        git_tree_free(t);
        return w.err;
}

/* Everything reachable from every ref. */
static int reachable(git_repository *repo, struct oidset *set)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_revwalk *walk = NULL;
        git_oid id;
        int r = 0;

        if (git_revwalk_new(&walk, repo) < 0 || git_reference_iterator_new(&it, repo) < 0) {
                git_revwalk_free(walk);
                return -EIO;
        }
        while (r == 0 && git_reference_next(&ref, it) == 0) {
                git_reference *res = NULL;
                git_object *o = NULL;
                if (git_reference_resolve(&res, ref) < 0) {
                        git_reference_free(ref);
                        continue;       /* a symbolic ref to nothing names no object */
                }
                const git_oid *t = git_reference_target(res);
                /* an object a ref names and that is missing: the
                 * repository is not whole, and nothing is removed */
                if (!t || git_object_lookup(&o, repo, t, GIT_OBJECT_ANY) < 0) {
                        r = -EIO;
                } else {
                        while (r == 0 && git_object_type(o) == GIT_OBJECT_TAG) {
                                git_object *target = NULL;
                                if ((r = set_add(set, git_object_id(o))) >= 0)
                                        r = git_tag_target(&target, (git_tag *)o) < 0 ? -EIO : 0;
                                git_object_free(o);
                                o = target;
                        }
                        if (r == 0 && git_object_type(o) == GIT_OBJECT_COMMIT)
                                r = git_revwalk_push(walk, git_object_id(o)) < 0 ? -EIO : 0;
                        else if (r == 0 && git_object_type(o) == GIT_OBJECT_TREE)
                                r = add_tree(repo, git_object_id(o), set);
                        else if (r == 0)
                                r = set_add(set, git_object_id(o)) < 0 ? -ENOMEM : 0;
                }
                git_object_free(o);
                git_reference_free(res);
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        while (r == 0) {
                git_commit *c = NULL;
                int wr = git_revwalk_next(&id, walk);
                if (wr == GIT_ITEROVER)
                        break;
                if (wr < 0 || git_commit_lookup(&c, repo, &id) < 0) {
                        r = -EIO;
                        break;
                }
                if ((r = set_add(set, &id)) >= 0)
                        r = add_tree(repo, git_commit_tree_id(c), set);
                if (r > 0)
                        r = 0;
                git_commit_free(c);
        }
        git_revwalk_free(walk);
        return r < 0 ? r : 0;
}

/* The scans the store's app.material events name. */
static int named_scans(store *s, struct oidset *set)
{
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (!s)
                return 0;
        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT DISTINCT json_extract(body, '$.blob') AS b FROM events"
                               " WHERE type = 'app.material' AND b IS NOT NULL",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        int sr;
        while (r == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
                const char *hex = (const char *)sqlite3_column_text(st, 0);
                git_oid id;
                if (hex && git_oid_fromstrp(&id, hex) == 0 && set_add(set, &id) < 0)
                        r = -ENOMEM;
        }
        if (r == 0 && sr != SQLITE_DONE)
                r = -EIO;
        sqlite3_finalize(st);
        return r;
}

int prune_objects(git_repository *repo, store *s, const git_oid *cand, size_t ncand, const git_oid *keep,
                  size_t nkeep, struct prune_result *res)
{
        struct oidset need = { NULL, 0, 0 };
        const char *gitdir = git_repository_path(repo);
        unsigned char fan[256] = { 0 };
        int r;

        memset(res, 0, sizeof *res);
        if ((r = reachable(repo, &need)) < 0 || (r = named_scans(s, &need)) < 0)
                goto out;
        for (size_t i = 0; i < nkeep; i++)
                if (set_add(&need, &keep[i]) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        /* Set aside first (objects/daiban-pruned/), then look again: a
         * push that landed meanwhile on one of them (git reuses a loose
         * object it finds already there) gets it back; only the rest go. */
        char trash[PATH_MAX];
        bool *aside = calloc(ncand ? ncand : 1, sizeof *aside);
        snprintf(trash, sizeof trash, "%sobjects/daiban-pruned", gitdir);
        if (!aside || (mkdir(trash, 0700) < 0 && errno != EEXIST)) {
                free(aside);
                r = aside ? -EIO : -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < ncand; i++) {
                char hex[GIT_OID_HEXSZ + 1], path[PATH_MAX], to[PATH_MAX + 64];
                bool dup = false;
                for (size_t k = 0; k < i && !dup; k++)
                        dup = git_oid_equal(&cand[k], &cand[i]);
                if (dup)
                        continue;
                if (set_has(&need, &cand[i])) {
                        res->needed++;
                        continue;
                }
                git_oid_tostr(hex, sizeof hex, &cand[i]);
                snprintf(path, sizeof path, "%sobjects/%.2s/%s", gitdir, hex, hex + 2);
                snprintf(to, sizeof to, "%s/%s", trash, hex);
                if (rename(path, to) == 0)
                        aside[i] = true;
                else if (errno == ENOENT)
                        res->packed++;
        }
        struct oidset again = { NULL, 0, 0 };
        bool look = reachable(repo, &again) == 0;
        for (size_t i = 0; i < ncand; i++) {
                char hex[GIT_OID_HEXSZ + 1], path[PATH_MAX], from[PATH_MAX + 64];
                if (!aside[i])
                        continue;
                git_oid_tostr(hex, sizeof hex, &cand[i]);
                snprintf(path, sizeof path, "%sobjects/%.2s/%s", gitdir, hex, hex + 2);
                snprintf(from, sizeof from, "%s/%s", trash, hex);
                if (!look || set_has(&again, &cand[i])) {
                        rename(from, path);     /* needed after all (or not known): back */
                        res->needed++;
                } else if (unlink(from) == 0) {
                        res->removed++;
                        fan[cand[i].id[0]] = 1;
                }
        }
        free(again.v);
        free(aside);
        rmdir(trash);
        if (res->removed)
                durable_sync_objects(gitdir, fan, 0);
out:
        free(need.v);
        return r;
}
