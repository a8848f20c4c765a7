/* The node's home folder. See home.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "agent/cli.h"
#include "agent/home.h"
#include "agent/core/result.h"
#include "forms/division.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/readmodel.h"
#include "sync/scan.h"

const char *home_path(const char *opt)
{
        static char buf[4096];
        const char *e;

        if (opt && *opt)
                return opt;
        if ((e = getenv("DAIBAN_HOME")) && *e)
                return e;
        if ((e = getenv("XDG_DATA_HOME")) && *e) {
                snprintf(buf, sizeof buf, "%s/daiban", e);
                return buf;
        }
        snprintf(buf, sizeof buf, "%s/.local/share/daiban", getenv("HOME") ? getenv("HOME") : ".");
        return buf;
}

int home_county_restoring(struct home *h)
{
        if (strcmp(h->role, "county") != 0 || !store_restore_pending(h->st))
                return 0;
        cli_error("%s", cli_msg("this county hall was restored from a backup: its roster and catalogue change only after "
                                "`daiban hall resume`, when the townships have given back what it wrote after the backup",
                                "本县服务端是从备份恢复的：在各乡镇交回备份之后本县所写内容、运行 daiban hall resume 之前，"
                                "不能修改密钥名册和目录清单"));
        return EXIT_REFUSED;
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
        const char *s = opt ? opt : getenv("DAIBAN_TODAY");
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

static int mkdirs(const char *path)
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

/* Copy one file durably (write, fsync). */
int home_key_create(const char *dir, const char *node, char *err, size_t errlen)
{
        char path[4096], tmp[4200], *text = NULL;
        struct sshsig_key k;
        int fd, r;
        size_t len;

        snprintf(path, sizeof path, "%s/node.key", dir);
        if (access(path, F_OK) == 0)
                return 0;
        if ((r = sshsig_keygen(&k)) < 0 || (r = sshsig_key_encode(&k, node, &text)) < 0) {
                snprintf(err, errlen, "cannot make a key: %s", strerror(-r));
                return r;
        }
        sodium_memzero(&k, sizeof k);
        /* written whole under a private name, then linked: two processes
         * that both find no key keep the one that landed first */
        snprintf(tmp, sizeof tmp, "%s/node.key.%ld.tmp", dir, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        len = strlen(text);
        r = fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ? -errno : 0;
        if (fd >= 0 && close(fd) < 0 && r == 0)
                r = -errno;
        sodium_memzero(text, len);
        free(text);
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        unlink(tmp);
        if (r == 0)
                r = durable_sync_dir(dir);
        if (r < 0)
                snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
        return r < 0 ? r : 0;
}

/* A new county's roster: its own key, from its first change set. */
static int start_roster(const char *dir, const char *node, store *st)
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
        if ((r = home_key(&h, &key)))
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
                cli_error(cli_msg("cannot start the county's key roster: %s", "无法建立县级密钥名册：%s"), err);
        git_repository_free(repo);
        git_libgit2_shutdown();
        roster_free(&ro);
        sodium_memzero(h.key, sizeof *h.key);
        free(h.key);
        return r < 0 ? EXIT_REFUSED : 0;
}

/* A county's key rotation cut short (`daiban key rotate`): the new key
 * waits in node.key.next. When the roster names it as the county's key,
 * finish the swap; else the rotation never happened: drop it. */
static void finish_rotation(struct home *h)
{
        char next[4200], cur[4200], *text = NULL, err[256];
        struct sshsig_key k;
        git_repository *repo = NULL;
        struct roster ro = { 0 };
        bool present = false;
        FILE *f;

        snprintf(next, sizeof next, "%s/node.key.next", h->dir);
        if (access(next, F_OK) < 0)
                return;
        snprintf(cur, sizeof cur, "%s/node.key", h->dir);
        /* a rotation running now holds the repository: leave it be */
        int lockfd = home_trylock_repo(h);
        if (lockfd < 0)
                return;
        if ((f = fopen(next, "r")) && (text = calloc(1, 8192)) && fread(text, 1, 8191, f) > 0 &&
            sshsig_key_decode(text, strlen(text), &k, err, sizeof err) == 0) {
                char path[4200];
                git_libgit2_init();
                snprintf(path, sizeof path, "%s/repo", h->dir);
                const struct roster_entry *ck = NULL;
                if (git_repository_open_bare(&repo, path) == 0 &&
                    roster_open(h->st, repo, h->node, &ro, &present, err, sizeof err) == 0 && present)
                        ck = roster_county_key(&ro);
                /* the roster names it: finish; names another: the rotation
                 * never happened; cannot say: leave it for the next time */
                if (ck && memcmp(ck->pk, k.pk, SSHSIG_PK_BYTES) == 0) {
                        if (rename(next, cur) == 0)
                                durable_sync_dir(h->dir);
                } else if (ck) {
                        unlink(next);
                }
                roster_free(&ro);
                git_repository_free(repo);
                git_libgit2_shutdown();
                sodium_memzero(&k, sizeof k);
        }
        if (f)
                fclose(f);
        if (text) {
                sodium_memzero(text, 8192);
                free(text);
        }
        home_unlock_repo(lockfd);
}

int home_key(struct home *h, const struct sshsig_key **ret)
{
        char path[4096], err[512], buf[4096];
        struct stat sb;
        ssize_t n;
        int fd, r;

        if (h->key) {
                *ret = h->key;
                return 0;
        }
        if (h->role && strcmp(h->role, "county") == 0)
                finish_rotation(h);
        snprintf(path, sizeof path, "%s/node.key", h->dir);
        if (access(path, F_OK) < 0 && home_key_create(h->dir, h->node, err, sizeof err) < 0) {
                cli_error("%s", err);
                return EXIT_REFUSED;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0) {
                cli_error(cli_msg("cannot read this node's key %s: %s", "无法读取本站点的密钥 %s：%s"), path,
                          strerror(errno));
                if (fd >= 0)
                        close(fd);
                return EXIT_REFUSED;
        }
        if (sb.st_mode & 077) {
                cli_error(cli_msg("%s can be read by other users; run 'chmod 600 %s' (and, if others did read it, ask "
                                  "the county to replace this node's key)",
                                  "%s 可被其他用户读取；请运行“chmod 600 %s”（如已被他人读取，请联系县里更换本站点密钥）"),
                          path, path);
                close(fd);
                return EXIT_REFUSED;
        }
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (!(h->key = malloc(sizeof *h->key))) {
                cli_error("%s", "out of memory");
                return EXIT_REFUSED;
        }
        r = n < 0 ? -EIO : sshsig_key_decode(buf, (size_t)n, h->key, err, sizeof err);
        sodium_memzero(buf, sizeof buf);
        if (r < 0) {
                cli_error(cli_msg("this node's key %s is damaged: %s; restore it from a backup, or ask the county "
                                  "to enroll a new one",
                                  "本站点的密钥 %s 已损坏：%s；请从备份恢复，或联系县里登记新密钥"),
                          path, n < 0 ? strerror(errno) : err);
                free(h->key);
                h->key = NULL;
                return EXIT_REFUSED;
        }
        *ret = h->key;
        return 0;
}

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
        if ((r = mkdirs(to)) < 0) {
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

static enum cat_level level_of(const char *role)
{
        if (strcmp(role, "county") == 0)
                return LEVEL_COUNTY;
        if (strcmp(role, "township") == 0)
                return LEVEL_TOWNSHIP;
        if (strcmp(role, "village") == 0)
                return LEVEL_VILLAGE;
        return LEVEL_NONE;
}

/* --county-key: a public key line, a file holding one, or a fingerprint;
 * kept as given (a file: its line) in the store's roster.pin. */
int home_operator_state(struct home *h, const char *op)
{
        struct readmodel_operator o;
        int r = readmodel_operator(h->st, h->node, op, &o);

        return r == 0 ? (o.disabled ? HOME_OP_DISABLED : HOME_OP_ACTIVE) : r == -ENOENT ? HOME_OP_UNKNOWN : -EIO;
}

int home_county_pin(const char *arg, char *pin, size_t len)
{
        FILE *f;
        uint8_t pk[SSHSIG_PK_BYTES];

        if (sshsig_pubkey_parse(arg, pk) == 0 || strncmp(arg, "SHA256:", 7) == 0) {
                snprintf(pin, len, "%s", arg);
                return 0;
        }
        if ((f = fopen(arg, "r"))) {
                bool ok = fgets(pin, (int)len, f) != NULL;
                fclose(f);
                pin[strcspn(pin, "\r\n")] = '\0';
                return ok && sshsig_pubkey_parse(pin, pk) == 0 ? 0 : -EINVAL;
        }
        /* the spoken form: 32 digits and letters, dashes and spaces aside */
        size_t digits = 0;
        for (const char *p = arg; *p; p++)
                if (*p != '-' && *p != ' ')
                        digits++;
        if (digits != 32)
                return -EINVAL;
        snprintf(pin, len, "%s", arg);
        return 0;
}

/* A home made, or copied, under a looser umask: the folder 0700 (no other
 * user can then reach anything under it) and the databases with their
 * journals 0600. Best effort: a home owned by another user is left. */
const char *const home_private_files[] = { "store.db", "store.db-wal", "store.db-shm", "station.db",
                                           "station.db-wal", "station.db-shm", "node.key", NULL };

static void home_make_private(const char *dir)
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

int home_init(const char *dir, const char *node, const char *role, const char *catalog_dir,
              const struct home_init_opts *opt)
{
        const char *name = opt ? opt->name : NULL, *county_key = opt ? opt->county_key : NULL;
        bool rejoin = opt && opt->rejoin;
        char path[4096], err[512];
        catalog *cat = NULL;
        const struct cat_division *div;
        enum cat_level level = level_of(role);
        git_repository *repo = NULL;
        store *st = NULL;
        struct stat sb;
        int r;

        if (level == LEVEL_NONE) {
                cli_error(cli_msg("--role must be village, township or county, not '%s'",
                                  "--role 应为 village、township 或 county，而不是“%s”"), role);
                return EXIT_USAGE;
        }
        char pin[256] = "";
        if (rejoin && level == LEVEL_COUNTY) {
                cli_error("%s", cli_msg("--rejoin is for a township or village, which fetch their history back from the "
                                        "hall; a county's home is restored from its backup (daiban restore)",
                                        "--rejoin 用于乡镇或村（从县里取回本站历史）；县级数据目录请用备份恢复（daiban restore）"));
                return EXIT_USAGE;
        }
        if (county_key && level == LEVEL_COUNTY) {
                cli_error("%s", cli_msg("--county-key is for a township or village; a county makes its own key",
                                        "--county-key 用于乡镇或村；县级自己生成密钥"));
                return EXIT_USAGE;
        }
        if (county_key && home_county_pin(county_key, pin, sizeof pin) < 0) {
                cli_error(cli_msg("--county-key '%s' is neither an ssh-ed25519 public key, a file holding one, nor a "
                                  "fingerprint (SHA256:... or eight groups of four letters and digits)",
                                  "--county-key“%s”既不是 ssh-ed25519 公钥、含公钥的文件，也不是指纹（SHA256:… 或八组四位字母数字）"),
                          county_key);
                return EXIT_USAGE;
        }
        snprintf(path, sizeof path, "%s/store.db", dir);
        if (stat(path, &sb) == 0) {
                cli_error(cli_msg("%s is already a daiban home (it has store.db); choose another --home",
                                  "%s 已经是 daiban 的数据目录（已有 store.db）；请另选 --home"), dir);
                return EXIT_REFUSED;
        }
        r = catalog_load(catalog_dir, &cat);
        if (r < 0 || catalog_nerrors(cat)) {
                if (r == 0)
                        cli_error(cli_msg("the catalogue %s has %zu errors; run 'daiban catalog check %s'",
                                          "目录清单 %s 有 %zu 处错误；请运行“daiban catalog check %s”"),
                                  catalog_dir, catalog_nerrors(cat), catalog_dir);
                else
                        cli_error(cli_msg("cannot read the catalogue %s: %s", "无法读取目录清单 %s：%s"),
                                  catalog_dir, strerror(-r));
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        div = catalog_find_division(cat, node);
        if (!div || div->level != level) {
                if (!div)
                        cli_error(cli_msg("division %s is not in the catalogue's divisions.csv",
                                          "目录清单的 divisions.csv 中没有区划 %s"), node);
                else
                        cli_error(cli_msg("division %s (%s) is a %s, not a %s",
                                          "区划 %s（%s）是%s级，不是%s级"), node, div->name,
                                  cli_zh() ? cat_level_name_zh(div->level) : cat_level_name(div->level),
                                  cli_zh() ? cat_level_name_zh(level) : role);
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        if ((r = mkdirs(dir)) < 0) {
                cli_error(cli_msg("cannot create %s: %s", "无法创建 %s：%s"), dir, strerror(-r));
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        home_make_private(dir);         /* a folder made beforehand, by hand */
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", dir);
        if (git_repository_init(&repo, path, 1) < 0) {
                const git_error *ge = git_error_last();
                cli_error(cli_msg("cannot create the git repository %s: %s", "无法创建 git 仓库 %s：%s"), path,
                          ge ? ge->message : "?");
                catalog_free(cat);
                git_libgit2_shutdown();
                return EXIT_REFUSED;
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
                cli_error(cli_msg("cannot create the git repository %s: %s", "无法创建 git 仓库 %s：%s"), path,
                          strerror(-r));
                catalog_free(cat);
                return EXIT_REFUSED;
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
                cli_error(cli_msg("cannot create the store: %s", "无法创建数据库：%s"), err);
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        char version[41];
        r = home_install_catalog(dir, catalog_dir, st, version);
        if (r == 0 && opt && opt->key_file && home_key_copy(dir, opt->key_file, err, sizeof err) < 0) {
                cli_error("%s", err);
                r = EXIT_REFUSED;
        }
        if (r == 0 && home_key_create(dir, node, err, sizeof err) < 0) {
                cli_error("%s", err);
                r = EXIT_REFUSED;
        }
        if (r == 0 && level == LEVEL_COUNTY)
                r = start_roster(dir, node, st);
        store_close(st);
        if (r) {
                catalog_free(cat);
                return r;
        }
        printf(cli_msg("initialised %s: %s %s (%s), catalogue with %zu matters\n",
                       "已初始化 %s：%s %s（%s），目录清单共 %zu 个事项\n"),
               dir, role, node, name ? name : div->name, catalog_nmatters(cat));
        catalog_free(cat);
        return 0;
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
                if (access(path, F_OK) == 0 && home_install_catalog(dir, path, h->st, hex) == 0)
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

int home_open(const char *dir, struct home *h)
{
        struct core_result res;
        int r;

        core_result_init(&res);
        r = home_load(dir, h, &res);
        if (r && res.en)
                cli_error_both(res.en, res.zh);
        core_result_finish(&res);
        return r ? EXIT_REFUSED : 0;
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
        const char *cap = getenv("DAIBAN_MAX_FILE_BYTES");

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

/* Remove stale *.lock files below dir (depth-limited). */
static void remove_stale_locks(const char *dir, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[4096 + 300];

        if (!d)
                return;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (e->d_name[0] == '.' && (n == 1 || (n == 2 && e->d_name[1] == '.')))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (n > 5 && strcmp(e->d_name + n - 5, ".lock") == 0) {
                        if (unlink(path) == 0)
                                fprintf(stderr, "daiban: removed %s, left by an interrupted run\n", path);
                        continue;
                }
                if (depth > 0 && e->d_type == DT_DIR && strcmp(e->d_name, "objects") != 0)
                        remove_stale_locks(path, depth - 1);
        }
        closedir(d);
}

static int lock_repo(const struct home *h, bool wait)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s/repo.flock", h->dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (!wait && errno == EWOULDBLOCK) {
                        close(fd);
                        return -2;
                }
                close(fd);
                fd = -1;
        }
        if (fd < 0) {
                cli_error(cli_msg("cannot lock %s: %s", "无法锁定 %s：%s"), path, strerror(errno));
                return -1;
        }
        snprintf(path, sizeof path, "%s/repo", h->dir);
        remove_stale_locks(path, 6);
        durable_prepare_repo(path);     /* best effort: a failure shows at the write */
        return fd;
}

int home_lock_repo(const struct home *h)
{
        return lock_repo(h, true);
}

int home_lock_daemon(const struct home *h, const char *which)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s/%s.lock", h->dir, which);
        /* not inherited: a sync child outliving the daemon must not hold it */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                return fd;
        if (fd >= 0 && errno == EWOULDBLOCK)
                cli_error(cli_msg("another 'daiban %s' is running on %s: stop it first (systemctl stop %s)",
                                  "已有另一个“daiban %s”进程在使用 %s：请先停止它（systemctl stop %s）"),
                          strcmp(which, "hall") == 0 ? "hall serve" : "serve", h->dir,
                          strcmp(which, "hall") == 0 ? "daiban-hall" : "daiban-station");
        else
                cli_error(cli_msg("cannot lock %s: %s", "无法锁定 %s：%s"), path, strerror(errno));
        if (fd >= 0)
                close(fd);
        return -1;
}

bool home_daemon_running(const char *dir, const char *which)
{
        char path[4096];
        int fd;
        bool running;

        snprintf(path, sizeof path, "%s/%s.lock", dir, which);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return false;
        running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        close(fd);
        return running;
}

/* True when repo_dir is HOME/repo of a daiban home (store.db beside it). */
static bool is_home_repo(const char *repo_dir)
{
        char path[4096];
        size_t n = strlen(repo_dir);
        struct stat st;

        if (n < 5 || strcmp(repo_dir + n - 5, "/repo") != 0 || n - 5 + sizeof "/store.db" > sizeof path)
                return false;
        snprintf(path, sizeof path, "%.*s/store.db", (int)(n - 5), repo_dir);
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int home_lock_peer_repo(const char *repo_dir)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s.flock", repo_dir);      /* HOME/repo -> HOME/repo.flock */
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && is_home_repo(repo_dir))
                /* a home whose own node has not synced yet has no lock
                 * file: make it, or a .lock left in its repository by a
                 * peer killed mid-push would stay until that node syncs */
                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;      /* not a daiban home's repository: nothing to lock */
        if (flock(fd, LOCK_EX) < 0) {
                close(fd);
                return -1;
        }
        /* as for our own repository: with its lock held no daiban writes
         * there, so a .lock left by one killed mid-push is stale */
        remove_stale_locks(repo_dir, 6);
        durable_prepare_repo(repo_dir);
        return fd;
}

int home_trylock_repo(const struct home *h)
{
        return lock_repo(h, false);
}

void home_unlock_repo(int fd)
{
        if (fd >= 0)
                close(fd);
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

int home_install_catalog(const char *home_dir, const char *src, store *st, char hex[41])
{
        char path[4096], tmp[4200];
        struct stat sb;
        int r;

        git_libgit2_init();
        r = home_catalog_version(src, hex);
        git_libgit2_shutdown();
        if (r < 0) {
                cli_error(cli_msg("cannot read the catalogue %s: %s", "无法读取目录清单 %s：%s"), src, strerror(-r));
                return EXIT_REFUSED;
        }
        snprintf(path, sizeof path, "%s/catalogs/%s", home_dir, hex);
        if (stat(path, &sb) != 0) {
                /* a version goes in under a temporary name and is renamed
                 * into place: a home never holds half a catalogue */
                snprintf(tmp, sizeof tmp, "%s/catalogs/%s.new", home_dir, hex);
                if ((r = copy_catalog(src, tmp)) < 0 || rename(tmp, path) < 0 ||
                    (r = durable_sync_parent(path)) < 0) {
                        cli_error(cli_msg("cannot install the catalogue into %s: %s", "无法安装目录清单到 %s：%s"), path,
                                  strerror(r < 0 ? -r : errno));
                        return EXIT_REFUSED;
                }
        }
        if (store_begin(st) < 0 || store_meta_set(st, "catalog.current", hex) < 0 || store_commit(st) < 0) {
                cli_error(cli_msg("cannot record the catalogue version: %s", "无法记录目录清单版本：%s"), store_errmsg(st));
                store_rollback(st);
                return EXIT_REFUSED;
        }
        return 0;
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

/* Remove a flat folder (a catalogue version's sheets). */
static void remove_tree(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[4096 + 300];

        if (!d)
                return;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                        unlink(path);
                }
        closedir(d);
        rmdir(dir);
}

int home_roster(struct home *h, git_repository *repo, struct roster *ro, bool *ret_present,
                void (*log)(void *, const char *, ...), void *ud)
{
        char err[512];
        bool moved = false;

        memset(ro, 0, sizeof *ro);
        *ret_present = false;
        if (roster_accept(h->st, repo, h->node, &moved, err, sizeof err) < 0)
                log(ud, "refused the county's roster: %s", err);
        else if (moved)
                log(ud, "%s", "the county's roster advanced");
        if (roster_open(h->st, repo, h->node, ro, ret_present, err, sizeof err) < 0) {
                log(ud, "the county's roster held here cannot be trusted: %s; nothing is ingested until it is"
                    " repaired (restore this home from a backup)", err);
                return -1;
        }
        return 0;
}

json_t *home_keys(struct home *h)
{
        json_t *j = json_object();
        git_repository *repo = NULL;
        struct roster ro = { 0 };
        bool present = false;
        char path[4096], err[512], fp[80], *pin = NULL;
        const struct sshsig_key *key = NULL;

        snprintf(path, sizeof path, "%s/node.key", h->dir);
        if (access(path, F_OK) == 0 && home_key(h, &key) == 0) {
                sshsig_fingerprint(key->pk, fp, sizeof fp);
                json_object_set_new(j, "fingerprint", json_string(fp));
        }
        store_meta_get(h->st, "roster.pin", &pin);
        json_object_set_new(j, "county_key_pinned", pin && *pin ? json_string(pin) : json_null());
        free(pin);
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(&repo, path) == 0 &&
            roster_open(h->st, repo, h->node, &ro, &present, err, sizeof err) == 0 && present) {
                const struct roster_entry *e = key ? roster_find(&ro, h->node, key->pk) : NULL;
                json_object_set_new(j, "roster", json_true());
                json_object_set_new(j, "enrolled",
                                    e ? json_pack("{s:I,s:o}", "from", (json_int_t)e->from, "until",
                                                  e->until ? json_integer(e->until) : json_null())
                                      : json_null());
        } else {
                json_object_set_new(j, "roster", json_false());
                json_object_set_new(j, "enrolled", json_null());
        }
        roster_free(&ro);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return j;
}

static void note_line(const char *path, json_int_t at, const char *node, const char *ref, const char *msg,
                      const char *by)
{
        char why[1024], where[512];
        struct stat sb;
        int fd;

        snprintf(why, sizeof why, "%s", msg);
        snprintf(where, sizeof where, "%s", ref);
        /* a sender's words, shown on the county's screens: no controls
         * (C0, DEL, C1), and valid UTF-8 (a cut may split a character) */
        cli_unctrl(why);
        cli_unctrl(where);
        json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s?}", "at", at, "node", node, "ref", where, "why", why, "by", by);
        if (!j) {
                for (unsigned char *p = (unsigned char *)why; *p; p++)
                        if (*p >= 0x80)
                                *p = '?';
                for (unsigned char *p = (unsigned char *)where; *p; p++)
                        if (*p >= 0x80)
                                *p = '?';
                j = json_pack("{s:I,s:s,s:s,s:s,s:s?}", "at", at, "node", node, "ref", where, "why", why, "by", by);
        }
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line)
                return;
        if (stat(path, &sb) == 0 && sb.st_size > 4 * 1024 * 1024) {
                char old[4096 + 8];
                snprintf(old, sizeof old, "%s.1", path);
                rename(path, old);      /* one generation kept */
        }
        if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
                size_t n = strlen(line);
                line[n] = '\n';         /* over the NUL: one write, one line */
                if (write(fd, line, n + 1) < 0) {
                        /* best effort: the pusher and the log were told */
                }
                close(fd);
        }
        free(line);
}

void home_refusal_note(const char *path, const char *node, const char *msg)
{
        const char *colon = strncmp(msg, "refs/", 5) == 0 ? strstr(msg, ": ") : NULL;
        char ref[512] = "";

        if (colon && (size_t)(colon - msg) < sizeof ref) {
                memcpy(ref, msg, (size_t)(colon - msg));
                ref[colon - msg] = '\0';
                msg = colon + 2;
        }
        note_line(path, (json_int_t)time(NULL), node, ref, msg, NULL);
}

bool home_refusal_note_reported(const char *path, const char *by, const char *text)
{
        json_t *j = json_loads(text, 0, NULL);
        const char *node = json_string_value(json_object_get(j, "node"));
        const char *ref = json_string_value(json_object_get(j, "ref"));
        const char *why = json_string_value(json_object_get(j, "why"));
        json_t *at = json_object_get(j, "at");
        bool ok = node && why && json_is_integer(at) && strlen(node) <= 12 && division_code_valid(node) &&
                  feed_entitled(by, node) && strcmp(node, by) != 0;
        /* a node reports refusals of what came from below it, nothing else */
        /* the hall's own time: a reporter's clock cannot keep its lines
         * at the top of the county's alarms */
        if (ok)
                note_line(path, (json_int_t)time(NULL), node, ref ? ref : "", why, by);
        json_decref(j);
        return ok;
}

/* Refusals that say nothing against the sender: a race with another
 * push, a catalogue version still on its way. */
static bool refusal_benign(const char *why)
{
        return strstr(why, "not a fast-forward") || strstr(why, "has not reached this node yet");
}

/* The hall's refusals of the last 30 days, one alarm per sender and
 * reason (with a count), the 10 most recent. */
static void refusal_alarms(const struct home *h, json_t *arr)
{
        char path[4096];
        FILE *f;
        json_t *agg = json_array();
        time_t since = time(NULL) - 30 * 24 * 3600;

        snprintf(path, sizeof path, "%s/" HOME_REFUSALS, h->dir);
        if (!(f = fopen(path, "r"))) {
                json_decref(agg);
                return;
        }
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > 512 * 1024) {
                fseek(f, -512 * 1024, SEEK_END);
                int c;
                while ((c = fgetc(f)) != EOF && c != '\n')
                        ;       /* from the next whole line */
        } else {
                fseek(f, 0, SEEK_SET);
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                json_t *j = json_loads(line, 0, NULL);
                const char *node = json_string_value(json_object_get(j, "node"));
                const char *why = json_string_value(json_object_get(j, "why"));
                const char *by = json_string_value(json_object_get(j, "by"));
                json_int_t at = json_integer_value(json_object_get(j, "at"));
                if (node && why && at >= since && !refusal_benign(why)) {
                        json_t *hit = NULL;
                        size_t i;
                        json_t *x;
                        /* the hall's own refusals one alarm per sender and
                         * reason; a reporter's, one per reporter and sender
                         * (the latest reason shown): its distinct lines
                         * cannot bury the county's own */
                        bool reported = by && *by;
                        json_array_foreach(agg, i, x)
                                if (!strcmp(json_string_value(json_object_get(x, "node")), node) &&
                                    (reported || !strcmp(json_string_value(json_object_get(x, "why")), why)) &&
                                    !strcmp(json_string_value(json_object_get(x, "by")), by ? by : ""))
                                        hit = x;
                        if (hit) {
                                json_object_set_new(hit, "count",
                                                    json_integer(json_integer_value(json_object_get(hit, "count")) + 1));
                                json_object_set(hit, "at", json_object_get(j, "at"));
                                json_object_set(hit, "ref", json_object_get(j, "ref"));
                                json_object_set_new(hit, "why", json_string(why));
                        } else if (json_array_size(agg) < 1000) {
                                json_array_append_new(agg, json_pack("{s:s,s:O,s:s,s:O,s:i,s:s}", "node", node, "ref",
                                                                     json_object_get(j, "ref"), "why", why, "at",
                                                                     json_object_get(j, "at"), "count", 1, "by",
                                                                     by ? by : ""));
                        }
                }
                json_decref(j);
        }
        free(line);
        fclose(f);
        /* the most recent first, ten at most */
        for (int k = 0; k < 10 && json_array_size(agg); k++) {
                size_t best = 0, i;
                json_t *x;
                json_array_foreach(agg, i, x)
                        if (json_integer_value(json_object_get(x, "at")) >
                            json_integer_value(json_object_get(json_array_get(agg, best), "at")))
                                best = i;
                x = json_incref(json_array_get(agg, best));
                json_array_remove(agg, best);
                char en[1024], zh[1024];
                const char *node = json_string_value(json_object_get(x, "node"));
                const char *ref = json_string_value(json_object_get(x, "ref"));
                const char *why = json_string_value(json_object_get(x, "why"));
                long long n = json_integer_value(json_object_get(x, "count"));
                const char *by = json_string_value(json_object_get(x, "by"));
                if (by && *by) {
                        snprintf(en, sizeof en, "%s refused %s from %s on a USB stick (%lld time%s in 30 days%s): %s",
                                 by, *ref ? ref : "data", node, n, n == 1 ? "" : "s", n == 1 ? "" : "; the latest shown",
                                 why);
                        snprintf(zh, sizeof zh, "%s 在导入U盘数据时拒收了 %s 的 %s（30 天内 %lld 次%s）。原因（英文）：%s", by,
                                 node, *ref ? ref : "数据", n, n == 1 ? "" : "，显示最近一次", why);
                } else {
                        snprintf(en, sizeof en, "the hall refused %s from %s (%lld time%s in 30 days): %s",
                                 *ref ? ref : "a push", node, n, n == 1 ? "" : "s", why);
                        snprintf(zh, sizeof zh, "县级服务端拒收了 %s 推送的 %s（30 天内 %lld 次）。原因（英文）：%s", node,
                                 *ref ? ref : "数据", n, why);
                }
                json_object_set_new(x, "kind", json_string("refused"));
                json_object_set_new(x, "en", json_string(en));
                json_object_set_new(x, "zh", json_string(zh));
                json_array_append_new(arr, x);
        }
        json_decref(agg);
}

json_t *home_alarms(const struct home *h)
{
        json_t *arr = json_array();
        git_repository *repo = NULL;
        struct feed_evidence *ev = NULL;
        size_t n = 0;
        char path[4096];

        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(&repo, path) == 0 && feed_evidence_list(repo, &ev, &n) == 0) {
                for (size_t i = 0; i < n; i++) {
                        char held[GIT_OID_HEXSZ + 1], other[GIT_OID_HEXSZ + 1], en[768], zh[768];
                        git_oid_tostr(held, sizeof held, &ev[i].held);
                        git_oid_tostr(other, sizeof other, &ev[i].other);
                        snprintf(en, sizeof en, "%s signed two different histories of its feed in partition %s (seq %"
                                 PRId64 "..%" PRId64 "): a PC restored from an old backup, or its key copied. Call the"
                                 " station; the county revokes the key from seq %" PRId64 " and enrolls a new one."
                                 " Both signed histories are kept as evidence.", ev[i].writer, ev[i].part,
                                 ev[i].from_seq, ev[i].to_seq, ev[i].from_seq);
                        snprintf(zh, sizeof zh, "%s 在分区 %s 对同一序号（%" PRId64 "–%" PRId64 "）签署了两份不同的记录：可能是"
                                 "电脑从旧备份恢复，或密钥被复制。请联系该站点；县里应自序号 %" PRId64 " 起吊销其密钥并登记新密钥。"
                                 "两份签名记录均已留存为证据。", ev[i].writer, ev[i].part, ev[i].from_seq, ev[i].to_seq,
                                 ev[i].from_seq);
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s}", "kind",
                                                             "equivocation", "writer", ev[i].writer, "partition",
                                                             ev[i].part, "from_seq", (json_int_t)ev[i].from_seq,
                                                             "to_seq", (json_int_t)ev[i].to_seq, "held", held, "other",
                                                             other, "en", en, "zh", zh));
                }
        }
        free(ev);
        git_repository_free(repo);
        git_libgit2_shutdown();
        if (strcmp(h->role, "county") == 0)
                refusal_alarms(h, arr);
        return arr;
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
                if (home_key(h, &key)) {
                        free(now);
                        return -EIO;
                }
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
                remove_tree(tmp);
                if (catfeed_extract(repo, &ids[i], tmp, err, sizeof err) < 0) {
                        log(ud, "refused catalogue version %.12s: %s", vers[i], err);
                        r = -EINVAL;
                        remove_tree(tmp);
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
                        if (home_install_catalog(h->dir, tmp, h->st, hex) == 0) {
                                snprintf(cur, sizeof cur, "%s", hex);
                                (*ret_installed)++;
                                log(ud, "catalogue version %.12s received and installed", hex);
                        } else {
                                r = -EIO;
                        }
                }
                catalog_free(cat);
                remove_tree(tmp);
        }
        free(vers);
        free(ids);
        return r;
}
