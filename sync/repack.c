/* Packing a repository's objects without losing one: see repack.h. */
#include "sync/repack.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <zlib.h>

#include "sync/durable.h"
#include "sync/platform.h"

struct listing {
        git_oid *loose;
        size_t nloose, caploose;
        char **packs;           /* objects/pack/pack-<name>, without an extension */
        off_t *sizes;           /* of each .pack */
        size_t npacks;
};

static void listing_free(struct listing *l)
{
        free(l->loose);
        for (size_t i = 0; i < l->npacks; i++)
                free(l->packs[i]);
        free(l->packs);
        free(l->sizes);
        memset(l, 0, sizeof *l);
}

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[n] == '\0';
}

static bool exists(const char *base, const char *ext)
{
        char p[PATH_MAX];
        struct stat sb;

        snprintf(p, sizeof p, "%s%s", base, ext);
        return stat(p, &sb) == 0;
}

/* The loose objects objects/xx/<38 hex> and, with packs, the packs with
 * an index and no .keep (receive-pack keeps a push's pack until its refs
 * are in). When oids is false only the loose ones are counted. */
static int list_objects(const char *repo_dir, bool oids, bool packs, struct listing *l)
{
        char dir[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
        struct dirent *e;
        DIR *d;

        for (int i = 0; i < 256; i++) {
                snprintf(dir, sizeof dir, "%s/objects/%02x", repo_dir, i);
                if (!(d = opendir(dir))) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                while ((e = readdir(d))) {
                        if (strlen(e->d_name) != GIT_OID_HEXSZ - 2 || !is_hex(e->d_name, GIT_OID_HEXSZ - 2))
                                continue;
                        if (oids) {
                                if (l->nloose == l->caploose) {
                                        size_t cap = l->caploose ? l->caploose * 2 : 1024;
                                        git_oid *n = realloc(l->loose, cap * sizeof *n);
                                        if (!n) {
                                                closedir(d);
                                                return -ENOMEM;
                                        }
                                        l->loose = n, l->caploose = cap;
                                }
                                snprintf(hex, sizeof hex, "%02x%s", i, e->d_name);
                                if (git_oid_fromstr(&l->loose[l->nloose], hex) < 0)
                                        continue;
                        }
                        l->nloose++;
                }
                closedir(d);
        }
        if (!packs)
                return 0;
        snprintf(dir, sizeof dir, "%s/objects/pack", repo_dir);
        if (!(d = opendir(dir)))
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                char base[PATH_MAX];
                if (n < 6 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + n - 5, ".pack") != 0)
                        continue;
                snprintf(base, sizeof base, "%s/%.*s", dir, (int)(n - 5), e->d_name);
                if (!exists(base, ".idx") || exists(base, ".keep"))
                        continue;
                struct stat sb;
                char **np = realloc(l->packs, (l->npacks + 1) * sizeof *np);
                if (np)
                        l->packs = np;
                off_t *ns = realloc(l->sizes, (l->npacks + 1) * sizeof *ns);
                if (ns)
                        l->sizes = ns;
                if (!np || !ns || !(np[l->npacks] = strdup(base))) {
                        closedir(d);
                        return -ENOMEM;
                }
                ns[l->npacks] = fstatat(dirfd(d), e->d_name, &sb, 0) == 0 ? sb.st_size : 0;
                l->npacks++;
        }
        closedir(d);
        return 0;
}

/* Give repo a new object database: an empty one (repo_dir NULL), which
 * closes the packs the old one held, or repo_dir's objects. 0, or -EIO. */
static int swap_odb(git_repository *repo, const char *repo_dir)
{
        char path[PATH_MAX];
        git_odb *odb;

        snprintf(path, sizeof path, "%s/objects", repo_dir ? repo_dir : "");
        if ((repo_dir ? git_odb_open(&odb, path) : git_odb_new(&odb)) < 0)
                return -EIO;
        git_repository_set_odb(repo, odb);
        git_odb_free(odb);
        return 0;
}

int repack_count(const char *repo_dir, size_t *loose, size_t *packs)
{
        struct listing l = { 0 };
        int r = list_objects(repo_dir, false, true, &l);

        *loose = l.nloose;
        *packs = l.npacks;
        listing_free(&l);
        return r;
}

/* A delta search on a scan finds nothing (a JPEG or a PDF shares no runs
 * of bytes with another) and was most of a packing's time: a merge of a
 * first day's packs (12,935 objects) took 18 s of CPU, two thirds of it
 * in libgit2's delta search. So blobs of at least REPACK_STORED_MIN bytes
 * whose first REPACK_SAMPLE bytes do not deflate below 95 % go into a
 * pack of their own, built with no delta search; the rest (change sets,
 * the roster's and catalogue's versions) as before. */
#define REPACK_STORED_MIN (16u << 10)
#define REPACK_SAMPLE (8u << 10)
/* libgit2 (1.5.1 and still) takes the size above which it searches no
 * delta from pack.deltaCacheSize, not from a key of its own; git's
 * name is core.bigFileThreshold. The stored pack's builder reads both. */
#define STORED_CONFIG "daiban-stored.gitconfig"
#define STORED_CONFIG_TEXT "# daiban: the pack of scans is built with no delta search (sync/repack.c)\n" \
        "[pack]\n\tdeltaCacheSize = 1\n[core]\n\tbigFileThreshold = 1\n"

struct build {
        git_packbuilder *pb;            /* with delta search */
        git_packbuilder *sb;            /* without: scans */
        git_repository *srepo;          /* sb's, with STORED_CONFIG */
        git_odb *odb;
        const atomic_bool *cancel;
        int error;
};

/* Does the blob id not compress (a scan), so that no delta is searched for it? */
static bool incompressible(git_odb *odb, const git_oid *id)
{
        git_odb_object *o = NULL;
        git_object_t type;
        size_t size;
        uLongf zlen;
        Bytef z[REPACK_SAMPLE + REPACK_SAMPLE / 100 + 64];
        bool r = false;

        if (git_odb_read_header(&size, &type, odb, id) < 0 || type != GIT_OBJECT_BLOB || size < REPACK_STORED_MIN ||
            git_odb_read(&o, odb, id) < 0)
                return false;
        zlen = sizeof z;
        if (compress2(z, &zlen, git_odb_object_data(o), REPACK_SAMPLE, 1) == Z_OK)
                r = zlen * 100 >= (uLongf)REPACK_SAMPLE * 95;
        git_odb_object_free(o);
        git_error_clear();
        return r;
}

/* Into the stored pack or the other; 0, GIT_ENOTFOUND, or <0. */
static int insert(struct build *b, const git_oid *id)
{
        if (b->sb && incompressible(b->odb, id))
                return git_packbuilder_insert(b->sb, id, NULL);
        return git_packbuilder_insert(b->pb, id, NULL);
}

/* STORED_CONFIG, written whole (a file cut short by a crash, or edited,
 * is written again). true when it says what the stored pack needs. */
static bool stored_config(const char *path, git_config **cfg)
{
        char tmp[PATH_MAX + 48];
        int64_t v = 0;
        FILE *f;

        for (int attempt = 0; attempt < 2; attempt++) {
                if (access(path, R_OK) == 0 && git_config_open_ondisk(cfg, path) == 0) {
                        if (git_config_get_int64(&v, *cfg, "pack.deltaCacheSize") == 0 && v == 1)
                                return true;
                        git_config_free(*cfg);
                        *cfg = NULL;
                }
                if (attempt)
                        break;
                snprintf(tmp, sizeof tmp, "%s.tmp", path);
                if (!(f = fopen(tmp, "w")))
                        return false;
                bool ok = fputs(STORED_CONFIG_TEXT, f) >= 0;
                ok = fclose(f) == 0 && ok && durable_sync_file(tmp) == 0 && rename(tmp, path) == 0;
                if (!ok) {
                        unlink(tmp);
                        return false;
                }
        }
        return false;
}

/* The builder of the stored pack: a second handle on the repository
 * whose configuration is STORED_CONFIG alone. NULL when it cannot be
 * made: everything then goes into the one pack, as before. */
static void open_stored(struct build *b, const char *repo_dir)
{
        char path[PATH_MAX + 32];
        git_config *cfg = NULL;

        snprintf(path, sizeof path, "%s/" STORED_CONFIG, repo_dir);
        if (stored_config(path, &cfg) && git_repository_open_bare(&b->srepo, repo_dir) == 0) {
                git_repository_set_config(b->srepo, cfg);
                if (git_packbuilder_new(&b->sb, b->srepo) == 0)
                        git_packbuilder_set_threads(b->sb, 1);
        }
        git_config_free(cfg);
        git_error_clear();
}

static int build_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
        const struct build *b = payload;

        (void)stage, (void)current, (void)total;
        return b->cancel && atomic_load(b->cancel) ? -1 : 0;
}

static int index_progress(const git_indexer_progress *stats, void *payload)
{
        (void)stats;
        return build_progress(0, 0, 0, payload);
}

static int insert_one(const git_oid *id, void *payload)
{
        struct build *b = payload;

        if (b->cancel && atomic_load(b->cancel))
                return -1;
        if (insert(b, id) < 0) {
                b->error = -EIO;
                return -1;
        }
        return 0;
}

static int failed(char *err, size_t errlen, int r, const char *what)
{
        const git_error *ge = git_error_last();

        snprintf(err, errlen, "%s: %s", what, r == -EIO && ge ? ge->message : strerror(-r));
        return r;
}

/* Write pb's pack into packdir and make it durable: its name into name. */
static int write_pack(struct build *b, git_packbuilder *pb, const char *packdir, char name[GIT_OID_HEXSZ + 1],
                      char *err, size_t errlen)
{
        char path[PATH_MAX + 128];
        int r;

        if (git_packbuilder_write(pb, packdir, 0, index_progress, b) < 0)
                return b->cancel && atomic_load(b->cancel) ? -ECANCELED : failed(err, errlen, -EIO, "cannot write the pack");
        snprintf(name, GIT_OID_HEXSZ + 1, "%s", git_packbuilder_name(pb));
        snprintf(path, sizeof path, "%s/pack-%s.pack", packdir, name);
        if ((r = durable_sync_file(path)) < 0)
                return failed(err, errlen, r, "cannot sync the new pack");
        snprintf(path, sizeof path, "%s/pack-%s.idx", packdir, name);
        if ((r = durable_sync_file(path)) < 0 || (r = durable_sync_dir(packdir)) < 0)
                return failed(err, errlen, r, "cannot sync the new pack's index");
        return 0;
}

int repack_run(git_repository *repo, bool merge, const atomic_bool *cancel, struct repack_report *rep, char *err,
               size_t errlen)
{
        char repo_dir[PATH_MAX], packdir[PATH_MAX + 16], path[PATH_MAX + 128];
        struct listing l = { 0 };
        struct build b = { .cancel = cancel };
        bool *taken = NULL;
        int r, packing;

        memset(rep, 0, sizeof *rep);
        snprintf(repo_dir, sizeof repo_dir, "%s", git_repository_path(repo));
        if (repo_dir[0] && repo_dir[strlen(repo_dir) - 1] == '/')
                repo_dir[strlen(repo_dir) - 1] = '\0';
        snprintf(packdir, sizeof packdir, "%s/objects/pack", repo_dir);
        /* one packing at a time (the hall's, `hall pack`) */
        snprintf(path, sizeof path, "%s/daiban-pack.flock", repo_dir);
        if ((packing = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || flock(packing, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                snprintf(err, errlen, "%s", r == -EBUSY ? "another packing of this repository runs"
                                                        : "cannot lock the repository for packing");
                if (packing >= 0)
                        close(packing);
                return r;
        }
        if ((r = list_objects(repo_dir, true, merge, &l)) < 0) {
                failed(err, errlen, r, "cannot list the objects");
                goto out;
        }
        if (l.npacks >= 2) {
                /* the largest pack stays out until the rest reach half of it */
                size_t big = 0;
                off_t rest = 0;
                for (size_t i = 1; i < l.npacks; i++)
                        if (l.sizes[i] > l.sizes[big])
                                big = i;
                for (size_t i = 0; i < l.npacks; i++)
                        rest += i == big ? 0 : l.sizes[i];
                if (rest < l.sizes[big] / 2) {
                        free(l.packs[big]);
                        l.packs[big] = l.packs[l.npacks - 1];
                        l.sizes[big] = l.sizes[l.npacks - 1];
                        l.npacks--;
                }
        }
        if (l.nloose == 0 && l.npacks < 2) {
                r = 0;                          /* nothing to pack */
                goto out;
        }
        if (!(taken = calloc(l.nloose + 1, sizeof *taken))) {
                r = failed(err, errlen, -ENOMEM, "cannot pack");
                goto out;
        }
        if (git_packbuilder_new(&b.pb, repo) < 0) {
                r = failed(err, errlen, -EIO, "cannot start a pack");
                goto out;
        }
        git_packbuilder_set_threads(b.pb, 1);
        git_packbuilder_set_callbacks(b.pb, build_progress, &b);
        if (git_repository_odb(&b.odb, repo) < 0) {
                r = failed(err, errlen, -EIO, "cannot read the objects");
                goto out;
        }
        open_stored(&b, repo_dir);
        if (b.sb)
                git_packbuilder_set_callbacks(b.sb, build_progress, &b);
        for (size_t i = 0; i < l.nloose; i++) {
                if (cancel && atomic_load(cancel)) {
                        r = -ECANCELED;
                        goto out;
                }
                int k = insert(&b, &l.loose[i]);
                if (k == 0)
                        taken[i] = true;
                else if (cancel && atomic_load(cancel)) {
                        r = -ECANCELED;
                        goto out;
                } else if (k != GIT_ENOTFOUND) {
                        r = failed(err, errlen, -EIO, "cannot read a loose object");
                        goto out;
                }
                /* else gone since the listing (another packing): left alone */
        }
        for (size_t i = 0; i < l.npacks; i++) {
                git_odb_backend *one = NULL;
                snprintf(path, sizeof path, "%s.idx", l.packs[i]);
                if (git_odb_backend_one_pack(&one, path) < 0) {
                        r = failed(err, errlen, -EIO, "cannot read a pack");
                        goto out;
                }
                r = one->foreach(one, insert_one, &b);
                one->free(one);
                if (r != 0) {
                        r = cancel && atomic_load(cancel) ? -ECANCELED : failed(err, errlen, b.error ? b.error : -EIO,
                                                                    "cannot read a pack's objects");
                        goto out;
                }
        }
        rep->stored = b.sb ? git_packbuilder_object_count(b.sb) : 0;
        rep->objects = git_packbuilder_object_count(b.pb) + (b.sb ? git_packbuilder_object_count(b.sb) : 0);
        if (rep->objects == 0) {
                r = 0;
                goto out;
        }
        /* both new packs are durable before anything they hold goes elsewhere */
        if ((b.sb && git_packbuilder_object_count(b.sb) &&
             (r = write_pack(&b, b.sb, packdir, rep->stored_pack, err, errlen)) < 0) ||
            (git_packbuilder_object_count(b.pb) && (r = write_pack(&b, b.pb, packdir, rep->pack, err, errlen)) < 0))
                goto out;
        int lk = repack_lock(repo_dir, true);
        if (lk < 0) {
                r = 0;
                goto out;
        }
        /* where an open pack cannot be removed (Windows), this handle lets
         * the merged ones go first, and reads the new pack after */
        if (PLATFORM_OPEN_FILES_STAY && l.npacks) {
                git_packbuilder_free(b.pb);
                git_packbuilder_free(b.sb);
                git_repository_free(b.srepo);
                git_odb_free(b.odb);
                b.pb = b.sb = NULL, b.srepo = NULL, b.odb = NULL;
                if ((r = swap_odb(repo, NULL)) < 0) {
                        repack_unlock(lk);
                        failed(err, errlen, r, "cannot let the packs go");
                        goto out;
                }
        }
        for (size_t i = 0; i < l.nloose; i++) {
                char hex[GIT_OID_HEXSZ + 1];
                if (!taken[i])
                        continue;
                git_oid_tostr(hex, sizeof hex, &l.loose[i]);
                snprintf(path, sizeof path, "%s/objects/%.2s/%s", repo_dir, hex, hex + 2);
                if (unlink(path) == 0)
                        rep->loose++;
        }
        for (size_t i = 0; i < l.npacks; i++) {
                static const char *const ext[] = { ".idx", ".pack", ".rev", ".bitmap", ".mtimes" };
                const char *base = strrchr(l.packs[i], '/') ? strrchr(l.packs[i], '/') + 1 : l.packs[i];
                if (strncmp(base, "pack-", 5) == 0 && (strcmp(base + 5, rep->pack) == 0 ||
                                                      strcmp(base + 5, rep->stored_pack) == 0))
                        continue;               /* the same objects made the same pack */
                for (size_t k = 0; k < sizeof ext / sizeof *ext; k++) {
                        char p[PATH_MAX + 16];
                        snprintf(p, sizeof p, "%s%s", l.packs[i], ext[k]);
                        unlink(p);
                }
                rep->merged++;
        }
        r = 0;
        if (PLATFORM_OPEN_FILES_STAY && l.npacks && (r = swap_odb(repo, repo_dir)) < 0)
                failed(err, errlen, r, "cannot read the new pack");
        repack_unlock(lk);
out:
        git_packbuilder_free(b.pb);
        git_packbuilder_free(b.sb);
        git_repository_free(b.srepo);
        git_odb_free(b.odb);
        free(taken);
        listing_free(&l);
        close(packing);
        return r;
}

/* Remove the empty folders under dir, depth first; true when dir itself
 * is left empty. */
static bool prune_dir(const char *dir, size_t *removed)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        bool empty = true;

        if (!d)
                return false;
        while ((e = readdir(d))) {
                char sub[PATH_MAX];
                struct stat sb;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= sizeof sub ||
                    lstat(sub, &sb) < 0 || !S_ISDIR(sb.st_mode) || !prune_dir(sub, removed) || rmdir(sub) < 0)
                        empty = false;
                else
                        (*removed)++;
        }
        closedir(d);
        return empty;
}

size_t repack_prune_ref_dirs(const char *repo_dir)
{
        char refs[PATH_MAX];
        struct dirent *e;
        size_t removed = 0;
        DIR *d;

        snprintf(refs, sizeof refs, "%s/refs", repo_dir);
        if (!(d = opendir(refs)))
                return 0;
        while ((e = readdir(d))) {
                char kind[PATH_MAX + 8];
                if (e->d_name[0] == '.')
                        continue;
                snprintf(kind, sizeof kind, "%s/%s", refs, e->d_name);
                prune_dir(kind, &removed);
        }
        closedir(d);
        return removed;
}

int repack_lock(const char *repo_dir, bool exclusive)
{
        char path[PATH_MAX + 32];
        int fd;

        snprintf(path, sizeof path, "%s/daiban-objects.flock", repo_dir);
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
                return -errno;
        if (flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

void repack_unlock(int fd)
{
        if (fd >= 0)
                close(fd);
}

size_t repack_clean(const char *repo_dir)
{
        char dir[PATH_MAX];
        struct dirent *e;
        size_t removed = 0;
        time_t now = time(NULL);
        DIR *d;

        snprintf(dir, sizeof dir, "%s/objects/pack", repo_dir);
        if (!(d = opendir(dir)))
                return 0;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                char base[PATH_MAX + 300];
                struct stat sb;
                bool orphan = false;
                if (fstatat(dirfd(d), e->d_name, &sb, 0) < 0 || now - sb.st_mtime < 600)
                        continue;
                if (strncmp(e->d_name, "pack_git2_", 10) == 0) {
                        orphan = true;
                } else if (n > 10 && strncmp(e->d_name, "pack-", 5) == 0 && strcmp(e->d_name + n - 5, ".pack") == 0) {
                        snprintf(base, sizeof base, "%s/%.*s", dir, (int)(n - 5), e->d_name);
                        orphan = !exists(base, ".idx");
                }
                if (orphan && unlinkat(dirfd(d), e->d_name, 0) == 0)
                        removed++;
        }
        closedir(d);
        return removed;
}
