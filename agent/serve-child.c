/* The station daemon's children (a catalogue's check and install,
 * doctor) and background sync, which runs `daiban sync` as one. See
 * serve-int.h. */
#include "agent/serve-int.h"

/* ---- children: the CLI does the writes ------------------------------------- */

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

        log_line("a child ran over its time (%d s for a write, %d s for a sync) and was stopped", CHILD_TIMEOUT_MS / 1000,
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
                log_line("cannot run %s: %s", st->exe, uv_strerror(rc));
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
void reply_child_refused(struct req *r, int status, json_t *errs)
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
void run_write(struct req *r, const char *const *args,
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
const char *tmp_dir(struct station *st)
{
        static char dir[4096];

        snprintf(dir, sizeof dir, "%s/tmp", st->home_dir);
        mkdir(dir, 0700);
        return dir;
}

/* ---- the link: background sync ----------------------------------------------- */

json_t *status_json(struct station *st)
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

void home_refresh(struct station *st)
{
        struct core_result why;
        int r;

        core_result_init(&why);
        r = home_reload(&st->h, &why);
        if (r < 0)
                log_line("cannot reload the home after a catalogue change (%s); keeping the previous one",
                         why.en ? why.en : "?");
        else if (r > 0)
                log_line("catalogue version %.12s is now current", st->h.catalog_version);
        core_result_finish(&why);
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
                log_line("sync failed (%u in a row): %s; next try in %.0f s", st->failures,
                         json_string_value(json_object_get(st->last_error, "en")), base * jitter);
                sync_schedule(st, (uint64_t)(base * jitter * 1000));
        }
        json_decref(errs);
}

void sync_start(struct station *st)
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

void sync_schedule(struct station *st, uint64_t delay_ms)
{
        st->next_sync = uv_now(st->loop) + delay_ms;
        uv_timer_start(&st->sync_timer, sync_tick, delay_ms, 0);
}

void refresh_tick(uv_timer_t *t)
{
        home_refresh(t->data);
}
