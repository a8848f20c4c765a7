/* The station daemon: routing a request to its route, by path, method
 * and role. See serve-int.h. */
#include "agent/serve-int.h"

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
bool path_suspicious(const char *p)
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

void dispatch(struct req *r)
{
        const char *p = r->path, *rest, *tail;
        char id[72], mat[72];

        if (path_suspicious(p)) {
                char lp[160];
                log_line("refused path %s from %s", log_safe(p, lp, sizeof lp), r->peer);
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
