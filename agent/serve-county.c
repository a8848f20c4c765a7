/* The station daemon: the catalogue's routes, and a county's
 * statistics and stations. See serve-int.h. */
#include "agent/serve-int.h"
#include "agent/core/form.h"

static const struct cat_division *township_of(const catalog *cat, const char *code);
static bool own_dir(struct req *r, const char *dir);
static const char *catalog_upload(struct req *r);
static void after_check(struct req *r, int status, const char *out, json_t *errs);
static void after_install(struct req *r, int status, const char *out, json_t *errs);

/* ---- catalogue routes ------------------------------------------------------- */

void matters(struct req *r)
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

void form(struct req *r, const char *code)
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

void validate(struct req *r, const char *code)
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

void reasons(struct req *r)
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

/* The statistics' groups, filled one application at a time. */
struct tally {
        const catalog *cat;
        const char *by;
        int32_t today;
        struct stat_row *rows, tot;
        size_t nrows;
        bool full;                      /* out of memory: the rest is left out */
};

static void tally(void *ud, const struct readmodel_stat *s)
{
        struct tally *t = ud;
        const char *origin = s->origin, *mcode = s->matter, *mname = s->matter_name, *status = s->status;
        long long due = s->due, rating = s->rating, decided = s->decided;
        struct stat_row *rows = t->rows;
        size_t nrows = t->nrows;

        if (t->full)
                return;
        char key[64], name[256];
        if (!strcmp(t->by, "matter")) {
                snprintf(key, sizeof key, "%s", mcode);
                snprintf(name, sizeof name, "%s", mname);
        } else {
                const struct cat_division *dv = !strcmp(t->by, "village") ? catalog_find_division(t->cat, origin)
                                                                        : township_of(t->cat, origin);
                snprintf(key, sizeof key, "%s", dv ? dv->code : origin);
                snprintf(name, sizeof name, "%s", dv ? dv->name : origin);
        }
        struct stat_row *g = NULL;
        for (size_t i = 0; i < nrows && !g; i++)
                if (!strcmp(rows[i].key, key))
                        g = &rows[i];
        if (!g) {
                struct stat_row *nr = realloc(rows, (nrows + 1) * sizeof *rows);
                if (!nr) {
                        t->full = true;
                        return;
                }
                t->rows = rows = nr;
                g = &rows[t->nrows++];
                memset(g, 0, sizeof *g);
                snprintf(g->key, sizeof g->key, "%s", key);
                snprintf(g->name, sizeof g->name, "%s", name);
        }
        bool open = app_status_open(status);
        bool isdone = !strcmp(status, "approved") || !strcmp(status, "rejected") || !strcmp(status, "delivered") ||
                      !strcmp(status, "rated");
        for (struct stat_row *x = g; x; x = x == g ? &t->tot : NULL) {
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
                        if (due >= 0 && cal_is_overdue((int32_t)due, t->today))
                                x->overdue++;
                }
                if (rating >= 1 && rating <= 5) {
                        x->rated++;
                        x->ratings[rating]++;
                        x->rating_sum += rating;
                }
        }
}

void stats(struct req *r)
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
        struct tally t = { .cat = st->h.cat, .by = by, .today = d };
        memset(&t.tot, 0, sizeof t.tot);
        snprintf(t.tot.key, sizeof t.tot.key, "total");
        snprintf(t.tot.name, sizeof t.tot.name, "合计");
        if (readmodel_stats(st->h.st, d0, d1, tally, &t) < 0 && !t.nrows) {
                reply_error(r, 500, "internal", "cannot read the store", "无法读取数据库");
                return;
        }
        struct stat_row *rows = t.rows, tot = t.tot;
        size_t nrows = t.nrows;
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

void stations(struct req *r)
{
        struct station *st = r->st;
        const catalog *cat = st->h.cat;
        json_t *a = json_array();
        long long now_ms = (long long)time(NULL) * 1000;

        /* the catalogue each station last captured under (its newest
         * application's): one pass over the applications */
        json_t *vers = readmodel_catalog_by_origin(st->h.st);
        for (size_t i = 0; i < catalog_ndivisions(cat); i++) {
                const struct cat_division *dv = catalog_division(cat, i);
                if (dv->level == LEVEL_COUNTY)
                        continue;
                json_t *last = json_null(), *days = json_null();
                long long w = readmodel_node_last_wall(st->h.st, dv->code);
                if (w >= 0) {
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
        log_line("operator %s published catalogue version %.12s", r->op, r->st->h.catalog_version);
        reply_json(r, 200, json_pack("{s:s,s:s,s:O}", "version", r->st->h.catalog_version, "output",
                                     json_string_value(json_object_get(r->ctx, "report")), "kept",
                                     json_object_get(r->ctx, "kept")));
}

void catalog_route(struct req *r, bool publish)
{
        const char *dir = catalog_upload(r);

        if (!dir)
                return;
        json_object_set_new(r->ctx, "publish", json_boolean(publish));
        const char *args[] = { "catalog", "check", "--json", "--", dir, NULL };
        run_write(r, args, after_check);
}
