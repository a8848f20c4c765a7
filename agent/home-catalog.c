/* A home's catalogue versions: a version's id, installing one under
 * HOME/catalogs/<version>/, and the catalogue feed a sync brings (the
 * county publishes, the others install what it announced). See
 * home.h and sync/catfeed.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "agent/home.h"
#include "agent/home-int.h"
#include "agent/core/result.h"
#include "forms/division.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/scan.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* Copy one file durably (write, fsync). */
static int copy_file(const char *from, const char *to)
{
        char buf[65536];
        int in = open(from, O_RDONLY | O_CLOEXEC), out;
        ssize_t n;
        int r = 0;

        if (in < 0)
                return -errno;
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
                r = -errno;
                close(in);
                return r;
        }
        while ((n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)n) != n) {
                        r = -EIO;
                        break;
                }
        if (n < 0)
                r = -errno;
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        close(in);
        if (close(out) < 0 && r == 0)
                r = -errno;
        return r;
}

static int copy_catalog(const char *from, const char *to)
{
        DIR *d = opendir(from);
        struct dirent *e;
        char a[4096 + 300], b[4096 + 300];
        int r = 0;

        if (!d)
                return -errno;
        if ((r = home_mkdirs(to)) < 0) {
                closedir(d);
                return r;
        }
        while (r == 0 && (e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (n < 5 || strcmp(e->d_name + n - 4, ".csv") != 0)
                        continue;
                snprintf(a, sizeof a, "%s/%s", from, e->d_name);
                snprintf(b, sizeof b, "%s/%s", to, e->d_name);
                r = copy_file(a, b);
        }
        closedir(d);
        return r < 0 ? r : durable_sync_dir(to);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int home_catalog_version(const char *dir, char hex[41])
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char **names = NULL, path[4096 + 300];
        size_t n = 0, len = 0, cap = 0;
        char *buf = NULL;
        git_oid oid;
        int r = 0;

        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l < 5 || strcmp(e->d_name + l - 4, ".csv") != 0)
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof *names);
                if (!nn || !(nn[n] = strdup(e->d_name))) {
                        names = nn ? nn : names;
                        r = -ENOMEM;
                        break;
                }
                names = nn;
                n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 0; r == 0 && i < n; i++) {
                struct stat sb;
                FILE *f;
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                if (stat(path, &sb) < 0 || !(f = fopen(path, "rb"))) {
                        r = -errno;
                        break;
                }
                size_t need = len + strlen(names[i]) + 32 + (size_t)sb.st_size;
                if (need > cap) {
                        char *nb = realloc(buf, need * 2);
                        if (!nb) {
                                fclose(f);
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                        cap = need * 2;
                }
                len += (size_t)sprintf(buf + len, "%s%c%lld%c", names[i], 0, (long long)sb.st_size, 0);
                if (fread(buf + len, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
                        r = -EIO;
                len += (size_t)sb.st_size;
                fclose(f);
        }
        if (r == 0 && git_odb_hash(&oid, buf ? buf : "", len, GIT_OBJECT_BLOB) < 0)
                r = -EIO;
        if (r == 0)
                git_oid_tostr(hex, 41, &oid);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(buf);
        return r;
}

int home_catalog_install(const char *home_dir, const char *src, store *st, char hex[41], struct core_result *res)
{
        char path[4096], tmp[4200];
        struct stat sb;
        int r;

        git_libgit2_init();
        r = home_catalog_version(src, hex);
        git_libgit2_shutdown();
        if (r < 0) {
                return core_fail(res, CORE_REFUSED, "catalog", "cannot read the catalogue %s: %s",
                                 "无法读取目录清单 %s：%s", src, strerror(-r));
        }
        snprintf(path, sizeof path, "%s/catalogs/%s", home_dir, hex);
        if (stat(path, &sb) != 0) {
                /* a version goes in under a temporary name and is renamed
                 * into place: a home never holds half a catalogue */
                snprintf(tmp, sizeof tmp, "%s/catalogs/%s.new", home_dir, hex);
                if ((r = copy_catalog(src, tmp)) < 0 || rename(tmp, path) < 0 ||
                    (r = durable_sync_parent(path)) < 0) {
                        return core_fail(res, CORE_FAILED, "io_error", "cannot install the catalogue into %s: %s",
                                         "无法安装目录清单到 %s：%s", path, strerror(r < 0 ? -r : errno));
                }
        }
        if (store_begin(st) < 0 || store_meta_set(st, "catalog.current", hex) < 0 || store_commit(st) < 0) {
                core_fail(res, CORE_FAILED, "store", "cannot record the catalogue version: %s",
                          "无法记录目录清单版本：%s", store_errmsg(st));
                store_rollback(st);
                return CORE_FAILED;
        }
        return 0;
}

int home_sync_catalog(struct home *h, git_repository *repo, int *ret_installed, void (*log)(void *, const char *, ...),
                      void *ud)
{
        char county[7], ref[64], err[512], dir[4096], cur[41];
        char (*vers)[41] = NULL;
        git_oid *ids = NULL;
        size_t n = 0;
        bool moved;
        int r = 0;

        *ret_installed = 0;
        catfeed_county(h->node, county);
        /* (a county restored from a backup takes its chain as the nodes
         * return it, like a station, until `hall resume`) */
        if (strcmp(h->role, "county") == 0 && !store_restore_pending(h->st)) {
                /* the county publishes its current version: read afresh, for
                 * a long-running hall sees `catalog install` of the CLI */
                bool published = false;
                char *now = NULL;
                if (store_meta_get(h->st, "catalog.current", &now) < 0 || !now) {
                        free(now);
                        return 0;
                }
                snprintf(dir, sizeof dir, "%s/catalogs/%s", h->dir, now);
                const struct sshsig_key *key;
                struct core_result kres;
                core_result_init(&kres);
                if (home_key_load(h, &key, &kres)) {
                        log(ud, "%s", kres.en);
                        core_result_finish(&kres);
                        free(now);
                        return -EIO;
                }
                core_result_finish(&kres);
                if (catfeed_publish(repo, county, key, dir, now, &published, err, sizeof err) < 0) {
                        log(ud, "%s", err);
                        free(now);
                        return -EIO;
                }
                if (published)
                        log(ud, "catalogue version %.12s published", now);
                free(now);
                return 0;
        }
        struct roster ro;
        bool have_ro = false;
        if (roster_open(h->st, repo, h->node, &ro, &have_ro, err, sizeof err) < 0) {
                log(ud, "the catalogue is not taken: the county's roster cannot be trusted (%s)", err);
                return -EINVAL;
        }
        r = catfeed_accept(repo, county, have_ro ? &ro : NULL, &moved, err, sizeof err);
        roster_free(&ro);
        if (r < 0) {
                log(ud, "%s", err);
                r = -EINVAL;
        }
        snprintf(ref, sizeof ref, CATFEED_PREFIX "%s", county);
        if (catfeed_list(repo, ref, &vers, &ids, &n, err, sizeof err) < 0) {
                log(ud, "refused the catalogue feed: %s", err);
                return -EINVAL;
        }
        snprintf(cur, sizeof cur, "%s", h->catalog_version);
        for (size_t i = 0; i < n; i++) {
                char tmp[4200], got[41];
                catalog *cat = NULL;
                struct stat sb;
                bool last = i + 1 == n;
                snprintf(dir, sizeof dir, "%s/catalogs/%s", h->dir, vers[i]);
                if (stat(dir, &sb) == 0 && !last)
                        continue;       /* held already */
                if (stat(dir, &sb) == 0 && strcmp(vers[i], cur) == 0)
                        continue;       /* held and current */
                snprintf(tmp, sizeof tmp, "%s/catalogs/%s.recv", h->dir, vers[i]);
                durable_remove_tree(tmp);
                if (catfeed_extract(repo, &ids[i], tmp, err, sizeof err) < 0) {
                        log(ud, "refused catalogue version %.12s: %s", vers[i], err);
                        r = -EINVAL;
                        durable_remove_tree(tmp);
                        continue;
                }
                /* what arrived must be what the county announced, and sound */
                if (home_catalog_version(tmp, got) < 0 || strcmp(got, vers[i]) != 0) {
                        log(ud, "refused catalogue version %.12s: its sheets do not match the version", vers[i]);
                        r = -EINVAL;
                } else if (catalog_load(tmp, &cat) < 0 || catalog_nerrors(cat) > 0) {
                        log(ud, "refused catalogue version %.12s: 'daiban catalog check' finds problems in it", vers[i]);
                        r = -EINVAL;
                } else if (!catalog_find_division(cat, h->node)) {
                        log(ud, "catalogue version %.12s does not list this node (%s) in its divisions; not installed",
                            vers[i], h->node);
                        r = -EINVAL;
                } else {
                        char hex[41];
                        /* each version in order; the last one installed is current */
                        struct core_result ires;
                        core_result_init(&ires);
                        if (home_catalog_install(h->dir, tmp, h->st, hex, &ires) == 0) {
                                snprintf(cur, sizeof cur, "%s", hex);
                                (*ret_installed)++;
                                log(ud, "catalogue version %.12s received and installed", hex);
                        } else {
                                log(ud, "%s", ires.en);
                                r = -EIO;
                        }
                        core_result_finish(&ires);
                }
                catalog_free(cat);
                durable_remove_tree(tmp);
        }
        free(vers);
        free(ids);
        return r;
}
