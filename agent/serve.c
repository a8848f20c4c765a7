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
#include "agent/serve-int.h"
#include "agent/daemon-stop.h"
#include "sync/durable.h"
#ifndef _WIN32
#include <sys/resource.h>
#endif

/* ---- one request ------------------------------------------------------------ */

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
                durable_remove_tree(r->tmpdir);
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
void req_done(struct req *r)
{
        if (r->c) {
                http_conn_set_data(r->c, NULL);
                r->c = NULL;
        }
        if (!r->pending)
                req_free(r);
}

void respond(struct req *r, int status, const char *type, const char *extra, const void *body, size_t len)
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

void reply_json_h(struct req *r, int status, json_t *j, const char *extra)
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

void reply_json(struct req *r, int status, json_t *j)
{
        reply_json_h(r, status, j, NULL);
}

/* {"error":code,"message":{"en","zh"}} plus the members of extra (stolen). */
void reply_error_x(struct req *r, int status, const char *code, const char *en, const char *zh, json_t *extra)
{
        json_t *j = json_pack("{s:s,s:{s:s,s:s}}", "error", code, "message", "en", en, "zh", zh);

        if (j && extra)
                json_object_update(j, extra);
        json_decref(extra);
        reply_json(r, status, j);
}

void reply_error(struct req *r, int status, const char *code, const char *en, const char *zh)
{
        reply_error_x(r, status, code, en, zh, NULL);
}

void bad_request(struct req *r, const char *en, const char *zh)
{
        reply_error(r, 400, "bad_request", en, zh);
}

void not_found(struct req *r)
{
        reply_error(r, 404, "not_found", "there is nothing at this address", "没有找到该内容");
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
                                durable_remove_tree(p);
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

bool serve_listen_local(const char *listen)
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

/* SIGINT, SIGTERM or the Windows service's stop (agent/daemon-stop.h). */
static void station_stop(struct station *st)
{
        uv_walk(st->loop, stop_sync_child, NULL);
        uv_close((uv_handle_t *)&st->sigint, NULL);
        uv_close((uv_handle_t *)&st->sigterm, NULL);
        daemon_stop_close(&st->stop_async);
        uv_close((uv_handle_t *)&st->sync_timer, NULL);
        uv_close((uv_handle_t *)&st->refresh_timer, NULL);
        /* the writes queued are still made and answered before the
         * connections close; a write that comes meanwhile gets 503 */
        writer_stop(st->w, writes_done, st);
        st->w = NULL;
}

static void on_signal(uv_signal_t *s, int sig)
{
        struct station *st = s->data;

        log_line("stopping (signal %d)", sig);
        station_stop(st);
}

static void on_stop_asked(uv_async_t *a)
{
        struct station *st = a->data;

        if (uv_is_closing((uv_handle_t *)a))
                return;         /* a signal came first */
        log_line("stopping (the service was asked to stop)");
        station_stop(st);
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
        log_open("serve", 2);
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
        if (!serve_listen_local(listen) && !cert && !insecure) {
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
        st->loopback = serve_listen_local(listen);
#ifndef _WIN32
        {
                /* a connection is a descriptor: allow what --max-conns says */
                struct rlimit rl;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max_conns + 64) {
                        rl.rlim_cur = rl.rlim_max < (rlim_t)max_conns + 64 ? rl.rlim_max : (rlim_t)max_conns + 64;
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
#endif
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
        st->stop_async.data = st;
        daemon_stop_watch(st->loop, &st->stop_async, on_stop_asked);
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
