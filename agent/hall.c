/* The county hall: `daiban hall serve|token|pin|pre-receive`.
 *
 * The hall is the county node's home served over HTTP(S) (agent/http.c):
 * its repository's feeds speak git smart HTTP through stock `git
 * http-backend`, spawned per request as a CGI behind this front. The
 * front authenticates each node by its token (stored hashed), and lets it
 * see only the partitions it may hold: every ref outside them is hidden
 * from both upload-pack and receive-pack (transfer.hideRefs, set per
 * request), and git refuses wants and updates of hidden refs. Updates go
 * through a pre-receive hook (`daiban hall pre-receive`) that refuses,
 * all or nothing, a ref the pusher may not write, a delete, a rewrite, or
 * a change set the strict ingest would refuse; objects of a refused push
 * stay in git's quarantine and are dropped. After a push the hall
 * ingests at once. See docs/http-api.md and docs/sync.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>

#include "agent/cli.h"
#include "agent/authority.h"
#include "agent/digest.h"
#include "agent/fetchguard.h"
#include "agent/home.h"
#include "agent/hallauth.h"
#include "agent/hallcgi.h"
#include "agent/http.h"
#include "agent/tls.h"
#include "forms/division.h"
#include "sync/catfeed.h"
#include "sync/changeset.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/signed.h"
#include "sync/repack.h"
#include "sync/report.h"
#include "sync/scan.h"

#define HALL_DEFAULT_LISTEN "127.0.0.1:8420"
#define HALL_MAX_BODY_DEFAULT (64ull * 1024 * 1024)     /* one push */
/* scanned materials one node may keep at the hall, MiB: some years of a
 * busy village's ID cards and certificates at a few hundred KB each */
#define HALL_SCAN_QUOTA_DEFAULT 4096ull
#define HALL_SCAN_QUOTA_DEFAULT_STR "4096"
/* meta: a push by NODE since the hall was restored ("<unix s> <returns>") */
#define HALL_RESTORE_SEEN "restore.seen."
/* meta: a push by NODE whose returned chains were refused, not yet given
 * back cleanly since */
#define HALL_RESTORE_REFUSED "restore.refused."
#define HALL_TICK_MS 5000                               /* ingest the county's own events */
/* pack the loose objects once this many are there (git's own gc, which
 * is off, starts at about 6,700); packs are merged into one from this
 * many on; a packing is followed by a minute without another */
#define HALL_PACK_LOOSE_DEFAULT 1024
#define HALL_PACK_LOOSE_DEFAULT_STR "1024"
#define HALL_MERGE_PACKS 16
#define HALL_PACK_PAUSE_MS 60000
#define CGI_MAX_HEAD 8192
#define CGI_HIGH_WATER (1u << 20)

struct hall {
        uv_loop_t *loop;
        struct home h;
        char home_abs[PATH_MAX];
        char repo_dir[PATH_MAX + 8];    /* home_abs/repo */
        git_repository *repo;
        http_server *srv;
        struct tls_ctx *tls;
        char backend[PATH_MAX];         /* git-http-backend */
        char self_exe[PATH_MAX];        /* this program, to wrap the backend */
        /* daiban-hall-helper, as opened at the start ("/proc/<pid>/fd/<n>";
         * "" when not found: then this program does its work) */
        char helper[64];
        char hooks[PATH_MAX];           /* core.hooksPath for receive-pack */
        uint64_t max_body;
        uint64_t scan_quota;            /* bytes of scan pieces one node may keep here */
        uv_timer_t tick;
        uv_signal_t sig[2];
        int pushes;                     /* receive-pack POSTs running */
        int lockfd;                     /* the repository lock, held while a push or an ingest runs */
        bool ingest_wanted;
        /* ingest runs on a worker thread, with handles of its own, so
         * that neither the loop nor a push waits for it, and it does not
         * wait for pushes to end (a herd of slow pushes once kept the
         * county from ingesting at all) */
        bool ingesting;
        uv_work_t ingest_work;
        struct home wh;                 /* the worker's home and repository */
        git_repository *wrepo;
        struct feed_report wrep;
        long wscans;
        bool refs_moved;                /* since refs were last packed */
        bool pushed_since;              /* a push succeeded since the last ingest */
        uint64_t packed_at;             /* uv_now() of the last packing of the refs */
        /* objects: loose ones packed on a worker thread (sync/repack.h) */
        size_t pack_loose;              /* at this many loose objects (0: never) */
        bool objects_moved;             /* since the last look at objects/ */
        bool repacking;
        bool reopen_wrepo;              /* packs were merged away: the ingest's handle lets them go */
        atomic_bool stopping;           /* a signal came: a running packing stops */
        uint64_t repacked_at;           /* uv_now() when the last packing ended, 0: none yet */
        uv_work_t repack_work;
        struct repack_report rrep;
        size_t rloose, rpacks;          /* what the worker counted */
        int rr;
        char rerr[256];
};

static void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void hlog(const char *fmt, ...)
{
        va_list ap;
        char ts[32], msg[1536];
        time_t now = time(NULL);
        struct tm tm;

        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s daiban hall: %s\n", ts, msg);     /* one call: the ingest thread logs too */
}

static void feed_log(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed_log(void *ud, const char *fmt, ...)
{
        va_list ap;
        char msg[1024];

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        hlog("%s", msg);
}

/* ---- tokens ------------------------------------------------------------------ */

/* A token is "<node>.<48 hex digits>"; the hall keeps only its SHA-256,
 * under the meta key hall.token.<node>. Returns 0 with the node's code,
 * -ENOENT when the request carries no token, -EACCES for a wrong one. */
static int token_node(store *st, const struct http_request *req, char node[32])
{
        char tok[256], hex[65], key[64];
        char *want = NULL;
        int r = hallauth_parse(http_header_get(req, "Authorization"), tok, sizeof tok, node);

        if (r < 0)
                return r;
        r = -EACCES;
        snprintf(key, sizeof key, "hall.token.%s", node);
        if (store_meta_get(st, key, &want) < 0 || !want || strlen(want) != 64) {
                free(want);
                return -EACCES;
        }
        sha256_hex(tok, strlen(tok), hex);
        if (CRYPTO_memcmp(hex, want, 64) == 0)
                r = 0;
        free(want);
        return r;
}

/* ---- the CGI: git http-backend ------------------------------------------------- */

struct cgi {
        struct hall *H;
        http_conn *c;                   /* NULL once the client went away */
        uv_process_t proc;
        uv_pipe_t in, out;
        uv_shutdown_t shut;
        int nopen;                      /* handles not yet closed */
        bool receive;                   /* a receive-pack POST (writes refs) */
        bool exited, out_eof, in_closed, head_done, failed_write;
        int64_t status;
        char head[CGI_MAX_HEAD];
        size_t headlen;
        uint64_t bytes_in, bytes_out;
        char node[32], what[64];
};

static void hall_ingest(struct hall *H);

static void cgi_handle_closed(uv_handle_t *hd)
{
        struct cgi *g = hd->data;

        if (--g->nopen == 0)
                free(g);
}

/* The home's repository lock keeps the CLI out while the hall writes;
 * the hall takes it once for all its pushes and ingests at a time. */
static bool hall_lock(struct hall *H)
{
        if (H->lockfd < 0)
                H->lockfd = home_trylock_repo(&H->h);
        return H->lockfd >= 0;
}

static void hall_unlock_idle(struct hall *H)
{
        if (H->lockfd >= 0 && H->pushes == 0 && !H->ingesting) {
                home_unlock_repo(H->lockfd);
                H->lockfd = -1;
        }
}

static void push_done(struct hall *H)
{
        H->pushes--;
        hall_unlock_idle(H);
}

static void cgi_finish(struct cgi *g)
{
        if (!g->exited || !g->out_eof)
                return;
        if (g->c) {
                http_conn_set_data(g->c, NULL);
                if (!g->head_done)
                        http_respond_error(g->c, 502, "backend_failed", "git http-backend gave no answer",
                                           "git http-backend 没有应答");
                else
                        http_respond_end(g->c);
                g->c = NULL;
        }
        hlog("%s %s: exit %lld, %llu bytes in, %llu bytes out", g->node, g->what, (long long)g->status,
             (unsigned long long)g->bytes_in, (unsigned long long)g->bytes_out);
        if (g->receive) {
                push_done(g->H);
                if (g->status == 0) {
                        g->H->pushed_since = true;
                        hall_ingest(g->H);
                }
        }
        uv_close((uv_handle_t *)&g->proc, cgi_handle_closed);
        uv_close((uv_handle_t *)&g->out, cgi_handle_closed);
        if (!g->in_closed) {
                g->in_closed = true;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
        }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
        struct cgi *g = p->data;

        g->exited = true;
        g->status = sig ? 128 + sig : status;
        cgi_finish(g);
}

/* The CGI's answer: "Status:" and other header lines, a blank line, the
 * body; relayed as an HTTP response with a chunked body. */
static void cgi_head(struct cgi *g)
{
        char *end = NULL, hdrs[CGI_MAX_HEAD + 64], *line;
        size_t off = 0, hl = 0, skip;
        int status = 200;

        for (size_t i = 0; i + 1 < g->headlen && !end; i++) {
                if (g->head[i] == '\n' && g->head[i + 1] == '\n') {
                        end = g->head + i;
                        skip = i + 2;
                } else if (i + 3 < g->headlen && memcmp(g->head + i, "\r\n\r\n", 4) == 0) {
                        end = g->head + i;
                        skip = i + 4;
                }
        }
        if (!end)
                return;
        *end = '\0';
        g->head_done = true;
        for (line = g->head; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                size_t l = strcspn(line, "\r\n");
                if (strncasecmp(line, "Status:", 7) == 0)
                        status = atoi(line + 7);
                else if (strncasecmp(line, "Expires:", 8) == 0 || strncasecmp(line, "Pragma:", 7) == 0)
                        ;       /* Cache-Control says it; bytes count on a 2G link */
                else if (l && hl + l + 3 < sizeof hdrs)
                        hl += (size_t)snprintf(hdrs + hl, sizeof hdrs - hl, "%.*s\r\n", (int)l, line);
        }
        hdrs[hl] = '\0';
        (void)off;
        if (status < 100 || status > 599)
                status = 502;
        http_respond_start(g->c, status, hdrs, -1);
        if (g->headlen > skip)
                http_respond_write(g->c, g->head + skip, g->headlen - skip);
}

static void cgi_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct cgi *g = s->data;

        if (n < 0) {
                free(buf->base);
                uv_read_stop(s);
                g->out_eof = true;
                cgi_finish(g);
                return;
        }
        g->bytes_out += (uint64_t)n;
        if (n > 0 && g->c) {
                if (!g->head_done) {
                        size_t room = sizeof g->head - g->headlen;
                        size_t take = (size_t)n < room ? (size_t)n : room;
                        memcpy(g->head + g->headlen, buf->base, take);
                        g->headlen += take;
                        cgi_head(g);
                        if (!g->head_done && g->headlen == sizeof g->head) {
                                http_respond_error(g->c, 502, "backend_failed", "git http-backend sent a bad answer",
                                                   "git http-backend 应答有误");
                                g->c = NULL;
                        } else if (g->head_done && take < (size_t)n) {
                                http_respond_write(g->c, buf->base + take, (size_t)n - take);
                        }
                } else {
                        http_respond_write(g->c, buf->base, (size_t)n);
                }
                if (g->c && http_conn_queued(g->c) > CGI_HIGH_WATER)
                        uv_read_stop(s);        /* a slow client: on_drain resumes */
        }
        free(buf->base);
}

struct cgi_write {
        uv_write_t req;
        char *data;
};

static void cgi_written(uv_write_t *req, int status)
{
        struct cgi_write *w = (struct cgi_write *)req;
        struct cgi *g = req->data;

        free(w->data);
        free(w);
        if (status < 0)
                g->failed_write = true;
        if (g->c && g->in.write_queue_size < CGI_HIGH_WATER)
                http_conn_pause(g->c, false);
}

static void front_body(http_conn *c, const char *data, size_t len)
{
        struct cgi *g = http_conn_data(c);
        struct cgi_write *w;
        uv_buf_t b;

        if (!g || g->in_closed || g->failed_write)
                return;
        g->bytes_in += len;
        if (!(w = malloc(sizeof *w)) || !(w->data = malloc(len))) {
                free(w);
                g->failed_write = true;
                return;
        }
        memcpy(w->data, data, len);
        b = uv_buf_init(w->data, (unsigned)len);
        w->req.data = g;
        if (uv_write(&w->req, (uv_stream_t *)&g->in, &b, 1, cgi_written) < 0) {
                free(w->data);
                free(w);
                g->failed_write = true;
                return;
        }
        if (g->in.write_queue_size >= CGI_HIGH_WATER)
                http_conn_pause(c, true);       /* the backend reads slower than the client sends */
}

static void cgi_in_shut(uv_shutdown_t *req, int status)
{
        struct cgi *g = req->data;

        (void)status;
        if (!g->in_closed) {
                g->in_closed = true;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
        }
}

static void front_body_end(http_conn *c)
{
        struct cgi *g = http_conn_data(c);

        if (!g || g->in_closed)
                return;
        g->shut.data = g;
        if (uv_shutdown(&g->shut, (uv_stream_t *)&g->in, cgi_in_shut) < 0) {
                g->in_closed = true;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
        }
}

static void front_abort(http_conn *c)
{
        struct cgi *g = http_conn_data(c);
        const char *why = http_conn_closed_why(c);

        if (!g)
                return;
        g->c = NULL;
        if (why)
                hlog("%s %s: closed by the hall (%s); stopping the backend", g->node, g->what, why);
        else
                hlog("%s %s: the client went away; stopping the backend", g->node, g->what);
        if (!g->exited)
                uv_process_kill(&g->proc, SIGTERM);
        if (!g->out_eof)
                uv_read_start((uv_stream_t *)&g->out, http_alloc, cgi_read);     /* drain to EOF */
}

static void front_drain(http_conn *c)
{
        struct cgi *g = http_conn_data(c);

        if (g && !g->out_eof)
                uv_read_start((uv_stream_t *)&g->out, http_alloc, cgi_read);
}

/* ---- requests -------------------------------------------------------------------- */

struct envb {
        char **v;
        size_t n, cap;
        int ncfg;
        bool oom;
};

static void env_add(struct envb *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void env_add(struct envb *e, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;

        if (e->n + 2 > e->cap) {
                size_t nc = e->cap ? e->cap * 2 : 64;
                char **nv = realloc(e->v, nc * sizeof *nv);
                if (!nv) {
                        e->oom = true;
                        return;
                }
                e->v = nv;
                e->cap = nc;
        }
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s) {
                e->oom = true;
                return;
        }
        e->v[e->n++] = s;
        e->v[e->n] = NULL;
}

static void env_cfg(struct envb *e, const char *key, const char *value)
{
        env_add(e, "GIT_CONFIG_KEY_%d=%s", e->ncfg, key);
        env_add(e, "GIT_CONFIG_VALUE_%d=%s", e->ncfg, value);
        e->ncfg++;
}

static void env_free(struct envb *e)
{
        for (size_t i = 0; i < e->n; i++)
                free(e->v[i]);
        free(e->v);
}

/* Hide every ref but the partitions node may hold: those present in the
 * repository and those of the catalogue's divisions under it (a township
 * relaying a village's first change set). The county sees everything. */
static void env_visibility(struct hall *H, struct envb *e, const char *node)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char last[32] = "";

        if (strcmp(node, H->h.node) == 0)
                return;
        env_cfg(e, "transfer.hideRefs", "refs/");
        env_cfg(e, "transfer.hideRefs", "!refs/catalog");       /* every node receives the catalogue */
        env_cfg(e, "transfer.hideRefs", "!" ROSTER_PREFIX);      /* and the key roster */
        {
                char v[64];
                snprintf(v, sizeof v, "!" REPORT_PREFIX "%s", node);    /* and sees how far its reports came */
                env_cfg(e, "transfer.hideRefs", v);
        }
        if (git_reference_iterator_glob_new(&it, H->repo, FEED_PREFIX "*") == 0) {
                while (git_reference_next(&ref, it) == 0) {
                        char part[32], writer[32], v[64];
                        if (feed_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                            feed_entitled(node, part) && strcmp(part, last) != 0) {
                                snprintf(v, sizeof v, "!" FEED_PREFIX "%s", part);
                                env_cfg(e, "transfer.hideRefs", v);
                                snprintf(v, sizeof v, "!" SCAN_PREFIX "%s", part);
                                env_cfg(e, "transfer.hideRefs", v);
                                /* evidence about its partitions: seen, so that a
                                 * node passes on only what the hall lacks */
                                snprintf(v, sizeof v, "!" FEED_EVIDENCE "%s", part);
                                env_cfg(e, "transfer.hideRefs", v);
                                snprintf(last, sizeof last, "%s", part);
                        }
                        git_reference_free(ref);
                }
                git_reference_iterator_free(it);
        }
        for (size_t i = 0; i < catalog_ndivisions(H->h.cat); i++) {
                const struct cat_division *d = catalog_division(H->h.cat, i);
                char v[64];
                if (feed_entitled(node, d->code)) {
                        snprintf(v, sizeof v, "!" FEED_PREFIX "%s", d->code);
                        env_cfg(e, "transfer.hideRefs", v);
                        snprintf(v, sizeof v, "!" SCAN_PREFIX "%s", d->code);
                        env_cfg(e, "transfer.hideRefs", v);
                        snprintf(v, sizeof v, "!" FEED_EVIDENCE "%s", d->code);
                        env_cfg(e, "transfer.hideRefs", v);
                }
        }
}

static void respond_401(http_conn *c, const char *en, const char *zh)
{
        char body[512];

        snprintf(body, sizeof body, "{\"error\":\"unauthorized\",\"message\":{\"en\":\"%s\",\"zh\":\"%s\"}}\n", en, zh);
        http_respond_start(c, 401,
                           "WWW-Authenticate: Basic realm=\"daiban hall\"\r\n"
                           "Content-Type: application/json; charset=utf-8\r\n",
                           (int64_t)strlen(body));
        http_respond_write(c, body, strlen(body));
        http_respond_end(c);
}

static void front_request(http_conn *c, const struct http_request *req)
{
        struct hall *H = http_server_data(http_conn_server(c));
        const char *rest, *service = NULL;
        char node[32] = "";
        struct envb e = { 0 };
        struct cgi *g;
        uv_process_options_t po;
        uv_stdio_container_t stdio[4];
        const char *ctype, *cenc;
        char *args[5];
        int r;

        if (strcmp(req->path, "/health") == 0 && strcmp(req->method, "GET") == 0) {
                char body[128];
                snprintf(body, sizeof body, "{\"ok\":true,\"node\":\"%s\",\"role\":\"hall\"}\n", H->h.node);
                http_respond(c, 200, "application/json", body, strlen(body));
                return;
        }
        if (strncmp(req->path, "/feeds/", 7) != 0) {
                http_respond_error(c, 404, "not_found", "no such path: the hall serves git at /feeds",
                                   "路径不存在：服务端的 git 地址为 /feeds");
                return;
        }
        rest = req->path + 7;
        if (strcmp(rest, "info/refs") == 0 && strcmp(req->method, "GET") == 0) {
                if (strcmp(req->query, "service=git-upload-pack") == 0)
                        service = "upload-pack advertisement";
                else if (strcmp(req->query, "service=git-receive-pack") == 0)
                        service = "receive-pack advertisement";
        } else if (strcmp(rest, "git-upload-pack") == 0 && strcmp(req->method, "POST") == 0) {
                service = "fetch";
        } else if (strcmp(rest, "git-receive-pack") == 0 && strcmp(req->method, "POST") == 0) {
                service = "push";
        }
        if (!service) {
                http_respond_error(c, 404, "not_found", "not a git smart-HTTP request (a dumb-HTTP client?)",
                                   "不是 git 智能 HTTP 请求");
                return;
        }
        r = token_node(H->h.st, req, node);
        if (r == -ENOENT) {
                respond_401(c, "a token is needed: daiban remote set URL --token TOKEN",
                            "需要令牌：daiban remote set URL --token TOKEN");
                return;
        }
        if (!req->tls && !req->peer_loopback) {
                hlog("refused %s: a token over plain HTTP", req->peer);
                http_respond_error(c, 403, "insecure", "tokens are refused over plain HTTP except on loopback; use https://",
                                   "除本机外，令牌不能通过明文 HTTP 发送；请使用 https://");
                return;
        }
        if (r < 0) {
                hlog("refused %s: wrong or revoked token (%s)", req->peer, service);
                respond_401(c, "wrong or revoked token; ask the county for a new one (daiban hall token NODE)",
                            "令牌错误或已作废；请向县里申请新令牌（daiban hall token NODE）");
                return;
        }
        bool receive = strcmp(service, "push") == 0;
        if (receive && !hall_lock(H)) {
                http_respond_error(c, 503, "busy", "the county's repository is busy; sync again in a moment",
                                   "县级仓库正忙，请稍后再同步");
                return;
        }
        if (!(g = calloc(1, sizeof *g))) {
                if (receive)
                        hall_unlock_idle(H);
                http_respond_error(c, 503, "busy", "out of memory", "内存不足");
                return;
        }
        if (receive)
                H->pushes++;
        g->H = H;
        g->c = c;
        g->receive = receive;
        snprintf(g->node, sizeof g->node, "%s", node);
        snprintf(g->what, sizeof g->what, "%s", service);

        /* CGI/1.1 and git's own variables */
        env_add(&e, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
        env_add(&e, "HOME=%s", H->home_abs);
        env_add(&e, "LANG=C.UTF-8");
        env_add(&e, "GATEWAY_INTERFACE=CGI/1.1");
        env_add(&e, "GIT_PROJECT_ROOT=%s", H->home_abs);
        env_add(&e, "GIT_HTTP_EXPORT_ALL=1");
        env_add(&e, "GIT_CONFIG_NOSYSTEM=1");
        env_add(&e, "PATH_INFO=/repo/%s", rest);
        env_add(&e, "REQUEST_METHOD=%s", req->method);
        env_add(&e, "QUERY_STRING=%s", req->query);
        env_add(&e, "REMOTE_USER=%s", node);
        env_add(&e, "REMOTE_ADDR=%s", req->peer);
        if ((ctype = http_header_get(req, "Content-Type")))
                env_add(&e, "CONTENT_TYPE=%s", ctype);
        if (req->content_length >= 0)
                env_add(&e, "CONTENT_LENGTH=%lld", (long long)req->content_length);
        if ((cenc = http_header_get(req, "Content-Encoding")))
                env_add(&e, "HTTP_CONTENT_ENCODING=%s", cenc);
        env_add(&e, "DAIBAN_HOME=%s", H->home_abs);
        env_add(&e, "DAIBAN_PUSHER=%s", node);
        env_add(&e, "DAIBAN_HALL_LOG=3");
        env_add(&e, "DAIBAN_SCAN_QUOTA=%llu", (unsigned long long)H->scan_quota);
        env_cfg(&e, "http.uploadpack", "true");
        env_cfg(&e, "http.receivepack", "true");
        env_cfg(&e, "core.hooksPath", H->hooks);
        /* what a push acknowledges must survive a power cut: git syncs
         * objects and refs (not its default), and the
         * reference-transaction hook syncs their directories */
        env_cfg(&e, "core.fsync", "committed");
        env_cfg(&e, "core.fsyncMethod", "fsync");
        env_cfg(&e, "receive.denyNonFastForwards", "true");
        env_cfg(&e, "receive.denyDeletes", "true");
        env_cfg(&e, "receive.fsckObjects", "true");
        env_cfg(&e, "receive.autogc", "false");         /* scans are unreferenced blobs: never prune */
        env_cfg(&e, "gc.pruneExpire", "never");
        {
                char v[32];
                snprintf(v, sizeof v, "%llu", (unsigned long long)H->max_body);
                env_cfg(&e, "receive.maxInputSize", v);
        }
        env_cfg(&e, "uploadpack.allowTipSHA1InWant", "false");
        env_cfg(&e, "uploadpack.allowReachableSHA1InWant", "false");
        env_cfg(&e, "uploadpack.allowAnySHA1InWant", "false");
        env_visibility(H, &e, node);
        env_add(&e, "GIT_CONFIG_COUNT=%d", e.ncfg);

        memset(&po, 0, sizeof po);
        /* through a gate that dies with the hall: the helper opened at
         * the start, or for a fetch (its wants checked with libgit2)
         * `daiban hall cgi`, the running binary itself (/proc/self/exe in
         * the forked child); either way replacing a file on disk (an
         * upgrade, a rebuild) cannot break or mix versions */
        if (H->helper[0] && strcmp(service, "fetch") != 0) {
                args[0] = H->helper;
                args[1] = (char *)"cgi";
                args[2] = H->backend;
                args[3] = NULL;
        } else {
                args[0] = (char *)"/proc/self/exe";
                args[1] = (char *)"hall";
                args[2] = (char *)"cgi";
                args[3] = H->backend;
                args[4] = NULL;
        }
        po.file = args[0];
        po.args = args;
        po.env = e.v;
        po.exit_cb = on_exit_cb;
        uv_pipe_init(H->loop, &g->in, 0);
        uv_pipe_init(H->loop, &g->out, 0);
        g->in.data = g->out.data = g->proc.data = g;
        stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        stdio[0].data.stream = (uv_stream_t *)&g->in;
        stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[1].data.stream = (uv_stream_t *)&g->out;
        stdio[2].flags = UV_INHERIT_FD;
        stdio[2].data.fd = 2;
        /* fd 3: the hall's log, for the hook's refusals (git passes it on) */
        stdio[3].flags = UV_INHERIT_FD;
        stdio[3].data.fd = 2;
        po.stdio = stdio;
        po.stdio_count = 4;
        g->nopen = 3;
        bool spawned = !e.oom;
        r = e.oom ? UV_ENOMEM : uv_spawn(H->loop, &g->proc, &po);
        env_free(&e);
        if (r < 0) {
                hlog("cannot start %s: %s", H->backend, uv_strerror(r));
                g->c = NULL;
                g->in_closed = true;
                /* a failed uv_spawn has still registered the process handle:
                 * it must be closed like the pipes before g is freed */
                g->nopen = spawned ? 3 : 2;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
                uv_close((uv_handle_t *)&g->out, cgi_handle_closed);
                if (spawned)
                        uv_close((uv_handle_t *)&g->proc, cgi_handle_closed);
                if (receive)
                        push_done(H);
                http_respond_error(c, 500, "backend_failed", "cannot start git http-backend", "无法启动 git http-backend");
                return;
        }
        http_conn_set_data(c, g);
        uv_read_start((uv_stream_t *)&g->out, http_alloc, cgi_read);
}

/* ---- ingest ------------------------------------------------------------------------ */

/* Lines one node's reports may add to the county's log in a day: the
 * alarms read the log's last 512 KiB, and one chatty (or hostile)
 * township must not push every other alarm out of it. */
#define REPORTED_PER_DAY 200

struct report_note {
        const char *path, *by;
        long noted, ignored, over, budget;
};

static void note_report_line(void *ud, const char *text)
{
        struct report_note *rn = ud;

        if (rn->noted >= rn->budget)
                rn->over++;     /* counted, and told in one line after */
        else if (home_refusal_note_reported(rn->path, rn->by, text))
                rn->noted++;
        else
                rn->ignored++;
}

/* How many lines node may still add today ("<day> <count>" in the meta). */
static long report_budget(store *st, const char *node, long day, long *ret_today)
{
        char key[64], *v = NULL;
        long d = -1, n = 0;

        snprintf(key, sizeof key, "report.lines.%.16s", node);
        if (store_meta_get(st, key, &v) == 0 && v && sscanf(v, "%ld %ld", &d, &n) == 2 && d == day)
                *ret_today = n;
        else
                *ret_today = 0;
        free(v);
        return *ret_today >= REPORTED_PER_DAY ? 0 : REPORTED_PER_DAY - *ret_today;
}

/* The refusals nodes reported since the last look (refs/reports/<node>,
 * sync/report.h) go into the county's supervision log, with who reported
 * them; how far each chain was read is kept in the store. */
static void note_reports(struct hall *H)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/" HOME_REFUSALS, H->wh.dir);
        if (git_reference_iterator_glob_new(&it, H->wrepo, REPORT_PREFIX "*") < 0)
                return;
        while (git_reference_next(&ref, it) == 0) {
                const char *node = git_reference_name(ref) + strlen(REPORT_PREFIX);
                const git_oid *head = git_reference_target(ref);
                char key[64], hex[GIT_OID_HEXSZ + 1], *done = NULL;
                git_oid from;
                snprintf(key, sizeof key, "report.done.%.16s", node);
                store_meta_get(H->wh.st, key, &done);
                bool have = done && git_oid_fromstr(&from, done) == 0;
                if (head && division_code_valid(node) && (!have || !git_oid_equal(&from, head))) {
                        long day = (long)(time(NULL) / 86400), today;
                        struct report_note rn = { path, node, 0, 0, 0, report_budget(H->wh.st, node, day, &today) };
                        if (report_read(H->wrepo, have ? &from : NULL, head, note_report_line, &rn) == 0) {
                                char lkey[64], lval[64];
                                git_oid_tostr(hex, sizeof hex, head);
                                snprintf(lkey, sizeof lkey, "report.lines.%.16s", node);
                                snprintf(lval, sizeof lval, "%ld %ld", day, today + rn.noted);
                                if (store_begin(H->wh.st) < 0 || store_meta_set(H->wh.st, key, hex) < 0 ||
                                    store_meta_set(H->wh.st, lkey, lval) < 0 || store_commit(H->wh.st) < 0)
                                        store_rollback(H->wh.st);
                                if (rn.over) {
                                        char msg[160];
                                        snprintf(msg, sizeof msg, "reported %ld more refusals today than the county"
                                                 " notes one by one (%d a day)", rn.over, REPORTED_PER_DAY);
                                        home_refusal_note(path, node, msg);
                                }
                                hlog("%s reported %ld refusals at its USB imports%s%s", node, rn.noted + rn.over,
                                     rn.ignored ? " (some lines were not about nodes below it: ignored)" : "",
                                     rn.over ? " (over its daily share: counted, not noted one by one)" : "");
                        }
                }
                free(done);
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
}

/* On the worker thread, with its own handles: commit the county's own
 * new events and ingest every feed that moved (while pushes go on:
 * receive-pack moves a ref only after its objects are in place, and the
 * pre-receive check and this ingest take SQLite's write lock in turn). */
static void ingest_work(uv_work_t *w)
{
        struct hall *H = w->data;
        int ncat = 0;

        memset(&H->wrep, 0, sizeof H->wrep);
        H->wscans = 0;
        bool restoring = store_restore_pending(H->wh.st);
        home_sync_catalog(&H->wh, H->wrepo, &ncat, feed_log, NULL);     /* publish a newly installed version */
        const struct sshsig_key *key;
        if (home_key(&H->wh, &key) == 0)
                feed_commit_local(H->wh.st, H->wrepo, H->wh.node, key, &H->wrep, feed_log, NULL);
        struct roster ro;
        bool have_ro = false;
        char err[512];
        if (roster_open(H->wh.st, H->wrepo, H->wh.node, &ro, &have_ro, err, sizeof err) < 0) {
                hlog("the county's roster cannot be trusted (%s): nothing is ingested", err);
        } else {
                struct feed_trust tr;
                authority_trust(&H->wh, have_ro ? &ro : NULL, &tr);
                /* restored: its own feeds, returned by the nodes, are taken in */
                tr.catch_up_own = restoring;
                feed_ingest(H->wh.st, H->wrepo, H->wh.node, &tr, &H->wrep, feed_log, NULL);
        }
        roster_free(&ro);
        scan_assemble(H->wh.st, H->wrepo, H->wh.node, restoring, &H->wscans, feed_log, NULL);
        note_reports(H);
}

static void hall_ingest(struct hall *H);

/* Back on the loop: report, pack the refs when no push runs, and ingest
 * again if more arrived meanwhile. */
static void ingest_after(uv_work_t *w, int status)
{
        struct hall *H = w->data;
        struct feed_report *rep = &H->wrep;

        (void)status;
        if (H->wscans)
                hlog("%ld scans received whole", H->wscans);
        /* Every push leaves loose refs, and git http-backend reads them all
         * for each advertisement (30 ms at 1,200 refs against 5 ms packed:
         * docs/BENCHMARKS.md). Pack them, at most every 30 s, while no push
         * runs (the repository lock is held). */
        H->refs_moved |= rep->committed || rep->ingested_feeds || H->wscans || H->pushed_since;
        H->objects_moved |= H->refs_moved;
        H->pushed_since = false;
        if (H->refs_moved && H->pushes == 0 && uv_now(H->loop) - H->packed_at >= 30000) {
                git_refdb *db = NULL;
                if (git_repository_refdb(&db, H->repo) == 0 && git_refdb_compress(db) == 0) {
                        /* and the folders that held them: every listing of
                         * the refs walks them (no push runs, no ingest: the
                         * lock is held and this is the loop) */
                        repack_prune_ref_dirs(H->repo_dir);
                        H->refs_moved = false;
                        H->packed_at = uv_now(H->loop);
                } else {
                        hlog("cannot pack the refs: %s", git_error_last() ? git_error_last()->message : "?");
                }
                git_refdb_free(db);
        }
        if (rep->committed || rep->ingested_events || rep->refused)
                hlog("ingest: %d change sets made (%ld events); %ld events from %d feeds (%ld already held); %d refused",
                     rep->committed, rep->committed_events, rep->ingested_events, rep->ingested_feeds,
                     rep->duplicate_events, rep->refused);
        H->ingesting = false;
        hall_unlock_idle(H);
        if (H->ingest_wanted && H->srv)
                hall_ingest(H);
}

/* Replace *repo by a fresh handle on the hall's repository; on failure
 * the old one stays. true when replaced. */
static bool reopen(struct hall *H, git_repository **repo)
{
        git_repository *fresh = NULL;

        if (git_repository_open_bare(&fresh, H->repo_dir) < 0)
                return false;
        git_repository_free(*repo);
        *repo = fresh;
        return true;
}

/* Ingest now, or as soon as the running ingest ends; not while a CLI
 * command holds the repository (the next tick tries again). */
static void hall_ingest(struct hall *H)
{
        if (H->ingesting || !H->wrepo) {
                H->ingest_wanted = true;
                return;
        }
        if (!hall_lock(H)) {
                H->ingest_wanted = true;        /* a CLI holds it: the next tick */
                return;
        }
        if (H->reopen_wrepo && reopen(H, &H->wrepo))
                H->reopen_wrepo = false;
        H->ingest_wanted = false;
        H->ingesting = true;
        H->ingest_work.data = H;
        if (uv_queue_work(H->loop, &H->ingest_work, ingest_work, ingest_after) < 0) {
                H->ingesting = false;
                H->ingest_wanted = true;
                hall_unlock_idle(H);
        }
}

/* On a worker thread, with a repository handle of its own: count the
 * loose objects and packs, and pack them when there are enough. Pushes,
 * fetches and ingests go on meanwhile (sync/repack.h says why that is
 * safe); it takes no lock. */
static void repack_work(uv_work_t *w)
{
        struct hall *H = w->data;
        git_repository *repo = NULL;

        memset(&H->rrep, 0, sizeof H->rrep);
        H->rerr[0] = '\0';
        if ((H->rr = repack_count(H->repo_dir, &H->rloose, &H->rpacks)) < 0) {
                char why[128];
                snprintf(H->rerr, sizeof H->rerr, "cannot count the objects: %s", strerror_r(-H->rr, why, sizeof why));
                return;
        }
        if (H->rloose < H->pack_loose && H->rpacks < HALL_MERGE_PACKS)
                return;
        if (git_repository_open_bare(&repo, H->repo_dir) < 0) {
                snprintf(H->rerr, sizeof H->rerr, "cannot open the repository: %s",
                         git_error_last() ? git_error_last()->message : "?");
                H->rr = -EIO;
                return;
        }
        H->rr = repack_run(repo, H->rpacks + 1 >= HALL_MERGE_PACKS, &H->stopping, &H->rrep, H->rerr, sizeof H->rerr);
        git_repository_free(repo);
}

static void repack_after(uv_work_t *w, int status)
{
        struct hall *H = w->data;
        const struct repack_report *rep = &H->rrep;

        (void)status;
        H->repacking = false;
        if (H->rr == -ECANCELED) {
                hlog("packing the objects: stopped (nothing was removed)");
        } else if (H->rr < 0) {
                hlog("packing the objects: %s (tried again in a minute)", H->rerr);
                H->repacked_at = uv_now(H->loop);
                H->objects_moved = true;
        } else if (rep->pack[0]) {
                if (rep->merged) {
                        /* libgit2 keeps a pack it read open, removed or not: the
                         * handles start afresh, or every merge would stay on disk
                         * (the ingest's when it next starts) */
                        reopen(H, &H->repo);
                        H->reopen_wrepo = true;
                }
                char merged[48] = "";
                if (rep->merged)
                        snprintf(merged, sizeof merged, " and %zu packs", rep->merged);
                hlog("packed %zu loose objects%s into pack-%s (%zu objects)", rep->loose, merged, rep->pack,
                     rep->objects);
                H->repacked_at = uv_now(H->loop);
        }
}

/* Look at the objects when pushes or ingests added some; not within a
 * minute of the last packing, not while one runs, not once stopping. */
static void hall_repack(struct hall *H)
{
        if (!H->pack_loose || H->repacking || H->stopping || !H->objects_moved)
                return;
        if (H->repacked_at && uv_now(H->loop) - H->repacked_at < HALL_PACK_PAUSE_MS)
                return;
        H->objects_moved = false;
        H->repacking = true;
        H->repack_work.data = H;
        if (uv_queue_work(H->loop, &H->repack_work, repack_work, repack_after) < 0)
                H->repacking = false;
}

static void on_tick(uv_timer_t *t)
{
        hall_ingest(t->data);
        hall_repack(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
        struct hall *H = s->data;

        hlog("signal %d: stopping", signum);
        H->stopping = true;
        http_server_stop(H->srv);
        H->srv = NULL;
        uv_timer_stop(&H->tick);
        uv_close((uv_handle_t *)&H->tick, NULL);
        uv_close((uv_handle_t *)&H->sig[0], NULL);
        uv_close((uv_handle_t *)&H->sig[1], NULL);
}

/* ---- commands ------------------------------------------------------------------------ */

static const char usage_hall[] =
        "Usage: daiban hall serve [--listen HOST:PORT] [--cert FILE --key FILE] [--max-body BYTES]\n"
        "                         [--max-conns N] [--head-timeout SECONDS] [--scan-quota MIB]\n"
        "                         [--pack-loose N] [--home DIR]\n"
        "       daiban hall token NODE [--revoke] [--home DIR]\n"
        "       daiban hall resume [--anyway] [--home DIR]\n"
        "       daiban hall pack [--merge] [--home DIR]\n"
        "       daiban hall pin --cert FILE\n"
        "       daiban hall cert --cert FILE --key FILE [--name NAME] [--days N]\n"
        "\n"
        "The county hall: serves this county home's feeds to its townships and\n"
        "villages over git smart HTTP (stock git http-backend behind daiban's own\n"
        "front), at http(s)://HOST:PORT/feeds.\n"
        "\n"
        "  serve   listen (default " HALL_DEFAULT_LISTEN "); with --cert and --key it\n"
        "          serves HTTPS and prints the certificate's pin. Beyond loopback\n"
        "          HTTPS is required: tokens are never accepted over plain HTTP.\n"
        "          --max-body caps one push (default 64 MiB); --max-conns the\n"
        "          connections (default 1024); --head-timeout the time to send a\n"
        "          request's headers (default 30); --scan-quota the scanned\n"
        "          materials one node may keep at the hall, in MiB (default\n"
        "          " HALL_SCAN_QUOTA_DEFAULT_STR "); --pack-loose the loose objects at which\n"
        "          the repository's objects are packed, unreachable scans too\n"
        "          (default " HALL_PACK_LOOSE_DEFAULT_STR ", 0: never). SIGINT/SIGTERM stop it.\n"
        "  token   issue the token of a node of this county (printed once, stored\n"
        "          hashed); a new token replaces the old one; --revoke removes it.\n"
        "  pack    pack the repository's loose objects now, unreachable scans too\n"
        "          (serve does it on its own); --merge the packs into one as well.\n"
        "  pin     the SHA-256 of a certificate, for 'daiban remote set --pin'.\n"
        "  cert    make a self-signed certificate (P-256, no extensions, default\n"
        "          10 years) and its key for serve --cert/--key; prints its pin.\n";

static int hall_token(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "revoke", no_argument, NULL, 'r' }, { NULL, 0, NULL, 0 },
        };
        const char *homeopt = NULL, *node;
        bool revoke = false;
        struct home h;
        unsigned char rnd[24];
        char tok[128], hex[65], key[64];
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c == 'H')
                        homeopt = optarg;
                else if (c == 'r')
                        revoke = true;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        node = argv[optind];
        if ((r = home_open(home_path(homeopt), &h)))
                return r;
        if (strcmp(h.role, "county") != 0) {
                cli_error("%s", cli_msg("tokens are issued by the county hall's home; this home is not the county's",
                                        "令牌只能由县级服务端签发；本目录不是县级节点"));
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (!catalog_find_division(h.cat, node) || !feed_entitled(h.node, node)) {
                cli_error(cli_msg("%s is not a division of this county in the catalogue (divisions.csv)",
                                  "%s 不是本县目录（divisions.csv）中的行政区划"),
                          node);
                home_close(&h);
                return EXIT_REFUSED;
        }
        snprintf(key, sizeof key, "hall.token.%s", node);
        if (!revoke) {
                if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
                        cli_error("cannot read random bytes: %s", strerror(errno));
                        home_close(&h);
                        return EXIT_REFUSED;
                }
                int n = snprintf(tok, sizeof tok, "%s.", node);
                for (size_t i = 0; i < sizeof rnd; i++)
                        n += snprintf(tok + n, sizeof tok - (size_t)n, "%02x", rnd[i]);
                sha256_hex(tok, strlen(tok), hex);
        }
        if (store_begin(h.st) < 0 || store_meta_set(h.st, key, revoke ? "" : hex) < 0 || store_commit(h.st) < 0) {
                cli_error(cli_msg("cannot store the token: %s", "无法保存令牌：%s"), store_errmsg(h.st));
                store_rollback(h.st);
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (revoke)
                printf(cli_msg("token of %s revoked\n", "已作废 %s 的令牌\n"), node);
        else
                printf("%s\n", tok);
        home_close(&h);
        return 0;
}

static int hall_cert(int argc, char **argv)
{
        static const struct option lo[] = {
                { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
                { "name", required_argument, NULL, 'n' }, { "days", required_argument, NULL, 'd' },
                { NULL, 0, NULL, 0 },
        };
        const char *cert = NULL, *key = NULL, *name = "daiban hall";
        int days = 3650, c;
        char hex[65], err[512];

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                char *end;
                if (c == 'c')
                        cert = optarg;
                else if (c == 'k')
                        key = optarg;
                else if (c == 'n')
                        name = optarg;
                else if (c == 'd' && (days = (int)strtol(optarg, &end, 10)) > 0 && days <= 36500 && !*end)
                        ;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!cert || !key || optind != argc || !*name) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (tls_make_cert(cert, key, name, days, err, sizeof err) < 0 || tls_cert_pin(cert, hex, err, sizeof err) < 0) {
                cli_error("%s", err);
                return EXIT_REFUSED;
        }
        printf(cli_msg("certificate %s and key %s written (%d days); pin: %s\n",
                       "已生成证书 %s 和私钥 %s（有效 %d 天）；证书指纹：%s\n"),
               cert, key, days, hex);
        return 0;
}

static int hall_pin(int argc, char **argv)
{
        static const struct option lo[] = { { "cert", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 } };
        const char *cert = NULL;
        char hex[65], err[512];
        int c;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c == 'c')
                        cert = optarg;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!cert || optind != argc) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (tls_cert_pin(cert, hex, err, sizeof err) < 0) {
                cli_error("%s", err);
                return EXIT_REFUSED;
        }
        printf("%s\n", hex);
        return 0;
}

/* The hook receive-pack runs before it moves any ref: stdin holds
 * "<old> <new> <ref>" lines; the pushed objects are in the quarantine
 * (GIT_QUARANTINE_PATH) until every ref is accepted. Its stderr reaches
 * the pusher as "remote: ..." lines. */
static void refuse(const char *pusher, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse_busy(const char *pusher, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The refusals of one push told in full; the rest are counted (a push of
 * 100,000 bad refs once wrote 10,000 lines to the hall's log). More are
 * noted for the county's supervision than told, so that junk pushed
 * first does not hide what follows. */
#define REFUSALS_TOLD 20
#define REFUSALS_NOTED 200
static unsigned refusals;
static char refusal_log[PATH_MAX];      /* HOME/hall/refused.jsonl: the county's supervision reads it */

/* A refusal goes to the pusher (stderr, relayed as "remote: ...") and to
 * the hall's log (fd 3, which the hall hands down through git); unless
 * it is the hall's own trouble (note false), also to the supervision. */
static void vrefuse(const char *pusher, bool note, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void vrefuse(const char *pusher, bool note, const char *fmt, va_list ap)
{
        char msg[1024];

        ++refusals;
        if (refusals > REFUSALS_NOTED || (!note && refusals > REFUSALS_TOLD))
                return;
        vsnprintf(msg, sizeof msg, fmt, ap);
        if (note && refusal_log[0])
                home_refusal_note(refusal_log, pusher, msg);
        if (refusals > REFUSALS_TOLD)
                return;
        fprintf(stderr, "daiban: refused %s\n", msg);
        if (getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0)
                dprintf(3, "daiban hall: push by %s refused %s\n", pusher, msg);
}

static void refuse(const char *pusher, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vrefuse(pusher, true, fmt, ap);
        va_end(ap);
}

/* The hall could not check the push (its store busy, a disk error): the
 * pusher is not to blame, and it tries again at its next sync. */
static void refuse_busy(const char *pusher, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vrefuse(pusher, false, fmt, ap);
        va_end(ap);
}

/* Mark the fan-out directory (first byte) of every object reachable
 * from new and not from old: the objects this push brought. */
/* Mark in fan the first bytes of the objects of the commits in
 * (old, new] (trees are flat: the pre-receive check refuses others);
 * objects the repository held already count too, for their folder
 * entries may not be durable yet (another push's, still running). 0, or
 * -1. */
static int mark_pushed(git_repository *repo, const git_oid *old, const git_oid *new, unsigned char fan[256])
{
        git_revwalk *walk = NULL;
        git_oid id;
        int r = -1;

        fan[new->id[0]] = 1;
        if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, new) < 0 ||
            (!git_oid_is_zero(old) && git_revwalk_hide(walk, old) < 0))
                goto out;
        while ((r = git_revwalk_next(&id, walk)) == 0) {
                git_commit *c = NULL;
                git_tree *t = NULL;

                fan[id.id[0]] = 1;
                if (git_commit_lookup(&c, repo, &id) < 0 || git_commit_tree(&t, c) < 0) {
                        git_commit_free(c);
                        r = -1;
                        goto out;
                }
                fan[git_tree_id(t)->id[0]] = 1;
                for (size_t k = 0; k < git_tree_entrycount(t); k++)
                        fan[git_tree_entry_id(git_tree_entry_byindex(t, k))->id[0]] = 1;
                git_tree_free(t);
                git_commit_free(c);
        }
        r = r == GIT_ITEROVER ? 0 : -1;
out:
        git_revwalk_free(walk);
        return r;
}

/* git's reference-transaction hook. git (2.39) syncs the files it
 * writes when core.fsync says so, but never a directory. Before the
 * refs move ("prepared"; git has moved the pushed objects out of
 * quarantine) the fan-out directories of this push's objects are
 * synced, and a pack directory that changed; once they moved
 * ("committed") the directories of these refs, so the push is durable
 * before receive-pack reports it. Only this push's directories, as the
 * pre-receive check noted them from the quarantine: a clean directory's
 * fsync still costs a disk flush on ext4, and syncing all 256 fan-out
 * directories made every push take a second. A failure in "prepared"
 * refuses the push; the village tries again. The hall runs
 * daiban-hall-helper for it when it has one (agent/hallcgi.h); this is
 * the same code, for a hall without. */
static int hall_ref_sync(int argc, char **argv)
{
        if (argc < 2 || !getenv("DAIBAN_PUSHER")) {
                cli_error("%s", "this is the hall's reference-transaction hook; git receive-pack runs it, behind"
                                " 'daiban hall serve'");
                return EXIT_USAGE;
        }
        return hallcgi_ref_sync(argv[1]) ? EXIT_REFUSED : 0;
}

/* A node's first signed push, with its own token, enrolls the key it
 * signs with (the token is the county's word for who it is): from the
 * first change set of the signed run that ends at its new head. Change
 * sets before that run were written before the node had a key. Only for
 * the pusher's own feed; any other node is enrolled by `roster add`.
 * ro is reloaded when it changed. */
static void enroll_on_push(struct home *h, git_repository *repo, struct roster *ro, const char *pusher,
                           const git_oid *n)
{
        uint8_t pk[SSHSIG_PK_BYTES], first_pk[SSHSIG_PK_BYTES];
        int64_t from = 0, first, last;
        git_oid cur = *n;
        bool have_pk = false;
        char err[512];

        for (int depth = 0; depth < 1000000; depth++) {
                git_commit *c = NULL;
                bool sgn = false;
                if (signed_check(repo, &cur, &sgn, pk, err, sizeof err) < 0 || !sgn)
                        break;
                if (have_pk && memcmp(pk, first_pk, sizeof pk) != 0)
                        break;
                if (feed_commit_seqs(repo, &cur, &first, &last) < 0)
                        break;
                memcpy(first_pk, pk, sizeof pk);
                have_pk = true;
                from = first;
                if (git_commit_lookup(&c, repo, &cur) < 0)
                        break;
                bool more = git_commit_parentcount(c) == 1;
                if (more)
                        cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
                if (!more)
                        break;
        }
        if (!have_pk || from < 1)
                return;         /* unsigned: the roster check refuses it, with the reason */
        const struct sshsig_key *key;
        if (home_key(h, &key))
                return;
        /* many stations' first pushes at once (a county installed in a
         * week, syncing on the same morning) enroll one after another:
         * each try reads the roster afresh and writes only on what it
         * read (roster_commit), a short random wait between tries */
        for (int attempt = 0; attempt < 200; attempt++) {
                struct roster cur_ro;
                if (attempt) {
                        unsigned char jitter;
                        if (getrandom(&jitter, 1, 0) != 1)
                                jitter = 0;
                        struct timespec ts = { 0, (long)(1 + jitter % 20) * 1000000L };
                        nanosleep(&ts, NULL);
                }
                bool present = false;
                struct roster_entry e = { 0 };
                if (roster_open(h->st, repo, h->node, &cur_ro, &present, err, sizeof err) < 0 || !present)
                        return;
                if (roster_lists(&cur_ro, pusher)) {
                        roster_free(ro);
                        *ro = cur_ro;   /* enrolled meanwhile (another push) */
                        return;
                }
                snprintf(e.node, sizeof e.node, "%s", pusher);
                memcpy(e.pk, first_pk, sizeof e.pk);
                e.from = from;
                snprintf(e.by, sizeof e.by, "hall");
                e.at = (int64_t)time(NULL) * 1000;
                snprintf(e.note, sizeof e.note, "enrolled at its first signed push, made with its own token");
                char msg[128];
                snprintf(msg, sizeof msg, "roster: enroll %s (its first signed push)\n", pusher);
                int r = roster_add(&cur_ro, &e);
                if (r == 0)
                        r = roster_commit(h->st, repo, &cur_ro, key, msg, err, sizeof err);
                if (r == 0) {
                        char fp[80];
                        sshsig_fingerprint(first_pk, fp, sizeof fp);
                        if (getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0)
                                dprintf(3, "daiban hall: enrolled %s's key %s from seq %" PRId64 "\n", pusher, fp,
                                        from);
                        roster_free(ro);
                        *ro = cur_ro;
                        return;
                }
                roster_free(&cur_ro);
                if (r != -EAGAIN)
                        return;
        }
}

/* The county key a returned roster must name: the pin kept, else the
 * hall's own key (a county restored from a backup made before its
 * roster: never a root anyone could sign). *ret is malloc'ed. */
static void own_pin(struct home *h, char **ret)
{
        const struct sshsig_key *key;
        char line[160];

        *ret = NULL;
        if (store_meta_get(h->st, "roster.pin", ret) == 0 && *ret && **ret)
                return;
        free(*ret);
        *ret = NULL;
        if (home_key(h, &key) == 0) {
                sshsig_pubkey_line(key->pk, NULL, line, sizeof line);
                *ret = strdup(line);
        }
}

static int hall_pre_receive(int argc, char **argv)
{
        const char *pusher = getenv("DAIBAN_PUSHER"), *home = getenv("DAIBAN_HOME");
        const char *quarantine = getenv("GIT_QUARANTINE_PATH");
        const char *quota_env = getenv("DAIBAN_SCAN_QUOTA");
        uint64_t scan_quota = quota_env && *quota_env ? strtoull(quota_env, NULL, 10)
                                                      : (uint64_t)HALL_SCAN_QUOTA_DEFAULT << 20;
        struct home h;
        git_repository *repo = NULL;
        git_odb *odb = NULL, *pushed = NULL;
        char line[1024], path[PATH_MAX + 8];
        int refused = 0, nlines = 0, returns = 0, returns_refused = 0, r;
        unsigned char fan[256] = { 0 };         /* where this push's objects are: for the ref hook */
        bool fan_ok = true;
        struct roster ro = { 0 };
        bool have_ro = false;
        struct timespec now;
        struct {
                char writer[32];
                uint64_t bytes;
        } sums[64];                     /* scan bytes this push adds, per writer */
        size_t nsums = 0;

        /* first, the hall's clock: the pusher compares its own with it
         * (daiban doctor); git shows it to a stock client as remote text */
        if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
                fprintf(stderr, FEED_HALL_TIME "%lld\n", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
                fflush(stderr);
        }

        (void)argc;
        (void)argv;
        if (!pusher || !home) {
                cli_error("%s", "this is the hall's pre-receive hook; git receive-pack runs it, behind 'daiban hall serve'");
                return EXIT_USAGE;
        }
        if ((r = home_open(home, &h)))
                return r;
        snprintf(refusal_log, sizeof refusal_log, "%s/" HOME_REFUSALS, h.dir);
        git_libgit2_init();
        /* an enrollment writes the roster here: durable before the push
         * is acknowledged */
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", h.dir);
        if (git_repository_open_bare(&repo, path) < 0 || git_repository_odb(&odb, repo) < 0 ||
            (quarantine && git_odb_add_disk_alternate(odb, quarantine) < 0) ||
            /* the pushed objects alone, to tell them from the hall's own */
            git_odb_new(&pushed) < 0 || (quarantine && git_odb_add_disk_alternate(pushed, quarantine) < 0)) {
                fprintf(stderr, "daiban: cannot open the county's repository: %s\n",
                        git_error_last() ? git_error_last()->message : "?");
                refused = 1;
                goto out;
        }
        if (roster_open(h.st, repo, h.node, &ro, &have_ro, path, sizeof path) < 0) {
                fprintf(stderr, "daiban: the county's roster cannot be trusted (%s); the hall takes nothing\n", path);
                refused = 1;
                goto out;
        }
        /* a hall restored from a backup takes back what it wrote after
         * that backup from those that hold it (docs/backup.md) */
        bool restoring = store_restore_pending(h.st);
        char own_roster[64], own_catalog[64];
        snprintf(own_roster, sizeof own_roster, ROSTER_PREFIX "%s", h.node);
        snprintf(own_catalog, sizeof own_catalog, CATFEED_PREFIX "%s", h.node);
        while (fgets(line, sizeof line, stdin)) {
                char old[64], new[64], ref[512], part[32], writer[32], err[768];
                git_oid o, n;
                if (++nlines > 10000 || sscanf(line, "%63s %63s %511s", old, new, ref) != 3 ||
                    git_oid_fromstr(&o, old) < 0 || git_oid_fromstr(&n, new) < 0) {
                        refuse(pusher, "%s", "a malformed ref update");
                        refused++;
                        break;
                }
                if (!git_oid_is_zero(&n) && fan_ok && mark_pushed(repo, &o, &n, fan) < 0)
                        fan_ok = false;
                if (strncmp(ref, REPORT_PREFIX, strlen(REPORT_PREFIX)) == 0) {
                        /* a node's reports: its own chain, forward only */
                        if (strcmp(ref + strlen(REPORT_PREFIX), pusher) != 0)
                                snprintf(err, sizeof err, "node %s may write only its own reports", pusher);
                        else if (git_oid_is_zero(&n))
                                snprintf(err, sizeof err, "reports are never deleted");
                        else if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) &&
                                 git_graph_descendant_of(repo, &n, &o) != 1)
                                snprintf(err, sizeof err, "not a fast-forward; reports are never rewritten");
                        else if (report_check(repo, &o, &n, err, sizeof err) == 0)
                                continue;
                        refuse(pusher, "%s: %s", ref, err);
                        refused++;
                        continue;
                }
                char efeed[160];
                git_oid ehead;
                if (feed_parse_evidence(ref, part, sizeof part, writer, sizeof writer, &ehead, efeed, sizeof efeed)) {
                        /* evidence a node kept of a second signed history:
                         * taken when the hall can check it itself */
                        git_oid held;
                        int er = 0;
                        if (!feed_entitled(pusher, part))
                                snprintf(err, sizeof err, "node %s may not hold partition %s", pusher, part);
                        else if (!git_oid_is_zero(&o) || !git_oid_equal(&n, &ehead))
                                snprintf(err, sizeof err, "evidence is named for its head, and never moved");
                        else if (git_reference_name_to_id(&held, repo, efeed) < 0)
                                snprintf(err, sizeof err, "the hall holds no %s to compare it with", efeed);
                        else if (!have_ro)
                                snprintf(err, sizeof err, "the hall has no roster to check its signatures with");
                        else
                                er = feed_evidence_genuine(repo, &ro, efeed, &held, &n, err, sizeof err);
                        if (er == 1) {
                                /* for the hall's log (the hook's stderr is the pusher's) */
                                if (getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0)
                                        dprintf(3, "daiban hall: %s passed on evidence: %s signed two histories of %s"
                                                " (kept at %s)\n", pusher, writer, efeed, ref);
                        } else if (er < 0) {
                                refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                            ref, err);
                                refused++;
                        } else {
                                refuse(pusher, "%s: not evidence of a second history: %s", ref, err);
                                refused++;
                        }
                        continue;
                }
                if (restoring && (strcmp(ref, own_roster) == 0 || strcmp(ref, own_catalog) == 0)) {
                        /* the county's own roster or catalogue, returned:
                         * forward only, every new commit signed as the
                         * chain requires */
                        bool is_roster = ref[5] == 'r';
                        char *pin = NULL;
                        int vr = 0;
                        if (git_oid_is_zero(&n))
                                snprintf(err, sizeof err, "the county's chains are never deleted");
                        else if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) &&
                                 git_graph_descendant_of(repo, &n, &o) != 1)
                                snprintf(err, sizeof err, "not a continuation of the one the hall holds");
                        else if (is_roster && (own_pin(&h, &pin), !pin))
                                snprintf(err, sizeof err, "the hall cannot read its own key to check the roster with");
                        else if (is_roster &&
                                 (vr = roster_verify_update(repo, h.node, pin, git_oid_is_zero(&o) ? NULL : &o,
                                                            have_ro ? &ro : NULL, &n, err, sizeof err)) == 0)
                                err[0] = '\0';
                        else if (!is_roster &&
                                 (vr = catfeed_verify_update(repo, h.node, have_ro ? &ro : NULL,
                                                             git_oid_is_zero(&o) ? NULL : &o, &n, err, sizeof err)) == 0)
                                err[0] = '\0';
                        free(pin);
                        if (!err[0]) {
                                returns++;
                                continue;
                        }
                        if (vr == -EIO)
                                refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                            ref, err);
                        else
                                refuse(pusher, "%s: %s", ref, err);
                        refused++;
                        returns_refused++;
                        continue;
                }
                bool is_scan = strncmp(ref, SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0 &&
                               scan_parse_ref(ref, part, sizeof part, writer, sizeof writer);
                if (!is_scan && (!feed_parse_ref(ref, part, sizeof part, writer, sizeof writer) ||
                                 strncmp(ref, FEED_PREFIX, strlen(FEED_PREFIX)) != 0)) {
                        refuse(pusher, "%s: only feeds (refs/feeds/<partition>/<writer>) and scan chains can be pushed",
                               ref);
                        refused++;
                        continue;
                }
                /* the county's own feeds come back only to a restored hall */
                bool returned = restoring && !is_scan && strcmp(writer, h.node) == 0 && strcmp(pusher, h.node) != 0 &&
                                feed_entitled(pusher, part);
                if (!returned && !feed_may_write(pusher, part, writer)) {
                        refuse(pusher, "%s: node %s may not write the feed of %s in partition %s", ref, pusher, writer,
                               part);
                        refused++;
                        continue;
                }
                returns += returned;
                if (git_oid_is_zero(&n)) {
                        refuse(pusher, "%s: feeds are never deleted", ref);
                        refused++;
                        continue;
                }
                if (!git_oid_is_zero(&o) && !git_oid_equal(&o, &n) && git_graph_descendant_of(repo, &n, &o) != 1) {
                        /* a second signed history is evidence the county keeps */
                        if (!is_scan && have_ro &&
                            feed_equivocation(repo, &ro, ref, &o, &n, true, err, sizeof err) == 1)
                                refuse(pusher, "%s: %s", ref, err);
                        else
                                refuse(pusher, "%s: not a fast-forward; a feed is never rewritten", ref);
                        refused++;
                        continue;
                }
                if (is_scan) {
                        uint64_t added, held, before = 0;
                        /* this push's other chains of the same writer count too */
                        size_t w;
                        for (w = 0; w < nsums && strcmp(sums[w].writer, writer) != 0; w++)
                                ;
                        if (w < nsums)
                                before = sums[w].bytes;
                        if (scan_verify(repo, have_ro ? &ro : NULL, ref, &o, &n, pushed, &added, err, sizeof err) < 0) {
                                refuse(pusher, "%s: %s", ref, err);
                                refused++;
                        } else if (scan_usage(h.st, repo, writer, &held) < 0) {
                                refuse_busy(pusher, "%s: the county's hall could not count %s's scans now; sync again"
                                            " later", ref, writer);
                                refused++;
                        } else if (held + before + added > scan_quota) {
                                /* a token cannot fill the hall's disk with scans */
                                refuse(pusher, "%s: %s's scanned materials at the county's hall would take %.2f MiB,"
                                       " over its quota of %llu MiB; ask the county to raise it (hall serve"
                                       " --scan-quota)", ref, writer, (double)(held + before + added) / (1 << 20),
                                       (unsigned long long)(scan_quota >> 20));
                                refused++;
                        } else if (w < nsums) {
                                sums[w].bytes += added;
                        } else if (nsums < sizeof sums / sizeof sums[0]) {
                                snprintf(sums[nsums].writer, sizeof sums[nsums].writer, "%s", writer);
                                sums[nsums++].bytes = added;
                        }
                        continue;
                }
                /* (not while restoring: the roster waits for its own return) */
                if (have_ro && !restoring && strcmp(writer, pusher) == 0 && !roster_lists(&ro, pusher))
                        enroll_on_push(&h, repo, &ro, pusher, &n);
                struct feed_trust tr;
                authority_trust(&h, have_ro ? &ro : NULL, &tr);
                tr.catch_up_own = returned;
                int vr = feed_verify(h.st, repo, &tr, ref, &n, err, sizeof err);
                if (vr == -EINVAL) {
                        /* err reads "refused <ref>: <why>" */
                        refuse(pusher, "%s", strncmp(err, "refused ", 8) == 0 ? err + 8 : err);
                        refused++;
                        returns_refused += returned;
                        continue;
                }
                if (vr < 0) {
                        refuse_busy(pusher, "%s: the county's hall could not check it now (%s); sync again later",
                                    ref, err);
                        refused++;
                        returns_refused += returned;
                        continue;
                }
        }
        /* a restored hall counts who has pushed since: `hall resume`
         * waits for every township */
        if (restoring && (!refused || returns_refused)) {
                /* a refused return is noted for `hall resume` to show (a
                 * forger's, or a chain the hall cannot check yet: the
                 * clean push retried without it counts the node as seen) */
                char key[64], rkey[64], val[80];
                snprintf(key, sizeof key, HALL_RESTORE_SEEN "%s", pusher);
                snprintf(rkey, sizeof rkey, HALL_RESTORE_REFUSED "%s", pusher);
                snprintf(val, sizeof val, "%lld %d", (long long)now.tv_sec, returns);
                int w = store_begin(h.st);
                if (w == 0)
                        w = store_meta_set(h.st, returns_refused ? rkey : key, val);
                if (w < 0 || store_commit(h.st) < 0)
                        store_rollback(h.st);
        }
out:
        if (refusals > REFUSALS_NOTED && refusal_log[0]) {
                char more[96];
                snprintf(more, sizeof more, "%u more refs of one push refused (not noted one by one)",
                         refusals - REFUSALS_NOTED);
                home_refusal_note(refusal_log, pusher, more);
        }
        if (refusals > REFUSALS_TOLD) {
                fprintf(stderr, "daiban: refused %u more refs of this push (not listed)\n", refusals - REFUSALS_TOLD);
                if (getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0)
                        dprintf(3, "daiban hall: push by %s: %u more refs refused (not listed)\n", pusher,
                                refusals - REFUSALS_TOLD);
        }
        /* for the reference-transaction hook: where the objects go */
        if (!refused)
                hallcgi_note_push(home, quarantine, fan_ok ? fan : NULL);
        roster_free(&ro);
        git_odb_free(pushed);
        git_odb_free(odb);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_close(&h);
        return refused ? EXIT_REFUSED : 0;
}

/* The answer of `hall cgi` itself, in CGI form, for a request it refuses
 * before git sees it. */
/* A fetch: read the request (bounded, inflated here), check its wants
 * (agent/fetchguard.h) and hand git the plain body on stdin. 0, or -1
 * when the request was refused (answered). */
static int fetch_guard(const char *node)
{
        char err[256], *body = NULL, path[PATH_MAX];
        size_t len = 0;
        git_repository *repo = NULL;
        int r = fetchguard_read(0, getenv("HTTP_CONTENT_ENCODING"), &body, &len, err, sizeof err);

        if (r == -E2BIG || r == -EINVAL) {
                hallcgi_refuse(r == -E2BIG ? 413 : 415, err, r == -E2BIG ? "下载请求过大" : "下载请求编码有误");
                free(body);
                return -1;
        }
        snprintf(path, sizeof path, "%s/repo", getenv("GIT_PROJECT_ROOT") ? getenv("GIT_PROJECT_ROOT") : ".");
        git_libgit2_init();
        if (r == 0 && git_repository_open_bare(&repo, path) < 0) {
                snprintf(err, sizeof err, "cannot open the hall's repository");
                r = -EIO;
        }
        if (r == 0)
                r = fetchguard_check(repo, node, body, len, err, sizeof err);
        git_repository_free(repo);
        if (r == 0) {
                /* the plain body on stdin, from memory */
                int fd = memfd_create("daiban-fetch-request", MFD_CLOEXEC);
                char n[32];
                if (fd < 0 || write(fd, body, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0 ||
                    dup2(fd, 0) < 0) {
                        snprintf(err, sizeof err, "cannot pass the request on: %s", strerror(errno));
                        r = -EIO;
                }
                if (fd > 0)
                        close(fd);
                snprintf(n, sizeof n, "%zu", len);
                setenv("CONTENT_LENGTH", n, 1);
                unsetenv("HTTP_CONTENT_ENCODING");
        }
        free(body);
        if (r == -EPERM) {
                char note[PATH_MAX + 32], why[320];
                snprintf(note, sizeof note, "%s/" HOME_REFUSALS, getenv("GIT_PROJECT_ROOT") ? getenv("GIT_PROJECT_ROOT") : ".");
                snprintf(why, sizeof why, "a fetch: %s", err);
                home_refusal_note(note, node, why);
                hallcgi_refuse(403, err, "请求了本站点无权获取的数据");
        }
        else if (r < 0)
                hallcgi_refuse(r == -EINVAL ? 400 : 500, err, r == -EINVAL ? "下载请求格式有误" : "服务端出错");
        return r < 0 ? -1 : 0;
}

/* `daiban hall cgi BACKEND`: run the backend so that it is killed when
 * the hall dies (even by SIGKILL), instead of lingering as an orphan that
 * might still be writing the repository when a new hall starts. The hall
 * runs it for fetches, whose wants it checks first with libgit2, and for
 * every request when it has no daiban-hall-helper (which does the rest:
 * agent/hallcgi.h). */
static int hall_cgi(int argc, char **argv)
{
        if (argc != 2 || !getenv("DAIBAN_PUSHER")) {
                cli_error("%s", "this runs git http-backend for 'daiban hall serve'; it is not for use by hand");
                return EXIT_USAGE;
        }
        if (hallcgi_start() < 0)
                return EXIT_REFUSED;
        const char *method = getenv("REQUEST_METHOD"), *path = getenv("PATH_INFO");
        size_t plen = path ? strlen(path) : 0;
        bool post = method && strcmp(method, "POST") == 0;
        if (post && plen >= 16 && strcmp(path + plen - 16, "/git-upload-pack") == 0) {
                if (fetch_guard(getenv("DAIBAN_PUSHER")) < 0)
                        return 0;       /* answered */
        } else if (!hallcgi_push_ok()) {
                return 0;
        }
        hallcgi_exec(argv[1]);
        return EXIT_REFUSED;
}

/* Write HOOKS/name, a shell script that execs cmd, whole or not at all
 * (written aside, then renamed over the old one). */
static int put_hook(const struct hall *H, const char *name, const char *purpose, const char *cmd)
{
        char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", H->hooks, name);
        snprintf(tmp, sizeof tmp, "%s.new", path);
        unlink(tmp);
        if (!(f = fopen(tmp, "wx")))
                return -1;
        fprintf(f, "#!/bin/sh\n# written by 'daiban hall serve' (pid %d; %s): %s\nexec %s\n", (int)getpid(),
                H->self_exe, purpose, cmd);
        if (fclose(f) != 0 || chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
                unlink(tmp);
                return -1;
        }
        return 0;
}

static void find_helper(struct hall *H);

static int write_hook(struct hall *H)
{
        char *exe = H->self_exe, path[PATH_MAX + 32];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof H->self_exe - 1);

        if (n <= 0)
                return -1;
        exe[n] = '\0';
        if (strchr(exe, '\''))
                return -1;
        snprintf(H->hooks, sizeof H->hooks, "%s/hall/hooks", H->home_abs);
        snprintf(path, sizeof path, "%s/hall", H->home_abs);
        mkdir(path, 0755);
        mkdir(H->hooks, 0755);
        find_helper(H);
        hallcgi_clear_notes(H->home_abs);
        /* /proc/<pid>/...: this very hall's binaries. When the hall is
         * gone the exec fails and git refuses the push, rather than
         * moving refs with nobody to make them durable. */
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "/proc/%d/exe hall pre-receive", (int)getpid());
        if (put_hook(H, "pre-receive", "check every push before git moves a ref", cmd) < 0)
                return -1;
        if (H->helper[0])
                snprintf(cmd, sizeof cmd, "%s reference-transaction \"$1\"", H->helper);
        else
                snprintf(cmd, sizeof cmd, "/proc/%d/exe hall ref-sync \"$1\"", (int)getpid());
        return put_hook(H, "reference-transaction", "make a push durable before git answers it", cmd);
}

/* daiban-hall-helper: beside this program (a build tree, or a folder it
 * was copied to with it), else where the package puts it. Opened once,
 * so every request and hook runs this copy: "/proc/<pid>/fd/<n>". */
static void find_helper(struct hall *H)
{
        char dir[PATH_MAX], path[PATH_MAX + 32];
        int fd = -1;

        snprintf(dir, sizeof dir, "%s", H->self_exe);
        if (strrchr(dir, '/'))
                *strrchr(dir, '/') = '\0';
        snprintf(path, sizeof path, "%s/" HALLCGI_HELPER, dir);
        if (access(path, X_OK) == 0)
                fd = open(path, O_PATH | O_CLOEXEC);
#ifdef DAIBAN_LIBEXECDIR
        if (fd < 0) {
                snprintf(path, sizeof path, DAIBAN_LIBEXECDIR "/" HALLCGI_HELPER);
                if (access(path, X_OK) == 0)
                        fd = open(path, O_PATH | O_CLOEXEC);
        }
#endif
        if (fd < 0) {
                hlog("no %s beside %s: daiban itself runs every request and hook (slower)", HALLCGI_HELPER,
                     H->self_exe);
                return;
        }
        snprintf(H->helper, sizeof H->helper, "/proc/%d/fd/%d", (int)getpid(), fd);
        /* the helper and this hall share a private contract (the push
         * notes): only the same version's */
        char cmd[96], got[128] = "";
        snprintf(cmd, sizeof cmd, "%s --version 2>/dev/null", H->helper);
        FILE *p = popen(cmd, "r");
        if (p) {
                if (!fgets(got, sizeof got, p))
                        got[0] = '\0';
                pclose(p);
        }
        got[strcspn(got, "\n")] = '\0';
        if (strcmp(got, HALLCGI_HELPER " " DAIBAN_HELPER_VERSION) != 0) {
                hlog("%s is not this daiban's (%s: \"%s\"): daiban itself runs every request and hook", path,
                     DAIBAN_HELPER_VERSION, got);
                close(fd);
                H->helper[0] = '\0';
        }
}

static int find_backend(char *out, size_t len)
{
        FILE *p = popen("git --exec-path 2>/dev/null", "r");
        char dir[PATH_MAX] = "";

        if (!p)
                return -1;
        if (!fgets(dir, sizeof dir, p))
                dir[0] = '\0';
        pclose(p);
        dir[strcspn(dir, "\n")] = '\0';
        if (!dir[0])
                return -1;
        snprintf(out, len, "%s/git-http-backend", dir);
        return access(out, X_OK);
}

static int hall_serve(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "listen", required_argument, NULL, 'l' },
                { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
                { "max-body", required_argument, NULL, 'b' }, { "max-conns", required_argument, NULL, 'n' },
                { "head-timeout", required_argument, NULL, 't' }, { "scan-quota", required_argument, NULL, 'q' },
                { "pack-loose", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
        };
        unsigned long long quota_mib = HALL_SCAN_QUOTA_DEFAULT;
        const char *homeopt = NULL, *listen = HALL_DEFAULT_LISTEN, *cert = NULL, *key = NULL;
        /* a push over a 64 kbit/s link with loss averages some 6 KB/s,
         * but a cut of a few seconds backs TCP off for tens of seconds; a
         * body below 128 B/s for a minute is a client holding a slot */
        /* 1,024 connections: a county's 418 nodes syncing within a minute
         * (bench/county-sim.py) filled 256, and a full house makes room by
         * closing its slowest request: the stations on the slowest links,
         * whose syncs then failed and waited for their next turn */
        struct http_limits lim = { 1024, HALL_MAX_BODY_DEFAULT, 30000, 120000, .max_per_peer = 64,
                                   .min_body_rate = 128, .rate_grace_ms = 60000 };
        struct http_handler hh = { front_request, front_body, front_body_end, front_abort, front_drain };
        struct hall H;
        char err[512], path[PATH_MAX + 8], pin[65] = "";
        int c, r = EXIT_REFUSED;

        memset(&H, 0, sizeof H);
        H.lockfd = -1;
        H.pack_loose = HALL_PACK_LOOSE_DEFAULT;
        H.objects_moved = true;         /* look once at start */
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                char *end;
                if (c == 'H')
                        homeopt = optarg;
                else if (c == 'l')
                        listen = optarg;
                else if (c == 'c')
                        cert = optarg;
                else if (c == 'k')
                        key = optarg;
                else if (c == 'b' && (lim.max_body = strtoull(optarg, &end, 10)) > 0 && !*end)
                        ;
                else if (c == 'n' && (lim.max_conns = (unsigned)strtoul(optarg, &end, 10)) > 0 && !*end)
                        ;
                else if (c == 't' && (lim.head_timeout_ms = 1000u * (unsigned)strtoul(optarg, &end, 10)) > 0 && !*end &&
                         lim.head_timeout_ms <= 3600000u)
                        ;
                else if (c == 'q' && (quota_mib = strtoull(optarg, &end, 10)) > 0 && !*end && quota_mib <= (1ull << 30))
                        ;
                else if (c == 'p' && optarg[0] >= '0' && optarg[0] <= '9' &&
                         ((H.pack_loose = strtoul(optarg, &end, 10)), !*end))
                        ;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc || !cert != !key) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (!cert && strncmp(listen, "127.", 4) != 0 && strncmp(listen, "[::1]", 5) != 0 &&
            strncmp(listen, "localhost:", 10) != 0) {
                cli_error("%s", cli_msg("serving beyond this machine needs HTTPS: give --cert and --key (tokens are"
                                        " never accepted over plain HTTP)",
                                        "对外提供服务须使用 HTTPS：请给出 --cert 和 --key（令牌不能通过明文 HTTP 发送）"));
                return EXIT_USAGE;
        }
        H.max_body = lim.max_body;
        H.scan_quota = quota_mib << 20;
        {
                /* a push is its socket and the two pipes of its backend:
                 * allow what --max-conns says */
                struct rlimit rl;
                rlim_t want = (rlim_t)lim.max_conns * 4 + 64;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        if ((r = home_open(home_path(homeopt), &H.h)))
                return r;
        r = EXIT_REFUSED;
        if (strcmp(H.h.role, "county") != 0) {
                cli_error(cli_msg("the hall serves a county's home; this home is a %s's",
                                        "服务端只能运行在县级节点；本节点为%s"),
                          H.h.role);
                goto out_home;
        }
        if (home_lock_daemon(&H.h, "hall") < 0)
                goto out_home;          /* one hall per home: two would take each other's pushes */
        if (!realpath(H.h.dir, H.home_abs)) {
                cli_error("cannot resolve %s: %s", H.h.dir, strerror(errno));
                goto out_home;
        }
        if (find_backend(H.backend, sizeof H.backend) < 0) {
                cli_error("%s", cli_msg("git http-backend was not found: install git (apt-get install git)",
                                        "找不到 git http-backend：请安装 git（apt-get install git）"));
                goto out_home;
        }
        if (write_hook(&H) < 0) {
                cli_error(cli_msg("cannot write the hall's hook under %s/hall", "无法写入 %s/hall 下的钩子"), H.home_abs);
                goto out_home;
        }
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", H.home_abs);
        snprintf(H.repo_dir, sizeof H.repo_dir, "%s", path);
        if (git_repository_open_bare(&H.repo, path) < 0 || git_repository_open_bare(&H.wrepo, path) < 0) {
                cli_error(cli_msg("cannot open the repository %s: %s", "无法打开仓库 %s：%s"), path,
                          git_error_last() ? git_error_last()->message : "?");
                goto out_git;
        }
        /* a push whose hooks a killed hall never ran to the end, or whose
         * note was wrong, is made durable now; and what a killed packing
         * left goes */
        if ((r = durable_sync_objects(path, NULL, 0)) < 0)
                hlog("cannot sync the repository's object folders: %s", strerror(-r));
        if (repack_clean(path))
                hlog("removed what an interrupted packing left in %s/objects/pack", path);
        if ((r = home_open(H.h.dir, &H.wh))) {
                git_repository_free(H.wrepo);
                H.wrepo = NULL;
                r = EXIT_REFUSED;
                goto out_git;
        }
        r = EXIT_REFUSED;
        if (cert) {
                if (!(H.tls = tls_ctx_new(cert, key, err, sizeof err)) || tls_cert_pin(cert, pin, err, sizeof err) < 0) {
                        cli_error("%s", err);
                        goto out_git;
                }
        }
        /* the county's catalogue is published before the hall says it
         * serves: a station that joins at once (daiban init --from-hall)
         * finds it (the first ingest round would publish it a moment
         * later, on the worker thread) */
        if (hall_lock(&H)) {
                int ncat = 0;
                home_sync_catalog(&H.wh, H.wrepo, &ncat, feed_log, NULL);
                hall_unlock_idle(&H);
        }
        H.loop = uv_default_loop();
        if (http_server_start(H.loop, listen, H.tls, &lim, &hh, &H, &H.srv, err, sizeof err) < 0) {
                cli_error("%s", err);
                goto out_git;
        }
        signal(SIGPIPE, SIG_IGN);
        uv_timer_init(H.loop, &H.tick);
        H.tick.data = &H;
        uv_timer_start(&H.tick, on_tick, 0, HALL_TICK_MS);
        for (int i = 0; i < 2; i++) {
                uv_signal_init(H.loop, &H.sig[i]);
                H.sig[i].data = &H;
                uv_signal_start(&H.sig[i], on_signal, i ? SIGTERM : SIGINT);
        }
        {
                char host[128];
                snprintf(host, sizeof host, "%s", listen);
                char *colon = strrchr(host, ':');
                if (colon)
                        *colon = '\0';
                printf(cli_msg("hall %s serving %s://%s:%d/feeds\n", "县级服务端 %s 已启动：%s://%s:%d/feeds\n"), H.h.node,
                       cert ? "https" : "http", host, http_server_port(H.srv));
                if (cert)
                        printf(cli_msg("certificate pin (for 'daiban remote set --pin'): %s\n",
                                       "证书指纹（用于“daiban remote set --pin”）：%s\n"),
                               pin);
                fflush(stdout);
        }
        uv_run(H.loop, UV_RUN_DEFAULT);
        uv_loop_close(H.loop);
        r = 0;
out_git:
        if (H.wrepo)
                home_close(&H.wh);
        git_repository_free(H.wrepo);
        git_repository_free(H.repo);
        git_libgit2_shutdown();
        tls_ctx_free(H.tls);
out_home:
        home_unlock_repo(H.lockfd);
        home_close(&H.h);
        return r;
}

/* `hall resume`: a hall restored from a backup goes back to writing its
 * chains once every township that syncs with it (holds a token) has
 * pushed since the restore, giving back what the hall wrote after the
 * backup; --anyway for a township that cannot. */
/* The arguments of a command that takes --home and one flag: open the
 * home. 0, or the exit code (the usage printed). */
static int open_with_flag(int argc, char **argv, const char *flag, bool *set, struct home *h)
{
        const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { flag, no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
        };
        const char *homeopt = NULL;
        int c;

        *set = false;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1 && c != '?') {
                if (c == 'H')
                        homeopt = optarg;
                else
                        *set = true;
        }
        if (c == '?' || argc != optind) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        return home_open(home_path(homeopt), h);
}

static int hall_resume(int argc, char **argv)
{
        bool anyway;
        struct home h;
        char **nodes = NULL;
        int r, waiting = 0, seen = 0;

        if ((r = open_with_flag(argc, argv, "anyway", &anyway, &h)))
                return r;
        if (strcmp(h.role, "county") != 0 || !store_restore_pending(h.st)) {
                printf("%s", cli_msg("this hall is not being restored: nothing to resume\n", "本县服务端不在恢复中：无需继续\n"));
                home_close(&h);
                return 0;
        }
        if (store_meta_keys(h.st, "hall.token.", &nodes) < 0) {
                cli_error(cli_msg("cannot read the store: %s", "无法读取数据库：%s"), store_errmsg(h.st));
                home_close(&h);
                return EXIT_REFUSED;
        }
        for (size_t i = 0; nodes[i]; i++) {
                const char *node = nodes[i];
                const struct cat_division *d = catalog_find_division(h.cat, node);
                char key[64], rkey[64], *v = NULL, *rv = NULL;
                if (!d || d->level == LEVEL_COUNTY)
                        continue;
                snprintf(key, sizeof key, HALL_RESTORE_SEEN "%s", node);
                snprintf(rkey, sizeof rkey, HALL_RESTORE_REFUSED "%s", node);
                bool refused_back = store_meta_get(h.st, rkey, &rv) == 0;
                free(rv);
                if (refused_back)
                        printf(cli_msg("  %-12s %s  gave back chains the hall refused: see the hall's log before resuming\n",
                                       "  %-12s %s  交回的本县链曾被拒收：继续之前请查看服务端日志\n"), node, d->name);
                if (store_meta_get(h.st, key, &v) == 0 && v) {
                        long long at = 0;
                        int returned = 0;
                        sscanf(v, "%lld %d", &at, &returned);
                        char when[32];
                        time_t t = (time_t)at;
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
                        printf(cli_msg("  %-12s %s  synced since the restore (%s; %d of the hall's chains given back)\n",
                                       "  %-12s %s  恢复后已同步（%s；交回本县链 %d 条）\n"),
                               node, d->name, when, returned);
                        seen++;
                } else {
                        if (waiting < 40)
                                printf(cli_msg("  %-12s %s  not yet synced since the restore\n", "  %-12s %s  恢复后尚未同步\n"),
                                       node, d->name);
                        waiting++;
                }
                free(v);
        }
        store_meta_keys_free(nodes);
        if (waiting && !anyway) {
                cli_error(cli_msg("%d townships or villages that sync with the hall have not given back since the restore: what "
                                  "the hall wrote after its backup may still be with them. Wait for their syncs, or resume "
                                  "with --anyway (a decision they hold and did not give back then shows as two histories, "
                                  "for a person to settle)",
                                  "%d 个与服务端同步的乡镇或村在恢复后尚未交回：本县在备份之后所写内容可能还在它们那里。请等待其同步，"
                                  "或用 --anyway 继续（它们持有而未交回的决定届时将显示为两份记录，须由人工处理）"),
                          waiting);
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (store_begin(h.st) < 0 || store_restore_done(h.st) < 0 ||
            store_meta_delete_prefix(h.st, HALL_RESTORE_SEEN) < 0 || store_meta_delete_prefix(h.st, HALL_RESTORE_REFUSED) < 0 ||
            store_commit(h.st) < 0) {
                cli_error(cli_msg("cannot write the store: %s", "无法写入数据库：%s"), store_errmsg(h.st));
                store_rollback(h.st);
                home_close(&h);
                return EXIT_REFUSED;
        }
        printf(cli_msg("the hall resumes (%d nodes synced since the restore%s): what the county wrote meanwhile, from "
                       "seq %lld, goes on its feeds at the hall's next round\n",
                       "本县服务端恢复完成（%d 个站点已在恢复后同步%s）：本县期间所写内容（序号 %lld 起）将在服务端下一轮写入通道\n"),
               seen, waiting ? cli_msg(", some not: --anyway", "，部分未同步：--anyway") : "",
               (long long)store_seq_floor(h.st));
        home_close(&h);
        return 0;
}

/* `hall pack [--merge]`: pack the repository's loose objects now, as the
 * running hall does on its own (--pack-loose); beside it or not. */
static int hall_pack(int argc, char **argv)
{
        bool merge;
        struct home h;
        struct repack_report rep;
        git_repository *repo = NULL;
        char path[PATH_MAX + 8], err[512];
        int r;

        if ((r = open_with_flag(argc, argv, "merge", &merge, &h)))
                return r;
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", h.dir);
        r = EXIT_REFUSED;
        if (git_repository_open_bare(&repo, path) < 0) {
                cli_error(cli_msg("cannot open the repository %s: %s", "无法打开仓库 %s：%s"), path,
                          git_error_last() ? git_error_last()->message : "?");
        } else if (repack_run(repo, merge, NULL, &rep, err, sizeof err) < 0) {
                cli_error(cli_msg("cannot pack %s: %s", "无法打包 %s：%s"), path, err);
        } else {
                if (!rep.pack[0])
                        printf("%s", cli_msg("nothing to pack\n", "没有需要打包的对象\n"));
                else
                        printf(cli_msg("packed %zu loose objects and %zu packs into pack-%s (%zu objects)\n",
                                       "已将 %zu 个松散对象和 %zu 个包打包为 pack-%s（共 %zu 个对象）\n"),
                               rep.loose, rep.merged, rep.pack, rep.objects);
                r = 0;
        }
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_close(&h);
        return r;
}

static int cmd_hall(int argc, char **argv)
{
        static const struct cli_command sub[] = {
                { "serve", "Serve this county home's feeds over HTTP(S)", usage_hall, hall_serve },
                { "token", "Issue (or revoke) a node's token", usage_hall, hall_token },
                { "resume", "After a restore: write again once the townships have given back", usage_hall,
                  hall_resume },
                { "pack", "Pack the repository's loose objects now (the hall does on its own)", usage_hall,
                  hall_pack },
                { "pin", "Print a certificate's SHA-256 pin", usage_hall, hall_pin },
                { "cert", "Make a self-signed certificate and key for the hall", usage_hall, hall_cert },
                { "pre-receive", "The hall's git hook (run by git receive-pack)", usage_hall, hall_pre_receive },
                { "ref-sync", "The hall's reference-transaction hook (internal)", usage_hall, hall_ref_sync },
                { "cgi", "Runs git http-backend for the hall (internal)", usage_hall, hall_cgi },
                { NULL, NULL, NULL, NULL },
        };

        return cli_dispatch("daiban hall", "The county hall: feeds over git smart HTTP", sub, argc - 1, argv + 1);
}

const struct cli_command hall_commands[] = {
        { "hall", "The county hall: serve feeds over HTTPS, issue tokens", NULL, cmd_hall },
        { NULL, NULL, NULL, NULL },
};
