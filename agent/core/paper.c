/* The paperwork a station prints, in Chinese: the acceptance receipt
 * (受理回执) and the one-time notification (一次性告知单), as plain text
 * for the terminal or as HTML with print CSS (A4, black on white). Each
 * sheet is written to a memory stream and handed to the front as text:
 * the core prints nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/app.h"
#include "forms/catalog.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

static void esc(FILE *f, const char *s, bool html)
{
        if (!html) {
                fputs(s, f);
                return;
        }
        for (; *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                default: fputc(*s, f);
                }
}

static const char css[] =
        "<style>\n"
        "@page { size: A4; margin: 18mm 16mm; }\n"
        "body { font-family: 'Noto Serif CJK SC', 'Songti SC', SimSun, serif; font-size: 12pt; color: #000; }\n"
        "h1 { text-align: center; font-size: 18pt; letter-spacing: 0.3em; margin: 0 0 6mm; }\n"
        "table { width: 100%; border-collapse: collapse; margin: 3mm 0; }\n"
        "th, td { border: 1px solid #000; padding: 2mm 3mm; text-align: left; vertical-align: top; }\n"
        "th { width: 24%; font-weight: normal; background: #f2f2f2; }\n"
        ".no { font-size: 16pt; font-weight: bold; letter-spacing: 0.05em; }\n"
        ".sign { margin-top: 10mm; display: flex; justify-content: space-between; }\n"
        "@media print { .noprint { display: none; } th { background: none; } }\n"
        "</style>\n";

/* A line of a sheet: escaped in the HTML element tag, or as text after
 * indent. */
static void line_out(FILE *f, const char *tag, const char *indent, const char *line, bool html)
{
        if (html) {
                fprintf(f, "<%s>", tag);
                esc(f, line, true);
                fprintf(f, "</%s>\n", tag);
        } else {
                fprintf(f, "%s%s\n", indent, line);
        }
}

static void head(FILE *f, const char *title, bool html)
{
        if (html)
                fprintf(f, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
                           "<title>%s</title>\n%s</head>\n<body>\n<h1>%s</h1>\n", title, css, title);
        else
                fprintf(f, "%s\n%s\n\n", title, "========================================");
}

static void tail(FILE *f, bool html)
{
        if (html)
                fputs("<button class=\"noprint\" onclick=\"window.print()\">打印</button>\n</body>\n</html>\n", f);
}

static void row(FILE *f, const char *label, const char *value, bool html)
{
        if (html) {
                fprintf(f, "<tr><th>%s</th><td>", label);
                esc(f, value, true);
                fputs("</td></tr>\n", f);
        } else {
                fprintf(f, "%s：%s\n", label, value);
        }
}

static const char *date_cn(long long day, char *buf, size_t n)
{
        int y, m, d;

        if (day < 0)
                return "—";
        cal_date_to_ymd((int32_t)day, &y, &m, &d);
        snprintf(buf, n, "%d年%d月%d日", y, m, d);
        return buf;
}

/* An operator as paper names them: their name (a login ID means
 * nothing to a villager), or the ID when no name is known. */
static const char *operator_name(struct home *h, const char *node, const char *id, char *buf, size_t n)
{
        struct readmodel_operator o;

        snprintf(buf, n, "%s", id);
        if (readmodel_operator(h->st, node, id, &o) == 0)
                snprintf(buf, n, "%s", o.name);
        return buf;
}

static const struct cat_form_material *form_material(const struct cat_form *form, const char *code)
{
        for (size_t i = 0; form && i < form->nmaterials; i++)
                if (strcmp(form->materials[i].material->code, code) == 0)
                        return &form->materials[i];
        return NULL;
}

/* The notes the definitions of fm give, each once, joined with "；"
 * (a bundle's members may each say whose card it is). */
static const char *note_of(const struct cat_form_material *fm, char *buf, size_t n)
{
        size_t w = 0;

        buf[0] = '\0';
        for (size_t i = 0; fm && i < fm->ndefs; i++) {
                const char *note = fm->defs[i]->note_zh;
                bool dup = false;
                for (size_t k = 0; note && k < i; k++)
                        dup |= fm->defs[k]->note_zh && !strcmp(fm->defs[k]->note_zh, note);
                if (!note || dup || w >= n)
                        continue;
                int r = snprintf(buf + w, n - w, "%s%s", w ? "；" : "", note);
                if (r > 0)
                        w += (size_t)r;
        }
        return buf[0] ? buf : NULL;
}

/* A material as a sheet names it: its name, kind and copies as form
 * shows them (its code when the form lacks it), and the date promised
 * for it (promise >= 0), into line (n bytes). */
static void material_line(char *line, size_t n, const struct cat_form *form, const char *code, long long promise)
{
        const struct cat_form_material *fm = form_material(form, code);
        char buf[64];
        int k = snprintf(line, n, "%s %s %d份", fm ? fm->material->name_zh : code, fm ? cat_mkind_name_zh(fm->kind) : "",
                         fm ? fm->copies : 1);

        if (promise >= 0 && k > 0 && (size_t)k < n)
                snprintf(line + k, n - (size_t)k, "，请于%s前补交", date_cn(promise, buf, sizeof buf));
}

static const struct cat_matter *matter_in(struct home *h, const struct app_row *r)
{
        const catalog *cat = home_catalog_for(h, r->catalog);
        return cat ? catalog_find_matter(cat, r->matter) : NULL;
}

/* One line per material of application r in state `state`. */
static size_t materials(FILE *f, struct home *h, const struct app_row *r, const char *state, bool html)
{
        const struct cat_matter *m = matter_in(h, r);
        struct readmodel_material *v;
        size_t n = 0, nv;

        if (readmodel_materials(h->st, r->id, state, &v, &nv) < 0)
                return 0;
        for (size_t i = 0; i < nv; i++) {
                char line[512];
                int k = snprintf(line, sizeof line, "%zu. ", n + 1);
                material_line(line + k, sizeof line - (size_t)k, m ? m->form : NULL, v[i].material, v[i].promise);
                line_out(f, "div", "    ", line, html);
                n++;
        }
        free(v);
        if (!n)
                fputs(html ? "<div>无</div>\n" : "    无\n", f);
        return n;
}

static void receipt_to(FILE *f, struct home *h, const struct app_row *rows, size_t n, bool html)
{
        char a[64], b[64], op[256], tl[160];

        head(f, "受 理 回 执", html);
        if (html)
                fputs("<table>\n", f);
        row(f, "受理编号", rows[0].bundle_receipt[0] ? rows[0].bundle_receipt : rows[0].receipt, html);
        row(f, "申请人", rows[0].applicant[0] ? rows[0].applicant : "—", html);
        if (rows[0].applicant_id[0])
                row(f, "证件号码", rows[0].applicant_id, html);
        if (rows[0].bundle[0])
                row(f, "一件事", rows[0].bundle_code, html);
        row(f, "受理日期", date_cn(rows[0].accepted_on, a, sizeof a), html);
        if (html)
                fputs("</table>\n", f);
        for (size_t i = 0; i < n; i++) {
                const struct app_row *r = &rows[i];
                char matter[512];
                snprintf(matter, sizeof matter, "%s（%s）", r->matter_name, r->matter);
                snprintf(tl, sizeof tl, "%lld个工作日，%s前办结", r->time_limit, date_cn(r->due, b, sizeof b));
                if (html)
                        fputs("<table>\n", f);
                else
                        fputs("\n", f);
                row(f, "事项", matter, html);
                if (n > 1)
                        row(f, "分项编号", r->receipt, html);
                row(f, "承诺时限", tl, html);
                if (html)
                        fputs("<tr><th>已收材料</th><td>\n", f);
                else
                        fputs("已收材料：\n", f);
                materials(f, h, r, "provided", html);
                if (html)
                        fputs("</td></tr>\n<tr><th>容缺材料</th><td>\n", f);
                else
                        fputs("容缺材料（请按期补交，逾期将影响办理）：\n", f);
                materials(f, h, r, "deficient", html);
                if (html)
                        fputs("</td></tr>\n</table>\n", f);
        }
        snprintf(a, sizeof a, "%s（%s）", h->name, h->node);
        if (html)
                fputs("<table>\n", f);
        else
                fputs("\n", f);
        row(f, "受理站点", a, html);
        row(f, "经办人", operator_name(h, rows[0].origin, rows[0].accepted_by, op, sizeof op), html);
        if (html)
                fputs("</table>\n<p>请妥善保管本回执，凭受理编号查询办理进度、领取办理结果。</p>\n"
                      "<div class=\"sign\"><span>申请人签字：</span><span>（受理专用章）</span></div>\n", f);
        else
                fputs("\n请妥善保管本回执，凭受理编号查询办理进度、领取办理结果。\n申请人签字：__________        （受理专用章）\n", f);
        tail(f, html);
}

/* The form the villager was shown for rows: a bundle's merged form when
 * rows are its members, else the matter's own. */
static const struct cat_form *form_of(struct home *h, const struct app_row *rows, size_t n)
{
        const catalog *cat = home_catalog_for(h, rows[0].catalog);
        const struct cat_bundle *b = n > 1 && rows[0].bundle_code[0] && cat
                                             ? catalog_find_bundle(cat, rows[0].bundle_code) : NULL;
        const struct cat_matter *m = b ? NULL : matter_in(h, &rows[0]);

        return b ? b->form : m ? m->form : NULL;
}


static void item(FILE *f, const char *line, size_t k, bool html)
{
        if (html) {
                fputs("<li>", f);
                esc(f, line, true);
                fputs("</li>\n", f);
        } else {
                fprintf(f, "  %zu. %s\n", k, line);
        }
}

/* Whether problem j repeats an earlier one: a shared field's problem
 * found once per member matter, or a material every member asks for. */
static bool seen_before(const struct form_problems *p, size_t j)
{
        bool mat = !strncmp(p->v[j].path, "materials.", 10);

        for (size_t k = 0; k < j; k++)
                if (!strcmp(p->v[k].path, p->v[j].path) && (mat || !strcmp(p->v[k].msg_zh, p->v[j].msg_zh)))
                        return true;
        return false;
}

/* Materials accepted as deficient (容缺) across rows, one line each with
 * the earliest date promised for it. Returns the lines printed. */
static size_t deficient(FILE *f, struct home *h, const struct cat_form *form, const struct app_row *rows, size_t n,
                        bool html)
{
        struct readmodel_material *v;
        size_t k = 0, nv;
        char line[512];

        /* rows are one application or all the members of one bundle */
        bool bundle = n > 1 && rows[0].bundle[0];
        if (readmodel_deficient(h->st, bundle ? rows[0].bundle : rows[0].id, bundle, &v, &nv) < 0)
                return 0;
        for (size_t i = 0; i < nv; i++) {
                material_line(line, sizeof line, form, v[i].material, v[i].promise);
                if (!k && html)
                        fputs("<ol>\n", f);
                item(f, line, ++k, html);
        }
        free(v);
        if (k && html)
                fputs("</ol>\n", f);
        if (!k)
                fputs(html ? "<div>无</div>\n" : "    无\n", f);
        return k;
}

/* The top of a notice: who, what, when, where, and whom to call. */
static void notice_open(FILE *f, struct home *h, const char *applicant, const struct cat_form *form,
                        const struct app_row *rows, size_t n, int32_t today, bool html)
{
        char a[64], line[1024];

        head(f, "一次性告知单", html);
        if (html)
                fputs("<table>\n", f);
        row(f, "申请人", applicant && *applicant ? applicant : "—", html);
        if (form && form->is_bundle) {
                int w = snprintf(line, sizeof line, "%s（%s）", form->name_zh, form->code);
                /* and its members: the ones applied for, else all the bundle joins */
                for (size_t i = 0; i < (rows ? n : form->nmatters) && w > 0 && (size_t)w < sizeof line; i++)
                        w += snprintf(line + w, sizeof line - (size_t)w, "%s%s", i ? "、" : "：",
                                      rows ? rows[i].matter_name : form->matters[i]->name_zh);
        } else if (form) {
                snprintf(line, sizeof line, "%s（%s）", form->name_zh, form->code);
        } else {
                snprintf(line, sizeof line, "%s（%s）", rows[0].matter_name, rows[0].matter);
        }
        row(f, form && form->is_bundle ? "一件事" : "事项", line, html);
        row(f, "告知日期", date_cn(today, a, sizeof a), html);
        snprintf(line, sizeof line, "%s（%s）", h->name, h->node);
        row(f, "告知站点", line, html);
        if (h->div && h->div->phone)
                row(f, "咨询电话", h->div->phone, html);
        if (html)
                fputs("</table>\n", f);
}

/* Each problem of p once, the form's first and then the materials with
 * what to bring as form shows them. Returns the lines printed. */
static size_t notice_problems(FILE *f, const struct cat_form *form, const struct form_problems *p, bool html)
{
        char line[1024];
        size_t total = 0;

        for (int pass = 0; pass < 2; pass++) {
                bool any = false;
                size_t k = 0;
                for (size_t j = 0; j < p->n; j++) {
                        bool is_mat = !strncmp(p->v[j].path, "materials.", 10);
                        if (is_mat != (pass == 1) || seen_before(p, j))
                                continue;
                        if (!any) {
                                const char *t = pass ? "请补齐以下材料：" : "请补正以下填报内容：";
                                fprintf(f, html ? "<h3>%s</h3>\n<ol>\n" : "%s\n", t);
                                any = true;
                        }
                        if (is_mat) {
                                const struct cat_form_material *fm = form_material(form, p->v[j].path + 10);
                                char notes[512];
                                const char *note = note_of(fm, notes, sizeof notes);
                                snprintf(line, sizeof line, "%s，%s %d 份%s%s",
                                         fm ? fm->material->name_zh : p->v[j].path + 10,
                                         fm ? cat_mkind_name_zh(fm->kind) : "", fm ? fm->copies : 1, note ? "。" : "",
                                         note ? note : "");
                        } else {
                                snprintf(line, sizeof line, "%s", p->v[j].msg_zh);
                        }
                        item(f, line, ++k, html);
                        total++;
                }
                if (any && html)
                        fputs("</ol>\n", f);
        }
        return total;
}

static void notice_close(FILE *f, struct home *h, size_t total, const char *op, bool html)
{
        char who[256];

        if (!total)
                fputs(html ? "<p>材料齐全、填报无误，无需补正。</p>\n" : "\n材料齐全、填报无误，无需补正。\n", f);
        else
                fputs(html ? "<p>以上为需补正的全部内容，请一次备齐后再来办理。</p>\n"
                           : "\n以上为需补正的全部内容，请一次备齐后再来办理。\n", f);
        if (op) {
                operator_name(h, h->node, op, who, sizeof who);
                if (html) {
                        fputs("<div class=\"sign\"><span>告知人：", f);
                        esc(f, who, true);
                        fputs("</span><span>申请人签收：</span></div>\n", f);
                } else {
                        fprintf(f, "告知人：%s        申请人签收：__________\n", who);
                }
        }
        tail(f, html);
}

/* The one-time notification (一次性告知单) for one application or a
 * bundle's members: every problem once and every material once, with the
 * kind and count the form showed (a bundle's merged form). */
static void notice_to(FILE *f, struct home *h, const struct app_row *rows, size_t n, int32_t today, bool html)
{
        const struct cat_form *form = form_of(h, rows, n);
        struct form_problems p;
        char line[1024];
        size_t total = 0;
        bool accepted = false;

        notice_open(f, h, rows[0].applicant, form, rows, n, today, html);
        form_problems_init(&p);
        for (size_t i = 0; i < n; i++) {
                const struct app_row *r = &rows[i];
                if (r->reason[0] && !strcmp(r->status, "returned")) {
                        if (n > 1)
                                snprintf(line, sizeof line, "退回补正意见（%s）：%s", r->matter_name, r->reason);
                        else
                                snprintf(line, sizeof line, "退回补正意见：%s", r->reason);
                        line_out(f, "p", "", line, html);
                        total++;
                }
                accepted |= r->receipt[0] != '\0';
                /* a member whose catalogue version is not here adds nothing */
                (void)app_acceptance_problems(h, r, today, &p);
        }
        total += notice_problems(f, form, &p, html);
        form_problems_finish(&p);
        /* materials accepted as deficient (容缺) are still to bring, by
         * their promised dates */
        if (accepted) {
                fputs(html ? "<h3>容缺材料（请按承诺日期补交）：</h3>\n" : "容缺材料（请按承诺日期补交）：\n", f);
                total += deficient(f, h, form, rows, n, html);
        }
        notice_close(f, h, total, NULL, html);
}

static const char *draft_state(void *ctx, const char *material)
{
        const json_t *mats = ctx;
        size_t i;
        json_t *m;

        json_array_foreach (mats, i, m)
                if (json_is_object(m) && !strcmp(json_string_value(json_object_get(m, "material")) ?: "", material))
                        return json_string_value(json_object_get(m, "state")) ?: "";
        return "";
}

static void notice_draft_to(FILE *f, struct home *h, const struct cat_form *form, const json_t *data,
                            const json_t *materials, int32_t today, const char *op, bool html)
{
        struct form_problems p;
        const char *name, *id;
        json_t *none = json_array();
        size_t total;

        form_applicant_of(form, data, &name, &id);
        notice_open(f, h, name, form, NULL, 0, today, html);
        form_problems_init(&p);
        if (form_validate(form, data, today, &p, NULL) == 0)
                app_material_problems(form, data, today, draft_state,
                                      (void *)(json_is_array(materials) ? materials : none), &p);
        total = notice_problems(f, form, &p, html);
        form_problems_finish(&p);
        json_decref(none);
        notice_close(f, h, total, op, html);
}

/* ---- the sheets as text -------------------------------------------------------------- */

/* The text written to f (from open_memstream on *buf), or NULL when it
 * could not be made (out of memory). */
static char *sheet_done(FILE *f, char **buf)
{
        if (fclose(f) != 0) {
                free(*buf);
                return NULL;
        }
        return *buf;
}

char *paper_receipt(struct home *h, const struct app_row *rows, size_t n, bool html, size_t *len)
{
        char *buf = NULL;
        FILE *f = open_memstream(&buf, len);

        if (!f)
                return NULL;
        receipt_to(f, h, rows, n, html);
        return sheet_done(f, &buf);
}

char *paper_notice(struct home *h, const struct app_row *rows, size_t n, int32_t today, bool html, size_t *len)
{
        char *buf = NULL;
        FILE *f = open_memstream(&buf, len);

        if (!f)
                return NULL;
        notice_to(f, h, rows, n, today, html);
        return sheet_done(f, &buf);
}

char *paper_notice_draft(struct home *h, const struct cat_form *form, const json_t *data, const json_t *materials,
                         int32_t today, const char *op, bool html, size_t *len)
{
        char *buf = NULL;
        FILE *f = open_memstream(&buf, len);

        if (!f)
                return NULL;
        notice_draft_to(f, h, form, data, materials, today, op, html);
        return sheet_done(f, &buf);
}
