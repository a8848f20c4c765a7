/* The first run in the browser. See setup.h.
 *
 * The steps are the CLI's own commands, run as children of this process
 * (the station daemon uses the CLI the same way): `init --from-hall`,
 * `operator add`, `operator passwd`, `key show --json`. Secrets (the
 * token, the password) go to them on stdin, never in their arguments.
 * They make the home in a folder beside it, HOME.setup-new, renamed to
 * HOME only once every step is done: a step that fails, or a machine that
 * dies between two (a power cut after `init`), leaves HOME absent or
 * empty, so the page comes back and the setup can be done again; nothing
 * in the half-made folder was acknowledged to anyone. */
#include "agent/setup.h"
#include "agent/console.h"
#include "agent/daemon-stop.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "agent/http.h"
#include "agent/ui.h"
#include "sync/durable.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

#define SETUP_MAX_BODY 16384
#define SETUP_MAX_TRIES 5       /* wrong codes before the code is replaced */
#define CHILD_OUT 65536

struct setup {
        uv_loop_t *loop;
        http_server *srv;
        uv_signal_t sig[2];
        uv_async_t stop_asked;  /* the Windows service's stop (daemon-stop.h) */
        uv_timer_t stop;
        char home[PATH_MAX], stage[PATH_MAX + 16], code_path[PATH_MAX + 16], exe[PATH_MAX];
        char code[9];
        int tries;
        bool loopback;          /* listening on this machine only */
        uint64_t wrong_at;      /* when the last wrong code came (ms) */
        int result;             /* 0 set up, 1 stopped */
        bool stopping;
        struct job *job;        /* the steps running now, or NULL */
        json_t *last_error;     /* how the last try ended, when it failed */
        const struct setup_tell *tell;
};

/* Tell a person (warn: a failure or a warning) in both languages, the
 * same arguments formatted into each. */
__attribute__((format(printf, 3, 5))) static void say(const struct setup *S, bool warn, const char *en,
                                                        const char *zh, ...)
{
        char *a = NULL, *b = NULL;
        va_list ap, aq;

        va_start(ap, zh);
        va_copy(aq, ap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (vasprintf(&a, en, ap) < 0)
                a = NULL;
        if (vasprintf(&b, zh, aq) < 0)
                b = NULL;
#pragma GCC diagnostic pop
        va_end(aq);
        va_end(ap);
        if (a && b)
                (warn ? S->tell->warn : S->tell->say)(S->tell->ud, a, b);
        free(a);
        free(b);
}

struct body {
        char buf[SETUP_MAX_BODY + 1];
        size_t len;
        bool over;
};

/* A folder absent or empty: made by the first run, and removed again
 * when it fails. A folder that holds anything is never set up here (a
 * home that lost its store.db, another program's files). */
static bool fresh(const char *home)
{
        DIR *d = opendir(home);
        struct dirent *e;
        bool empty = true;

        if (!d)
                return errno == ENOENT;
        while (empty && (e = readdir(d)))
                empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
        closedir(d);
        return empty;
}

bool setup_needed(const char *home)
{
        char path[PATH_MAX + 16];
        struct stat sb;

        snprintf(path, sizeof path, "%s/store.db", home);
        return stat(path, &sb) < 0 && errno == ENOENT && fresh(home);
}

/* A new one-time code: shown on stdout (the service's log) and kept in
 * HOME.setup-code (0600) for the installer to print. */
static int new_code(struct setup *S)
{
        FILE *f;

        if (sodium_init() < 0)
                return -1;
        for (int i = 0; i < 8; i++)
                S->code[i] = (char)('0' + randombytes_uniform(10));
        S->code[8] = '\0';
        S->tries = 0;
        unlink(S->code_path);           /* made afresh: 0600, never through a link */
        int fd = open(S->code_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 && platform_private_file(S->code_path) < 0) {       /* Windows: 0600 is an access list */
                close(fd);
                fd = -1;
                unlink(S->code_path);
        }
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f && fd >= 0)
                close(fd);
        if (!f || fprintf(f, "%s\n", S->code) < 0 || fclose(f) != 0) {
                say(S, true, "cannot write %s: %s", "无法写入 %s：%s", S->code_path, strerror(errno));
                return -1;
        }
        say(S, false, "first-run setup: the one-time code is %s (also in %s)", "首次设置：一次性设置码为 %s（也保存在 %s）",
             S->code, S->code_path);
        return 0;
}

/* ---- running the steps ------------------------------------------------------------- */

/* The steps run one after another as children on the page's own loop:
 * meanwhile the page answers (GET /api/setup says which step runs), a
 * second submission is told to wait, and a stop signal is heard. */
enum step { STEP_INIT, STEP_ADD, STEP_PASSWD, STEP_SHOW, STEP_DONE };

static const char *const step_names[] = { "init", "operator add", "operator passwd", "key show" };

struct job {
        struct setup *S;
        http_conn *c;           /* NULL once the browser went away */
        json_t *j;              /* the form (its strings are wiped at the end) */
        enum step step;
        uv_process_t proc;
        uv_pipe_t in, out, err;
        uv_write_t w;
        char input[512];
        char out_buf[CHILD_OUT];
        size_t out_len;
        int64_t status;
        int open;               /* handles not yet closed */
        bool spawned;
};

static void job_next(struct job *J);

static void run_closed(uv_handle_t *h)
{
        struct job *J = h->data;

        if (--J->open == 0)
                job_next(J);
}

static void run_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct job *J = s->data;

        if (n > 0) {
                size_t k = (size_t)n < sizeof J->out_buf - 1 - J->out_len ? (size_t)n : sizeof J->out_buf - 1 - J->out_len;
                memcpy(J->out_buf + J->out_len, buf->base, k);
                J->out_len += k;
        } else if (n < 0) {
                uv_close((uv_handle_t *)s, run_closed);
        }
        if (buf->base)
                explicit_bzero(buf->base, n > 0 ? (size_t)n : 0);
        free(buf->base);
}

static void run_exit(uv_process_t *p, int64_t status, int sig)
{
        struct job *J = p->data;

        J->status = sig ? 128 + sig : status;
        uv_close((uv_handle_t *)p, run_closed);
}

static void run_written(uv_write_t *w, int status)
{
        (void)status;
        uv_close((uv_handle_t *)w->handle, run_closed);
}

/* Start this program with args (after argv[0]), input on its stdin, its
 * stdout and stderr together in J->out_buf; job_next runs when all is
 * closed. */
static void run_step(struct job *J, const char *const *args, const char *input)
{
        struct setup *S = J->S;
        uv_process_options_t po = { 0 };
        uv_stdio_container_t io[3];
        char *argv[16];
        size_t n = 0;

        argv[n++] = S->exe;
        for (; args[n - 1] && n < 15; n++)
                argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        J->out_len = 0;
        J->status = -1;
        snprintf(J->input, sizeof J->input, "%s", input ? input : "");
        uv_pipe_init(S->loop, &J->in, 0);
        uv_pipe_init(S->loop, &J->out, 0);
        uv_pipe_init(S->loop, &J->err, 0);
        J->in.data = J->out.data = J->err.data = J->proc.data = J;
        io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        io[0].data.stream = (uv_stream_t *)&J->in;
        io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[1].data.stream = (uv_stream_t *)&J->out;
        io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[2].data.stream = (uv_stream_t *)&J->err;
        po.file = S->exe;
        po.args = argv;
        po.stdio = io;
        po.stdio_count = 3;
        po.exit_cb = run_exit;
        J->open = 4;
        J->spawned = uv_spawn(S->loop, &J->proc, &po) == 0;
        if (!J->spawned) {
                uv_close((uv_handle_t *)&J->proc, run_closed);
                uv_close((uv_handle_t *)&J->in, run_closed);
                uv_close((uv_handle_t *)&J->out, run_closed);
                uv_close((uv_handle_t *)&J->err, run_closed);
                return;
        }
        uv_buf_t b = uv_buf_init(J->input, (unsigned)strlen(J->input));
        if (uv_write(&J->w, (uv_stream_t *)&J->in, &b, 1, run_written) < 0)
                uv_close((uv_handle_t *)&J->in, run_closed);
        uv_read_start((uv_stream_t *)&J->out, http_alloc, run_read);
        uv_read_start((uv_stream_t *)&J->err, http_alloc, run_read);
}

/* ---- the page ------------------------------------------------------------------------ */

static const char security_headers[] =
        "X-Content-Type-Options: nosniff\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "X-Frame-Options: DENY\r\n"
        "Cache-Control: no-store\r\n"
        "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n";

static void reply_json(http_conn *c, int status, json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT);
        size_t len = s ? strlen(s) : 0;

        char hdr[512];

        snprintf(hdr, sizeof hdr, "%sContent-Type: application/json; charset=utf-8\r\n", security_headers);
        http_respond_start(c, status, hdr, (int64_t)len);
        http_respond_write(c, s ? s : "", len);
        http_respond_end(c);
        free(s);
        json_decref(j);
}

static void reply_error(http_conn *c, int status, const char *code, const char *en, const char *zh)
{
        reply_json(c, status, json_pack("{s:s,s:{s:s,s:s}}", "error", code, "message", "en", en, "zh", zh));
}

static void serve_file(http_conn *c, const char *path)
{
        for (size_t i = 0; i < ui_nfiles; i++) {
                const struct ui_file *f = &ui_files[i];
                if (strcmp(f->path, path) == 0) {
                        char hdr[1024];
                        snprintf(hdr, sizeof hdr, "%sContent-Type: %s\r\n", security_headers, f->type);
                        http_respond_start(c, 200, hdr, (int64_t)f->len);
                        http_respond_write(c, f->data, f->len);
                        http_respond_end(c);
                        return;
                }
        }
        reply_error(c, 404, "not_found", "no such page", "没有这个页面");
}

/* A page served on this machine only is asked for by a name of this
 * machine: another site's name resolved to 127.0.0.1 (DNS rebinding) is
 * not. */
static bool host_ok(const struct setup *S, const struct http_request *req)
{
        const char *h = http_header_get(req, "Host");

        if (!S->loopback)
                return true;
        return h && (!strncmp(h, "127.0.0.1", 9) || !strncmp(h, "localhost", 9) || !strncmp(h, "[::1]", 5)) &&
               (h[h[0] == '[' ? 5 : 9] == ':' || h[h[0] == '[' ? 5 : 9] == '\0');
}

static void on_request(http_conn *c, const struct http_request *req)
{
        struct setup *S = http_server_data(http_conn_server(c));

        if (!host_ok(S, req)) {
                reply_error(c, 421, "host", "open this page as http://127.0.0.1:PORT/", "请用 http://127.0.0.1:端口/ 打开本页");
                return;
        }

        if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
                if (strcmp(req->path, "/api/setup") == 0)
                        reply_json(c, 200, json_pack("{s:b,s:s,s:b,s:s?,s:O?}", "setup", 1, "home", S->home, "running",
                                                     S->job != NULL, "step",
                                                     S->job ? step_names[S->job->step] : NULL, "last_error",
                                                     S->job ? NULL : S->last_error));
                else if (strncmp(req->path, "/api/", 5) == 0)
                        reply_error(c, 503, "setup", "this station is not set up yet: open / to set it up",
                                    "本服务站尚未设置：请打开首页完成首次设置");
                else if (strcmp(req->path, "/ui/setup.js") == 0 || strcmp(req->path, "/ui/app.css") == 0)
                        serve_file(c, req->path);
                else
                        serve_file(c, "/ui/setup.html");        /* every page is the setup page until set up */
                return;
        }
        const char *ct = http_header_get(req, "Content-Type");
        if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/api/setup") != 0) {
                reply_error(c, 405, "method", "this address does not take that method", "该地址不支持此请求方式");
                return;
        }
        /* JSON only: a form posted from another site cannot send it
         * without the browser asking first */
        if (!ct || strncmp(ct, "application/json", 16) != 0) {
                reply_error(c, 415, "content_type", "send JSON", "请以 JSON 提交");
                return;
        }
        if (req->content_length < 0 || req->content_length > SETUP_MAX_BODY) {
                reply_error(c, 413, "too_large", "the request is too large", "请求过大");
                return;
        }
        struct body *b = calloc(1, sizeof *b);
        if (!b) {
                reply_error(c, 500, "oom", "out of memory", "内存不足");
                return;
        }
        http_conn_set_data(c, b);
}

static void on_body(http_conn *c, const char *data, size_t len)
{
        struct body *b = http_conn_data(c);

        if (!b)
                return;
        if (len > SETUP_MAX_BODY - b->len) {
                b->over = true;
                return;
        }
        memcpy(b->buf + b->len, data, len);
        b->len += len;
}

static void on_abort(http_conn *c)
{
        struct setup *S = http_server_data(http_conn_server(c));
        struct body *b = http_conn_data(c);

        if (S->job && S->job->c == c)
                S->job->c = NULL;       /* the steps go on; the page asks /api/setup */

        if (b) {
                explicit_bzero(b, sizeof *b);
                free(b);
        }
}

static const char *field(json_t *j, const char *name)
{
        const char *v = json_string_value(json_object_get(j, name));
        return v && *v ? v : NULL;
}

static void stop_soon(uv_timer_t *t)
{
        struct setup *S = t->data;

        if (S->stopping)
                return;
        S->stopping = true;
        /* a step still running is stopped too: its half-made folder goes
         * when it has ended (job_next) */
        if (S->job && S->job->spawned && !uv_is_closing((uv_handle_t *)&S->job->proc))
                uv_process_kill(&S->job->proc, SIGTERM);
        http_server_stop(S->srv);
        uv_close((uv_handle_t *)&S->sig[0], NULL);
        uv_close((uv_handle_t *)&S->sig[1], NULL);
        daemon_stop_close(&S->stop_asked);
        uv_close((uv_handle_t *)&S->stop, NULL);
}

/* A step's messages for the page: the last lines it printed. */
/* The entries of folder from moved into the empty folder to, store.db
 * last (a home without it is no home yet), then from removed. */
static int move_entries(const char *from, const char *to)
{
        DIR *d = opendir(from);
        struct dirent *e;
        char a[PATH_MAX + 256], b[PATH_MAX + 256];
        int r = 0;

        if (!d)
                return -1;
        while (r == 0 && (e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "store.db"))
                        continue;
                snprintf(a, sizeof a, "%s/%s", from, e->d_name);
                snprintf(b, sizeof b, "%s/%s", to, e->d_name);
                r = rename(a, b);
        }
        closedir(d);
        if (r < 0 || durable_sync_dir(to) < 0)
                return -1;
        snprintf(a, sizeof a, "%s/store.db", from);
        snprintf(b, sizeof b, "%s/store.db", to);
        if (rename(a, b) < 0 || durable_sync_dir(to) < 0)
                return -1;
        rmdir(from);
        return 0;
}

/* The staging folder removed, or a link in its place unlinked (never
 * followed). */
static void remove_stage(const char *stage)
{
        struct stat sb;

        if (lstat(stage, &sb) < 0)
                return;
        if (S_ISLNK(sb.st_mode))
                unlink(stage);
        else
                durable_remove_tree(stage);
}

/* The job ends: its form wiped, the page told if it is still there. */
static void job_end(struct job *J, int status, json_t *answer)
{
        struct setup *S = J->S;

        if (J->c)
                reply_json(J->c, status, answer);
        else
                json_decref(answer);
        json_decref(J->j);      /* (wiped: cmd_serve's allocator) */
        S->job = NULL;
        explicit_bzero(J, sizeof *J);
        free(J);
}

static void fail_step(struct job *J, const char *what_en, const char *what_zh, const char *out)
{
        struct setup *S = J->S;
        char en[2048], zh[2048];

        /* a half-made home is no home, and the page can be sent again */
        remove_stage(S->stage);
        snprintf(en, sizeof en, "%s: %s", what_en, out);
        snprintf(zh, sizeof zh, "%s：%s", what_zh, out);
        say(S, true, "first-run setup: %s", "first-run setup: %s", en);  /* the log's, in English */
        json_decref(S->last_error);
        S->last_error = json_pack("{s:s,s:{s:s,s:s}}", "error", "step_failed", "message", "en", en, "zh", zh);
        job_end(J, 400, json_incref(S->last_error));
}

/* A test's power cut between two steps (tests/integration/serve.py,
 * FirstRun): DAIBAN_SETUP_DIE_AFTER names the step after which this
 * process is killed, as a machine losing power would stop it. */
static void die_after(const char *step)
{
        const char *at = console_getenv("DAIBAN_SETUP_DIE_AFTER");

        if (at && strcmp(at, step) == 0)
                platform_kill_self();
}

static void on_body_end(http_conn *c)
{
        struct setup *S = http_server_data(http_conn_server(c));
        struct body *b = http_conn_data(c);
        char input[512];
        json_t *j = NULL;

        if (!b)
                return;
        http_conn_set_data(c, NULL);
        b->buf[b->len] = '\0';
        if (b->over || !(j = json_loads(b->buf, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(j)) {
                reply_error(c, 400, "bad_request", "the form could not be read; reload the page",
                            "无法读取所填内容；请刷新页面后重试");
                goto out;
        }
        const char *code = field(j, "code"), *hall = field(j, "hall"), *pin = field(j, "pin"),
                   *token = field(j, "token"), *ck = field(j, "county_key"), *op = field(j, "operator"),
                   *opname = field(j, "operator_name"), *pw = field(j, "password");
        if (S->job) {
                reply_error(c, 409, "busy", "the setup is running now (see GET /api/setup); wait for it",
                            "正在设置中；请等待其完成");
                goto out;
        }
        if (!setup_needed(S->home)) {
                reply_error(c, 409, "done", "this station is set up already", "本服务站已经设置过了");
                goto out;
        }
        /* the one-time code, compared in constant time; a few wrong ones
         * and it is replaced by a new one (in the log and the file) */
        /* a wrong code costs a second for everyone: 10^8 codes cannot be
         * tried, five tries replace the code */
        if (uv_now(S->loop) - S->wrong_at < 1000) {
                reply_error(c, 429, "wait", "wait a second before trying the code again", "请稍候一秒再输入设置码");
                goto out;
        }
        unsigned diff = code && strlen(code) == 8 ? 0 : 1;
        for (int i = 0; i < 8; i++)
                diff |= (unsigned)(unsigned char)S->code[i] ^ (unsigned)(unsigned char)(code && strlen(code) == 8 ? code[i] : 0);
        if (diff) {
                uv_update_time(S->loop);
                S->wrong_at = uv_now(S->loop);
                if (++S->tries >= SETUP_MAX_TRIES)
                        new_code(S);
                reply_error(c, 403, "code", "the one-time code is wrong; it is in the station's log and in the file"
                            " the installer named", "一次性设置码不正确；设置码见服务日志，或安装程序所示的文件");
                goto out;
        }
        if (!hall || !token || !op || !opname || !pw) {
                reply_error(c, 400, "missing", "fill in the hall's address, the token, and the first operator with a"
                            " password", "请填写县级服务端地址、令牌，以及第一位经办人和密码");
                goto out;
        }
        /* what the steps would refuse, refused before any of them runs */
        if (strlen(op) > 32 || op[0] == '-' || strcspn(op, " \t\r\n") != strlen(op) || strlen(pw) < 6 ||
            strlen(pw) > 256 || strlen(opname) > 64 || hall[0] == '-' || token[0] == '-' ||
            (pin && pin[0] == '-') || (ck && ck[0] == '-')) {
                reply_error(c, 400, "bad_field", "the operator ID has at most 32 characters, no spaces and no leading"
                            " '-'; the password 6 to 256; the name at most 64",
                            "经办人编号最多 32 个字符，不含空格、不以“-”开头；密码 6 至 256 个字符；姓名最多 64 个字符");
                goto out;
        }
        struct job *J = calloc(1, sizeof *J);
        if (!J) {
                reply_error(c, 500, "oom", "out of memory", "内存不足");
                goto out;
        }
        J->S = S;
        J->c = c;
        J->j = j;
        j = NULL;
        J->step = STEP_INIT;
        S->job = J;
        json_decref(S->last_error);
        S->last_error = NULL;
        remove_stage(S->stage);                /* an earlier try cut short */
        const char *init[16] = { "init", "--from-hall", hall, "--token", "-", "--home", S->stage };
        int k = 7;
        if (pin) {
                init[k++] = "--pin";
                init[k++] = pin;
        }
        if (ck) {
                init[k++] = "--county-key";
                init[k++] = ck;
        }
        init[k] = NULL;
        snprintf(input, sizeof input, "%s\n", token);
        run_step(J, init, input);
out:
        explicit_bzero(input, sizeof input);
        explicit_bzero(b, sizeof *b);
        free(b);
        json_decref(j);         /* the password and token wiped with it (cmd_serve's allocator) */
}

/* A step's child has ended and its pipes are closed: check it, and start
 * the next, or finish. */
static void job_next(struct job *J)
{
        struct setup *S = J->S;
        char input[512];
        const char *op = field(J->j, "operator"), *opname = field(J->j, "operator_name"), *pw = field(J->j, "password");
        int status = J->spawned ? (int)J->status : -1;

        J->out_buf[J->out_len] = '\0';
        if (S->stopping) {                      /* stopped meanwhile: the next start begins again */
                remove_stage(S->stage);
                job_end(J, 503, json_pack("{s:s}", "error", "stopping"));
                return;
        }
        switch (J->step) {
        case STEP_INIT:
                if (status != 0)
                        return fail_step(J, "joining the county failed", "加入本县失败", J->out_buf);
                die_after("init");
                J->step = STEP_ADD;
                run_step(J, (const char *const[]){ "operator", "add", "--name", opname, "--home", S->stage, "--", op, NULL },
                         NULL);
                return;
        case STEP_ADD:
                if (status != 0)
                        return fail_step(J, "the operator could not be registered", "无法登记经办人", J->out_buf);
                die_after("operator add");
                J->step = STEP_PASSWD;
                snprintf(input, sizeof input, "%s\n", pw);
                run_step(J, (const char *const[]){ "operator", "passwd", "--home", S->stage, "--", op, NULL }, input);
                explicit_bzero(input, sizeof input);
                return;
        case STEP_PASSWD:
                explicit_bzero(J->input, sizeof J->input);
                if (status != 0)
                        return fail_step(J, "the password could not be set", "无法设置密码", J->out_buf);
                die_after("operator passwd");
                J->step = STEP_SHOW;
                run_step(J, (const char *const[]){ "key", "show", "--json", "--home", S->stage, NULL }, NULL);
                return;
        case STEP_SHOW:
        case STEP_DONE:
                break;
        }
        json_t *key = NULL;
        if (status == 0 && strchr(J->out_buf, '{'))
                key = json_loads(strchr(J->out_buf, '{'), JSON_DISABLE_EOF_CHECK, NULL);
        if (!key)
                return fail_step(J, "the station's key could not be read", "无法读取本站密钥", J->out_buf);
        J->step = STEP_DONE;
        /* every step done: the home appears whole (HOME is absent or an
         * empty folder, which rename replaces); an empty HOME that rename
         * cannot replace (a mount point, a link to a folder) gets the
         * entries moved in, store.db last */
        if (rename(S->stage, S->home) < 0 && move_entries(S->stage, S->home) < 0) {
                char why[256];
                snprintf(why, sizeof why, "%s", strerror(errno));
                json_decref(key);
                return fail_step(J, "the station's folder could not be put in place", "无法放置本站数据目录", why);
        }
        /* Windows: what was moved in takes HOME's access list (the
         * service's: LocalService and the administrators), not that of
         * the folder it was made in beside HOME */
        if (platform_reinherit(S->home) < 0)
                say(S, true, "warning: %s: its access list could not be given to its files",
                    "warning: %s: its access list could not be given to its files", S->home);
        if (durable_sync_parent(S->home) < 0)
                say(S, true, "warning: the folder holding %s could not be synced: %s",
                     "warning: the folder holding %s could not be synced: %s", S->home, strerror(errno));
        say(S, false, "first-run setup done: node %s, key %s; the station starts",
             "首次设置完成：站点 %s，密钥指纹 %s；服务站启动", json_string_value(json_object_get(key, "node")),
             json_string_value(json_object_get(key, "fingerprint")));
        unlink(S->code_path);
        S->result = 0;
        job_end(J, 200, key);
        /* the answer goes out, then the station takes the address over */
        uv_timer_start(&S->stop, stop_soon, 300, 0);
}

static void on_signal(uv_signal_t *s, int sig)
{
        struct setup *S = s->data;

        (void)sig;
        S->result = 1;
        stop_soon(&S->stop);
}

static void on_stop_asked(uv_async_t *a)
{
        struct setup *S = a->data;

        S->result = 1;
        stop_soon(&S->stop);
}

int setup_run(const char *home, const char *listen, struct tls_ctx *tls, const struct setup_tell *t)
{
        static const struct http_handler hh = { on_request, on_body, on_body_end, on_abort, NULL };
        struct http_limits lim = { 64, SETUP_MAX_BODY, 20000, 120000, .max_per_peer = 32 };
        struct setup *S = calloc(1, sizeof *S);
        size_t len;
        char err[512];
        int r = -1;

        if (!S)
                return -1;
        S->tell = t;
        S->loop = uv_default_loop();
        S->result = 1;
        snprintf(S->home, sizeof S->home, "%s", home);
        /* "HOME/" would put the staging folder inside HOME */
        for (size_t n = strlen(S->home); n > 1 && S->home[n - 1] == '/'; n--)
                S->home[n - 1] = '\0';
        snprintf(S->code_path, sizeof S->code_path, "%s.setup-code", S->home);
        snprintf(S->stage, sizeof S->stage, "%s.setup-new", S->home);
        S->loopback = !strncmp(listen, "127.", 4) || !strncmp(listen, "localhost:", 10) || !strncmp(listen, "[::1]", 5);
        len = sizeof S->exe;
        if (uv_exepath(S->exe, &len) < 0) {
                say(S, true, "cannot find this program's path", "找不到本程序的路径");
                goto out;
        }
        if (new_code(S) < 0)
                goto out;
        if (http_server_start(S->loop, listen, tls, &lim, &hh, S, &S->srv, err, sizeof err) < 0) {
                say(S, true, "cannot listen on %s: %s", "无法在 %s 上监听：%s", listen, err);
                goto out;
        }
        say(S, false, "this station is not set up yet: open %s://%s/ in a browser and enter the code",
             "本服务站尚未设置：请在浏览器中打开 %s://%s/ 并输入设置码", tls ? "https" : "http", listen);
        uv_timer_init(S->loop, &S->stop);
        S->stop.data = S;
        for (int i = 0; i < 2; i++) {
                uv_signal_init(S->loop, &S->sig[i]);
                S->sig[i].data = S;
                uv_signal_start(&S->sig[i], on_signal, i ? SIGTERM : SIGINT);
        }
        S->stop_asked.data = S;
        daemon_stop_watch(S->loop, &S->stop_asked, on_stop_asked);
        uv_run(S->loop, UV_RUN_DEFAULT);
        r = S->result;
        if (r)
                unlink(S->code_path);   /* stopped: the next start makes a new one */
out:
        explicit_bzero(S->code, sizeof S->code);
        json_decref(S->last_error);
        free(S);
        return r;
}
