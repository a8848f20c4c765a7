/* Making a home (`daiban init`): the folder, its git repository, the
 * store with the node's configuration, the first catalogue version, the
 * node's key and, for a county, its key roster. See home.h. */
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

int home_mkdirs(const char *path)
{
        char buf[4096];
        size_t n = strlen(path);

        if (n >= sizeof buf)
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* A new county's roster: its own key, from its first change set. */
static int start_roster(const char *dir, const char *node, store *st, struct core_result *res)
{
        struct home h = { 0 };
        const struct sshsig_key *key;
        struct roster ro = { 0 };
        struct roster_entry e = { 0 };
        git_repository *repo = NULL;
        char path[4096], err[512];
        int r;

        h.dir = (char *)dir;
        h.node = (char *)node;
        if ((r = home_key_load(&h, &key, res)))
                return r;
        snprintf(ro.county, sizeof ro.county, "%s", node);
        snprintf(e.node, sizeof e.node, "%s", node);
        memcpy(e.pk, key->pk, sizeof e.pk);
        e.from = 1;
        snprintf(e.by, sizeof e.by, "daiban init");
        e.at = (int64_t)time(NULL) * 1000;
        snprintf(e.note, sizeof e.note, "the county's own key, made at init");
        r = roster_add(&ro, &e);
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", dir);
        if (r == 0 && git_repository_open_bare(&repo, path) == 0)
                r = roster_commit(st, repo, &ro, key, "roster: the county's own key\n", err, sizeof err);
        else
                snprintf(err, sizeof err, "cannot open %s", path);
        if (r < 0)
                core_fail(res, CORE_FAILED, "io_error", "cannot start the county's key roster: %s",
                          "无法建立县级密钥名册：%s", err);
        git_repository_free(repo);
        git_libgit2_shutdown();
        roster_free(&ro);
        sodium_memzero(h.key, sizeof *h.key);
        free(h.key);
        return r < 0 ? CORE_FAILED : 0;
}

/* Copy a node's key kept from before into a new home, checked to be one. */
static int home_key_copy(const char *dir, const char *from, char *err, size_t errlen)
{
        char path[4096], *text = NULL;
        struct sshsig_key k;
        size_t len = 0;
        FILE *f = fopen(from, "rb");
        int r = -EINVAL;

        if (f) {
                text = malloc(64 * 1024);
                len = text ? fread(text, 1, 64 * 1024 - 1, f) : 0;
                fclose(f);
        }
        if (!text || !len) {
                snprintf(err, errlen, "cannot read the key %s: %s", from, f ? "it is empty" : strerror(errno));
                free(text);
                return -EINVAL;
        }
        if (sshsig_key_decode(text, len, &k, err, errlen) < 0) {
                sodium_memzero(text, len);
                free(text);
                return -EINVAL;
        }
        sodium_memzero(&k, sizeof k);
        snprintf(path, sizeof path, "%s/node.key", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        r = fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ? -errno : 0;
        if (fd >= 0 && close(fd) < 0 && r == 0)
                r = -errno;
        sodium_memzero(text, len);
        free(text);
        if (r == 0)
                r = durable_sync_dir(dir);
        if (r < 0)
                snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
        return r;
}

int home_create(const char *dir, const char *node, const char *role, const char *catalog_dir,
                const struct home_init_opts *opt, struct core_result *res)
{
        const char *name = opt ? opt->name : NULL, *county_key = opt ? opt->county_key : NULL;
        bool rejoin = opt && opt->rejoin;
        char path[4096], err[512];
        catalog *cat = NULL;
        const struct cat_division *div;
        enum cat_level level = cat_parse_level(role);
        git_repository *repo = NULL;
        store *st = NULL;
        struct stat sb;
        int r;

        if (level == LEVEL_NONE) {
                return core_fail(res, CORE_USAGE, "bad_request", "--role must be village, township or county, not '%s'",
                                 "--role 应为 village、township 或 county，而不是“%s”", role);
        }
        char pin[256] = "";
        if (rejoin && level == LEVEL_COUNTY) {
                return core_fail_both(res, CORE_USAGE, "bad_request", "--rejoin is for a township or village, which fetch their history back from the "
                                 "hall; a county's home is restored from its backup (daiban restore)",
                                 "--rejoin 用于乡镇或村（从县里取回本站历史）；县级数据目录请用备份恢复（daiban restore）");
        }
        if (county_key && level == LEVEL_COUNTY) {
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "--county-key is for a township or village; a county makes its own key",
                                      "--county-key 用于乡镇或村；县级自己生成密钥");
        }
        if (county_key && home_county_pin(county_key, pin, sizeof pin) < 0) {
                return core_fail(res, CORE_USAGE, "bad_request",
                                 "--county-key '%s' is neither an ssh-ed25519 public key, a file holding one, nor a "
                                 "fingerprint (SHA256:... or eight groups of four letters and digits)",
                                 "--county-key“%s”既不是 ssh-ed25519 公钥、含公钥的文件，也不是指纹（SHA256:… 或八组四位字母数字）",
                                 county_key);
        }
        snprintf(path, sizeof path, "%s/store.db", dir);
        if (stat(path, &sb) == 0) {
                return core_fail(res, CORE_REFUSED, "refused",
                                 "%s is already a daiban home (it has store.db); choose another --home",
                                 "%s 已经是 daiban 的数据目录（已有 store.db）；请另选 --home", dir);
        }
        r = catalog_load(catalog_dir, &cat);
        if (r < 0 || catalog_nerrors(cat)) {
                if (r == 0)
                        core_fail(res, CORE_REFUSED, "catalog", "the catalogue %s has %zu errors; run 'daiban catalog check %s'",
                                  "目录清单 %s 有 %zu 处错误；请运行“daiban catalog check %s”", catalog_dir,
                                  catalog_nerrors(cat), catalog_dir);
                else
                        core_fail(res, CORE_REFUSED, "catalog", "cannot read the catalogue %s: %s",
                                  "无法读取目录清单 %s：%s", catalog_dir, strerror(-r));
                catalog_free(cat);
                return CORE_REFUSED;
        }
        div = catalog_find_division(cat, node);
        if (!div || div->level != level) {
                if (!div)
                        core_fail(res, CORE_REFUSED, "catalog", "division %s is not in the catalogue's divisions.csv",
                                  "目录清单的 divisions.csv 中没有区划 %s", node);
                else {
                        /* the levels in each language's words */
                        char en[512], zh[512];
                        snprintf(en, sizeof en, "division %s (%s) is a %s, not a %s", node, div->name,
                                 cat_level_name(div->level), role);
                        snprintf(zh, sizeof zh, "区划 %s（%s）是%s级，不是%s级", node, div->name,
                                 cat_level_name_zh(div->level), cat_level_name_zh(level));
                        core_fail_both(res, CORE_REFUSED, "catalog", en, zh);
                }
                catalog_free(cat);
                return CORE_REFUSED;
        }
        if ((r = home_mkdirs(dir)) < 0) {
                core_fail(res, CORE_FAILED, "io_error", "cannot create %s: %s", "无法创建 %s：%s", dir, strerror(-r));
                catalog_free(cat);
                return CORE_FAILED;
        }
        home_make_private(dir);         /* a folder made beforehand, by hand */
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", dir);
        if (git_repository_init(&repo, path, 1) < 0) {
                const git_error *ge = git_error_last();
                core_fail(res, CORE_FAILED, "io_error", "cannot create the git repository %s: %s",
                          "无法创建 git 仓库 %s：%s", path, ge ? ge->message : "?");
                catalog_free(cat);
                git_libgit2_shutdown();
                return CORE_FAILED;
        }
        /* Scans are blobs that no tree references (the app.material
         * event names them): git must never prune them as unreachable. */
        {
                git_config *cfg = NULL;
                if (git_repository_config(&cfg, repo) == 0) {
                        git_config_set_string(cfg, "gc.pruneExpire", "never");
                        git_config_set_int32(cfg, "gc.auto", 0);
                        git_config_set_bool(cfg, "receive.autogc", 0);
                }
                git_config_free(cfg);
        }
        git_repository_free(repo);
        git_libgit2_shutdown();
        snprintf(path, sizeof path, "%s/repo", dir);
        if ((r = durable_prepare_repo(path)) < 0) {
                core_fail(res, CORE_FAILED, "io_error", "cannot create the git repository %s: %s",
                          "无法创建 git 仓库 %s：%s", path, strerror(-r));
                catalog_free(cat);
                return CORE_FAILED;
        }
        snprintf(path, sizeof path, "%s/store.db", dir);
        r = store_open(path, true, &st, err, sizeof err);
        if (r == 0 && store_begin(st) == 0) {
                r = store_meta_set(st, "node", node);
                if (!r)
                        r = store_meta_set(st, "role", role);
                if (!r)
                        r = store_meta_set(st, "name", name ? name : div->name);
                if (!r && pin[0])
                        r = store_meta_set(st, "roster.pin", pin);
                /* a node that exists already: its sequence numbers go on
                 * after what the hall holds of it, once fetched */
                if (!r && rejoin)
                        r = store_meta_set(st, STORE_RESTORE_PENDING, "rejoin");
                if (!r)
                        r = store_commit(st);
                if (r < 0) {
                        snprintf(err, sizeof err, "%s", store_errmsg(st));
                        store_rollback(st);
                }
        } else if (r == 0) {
                snprintf(err, sizeof err, "%s", store_errmsg(st));
                r = -EIO;
        }
        if (r < 0) {
                store_close(st);
                core_fail(res, CORE_FAILED, "store", "cannot create the store: %s", "无法创建数据库：%s", err);
                catalog_free(cat);
                return CORE_FAILED;
        }
        char version[41];
        r = home_catalog_install(dir, catalog_dir, st, version, res);
        if (r == 0 && opt && opt->key_file && home_key_copy(dir, opt->key_file, err, sizeof err) < 0)
                r = core_fail_both(res, CORE_REFUSED, "refused", err, err);
        if (r == 0 && home_key_create(dir, node, err, sizeof err) < 0)
                r = core_fail_both(res, CORE_FAILED, "io_error", err, err);
        if (r == 0 && level == LEVEL_COUNTY)
                r = start_roster(dir, node, st, res);
        store_close(st);
        if (r) {
                catalog_free(cat);
                return r;
        }
        core_done(res, "initialised %s: %s %s (%s), catalogue with %zu matters",
                  "已初始化 %s：%s %s（%s），目录清单共 %zu 个事项", dir, role, node, name ? name : div->name,
                  catalog_nmatters(cat));
        catalog_free(cat);
        return 0;
}
