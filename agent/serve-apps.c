/* The station daemon: applications, read in the event loop and written
 * through the writer thread (agent/writer.h) and the core. See
 * serve-int.h. */
#include "agent/serve-int.h"

static json_t *detail_json(struct home *h, int32_t d, const struct app_row *row);
static bool load_rows(struct req *r, const char *id, struct app_row **t, size_t *n);
static void reply_sheet(struct req *r, char *buf, size_t len);
static void wjob_work(struct home *h, const struct core_result *why, void *arg);
static void reply_refused(struct req *r, const struct core_result *res);
static void wjob_after(void *arg);
static void after_app(struct req *r, struct core_result *res);
static void after_scan(struct req *r, struct core_result *res);
static void after_new(struct req *r, struct core_result *res);

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
        int rc = readmodel_app_rows(r->st->h.st, id, t, n);

        if (rc == -ENOENT)
                not_found(r);
        else if (rc < 0)
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
        return rc == 0;
}

void app_get(struct req *r, const char *id)
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

void paperwork(struct req *r, const char *id, bool receipt)
{
        struct app_row *t = NULL;
        size_t n = 0;
        char *buf = NULL;
        size_t len = 0;

        if (!load_rows(r, id, &t, &n))
                return;
        buf = receipt ? paper_receipt(&r->st->h, t, n, true, &len) : paper_notice(&r->st->h, t, n, today(), true, &len);
        app_rows_free(t, n);
        if (!buf) {
                reply_error(r, 500, "internal", "out of memory", "内存不足");
                return;
        }
        reply_sheet(r, buf, len);
}

/* GET /api/drafts/ID/notice: the one-time notice before acceptance, of
 * the form as last saved, for the villager to take home. */
void draft_notice(struct req *r, const char *id)
{
        json_t *d = draft_load(r, id);
        char *buf = NULL;
        size_t len = 0;
        const struct cat_form *form = d && json_is_object(json_object_get(d, "data"))
                                              ? catalog_find_form(r->st->h.cat, json_string_value(json_object_get(d, "matter")))
                                              : NULL;

        if (form)
                buf = paper_notice_draft(&r->st->h, form, json_object_get(d, "data"), json_object_get(d, "materials"),
                                         today(), r->op, true, &len);
        json_decref(d);
        if (!form)
                not_found(r);
        else if (!buf)
                reply_error(r, 500, "internal", "out of memory", "内存不足");
        else
                reply_sheet(r, buf, len);
}

/* The list's summaries, built from each row as the read model reads it. */
struct list_rows {
        struct home *h;
        int32_t today;
        json_t *arr;
};

static int list_row(void *ud, const struct app_row *row)
{
        struct list_rows *lr = ud;
        json_t *j = app_summary_json(lr->h, lr->today, row);

        json_object_set_new(j, "promise_overdue", json_boolean(row->promise_overdue));
        json_object_del(j, "data");     /* a list shows no form data */
        json_array_append_new(lr->arr, j);
        return 0;
}

/* GET /api/apps: filters, a page, a cursor. */
void apps_list(struct req *r)
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
        struct readmodel_filter f = {
                .today = d, .status = status, .overdue = overdue && *overdue == '1', .due_within = days,
                .origin = village, .matter = matter, .text = q, .limit = limit, .after = after, .count = true,
        };
        if (todo && *todo == '1') {
                f.todo_node = st->h.node;
                f.todo_village = !strcmp(st->h.role, "village");
        }
        struct readmodel_page page;
        struct list_rows lr = { .h = &st->h, .today = d, .arr = json_array() };
        if (readmodel_app_list(st->h.st, &f, list_row, &lr, &page) < 0) {
                log_line("list query: %s", store_errmsg(st->h.st));
                json_decref(lr.arr);
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
                return;
        }
        reply_json(r, 200, json_pack("{s:o,s:s?,s:I}", "applications", lr.arr, "next", page.next[0] ? page.next : NULL,
                                     "total", (json_int_t)page.total));
}

void conflicts(struct req *r)
{
        json_t *a = json_array();
        struct readmodel_conflict *v = NULL;
        size_t n = 0;

        if (readmodel_conflicts(r->st->h.st, NULL, 500, &v, &n) == 0) {
                for (size_t i = 0; i < n; i++) {
                        const char *type = v[i].type;
                        const char *azh = "该操作与其他站点的操作冲突，未被采纳。请打开办件核对当前状态，必要时按当前状态重新操作，并与对方站点电话确认。";
                        const char *aen = "This action crossed another node's and was not applied. Open the application, check its "
                                          "current state, redo the action if it still applies, and call the other node to agree.";
                        if (!strcmp(type, "app.created")) {
                                azh = "同一办件被重复创建，后一条未被采纳。请核对是否为重复录入。";
                                aen = "The application was created twice; the later one was not applied. Check for a duplicate.";
                        }
                        const char *why = v[i].reason;
                        json_array_append_new(a, json_pack("{s:s,s:s?,s:s?,s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "app",
                                                           v[i].app, "matter_name", v[i].known ? v[i].matter_name : NULL,
                                                           "applicant", v[i].known ? v[i].applicant : NULL, "node",
                                                           v[i].node, "seq", (json_int_t)v[i].seq, "type", type, "reason",
                                                           why, "reason_zh", app_rule_zh(why), "advice_zh", azh,
                                                           "advice_en", aen));
                }
                free(v);
        }
        reply_json(r, 200, json_pack("{s:o}", "conflicts", a));
}

void scan_get(struct req *r, const char *hex)
{
        char path[4096];

        /* only blobs an application of this home names are served */
        if (!readmodel_blob_named(r->st->h.st, hex)) {
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

static void wjob_work(struct home *h, const struct core_result *why, void *arg)
{
        struct wjob *j = arg;
        struct core_ctx c;

        if (!h) {
                char en[1200], zh[1200];
                snprintf(en, sizeof en, "nothing was saved: %s (run `daiban doctor`, or sync again)",
                         why->en ? why->en : "the home cannot be opened");
                snprintf(zh, sizeof zh, "未保存任何内容：%s（请运行“本站检查”，或重新同步）",
                         why->zh ? why->zh : "无法打开本站数据");
                core_fail_both(&j->res, CORE_FAILED, why->code ? why->code : "internal", en, zh);
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

        if (readmodel_app_rows(r->st->h.st, r->key, &t, &n) < 0) {
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
        if (readmodel_app_rows(r->st->h.st, res->id, &t, &nt) < 0) {
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
        log_line("operator %s accepted %s", r->op, res->id);
        reply_json(r, 201, j);
}

void app_create(struct req *r)
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

void app_log_route(struct req *r, const char *id)
{
        struct app_row *t = NULL;
        size_t n = 0;
        json_t *events;

        if (!load_rows(r, id, &t, &n))
                return;
        events = readmodel_app_log(r->st->h.st, t, n);
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
void write_simple(struct req *r, const char *id, const char *what)
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

void scan_put(struct req *r, const char *id, const char *mat)
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

void sync_now(struct req *r)
{
        sync_start(r->st);
        reply_json(r, 202, status_json(r->st));
}
