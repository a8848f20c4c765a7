/* Joining a county through its hall. See join.h. */
#include "agent/join.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>

#include "agent/core/result.h"
#include "agent/netwatch.h"
#include "agent/home.h"
#include "sync/catfeed.h"
#include "sync/transfer.h"
#include "sync/roster.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* Is the host of an http:// address this machine, exactly? */
static bool loopback_host(const char *url)
{
        const char *h = url + 7;
        size_t n = h[0] == '[' ? (strchr(h, ']') ? (size_t)(strchr(h, ']') - h) + 1 : 0) : strcspn(h, ":/");

        return (n == 9 && !strncmp(h, "127.0.0.1", 9)) || (n == 9 && !strncasecmp(h, "localhost", 9)) ||
               (n == 5 && !strncmp(h, "[::1]", 5));
}

int join_remote_check(const char *url, const char *token, const char *pin, const char *node, struct core_result *res)
{
        bool http = strncasecmp(url, "http://", 7) == 0, https = strncasecmp(url, "https://", 8) == 0;

        if ((http || https) && strchr(url, '@')) {
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "a hall's address carries no user name or password (the token is given apart)",
                                      "县级服务端地址中不能含用户名或密码（令牌另行填写）");
        }
        if (token && http && !loopback_host(url)) {
                return core_fail_both(res, CORE_REFUSED, "refused",
                                      "a token is never sent over plain http except on this machine; use https://",
                                      "令牌不能通过明文 http 发送（本机除外）；请使用 https://");
        }
        /* the hall serves git at /feeds: any other http(s) address would
         * only give a 404 at the first sync */
        size_t ulen = strlen(url);
        while (ulen && url[ulen - 1] == '/')
                ulen--;
        if ((http || https) && (ulen < 6 || strncmp(url + ulen - 6, "/feeds", 6) != 0)) {
                return core_fail(res, CORE_USAGE, "bad_request",
                                 "%s is not a hall's address: it ends in /feeds (such as https://hall.example:8420/feeds)",
                                 "%s 不是县级服务端的地址：地址应以 /feeds 结尾（如 https://hall.example:8420/feeds）",
                                 url);
        }
        if (pin && (strlen(pin) != 64 || strspn(pin, "0123456789abcdefABCDEF") != 64)) {
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "--pin takes the SHA-256 of the hall's certificate: 64 hex digits, as"
                                      " 'daiban hall pin' prints it",
                                      "--pin 应为县级服务端证书的 SHA-256：64 位十六进制数（“daiban hall pin”可显示）");
        }
        /* a token names its node ("<node>.<secret>"): another node's would
         * only be refused by the hall at every sync */
        size_t tn = token ? strcspn(token, ".") : 0;
        if (token && node && (tn != strlen(node) || strncmp(token, node, tn) != 0 || !token[tn] || !token[tn + 1])) {
                return core_fail(res, CORE_USAGE, "bad_request",
                                 "this token is not %s's (a hall token reads %s.<secret>); ask the county for this"
                                 " station's token ('daiban hall token %s')",
                                 "该令牌不属于本站点 %s（县级服务端令牌形如 %s.<密文>）；请向县里申请本站点的令牌"
                                 "（“daiban hall token %s”）",
                                 node, node, node);
        }
        return 0;
}

int join_remote_set(struct home *h, const char *url, const char *token, const char *pin, struct core_result *res)
{
        if (store_begin(h->st) < 0 || store_meta_set(h->st, "remote.url", url) < 0 ||
            (token && store_meta_set(h->st, "remote.token", token) < 0) ||
            (pin && store_meta_set(h->st, "remote.pin", pin) < 0) || store_commit(h->st) < 0) {
                core_fail(res, CORE_FAILED, "store", "cannot record the remote: %s", "无法保存远端设置：%s",
                          store_errmsg(h->st));
                store_rollback(h->st);
                return CORE_FAILED;
        }
        return 0;
}

static void log_fetch(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The fetch's lines (English only) told through the caller's say. */
struct teller {
        join_say_fn *say;
        void *ud;
};

static void log_fetch(void *ud, const char *fmt, ...)
{
        struct teller *t = ud;
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        t->say(t->ud, msg, msg);
}

int join_catalog_fetch(const char *url, const char *token, const char *pin, const char *county_key, const char *node,
                       const char *work, char *catdir, size_t catlen, char *role, size_t rolelen, join_say_fn *say,
                       void *ud, struct core_result *res)
{
        struct teller t = { say, ud };
        struct feed_remote rm = { url, token, pin, NULL };
        git_repository *repo = NULL;
        char path[4096], county[7], ref[64], err[512];
        char (*versions)[41] = NULL;
        git_oid *commits = NULL;
        size_t n = 0;
        catalog *cat = NULL;
        int r = CORE_REFUSED;

        if (mkdir(work, 0700) < 0)
                return core_fail(res, CORE_FAILED, "io_error", "cannot create %s: %s", "无法创建 %s：%s", work,
                                 strerror(errno));
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", work);
        if (git_repository_init(&repo, path, 1) < 0) {
                r = core_fail(res, CORE_FAILED, "io_error", "cannot create the git repository %s: %s",
                              "无法创建 git 仓库 %s：%s", path, git_error_last() ? git_error_last()->message : "?");
                goto out;
        }
        /* a hall that accepts and never answers is given up, as a sync does */
        struct netwatch *nw = netwatch_start(netwatch_idle_limit());
        int fr = feed_fetch(repo, &rm, node, log_fetch, &t);
        bool silent = netwatch_fired(nw);
        netwatch_stop(nw);
        if (silent) {
                char en[512], zh[512];
                snprintf(en, sizeof en, "the hall at %s was silent for %u s: given up", url, netwatch_idle_limit());
                snprintf(zh, sizeof zh, "县级服务端 %s 已 %u 秒无响应：已放弃", url, netwatch_idle_limit());
                say(ud, en, zh);
        }
        if (fr < 0) {
                core_fail_both(res, CORE_REFUSED, "refused",
                               "the county's catalogue could not be fetched from the hall (see above); check"
                               " the address, the certificate pin, the token and the link",
                               "未能从县级服务端取得目录清单（见上）；请检查地址、证书指纹、令牌和网络");
                goto out;
        }
        catfeed_county(node, county);
        if (county_key) {
                /* the county key told at the setup vouches for the roster,
                 * the roster for the catalogue: checked before it is used */
                char kpin[512];
                struct roster ro;
                err[0] = '\0';
                int vr = home_county_pin(county_key, kpin, sizeof kpin) < 0 ? -EINVAL
                         : roster_verify_offered(repo, county, kpin, &ro, err, sizeof err);
                if (vr == 0) {
                        vr = catfeed_verify_offered(repo, county, &ro, err, sizeof err);
                        roster_free(&ro);
                }
                if (vr < 0) {
                        core_fail(res, CORE_REFUSED, "refused",
                                  "the hall's catalogue is not vouched for by the county key given (%s):"
                                  " nothing was installed; check the key with the county",
                                  "县级服务端的目录清单未经所给县级密钥认可（%s）：未安装任何内容；请与县里核对密钥",
                                  *err ? err : county_key);
                        goto out;
                }
        }
        snprintf(ref, sizeof ref, CATFEED_INCOMING "%s", county);
        if (catfeed_list(repo, ref, &versions, &commits, &n, err, sizeof err) < 0 || n == 0) {
                core_fail(res, CORE_REFUSED, "refused", "the hall has no catalogue for county %s%s%s",
                          "县级服务端没有县 %s 的目录清单%s%s", county, n ? ": " : "", n ? err : "");
                goto out;
        }
        snprintf(catdir, catlen, "%s/catalog", work);
        if (catfeed_extract(repo, &commits[n - 1], catdir, err, sizeof err) < 0) {
                core_fail(res, CORE_REFUSED, "refused", "the hall's catalogue cannot be read: %s",
                          "县级服务端的目录清单无法读取：%s", err);
                goto out;
        }
        if (catalog_load(catdir, &cat) < 0 || catalog_nerrors(cat)) {
                core_fail_both(res, CORE_REFUSED, "refused", "the hall's catalogue does not check clean; tell the county",
                               "县级服务端的目录清单有错误；请告知县里");
                goto out;
        }
        const struct cat_division *div = catalog_find_division(cat, node);
        if (!div || (div->level != LEVEL_VILLAGE && div->level != LEVEL_TOWNSHIP)) {
                core_fail(res, CORE_REFUSED, "refused", "division %s is not a township or village of the county's catalogue",
                          "区划 %s 不是本县目录清单中的乡镇或村", node);
                goto out;
        }
        snprintf(role, rolelen, "%s", cat_level_name(div->level));
        r = 0;
out:
        catalog_free(cat);
        free(versions);
        free(commits);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return r;
}
