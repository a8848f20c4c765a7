/* Capture: a new application (or a bundle's), its data edited, its
 * materials recorded (a scan stored as a blob), its acceptance with a
 * receipt number and a due date; what stops an acceptance. See
 * core.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "agent/core/act.h"
#include "forms/applicant.h"
#include "forms/calendar.h"
#include "sync/fold.h"

/* ---- what a draft may hold ------------------------------------------------------- */

/* Structural problems a draft may not be saved with (a draft may be
 * incomplete, but not hold fields the form does not have). */
static bool structural(const char *code)
{
        return strcmp(code, "unknown_field") == 0 || strcmp(code, "too_long") == 0 ||
               strcmp(code, "bad_type") == 0 || strcmp(code, "too_many_fields") == 0 ||
               strcmp(code, "bad_json") == 0 || strcmp(code, "text_encoding") == 0;
}

/* Validate data for a draft, appending its problems to res->problems:
 * CORE_INVALID when one is structural; else they are things still to
 * do. */
static int check_draft(const struct cat_form *form, const json_t *data, int32_t today, const char *what,
                       struct core_result *res)
{
        struct form_problems *p = &res->problems;
        size_t nbad = 0, before = p->n;

        if (form_validate(form, data, today, p, NULL) < 0)
                return core_fail_both(res, CORE_FAILED, "internal", "out of memory", "内存不足");
        for (size_t i = before; i < p->n; i++)
                nbad += structural(p->v[i].code);
        if (nbad)
                return core_fail(res, CORE_INVALID, "invalid", "%s refused: the data does not fit the form of %s:",
                                 "%s 被拒绝：数据与 %s 的表单不符：", what, form->code);
        return CORE_OK;
}

/* The part of a bundle's data that belongs to its member m while it is
 * a draft: m's top-level fields as the agent entered them. Relevance is
 * not applied yet: a draft keeps what was typed (an edit may make a
 * field relevant again); the acceptance stores form_split's part, the
 * fields m asks for under its own relevance rules. */
static json_t *member_data(const struct cat_matter *m, const json_t *data)
{
        json_t *out = json_object();

        for (size_t i = 0; out && i < m->nfields; i++) {
                json_t *v = json_object_get(data, m->fields[i].name);
                if (v)
                        json_object_set(out, m->fields[i].name, v);
        }
        return out;
}

/* ---- receipt numbers ------------------------------------------------------------- */

/* "101201-261124-007": the node's code within the county (township and
 * village digits; a township is its three digits and 000, the county
 * 000000), the acceptance date as YYMMDD, and that node's sequence on
 * that day. Unique across the county without coordination, because
 * only that node issues numbers with its prefix, and 15 digits are
 * short enough to read over the phone. */
static int next_receipt(struct core_ctx *c, int32_t day, char *out, size_t n)
{
        char prefix[32], local[7] = "000000";
        size_t len = strlen(c->node);
        int y, m, d;
        long best = 0;

        if (len > 6)
                memcpy(local, c->node + 6, len - 6 > 6 ? 6 : len - 6);
        cal_date_to_ymd(day, &y, &m, &d);
        snprintf(prefix, sizeof prefix, "%s-%02d%02d%02d-", local, y % 100, m, d);
        if (readmodel_receipt_max(c->h->st, prefix, &best) < 0)
                return -EIO;
        /* the day of an offline restore (and any before): the lost PC may
         * have numbered that day past the backup */
        char *eday = NULL;
        if (store_meta_get(c->h->st, HOME_EPOCH_DAY, &eday) == 0 && day <= atol(eday) && best < HOME_EPOCH_RECEIPTS)
                best = HOME_EPOCH_RECEIPTS;
        free(eday);
        snprintf(out, n, "%s%03ld", prefix, best + 1);
        return 0;
}

/* ---- acceptance: what stops an application ---------------------------------------- */

int app_material_problems(const struct cat_form *form, const json_t *data, int32_t today,
                          const char *(*state_of)(void *ctx, const char *material), void *ctx,
                          struct form_problems *p)
{
        bool *asked = calloc(form->nmaterials + 1, sizeof *asked);

        if (!asked)
                return -ENOMEM;
        form_materials_asked(form, data, today, asked);
        for (size_t i = 0; i < form->nmaterials; i++) {
                const struct cat_form_material *fm = &form->materials[i];
                const char *state;
                char path[128], zh[512], en[512];

                if (!asked[i] || !fm->required)
                        continue;
                state = state_of(ctx, fm->material->code);
                if (strcmp(state, "provided") == 0)
                        continue;
                if (strcmp(state, "deficient") == 0 && fm->deficiency_ok)
                        continue;
                snprintf(path, sizeof path, "materials.%s", fm->material->code);
                if (strcmp(state, "deficient") == 0) {
                        snprintf(zh, sizeof zh, "%s：该材料不允许容缺，须当场提交", fm->material->name_zh);
                        snprintf(en, sizeof en, "%s: this material may not be supplied later; it is needed now",
                                 fm->material->name_en);
                        form_problem_add(p, path, "deficiency_not_allowed", zh, en);
                } else {
                        snprintf(zh, sizeof zh, "缺少材料：%s（%s %d 份）", fm->material->name_zh,
                                 cat_mkind_name_zh(fm->kind), fm->copies);
                        snprintf(en, sizeof en, "missing material: %s (%s, %d)", fm->material->name_en,
                                 cat_mkind_name(fm->kind), fm->copies);
                        form_problem_add(p, path, "material_missing", zh, en);
                }
        }
        free(asked);
        return 0;
}

struct stored_materials {
        const struct app_row *r;
        store *st;
        char state[32];
};

static const char *stored_state(void *ctx, const char *material)
{
        struct stored_materials *sm = ctx;
        long long promise;

        return act_material_state(sm->st, sm->r, material, &promise, sm->state);
}

int app_acceptance_problems(struct home *h, const struct app_row *r, int32_t today, struct form_problems *p)
{
        const catalog *cat = home_catalog_for(h, r->catalog);
        const struct cat_matter *m = cat ? catalog_find_matter(cat, r->matter) : NULL;
        struct stored_materials sm = { .r = r, .st = h->st };

        if (!cat)
                return -EAGAIN;
        if (!m)
                return -ENOENT;
        if (form_validate(m->form, r->data, today, p, NULL) < 0)
                return -ENOMEM;
        return app_material_problems(m->form, r->data, today, stored_state, &sm, p);
}

/* ---- new ---------------------------------------------------------------------------- */

static int new_materials(struct core_ctx *c, const char *key, const json_t *list, struct core_result *res);
static int accept(struct core_ctx *c, const char *key, bool created, struct core_result *res);

/* The members a new application of code stands for: one matter, or a
 * bundle's; CORE_OK, or refused when this node may not accept it. */
static int members_of(struct core_ctx *c, const char *code, const struct cat_matter **ms, size_t *nms,
                      const struct cat_bundle **ret_b, struct core_result *res)
{
        const struct cat_division *div = catalog_find_division(c->h->cat, c->node);
        const struct cat_bundle *b = catalog_find_bundle(c->h->cat, code);
        bool may;

        *nms = 0;
        *ret_b = b;
        if (b) {
                may = catalog_bundle_may_accept(b, div);
                for (size_t i = 0; i < b->nmatters && *nms < 64; i++)
                        ms[(*nms)++] = b->matters[i];
        } else {
                const struct cat_matter *m = catalog_find_matter(c->h->cat, code);
                may = catalog_may_accept(m, div);
                ms[(*nms)++] = m;
        }
        if (!may)
                return core_fail(res, CORE_REFUSED, "refused", "%s %s may not accept %s (see 'daiban catalog accept')",
                                 "%s %s 无权受理 %s（见“daiban catalog accept”）", c->node, div ? div->name : "?", code);
        return CORE_OK;
}

int core_app_new(struct core_ctx *c, const struct core_new *in, struct core_result *res)
{
        const struct cat_matter *ms[64];
        const struct cat_bundle *b;
        const struct cat_form *form;
        size_t nms = 0;
        char bundle_id[64] = "";
        int r;

        if (in->request && !app_key_ok(in->request, strlen(in->request)))
                return core_fail(res, CORE_USAGE, "bad_request",
                                 "--request needs 1 to 64 letters, digits, '.', '_' or '-', not '%s'",
                                 "--request 应为 1 至 64 个字母、数字、“.”“_”或“-”，而不是“%s”", in->request);
        if (!json_is_object(in->data))
                return core_fail_both(res, CORE_USAGE, "bad_request", "the application data must be a JSON object ({...})",
                                      "申请数据应为一个 JSON 对象（{…}）");
        if (in->materials && !json_is_array(in->materials))
                return core_fail_both(res, CORE_REFUSED, "bad_request",
                                      "--materials: the file must hold a JSON array of {\"material\",\"state\",\"promise\"}",
                                      "--materials：文件应为 {\"material\",\"state\",\"promise\"} 组成的 JSON 数组");
        if ((r = core_check_operator(c, res)))
                return r;
        form = catalog_find_form(c->h->cat, in->code);
        if (!form)
                return core_fail(res, CORE_NOT_FOUND, "not_found",
                                 "no matter or bundle '%s' in the catalogue; see 'daiban catalog accept'",
                                 "目录清单中没有事项或一件事“%s”；请查看“daiban catalog accept”", in->code);
        if ((r = members_of(c, in->code, ms, &nms, &b, res)) || (r = check_draft(form, in->data, c->today, "app new", res)))
                return r;
        if ((r = act_begin(c, res)))
                return r;
        if (in->request) {
                char done[64], code[64];
                /* what an earlier creation with this request key at this
                 * node made, inside the writing transaction, so two tries
                 * of one request cannot both create */
                int d = readmodel_request_find(c->h->st, c->node, in->request, done, sizeof done, code, sizeof code);
                if (d < 0)
                        return act_store_failed(c, res);
                if (d > 0) {
                        store_rollback(c->h->st);
                        if (strcmp(code, in->code))
                                return core_fail(res, CORE_REFUSED, "refused",
                                                 "request %s already created %s for %s, not %s; use a new request key",
                                                 "请求 %s 已为 %s 建立了 %s，不是 %s；请换一个请求标识", in->request, code,
                                                 done, in->code);
                        /* the same request again (its answer was lost):
                         * what it created, and nothing new */
                        snprintf(res->id, sizeof res->id, "%s", done);
                        res->repeated = true;
                        form_problems_reset(&res->problems);
                        return CORE_OK;
                }
        }
        int64_t seq = store_next_seq(c->h->st, c->node);
        const struct cat_division *div = catalog_find_division(c->h->cat, c->node);
        if (b)
                snprintf(bundle_id, sizeof bundle_id, "B%s-%" PRId64, c->node, seq);
        for (size_t i = 0; i < nms; i++) {
                const struct cat_matter *m = ms[i];
                const struct cat_division *rv = m->review_at ? catalog_division_at(div, m->review_at) : NULL;
                const struct cat_division *dv = catalog_division_at(div, m->decide_at);
                char id[64];
                json_t *part = b ? member_data(m, in->data) : json_deep_copy(in->data);
                const char *name, *aid;
                char *text = act_dump(part);

                snprintf(id, sizeof id, "%s-%" PRId64, c->node, store_next_seq(c->h->st, c->node));
                /* a bundle has one applicant: its merged form decides */
                form_applicant_of(b ? form : m->form, b ? in->data : part, &name, &aid);
                json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:I}", "matter", m->code,
                                         "matter_name", m->name_zh, "origin", c->node, "data", text ? text : "{}",
                                         "reviewer", rv ? rv->code : NULL, "decider", dv ? dv->code : NULL,
                                         "bundle", b ? bundle_id : NULL, "bundle_code", b ? b->code : NULL,
                                         "applicant", name, "time_limit", (json_int_t)m->time_limit_days);
                if (body && aid)
                        json_object_set_new(body, "applicant_id", json_string(aid));
                if (body)
                        json_object_set_new(body, "catalog", json_string(c->h->catalog_version));
                if (body && in->request)
                        json_object_set_new(body, "request", json_string(in->request));
                free(text);
                json_decref(part);
                if (!dv) {
                        json_decref(body);
                        return act_store_failed(c, res);
                }
                if (act_emit(c, "app.created", id, c->node, body) < 0)
                        return act_store_failed(c, res);
                if (!b)
                        snprintf(bundle_id, sizeof bundle_id, "%s", id);
        }
        if (in->materials) {
                r = new_materials(c, bundle_id, in->materials, res);
                if (r) {
                        store_rollback(c->h->st);
                        return r;
                }
        }
        snprintf(res->id, sizeof res->id, "%s", bundle_id);
        if (in->submit)
                /* create and accept in one transaction: a refusal changes
                 * nothing */
                return accept(c, bundle_id, true, res);
        if ((r = act_commit(c, res)))
                return r;
        return CORE_OK;
}

/* ---- edit ------------------------------------------------------------------------------ */

/* The events of rows t[0..n) appended: free them, commit, and answer key
 * as the id. CORE_OK or the commit's failure. */
static int commit_rows(struct core_ctx *c, struct app_row *t, size_t n, const char *key, struct core_result *res)
{
        int r;

        app_rows_free(t, n);
        if ((r = act_commit(c, res)))
                return r;
        snprintf(res->id, sizeof res->id, "%s", key);
        return CORE_OK;
}

int core_app_edit(struct core_ctx *c, const char *key, const json_t *data, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0;
        int r;

        if (!json_is_object(data))
                return core_fail_both(res, CORE_USAGE, "bad_request", "the application data must be a JSON object ({...})",
                                      "申请数据应为一个 JSON 对象（{…}）");
        if ((r = core_check_operator(c, res)))
                return r;
        if ((r = act_begin(c, res)))
                return r;
        if ((r = core_app_rows(c->h, key, &t, &n, res)))
                goto fail;
        for (size_t i = 0; i < n; i++) {
                const char *name, *aid;
                if ((r = act_check_rule(c, &t[i], "app.edited", NULL, res)))
                        goto fail;
                const struct cat_matter *m = act_matter_of(c, &t[i], res);
                if (!m) {
                        r = res->status;
                        goto fail;
                }
                json_t *part = n > 1 ? member_data(m, data) : json_deep_copy(data);
                if ((r = check_draft(m->form, part, c->today, "app edit", res))) {
                        json_decref(part);
                        goto fail;
                }
                char *text = act_dump(part);
                /* a bundle has one applicant: its merged form decides */
                const catalog *cv = home_catalog_for(c->h, t[i].catalog);
                const struct cat_form *bf = n > 1 && t[i].bundle_code[0] && cv ? catalog_find_form(cv, t[i].bundle_code)
                                                                               : NULL;
                form_applicant_of(bf ? bf : m->form, bf ? data : part, &name, &aid);
                json_t *body = json_pack("{s:s,s:s?,s:s?}", "data", text ? text : "{}", "applicant", name,
                                         "applicant_id", aid);
                free(text);
                json_decref(part);
                if (act_emit(c, "app.edited", t[i].id, t[i].origin, body) < 0) {
                        r = act_store_failed(c, res);
                        goto fail;
                }
        }
        return commit_rows(c, t, n, key, res);
fail:
        store_rollback(c->h->st);
        app_rows_free(t, n);
        return r;
}

/* ---- materials -------------------------------------------------------------------------- */

static const struct cat_form_material *form_material(const struct cat_form *form, const char *code)
{
        for (size_t i = 0; i < form->nmaterials; i++)
                if (strcmp(form->materials[i].material->code, code) == 0)
                        return &form->materials[i];
        return NULL;
}

static bool material_state_ok(const char *state)
{
        return state && (!strcmp(state, "provided") || !strcmp(state, "missing") || !strcmp(state, "deficient"));
}

/* Record one material's state on the applications t[0..n) (one, or a
 * bundle's members, each if its form asks for it), in the open
 * transaction. CORE_OK, or the refusal (the caller rolls back);
 * CORE_FAILED when the store failed (rolled back already). */
static int record_material(struct core_ctx *c, struct app_row *t, size_t n, const char *key, const char *code,
                           const char *state, int32_t promise, const char *blob, struct core_result *res)
{
        size_t applied = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                const struct cat_matter *m = act_matter_of(c, &t[i], res);
                const struct cat_form_material *fm = m ? form_material(m->form, code) : NULL;
                if (!m)
                        return res->status;
                if (!fm)
                        continue;       /* a bundle member that does not ask for it */
                if ((r = act_check_rule(c, &t[i], "app.material", NULL, res)))
                        return r;
                if (!strcmp(state, "deficient")) {
                        int32_t limit;
                        if (!fm->deficiency_ok)
                                return core_fail(res, CORE_REFUSED, "refused",
                                                 "%s: %s may not be supplied later (no 容缺 for it in %s)",
                                                 "%s：%s 不允许容缺（%s）", t[i].id, fm->material->name_zh, m->code);
                        cal_add_workdays(catalog_calendar(c->h->cat), c->today, fm->deficiency_days, &limit);
                        if (promise >= 0 && (promise < c->today || promise > limit)) {
                                char a[11], b2[11];
                                cal_date_format(c->today, a);
                                cal_date_format(limit, b2);
                                return core_fail(res, CORE_REFUSED, "refused",
                                                 "%s: the promised date must be between %s and %s (%d working days)",
                                                 "%s：承诺补交日期应在 %s 至 %s 之间（%d 个工作日）", fm->material->name_zh,
                                                 a, b2, fm->deficiency_days);
                        }
                }
                json_t *body = json_pack("{s:s,s:s}", "material", fm->material->code, "state", state);
                if (body && blob && blob[0])
                        json_object_set_new(body, "blob", json_string(blob));
                if (body && promise >= 0)
                        json_object_set_new(body, "promise", json_integer(promise));
                if (act_emit(c, "app.material", t[i].id, t[i].origin, body) < 0)
                        return act_store_failed(c, res);
                applied++;
        }
        if (!applied)
                return core_fail(res, CORE_REFUSED, "refused", "%s does not ask for material '%s'; see 'daiban app show %s'",
                                 "%s 不需要材料“%s”；请查看“daiban app show %s”", key, code, key);
        return CORE_OK;
}

/* A scan as a blob of the home's repository (content addressed, so a
 * scan sent twice is stored once), fsynced before the event names it. */
static int store_scan(struct core_ctx *c, const void *buf, size_t len, char hex[41], struct core_result *res)
{
        char repo_path[4096];
        git_repository *repo = NULL;
        git_oid oid;
        size_t max = home_max_file_bytes();
        int r = CORE_OK;

        if (len > max)
                return core_fail(res, CORE_REFUSED, "too_large",
                                 "the scan is %.2f MiB; scanned materials may be at most %.2f MiB "
                                 "(scan at 150-200 dpi in grey, or as JPEG)",
                                 "扫描件有 %.2f MiB；扫描件最大 %.2f MiB（请用 150-200 dpi 灰度或 JPEG 扫描）",
                                 (double)len / 1048576.0, (double)max / 1048576.0);
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(repo_path, sizeof repo_path, "%s/repo", c->h->dir);
        if (git_repository_open_bare(&repo, repo_path) < 0 || git_blob_create_from_buffer(&oid, repo, buf, len) < 0) {
                const git_error *ge = git_error_last();
                r = core_fail(res, CORE_FAILED, "io_error", "cannot store the scan in %s: %s", "无法把扫描件保存到 %s：%s",
                              repo_path, ge ? ge->message : "?");
        } else {
                git_oid_tostr(hex, 41, &oid);
        }
        git_repository_free(repo);
        git_libgit2_shutdown();
        return r;
}

int core_material_check(const struct core_material *in, bool scan, int32_t *promise, struct core_result *res)
{
        const char *state = in->state, *promise_text = in->promise;

        *promise = -1;
        if (!material_state_ok(state))
                return core_fail(res, CORE_USAGE, "bad_request", "the state is provided, missing or deficient, not '%s'",
                                 "材料状态应为 provided、missing 或 deficient，而不是“%s”", state ? state : "");
        if (scan && strcmp(state, "provided") != 0)
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "--file goes with 'provided': a scan is a material that was provided",
                                      "--file 只用于 provided：有扫描件即表示材料已提供");
        if (promise_text && *promise_text &&
            (strcmp(state, "deficient") || cal_date_parse(promise_text, promise) < 0))
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "--promise YYYY-MM-DD goes with 'deficient' (a real date)",
                                      "--promise YYYY-MM-DD 只用于 deficient（容缺），且须为有效日期");
        if (!in->material || !*in->material)
                return core_fail_both(res, CORE_USAGE, "bad_request", "which material?", "请说明是哪一项材料");
        return CORE_OK;
}

int core_app_material(struct core_ctx *c, const char *key, const struct core_material *in, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0;
        int32_t promise;
        int r;

        if ((r = core_material_check(in, in->scan != NULL, &promise, res)))
                return r;
        if ((r = core_check_operator(c, res)))
                return r;
        if (in->scan) {
                /* no blob for an application that is not here */
                if ((r = core_app_rows(c->h, key, &t, &n, res)))
                        return r;
                app_rows_free(t, n);
                t = NULL;
                n = 0;
                if ((r = store_scan(c, in->scan, in->scan_len, res->blob, res)))
                        return r;
        }
        if ((r = act_begin(c, res)))
                return r;
        if ((r = core_app_rows(c->h, key, &t, &n, res)) ||
            (r = record_material(c, t, n, key, in->material, in->state, promise, res->blob, res))) {
                store_rollback(c->h->st);
                app_rows_free(t, n);
                return r;
        }
        app_rows_free(t, n);
        if ((r = act_commit(c, res)))
                return r;
        snprintf(res->id, sizeof res->id, "%s", key);
        return CORE_OK;
}

/* A new application's materials ([{"material","state","promise"}]),
 * recorded in the creating transaction. */
static int new_materials(struct core_ctx *c, const char *key, const json_t *list, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0, i;
        json_t *m;
        int r;

        if ((r = core_app_rows(c->h, key, &t, &n, res)))
                return r;
        json_array_foreach(list, i, m) {
                const char *code = json_string_value(json_object_get(m, "material"));
                const char *state = json_string_value(json_object_get(m, "state"));
                const char *ps = json_string_value(json_object_get(m, "promise"));
                int32_t promise = -1;
                if (!code || !material_state_ok(state)) {
                        r = core_fail(res, CORE_REFUSED, "bad_request",
                                      "--materials: entry %zu needs \"material\" and a \"state\" (provided, missing or deficient)",
                                      "--materials：第 %zu 项需要 \"material\" 和 \"state\"（provided、missing 或 deficient）", i + 1);
                        break;
                }
                if (ps && *ps && (strcmp(state, "deficient") || cal_date_parse(ps, &promise) < 0)) {
                        r = core_fail(res, CORE_REFUSED, "bad_request",
                                      "--materials: %s: a promised date (YYYY-MM-DD) goes with 'deficient'",
                                      "--materials：%s：承诺补交日期（YYYY-MM-DD）只用于 deficient（容缺）", code);
                        break;
                }
                if ((r = record_material(c, t, n, key, code, state, promise, NULL, res)))
                        break;
        }
        app_rows_free(t, n);
        return r;
}

/* ---- acceptance ------------------------------------------------------------------------- */

/* created: key was created in the open transaction by core_app_new;
 * then the creation and the acceptance are one transaction, and a
 * refusal leaves nothing behind. */
static int accept(struct core_ctx *c, const char *key, bool created, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0;
        struct form_problems *p = &res->problems;
        char receipt[64] = "", sub[80];
        int r;

        form_problems_reset(p);
        res->at_acceptance = true;
        if (!created && (r = act_begin(c, res)))
                return r;
        if ((r = core_app_rows(c->h, key, &t, &n, res)))
                goto fail;
        bool resubmit = strcmp(t[0].status, ST_RETURNED) == 0;
        for (size_t i = 0; i < n; i++) {
                if ((r = act_check_rule(c, &t[i], resubmit ? "app.resubmitted" : "app.submitted", NULL, res)))
                        goto fail;
                size_t before = p->n;
                if (!act_matter_of(c, &t[i], res)) {
                        r = res->status;
                        goto fail;
                }
                if (app_acceptance_problems(c->h, &t[i], c->today, p) < 0) {
                        r = core_fail_both(res, CORE_FAILED, "internal", "out of memory", "内存不足");
                        goto fail;
                }
                for (size_t k = before; k < p->n && n > 1; k++) {
                        /* prefix bundle members' problems with their matter */
                        char *np = malloc(strlen(p->v[k].path) + strlen(t[i].matter) + 2);
                        if (np) {
                                sprintf(np, "%s:%s", t[i].matter, p->v[k].path);
                                free(p->v[k].path);
                                p->v[k].path = np;
                        }
                }
        }
        if (p->n) {
                r = core_fail(res, CORE_INVALID, "invalid",
                              "%s cannot be accepted yet; %zu problems (print them for the applicant with "
                              "'daiban app notice %s'):",
                              "%s 暂不能受理，共 %zu 个问题（可用“daiban app notice %s”打印一次性告知单）：", key, p->n, key);
                goto fail;
        }
        if (!resubmit && next_receipt(c, c->today, receipt, sizeof receipt) < 0) {
                app_rows_free(t, n);
                return act_store_failed(c, res);
        }
        for (size_t i = 0; i < n; i++) {
                /* the form, materials and time limit of the version it was
                 * captured under; the newest working-day calendar */
                const struct cat_matter *m = act_matter_of(c, &t[i], res);
                const calendar *cal = catalog_calendar(c->h->cat);
                int32_t due;
                /* what is stored: the fields its own form asks for,
                 * under its own relevance rules */
                json_t *clean = form_split(m, t[i].data, c->today), *defs = json_array();

                cal_add_workdays(cal, c->today, m->time_limit_days, &due);
                for (size_t k = 0; k < m->form->nmaterials; k++) {
                        const struct cat_form_material *fm = &m->form->materials[k];
                        long long promise;
                        char state[32];
                        act_material_state(c->h->st, &t[i], fm->material->code, &promise, state);
                        if (strcmp(state, "deficient") != 0)
                                continue;
                        if (promise < 0) {
                                int32_t d;
                                cal_add_workdays(cal, c->today, fm->deficiency_days, &d);
                                promise = d;
                        }
                        json_array_append_new(defs, json_pack("{s:s,s:I}", "material", fm->material->code, "promise",
                                                              (json_int_t)promise));
                }
                char *text = clean ? act_dump(clean) : NULL;
                json_decref(clean);
                json_t *body = json_pack("{s:I,s:I,s:o,s:s?}", "accepted_on", (json_int_t)c->today, "due",
                                         (json_int_t)due, "deficiencies", defs, "data", text);
                free(text);
                if (body && !resubmit) {
                        if (n > 1) {
                                snprintf(sub, sizeof sub, "%s-%zu", receipt, i + 1);
                                json_object_set_new(body, "receipt", json_string(sub));
                                json_object_set_new(body, "bundle_receipt", json_string(receipt));
                        } else {
                                json_object_set_new(body, "receipt", json_string(receipt));
                        }
                }
                if (act_emit(c, resubmit ? "app.resubmitted" : "app.submitted", t[i].id, t[i].origin, body) < 0) {
                        r = act_store_failed(c, res);
                        goto fail;
                }
        }
        if ((r = commit_rows(c, t, n, key, res)))
                return r;
        snprintf(res->receipt, sizeof res->receipt, "%s", receipt);
        res->resubmitted = resubmit;
        return CORE_OK;
fail:
        store_rollback(c->h->st);
        app_rows_free(t, n);
        return r;
}

int core_app_submit(struct core_ctx *c, const char *key, struct core_result *res)
{
        int r = core_check_operator(c, res);

        return r ? r : accept(c, key, false, res);
}
