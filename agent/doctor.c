/* `daiban doctor`'s checks (agent/doctor.h). Each check adds one finding;
 * the order is the order a person would look: the home and its disk,
 * the store, the repository, the key and roster, the link, the clock.
 * The checks read; opening the home (after the store passed its check)
 * does what any command's opening does: it makes the home private again
 * and brings an older store's schema up to this binary's. Another user's
 * home is not opened. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <uv.h>

#include "agent/core/result.h"
#include "agent/doctor.h"
#include "agent/home.h"
#include "sync/catfeed.h"
#include "sync/readmodel.h"
#include "forms/calendar.h"
#include "forms/csv.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* ---- findings --------------------------------------------------------------- */

/* s as valid UTF-8: a byte that does not belong to a sequence (a path
 * in another encoding, a character cut by a full buffer) becomes '?'. */
static json_t *utf8_string(const char *s)
{
        size_t n = strlen(s), i = 0;
        char *t = malloc(n + 1);
        json_t *j;

        if (!t)
                return json_string("?");
        memcpy(t, s, n + 1);
        while (i < n) {
                unsigned char c = (unsigned char)t[i];
                size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
                if (!len || i + len > n || !utf8_valid(t + i, len))
                        t[i++] = '?';
                else
                        i += len;
        }
        j = json_string(t);
        free(t);
        return j ? j : json_string("?");
}

/* What to do about a home of another user (or one that cannot be read). */
#define OWNER_TODO_EN "run daiban as the user that owns the home (for the packaged services: runuser -u daiban --)"
#define OWNER_TODO_ZH "请以数据目录的所有者身份运行 daiban（系统服务：runuser -u daiban --）"

/* Each check's name in both languages, as the CLI and the UI show it. */
static const char *const check_names[][3] = {
        { "home", "home", "数据目录" },       { "disk", "disk", "磁盘" },         { "store", "store", "数据库" },
        { "repository", "repository", "仓库" }, { "key", "key", "签名密钥" },     { "link", "link", "网络连接" },
        { "waiting", "waiting", "待发送" },    { "clock", "clock", "时钟" },     { "backup", "backup", "备份" },
        { "catalogue", "catalogue", "事项目录" }, { "service", "service", "服务" },
};

static void add(json_t *out, const char *check, const char *level, const char *en, const char *zh,
                const char *todo_en, const char *todo_zh)
{
        json_t *f = json_object();

        json_object_set_new(f, "check", json_string(check));
        for (size_t i = 0; i < sizeof check_names / sizeof check_names[0]; i++)
                if (strcmp(check_names[i][0], check) == 0) {
                        json_object_set_new(f, "name_en", json_string(check_names[i][1]));
                        json_object_set_new(f, "name_zh", json_string(check_names[i][2]));
                }
        json_object_set_new(f, "level", json_string(level));
        json_object_set_new(f, "en", utf8_string(en));
        json_object_set_new(f, "zh", utf8_string(zh));
        if (todo_en) {
                json_object_set_new(f, "todo_en", utf8_string(todo_en));
                json_object_set_new(f, "todo_zh", utf8_string(todo_zh));
        }
        json_array_append_new(out, f);
}

/* printf into a finding's text (json_string copies it). */
__attribute__((format(printf, 3, 4))) static const char *fmt(char *buf, size_t len, const char *f, ...)
{
        va_list ap;

        va_start(ap, f);
        vsnprintf(buf, len, f, ap);
        va_end(ap);
        return buf;
}

int doctor_needs_person(const json_t *findings)
{
        size_t i;
        json_t *f;

        json_array_foreach(findings, i, f) {
                if (strcmp(json_string_value(json_object_get(f, "level")), "ok") != 0)
                        return 1;
        }
        return 0;
}

/* ---- the home, before home_open makes it private -------------------------------- */

#ifdef _WIN32
/* On Windows a file's mode bits say nothing of who may read it: the
 * home's readers are its ACL, which the installer sets (LocalService and
 * the administrators, docs/windows.md). Not checked here. */
static int check_private(json_t *out, const char *dir)
{
        (void)out;
        (void)dir;
        return 0;
}
#else
static int check_private(json_t *out, const char *dir)
{
        char path[4096], en[4600], zh[4600], open_to[4096] = "";
        struct stat sb;
        size_t n = 0;

        if (stat(dir, &sb) == 0 && (sb.st_mode & 077))
                n += (size_t)snprintf(open_to + n, sizeof open_to - n, "%s%s", n ? ", " : "", dir);
        if (stat(dir, &sb) == 0 && sb.st_uid != geteuid()) {
                add(out, "home", "warn",
                    fmt(en, sizeof en, "%s belongs to another user (uid %u) than the one running this (uid %u)", dir,
                        (unsigned)sb.st_uid, (unsigned)geteuid()),
                    fmt(zh, sizeof zh, "%s 属于另一个用户（uid %u），不是当前用户（uid %u）", dir, (unsigned)sb.st_uid,
                        (unsigned)geteuid()),
                    OWNER_TODO_EN, OWNER_TODO_ZH);
                return -1;
        }
        for (const char *const *f = home_private_files; *f && n < sizeof open_to; f++) {
                snprintf(path, sizeof path, "%s/%s", dir, *f);
                if (stat(path, &sb) == 0 && (sb.st_mode & 077))
                        n += (size_t)snprintf(open_to + n, sizeof open_to - n, "%s%s", n ? ", " : "", *f);
        }
        if (n)
                add(out, "home", "warn",
                    fmt(en, sizeof en, "other users of this machine could read %s (daiban makes them private"
                        " again when it opens the home)", open_to),
                    fmt(zh, sizeof zh, "本机其他用户曾可读取 %s（daiban 打开数据目录时会重新设为仅本用户可读）", open_to),
                    "find out who could have copied the key or the applications; if in doubt, have the county"
                    " rotate this node's key (daiban roster rotate)",
                    "请查明是否有人可能复制了密钥或申请数据；如有疑问，请县里为本节点更换密钥（daiban roster rotate）");
        else
                add(out, "home", "ok", fmt(en, sizeof en, "%s is readable by its owner only", dir),
                    fmt(zh, sizeof zh, "%s 仅所有者可读", dir), NULL, NULL);
        return 0;
}
#endif

static void check_disk(json_t *out, const char *dir)
{
        char en[256], zh[256];
        unsigned long long avail;
        uv_statfs_t *vf;
        uv_fs_t req;
        int r;

        /* libuv's: statvfs here, GetDiskFreeSpaceExW on Windows */
        if ((r = uv_fs_statfs(NULL, &req, dir, NULL)) < 0) {
                uv_fs_req_cleanup(&req);
                add(out, "disk", "warn", fmt(en, sizeof en, "cannot read the free space: %s", uv_strerror(r)),
                    fmt(zh, sizeof zh, "无法读取剩余空间：%s", uv_strerror(r)), "check the disk", "请检查磁盘");
                return;
        }
        vf = req.ptr;
        avail = (unsigned long long)vf->f_bavail * vf->f_bsize;
        uv_fs_req_cleanup(&req);
        if (avail < DOCTOR_FREE_FAIL)
                add(out, "disk", "fail", fmt(en, sizeof en, "only %llu MiB free where the home is", avail >> 20),
                    fmt(zh, sizeof zh, "数据目录所在磁盘仅剩 %llu MiB", avail >> 20),
                    "free space now: captures and syncs fail when the disk is full (nothing already saved is lost)",
                    "请立即清理磁盘：磁盘写满时无法受理和同步（已保存的不会丢失）");
        else if (avail < DOCTOR_FREE_WARN)
                add(out, "disk", "warn", fmt(en, sizeof en, "%llu MiB free where the home is", avail >> 20),
                    fmt(zh, sizeof zh, "数据目录所在磁盘剩余 %llu MiB", avail >> 20),
                    "free some space soon (scanned materials need room)", "请尽快清理磁盘（扫描件需要空间）");
        else
                add(out, "disk", "ok", fmt(en, sizeof en, "%llu MiB free", avail >> 20),
                    fmt(zh, sizeof zh, "剩余 %llu MiB", avail >> 20), NULL, NULL);
}

/* PRAGMA quick_check on a read-only connection of its own, so that a
 * damaged store is reported rather than failing home_open. */
static int check_store(json_t *out, const char *dir)
{
        char path[4096], en[1024], zh[1024], first[512] = "";
        bool ok;

        snprintf(path, sizeof path, "%s/store.db", dir);
        int rc = store_quick_check(path, &ok, first, sizeof first);
        if (ok) {
                add(out, "store", "ok", "the store passes SQLite's quick_check", "数据库通过 SQLite 完整性检查",
                    NULL, NULL);
                return 0;
        }
        if (rc == -EIO) {
                /* locked, unreadable, out of memory: not known to be damaged */
                add(out, "store", "warn", fmt(en, sizeof en, "the store %s cannot be checked: %s", path, first),
                    fmt(zh, sizeof zh, "无法检查数据库 %s：%s", path, first),
                    "run the check again; if it says the same, check the home's owner and permissions",
                    "请再检查一次；如仍如此，请检查数据目录的所有者和权限");
                return -1;
        }
        add(out, "store", "fail", fmt(en, sizeof en, "the store %s is damaged: %s", path, first),
            fmt(zh, sizeof zh, "数据库 %s 已损坏：%s", path, first),
            "stop using this PC for captures; restore the home from its latest backup, then sync (what the hall"
            " holds of this node comes back)",
            "请停止在本机受理；从最近的备份恢复数据目录后同步（县里保存的本节点数据会取回）");
        return -1;
}

/* Every ref's object is present, and this node's own feed is whole:
 * each commit and its tree, back to the first. */
static void check_repo(json_t *out, const struct home *h)
{
        char path[4096], en[1024], zh[1024], bad[512] = "", own[256];
        git_repository *repo = NULL;
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_odb *odb = NULL;
        size_t refs = 0, commits = 0;

        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h->dir);
        snprintf(own, sizeof own, "refs/feeds/%s/%s", h->node, h->node);
        if (git_repository_open_bare(&repo, path) < 0 || git_repository_odb(&odb, repo) < 0) {
                const git_error *e = git_error_last();
                snprintf(bad, sizeof bad, "cannot open it: %s", e ? e->message : "?");
        } else if (git_reference_iterator_new(&it, repo) == 0) {
                int r;
                while (!*bad && (r = git_reference_next(&ref, it)) == 0) {
                        const git_oid *id = git_reference_target(ref);
                        refs++;
                        if (id && !git_odb_exists(odb, id))
                                snprintf(bad, sizeof bad, "%s points to a missing object", git_reference_name(ref));
                        git_reference_free(ref);
                }
                if (!*bad && r != GIT_ITEROVER)
                        snprintf(bad, sizeof bad, "a ref cannot be read");
                git_reference_iterator_free(it);
        }
        if (!*bad && repo) {
                git_revwalk *w = NULL;
                git_oid id;
                int r = git_revwalk_new(&w, repo);
                if (r == 0 && (r = git_revwalk_push_ref(w, own)) == GIT_ENOTFOUND)
                        r = GIT_ITEROVER;               /* nothing committed yet */
                else if (r < 0)
                        snprintf(bad, sizeof bad, "%s cannot be read", own);
                while (!*bad && r == 0) {
                        git_commit *c = NULL;
                        git_tree *t = NULL;
                        if ((r = git_revwalk_next(&id, w)) < 0)
                                break;
                        commits++;
                        if (git_commit_lookup(&c, repo, &id) < 0 || git_commit_tree(&t, c) < 0)
                                snprintf(bad, sizeof bad, "%s: commit %.12s or its tree is missing", own,
                                         git_oid_tostr_s(&id));
                        git_tree_free(t);
                        git_commit_free(c);
                }
                if (!*bad && r != GIT_ITEROVER) {
                        /* the walk stopped short: a parent that is not here */
                        const git_error *e = git_error_last();
                        snprintf(bad, sizeof bad, "%s: the history stops after %zu change sets (%s)", own, commits,
                                 e ? e->message : "?");
                }
                git_revwalk_free(w);
        }
        git_odb_free(odb);
        git_repository_free(repo);
        git_libgit2_shutdown();
        if (*bad)
                add(out, "repository", "fail", fmt(en, sizeof en, "the repository %s is damaged: %s", path, bad),
                    fmt(zh, sizeof zh, "仓库 %s 已损坏：%s", path, bad),
                    "restore the home from its latest backup, then sync",
                    "请从最近的备份恢复数据目录，然后同步");
        else
                add(out, "repository", "ok",
                    fmt(en, sizeof en, "%zu refs, all present; this node's feed whole (%zu change sets)", refs, commits),
                    fmt(zh, sizeof zh, "%zu 个引用齐全；本节点变更记录完整（%zu 个变更集）", refs, commits), NULL, NULL);
}

#define NO_KEY_TODO_EN                                                                                        \
        "restore node.key from the home's backup; without one, ask the county: a lost key needs a new key on the " \
        "roster (docs/roster.md)"
#define NO_KEY_TODO_ZH "请从数据目录的备份恢复 node.key；若无备份，请联系县里在名册中登记新密钥"

static void check_key(json_t *out, struct home *h)
{
        const struct sshsig_key *key;
        struct core_result res;
        char en[512], zh[512], path[4200];

        /* a key there that cannot be used: why (home_keys shows it as none) */
        snprintf(path, sizeof path, "%s/node.key", h->dir);
        core_result_init(&res);
        if (access(path, F_OK) == 0 && home_key_load(h, &key, &res) != 0) {
                add(out, "key", "fail", res.en, res.zh, NO_KEY_TODO_EN, NO_KEY_TODO_ZH);
                core_result_finish(&res);
                return;
        }
        core_result_finish(&res);
        json_t *k = home_keys(h);
        const char *fp = json_string_value(json_object_get(k, "fingerprint"));

        if (!fp)
                add(out, "key", "fail", "this node has no signing key (HOME/node.key)",
                    "本节点没有签名密钥（HOME/node.key）", NO_KEY_TODO_EN, NO_KEY_TODO_ZH);
        else if (strcmp(h->role, "county") != 0 && !json_is_true(json_object_get(k, "roster")))
                add(out, "key", "warn", fmt(en, sizeof en, "no county roster here yet (this key: %s)", fp),
                    fmt(zh, sizeof zh, "本机尚无县级密钥名册（本机密钥：%s）", fp),
                    "sync once: the roster comes with the county's feeds",
                    "请同步一次：名册随县里的数据一同取回");
        else if (json_is_null(json_object_get(k, "enrolled")))
                add(out, "key", "warn", fmt(en, sizeof en, "the county has not enrolled this node's key %s", fp),
                    fmt(zh, sizeof zh, "县里尚未登记本节点密钥 %s", fp),
                    "read the fingerprint to the county (daiban key show) and sync after they enroll it; until"
                    " then nothing this node sends is accepted",
                    "请把指纹报给县里（daiban key show），登记后再同步；在此之前本节点发送的数据不会被接收");
        else if (json_is_integer(json_object_get(json_object_get(k, "enrolled"), "until")))
                add(out, "key", "fail",
                    fmt(en, sizeof en, "the county closed this node's key %s on its roster from seq %lld", fp,
                        (long long)json_integer_value(json_object_get(json_object_get(k, "enrolled"), "until"))),
                    fmt(zh, sizeof zh, "县里已在名册中停用本节点密钥 %s（自序号 %lld 起）", fp,
                        (long long)json_integer_value(json_object_get(json_object_get(k, "enrolled"), "until"))),
                    "call the county: nothing this key signs from then on is accepted; they enroll the key"
                    " this node should use (daiban roster rotate)",
                    "请联系县里：此后用该密钥签名的数据不会被接收；请县里登记本节点应使用的密钥（daiban roster rotate）");
        else
                add(out, "key", "ok", fmt(en, sizeof en, "signing key %s is on the county's roster", fp),
                    fmt(zh, sizeof zh, "签名密钥 %s 已在县级名册中", fp), NULL, NULL);
        json_decref(k);
}

static void check_link(json_t *out, struct home *h, long long now)
{
        char *url = NULL, *token = NULL, *pin = NULL, *last = NULL, en[1024], zh[1024];
        long long waiting = home_events_waiting(h), at;

        store_meta_get(h->st, "remote.url", &url);
        store_meta_get(h->st, "remote.token", &token);
        store_meta_get(h->st, "remote.pin", &pin);
        store_meta_get(h->st, "sync.last_ok", &last);
        at = cal_stamp_parse(last);     /* "2026-12-05T10:00:00+0800" (cmd-sync.c) */
        if (!url) {
                if (strcmp(h->role, "county") == 0)
                        add(out, "link", "ok", "the county serves its feeds (no remote of its own)",
                            "县级节点提供数据服务（无上级）", NULL, NULL);
                else
                        add(out, "link", "warn", "no hall is set: this node syncs only by USB stick",
                            "未设置县级交换中心：本节点只能通过U盘同步",
                            "if there is a link, set the hall: daiban remote set URL --token - --pin PIN",
                            "如有网络，请设置交换中心：daiban remote set 地址 --token - --pin 指纹");
        } else if (strncmp(url, "https://", 8) == 0 && (!token || !pin)) {
                add(out, "link", "fail",
                    fmt(en, sizeof en, "the hall %s is set without %s", url, !token ? "a token" : "a certificate pin"),
                    fmt(zh, sizeof zh, "交换中心 %s 缺少%s", url, !token ? "令牌" : "证书指纹"),
                    "ask the county for the token and the pin, then: daiban remote set URL --token - --pin PIN",
                    "请向县里索取令牌和证书指纹，然后运行 daiban remote set 地址 --token - --pin 指纹");
        } else if (at < 0 || now - at > DOCTOR_STALE_S) {
                add(out, "link", "warn",
                    at < 0 ? fmt(en, sizeof en, "no sync with %s has succeeded yet", url)
                           : fmt(en, sizeof en, "the last sync with %s succeeded %lld days ago", url,
                                 (now - at) / 86400),
                    at < 0 ? fmt(zh, sizeof zh, "与 %s 尚未成功同步过", url)
                           : fmt(zh, sizeof zh, "与 %s 上次成功同步是 %lld 天前", url, (now - at) / 86400),
                    "run daiban sync and read its error; if the link is down, carry a USB stick to the township",
                    "请运行 daiban sync 并查看错误；如网络不通，请用U盘送到乡镇");
        } else {
                add(out, "link", "ok", fmt(en, sizeof en, "last sync with %s %lld minutes ago", url, (now - at) / 60),
                    fmt(zh, sizeof zh, "%lld 分钟前与 %s 同步成功", (now - at) / 60, url), NULL, NULL);
        }
        if (waiting > 0 && url && (at < 0 || now - at > DOCTOR_STALE_S))
                add(out, "waiting", "warn", fmt(en, sizeof en, "%lld events of this node are not sent yet", waiting),
                    fmt(zh, sizeof zh, "本节点有 %lld 条记录尚未发出", waiting),
                    "they are safe here; sync, or carry them by USB stick (daiban bundle export)",
                    "数据已安全保存在本机；请同步，或用U盘带出（daiban bundle export）");
        else
                add(out, "waiting", "ok", fmt(en, sizeof en, "%lld events waiting to be sent", waiting),
                    fmt(zh, sizeof zh, "%lld 条记录待发送", waiting), NULL, NULL);
        free(url);
        free(token);
        free(pin);
        free(last);
}

/* The county's event stamped well after this PC's clock: this clock is
 * behind (a dead CMOS battery), and this node's deadlines are wrong. Only
 * the county's stamps count: one village's clock running ahead must not
 * make every other node doubt its own. */
static void check_clock(json_t *out, struct home *h, long long now)
{
        long long newest;
        char en[512], zh[512], county[8];

        snprintf(county, sizeof county, "%.6s", h->node);
        if (strcmp(h->role, "county") == 0) {
                add(out, "clock", "ok", "the county's clock is the one others are compared with",
                    "县级节点的时钟是其他节点的比对基准", NULL, NULL);
                return;
        }
        newest = readmodel_node_last_wall(h->st, county);
        if (newest < 0)
                newest = 0;
        /* the hall's own clock, as the last push saw it */
        char *kept = NULL;
        long long off = 0, at = 0;
        bool measured = store_meta_get(h->st, "clock.hall", &kept) == 0 && kept &&
                        sscanf(kept, "%lld %lld", &off, &at) == 2 && at > 0;
        free(kept);
        if (newest - now * 1000 <= DOCTOR_CLOCK_BEHIND_MS && measured) {
                long long mins = (off < 0 ? -off : off) / 60000, days = (now - at) / 86400;
                if (off > DOCTOR_CLOCK_BEHIND_MS || -off > DOCTOR_CLOCK_BEHIND_MS)
                        add(out, "clock", "warn",
                            fmt(en, sizeof en, "this PC's clock was %lld minutes %s the hall's at the last push (%lld"
                                " days ago)", mins, off > 0 ? "ahead of" : "behind", days),
                            fmt(zh, sizeof zh, "上次推送时（%lld 天前）本机时钟比县级服务端%s %lld 分钟", days,
                                off > 0 ? "快" : "慢", mins),
                            "set this PC's date and time (and replace its CMOS battery if it keeps losing them); due"
                            " dates count from this clock",
                            "请校准本机日期和时间（如经常丢失，请更换主板电池）；办结时限按本机时钟计算");
                else
                        add(out, "clock", "ok",
                            fmt(en, sizeof en, "within %lld seconds of the hall's clock at the last push (%lld days"
                                " ago)", (off < 0 ? -off : off) / 1000, days),
                            fmt(zh, sizeof zh, "上次推送时（%lld 天前）本机时钟与县级服务端相差 %lld 秒以内", days,
                                (off < 0 ? -off : off) / 1000),
                            NULL, NULL);
                return;
        }
        if (newest - now * 1000 > DOCTOR_CLOCK_BEHIND_MS)
                add(out, "clock", "warn",
                    fmt(en, sizeof en, "this PC's clock is at least %lld minutes behind (the county %s wrote an"
                        " event stamped later)", (newest - now * 1000) / 60000, county),
                    fmt(zh, sizeof zh, "本机时钟至少慢了 %lld 分钟（县里 %s 的记录时间更晚）",
                        (newest - now * 1000) / 60000, county),
                    "set this PC's date and time (and replace its CMOS battery if it keeps losing them); due dates"
                    " count from this clock",
                    "请校准本机日期和时间（如经常丢失，请更换主板电池）；办结时限按本机时钟计算");
        else
                add(out, "clock", "ok", "no event of the county is stamped ahead of this clock",
                    "县里的记录时间均不晚于本机时钟", NULL, NULL);
}

/* The catalogue in use against the newest version the county published,
 * as this node last received its chain (by sync or stick). */
static void check_catalogue(json_t *out, const struct home *h)
{
        char path[4096], ref[64], county[7], err[256] = "", en[1024], zh[1024];
        char (*vers)[41] = NULL;
        git_oid *ids = NULL;
        git_repository *repo = NULL;
        size_t n = 0;
        const char *cur = h->catalog_version ? h->catalog_version : "";

        git_libgit2_init();
        catfeed_county(h->node, county);
        snprintf(ref, sizeof ref, CATFEED_PREFIX "%s", county);
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(&repo, path) < 0 || catfeed_list(repo, ref, &vers, &ids, &n, err, sizeof err) < 0) {
                add(out, "catalogue", "warn", fmt(en, sizeof en, "the county's catalogue chain cannot be read: %s",
                                                  err[0] ? err : "the repository does not open"),
                    fmt(zh, sizeof zh, "无法读取县里的事项目录链：%s", err[0] ? err : "仓库无法打开"),
                    "run daiban doctor's repository check above; sync again",
                    "请查看上方“仓库”检查结果，然后重新同步");
        } else if (n == 0) {
                bool county_home = strcmp(h->role, "county") == 0;
                add(out, "catalogue", "warn",
                    county_home ? fmt(en, sizeof en, "catalogue %.12s is in use but not published yet", cur)
                                : fmt(en, sizeof en, "catalogue %.12s is in use; no version from the county has come yet",
                                      cur),
                    county_home ? fmt(zh, sizeof zh, "正在使用事项目录 %.12s，但尚未发布", cur)
                                : fmt(zh, sizeof zh, "正在使用事项目录 %.12s；尚未收到县里发布的版本", cur),
                    county_home ? "sync once (daiban sync) or run the hall: it publishes the catalogue"
                                : "sync with the hall, or import the township's USB stick",
                    county_home ? "请同步一次（daiban sync）或启动县级服务端：目录随之发布"
                                : "请与县里同步，或导入乡镇的U盘数据");
        } else if (strcmp(vers[n - 1], cur) == 0) {
                add(out, "catalogue", "ok", fmt(en, sizeof en, "catalogue %.12s, the county's newest (%zu versions)",
                                                cur, n),
                    fmt(zh, sizeof zh, "事项目录 %.12s，为县里发布的最新版（共 %zu 版）", cur, n), NULL, NULL);
        } else {
                char dir[4200];
                snprintf(dir, sizeof dir, "%s/catalogs/%s", h->dir, vers[n - 1]);
                bool installed = access(dir, F_OK) == 0;
                add(out, "catalogue", "warn",
                    fmt(en, sizeof en, "the county published catalogue %.12s, but this node uses %.12s%s", vers[n - 1],
                        cur, installed ? "" : " (the newer one is not installed here)"),
                    fmt(zh, sizeof zh, "县里已发布事项目录 %.12s，本站仍在使用 %.12s%s", vers[n - 1], cur,
                        installed ? "" : "（新版本未安装）"),
                    "sync again and read its messages: a version that does not check clean or does not list this"
                    " node is refused; tell the county",
                    "请重新同步并查看提示：未通过检查或未列入本站的版本会被拒收；请告知县里");
        }
        free(vers);
        free(ids);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

/* The daemon a node of this role runs: the station's web UI and
 * background sync, or for the county its hall. */
static void check_service(json_t *out, const struct home *h)
{
        bool county = strcmp(h->role, "county") == 0;
        const char *which = county ? "hall" : "serve";

        if (home_daemon_running(h->dir, which))
                add(out, "service", "ok", county ? "the hall is running on this home" : "the station is running on this home",
                    county ? "县级服务端正在运行" : "服务站程序正在运行", NULL, NULL);
        else
                add(out, "service", "warn",
                    county ? "the hall is not running: no station can sync with the county"
                           : "the station is not running: no web UI here, and no background sync",
                    county ? "县级服务端未运行：各站点无法与县里同步" : "服务站程序未运行：没有网页界面，也不会自动同步",
                    county ? "start it: systemctl start daiban-hall (or daiban hall serve)"
                           : "start it: systemctl start daiban-station (or daiban serve)",
                    county ? "请启动：systemctl start daiban-hall（或 daiban hall serve）"
                           : "请启动：systemctl start daiban-station（或 daiban serve）");
}

/* A restored home that has not caught up cannot write; a home never
 * backed up, or not for a week, loses everything with its disk. */
static void check_backup(json_t *out, struct home *h, long long now)
{
        char *last = NULL, *where = NULL, en[1024], zh[1024];
        long long at = -1;

        if (store_restore_pending(h->st) && strcmp(h->role, "county") == 0) {
                add(out, "backup", "warn", "this county hall was restored from a backup: it takes back what it wrote after the "
                    "backup from the townships' syncs, and changes no roster or catalogue until then",
                    "本县服务端是从备份恢复的：正从各乡镇的同步中取回备份之后本县所写内容，在此之前不修改密钥名册和目录清单",
                    "keep daiban hall serve running; when every township has synced, run daiban hall resume",
                    "请保持 daiban hall serve 运行；各乡镇都同步后，运行 daiban hall resume");
                return;
        }
        if (store_restore_pending(h->st) && store_new_epoch(h->st)) {
                add(out, "backup", "warn", fmt(en, sizeof en, "this home was restored offline: it writes from seq %lld with a new key, "
                                               "and nothing it wrote has left yet", (long long)store_seq_floor(h->st)),
                    fmt(zh, sizeof zh, "本站数据为离线恢复：使用新密钥，序号从 %lld 开始；所写内容尚未发出",
                        (long long)store_seq_floor(h->st)),
                    "sync with the hall as soon as a link is there, and have the county enroll this key (daiban key show) "
                    "with daiban roster rotate ... --at the seq above",
                    "一有网络就与县里同步；并请县里登记本站新密钥（daiban key show 显示），用 daiban roster rotate ... --at 上述序号");
                return;
        }
        if (store_restore_pending(h->st)) {
                add(out, "backup", "fail", "this home was restored from a backup (or made with --rejoin) and has not synced since: nothing can be"
                    " written here yet",
                    "本站数据从备份恢复（或用 --rejoin 重建）后尚未同步：暂时不能写入任何内容",
                    "run daiban sync with the hall: it brings back what this node sent after the backup",
                    "请与县里同步（daiban sync）：取回本节点在备份之后发出的内容");
                return;
        }
        store_meta_get(h->st, "backup.last", &last);
        store_meta_get(h->st, "backup.last_path", &where);
        if (last)
                at = cal_stamp_parse(last);     /* "…Z" (cmd-backup.c) */
        if (at < 0)
                add(out, "backup", "warn", "this home has never been backed up", "本站数据从未备份过",
                    "run daiban backup --to a USB stick (the package's daiban-backup.timer does it daily)",
                    "请运行 daiban backup --to U盘目录（安装包的 daiban-backup.timer 每天自动备份）");
        else if (now - at > DOCTOR_BACKUP_STALE_S)
                add(out, "backup", "warn", fmt(en, sizeof en, "the last backup is %lld days old (%s)", (now - at) / 86400,
                                               where ? where : "?"),
                    fmt(zh, sizeof zh, "上次备份是 %lld 天前（%s）", (now - at) / 86400, where ? where : "?"),
                    "run daiban backup, and check that daiban-backup.timer is enabled",
                    "请运行 daiban backup，并检查 daiban-backup.timer 是否已启用");
        else
                add(out, "backup", "ok", fmt(en, sizeof en, "last backup %lld hours ago: %s", (now - at) / 3600,
                                             where ? where : "?"),
                    fmt(zh, sizeof zh, "%lld 小时前已备份：%s", (now - at) / 3600, where ? where : "?"), NULL, NULL);
        free(last);
        free(where);
}

json_t *doctor_run(const char *dir, long long now)
{
        json_t *out = json_array();
        char path[4096], en[4200], zh[4200];
        struct home h;

        snprintf(path, sizeof path, "%s/store.db", dir);
        if (access(path, F_OK) < 0 && errno != ENOENT) {
                add(out, "home", "fail", fmt(en, sizeof en, "%s cannot be read: %s", dir, strerror(errno)),
                    fmt(zh, sizeof zh, "无法读取 %s：%s", dir, strerror(errno)),
                    OWNER_TODO_EN, OWNER_TODO_ZH);
                return out;
        }
        if (access(path, F_OK) < 0) {
                add(out, "home", "fail", fmt(en, sizeof en, "%s is not a daiban home (no store.db)", dir),
                    fmt(zh, sizeof zh, "%s 不是 daiban 数据目录（没有 store.db）", dir),
                    "give the right --home (or DAIBAN_HOME), or create the home with daiban init",
                    "请给出正确的 --home（或 DAIBAN_HOME），或用 daiban init 创建");
                return out;
        }
        if (check_private(out, dir) < 0)
                return out;             /* another user's home: opening it could change it */
        check_disk(out, dir);
        if (check_store(out, dir) < 0)
                return out;
        struct core_result res;
        core_result_init(&res);
        if (home_load(dir, &h, &res) != 0) {
                add(out, "home", "fail", fmt(en, sizeof en, "%s cannot be opened: %s", dir, res.en ? res.en : "?"),
                    fmt(zh, sizeof zh, "无法打开 %s：%s", dir, res.zh ? res.zh : "?"), "act on the reason given",
                    "请按所述原因处理");
                core_result_finish(&res);
                return out;
        }
        core_result_finish(&res);
        check_repo(out, &h);
        check_key(out, &h);
        check_link(out, &h, now);
        check_clock(out, &h, now);
        check_catalogue(out, &h);
        check_backup(out, &h, now);
        check_service(out, &h);
        home_close(&h);
        return out;
}
