/* A node's home folder: where it is, opening and closing it (store and
 * current catalogue, older versions on demand), and the small facts the
 * commands ask of it. See home.h. */
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
#include "agent/console.h"
#include "agent/home-int.h"
#include "agent/core/result.h"
#include "forms/division.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/readmodel.h"
#include "sync/scan.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

const char *home_path(const char *opt)
{
        static char buf[4096];
        const char *e;

        if (opt && *opt)
                return opt;
        if ((e = console_getenv("DAIBAN_HOME")) && *e)
                return e;
#ifdef _WIN32
        /* the station's home of the Windows service and installer
         * (docs/windows.md): %ProgramData%\daiban\station */
        snprintf(buf, sizeof buf, "%s/daiban/station",
                 (e = console_getenv("ProgramData")) && *e ? e : "C:/ProgramData");
        return buf;
#endif
        if ((e = console_getenv("XDG_DATA_HOME")) && *e) {
                snprintf(buf, sizeof buf, "%s/daiban", e);
                return buf;
        }
        snprintf(buf, sizeof buf, "%s/.local/share/daiban", console_getenv("HOME") ? console_getenv("HOME") : ".");
        return buf;
}

int home_county_held(struct home *h, struct core_result *res)
{
        if (strcmp(h->role, "county") != 0 || !store_restore_pending(h->st))
                return 0;
        return core_fail_both(res, CORE_REFUSED, "refused",
                              "this county hall was restored from a backup: its roster and catalogue change only after "
                              "`daiban hall resume`, when the townships have given back what it wrote after the backup",
                              "本县服务端是从备份恢复的：在各乡镇交回备份之后本县所写内容、运行 daiban hall resume 之前，"
                              "不能修改密钥名册和目录清单");
}

long long home_events_waiting(const struct home *h)
{
        char *sent = NULL;
        long long waiting = 0;

        /* counted, not subtracted: a new key epoch leaves a gap in the numbers */
        store_meta_get(h->st, "sync.sent_seq", &sent);
        waiting = readmodel_events_after(h->st, h->node, sent ? atoll(sent) : 0);
        if (waiting < 0)
                waiting = 0;
        free(sent);
        return waiting;
}

int32_t home_today(const char *opt, bool *bad)
{
        const char *s = opt ? opt : console_getenv("DAIBAN_TODAY");
        int32_t d;

        *bad = false;
        if (s && *s) {
                if (cal_date_parse(s, &d) < 0) {
                        *bad = true;
                        return 0;
                }
                return d;
        }
        return cal_today();
}

int home_operator_state(struct home *h, const char *op)
{
        struct readmodel_operator o;
        int r = readmodel_operator(h->st, h->node, op, &o);

        return r == 0 ? (o.disabled ? HOME_OP_DISABLED : HOME_OP_ACTIVE) : r == -ENOENT ? HOME_OP_UNKNOWN : -EIO;
}

/* A home made, or copied, under a looser umask: the folder 0700 (no other
 * user can then reach anything under it) and the databases with their
 * journals 0600. Best effort: a home owned by another user is left. */
const char *const home_private_files[] = { "store.db", "store.db-wal", "store.db-shm", "station.db",
                                           "station.db-wal", "station.db-shm", "node.key", NULL };

void home_make_private(const char *dir)
{
        char path[4096];
        struct stat sb;

        if (stat(dir, &sb) == 0 && (sb.st_mode & 077))
                chmod(dir, sb.st_mode & 0700);
        for (const char *const *f = home_private_files; *f; f++) {
                snprintf(path, sizeof path, "%s/%s", dir, *f);
                if (stat(path, &sb) == 0 && (sb.st_mode & 077))
                        chmod(path, sb.st_mode & 0600);
        }
}

int home_load(const char *dir, struct home *h, struct core_result *res)
{
        char path[4096], err[512];
        int r;

        memset(h, 0, sizeof *h);
        h->dir = strdup(dir);
        snprintf(path, sizeof path, "%s/store.db", dir);
        if (access(path, F_OK) == 0)
                home_make_private(dir);
        if (access(path, F_OK) < 0) {
                home_close(h);
                return core_fail(res, CORE_NOT_FOUND, "not_found",
                                 "%s is not a daiban home; create one with 'daiban init' (or set --home / DAIBAN_HOME)",
                                 "%s 不是 daiban 的数据目录；请先运行“daiban init”（或设置 --home / DAIBAN_HOME）", dir);
        }
        r = store_open(path, false, &h->st, err, sizeof err);
        if (r < 0) {
                home_close(h);
                return core_fail_both(res, CORE_FAILED, "store", err, err);
        }
        if (store_meta_get(h->st, "node", &h->node) < 0 || store_meta_get(h->st, "role", &h->role) < 0 ||
            store_meta_get(h->st, "name", &h->name) < 0) {
                home_close(h);
                return core_fail(res, CORE_FAILED, "store",
                                 "%s: the store has no node configuration; was 'daiban init' interrupted?",
                                 "%s：数据库中没有站点配置；“daiban init”是否中断了？", dir);
        }
        if (store_meta_get(h->st, "catalog.current", &h->catalog_version) < 0) {
                /* a home made before catalogue versions: install its catalogue
                 * as the first version */
                char hex[41];
                snprintf(path, sizeof path, "%s/catalog", dir);
                if (access(path, F_OK) == 0 && home_catalog_install(dir, path, h->st, hex, res) == 0)
                        h->catalog_version = strdup(hex);
        }
        if (!h->catalog_version) {
                home_close(h);
                return core_fail(res, CORE_FAILED, "catalog",
                                 "%s: no catalogue is installed; run 'daiban catalog install DIR'",
                                 "%s：尚未安装目录清单；请运行“daiban catalog install DIR”", dir);
        }
        snprintf(path, sizeof path, "%s/catalogs/%s", dir, h->catalog_version);
        r = catalog_load(path, &h->cat);
        if (r < 0 || catalog_nerrors(h->cat)) {
                home_close(h);
                return core_fail(res, CORE_FAILED, "catalog",
                                 "the installed catalogue %s cannot be used; run 'daiban catalog check %s'",
                                 "已安装的目录清单 %s 无法使用；请运行“daiban catalog check %s”", path, path);
        }
        h->div = catalog_find_division(h->cat, h->node);
        if (!h->div) {
                core_fail(res, CORE_REFUSED, "catalog", "this node (%s) is no longer in the catalogue's divisions",
                          "本站点（%s）已不在目录清单的区划中", h->node);
                home_close(h);
                return CORE_REFUSED;
        }
        return CORE_OK;
}

int home_repo_open(const struct home *h, struct git_repository **ret, struct core_result *res)
{
        char path[4096];

        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(ret, path) < 0) {
                core_fail(res, CORE_FAILED, "io_error", "cannot open the repository %s: %s", "无法打开仓库 %s：%s", path,
                          git_error_last() ? git_error_last()->message : "?");
                git_libgit2_shutdown();
                return CORE_FAILED;
        }
        return 0;
}

void home_close(struct home *h)
{
        if (h->key)
                sodium_memzero(h->key, sizeof *h->key);
        free(h->key);
        store_close(h->st);
        catalog_free(h->cat);
        free(h->catalog_version);
        for (int i = 0; i < HOME_CATALOG_CACHE; i++)
                catalog_free(h->older[i].cat);
        free(h->dir);
        free(h->node);
        free(h->role);
        free(h->name);
        memset(h, 0, sizeof *h);
}

int home_read_blob(const char *repo_dir, const char *hex, void **ret, size_t *len)
{
        git_repository *repo = NULL;
        git_blob *blob = NULL;
        git_oid oid;
        int r = -1;

        *ret = NULL;
        *len = 0;
        git_libgit2_init();
        /* a blob another node named and sent: its size from its header
         * first (a few MiB of pack can inflate to gigabytes) */
        if (git_oid_fromstrn(&oid, hex, 40) == 0 && git_repository_open_bare(&repo, repo_dir) == 0 &&
            blob_lookup_max(&blob, repo, &oid, SCAN_MAX_BYTES) == 0) {
                size_t n = (size_t)git_blob_rawsize(blob);
                void *b = malloc(n ? n : 1);
                if (b) {
                        memcpy(b, git_blob_rawcontent(blob), n);
                        *ret = b;
                        *len = n;
                        r = 0;
                }
        }
        git_blob_free(blob);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return r;
}

size_t home_max_file_bytes(void)
{
        const char *cap = console_getenv("DAIBAN_MAX_FILE_BYTES");

        return cap && *cap ? (size_t)strtoull(cap, NULL, 10) : HOME_MAX_FILE_DEFAULT;
}

int home_reload(struct home *h, struct core_result *res)
{
        struct home nh;
        char *cur = NULL;
        char *dir;
        int r;

        if (store_meta_get(h->st, "catalog.current", &cur) < 0 || !cur)
                return 0;
        bool same = h->catalog_version && !strcmp(cur, h->catalog_version);
        free(cur);
        if (same)
                return 0;
        dir = strdup(h->dir);
        if (!dir)
                return -1;
        r = home_load(dir, &nh, res);
        free(dir);
        if (r)
                return -1;
        home_close(h);
        *h = nh;
        return 1;
}

const catalog *home_catalog_for(struct home *h, const char *version)
{
        char path[4096];
        int slot = -1;

        if (!version || !*version || strcmp(version, h->catalog_version) == 0)
                return h->cat;
        for (int i = 0; i < HOME_CATALOG_CACHE; i++) {
                if (h->older[i].cat && strcmp(h->older[i].version, version) == 0)
                        return h->older[i].cat;
                if (!h->older[i].cat && slot < 0)
                        slot = i;
        }
        if (strlen(version) != 40 || strspn(version, "0123456789abcdef") != 40)
                return NULL;
        snprintf(path, sizeof path, "%s/catalogs/%s", h->dir, version);
        if (access(path, F_OK) < 0)
                return NULL;
        if (slot < 0) {
                slot = 0;
                catalog_free(h->older[0].cat);
                h->older[0].cat = NULL;
        }
        if (catalog_load(path, &h->older[slot].cat) < 0 || catalog_nerrors(h->older[slot].cat)) {
                catalog_free(h->older[slot].cat);
                h->older[slot].cat = NULL;
                return NULL;
        }
        snprintf(h->older[slot].version, sizeof h->older[slot].version, "%s", version);
        return h->older[slot].cat;
}
