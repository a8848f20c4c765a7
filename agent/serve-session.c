/* The station daemon: sessions (cookie, CSRF token, idle limit) and
 * sign-in (argon2id on the thread pool, the throttle). See
 * serve-int.h. */
#include "agent/serve-int.h"

/* ---- sessions --------------------------------------------------------------- */

/* Find the session of the request's cookie: 0 (signed in), -1 (none,
 * or it ended), -2 (another node's), -3 (the sessions cannot be read). */
int session_lookup(struct req *r)
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
                log_line("a session cookie of node %s was refused from %s", log_safe(tok, ln, sizeof ln), r->peer);
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

static bool is_public(const struct req *r)
{
        return strncmp(r->path, "/api/", 5) != 0 || !strcmp(r->path, "/api/operators") ||
               (!strcmp(r->path, "/api/session") && !is_write(r));
}

/* Who may make this request: the host, the session (every /api/ route
 * but sign-in and the operator list) and, for a write, the session's
 * CSRF token and this origin. Run before the body is read. 0, or -1
 * with the refusal filled in (and logged). */
int gate(struct req *r, struct refusal *f)
{
        char op[80];

        if (!host_ok(r)) {
                log_line("a request for host '%.64s' was refused from %s", r->host, r->peer);
                *f = (struct refusal){ 400, "bad_request", "this station does not answer to that host name",
                                       "本站不接受该主机名的访问" };
                return -1;
        }
        if (!strcmp(r->path, "/api/session") && !strcmp(r->method, "POST")) {
                /* a sign-in from another site's page would only lock the
                 * operators out: refused, as is a form's text/plain */
                if (foreign_origin(r) || !strstr(r->ctype, "application/json")) {
                        log_line("a sign-in from origin '%.64s' (%.64s) was refused", r->origin, r->ctype);
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
                log_line("a %s %s without the session's CSRF token was refused (operator %s, %s)", r->method, r->path, op,
                         r->peer);
                *f = (struct refusal){ 403, "csrf", "the page is out of date; reload it and try again",
                                       "页面已过期，请刷新后重试" };
                return -1;
        }
        if (foreign_origin(r)) {
                log_line("a %s %s from origin %.64s was refused (operator %s)", r->method, r->path, r->origin, op);
                *f = (struct refusal){ 403, "csrf", "this request came from another site", "该请求来自其他网站，已拒绝" };
                return -1;
        }
        return 0;
}

json_t *session_json(struct req *r)
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
                log_line("operator %s signed in from %s", s->op, r->peer);
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
        log_line("sign-in failed for operator '%s' from %s (%u failures; next try after %u s)", log_safe(s->op, lop, sizeof lop),
                 r->peer, nfail, wait);
        /* a failure is answered after a second, whatever the hash took */
        uv_timer_init(st->loop, &s->delay);
        s->delay.data = s;
        uv_timer_start(&s->delay, signin_fail_answer, 1000, 0);
}

void signin(struct req *r)
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
                log_line("sign-in for operator '%s' from %s refused: wait %u s after failures", log_safe(op, lop, sizeof lop),
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

void signout(struct req *r)
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
        log_line("operator %s signed out", r->op);
        snprintf(clear, sizeof clear, "Set-Cookie: %s; HttpOnly; SameSite=Strict; Path=/; Max-Age=0\r\n",
                 r->st->cookie_name);
        respond(r, 204, "application/json; charset=utf-8", clear, "", 0);
}

void operators(struct req *r)
{
        json_t *a = json_array();
        struct readmodel_operator *ops = NULL;
        size_t n = 0;

        if (readmodel_operators(r->st->h.st, r->st->h.node, &ops, &n) == 0)
                for (size_t i = 0; i < n; i++)
                        if (!ops[i].disabled)
                                json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "id", ops[i].id, "name", ops[i].name,
                                                                   "has_password",
                                                                   station_has_password(r->st->db, ops[i].id)));
        free(ops);
        reply_json(r, 200, json_pack("{s:o}", "operators", a));
}
