/* The hall's HTTP front (hall.c says what the hall is): each git smart
 * HTTP request, its token checked (hall-token.c), runs stock `git
 * http-backend` as a CGI whose environment shows the node only the refs
 * of the partitions it may hold (transfer.hideRefs), started off the
 * loop's thread (spawner.h); the request body is relayed to it and its
 * answer back, each side paused while the other is slower
 * (CGI_HIGH_WATER). A push holds the repository lock until
 * its backend exits, and the hall ingests after it. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <uv.h>

#include "agent/hall-int.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/spawner.h"
#include "sync/feed.h"
#include "sync/report.h"
#include "sync/roster.h"
#include "sync/scan.h"

#define CGI_MAX_HEAD 8192
#define CGI_HIGH_WATER (1u << 20)

/* ---- the CGI: git http-backend ------------------------------------------------- */

/* The backend's environment, built for each request (kept until it exited:
 * the spawner's thread reads it). */
struct envb {
        char **v;
        size_t n, cap;
        int ncfg;
        bool oom;
};

static void env_free(struct envb *e)
{
        for (size_t i = 0; i < e->n; i++)
                free(e->v[i]);
        free(e->v);
}

struct cgi {
        struct hall *H;
        http_conn *c;                   /* NULL once the client went away */
        struct spawned proc;
        struct envb env;
        char *args[5];
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


static void cgi_free(struct cgi *g)
{
        env_free(&g->env);
        free(g);
}

static void cgi_handle_closed(uv_handle_t *hd)
{
        struct cgi *g = hd->data;

        if (--g->nopen == 0)
                cgi_free(g);
}

static void cgi_finish(struct cgi *g)
{
        if (!g->exited || !g->out_eof)
                return;
        if (g->c) {
                http_conn_set_data(g->c, NULL);
                if (g->proc.err < 0)
                        http_respond_error(g->c, 500, "backend_failed", "cannot start git http-backend",
                                           "无法启动 git http-backend");
                else if (!g->head_done)
                        http_respond_error(g->c, 502, "backend_failed", "git http-backend gave no answer",
                                           "git http-backend 没有应答");
                else
                        http_respond_end(g->c);
                g->c = NULL;
        }
        if (g->proc.err < 0 && g->proc.err != -ECANCELED)     /* not cancelled: its client went away */
                log_line("cannot start %s: %s", g->H->backend, strerror(-g->proc.err));
        log_line("%s %s: exit %lld, %llu bytes in, %llu bytes out", g->node, g->what, (long long)g->status,
                 (unsigned long long)g->bytes_in, (unsigned long long)g->bytes_out);
        if (g->receive) {
                hall_push_done(g->H);
                if (g->status == 0) {
                        g->H->pushed_since = true;
                        hall_ingest(g->H);
                }
        }
        if (!spawned_close(&g->proc, cgi_handle_closed))
                g->nopen--;             /* it never started: no handle (the pipes keep g) */
        uv_close((uv_handle_t *)&g->out, cgi_handle_closed);
        if (!g->in_closed) {
                g->in_closed = true;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
        }
}

static void on_exit_cb(struct spawned *p, int64_t status, int sig)
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
                log_line("%s %s: closed by the hall (%s); stopping the backend", g->node, g->what, why);
        else
                log_line("%s %s: the client went away; stopping the backend", g->node, g->what);
        if (!g->exited)
                spawned_kill(&g->proc, SIGTERM);
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

/* Hide every ref but the partitions node may hold: those present in the
 * repository and those of the catalogue's divisions under it (a township
 * relaying a village's first change set). The county sees everything. */
static bool same_time(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* The partitions the repository holds feeds of (H->parts). Every request
 * needs them, and walking the feed refs for each one, thousands of loose
 * refs in a herd of pushes, held the event loop in getdents (the county
 * simulator with scans: 100 s of system time). They are listed again
 * only when refs/feeds (a partition's folder made or removed) or
 * packed-refs changed; the times are taken before the walk, so what
 * changes during it is seen at the next request. (A stale list can only
 * hide: each request still applies feed_entitled.) */
static void hall_partitions(struct hall *H)
{
        char path[PATH_MAX + 64];
        struct stat dst, pst;
        git_reference_iterator *it = NULL;
        git_reference *ref;

        snprintf(path, sizeof path, "%s/refs/feeds", H->repo_dir);
        if (stat(path, &dst) < 0)
                memset(&dst, 0, sizeof dst);
        snprintf(path, sizeof path, "%s/packed-refs", H->repo_dir);
        if (stat(path, &pst) < 0)
                memset(&pst, 0, sizeof pst);
        if (H->parts_valid && same_time(&dst.st_mtim, &H->parts_dir_mt) && same_time(&pst.st_mtim, &H->parts_pack_mt))
                return;
        H->nparts = 0;
        H->parts_valid = false;
        if (git_reference_iterator_glob_new(&it, H->repo, FEED_PREFIX "*") < 0)
                return;
        bool ok = true;
        while (git_reference_next(&ref, it) == 0) {
                char part[32], writer[32];
                if (feed_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                    (H->nparts == 0 || strcmp(H->parts[H->nparts - 1], part) != 0)) {
                        void *np = realloc(H->parts, (H->nparts + 1) * sizeof *H->parts);
                        if (np) {
                                H->parts = np;
                                snprintf(H->parts[H->nparts++], sizeof H->parts[0], "%s", part);
                        } else {
                                ok = false;
                        }
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        /* not kept while either time is within 2 s of now: git makes a
         * partition's folder before it renames its first ref into it
         * (a walk in between misses it), and two changes in one tick of
         * the file system's clock look like one */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        H->parts_valid = ok && now.tv_sec - dst.st_mtim.tv_sec >= 2 && now.tv_sec - pst.st_mtim.tv_sec >= 2;
        H->parts_dir_mt = dst.st_mtim;
        H->parts_pack_mt = pst.st_mtim;
}

static void env_visibility(struct hall *H, struct envb *e, const char *node)
{
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
        hall_partitions(H);
        for (size_t i = 0; i < H->nparts; i++) {
                const char *part = H->parts[i];
                char v[64];
                if (feed_entitled(node, part) && strcmp(part, last) != 0) {
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
        const char *ctype, *cenc;
        int r;

        if (strcmp(req->path, "/health") == 0 && strcmp(req->method, "GET") == 0) {
                char body[192];
                snprintf(body, sizeof body, "{\"ok\":true,\"node\":\"%s\",\"role\":\"hall\",\"ingest\":{\"rounds\":%ld,"
                         "\"ahead\":%d}}\n", H->h.node, H->ingest_rounds, H->ingest_ahead);
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
        r = hall_token_node(H->h.st, req, node);
        if (r == -ENOENT) {
                respond_401(c, "a token is needed: daiban remote set URL --token TOKEN",
                            "需要令牌：daiban remote set URL --token TOKEN");
                return;
        }
        if (!req->tls && !req->peer_loopback) {
                log_line("refused %s: a token over plain HTTP", req->peer);
                http_respond_error(c, 403, "insecure", "tokens are refused over plain HTTP except on loopback; use https://",
                                   "除本机外，令牌不能通过明文 HTTP 发送；请使用 https://");
                return;
        }
        if (r < 0) {
                log_line("refused %s: wrong or revoked token (%s)", req->peer, service);
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

        /* through a gate that dies with the hall: the helper opened at
         * the start, or for a fetch (its wants checked with libgit2)
         * daiban-hall-check, opened the same way, else `daiban hall cgi`,
         * the running binary itself (/proc/self/exe in the new process);
         * either way replacing a file on disk (an upgrade, a rebuild)
         * cannot break or mix versions */
        const char *gate = strcmp(service, "fetch") == 0 ? H->check : H->helper;
        if (gate[0]) {
                g->args[0] = (char *)gate;
                g->args[1] = (char *)"cgi";
                g->args[2] = H->backend;
        } else {
                g->args[0] = (char *)"/proc/self/exe";
                g->args[1] = (char *)"hall";
                g->args[2] = (char *)"cgi";
                g->args[3] = H->backend;
        }
        /* its stdin and stdout: socket pairs, as uv_spawn makes them
         * (shutdown ends the input), whose child ends the spawner closes
         * here once it started; stderr, and fd 3 for the hook's refusals
         * (git passes it on), are the hall's log */
        int pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
        g->nopen = 3;
        g->proc.data = g;
        uv_pipe_init(H->loop, &g->in, 0);
        uv_pipe_init(H->loop, &g->out, 0);
        g->in.data = g->out.data = g;
        bool pairs = false;
        r = e.oom ? UV_ENOMEM : 0;
        if (r == 0 && (r = uv_socketpair(SOCK_STREAM, 0, pin, 0, UV_NONBLOCK_PIPE)) == 0) {
                if ((r = uv_socketpair(SOCK_STREAM, 0, pout, 0, UV_NONBLOCK_PIPE)) < 0) {
                        close(pin[0]);
                        close(pin[1]);
                }
                pairs = r == 0;
        }
        if (pairs) {
                /* the hall's ends: what a handle took, uv_close closes */
                int r_in = uv_pipe_open(&g->in, pin[1]), r_out = uv_pipe_open(&g->out, pout[1]);
                if (r_in < 0)
                        close(pin[1]);
                if (r_out < 0)
                        close(pout[1]);
                r = r_in < 0 ? r_in : r_out;
        }
        if (r == 0) {
                g->env = e;
                memset(&e, 0, sizeof e);
                r = spawner_run(H->spawner, &g->proc, g->args[0], g->args, g->env.v, (int[]){ pin[0], pout[0], 2, 2 },
                                4, 1u << 0 | 1u << 1, on_exit_cb);
        }
        if (r < 0 && pairs) {
                close(pin[0]);          /* the child's ends: nothing started */
                close(pout[0]);
        }
        env_free(&e);
        if (r < 0) {
                log_line("cannot start %s: %s", H->backend, uv_strerror(r));
                g->c = NULL;
                g->in_closed = true;
                g->nopen = 2;
                uv_close((uv_handle_t *)&g->in, cgi_handle_closed);
                uv_close((uv_handle_t *)&g->out, cgi_handle_closed);
                if (receive)
                        hall_push_done(H);
                http_respond_error(c, 500, "backend_failed", "cannot start git http-backend", "无法启动 git http-backend");
                return;
        }
        http_conn_set_data(c, g);
        uv_read_start((uv_stream_t *)&g->out, http_alloc, cgi_read);
}


const struct http_handler hall_front = { front_request, front_body, front_body_end, front_abort, front_drain };
