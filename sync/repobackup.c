/* The whole repository as one git bundle (repobackup.h). */
#include "sync/repobackup.h"
#include "sync/repack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/platform.h"

#define SIG "# v2 git bundle\n"
#define MAX_REFS 1000000

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown libgit2 error";
}

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len) {
                ssize_t w = write(fd, p, len);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                len -= (size_t)w;
        }
        return 0;
}

struct walk {
        git_packbuilder *pb;
        long n;
};

static int add_object(const git_oid *id, void *payload)
{
        struct walk *w = payload;

        if (git_packbuilder_insert(w->pb, id, NULL) < 0)
                return -1;
        w->n++;
        return 0;
}

struct sink {
        int fd, r;
};

static int to_fd(void *buf, size_t size, void *payload)
{
        struct sink *s = payload;

        s->r = write_all(s->fd, buf, size);
        return s->r < 0 ? -1 : 0;
}

int repobackup_write(git_repository *repo, int fd, struct repobackup_report *rep, char *err, size_t errlen)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_packbuilder *pb = NULL;
        git_odb *odb = NULL;
        struct walk w = { 0 };
        struct sink sk = { fd, 0 };
        char repo_dir[4096];
        int r = -EIO, lk;

        rep->refs = rep->objects = 0;
        /* a hall packing its objects moves none while every object is
         * listed and read (sync/repack.h); a home this user may not
         * write to is not one a hall packs */
        snprintf(repo_dir, sizeof repo_dir, "%s", git_repository_path(repo));
        if (repo_dir[0] && repo_dir[strlen(repo_dir) - 1] == '/')
                repo_dir[strlen(repo_dir) - 1] = '\0';
        if ((lk = repack_lock(repo_dir, false)) < 0 && lk != -EACCES && lk != -EROFS) {
                snprintf(err, errlen, "cannot lock the repository's objects: %s", strerror(-lk));
                return lk;
        }
        if (git_packbuilder_new(&pb, repo) < 0 || git_repository_odb(&odb, repo) < 0 ||
            git_reference_iterator_glob_new(&it, repo, "refs/*") < 0) {
                snprintf(err, errlen, "cannot read the repository: %s", gerr());
                goto out;
        }
        if ((r = write_all(fd, SIG, strlen(SIG))) < 0) {
                snprintf(err, errlen, "cannot write the bundle: %s", strerror(-r));
                goto out;
        }
        while (git_reference_next(&ref, it) == 0) {
                const char *name = git_reference_name(ref);
                const git_oid *id = git_reference_target(ref);
                char line[600], hex[GIT_OID_HEXSZ + 1];
                int l;
                /* what waits in quarantine was never accepted */
                if (id && strncmp(name, "refs/incoming/", 14) != 0 &&
                    (l = snprintf(line, sizeof line, "%s %s\n", git_oid_tostr(hex, sizeof hex, id), name)) <
                            (int)sizeof line) {
                        if ((r = write_all(fd, line, (size_t)l)) < 0) {
                                git_reference_free(ref);
                                snprintf(err, errlen, "cannot write the bundle: %s", strerror(-r));
                                goto out;
                        }
                        rep->refs++;
                }
                git_reference_free(ref);
        }
        if ((r = write_all(fd, "\n", 1)) < 0) {
                snprintf(err, errlen, "cannot write the bundle: %s", strerror(-r));
                goto out;
        }
        w.pb = pb;
        r = -EIO;
        if (git_odb_foreach(odb, add_object, &w) < 0) {
                snprintf(err, errlen, "cannot list the repository's objects: %s", gerr());
                goto out;
        }
        /* streamed: a home full of scans need not fit in memory */
        if (git_packbuilder_foreach(pb, to_fd, &sk) < 0) {
                if (sk.r < 0)
                        snprintf(err, errlen, "cannot write the bundle: %s", strerror(-sk.r));
                else
                        snprintf(err, errlen, "cannot pack the repository: %s", gerr());
                r = sk.r < 0 ? sk.r : -EIO;
                goto out;
        }
        rep->objects = w.n;
        r = 0;
out:
        git_reference_iterator_free(it);
        git_odb_free(odb);
        git_packbuilder_free(pb);
        repack_unlock(lk);
        return r;
}

struct named {
        char *name;
        git_oid id;
};

static void named_free(struct named *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

int repobackup_restore(git_repository *repo, const char *path, struct repobackup_report *rep, char *err,
                       size_t errlen)
{
        FILE *f = fopen(path, "rb");
        char line[700];
        struct named *refs = NULL;
        size_t n = 0;
        git_odb *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        int r = -EINVAL;

        rep->refs = rep->objects = 0;
        if (!f) {
                snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
                return -EIO;
        }
        if (!fgets(line, sizeof line, f) || strcmp(line, SIG) != 0) {
                snprintf(err, errlen, "repo.bundle is not a git bundle (version 2)");
                goto out;
        }
        for (;;) {
                size_t l;
                git_oid id;
                if (!fgets(line, sizeof line, f) || !(l = strlen(line)) || line[l - 1] != '\n') {
                        snprintf(err, errlen, "repo.bundle's list of refs is truncated or has a line too long");
                        goto out;
                }
                line[--l] = '\0';
                if (l == 0)
                        break;
                if (l < 47 || line[40] != ' ' || strspn(line, "0123456789abcdef") != 40 ||
                    git_oid_fromstrn(&id, line, 40) < 0 || strncmp(line + 41, "refs/", 5) != 0 ||
                    strncmp(line + 41, "refs/incoming/", 14) == 0 || !git_reference_is_valid_name(line + 41) ||
                    n >= MAX_REFS) {
                        snprintf(err, errlen, "repo.bundle has a bad line in its list of refs: %.80s", line);
                        goto out;
                }
                struct named *nr = realloc(refs, (n + 1) * sizeof *refs);
                if (!nr || !(nr[n].name = strdup(line + 41))) {
                        if (nr)
                                refs = nr;
                        r = -ENOMEM;
                        snprintf(err, errlen, "out of memory");
                        goto out;
                }
                refs = nr;
                refs[n++].id = id;
        }
        if (git_repository_odb(&odb, repo) < 0 || git_odb_write_pack(&wp, odb, NULL, NULL) < 0) {
                snprintf(err, errlen, "cannot write the repository: %s", gerr());
                r = -EIO;
                goto out;
        }
        for (;;) {
                char buf[65536];
                size_t got = fread(buf, 1, sizeof buf, f);
                if (got && wp->append(wp, buf, got, &stats) < 0) {
                        snprintf(err, errlen, "repo.bundle's pack is corrupt: %s", gerr());
                        goto out;
                }
                if (got < sizeof buf) {
                        if (ferror(f)) {
                                snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
                                r = -EIO;
                                goto out;
                        }
                        break;
                }
        }
        if (wp->commit(wp, &stats) < 0) {
                snprintf(err, errlen, "repo.bundle's pack is corrupt or truncated: %s", gerr());
                goto out;
        }
        /* every ref must name an object the pack brought */
        for (size_t i = 0; i < n; i++) {
                if (!git_odb_exists(odb, &refs[i].id)) {
                        char hex[GIT_OID_HEXSZ + 1];
                        snprintf(err, errlen, "repo.bundle names %s at %s, which its pack lacks", refs[i].name,
                                 git_oid_tostr(hex, sizeof hex, &refs[i].id));
                        goto out;
                }
        }
        for (size_t i = 0; i < n; i++) {
                git_reference *ref = NULL;
                if (git_reference_create(&ref, repo, refs[i].name, &refs[i].id, 1, "daiban: restore") < 0) {
                        snprintf(err, errlen, "cannot create %s: %s", refs[i].name, gerr());
                        r = -EIO;
                        goto out;
                }
                git_reference_free(ref);
        }
        rep->refs = (long)n;
        rep->objects = (long)stats.indexed_objects;
        r = 0;
out:
        if (wp)
                wp->free(wp);
        git_odb_free(odb);
        named_free(refs, n);
        fclose(f);
        return r;
}
