/* `daiban serve`: one node's station in a browser. The web UI (built
 * into the binary), its JSON API (docs/http-api.md, "The station") and
 * background sync, on the same HTTP server as the hall (agent/http.c).
 *
 * Reads are answered in the event loop from the node's store (SQLite in
 * WAL mode: readers never wait for a writer). Every write of an
 * application goes to the writer thread (agent/writer.h),
 * which runs the core (agent/core/core.h) with its own connection, the
 * same functions the CLI calls, so the rules are one, and the loop
 * never waits on a disk sync; the CLI and the daemon may still write the
 * same home at once. Children remain where they earn it: a sync that may
 * run for an hour on a bad link, a catalogue's check and install,
 * doctor. Sign-in hashes (argon2id) run on libuv's thread pool.
 * Sessions and drafts live in HOME/station.db, never replicated. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "agent/app.h"
#include "agent/cli.h"
#include "agent/core/core.h"
#include "agent/digest.h"
#include "agent/http.h"
#include "agent/refusal.h"
#include "agent/serve.h"
#include "agent/setup.h"
#include "agent/station.h"
#include "agent/throttle.h"
#include "agent/tls.h"
#include "agent/ui.h"
#include "agent/writer.h"
#include "forms/calendar.h"
#include "forms/pinyin.h"
#include "forms/validate.h"


#define SESSION_IDLE_S   (12 * 3600)
#define SESSION_TOUCH_S  300            /* record use at most this often */
#define BODY_MAX         (1u << 20)
#define CATALOG_BODY_MAX (4u << 20)
#define MAX_CHILDREN     16
/* a write's child must end before the connection's idle limit (120 s),
 * so its answer always has a connection to go to */
#define CHILD_TIMEOUT_MS 60000
/* a sync moves scans piece by piece over slow links: it may run long */
#define SYNC_TIMEOUT_MS  (3600 * 1000)
#define BUFFERED_MAX     ((size_t)256 << 20)    /* all request bodies at once */
#define SIGNIN_BODY_MAX  4096
#define CHILD_OUT_MAX    (8u << 20)
#define SYNC_EVERY_S     300            /* --sync-every's default */
#define SYNC_FIRST_S     15
#define SYNC_MAX_S       1800
/* base64 SHA-256 of "window.print()", the receipt's print button
 * (agent/paper.c), for its CSP */
#define PRINT_HANDLER_SHA256 "MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU="

/* ---- the station ----------------------------------------------------------- */


struct station {
        uv_loop_t *loop;
        http_server *srv;
        /* "daiban_<node>_<port>=": browsers share cookies across the
         * ports of a host, so two stations on one PC need two names */
        char cookie_name[64];
        size_t cookie_len;
        struct home h;
        char *home_dir;
        sqlite3 *db;                    /* station.db */
        char exe[4096];
        char *home_env;                 /* "DAIBAN_HOME=..." for children */
        bool tls;
        unsigned nchildren;
        uv_signal_t sigint, sigterm;
        /* background sync */
        uv_timer_t sync_timer;
        unsigned sync_every_s;
        bool syncing;
        unsigned failures;
        uint64_t next_sync;             /* uv_now ms */
        json_t *last_error;             /* {"en","zh"} or NULL */
        uv_timer_t refresh_timer;       /* a catalogue installed by the CLI */
        size_t buffered;                /* request bodies held, all requests */
        bool loopback;                  /* listening on loopback only */
        /* serve_test_*: no sockets, no children; the last answer kept */
        bool testing;
        int test_status;
        char *test_body;
        size_t test_len;
        struct throttle *thr;           /* sign-in failures (agent/throttle.h) */
        struct writer *w;               /* the writes' thread (agent/writer.h) */
};

/* ---- one request ------------------------------------------------------------ */

struct req {
        struct station *st;
        http_conn *c;                   /* NULL once the connection went away */
        char method[8];
        char path[512];
        char query[1024];
        char cookie[256];               /* "<cookie_name>VALUE" only */
        char csrf[96];
        char origin[256];
        char host[256];
        char ctype[128];                /* Content-Type */
        char peer[64];
        char inm[96];                   /* If-None-Match */
        bool gzip, tls, head_only;
        unsigned pending;               /* child, work or timer outstanding */
        char *body;
        size_t len, cap, max;
        /* the session */
        bool signed_in;
        char op[64];
        char sess_csrf[80];
        char *tmps[4];                  /* files to remove when done */
        char *tmpdir;                   /* a folder of flat files, likewise */
        bool gated;                     /* session and CSRF checked already */
        /* a write waiting for its child */
        void (*after)(struct req *, int status, const char *out, json_t *errors);
        char key[128];                  /* what the write was about */
        json_t *ctx;                    /* the route's own data */
};

static void rm_tree(const char *dir);

/* The request's temporary files go before its answer does: a client
 * that has the answer finds nothing of its data left on disk. */
static void req_drop_files(struct req *r)
{
        for (size_t i = 0; i < sizeof r->tmps / sizeof r->tmps[0]; i++)
                if (r->tmps[i]) {
                        unlink(r->tmps[i]);
                        free(r->tmps[i]);
                        r->tmps[i] = NULL;
                }
        if (r->tmpdir) {
                rm_tree(r->tmpdir);
                free(r->tmpdir);
                r->tmpdir = NULL;
        }
}

static void req_free(struct req *r)
{
        req_drop_files(r);
        r->st->buffered -= r->cap;
        json_decref(r->ctx);
        /* a body may hold a password or an ID number: not left in freed memory */
        if (r->body)
                explicit_bzero(r->body, r->cap);
        free(r->body);
        free(r);
}

/* The request is answered (or was dropped): free it unless something
 * asynchronous still holds it. */
static void req_done(struct req *r)
{
        if (r->c) {
                http_conn_set_data(r->c, NULL);
                r->c = NULL;
        }
        if (!r->pending)
                req_free(r);
}

static void respond(struct req *r, int status, const char *type, const char *extra, const void *body, size_t len)
{
        char hdr[2048];

        req_drop_files(r);
        if (!r->c && r->st->testing && !r->st->test_status) {
                r->st->test_status = status;
                free(r->st->test_body);
                r->st->test_body = malloc(len + 1);
                if (r->st->test_body) {
                        memcpy(r->st->test_body, body, len);
                        r->st->test_body[len] = '\0';
                }
                r->st->test_len = len;
        }
        if (!r->c) {
                req_done(r);
                return;
        }
        snprintf(hdr, sizeof hdr,
                 "Content-Type: %s\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "Referrer-Policy: no-referrer\r\n"
                 "X-Frame-Options: SAMEORIGIN\r\n"
                 "%s"
                 "%s%s",
                 type,
                 strstr(extra ? extra : "", "Content-Security-Policy")
                         ? ""
                         : "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:;"
                           " frame-ancestors 'self'; form-action 'self'; base-uri 'none'\r\n",
                 extra ? extra : "", strstr(extra ? extra : "", "Cache-Control") ? "" : "Cache-Control: no-store\r\n");
        http_respond_start(r->c, status, hdr, r->head_only ? 0 : (int64_t)len);
        if (len && !r->head_only)
                http_respond_write(r->c, body, len);
        http_respond_end(r->c);
        r->c = NULL;
        req_done(r);
}

static void reply_json_h(struct req *r, int status, json_t *j, const char *extra)
{
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (!s) {
                static const char oom[] = "{\"error\":\"internal\",\"message\":{\"en\":\"out of memory\",\"zh\":\"内存不足\"}}";
                respond(r, 500, "application/json; charset=utf-8", NULL, oom, sizeof oom - 1);
                return;
        }
        respond(r, status, "application/json; charset=utf-8", extra, s, strlen(s));
        free(s);
}

static void reply_json(struct req *r, int status, json_t *j)
{
        reply_json_h(r, status, j, NULL);
}

/* {"error":code,"message":{"en","zh"}} plus the members of extra (stolen). */
static void reply_error_x(struct req *r, int status, const char *code, const char *en, const char *zh, json_t *extra)
{
        json_t *j = json_pack("{s:s,s:{s:s,s:s}}", "error", code, "message", "en", en, "zh", zh);

        if (j && extra)
                json_object_update(j, extra);
        json_decref(extra);
        reply_json(r, status, j);
}

static void reply_error(struct req *r, int status, const char *code, const char *en, const char *zh)
{
        reply_error_x(r, status, code, en, zh, NULL);
}

static void bad_request(struct req *r, const char *en, const char *zh)
{
        reply_error(r, 400, "bad_request", en, zh);
}

static void not_found(struct req *r)
{
        reply_error(r, 404, "not_found", "there is nothing at this address", "没有找到该内容");
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
        va_list ap;
        char when[32];
        time_t now = time(NULL);
        struct tm tm;

        localtime_r(&now, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s serve: ", when);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* ---- small helpers ---------------------------------------------------------- */

/* A value from a client, fit for one log line: control bytes become '?',
 * and it is cut to the buffer. */
static const char *log_safe(const char *s, char *out, size_t cap)
{
        size_t k = 0;

        for (; s && *s && k + 1 < cap; s++)
                out[k++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        out[k] = '\0';
        return out;
}

static int32_t today(void)
{
        bool bad;

        return home_today(NULL, &bad);
}

static int hexval(int ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

/* Decode %XX and '+' of a query value into out; false when malformed
 * or it holds a NUL. */
static bool url_decode(const char *s, size_t n, char *out, size_t cap)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                int ch = (unsigned char)s[i];
                if (ch == '%') {
                        if (i + 2 >= n)
                                return false;
                        int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
                        if (a < 0 || b < 0)
                                return false;
                        ch = a * 16 + b;
                        i += 2;
                } else if (ch == '+') {
                        ch = ' ';
                }
                if (ch == 0 || k + 1 >= cap)
                        return false;
                out[k++] = (char)ch;
        }
        out[k] = '\0';
        return true;
}

/* The value of query parameter name (decoded), or NULL when absent;
 * *bad when present but malformed. */
static const char *qparam(const struct req *r, const char *name, char *buf, size_t cap, bool *bad)
{
        size_t nl = strlen(name);
        const char *p = r->query;

        while (*p) {
                const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
                if ((size_t)(end - p) > nl && !strncmp(p, name, nl) && p[nl] == '=') {
                        if (!url_decode(p + nl + 1, (size_t)(end - p - nl - 1), buf, cap)) {
                                *bad = true;
                                return NULL;
                        }
                        return buf;
                }
                if ((size_t)(end - p) == nl && !strncmp(p, name, nl)) {
                        buf[0] = '\0';
                        return buf;
                }
                p = amp ? amp + 1 : end;
        }
        return NULL;
}

/* A path segment names an application, draft or material: a key the
 * CLI takes (app_key_ok: a draft's id is also its request key), and no
 * ".." in a path. */
static bool ident_ok(const char *s, size_t n)
{
        return app_key_ok(s, n) && !(n >= 2 && memmem(s, n, "..", 2));
}

/* Split "/api/apps/ID/rest" after prefix: the segment into seg, the rest
 * (with its '/') returned; NULL when the segment is not an ident. */
static const char *segment(const char *path, const char *prefix, char *seg, size_t cap)
{
        size_t pl = strlen(prefix);

        if (strncmp(path, prefix, pl))
                return NULL;
        const char *s = path + pl, *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (!ident_ok(s, n) || n >= cap)
                return NULL;
        memcpy(seg, s, n);
        seg[n] = '\0';
        return slash ? slash : "";
}

/* The body as JSON, read once: its bytes (a password, an ID number) are
 * wiped as soon as they are parsed, not when the request's answer has
 * gone out (the parsed value is the route's to wipe or keep). */
static json_t *body_json(struct req *r)
{
        json_error_t e;
        json_t *j;

        if (!r->len)
                return NULL;
        j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &e);
        explicit_bzero(r->body, r->len);
        r->len = 0;
        return j;
}

static bool is_write(const struct req *r)
{
        return strcmp(r->method, "GET") && strcmp(r->method, "HEAD");
}

/* nbytes random bytes as hex (at most 64 bytes) */
static void random_hex(char *out, size_t nbytes)
{
        unsigned char b[64];

        randombytes_buf(b, nbytes);
        sodium_bin2hex(out, 2 * nbytes + 1, b, nbytes);
}

static void token_hash(const char *s, char out[65])
{
        sha256_hex(s, strlen(s), out);
}

static const char *operator_name(struct station *st, const char *op, char *buf, size_t cap)
{
        sqlite3_stmt *q;

        buf[0] = '\0';
        /* a disabled operator is no one here: no sign-in, no session */
        if (sqlite3_prepare_v2(store_db(st->h.st), "SELECT name FROM operators WHERE node = ? AND id = ? AND NOT disabled",
                               -1, &q, NULL) != SQLITE_OK)
                return NULL;
        sqlite3_bind_text(q, 1, st->h.node, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, op, -1, SQLITE_STATIC);
        bool found = sqlite3_step(q) == SQLITE_ROW;
        if (found)
                snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        return found ? buf : NULL;
}

/* ---- children: the CLI does the writes ------------------------------------- */

struct child {
        uv_process_t proc;
        uv_pipe_t out, err;
        uv_timer_t timer;
        struct req *r;                  /* NULL for the background sync */
        struct station *st;
        char *obuf, *ebuf;
        size_t olen, elen;
        int64_t status;
        int open;                       /* handles still open */
        void (*done)(struct child *);
};

static void child_nothing(struct child *ch)
{
        (void)ch;
}

static void child_close_cb(uv_handle_t *h)
{
        struct child *ch = h->data;

        if (--ch->open)
                return;
        ch->done(ch);
        free(ch->obuf);
        free(ch->ebuf);
        free(ch);
}

static void child_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct child *ch = s->data;
        bool is_out = s == (uv_stream_t *)&ch->out;
        char **b = is_out ? &ch->obuf : &ch->ebuf;
        size_t *len = is_out ? &ch->olen : &ch->elen;

        if (n > 0 && *len + (size_t)n <= CHILD_OUT_MAX) {
                char *nb = realloc(*b, *len + (size_t)n + 1);
                if (nb) {
                        memcpy(nb + *len, buf->base, (size_t)n);
                        *len += (size_t)n;
                        nb[*len] = '\0';
                        *b = nb;
                }
        }
        free(buf->base);
        if (n < 0)
                uv_close((uv_handle_t *)s, child_close_cb);
}

static void child_exit(uv_process_t *p, int64_t status, int sig)
{
        struct child *ch = p->data;

        ch->status = sig ? 128 + sig : status;
        ch->st->nchildren--;
        uv_timer_stop(&ch->timer);
        uv_close((uv_handle_t *)&ch->timer, child_close_cb);
        uv_close((uv_handle_t *)p, child_close_cb);
}

static void child_timeout(uv_timer_t *t)
{
        struct child *ch = t->data;

        logf_("a child ran over its time (%d s for a write, %d s for a sync) and was stopped", CHILD_TIMEOUT_MS / 1000,
              SYNC_TIMEOUT_MS / 1000);
        uv_process_kill(&ch->proc, SIGKILL);
}

/* Run `daiban ARGS...` on this home. done runs after it exited and its
 * output was read. Returns 0 or a negative libuv error. */
static int child_run(struct station *st, struct req *r, const char *const *args, void (*done)(struct child *))
{
        struct child *ch = calloc(1, sizeof *ch);
        const char *argv[40];
        size_t n = 0;
        uv_stdio_container_t io[3];
        uv_process_options_t po = { 0 };
        extern char **environ;
        char *env[256];
        size_t ne = 0;
        int rc;

        if (!ch)
                return UV_ENOMEM;
        if (st->nchildren >= MAX_CHILDREN || st->testing) {
                free(ch);
                return UV_EAGAIN;
        }
        argv[n++] = st->exe;
        for (size_t i = 0; args[i] && n < 36; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        /* the parent's environment, with errors as JSON and the
         * messages' language fixed (both are in the JSON) */
        /* the catalogue check's report is shown whole on the county's
         * Chinese screen: in Chinese */
        bool zh = args[0] && args[1] && !strcmp(args[0], "catalog") && !strcmp(args[1], "check");
        for (char **e = environ; *e && ne < 250; e++)
                if (strncmp(*e, "DAIBAN_ERRORS=", 14) && strncmp(*e, "DAIBAN_HOME=", 12) &&
                    strncmp(*e, "DAIBAN_OPERATOR=", 16) &&
                    !(zh && (!strncmp(*e, "LANG=", 5) || !strncmp(*e, "LC_ALL=", 7) || !strncmp(*e, "LC_MESSAGES=", 12))))
                        env[ne++] = *e;
        if (zh)
                env[ne++] = "LANG=zh_CN.UTF-8";
        env[ne++] = "DAIBAN_ERRORS=json";
        env[ne++] = st->home_env;
        env[ne] = NULL;
        ch->st = st;
        ch->r = r;
        ch->done = done;
        uv_pipe_init(st->loop, &ch->out, 0);
        uv_pipe_init(st->loop, &ch->err, 0);
        uv_timer_init(st->loop, &ch->timer);
        ch->out.data = ch->err.data = ch->timer.data = ch->proc.data = ch;
        io[0].flags = UV_IGNORE;
        io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[1].data.stream = (uv_stream_t *)&ch->out;
        io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[2].data.stream = (uv_stream_t *)&ch->err;
        po.file = st->exe;
        po.args = (char **)argv;
        po.env = env;
        po.stdio = io;
        po.stdio_count = 3;
        po.exit_cb = child_exit;
        rc = uv_spawn(st->loop, &ch->proc, &po);
        if (rc < 0) {
                /* every handle is initialised (a failed spawn's too):
                 * close them all; the last close frees */
                logf_("cannot run %s: %s", st->exe, uv_strerror(rc));
                ch->open = 4;
                ch->r = NULL;
                ch->done = child_nothing;
                uv_close((uv_handle_t *)&ch->out, child_close_cb);
                uv_close((uv_handle_t *)&ch->err, child_close_cb);
                uv_close((uv_handle_t *)&ch->timer, child_close_cb);
                uv_close((uv_handle_t *)&ch->proc, child_close_cb);
                return rc;
        }
        st->nchildren++;
        ch->open = 4;
        uv_read_start((uv_stream_t *)&ch->out, http_alloc, child_read);
        uv_read_start((uv_stream_t *)&ch->err, http_alloc, child_read);
        uv_timer_start(&ch->timer, child_timeout, r ? CHILD_TIMEOUT_MS : SYNC_TIMEOUT_MS, 0);
        if (r)
                r->pending++;
        return 0;
}

/* The child's JSON error lines: {"en","zh"} messages and problems. */
static json_t *child_errors(const struct child *ch)
{
        json_t *errs = json_array(), *probs = json_array(), *text = json_array();
        const char *p = ch->ebuf ? ch->ebuf : "";

        while (*p) {
                const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
                json_t *j = json_loadb(p, (size_t)(end - p), 0, NULL);
                if (json_is_array(json_object_get(j, "problems")))
                        json_array_extend(probs, json_object_get(j, "problems"));
                else if (json_object_get(j, "en"))
                        json_array_append(errs, j);
                else if (!j && end > p)         /* plain lines: a report's diagnostics */
                        json_array_append_new(text, json_stringn(p, (size_t)(end - p)));
                json_decref(j);
                p = nl ? nl + 1 : end;
        }
        return json_pack("{s:o,s:o,s:o}", "messages", errs, "problems", probs, "text", text);
}

static void write_done(struct child *ch)
{
        struct req *r = ch->r;

        if (!r)
                return;
        r->pending--;
        if (!r->c) {
                req_done(r);
                return;
        }
        json_t *errs = child_errors(ch);
        r->after(r, (int)ch->status, ch->obuf ? ch->obuf : "", errs);
        json_decref(errs);
}

/* Answer a child that refused (a catalogue install): 422 with the
 * problems when they refused it, else 409 with the messages joined. */
static void reply_child_refused(struct req *r, int status, json_t *errs)
{
        json_t *msgs = json_object_get(errs, "messages"), *probs = json_object_get(errs, "problems"), *m;
        size_t i;
        char en[2048] = "", zh[2048] = "";

        json_array_foreach(msgs, i, m) {
                size_t a = strlen(en), b = strlen(zh);
                snprintf(en + a, sizeof en - a, "%s%s", a ? " " : "", json_string_value(json_object_get(m, "en")));
                snprintf(zh + b, sizeof zh - b, "%s", json_string_value(json_object_get(m, "zh")));
        }
        if (!en[0]) {
                snprintf(en, sizeof en, "the write was refused (exit %d)", status);
                snprintf(zh, sizeof zh, "操作未被接受（代码 %d）", status);
        }
        if (status == EXIT_REFUSED && json_array_size(probs)) {
                /* the CLI's text names commands and an id that was not
                 * kept; a screen says what to do */
                snprintf(en, sizeof en, "not accepted yet: %zu problems to resolve with the applicant (nothing was saved)",
                         json_array_size(probs));
                snprintf(zh, sizeof zh, "暂不能受理：共 %zu 个问题需与申请人一并补正（未保存任何内容）", json_array_size(probs));
                reply_error_x(r, 422, "invalid", en, zh,
                              json_pack("{s:O,s:s?}", "problems", probs, "catalog", r->st->h.catalog_version));
        }
        else if (status == EXIT_REFUSED)
                reply_error(r, 409, "refused", en, zh);
        else if (status == EXIT_USAGE)
                reply_error(r, 400, "bad_request", en, zh);
        else
                reply_error(r, 500, "internal", en[0] ? en : "the write failed", zh[0] ? zh : "写入失败");
}

/* Run a CLI command as a child for r (a catalogue's check or install,
 * doctor): after gets its exit status, output and errors. */
static void run_write(struct req *r, const char *const *args,
                      void (*after)(struct req *, int, const char *, json_t *))
{
        int rc;

        r->after = after;
        rc = child_run(r->st, r, args, write_done);
        if (rc == UV_EAGAIN)
                reply_error(r, 503, "busy", "too many writes at once; try again in a moment", "同时操作过多，请稍后再试");
        else if (rc < 0)
                reply_error(r, 500, "internal", "cannot start the write", "无法执行写入");
}

/* HOME/tmp, made if missing: what children read, swept at start. */
static const char *tmp_dir(struct station *st)
{
        static char dir[4096];

        snprintf(dir, sizeof dir, "%s/tmp", st->home_dir);
        mkdir(dir, 0700);
        return dir;
}

/* ---- sessions --------------------------------------------------------------- */

/* Find the session of the request's cookie: 0 (signed in), -1 (none,
 * or it ended), -2 (another node's), -3 (the sessions cannot be read). */
static int session_lookup(struct req *r)
{
        struct station *st = r->st;
        char tok[160], hash[65];
        sqlite3_stmt *q;

        /* r->cookie holds "<cookie_name>NODE.TOKEN" (on_request) */
        if (strncmp(r->cookie, st->cookie_name, st->cookie_len) != 0)
                return -1;
        snprintf(tok, sizeof tok, "%s", r->cookie + st->cookie_len);
        char *dot = strrchr(tok, '.');
        if (!dot)
                return -1;
        *dot = '\0';
        if (strcmp(tok, st->h.node) != 0) {
                char ln[40];
                logf_("a session cookie of node %s was refused from %s", log_safe(tok, ln, sizeof ln), r->peer);
                return -2;
        }
        token_hash(dot + 1, hash);
        if (sqlite3_prepare_v2(st->db, "SELECT operator, csrf, used FROM sessions WHERE token = ?", -1, &q, NULL) !=
            SQLITE_OK)
                return -3;
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
        long long now = (long long)time(NULL), used = 0;
        bool found = sqlite3_step(q) == SQLITE_ROW;
        if (found) {
                snprintf(r->op, sizeof r->op, "%s", (const char *)sqlite3_column_text(q, 0));
                snprintf(r->sess_csrf, sizeof r->sess_csrf, "%s", (const char *)sqlite3_column_text(q, 1));
                used = sqlite3_column_int64(q, 2);
        }
        sqlite3_finalize(q);
        /* idle too long, or its operator disabled since: the session ends
         * (a store that cannot answer now ends nothing) */
        int op_state = found ? home_operator_state(&st->h, r->op) : HOME_OP_ACTIVE;
        bool ended = used < now - SESSION_IDLE_S || op_state == HOME_OP_DISABLED || op_state == HOME_OP_UNKNOWN;
        if (!found || ended) {
                if (found && sqlite3_prepare_v2(st->db, "DELETE FROM sessions WHERE token = ?", -1, &q, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
                        sqlite3_step(q);
                        sqlite3_finalize(q);
                }
                r->op[0] = r->sess_csrf[0] = '\0';
                return -1;
        }
        if (used < now - SESSION_TOUCH_S &&
            sqlite3_prepare_v2(st->db, "UPDATE sessions SET used = ? WHERE token = ?", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, now);
                sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
                sqlite3_step(q);
                sqlite3_finalize(q);
        }
        r->signed_in = true;
        return 0;
}

/* An origin that is not this station's (an Origin header naming another
 * host): true when it must be refused. */
static bool foreign_origin(const struct req *r)
{
        const char *o = r->origin;

        if (!o[0])
                return false;
        if (!strncmp(o, "http://", 7))
                o += 7;
        else if (!strncmp(o, "https://", 8))
                o += 8;
        return strcmp(o, r->host) != 0;
}

/* A Host header this station answers to. On loopback only the loopback
 * names: a page of another site whose name was made to point here
 * (DNS rebinding) is not served. */
static bool host_ok(const struct req *r)
{
        static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };

        if (!r->st->loopback)
                return true;
        for (size_t i = 0; i < 3; i++) {
                size_t n = strlen(names[i]);
                if (!strncmp(r->host, names[i], n) && (r->host[n] == ':' || !r->host[n]))
                        return true;
        }
        return false;
}

struct refusal {
        int status;
        const char *code, *en, *zh;
};

static bool is_public(const struct req *r)
{
        return strncmp(r->path, "/api/", 5) != 0 || !strcmp(r->path, "/api/operators") ||
               (!strcmp(r->path, "/api/session") && !is_write(r));
}

/* Who may make this request: the host, the session (every /api/ route
 * but sign-in and the operator list) and, for a write, the session's
 * CSRF token and this origin. Run before the body is read. 0, or -1
 * with the refusal filled in (and logged). */
static int gate(struct req *r, struct refusal *f)
{
        char op[80];

        if (!host_ok(r)) {
                logf_("a request for host '%.64s' was refused from %s", r->host, r->peer);
                *f = (struct refusal){ 400, "bad_request", "this station does not answer to that host name",
                                       "本站不接受该主机名的访问" };
                return -1;
        }
        if (!strcmp(r->path, "/api/session") && !strcmp(r->method, "POST")) {
                /* a sign-in from another site's page would only lock the
                 * operators out: refused, as is a form's text/plain */
                if (foreign_origin(r) || !strstr(r->ctype, "application/json")) {
                        logf_("a sign-in from origin '%.64s' (%.64s) was refused", r->origin, r->ctype);
                        *f = (struct refusal){ 403, "csrf", "sign in from this station's own page",
                                               "请在本站页面登录" };
                        return -1;
                }
                return 0;
        }
        if (is_public(r))
                return 0;
        switch (session_lookup(r)) {
        case 0:
                break;
        case -2:
                *f = (struct refusal){ 401, "wrong_node", "this sign-in belongs to another station; please sign in here",
                                       "该登录属于其他站点，请在本站重新登录" };
                return -1;
        case -3:
                *f = (struct refusal){ 500, "internal", "cannot read the sessions", "无法读取登录信息" };
                return -1;
        default:
                *f = (struct refusal){ 401, "unauthorized", "please sign in (or sign in again: the last one ended)",
                                       "请登录（或重新登录：上次登录已过期）" };
                return -1;
        }
        if (!is_write(r))
                return 0;
        size_t a = strlen(r->csrf), b = strlen(r->sess_csrf);
        log_safe(r->op, op, sizeof op);
        if (!a || a != b || sodium_memcmp(r->csrf, r->sess_csrf, a) != 0) {
                logf_("a %s %s without the session's CSRF token was refused (operator %s, %s)", r->method, r->path, op,
                      r->peer);
                *f = (struct refusal){ 403, "csrf", "the page is out of date; reload it and try again",
                                       "页面已过期，请刷新后重试" };
                return -1;
        }
        if (foreign_origin(r)) {
                logf_("a %s %s from origin %.64s was refused (operator %s)", r->method, r->path, r->origin, op);
                *f = (struct refusal){ 403, "csrf", "this request came from another site", "该请求来自其他网站，已拒绝" };
                return -1;
        }
        return 0;
}

static json_t *session_json(struct req *r)
{
        struct station *st = r->st;
        const struct cat_division *county = st->h.div;
        char name[256];

        while (county && county->parent)
                county = county->parent;
        json_t *j = json_pack("{s:s,s:s,s:s,s:s?,s:b}", "node", st->h.node, "node_name",
                              st->h.name && *st->h.name ? st->h.name : st->h.div ? st->h.div->name : st->h.node, "role",
                              st->h.role, "county", county ? county->name : NULL, "signed_in", r->signed_in);
        if (r->signed_in) {
                json_object_set_new(j, "operator", json_string(r->op));
                json_object_set_new(j, "operator_name", json_string(operator_name(st, r->op, name, sizeof name) ? name : r->op));
                json_object_set_new(j, "csrf", json_string(r->sess_csrf));
        }
        return j;
}

/* ---- sign-in ---------------------------------------------------------------- */

struct signin {
        uv_work_t work;
        struct req *r;
        char op[64];
        char pw[STATION_MAX_PASSWORD + 1];
        bool known;
        int ok;
        uv_timer_t delay;
};

static void signin_work(uv_work_t *w)
{
        struct signin *s = w->data;

        s->ok = station_check_password(s->r->st->db, s->op, s->pw);
        if (!s->known)
                s->ok = 0;
        sodium_memzero(s->pw, sizeof s->pw);
}

static void peer_key(const struct req *r, char *out, size_t cap)
{
        /* the address without its port */
        const char *colon = strrchr(r->peer, ':');
        size_t n = colon ? (size_t)(colon - r->peer) : strlen(r->peer);

        snprintf(out, cap, "%.*s", (int)n, r->peer);
}

static void signin_free(uv_handle_t *h)
{
        free(h->data);
}

static void signin_fail_answer(uv_timer_t *t)
{
        struct signin *s = t->data;
        struct req *r = s->r;

        r->pending--;
        if (r->c)
                reply_error(r, 401, "bad_password", "the operator or the password is wrong", "操作员或密码不正确");
        else
                req_done(r);
        uv_close((uv_handle_t *)&s->delay, signin_free);
}

static void signin_after(uv_work_t *w, int status)
{
        struct signin *s = w->data;
        struct req *r = s->r;
        struct station *st = r->st;
        char pkey[96];
        unsigned nfail = 0;
        bool ok = status == 0 && s->ok == 1;

        peer_key(r, pkey, sizeof pkey);
        unsigned wait = throttle_end(st->thr, s->op, s->known, pkey, ok, uv_now(st->loop), &nfail);
        if (ok) {
                char token[65], hash[65], csrf[65], cookie[512];
                sqlite3_stmt *q;
                long long now = (long long)time(NULL);

                r->pending--;
                random_hex(token, 32);
                random_hex(csrf, 32);
                token_hash(token, hash);
                if (sqlite3_prepare_v2(st->db, "INSERT INTO sessions(token, operator, csrf, created, used)"
                                       " VALUES (?, ?, ?, ?, ?)", -1, &q, NULL) != SQLITE_OK) {
                        free(s);
                        reply_error(r, 500, "internal", "cannot save the session", "无法保存登录状态");
                        return;
                }
                sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, s->op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, csrf, -1, SQLITE_STATIC);
                sqlite3_bind_int64(q, 4, now);
                sqlite3_bind_int64(q, 5, now);
                int rc = sqlite3_step(q);
                sqlite3_finalize(q);
                /* sessions long unused go */
                char gc[128];
                snprintf(gc, sizeof gc, "DELETE FROM sessions WHERE used < %lld", now - SESSION_IDLE_S);
                sqlite3_exec(st->db, gc, NULL, NULL, NULL);
                if (rc != SQLITE_DONE) {
                        free(s);
                        reply_error(r, 500, "internal", "cannot save the session", "无法保存登录状态");
                        return;
                }
                logf_("operator %s signed in from %s", s->op, r->peer);
                snprintf(r->op, sizeof r->op, "%s", s->op);
                snprintf(r->sess_csrf, sizeof r->sess_csrf, "%s", csrf);
                r->signed_in = true;
                snprintf(cookie, sizeof cookie,
                         "Set-Cookie: %s%s.%s; HttpOnly; SameSite=Strict; Path=/%s\r\n", st->cookie_name, st->h.node, token,
                         r->tls ? "; Secure" : "");
                free(s);
                if (!r->c) {
                        req_done(r);
                        return;
                }
                reply_json_h(r, 200, session_json(r), cookie);
                return;
        }
        char lop[80];
        logf_("sign-in failed for operator '%s' from %s (%u failures; next try after %u s)", log_safe(s->op, lop, sizeof lop),
              r->peer, nfail, wait);
        /* a failure is answered after a second, whatever the hash took */
        uv_timer_init(st->loop, &s->delay);
        s->delay.data = s;
        uv_timer_start(&s->delay, signin_fail_answer, 1000, 0);
}

static void signin(struct req *r)
{
        struct station *st = r->st;
        json_t *j = body_json(r);
        const char *op = json_string_value(json_object_get(j, "operator"));
        const char *pw = json_string_value(json_object_get(j, "password"));
        char pkey[96], name[256], ra[64];
        unsigned wait;

        if (!op || !pw || !*op || strlen(op) > 63 || strlen(pw) > STATION_MAX_PASSWORD) {
                json_decref(j);
                bad_request(r, "give {\"operator\", \"password\"}", "请填写操作员和密码");
                return;
        }
        peer_key(r, pkey, sizeof pkey);
        /* an operator not registered here still costs a hash (the same
         * time), then fails */
        bool known = operator_name(st, op, name, sizeof name) != NULL;
        wait = throttle_begin(st->thr, op, known, pkey, uv_now(st->loop));
        if (wait) {
                char lop[80];
                logf_("sign-in for operator '%s' from %s refused: wait %u s after failures", log_safe(op, lop, sizeof lop),
                      r->peer, wait);
                json_decref(j);         /* op points into j */
                snprintf(ra, sizeof ra, "Retry-After: %u\r\n", wait);
                json_t *e = json_pack("{s:s,s:{s:s,s:s},s:i}", "error", "too_many", "message", "en",
                                      "too many wrong passwords; wait a little and try again", "zh",
                                      "密码错误次数过多，请稍候再试", "retry_after", wait);
                reply_json_h(r, 429, e, ra);
                return;
        }
        struct signin *s = calloc(1, sizeof *s);
        if (!s) {
                throttle_cancel(st->thr, op, known, pkey, uv_now(st->loop));
                json_decref(j);
                reply_error(r, 500, "internal", "out of memory", "内存不足");
                return;
        }
        s->r = r;
        s->work.data = s;
        s->known = known;
        snprintf(s->op, sizeof s->op, "%s", op);
        snprintf(s->pw, sizeof s->pw, "%s", pw);
        json_decref(j);
        r->pending++;
        if (uv_queue_work(st->loop, &s->work, signin_work, signin_after) < 0) {
                throttle_cancel(st->thr, s->op, known, pkey, uv_now(st->loop));
                r->pending--;
                free(s);
                reply_error(r, 500, "internal", "cannot check the password", "无法校验密码");
        }
}

static void signout(struct req *r)
{
        const char *v = strncmp(r->cookie, r->st->cookie_name, r->st->cookie_len) == 0 ? r->cookie : NULL;
        char tok[160], hash[65], clear[160];
        sqlite3_stmt *q;

        if (v) {
                size_t n = strcspn(v + r->st->cookie_len, ";");
                snprintf(tok, sizeof tok, "%.*s", (int)n, v + r->st->cookie_len);
                char *dot = strrchr(tok, '.');
                if (dot) {
                        token_hash(dot + 1, hash);
                        if (sqlite3_prepare_v2(r->st->db, "DELETE FROM sessions WHERE token = ?", -1, &q, NULL) == SQLITE_OK) {
                                sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
                                sqlite3_step(q);
                                sqlite3_finalize(q);
                        }
                }
        }
        logf_("operator %s signed out", r->op);
        snprintf(clear, sizeof clear, "Set-Cookie: %s; HttpOnly; SameSite=Strict; Path=/; Max-Age=0\r\n",
                 r->st->cookie_name);
        respond(r, 204, "application/json; charset=utf-8", clear, "", 0);
}

static void operators(struct req *r)
{
        sqlite3_stmt *q;
        json_t *a = json_array();

        if (sqlite3_prepare_v2(store_db(r->st->h.st), "SELECT id, name FROM operators WHERE node = ? AND NOT disabled ORDER BY id", -1, &q,
                               NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->st->h.node, -1, SQLITE_STATIC);
                while (sqlite3_step(q) == SQLITE_ROW) {
                        const char *id = (const char *)sqlite3_column_text(q, 0);
                        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "id", id, "name", sqlite3_column_text(q, 1),
                                                           "has_password", station_has_password(r->st->db, id)));
                }
                sqlite3_finalize(q);
        }
        reply_json(r, 200, json_pack("{s:o}", "operators", a));
}

/* ---- the link: background sync ----------------------------------------------- */

static void sync_schedule(struct station *st, uint64_t delay_ms);

static json_t *status_json(struct station *st)
{
        char *remote = NULL, *last = NULL, d[11];

        store_meta_get(st->h.st, "remote.url", &remote);
        store_meta_get(st->h.st, "sync.last_ok", &last);
        long long waiting = home_events_waiting(&st->h);
        uint64_t now = uv_now(st->loop);
        cal_date_format(today(), d);
        json_t *j = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:I,s:b,s:I,s:i,s:O?}", "node", st->h.node, "role", st->h.role,
                              "today", d, "remote", remote, "last_ok", last, "waiting",
                              (json_int_t)waiting, "syncing", st->syncing, "next_try",
                              (json_int_t)(remote && st->next_sync > now ? (st->next_sync - now) / 1000 : 0), "failures",
                              (int)st->failures, "last_error", st->last_error);
        /* supervision alarms (an equivocation held as evidence) */
        json_object_set_new(j, "alarms", home_alarms(&st->h));
        free(remote);
        free(last);
        return j;
}

static void home_refresh(struct station *st)
{
        int r = home_reload(&st->h);

        if (r < 0)
                logf_("cannot reload the home after a catalogue change; keeping the previous one");
        else if (r > 0)
                logf_("catalogue version %.12s is now current", st->h.catalog_version);
}

static void sync_done(struct child *ch)
{
        struct station *st = ch->st;
        json_t *errs = child_errors(ch);

        st->syncing = false;
        json_decref(st->last_error);
        st->last_error = NULL;
        if (ch->status == 0) {
                st->failures = 0;
                home_refresh(st);
                sync_schedule(st, st->sync_every_s * 1000ull);
        } else {
                json_t *m = json_array_get(json_object_get(errs, "messages"), 0);
                json_t *text = json_object_get(errs, "text");
                const char *why = json_string_value(json_array_get(text, json_array_size(text) - 1));
                if (why && !strncmp(why, "daiban: ", 8))
                        why += 8;
                if (m) {
                        st->last_error = json_incref(m);
                } else if (why) {
                        /* sync's own report line (English): the cause, kept whole,
                         * after what it means in Chinese where it is known */
                        const char *lead = strstr(why, "connect") || strstr(why, "resolve") || strstr(why, "timed out")
                                                   ? "无法连接上级节点（网络未通或对方未开机）"
                                                   : "同步未完成";
                        json_t *lines = json_object_get(errs, "text");
                        for (size_t l = 0; l < json_array_size(lines); l++) {
                                const char *t = json_string_value(json_array_get(lines, l)), *zh = refusal_zh(t);
                                if (zh) {
                                        lead = zh;
                                        why = t + (strncmp(t, "daiban: ", 8) ? 0 : 8);
                                        break;
                                }
                        }
                        /* the Chinese screen says what it means; the cause
                         * itself (English, a URL) goes along as detail */
                        st->last_error = json_pack("{s:s,s:s,s:s}", "en", why, "zh", lead, "detail", why);
                } else {
                        st->last_error = json_pack("{s:s,s:s}", "en", "the sync failed", "zh", "同步失败");
                }
                st->failures++;
                /* 15 s, doubling to 30 min, each scaled by 0.5-1.5 (jitter) */
                double base = SYNC_FIRST_S;
                for (unsigned i = 1; i < st->failures && base < SYNC_MAX_S; i++)
                        base *= 2;
                if (base > SYNC_MAX_S)
                        base = SYNC_MAX_S;
                double jitter = 0.5 + (double)randombytes_uniform(1000001) / 1000000.0;
                logf_("sync failed (%u in a row): %s; next try in %.0f s", st->failures,
                      json_string_value(json_object_get(st->last_error, "en")), base * jitter);
                sync_schedule(st, (uint64_t)(base * jitter * 1000));
        }
        json_decref(errs);
}

static void sync_start(struct station *st)
{
        static const char *const args[] = { "sync", "--json", NULL };
        char *remote = NULL;

        if (st->syncing)
                return;
        store_meta_get(st->h.st, "remote.url", &remote);
        if (!remote) {
                home_refresh(st);
                sync_schedule(st, st->sync_every_s * 1000ull);
                return;
        }
        free(remote);
        if (child_run(st, NULL, args, sync_done) == 0)
                st->syncing = true;
        else
                sync_schedule(st, SYNC_FIRST_S * 1000ull);
}

static void sync_tick(uv_timer_t *t)
{
        sync_start(t->data);
}

static void sync_schedule(struct station *st, uint64_t delay_ms)
{
        st->next_sync = uv_now(st->loop) + delay_ms;
        uv_timer_start(&st->sync_timer, sync_tick, delay_ms, 0);
}

static void refresh_tick(uv_timer_t *t)
{
        home_refresh(t->data);
}

/* ---- catalogue routes ------------------------------------------------------- */

static void matters(struct req *r)
{
        const catalog *cat = r->st->h.cat;
        const struct cat_division *div = r->st->h.div;
        char qb[256], ini[256], full[1024];
        bool bad = false;
        const char *q = qparam(r, "q", qb, sizeof qb, &bad);
        json_t *a = json_array();

        if (bad) {
                json_decref(a);
                bad_request(r, "q is not a valid query value", "查询参数 q 无效");
                return;
        }
        for (size_t i = 0; i < catalog_nmatters(cat) + catalog_nbundles(cat); i++) {
                bool is_b = i >= catalog_nmatters(cat);
                const struct cat_matter *m = is_b ? NULL : catalog_matter(cat, i);
                const struct cat_bundle *b = is_b ? catalog_bundle(cat, i - catalog_nmatters(cat)) : NULL;
                const char *code = is_b ? b->code : m->code, *zh = is_b ? b->name_zh : m->name_zh;
                if (q && *q && !pinyin_match(zh, q) && !strcasestr(code, q))
                        continue;
                pinyin_romanise(zh, strlen(zh), ini, sizeof ini, full, sizeof full);
                int limit = 0;
                if (is_b)
                        for (size_t k = 0; k < b->nmatters; k++)
                                limit = b->matters[k]->time_limit_days > limit ? b->matters[k]->time_limit_days : limit;
                json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:s,s:s}", "code", code, "kind", is_b ? "bundle" : "matter",
                                      "name_zh", zh, "name_en", is_b ? b->name_en : m->name_en, "time_limit",
                                      is_b ? limit : m->time_limit_days, "accept",
                                      is_b ? catalog_bundle_may_accept(b, div) : catalog_may_accept(m, div), "initials",
                                      ini, "pinyin", full);
                if (!is_b)
                        json_object_set_new(j, "department", json_string(m->department));
                else {
                        json_t *ms = json_array();
                        for (size_t k = 0; k < b->nmatters; k++)
                                json_array_append_new(ms, json_string(b->matters[k]->code));
                        json_object_set_new(j, "matters", ms);
                }
                json_array_append_new(a, j);
        }
        reply_json(r, 200, json_pack("{s:s,s:o}", "version", r->st->h.catalog_version, "matters", a));
}

static void form(struct req *r, const char *code)
{
        const struct cat_form *f = catalog_find_form(r->st->h.cat, code);

        if (!f) {
                not_found(r);
                return;
        }
        /* with the last day each deficient material may come, counted
         * in working days by the county's calendar */
        json_t *j = catalog_form_json(f, catalog_calendar(r->st->h.cat), today());
        /* the version it comes from: an open form learns of a newer one
         * from the validation answers */
        json_object_set_new(j, "catalog", json_string(r->st->h.catalog_version));
        reply_json(r, 200, j);
}

static void validate(struct req *r, const char *code)
{
        const struct cat_form *f = catalog_find_form(r->st->h.cat, code);
        json_t *j, *data, *hidden, *probs, *mats;
        struct form_problems p;
        int32_t t = today();

        if (!f) {
                not_found(r);
                return;
        }
        j = body_json(r);
        data = json_object_get(j, "data");
        if (!json_is_object(data)) {
                json_decref(j);
                bad_request(r, "give {\"data\": {...}}", "请求应为 {\"data\": {...}}");
                return;
        }
        form_problems_init(&p);
        hidden = json_array();
        if (form_validate_hidden(f, data, t, &p, hidden) < 0) {
                form_problems_finish(&p);
                json_decref(hidden);
                json_decref(j);
                reply_error(r, 500, "internal", "out of memory", "内存不足");
                return;
        }
        probs = json_array();
        for (size_t i = 0; i < p.n; i++)
                json_array_append_new(probs, json_pack("{s:s,s:s,s:s,s:s}", "path", p.v[i].path, "code", p.v[i].code, "zh",
                                                       p.v[i].msg_zh, "en", p.v[i].msg_en));
        form_problems_finish(&p);
        bool asked[256];
        mats = json_array();
        if (f->nmaterials <= 256) {
                form_materials_asked(f, data, t, asked);
                for (size_t i = 0; i < f->nmaterials; i++)
                        json_array_append_new(mats, json_pack("{s:s,s:b}", "code", f->materials[i].material->code, "asked",
                                                              asked[i]));
        }
        json_decref(j);
        reply_json(r, 200, json_pack("{s:o,s:o,s:o,s:s}", "problems", probs, "hidden", hidden, "materials", mats, "catalog",
                                     r->st->h.catalog_version));
}

static void reasons(struct req *r)
{
        static const char *const zh[] = { "材料不齐全，请补齐后重新提交", "材料不清晰，请重新扫描",
                                          "身份证件已过期", "收入证明需村委会盖章", "申请表信息与证件不一致",
                                          "不符合受理条件", NULL };
        static const char *const en[] = { "materials incomplete: complete them and resubmit", "a scan is unreadable: scan it again",
                                          "the identity document has expired", "the income proof needs the village committee's stamp",
                                          "the form does not match the documents", "the conditions for this matter are not met" };
        json_t *a = json_array();

        for (size_t i = 0; zh[i]; i++)
                json_array_append_new(a, json_pack("{s:s,s:s}", "zh", zh[i], "en", en[i]));
        reply_json(r, 200, json_pack("{s:o}", "reasons", a));
}

/* ---- drafts ----------------------------------------------------------------- */

static void drafts_list(struct req *r)
{
        sqlite3_stmt *q;
        json_t *a = json_array();

        if (sqlite3_prepare_v2(r->st->db, "SELECT id, matter, body, updated FROM drafts WHERE operator = ?"
                               " ORDER BY updated DESC LIMIT 200", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                while (sqlite3_step(q) == SQLITE_ROW) {
                        json_t *b = json_loads((const char *)sqlite3_column_text(q, 2), 0, NULL);
                        const char *code = (const char *)sqlite3_column_text(q, 1);
                        const struct cat_form *f = catalog_find_form(r->st->h.cat, code);
                        const char *applicant = NULL, *aid;
                        /* named as the receipt will name them */
                        if (f)
                                form_applicant_of(f, json_object_get(b, "data"), &applicant, &aid);
                        json_array_append_new(a, json_pack("{s:s,s:s,s:s?,s:s?,s:I}", "id", sqlite3_column_text(q, 0),
                                                           "matter", code, "matter_name", f ? f->name_zh : NULL,
                                                           "applicant", applicant, "updated",
                                                           (json_int_t)sqlite3_column_int64(q, 3)));
                        json_decref(b);
                }
                sqlite3_finalize(q);
        }
        reply_json(r, 200, json_pack("{s:o}", "drafts", a));
}

/* The signed-in operator's draft id as {id, matter, data, materials,
 * updated}, or NULL. */
static json_t *draft_load(struct req *r, const char *id)
{
        sqlite3_stmt *q;
        json_t *j = NULL;

        if (sqlite3_prepare_v2(r->st->db, "SELECT matter, body, updated FROM drafts WHERE operator = ? AND id = ?", -1, &q,
                               NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                if (sqlite3_step(q) == SQLITE_ROW) {
                        json_t *b = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
                        j = json_pack("{s:s,s:s,s:O?,s:O?,s:I}", "id", id, "matter", sqlite3_column_text(q, 0), "data",
                                      json_object_get(b, "data"), "materials", json_object_get(b, "materials"), "updated",
                                      (json_int_t)sqlite3_column_int64(q, 2));
                        json_decref(b);
                }
                sqlite3_finalize(q);
        }
        return j;
}

static void draft_get(struct req *r, const char *id)
{
        json_t *j = draft_load(r, id);

        if (!j)
                not_found(r);
        else
                reply_json(r, 200, j);
}

static void draft_put(struct req *r, const char *id)
{
        json_t *j = body_json(r);
        const char *matter = json_string_value(json_object_get(j, "matter"));
        json_t *data = json_object_get(j, "data"), *mats = json_object_get(j, "materials");
        sqlite3_stmt *q;
        long long now = (long long)time(NULL) * 1000;

        if (!matter || !json_is_object(data) || (mats && !json_is_array(mats) && !json_is_object(mats))) {
                json_decref(j);
                bad_request(r, "a draft is {\"matter\", \"data\": {...}, \"materials\": [...]}",
                            "草稿应为 {\"matter\", \"data\": {...}, \"materials\": [...]}");
                return;
        }
        if (!catalog_find_form(r->st->h.cat, matter)) {
                json_decref(j);
                bad_request(r, "no such matter or bundle in the catalogue", "目录清单中没有该事项");
                return;
        }
        json_t *b = json_pack("{s:O,s:O?}", "data", data, "materials", mats);
        char *text = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        int rc = SQLITE_ERROR;
        if (text && sqlite3_prepare_v2(r->st->db, "INSERT OR REPLACE INTO drafts(operator, id, matter, body, updated)"
                                       " VALUES (?, ?, ?, ?, ?)", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, matter, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(q, 4, text, -1, SQLITE_STATIC);
                sqlite3_bind_int64(q, 5, now);
                rc = sqlite3_step(q);
                sqlite3_finalize(q);
        }
        free(text);
        json_decref(j);
        if (rc != SQLITE_DONE) {
                reply_error(r, 500, "internal", "the draft could not be saved (is the disk full?)",
                            "草稿未能保存（磁盘是否已满？）");
                return;
        }
        reply_json(r, 200, json_pack("{s:s,s:I}", "id", id, "updated", (json_int_t)now));
}

static void draft_delete_id(struct station *st, const char *op, const char *id)
{
        sqlite3_stmt *q;

        if (sqlite3_prepare_v2(st->db, "DELETE FROM drafts WHERE operator = ? AND id = ?", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                sqlite3_step(q);
                sqlite3_finalize(q);
        }
}

/* ---- applications: reads ------------------------------------------------------ */

/* An application as `app show --json` gives it, plus the rating's comment
 * (the page shows it with the rating). */
static json_t *detail_json(struct home *h, int32_t d, const struct app_row *row)
{
        json_t *j = app_detail_json(h, d, row);

        if (j && row->rating_comment[0])
                json_object_set_new(j, "comment", json_string(row->rating_comment));
        return j;
}

/* The applications id names (one, or a bundle's members); false when
 * there are none (answered 404) or the store failed (answered 500). */
static bool load_rows(struct req *r, const char *id, struct app_row **t, size_t *n)
{
        int rc = app_rows_load(r->st->h.st, id, t, n);

        if (rc == -ENOENT)
                not_found(r);
        else if (rc < 0)
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
        return rc == 0;
}

static void app_get(struct req *r, const char *id)
{
        struct app_row *t = NULL;
        size_t n = 0;
        int32_t d = today();

        if (!load_rows(r, id, &t, &n))
                return;
        bool one = n == 1 && (!strcmp(t[0].id, id) || !strcmp(t[0].receipt, id));
        json_t *j;
        if (one) {
                j = detail_json(&r->st->h, d, &t[0]);
        } else {
                json_t *all = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(all, detail_json(&r->st->h, d, &t[i]));
                j = json_pack("{s:s,s:s,s:o}", "bundle", t[0].bundle, "bundle_code", t[0].bundle_code, "applications", all);
                if (t[0].bundle_receipt[0])
                        json_object_set_new(j, "bundle_receipt", json_string(t[0].bundle_receipt));
        }
        app_rows_free(t, n);
        reply_json(r, 200, j);
}

/* Send a printed sheet (buf, len, from open_memstream; freed here), on
 * A5 when the request asks ?paper=a5. */
static void reply_sheet(struct req *r, char *buf, size_t len)
{
        char pb[8];
        bool bad = false;
        const char *paper = qparam(r, "paper", pb, sizeof pb, &bad);

        if (paper && !strcmp(paper, "a5")) {
                /* the same sheet on A5: a smaller page and type */
                static const char a5[] = "<style>@page { size: A5; margin: 10mm 9mm; } body { font-size: 10.5pt; }</style>\n";
                char *head = strstr(buf ? buf : "", "</head>");
                if (head) {
                        size_t at = (size_t)(head - buf);
                        char *nb = malloc(len + sizeof a5);
                        if (nb) {
                                memcpy(nb, buf, at);
                                memcpy(nb + at, a5, sizeof a5 - 1);
                                memcpy(nb + at + sizeof a5 - 1, buf + at, len - at);
                                free(buf);
                                buf = nb;
                                len += sizeof a5 - 1;
                        }
                }
        }
        /* the sheet's print button is an inline handler: allowed by its
         * hash, no other script */
        respond(r, 200, "text/html; charset=utf-8",
                "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
                " script-src 'unsafe-hashes' 'sha256-" PRINT_HANDLER_SHA256 "'; frame-ancestors 'self'; base-uri 'none'\r\n",
                buf, len);
        free(buf);
}

static void paperwork(struct req *r, const char *id, bool receipt)
{
        struct app_row *t = NULL;
        size_t n = 0;
        char *buf = NULL;
        size_t len = 0;

        if (!load_rows(r, id, &t, &n))
                return;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
                app_rows_free(t, n);
                reply_error(r, 500, "internal", "out of memory", "内存不足");
                return;
        }
        if (receipt)
                paper_receipt(f, &r->st->h, t, n, true);
        else
                paper_notice(f, &r->st->h, t, n, today(), true);
        fclose(f);
        app_rows_free(t, n);
        reply_sheet(r, buf, len);
}

/* GET /api/drafts/ID/notice: the one-time notice before acceptance, of
 * the form as last saved, for the villager to take home. */
static void draft_notice(struct req *r, const char *id)
{
        json_t *d = draft_load(r, id);
        char *buf = NULL;
        size_t len = 0;
        const struct cat_form *form = d && json_is_object(json_object_get(d, "data"))
                                              ? catalog_find_form(r->st->h.cat, json_string_value(json_object_get(d, "matter")))
                                              : NULL;
        FILE *f = form ? open_memstream(&buf, &len) : NULL;

        if (!form || !f) {
                json_decref(d);
                if (!form)
                        not_found(r);
                else
                        reply_error(r, 500, "internal", "out of memory", "内存不足");
                return;
        }
        paper_notice_draft(f, &r->st->h, form, json_object_get(d, "data"), json_object_get(d, "materials"), today(),
                           r->op, true);
        fclose(f);
        json_decref(d);
        reply_sheet(r, buf, len);
}

/* GET /api/apps: filters, a page, a cursor. */
static void apps_list(struct req *r)
{
        struct station *st = r->st;
        char sb[32], ob[8], wb[16], vb[64], mb[64], qb[128], tb[8], lb[16], ab[160];
        bool bad = false;
        const char *status = qparam(r, "status", sb, sizeof sb, &bad);
        const char *overdue = qparam(r, "overdue", ob, sizeof ob, &bad);
        const char *within = qparam(r, "due_within", wb, sizeof wb, &bad);
        const char *village = qparam(r, "village", vb, sizeof vb, &bad);
        const char *matter = qparam(r, "matter", mb, sizeof mb, &bad);
        const char *q = qparam(r, "q", qb, sizeof qb, &bad);
        const char *todo = qparam(r, "todo", tb, sizeof tb, &bad);
        const char *limit_s = qparam(r, "limit", lb, sizeof lb, &bad);
        const char *after = qparam(r, "after", ab, sizeof ab, &bad);
        long limit = 50, days = -1;
        long long akey = 0;
        char aid[96] = "";
        int32_t d = today();

        if (!bad && status && *status && !app_status_known(status))
                bad = true;
        if (!bad && limit_s && (sscanf(limit_s, "%ld", &limit) != 1 || limit < 1 || limit > 200))
                bad = true;
        if (!bad && within && *within && (sscanf(within, "%ld", &days) != 1 || days < 0 || days > 3650))
                bad = true;
        if (!bad && after && *after && sscanf(after, "%lld:%95s", &akey, aid) != 2)
                bad = true;
        if (bad) {
                bad_request(r, "a filter is not valid: status, overdue=1, due_within=DAYS, village, matter, q, todo=1,"
                               " limit (1-200), after (the previous page's next)",
                            "筛选条件无效：status、overdue=1、due_within=天数、village、matter、q、todo=1、limit（1-200）、after");
                return;
        }
        bool by_due = (overdue && *overdue == '1') || days >= 0;
        char where[1024] = "1";
        size_t wl = 1;
#define W(...) (wl += (size_t)snprintf(where + wl, sizeof where - wl, __VA_ARGS__))
        if (status && *status)
                W(" AND status = ?1");
        if (overdue && *overdue == '1')
                W(" AND status IN ('accepted','returned','passed') AND (due < ?2 OR coalesce(promise_due < ?2, 0))");
        if (days >= 0)
                W(" AND status IN ('accepted','returned','passed') AND due >= ?2 AND due <= ?2 + ?3");
        if (village && *village)
                W(" AND origin = ?4");
        if (matter && *matter)
                W(" AND (matter = ?5 OR bundle_code = ?5)");
        if (q && *q)
                W(" AND (applicant LIKE '%%' || ?6 || '%%' OR id = ?6 OR receipt LIKE ?6 || '%%' OR applicant_id = ?6)");
        if (todo && *todo == '1') {
                if (!strcmp(st->h.role, "village"))
                        W(" AND origin = ?7 AND status IN ('draft','returned','approved','rejected')");
                else
                        W(" AND holder = ?7 AND status IN ('accepted','passed')");
        }
        char count_sql[1400], sql[2048];
        /* by due date the open applications' partial index holds every
         * column the filters test: SQLite would not pick it unaided */
        const char *from = by_due ? "apps INDEXED BY apps_open_due" : "apps";
        snprintf(count_sql, sizeof count_sql, "SELECT count(*) FROM %s WHERE %s", from, where);
        if (after && *after)
                W(by_due ? " AND (due, id) > (?8, ?9)" : " AND (updated_hlc, id) < (?8, ?9)");
#undef W
        snprintf(sql, sizeof sql, "SELECT " APP_COLS_NO_DATA ", %s, coalesce(promise_due < ?2, 0) AND status IN"
                 " ('accepted','returned','passed') FROM %s WHERE %s ORDER BY %s LIMIT ?10",
                 by_due ? "due" : "updated_hlc", from, where, by_due ? "due, id" : "updated_hlc DESC, id DESC");
        sqlite3_stmt *s[2] = { NULL, NULL };
        const char *sqls[2] = { sql, count_sql };
        json_t *arr = json_array();
        long long total = 0, n = 0;
        char cursor[160] = "";
        for (int k = 0; k < 2; k++) {
                if (sqlite3_prepare_v2(store_db(st->h.st), sqls[k], -1, &s[k], NULL) != SQLITE_OK) {
                        logf_("list query: %s", store_errmsg(st->h.st));
                        json_decref(arr);
                        sqlite3_finalize(s[0]);
                        reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
                        return;
                }
                sqlite3_stmt *x = s[k];
                int np = sqlite3_bind_parameter_count(x);
                for (int i = 1; i <= np; i++) {
                        const char *name = sqlite3_bind_parameter_name(x, i);
                        int idx = name ? atoi(name + 1) : i;
                        switch (idx) {
                        case 1: sqlite3_bind_text(x, i, status, -1, SQLITE_STATIC); break;
                        case 2: sqlite3_bind_int64(x, i, d); break;
                        case 3: sqlite3_bind_int64(x, i, days); break;
                        case 4: sqlite3_bind_text(x, i, village, -1, SQLITE_STATIC); break;
                        case 5: sqlite3_bind_text(x, i, matter, -1, SQLITE_STATIC); break;
                        case 6: sqlite3_bind_text(x, i, q, -1, SQLITE_STATIC); break;
                        case 7: sqlite3_bind_text(x, i, st->h.node, -1, SQLITE_STATIC); break;
                        case 8: sqlite3_bind_int64(x, i, akey); break;
                        case 9: sqlite3_bind_text(x, i, aid, -1, SQLITE_STATIC); break;
                        case 10: sqlite3_bind_int64(x, i, limit); break;
                        }
                }
        }
        while (sqlite3_step(s[0]) == SQLITE_ROW) {
                struct app_row row;
                app_row_from(s[0], &row);
                json_t *j = app_summary_json(&st->h, d, &row);
                json_object_set_new(j, "promise_overdue", json_boolean(sqlite3_column_int(s[0], 26)));
                json_object_del(j, "data");     /* a list shows no form data */
                json_array_append_new(arr, j);
                snprintf(cursor, sizeof cursor, "%lld:%s", (long long)sqlite3_column_int64(s[0], 25), row.id);
                app_row_free(&row);
                n++;
        }
        if (sqlite3_step(s[1]) == SQLITE_ROW)
                total = sqlite3_column_int64(s[1], 0);
        sqlite3_finalize(s[0]);
        sqlite3_finalize(s[1]);
        reply_json(r, 200, json_pack("{s:o,s:s?,s:I}", "applications", arr, "next", n == limit ? cursor : NULL, "total",
                                     (json_int_t)total));
}

static void conflicts(struct req *r)
{
        sqlite3_stmt *q;
        json_t *a = json_array();

        if (sqlite3_prepare_v2(store_db(r->st->h.st),
                               "SELECT c.app, a.matter_name, a.applicant, c.node, c.seq, c.type, c.reason FROM conflicts c"
                               " LEFT JOIN apps a ON a.id = c.app ORDER BY c.app, c.node, c.seq LIMIT 500", -1, &q,
                               NULL) == SQLITE_OK) {
                while (sqlite3_step(q) == SQLITE_ROW) {
                        const char *type = (const char *)sqlite3_column_text(q, 5);
                        const char *azh = "该操作与其他站点的操作冲突，未被采纳。请打开办件核对当前状态，必要时按当前状态重新操作，并与对方站点电话确认。";
                        const char *aen = "This action crossed another node's and was not applied. Open the application, check its "
                                          "current state, redo the action if it still applies, and call the other node to agree.";
                        if (type && !strcmp(type, "app.created")) {
                                azh = "同一办件被重复创建，后一条未被采纳。请核对是否为重复录入。";
                                aen = "The application was created twice; the later one was not applied. Check for a duplicate.";
                        }
                        const char *why = (const char *)sqlite3_column_text(q, 6);
                        json_array_append_new(a, json_pack("{s:s,s:s?,s:s?,s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "app",
                                                           sqlite3_column_text(q, 0), "matter_name", sqlite3_column_text(q, 1),
                                                           "applicant", sqlite3_column_text(q, 2), "node",
                                                           sqlite3_column_text(q, 3), "seq",
                                                           (json_int_t)sqlite3_column_int64(q, 4), "type", type, "reason",
                                                           why, "reason_zh", app_rule_zh(why), "advice_zh", azh,
                                                           "advice_en", aen));
                }
                sqlite3_finalize(q);
        }
        reply_json(r, 200, json_pack("{s:o}", "conflicts", a));
}

static void scan_get(struct req *r, const char *hex)
{
        char path[4096];

        /* only blobs an application of this home names are served */
        sqlite3_stmt *q;
        bool named = false;
        if (sqlite3_prepare_v2(store_db(r->st->h.st), "SELECT 1 FROM app_materials WHERE blob = ? LIMIT 1", -1, &q, NULL) ==
            SQLITE_OK) {
                sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
                named = sqlite3_step(q) == SQLITE_ROW;
                sqlite3_finalize(q);
        }
        if (!named) {
                not_found(r);
                return;
        }
        snprintf(path, sizeof path, "%s/repo", r->st->home_dir);
        void *data = NULL;
        size_t len = 0;
        if (home_read_blob(path, hex, &data, &len) < 0) {
                not_found(r);
                return;
        }
        respond(r, 200, "application/octet-stream", "Content-Disposition: attachment\r\n", data, len);
        free(data);
}

/* ---- applications: writes ------------------------------------------------------ */

/* A write on the writer thread (agent/writer.h): what the route asked,
 * as the core takes it, and the core's answer. */
enum wkind { W_NEW, W_EDIT, W_MATERIAL, W_SUBMIT, W_STEP };

struct wjob {
        struct req *r;
        enum wkind kind;
        char op[64];
        int32_t today;
        json_t *body;                   /* the request's JSON (owned): the inputs point into it */
        struct core_new in_new;
        const json_t *data;             /* edit */
        struct core_material mat;
        struct core_step step;
        struct core_result res;
        void (*after)(struct req *, struct core_result *);
};

static void wjob_work(struct home *h, void *arg)
{
        struct wjob *j = arg;
        struct core_ctx c;

        if (!h) {
                core_fail_both(&j->res, CORE_FAILED, "catalog",
                               "the home or the catalogue this station was given cannot be opened: nothing was"
                               " saved; run `daiban doctor`, or sync again",
                               "无法打开本站数据或收到的目录清单：未保存任何内容；请运行“本站检查”，或重新同步");
                return;
        }
        if (core_act(&c, h, NULL, j->op, j->today, &j->res))
                return;
        switch (j->kind) {
        case W_NEW:
                core_app_new(&c, &j->in_new, &j->res);
                break;
        case W_EDIT:
                core_app_edit(&c, j->r->key, j->data, &j->res);
                break;
        case W_MATERIAL:
                core_app_material(&c, j->r->key, &j->mat, &j->res);
                break;
        case W_SUBMIT:
                core_app_submit(&c, j->r->key, &j->res);
                break;
        case W_STEP:
                core_app_step(&c, j->r->key, &j->step, &j->res);
                break;
        }
}

/* Answer a write the core refused: 422 with the problems when the data
 * or the materials stopped it, 404, 400, 409 with the rule, 500. */
static void reply_refused(struct req *r, const struct core_result *res)
{
        const char *en = res->en ? res->en : "the write was refused", *zh = res->zh ? res->zh : "操作未被接受";
        char pen[256], pzh[256];

        switch (res->status) {
        case CORE_INVALID:
                if (res->problems.n) {
                        /* the core's text names commands and an id that was
                         * not kept; a screen says what to do */
                        json_t *probs = json_array();
                        for (size_t i = 0; i < res->problems.n; i++) {
                                const struct form_problem *p = &res->problems.v[i];
                                json_array_append_new(probs, json_pack("{s:s,s:s,s:s,s:s}", "path", p->path, "code",
                                                                       p->code, "zh", p->msg_zh, "en", p->msg_en));
                        }
                        snprintf(pen, sizeof pen,
                                 "not accepted yet: %zu problems to resolve with the applicant (nothing was saved)",
                                 res->problems.n);
                        snprintf(pzh, sizeof pzh, "暂不能受理：共 %zu 个问题需与申请人一并补正（未保存任何内容）",
                                 res->problems.n);
                        reply_error_x(r, 422, "invalid", pen, pzh,
                                      json_pack("{s:o,s:s?}", "problems", probs, "catalog", r->st->h.catalog_version));
                        return;
                }
                reply_error(r, 409, "refused", en, zh);
                return;
        case CORE_NOT_FOUND:
                not_found(r);
                return;
        case CORE_USAGE:
                reply_error(r, 400, "bad_request", en, zh);
                return;
        case CORE_REFUSED:
                reply_error(r, 409, "refused", en, zh);
                return;
        default:
                /* the store was busy (a long sync's ingest holds it): try
                 * again; a full or failing disk, and the rest, said so */
                if (res->code && !strcmp(res->code, "busy"))
                        reply_error(r, 503, "busy", en, zh);
                else
                        reply_error(r, res->code && !strcmp(res->code, "disk_full") ? 507 : 500,
                                    res->code ? res->code : "internal", en, zh);
                return;
        }
}

static void wjob_free(struct wjob *j)
{
        core_result_finish(&j->res);
        json_decref(j->body);
        free(j);
}

static void wjob_after(void *arg)
{
        struct wjob *j = arg;
        struct req *r = j->r;

        r->pending--;
        if (!r->c && !r->st->testing)   /* the client went away */
                req_done(r);
        else if (j->res.status != CORE_OK)
                reply_refused(r, &j->res);
        else
                j->after(r, &j->res);
        wjob_free(j);
}

/* A new write of kind for the signed-in operator; NULL (answered) when
 * out of memory. body is stolen. */
static struct wjob *wjob_new(struct req *r, enum wkind kind, json_t *body,
                             void (*after)(struct req *, struct core_result *))
{
        struct wjob *j = calloc(1, sizeof *j);

        if (!j) {
                json_decref(body);
                reply_error(r, 500, "internal", "out of memory", "内存不足");
                return NULL;
        }
        bool bad;
        j->r = r;
        j->kind = kind;
        j->body = body;
        j->after = after;
        j->today = home_today(NULL, &bad);
        if (bad) {
                wjob_free(j);
                reply_error(r, 500, "internal", "DAIBAN_TODAY is not a date (YYYY-MM-DD): nothing was saved",
                            "DAIBAN_TODAY 不是有效日期（YYYY-MM-DD）：未保存任何内容");
                return NULL;
        }
        snprintf(j->op, sizeof j->op, "%s", r->op);
        core_result_init(&j->res);
        return j;
}

/* Hand the write to the writer thread; the answer comes in wjob_after. */
static void wjob_run(struct wjob *j)
{
        struct req *r = j->r;

        int rc;

        r->pending++;           /* an inline writer answers within writer_post */
        rc = r->st->w ? writer_post(r->st->w, j, wjob_work, wjob_after) : -ECANCELED;
        if (rc == 0)
                return;
        r->pending--;
        wjob_free(j);
        if (rc == -ECANCELED)
                reply_error(r, 503, "stopping", "the station is stopping; try again when it is back",
                            "服务站正在停止，请待其恢复后重试");
        else
                reply_error(r, 503, "busy", "too many writes at once; try again in a moment", "同时操作过多，请稍后再试");
}

static void after_app(struct req *r, struct core_result *res)
{
        (void)res;
        app_get(r, r->key);
}

/* A scan recorded: the application, and the scan's blob on top ({"blob"}). */
static void after_scan(struct req *r, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0, i;
        json_t *j = NULL;

        if (app_rows_load(r->st->h.st, r->key, &t, &n) < 0) {
                reply_error(r, 500, "internal", "recorded, but it cannot be read back", "已保存，但无法读取");
                return;
        }
        for (i = 0; i < n && !j; i++)
                if (!strcmp(t[i].id, r->key))
                        j = app_detail_json(&r->st->h, today(), &t[i]);
        app_rows_free(t, n);
        if (!j) {
                reply_error(r, 500, "internal", "recorded, but it cannot be read back", "已保存，但无法读取");
                return;
        }
        json_object_set_new(j, "blob", json_string(res->blob));
        reply_json(r, 200, j);
}

static void after_new(struct req *r, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t nt = 0;

        const char *draft = json_string_value(json_object_get(r->ctx, "draft"));
        if (draft)
                draft_delete_id(r->st, r->op, draft);
        if (app_rows_load(r->st->h.st, res->id, &t, &nt) < 0) {
                reply_error(r, 500, "internal", "accepted, but it cannot be read back", "已受理，但无法读取");
                return;
        }
        json_t *ids = json_array();
        for (size_t i = 0; i < nt; i++)
                json_array_append_new(ids, json_string(t[i].id));
        json_t *j = json_pack("{s:s,s:s,s:o}", "id", res->id, "receipt", nt > 1 && t[0].bundle_receipt[0] ? t[0].bundle_receipt
                                                                                                    : t[0].receipt,
                              "ids", ids);
        app_rows_free(t, nt);
        logf_("operator %s accepted %s", r->op, res->id);
        reply_json(r, 201, j);
}

static void app_create(struct req *r)
{
        json_t *j = body_json(r);
        const char *matter = json_string_value(json_object_get(j, "matter"));
        json_t *data = json_object_get(j, "data"), *mats = json_object_get(j, "materials");
        const char *draft = json_string_value(json_object_get(j, "draft"));

        if (!matter || !json_is_object(data) || (mats && !json_is_array(mats)) ||
            (draft && !ident_ok(draft, strlen(draft)))) {
                json_decref(j);
                bad_request(r, "give {\"matter\", \"data\": {...}, \"materials\": [{\"material\",\"state\",\"promise\"}]}",
                            "请求应为 {\"matter\", \"data\": {...}, \"materials\": [...]}");
                return;
        }
        /* the materials the screen chose a state for: a row left blank
         * is not one */
        json_t *ml = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(mats, i, m) {
                const char *code = json_string_value(json_object_get(m, "material"));
                const char *state = json_string_value(json_object_get(m, "state"));
                const char *promise = json_string_value(json_object_get(m, "promise"));
                if (!code || !state)
                        continue;
                json_array_append_new(ml, json_pack("{s:s,s:s,s:s?}", "material", code, "state", state, "promise",
                                                    promise && *promise && !strcmp(state, "deficient") ? promise : NULL));
        }
        json_object_set_new(j, "materials", ml);
        r->ctx = json_pack("{s:s?}", "draft", draft);
        snprintf(r->key, sizeof r->key, "%s", matter);
        struct wjob *w = wjob_new(r, W_NEW, j, after_new);
        if (!w)
                return;
        /* the draft's id is the request's key: a retry whose first
         * answer was lost gets what the first one accepted */
        w->in_new = (struct core_new){ .code = matter, .data = data, .materials = ml, .request = draft, .submit = true };
        wjob_run(w);
}

static void app_log_route(struct req *r, const char *id)
{
        struct app_row *t = NULL;
        size_t n = 0;
        json_t *events;

        if (!load_rows(r, id, &t, &n))
                return;
        events = app_log_json(r->st->h.st, t, n);
        app_rows_free(t, n);
        if (!events) {
                reply_error(r, 500, "internal", "the audit trail could not be read", "无法读取办理记录");
                return;
        }
        reply_json(r, 200, json_pack("{s:o}", "events", events));
}

/* The writes on one application (or a bundle): submit, edit, material,
 * withdraw, deliver, rate, review, decide. The body's fields as the
 * core takes them: the core checks them, once, for every front. */
static void write_simple(struct req *r, const char *id, const char *what)
{
        size_t len = r->len;
        json_t *j = body_json(r);
        const char *reason = json_string_value(json_object_get(j, "reason"));
        const char *result = json_string_value(json_object_get(j, "result"));
        const char *mcode = json_string_value(json_object_get(j, "material"));
        static const struct {
                const char *name;
                enum wkind kind;
                enum core_step_kind step;
        } routes[] = {
                { "submit", W_SUBMIT, 0 }, { "edit", W_EDIT, 0 }, { "material", W_MATERIAL, 0 },
                { "withdraw", W_STEP, CORE_WITHDRAW }, { "deliver", W_STEP, CORE_DELIVER }, { "rate", W_STEP, CORE_RATE },
                { "review", W_STEP, CORE_REVIEW }, { "decide", W_STEP, CORE_DECIDE },
        };
        size_t k = 0;

        while (k < sizeof routes / sizeof routes[0] && strcmp(routes[k].name, what))
                k++;
        if (k == sizeof routes / sizeof routes[0] || (len && !j) || (j && !json_is_object(j))) {
                json_decref(j);
                bad_request(r, "the request body is not a JSON object (see docs/http-api.md)", "请求内容应为 JSON 对象");
                return;
        }
        snprintf(r->key, sizeof r->key, "%s", id);
        struct wjob *w = wjob_new(r, routes[k].kind, j, after_app);
        if (!w)
                return;
        switch (routes[k].kind) {
        case W_EDIT:
                w->data = json_object_get(j, "data");
                if (!json_is_object(w->data)) {
                        wjob_free(w);
                        bad_request(r, "give {\"data\": {...}}", "请求应为 {\"data\": {...}}");
                        return;
                }
                break;
        case W_MATERIAL:
                if (!mcode || !ident_ok(mcode, strlen(mcode))) {
                        wjob_free(w);
                        bad_request(r, "give {\"material\": CODE, \"state\": provided|missing|deficient}",
                                    "请求应为 {\"material\": 材料代码, \"state\": provided|missing|deficient}");
                        return;
                }
                w->mat = (struct core_material){ .material = mcode,
                                                 .state = json_string_value(json_object_get(j, "state")),
                                                 .promise = json_string_value(json_object_get(j, "promise")) };
                break;
        case W_STEP: {
                json_t *lv = json_object_get(j, "level");
                w->step = (struct core_step){ .kind = routes[k].step, .result = result, .reason = reason,
                                              .level = json_is_integer(lv) ? (long)json_integer_value(lv) : 0,
                                              .comment = json_string_value(json_object_get(j, "comment")) };
                break;
        }
        default:
                break;
        }
        wjob_run(w);
}

static void scan_put(struct req *r, const char *id, const char *mat)
{
        if (!r->len) {
                bad_request(r, "the scan is empty", "扫描件为空");
                return;
        }
        snprintf(r->key, sizeof r->key, "%s", id);
        struct wjob *w = wjob_new(r, W_MATERIAL, json_pack("{s:s}", "material", mat), after_scan);
        if (!w)
                return;
        /* the scan is the request's body: r lives until the write is
         * answered */
        w->mat = (struct core_material){ .material = json_string_value(json_object_get(w->body, "material")),
                                         .state = "provided", .scan = r->body, .scan_len = r->len };
        wjob_run(w);
}

static void sync_now(struct req *r)
{
        sync_start(r->st);
        reply_json(r, 202, status_json(r->st));
}

/* ---- county: statistics, stations, catalogue ---------------------------------- */

static const struct cat_division *township_of(const catalog *cat, const char *code)
{
        const struct cat_division *d = catalog_find_division(cat, code);

        while (d && d->level > LEVEL_TOWNSHIP)
                d = d->parent;
        return d && d->level == LEVEL_TOWNSHIP ? d : NULL;
}

struct stat_row {
        char key[64], name[256];
        long long accepted, done, on_time, late, open, overdue, rated, ratings[6], rating_sum;
};

static void stats(struct req *r)
{
        struct station *st = r->st;
        char fb[16], tb[16], bb[16], ffb[8];
        bool bad = false;
        const char *from = qparam(r, "from", fb, sizeof fb, &bad), *to = qparam(r, "to", tb, sizeof tb, &bad);
        const char *by = qparam(r, "by", bb, sizeof bb, &bad), *fmt = qparam(r, "format", ffb, sizeof ffb, &bad);
        int32_t d0, d1, d = today();
        int y, mo, dd;

        cal_date_to_ymd(d, &y, &mo, &dd);
        cal_date_from_ymd(y, 1, 1, &d0);
        d1 = d;
        if (!bad && from && *from && cal_date_parse(from, &d0) < 0)
                bad = true;
        if (!bad && to && *to && cal_date_parse(to, &d1) < 0)
                bad = true;
        if (!by || !*by)
                by = "township";
        if (bad || (strcmp(by, "township") && strcmp(by, "village") && strcmp(by, "matter")) || d1 < d0) {
                bad_request(r, "stats takes from, to (YYYY-MM-DD, from <= to), by=township|village|matter, format=csv",
                            "统计参数：from、to（YYYY-MM-DD，起不晚于止）、by=township|village|matter、format=csv");
                return;
        }
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(store_db(st->h.st),
                               "SELECT a.origin, a.matter, a.matter_name, a.status, a.due, a.rating,"
                               " (SELECT json_extract(e.body, '$.decided_on') FROM events e WHERE e.app = a.id"
                               "  AND e.type = 'app.decided' ORDER BY e.hlc DESC LIMIT 1),"
                               " (SELECT e.wall FROM events e WHERE e.app = a.id AND e.type = 'app.decided'"
                               "  ORDER BY e.hlc DESC LIMIT 1)"
                               " FROM apps a WHERE a.accepted_on BETWEEN ? AND ?", -1, &q, NULL) != SQLITE_OK) {
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
                return;
        }
        sqlite3_bind_int64(q, 1, d0);
        sqlite3_bind_int64(q, 2, d1);
        struct stat_row *rows = NULL, tot;
        size_t nrows = 0;
        memset(&tot, 0, sizeof tot);
        snprintf(tot.key, sizeof tot.key, "total");
        snprintf(tot.name, sizeof tot.name, "合计");
        while (sqlite3_step(q) == SQLITE_ROW) {
                const char *origin = (const char *)sqlite3_column_text(q, 0);
                const char *mcode = (const char *)sqlite3_column_text(q, 1);
                const char *mname = (const char *)sqlite3_column_text(q, 2);
                const char *status = (const char *)sqlite3_column_text(q, 3);
                long long due = sqlite3_column_type(q, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 4);
                long long rating = sqlite3_column_type(q, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 5);
                long long decided = sqlite3_column_type(q, 6) != SQLITE_NULL ? sqlite3_column_int64(q, 6)
                                    : sqlite3_column_type(q, 7) != SQLITE_NULL ? (sqlite3_column_int64(q, 7) / 1000 + 8 * 3600) / 86400
                                                                                : -1;
                char key[64], name[256];
                if (!strcmp(by, "matter")) {
                        snprintf(key, sizeof key, "%s", mcode);
                        snprintf(name, sizeof name, "%s", mname);
                } else {
                        const struct cat_division *dv = !strcmp(by, "village") ? catalog_find_division(st->h.cat, origin)
                                                                                : township_of(st->h.cat, origin);
                        snprintf(key, sizeof key, "%s", dv ? dv->code : origin);
                        snprintf(name, sizeof name, "%s", dv ? dv->name : origin);
                }
                struct stat_row *g = NULL;
                for (size_t i = 0; i < nrows && !g; i++)
                        if (!strcmp(rows[i].key, key))
                                g = &rows[i];
                if (!g) {
                        struct stat_row *nr = realloc(rows, (nrows + 1) * sizeof *rows);
                        if (!nr)
                                break;
                        rows = nr;
                        g = &rows[nrows++];
                        memset(g, 0, sizeof *g);
                        snprintf(g->key, sizeof g->key, "%s", key);
                        snprintf(g->name, sizeof g->name, "%s", name);
                }
                bool open = app_status_open(status);
                bool isdone = !strcmp(status, "approved") || !strcmp(status, "rejected") || !strcmp(status, "delivered") ||
                              !strcmp(status, "rated");
                for (struct stat_row *x = g; x; x = x == g ? &tot : NULL) {
                        x->accepted++;
                        if (isdone) {
                                x->done++;
                                if (decided >= 0 && due >= 0 && decided <= due)
                                        x->on_time++;
                                else
                                        x->late++;
                        }
                        if (open) {
                                x->open++;
                                if (due >= 0 && cal_is_overdue((int32_t)due, d))
                                        x->overdue++;
                        }
                        if (rating >= 1 && rating <= 5) {
                                x->rated++;
                                x->ratings[rating]++;
                                x->rating_sum += rating;
                        }
                }
        }
        sqlite3_finalize(q);
        char a[11], b[11];
        cal_date_format(d0, a);
        cal_date_format(d1, b);
        if (fmt && !strcmp(fmt, "csv")) {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                if (!f) {
                        free(rows);
                        reply_error(r, 500, "internal", "out of memory", "内存不足");
                        return;
                }
                fputs("\xEF\xBB\xBF", f);       /* BOM: Excel reads it as UTF-8 */
                fprintf(f, "代码,名称,受理,办结,按时办结,超时办结,按时办结率,在办,超期,评价数,非常不满意,不满意,基本满意,满意,非常满意,满意率\r\n");
                for (size_t i = 0; i <= nrows; i++) {
                        struct stat_row *x = i < nrows ? &rows[i] : &tot;
                        char esc[600];
                        size_t k = 0;
                        /* a cell Excel would take for a formula is kept text */
                        if (strchr("=+-@", x->name[0]) && x->name[0])
                                esc[k++] = '\'';
                        for (const char *p = x->name; *p && k < sizeof esc - 3; p++) {
                                if (*p == '"')
                                        esc[k++] = '"';
                                esc[k++] = *p;
                        }
                        esc[k] = '\0';
                        /* a code as ="…": Excel would show a 12-digit one as 3.30523E+11;
                         * the total row has no code; a rate of nothing is left empty */
                        char code[64] = "", on_time[16] = "", happy[16] = "";
                        if (x != &tot)
                                snprintf(code, sizeof code, "=\"%s\"", x->key);
                        if (x->done)
                                snprintf(on_time, sizeof on_time, "%.1f%%", 100.0 * (double)x->on_time / (double)x->done);
                        if (x->rated)
                                snprintf(happy, sizeof happy, "%.1f%%",
                                         100.0 * (double)(x->ratings[4] + x->ratings[5]) / (double)x->rated);
                        fprintf(f, "%s,\"%s\",%lld,%lld,%lld,%lld,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%s\r\n", code,
                                x == &tot ? "合计" : esc, x->accepted, x->done, x->on_time, x->late, on_time, x->open,
                                x->overdue, x->rated, x->ratings[1], x->ratings[2], x->ratings[3], x->ratings[4],
                                x->ratings[5], happy);
                }
                fclose(f);
                char disp[160];
                snprintf(disp, sizeof disp, "Content-Disposition: attachment; filename=\"daiban-stats-%s-%s-%s.csv\"\r\n", by, a,
                         b);
                respond(r, 200, "text/csv; charset=utf-8", disp, buf, len);
                free(buf);
                free(rows);
                return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i <= nrows; i++) {
                struct stat_row *x = i < nrows ? &rows[i] : &tot;
                json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:[I,I,I,I,I]}", "key", x->key, "name", x->name,
                                      "accepted", (json_int_t)x->accepted, "done", (json_int_t)x->done, "on_time",
                                      (json_int_t)x->on_time, "late", (json_int_t)x->late, "open", (json_int_t)x->open,
                                      "overdue", (json_int_t)x->overdue, "rated", (json_int_t)x->rated, "ratings",
                                      (json_int_t)x->ratings[1], (json_int_t)x->ratings[2], (json_int_t)x->ratings[3],
                                      (json_int_t)x->ratings[4], (json_int_t)x->ratings[5]);
                json_object_set_new(o, "on_time_rate", x->done ? json_real((double)x->on_time / (double)x->done) : json_null());
                json_object_set_new(o, "satisfaction",
                                    x->rated ? json_real((double)(x->ratings[4] + x->ratings[5]) / (double)x->rated) : json_null());
                if (i < nrows)
                        json_array_append_new(arr, o);
                else
                        arr = json_pack("{s:s,s:s,s:s,s:o,s:o}", "from", a, "to", b, "by", by, "rows", arr, "total", o);
        }
        free(rows);
        reply_json(r, 200, arr);
}

static void stations(struct req *r)
{
        struct station *st = r->st;
        const catalog *cat = st->h.cat;
        json_t *a = json_array();
        long long now_ms = (long long)time(NULL) * 1000;
        sqlite3_stmt *q;

        if (sqlite3_prepare_v2(store_db(st->h.st), "SELECT max(wall) FROM events WHERE node = ?", -1, &q, NULL) != SQLITE_OK) {
                json_decref(a);
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
                return;
        }
        /* the catalogue each station last captured under (its newest
         * application's): one pass over the applications */
        json_t *vers = json_object();
        sqlite3_stmt *cv;
        if (sqlite3_prepare_v2(store_db(st->h.st), "SELECT origin, catalog, max(created_hlc) FROM apps"
                               " WHERE catalog IS NOT NULL GROUP BY origin", -1, &cv, NULL) == SQLITE_OK) {
                while (sqlite3_step(cv) == SQLITE_ROW)
                        json_object_set_new(vers, (const char *)sqlite3_column_text(cv, 0),
                                            json_string((const char *)sqlite3_column_text(cv, 1)));
                sqlite3_finalize(cv);
        }
        for (size_t i = 0; i < catalog_ndivisions(cat); i++) {
                const struct cat_division *dv = catalog_division(cat, i);
                if (dv->level == LEVEL_COUNTY)
                        continue;
                sqlite3_reset(q);
                sqlite3_bind_text(q, 1, dv->code, -1, SQLITE_STATIC);
                json_t *last = json_null(), *days = json_null();
                if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
                        long long w = sqlite3_column_int64(q, 0);
                        time_t secs = (time_t)(w / 1000);
                        struct tm tm;
                        char when[32];
                        localtime_r(&secs, &tm);
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
                        json_decref(last);
                        json_decref(days);
                        last = json_string(when);
                        days = json_integer((now_ms - w) / 86400000);
                }
                const struct cat_division *tw = township_of(cat, dv->code);
                const char *ver = json_string_value(json_object_get(vers, dv->code));
                json_t *o = json_pack("{s:s,s:s,s:s,s:s?,s:o,s:o,s:s?}", "node", dv->code, "name", dv->name, "role",
                                      cat_level_name(dv->level), "township", tw && tw != dv ? tw->name : NULL,
                                      "last_event", last, "last_event_days", days, "catalog", ver);
                if (ver)
                        json_object_set_new(o, "catalog_current",
                                            json_boolean(st->h.catalog_version && !strcmp(ver, st->h.catalog_version)));
                json_array_append_new(a, o);
        }
        sqlite3_finalize(q);
        json_decref(vers);
        reply_json(r, 200, json_pack("{s:o}", "stations", a));
}

/* The folder is the request's from its making: removed when it ends,
 * whatever happens on the way. */
static bool own_dir(struct req *r, const char *dir)
{
        free(r->tmpdir);
        r->tmpdir = strdup(dir);
        return r->tmpdir != NULL;
}

/* The sheets of a catalogue upload, written to a new folder under
 * HOME/tmp. Returns the folder (owned by r->ctx) or NULL (answered). */
static const char *catalog_upload(struct req *r)
{
        json_t *j = body_json(r), *files = json_object_get(j, "files"), *v;
        const char *name;
        char dir[4096];

        if (!json_is_object(files) || !json_object_size(files) || json_object_size(files) > 32) {
                json_decref(j);
                bad_request(r, "give {\"files\": {\"matters.csv\": \"...\", ...}} (the catalogue's sheets)",
                            "请上传目录清单的各个表格（{\"files\": {\"matters.csv\": \"…\"}}）");
                return NULL;
        }
        json_object_foreach(files, name, v) {
                size_t n = strlen(name);
                if (!json_is_string(v) || n < 5 || strcmp(name + n - 4, ".csv") || !ident_ok(name, n)) {
                        json_decref(j);
                        bad_request(r, "only .csv sheets with plain names (letters, digits, - and _) can be uploaded",
                                    "只能上传文件名由字母、数字、-、_ 组成的 .csv 表格");
                        return NULL;
                }
        }
        snprintf(dir, sizeof dir, "%s/catalog-XXXXXX", tmp_dir(r->st));
        if (!mkdtemp(dir) || !own_dir(r, dir)) {
                json_decref(j);
                reply_error(r, 500, "internal", "cannot make a temporary folder", "无法创建临时文件夹");
                return NULL;
        }
        json_object_foreach(files, name, v) {
                char path[4400];
                snprintf(path, sizeof path, "%s/%s", dir, name);
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(json_string_value(v), 1, json_string_length(v), f) != json_string_length(v)) {
                        if (f)
                                fclose(f);
                        json_decref(j);
                        reply_error(r, 500, "internal", "cannot write the sheets", "无法写入表格");
                        return NULL;
                }
                fclose(f);
        }
        /* an upload of the sheets that changed: the others are the
         * current version's, so a change of two sheets is not 43 errors */
        json_t *kept = json_array();
        char cur[4400];
        uv_fs_t sreq;
        uv_dirent_t ent;
        snprintf(cur, sizeof cur, "%s/catalogs/%s", r->st->h.dir, r->st->h.catalog_version);
        if (uv_fs_scandir(NULL, &sreq, cur, 0, NULL) >= 0) {
                while (uv_fs_scandir_next(&sreq, &ent) != UV_EOF) {
                        size_t n = strlen(ent.name);
                        char from[4500], to[4500];
                        if (n < 5 || strcmp(ent.name + n - 4, ".csv") || json_object_get(files, ent.name))
                                continue;
                        snprintf(from, sizeof from, "%s/%s", cur, ent.name);
                        snprintf(to, sizeof to, "%s/%s", dir, ent.name);
                        uv_fs_t creq;
                        if (uv_fs_copyfile(NULL, &creq, from, to, UV_FS_COPYFILE_EXCL, NULL) == 0)
                                json_array_append_new(kept, json_string(ent.name));
                        uv_fs_req_cleanup(&creq);
                }
        }
        uv_fs_req_cleanup(&sreq);
        json_decref(j);
        json_decref(r->ctx);
        r->ctx = json_pack("{s:s,s:o}", "dir", dir, "kept", kept);
        return json_string_value(json_object_get(r->ctx, "dir"));
}

/* Remove a folder of flat files (a catalogue upload). */
static void rm_tree(const char *dir)
{
        uv_fs_t req;
        uv_dirent_t ent;

        if (uv_fs_scandir(NULL, &req, dir, 0, NULL) >= 0) {
                while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
                        char p[4400];
                        snprintf(p, sizeof p, "%s/%s", dir, ent.name);
                        unlink(p);
                }
        }
        uv_fs_req_cleanup(&req);
        rmdir(dir);
}

static void after_install(struct req *r, int status, const char *out, json_t *errs);

static void after_check(struct req *r, int status, const char *out, json_t *errs)
{
        const char *dir = json_string_value(json_object_get(r->ctx, "dir"));
        json_t *msgs = json_object_get(errs, "messages"), *m;
        size_t i;
        char *text = NULL;
        size_t tl = 0;
        FILE *f = open_memstream(&text, &tl);

        if (f) {
                /* (out is the check's JSON summary: told by ok, errors and
                 * warnings, not shown raw) the check's diagnostics ("DIR/matters.csv:2:98: error: ..."),
                 * named by the uploaded sheet rather than the temporary folder */
                json_array_foreach(json_object_get(errs, "text"), i, m) {
                        const char *line = json_string_value(m);
                        size_t dl = dir ? strlen(dir) : 0;
                        if (dl && !strncmp(line, dir, dl) && line[dl] == '/')
                                line += dl + 1;
                        else if (dl && !strncmp(line, dir, dl)) {
                                /* the summary names the folder: not the temporary one */
                                fprintf(f, "上传的目录清单%s\n", line + dl);
                                continue;
                        }
                        fprintf(f, "%s\n", line);
                }
                json_array_foreach(msgs, i, m)
                        fprintf(f, "%s\n", json_string_value(json_object_get(m, "zh")));
                fclose(f);
        }
        /* the child was run with --json: its report tells errors and warnings */
        json_t *rep = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
        long long nerr = json_integer_value(json_object_get(rep, "errors")), nwarn = json_integer_value(json_object_get(rep, "warnings"));
        bool ok = status == 0 && rep && json_is_true(json_object_get(rep, "ok"));
        if (!rep)
                nerr = status ? 1 : 0;
        json_decref(rep);
        bool publish = json_is_true(json_object_get(r->ctx, "publish"));
        if (publish && ok) {
                /* clean: install it as this node's current version; the
                 * hall publishes it to every station on its next round */
                const char *args[] = { "catalog", "install", "--", dir, NULL };
                json_object_set_new(r->ctx, "publish", json_false());
                json_object_set_new(r->ctx, "report", json_string(text ? text : ""));
                free(text);
                run_write(r, args, after_install);
                return;
        }
        json_t *res = json_pack("{s:b,s:I,s:I,s:s,s:O}", "ok", ok, "errors", (json_int_t)nerr, "warnings",
                                (json_int_t)nwarn, "output", text ? text : "", "kept",
                                json_object_get(r->ctx, "kept"));
        free(text);
        if (publish)
                reply_error_x(r, 409, "refused", "the catalogue has errors: nothing was published",
                              "目录清单有错误，未发布", res);
        else
                reply_json(r, 200, res);
}

static void after_install(struct req *r, int status, const char *out, json_t *errs)
{
        if (status) {
                reply_child_refused(r, status, errs);
                return;
        }
        home_refresh(r->st);
        logf_("operator %s published catalogue version %.12s", r->op, r->st->h.catalog_version);
        reply_json(r, 200, json_pack("{s:s,s:s,s:O}", "version", r->st->h.catalog_version, "output",
                                     json_string_value(json_object_get(r->ctx, "report")), "kept",
                                     json_object_get(r->ctx, "kept")));
}

static void catalog_route(struct req *r, bool publish)
{
        const char *dir = catalog_upload(r);

        if (!dir)
                return;
        json_object_set_new(r->ctx, "publish", json_boolean(publish));
        const char *args[] = { "catalog", "check", "--json", "--", dir, NULL };
        run_write(r, args, after_check);
}

/* ---- routing ------------------------------------------------------------------ */

static bool role_is(struct req *r, const char *a, const char *b)
{
        const char *role = r->st->h.role;

        if (!strcmp(role, a) || (b && !strcmp(role, b)))
                return true;
        reply_error(r, 403, "forbidden_role", "this is another office's work", "此操作不属于本站点的职责");
        return false;
}

static bool method_is(struct req *r, const char *m)
{
        if (!strcmp(r->method, m) || (!strcmp(m, "GET") && !strcmp(r->method, "HEAD")))
                return true;
        reply_error(r, 405, "method", "this address does not take that method", "该地址不支持此请求方式");
        return false;
}

static void static_file(struct req *r)
{
        const char *p = r->path;

        if (!method_is(r, "GET"))
                return;
        for (size_t i = 0; i < ui_nfiles; i++) {
                const struct ui_file *f = &ui_files[i];
                if (strcmp(f->path, p))
                        continue;
                char hdr[512];
                bool gz = r->gzip && f->gz;
                snprintf(hdr, sizeof hdr, "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s", f->etag,
                         gz ? "Content-Encoding: gzip\r\n" : "");
                if (r->inm[0] && !strcmp(r->inm, f->etag)) {
                        respond(r, 304, f->type, hdr, "", 0);
                        return;
                }
                respond(r, 200, f->type, hdr, gz ? f->gz : f->data, gz ? f->gzlen : f->len);
                return;
        }
        not_found(r);
}

/* A path that tries to climb or hide bytes is refused outright. */
static bool path_suspicious(const char *p)
{
        return strstr(p, "..") || strcasestr(p, "%2e") || strcasestr(p, "%2f") || strcasestr(p, "%5c") ||
               strstr(p, "%00") || strchr(p, '\\') || strstr(p, "//");
}

static void route_status(struct req *r)
{
        reply_json(r, 200, status_json(r->st));
}

/* `daiban doctor` as a child (its quick_check may take a while on a big
 * store; the loop does not wait for it): exit 0 or 1 with the findings. */
static void after_doctor(struct req *r, int status, const char *out, json_t *errs)
{
        json_t *found = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);

        (void)errs;
        if ((status != 0 && status != EXIT_REFUSED) || !json_is_array(found)) {
                json_decref(found);
                reply_error(r, 500, "internal", "the checks did not run", "检查未能运行");
                return;
        }
        reply_json(r, 200, json_pack("{s:o,s:b}", "findings", found, "needs_person", status != 0));
}

static void route_doctor(struct req *r)
{
        static const char *const args[] = { "doctor", "--json", NULL };

        run_write(r, args, after_doctor);
}

static void route_overdue(struct req *r)
{
        /* the overdue list is the list route's filter */
        snprintf(r->query, sizeof r->query, "overdue=1&limit=200");
        apps_list(r);
}

static void route_check(struct req *r)
{
        catalog_route(r, false);
}

static void route_publish(struct req *r)
{
        catalog_route(r, true);
}

/* The routes whose path is fixed: one method each, and a role when
 * only one may use them. */
static const struct fixed_route {
        const char *path, *method, *role;
        void (*fn)(struct req *r);
} fixed_routes[] = {
        { "/api/session", "DELETE", NULL, signout },
        { "/api/status", "GET", NULL, route_status },
        { "/api/doctor", "GET", NULL, route_doctor },
        { "/api/sync", "POST", NULL, sync_now },
        { "/api/matters", "GET", NULL, matters },
        { "/api/reasons", "GET", NULL, reasons },
        { "/api/drafts", "GET", NULL, drafts_list },
        { "/api/conflicts", "GET", NULL, conflicts },
        { "/api/stats", "GET", "county", stats },
        { "/api/stations", "GET", "county", stations },
        { "/api/overdue", "GET", "county", route_overdue },
        { "/api/catalog/check", "POST", "county", route_check },
        { "/api/catalog/publish", "POST", "county", route_publish },
};

static void dispatch(struct req *r)
{
        const char *p = r->path, *rest, *tail;
        char id[72], mat[72];

        if (path_suspicious(p)) {
                char lp[160];
                logf_("refused path %s from %s", log_safe(p, lp, sizeof lp), r->peer);
                bad_request(r, "this address is not allowed", "该地址不允许访问");
                return;
        }
        if (!r->gated) {
                struct refusal f;
                if (gate(r, &f) < 0) {
                        reply_error(r, f.status, f.code, f.en, f.zh);
                        return;
                }
                r->gated = true;
        }
        if (strncmp(p, "/api/", 5) != 0) {
                static_file(r);
                return;
        }
        /* routes without a session */
        if (!strcmp(p, "/api/session") && !strcmp(r->method, "POST")) {
                signin(r);
                return;
        }
        if (!strcmp(p, "/api/operators")) {
                if (method_is(r, "GET"))
                        operators(r);
                return;
        }
        if (!strcmp(p, "/api/session") && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))) {
                /* signed in or not, the answer says which */
                session_lookup(r);
                reply_json(r, 200, session_json(r));
                return;
        }
        /* from here on the gate saw a session (and a write's CSRF token) */
        for (size_t i = 0; i < sizeof fixed_routes / sizeof fixed_routes[0]; i++) {
                const struct fixed_route *fr = &fixed_routes[i];
                if (strcmp(p, fr->path))
                        continue;
                if (method_is(r, fr->method) && (!fr->role || role_is(r, fr->role, NULL)))
                        fr->fn(r);
                return;
        }
        if ((rest = segment(p, "/api/forms/", id, sizeof id)) && !*rest) {
                if (method_is(r, "GET"))
                        form(r, id);
                return;
        }
        if ((rest = segment(p, "/api/validate/", id, sizeof id)) && !*rest) {
                if (method_is(r, "POST"))
                        validate(r, id);
                return;
        }
        if ((rest = segment(p, "/api/drafts/", id, sizeof id)) && !strcmp(rest, "/notice")) {
                if (method_is(r, "GET"))
                        draft_notice(r, id);
                return;
        }
        if ((rest = segment(p, "/api/drafts/", id, sizeof id)) && !*rest) {
                if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
                        draft_get(r, id);
                else if (!strcmp(r->method, "PUT"))
                        draft_put(r, id);
                else if (!strcmp(r->method, "DELETE")) {
                        draft_delete_id(r->st, r->op, id);
                        respond(r, 204, "application/json; charset=utf-8", NULL, "", 0);
                } else
                        method_is(r, "GET");
                return;
        }
        if (!strcmp(p, "/api/apps")) {
                /* where a matter may be accepted is the catalogue's to
                 * say (the CLI checks the delegation) */
                if (!strcmp(r->method, "POST"))
                        app_create(r);
                else if (method_is(r, "GET"))
                        apps_list(r);
                return;
        }
        if ((rest = segment(p, "/api/apps/", id, sizeof id))) {
                if (!*rest) {
                        if (method_is(r, "GET"))
                                app_get(r, id);
                } else if (!strcmp(rest, "/log")) {
                        if (method_is(r, "GET"))
                                app_log_route(r, id);
                } else if (!strcmp(rest, "/receipt") || !strcmp(rest, "/notice")) {
                        if (method_is(r, "GET"))
                                paperwork(r, id, !strcmp(rest, "/receipt"));
                } else if (!strcmp(rest, "/review") || !strcmp(rest, "/decide")) {
                        if (method_is(r, "POST") && role_is(r, "township", "county"))
                                write_simple(r, id, rest + 1);
                } else if (!strcmp(rest, "/edit") || !strcmp(rest, "/material") || !strcmp(rest, "/submit") ||
                           !strcmp(rest, "/withdraw") || !strcmp(rest, "/deliver") || !strcmp(rest, "/rate")) {
                        if (method_is(r, "POST"))
                                write_simple(r, id, rest + 1);
                } else if ((tail = segment(rest, "/materials/", mat, sizeof mat)) && !strcmp(tail, "/scan")) {
                        if (method_is(r, "PUT"))
                                scan_put(r, id, mat);
                } else
                        not_found(r);
                return;
        }
        if (!strncmp(p, "/api/scans/", 11)) {
                const char *hex = p + 11;
                bool ok = strlen(hex) == 40;
                for (size_t i = 0; ok && i < 40; i++)
                        ok = hexval(hex[i]) >= 0 && !(hex[i] >= 'A' && hex[i] <= 'F');
                if (!ok) {
                        bad_request(r, "a scan is named by its 40 hex digits", "扫描件以 40 位十六进制编号标识");
                        return;
                }
                if (method_is(r, "GET"))
                        scan_get(r, hex);
                return;
        }
        /* another role learns no more than that the route is not its */
        if (!strncmp(p, "/api/catalog/", 13) && !role_is(r, "county", NULL))
                return;
        not_found(r);
}

/* ---- the HTTP handler ------------------------------------------------------------ */

static size_t body_max_for(const char *method, const char *path)
{
        if (!strcmp(method, "POST") && !strcmp(path, "/api/session"))
                return SIGNIN_BODY_MAX;
        if (!strcmp(method, "PUT") && strstr(path, "/materials/") && strstr(path, "/scan"))
                return home_max_file_bytes();
        if (!strncmp(path, "/api/catalog/", 13))
                return CATALOG_BODY_MAX;
        return BODY_MAX;
}

static void copy_hdr(const struct http_request *q, const char *name, char *out, size_t cap)
{
        const char *v = http_header_get(q, name);

        snprintf(out, cap, "%s", v ? v : "");
}

static void on_request(http_conn *c, const struct http_request *q)
{
        struct station *st = http_server_data(http_conn_server(c));
        struct req *r = calloc(1, sizeof *r);

        if (!r) {
                http_respond_error(c, 503, "busy", "out of memory", "内存不足");
                return;
        }
        r->st = st;
        r->c = c;
        snprintf(r->method, sizeof r->method, "%s", q->method);
        r->head_only = !strcmp(q->method, "HEAD");
        if (strlen(q->path) >= sizeof r->path || strlen(q->query) >= sizeof r->query) {
                free(r);
                http_respond_error(c, 414, "bad_request", "the address is too long", "地址过长");
                return;
        }
        snprintf(r->path, sizeof r->path, "%s", q->path);
        snprintf(r->query, sizeof r->query, "%s", q->query);
        {
                /* only this station's cookie is kept, found in the whole
                 * header (other sites on localhost may set many) */
                const char *ck = http_header_get(q, "Cookie");
                for (const char *p = ck; p && *p;) {
                        while (*p == ' ' || *p == ';')
                                p++;
                        if (!strncmp(p, r->st->cookie_name, r->st->cookie_len)) {
                                size_t n = strcspn(p, ";");
                                if (n < sizeof r->cookie)
                                        snprintf(r->cookie, sizeof r->cookie, "%.*s", (int)n, p);
                                break;
                        }
                        p = strchr(p, ';');
                }
        }
        copy_hdr(q, "Content-Type", r->ctype, sizeof r->ctype);
        copy_hdr(q, "X-CSRF-Token", r->csrf, sizeof r->csrf);
        copy_hdr(q, "Origin", r->origin, sizeof r->origin);
        copy_hdr(q, "Host", r->host, sizeof r->host);
        copy_hdr(q, "If-None-Match", r->inm, sizeof r->inm);
        const char *ae = http_header_get(q, "Accept-Encoding");
        r->gzip = ae && strstr(ae, "gzip");
        r->tls = q->tls;
        snprintf(r->peer, sizeof r->peer, "%s", q->peer);
        r->max = body_max_for(r->method, r->path);
        if (q->content_length > 0 && (uint64_t)q->content_length > r->max) {
                free(r);
                http_respond_error(c, 413, "body_too_large",
                                   "the request is too large (1 MiB; catalogues 4 MiB; scans DAIBAN_MAX_FILE_BYTES, 20 MiB)",
                                   "请求内容过大（一般 1 MiB；目录清单 4 MiB；扫描件 20 MiB）");
                return;
        }
        /* who may send a body is decided before a byte of it is held */
        struct refusal f;
        if (!path_suspicious(r->path) && gate(r, &f) < 0) {
                free(r);
                http_respond_error(c, f.status, f.code, f.en, f.zh);
                return;
        }
        r->gated = true;
        http_conn_set_data(c, r);
}

static void on_body(http_conn *c, const char *data, size_t len)
{
        struct req *r = http_conn_data(c);

        if (!r)
                return;
        if (r->len + len > r->max) {
                http_conn_set_data(c, NULL);
                req_free(r);
                http_respond_error(c, 413, "body_too_large", "the request is too large", "请求内容过大");
                return;
        }
        if (r->len + len + 1 > r->cap) {
                size_t nc = r->cap ? r->cap : 4096;
                while (nc < r->len + len + 1)
                        nc *= 2;
                if (nc > r->max + 1)
                        nc = r->max + 1;
                /* all bodies held at once have a budget: past it, wait */
                /* grown by hand, not realloc: the old block is wiped first */
                char *nb = r->st->buffered - r->cap + nc > BUFFERED_MAX ? NULL : malloc(nc);
                if (nb && r->body) {
                        memcpy(nb, r->body, r->len);
                        explicit_bzero(r->body, r->cap);
                        free(r->body);
                }
                if (!nb) {
                        http_conn_set_data(c, NULL);
                        req_free(r);
                        http_respond_error(c, 503, "busy", "out of memory", "内存不足");
                        return;
                }
                r->st->buffered += nc - r->cap;
                r->body = nb;
                r->cap = nc;
        }
        memcpy(r->body + r->len, data, len);
        r->len += len;
        r->body[r->len] = '\0';
}

static void on_body_end(http_conn *c)
{
        struct req *r = http_conn_data(c);

        if (!r)
                return;
        r->pending++;           /* dispatch may answer synchronously */
        dispatch(r);
        r->pending--;
        if (!r->c && !r->pending)
                req_free(r);
}

static void on_abort(http_conn *c)
{
        struct req *r = http_conn_data(c);

        if (!r)
                return;
        r->c = NULL;
        if (!r->pending)
                req_free(r);
}

static const struct http_handler handler = {
        .on_request = on_request,
        .on_body = on_body,
        .on_body_end = on_body_end,
        .on_abort = on_abort,
};

/* ---- the command ------------------------------------------------------------------ */

static const char usage_serve[] =
        "Usage: daiban serve [--listen HOST:PORT] [--cert FILE --key FILE] [--insecure-http]\n"
        "                    [--sync-every SECONDS] [--max-conns N] [--head-timeout S] [--home DIR]\n"
        "\n"
        "Run this node's station: the web UI and its JSON API (docs/http-api.md),\n"
        "and background sync with the remote set by 'daiban remote set'.\n"
        "Open http://HOST:PORT/ in a browser and sign in; set an operator's\n"
        "password with 'daiban operator passwd ID'.\n"
        "\n"
        "  --listen HOST:PORT   where to listen (default 127.0.0.1:8410)\n"
        "  --cert, --key        serve HTTPS with this certificate and key (PEM)\n"
        "  --insecure-http      allow plain HTTP beyond loopback (a closed LAN only)\n"
        "  --sync-every S       seconds between syncs while the link works (default 300)\n"
        "  --max-conns N        connections at once (default 1200)\n"
        "  --head-timeout S     seconds a client has to send its request's headers (default 20)\n";

/* What a killed daemon left in HOME/tmp: its children's inputs (an
 * applicant's data among them) and catalogue uploads. */
static void sweep_tmp(const char *home_dir)
{
        char dir[4096];
        uv_fs_t req;
        uv_dirent_t ent;

        snprintf(dir, sizeof dir, "%s/tmp", home_dir);
        if (uv_fs_scandir(NULL, &req, dir, 0, NULL) >= 0) {
                while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
                        char p[4400];
                        snprintf(p, sizeof p, "%s/%s", dir, ent.name);
                        if (!strncmp(ent.name, "serve-", 6))
                                unlink(p);
                        else if (!strncmp(ent.name, "catalog-", 8))
                                rm_tree(p);
                }
        }
        uv_fs_req_cleanup(&req);
}

/* A station on home_dir: its home and station.db open, on libuv's
 * default loop, its sync timer ready (not started). NULL with err set
 * (empty when home_open printed the reason itself). */
static void cookie_name_set(struct station *st, int port)
{
        snprintf(st->cookie_name, sizeof st->cookie_name, "daiban_%s_%d=", st->h.node, port);
        st->cookie_len = strlen(st->cookie_name);
}

static struct station *station_new(const char *home_dir, char *err, size_t errlen)
{
        struct station *st = calloc(1, sizeof *st);

        err[0] = '\0';
        if (!st || !(st->home_dir = strdup(home_dir)) || !(st->thr = throttle_new())) {
                if (st)
                        free(st->home_dir);
                free(st);
                snprintf(err, errlen, "out of memory");
                return NULL;
        }
        if (home_open(st->home_dir, &st->h) != 0) {
                throttle_free(st->thr);
                free(st->home_dir);
                free(st);
                return NULL;
        }
        if (station_open(st->home_dir, &st->db, err, errlen) < 0) {
                home_close(&st->h);
                throttle_free(st->thr);
                free(st->home_dir);
                free(st);
                return NULL;
        }
        cookie_name_set(st, 0);         /* the port once it listens */
        st->loop = uv_default_loop();
        st->sync_every_s = SYNC_EVERY_S;
        uv_timer_init(st->loop, &st->sync_timer);
        st->sync_timer.data = st;
        return st;
}

static bool loopback_listen(const char *listen)
{
        return !strncmp(listen, "127.", 4) || !strncmp(listen, "[::1]", 5) || !strncmp(listen, "localhost:", 10);
}

/* A background sync still running is stopped with the daemon (a stalled
 * link would otherwise hold the exit for its timeout); writes finish. */
static void stop_sync_child(uv_handle_t *h, void *arg)
{
        (void)arg;
        if (h->type == UV_PROCESS && !uv_is_closing(h) && !((struct child *)h->data)->r)
                uv_process_kill((uv_process_t *)h, SIGTERM);
}

/* The writer has made the writes it held and they were answered: now
 * the connections close. */
static void writes_done(void *ud)
{
        struct station *st = ud;

        http_server_stop(st->srv);
}

static void on_signal(uv_signal_t *s, int sig)
{
        struct station *st = s->data;

        logf_("stopping (signal %d)", sig);
        uv_walk(st->loop, stop_sync_child, NULL);
        uv_close((uv_handle_t *)&st->sigint, NULL);
        uv_close((uv_handle_t *)&st->sigterm, NULL);
        uv_close((uv_handle_t *)&st->sync_timer, NULL);
        uv_close((uv_handle_t *)&st->refresh_timer, NULL);
        /* the writes queued are still made and answered before the
         * connections close; a write that comes meanwhile gets 503 */
        writer_stop(st->w, writes_done, st);
        st->w = NULL;
}

/* The daemon's JSON is wiped when freed: requests carry passwords,
 * tokens and ID numbers, in the parsed values and in jansson's own
 * buffers, and a freed block keeps its bytes until reused. */
static void json_free_wiped(void *p)
{
        if (p)
                explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

int cmd_serve(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "home", required_argument, NULL, 'H' },       { "listen", required_argument, NULL, 'l' },
                { "cert", required_argument, NULL, 'c' },       { "key", required_argument, NULL, 'k' },
                { "insecure-http", no_argument, NULL, 'I' },    { "sync-every", required_argument, NULL, 's' },
                { "max-conns", required_argument, NULL, 'm' },  { "head-timeout", required_argument, NULL, 't' },
                { NULL, 0, NULL, 0 },
        };
        const char *home = NULL, *listen = "127.0.0.1:8410", *cert = NULL, *key = NULL;
        bool insecure = false;
        long sync_every = SYNC_EVERY_S, max_conns = 1200, head_timeout = 20;
        struct station *st;

        json_set_alloc_funcs(malloc, json_free_wiped);
        struct tls_ctx *tls = NULL;
        char err[512];
        int c, rc;

        if (cli_wants_help(argc, argv)) {
                fputs(usage_serve, stdout);
                return 0;
        }
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                char *end;
                switch (c) {
                case 'H': home = optarg; break;
                case 'l': listen = optarg; break;
                case 'c': cert = optarg; break;
                case 'k': key = optarg; break;
                case 'I': insecure = true; break;
                case 's':
                case 'm':
                case 't': {
                        long v = strtol(optarg, &end, 10);
                        if (*end || end == optarg || v < 1 || v > 1000000) {
                                cli_error(cli_msg("%s needs a positive number, not '%s'", "%s 需要一个正数，而不是“%s”"),
                                          argv[optind - 1], optarg);
                                return EXIT_USAGE;
                        }
                        if (c == 's')
                                sync_every = v;
                        else if (c == 'm')
                                max_conns = v;
                        else
                                head_timeout = v;
                        break;
                }
                default:
                        fputs(usage_serve, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc) {
                fputs(usage_serve, stderr);
                return EXIT_USAGE;
        }
        if (!cert != !key) {
                cli_error("%s", cli_msg("--cert and --key go together", "--cert 与 --key 须同时给出"));
                return EXIT_USAGE;
        }
        if (!loopback_listen(listen) && !cert && !insecure) {
                cli_error(cli_msg("--listen %s reaches beyond this machine: serve HTTPS (--cert FILE --key FILE; "
                                  "'daiban hall cert' makes one), or say --insecure-http for a closed LAN",
                                  "--listen %s 可被其他电脑访问：请用 HTTPS（--cert FILE --key FILE，可用“daiban hall cert”生成），"
                                  "或在封闭局域网中明确加 --insecure-http"), listen);
                return EXIT_USAGE;
        }
        /* a home not made yet: the first run, in the browser */
        if (setup_needed(home_path(home))) {
                struct tls_ctx *stls = NULL;
                if (cert && !(stls = tls_ctx_new(cert, key, err, sizeof err))) {
                        cli_error("%s", err);
                        return EXIT_REFUSED;
                }
                rc = setup_serve(home_path(home), listen, stls);
                if (stls)
                        tls_ctx_free(stls);
                if (rc)
                        return rc > 0 ? 0 : EXIT_REFUSED;
        }
        st = station_new(home_path(home), err, sizeof err);
        if (!st) {
                if (err[0])
                        cli_error(cli_msg("cannot open the station's database: %s", "无法打开站点数据库：%s"), err);
                return EXIT_REFUSED;
        }
        /* one station daemon per home: two would race each other's syncs */
        if (home_lock_daemon(&st->h, "serve") < 0)
                return EXIT_REFUSED;
        /* the loop waits for station.db at most this long (a CLI's
         * `operator passwd`); then the request gets an error */
        sqlite3_busy_timeout(st->db, 2000);
        sweep_tmp(st->home_dir);
        if (writer_start(&st->w, st->loop, st->home_dir, false) < 0)
                return EXIT_REFUSED;
        size_t exe_len = sizeof st->exe;
        if (uv_exepath(st->exe, &exe_len) < 0) {
                cli_error("%s", cli_msg("cannot find this program's own path", "无法确定本程序的路径"));
                return EXIT_REFUSED;
        }
        if (asprintf(&st->home_env, "DAIBAN_HOME=%s", st->home_dir) < 0)
                return EXIT_REFUSED;
        if (cert) {
                tls = tls_ctx_new(cert, key, err, sizeof err);
                if (!tls) {
                        cli_error("%s", err);
                        return EXIT_REFUSED;
                }
                st->tls = true;
        }
        st->sync_every_s = (unsigned)sync_every;
        st->loopback = loopback_listen(listen);
        {
                /* a connection is a descriptor: allow what --max-conns says */
                struct rlimit rl;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max_conns + 64) {
                        rl.rlim_cur = rl.rlim_max < (rlim_t)max_conns + 64 ? rl.rlim_max : (rlim_t)max_conns + 64;
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        struct http_limits lim = {
                .max_conns = (unsigned)max_conns,
                .max_body = 64u << 20,          /* per route below it: http-api.md */
                .head_timeout_ms = (unsigned)head_timeout * 1000,
                .idle_timeout_ms = 120000,
                /* no cap per address: the station's users and anyone
                 * else on the PC all come from 127.0.0.1; a full house
                 * makes room by closing the slowest request instead */
                .max_per_peer = 0,
                .min_body_rate = 512,
        };
        rc = http_server_start(st->loop, listen, tls, &lim, &handler, st, &st->srv, err, sizeof err);
        if (rc == 0)
                cookie_name_set(st, http_server_port(st->srv));
        if (rc < 0) {
                cli_error(cli_msg("cannot listen on %s: %s", "无法在 %s 上监听：%s"), listen, err);
                return EXIT_REFUSED;
        }
        uv_timer_init(st->loop, &st->refresh_timer);
        st->refresh_timer.data = st;
        uv_timer_start(&st->refresh_timer, refresh_tick, 30000, 30000);
        sync_schedule(st, 2000);        /* soon after start, then on schedule */
        uv_signal_init(st->loop, &st->sigint);
        uv_signal_init(st->loop, &st->sigterm);
        st->sigint.data = st->sigterm.data = st;
        uv_signal_start(&st->sigint, on_signal, SIGINT);
        uv_signal_start(&st->sigterm, on_signal, SIGTERM);
        {
                char host[300];
                const char *colon = strrchr(listen, ':');
                snprintf(host, sizeof host, "%.*s:%d", (int)(colon ? colon - listen : (long)strlen(listen)), listen,
                         http_server_port(st->srv));
                printf(cli_msg("daiban serve: %s %s (%s) at %s://%s/\n", "daiban serve：%s %s（%s）已在 %s://%s/ 提供服务\n"),
                       st->h.role, st->h.node, st->h.name ? st->h.name : "", cert ? "https" : "http", host);
                fflush(stdout);
        }
        uv_run(st->loop, UV_RUN_DEFAULT);
        uv_loop_close(st->loop);
        sqlite3_close(st->db);
        home_close(&st->h);
        json_decref(st->last_error);
        free(st->home_env);
        throttle_free(st->thr);
        free(st->home_dir);
        free(st);
        if (tls)
                tls_ctx_free(tls);
        return 0;
}

/* ---- for the fuzz target (tests/fuzz-serve.c) ----------------------------------- */

struct station *serve_test_open(const char *home_dir)
{
        char err[512];
        /* the daemon's sync interval (a zero one would re-arm the timer
         * inside libuv's timer run and spin) */
        struct station *st = station_new(home_dir, err, sizeof err);

        if (st && writer_start(&st->w, st->loop, home_dir, true) < 0) {
                serve_test_close(st);
                return NULL;
        }
        if (st)
                st->testing = true;
        return st;
}

int serve_test_request(struct station *st, const char *method, const char *path, const char *query, const char *cookie,
                       const char *csrf, const char *origin, const char *body, size_t len, const char **ret_body)
{
        struct req *r = calloc(1, sizeof *r);

        if (!r)
                return -1;
        r->st = st;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", path);
        snprintf(r->query, sizeof r->query, "%s", query);
        snprintf(r->cookie, sizeof r->cookie, "%s", cookie);
        snprintf(r->csrf, sizeof r->csrf, "%s", csrf);
        snprintf(r->origin, sizeof r->origin, "%s", origin);
        snprintf(r->host, sizeof r->host, "127.0.0.1:8410");
        snprintf(r->peer, sizeof r->peer, "127.0.0.1:1");
        r->max = body_max_for(r->method, r->path);
        if (len > r->max)
                len = r->max;
        r->body = malloc(len + 1);
        if (!r->body) {
                free(r);
                return -1;
        }
        memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->len = len;
        r->cap = len + 1;
        st->buffered += r->cap;
        st->test_status = 0;
        r->pending++;
        dispatch(r);
        r->pending--;
        if (!r->pending)
                req_free(r);
        /* sign-in's hash and its slowed failure run on the loop */
        uv_run(st->loop, UV_RUN_NOWAIT);
        *ret_body = st->test_body ? st->test_body : "";
        return st->test_status;
}

void serve_test_close(struct station *st)
{
        writer_stop(st->w, NULL, NULL);
        uv_close((uv_handle_t *)&st->sync_timer, NULL);
        /* one turn runs the close: the loop is shared with the other
         * station, whose sync timer may be armed for minutes */
        uv_run(st->loop, UV_RUN_NOWAIT);
        sqlite3_close(st->db);
        home_close(&st->h);
        free(st->test_body);
        throttle_free(st->thr);
        free(st->home_dir);
        free(st);
}
