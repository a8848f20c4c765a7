/* What each matter is: matters.csv (delegation, time limit, fee),
 * fields.csv (its form's questions, repeats holding their rows' fields)
 * and matter_materials.csv (the materials it asks for). Rows refer to
 * matters, materials and choice lists by code, so the registers are read
 * first (catalog-registers.c). See docs/catalog.md. */
#include "forms/catalog-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forms/ftype.h"

/* ---- matters.csv ------------------------------------------------------------ */

static int parse_levels(const char *s, unsigned *ret)
{
        unsigned mask = 0;
        char buf[128];

        if (strlen(s) >= sizeof buf)
                return -EINVAL;
        strcpy(buf, s);
        for (char *save = NULL, *t = strtok_r(buf, ";；,", &save); t; t = strtok_r(NULL, ";；,", &save)) {
                while (*t == ' ')
                        t++;
                for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
                        *--e = '\0';
                enum cat_level l = cat_parse_level(t);
                if (l == LEVEL_NONE)
                        return -EINVAL;
                mask |= 1u << l;
        }
        if (!mask)
                return -EINVAL;
        *ret = mask;
        return 0;
}

void cat_load_matters(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", "department", "type", "basis",
                                            "time_limit_days", "fee", "accept_at", "decide_at", "review_at",
                                            NULL };
        enum { C_CODE, C_ZH, C_EN, C_DEPT, C_TYPE, C_BASIS, C_LIMIT, C_FEE, C_ACCEPT, C_DECIDE, C_REVIEW };
        struct sheet sh;
        struct vec v = VEC(struct cat_matter);

        if (!cat_sheet_load(cat, &sh, "matters.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[11];
                bool ok = true;
                int limit = 0;
                unsigned accept = 0;
                enum cat_level decide, review = LEVEL_NONE;

                for (int k = 0; k < 11; k++)
                        c[k] = cat_get_cell(cat, &sh, row, k);
                if (!cat_is_code(c[C_CODE].s)) {
                        ERR(cat, &c[C_CODE], sh.name, "事项编码“%s”无效（只能用字母、数字、-、_、.）",
                            "matter code '%s' is invalid (letters, digits, - _ . only)", c[C_CODE].s);
                        continue;
                }
                if (!c[C_ZH].len) {
                        ERR(cat, &c[C_ZH], sh.name, "事项缺少中文名称", "%s", "the matter has no Chinese name");
                        ok = false;
                }
                if (cat_parse_int(c[C_LIMIT].s, 1, 3650, &limit) < 0) {
                        ERR(cat, &c[C_LIMIT], sh.name, "承诺时限“%s”无效：应为 1 到 3650 之间的工作日天数",
                            "time limit '%s' is invalid: use a number of working days from 1 to 3650",
                            c[C_LIMIT].s);
                        ok = false;
                }
                if (c[C_FEE].len && ftype_check(FT_MONEY, c[C_FEE].s, 0)) {
                        ERR(cat, &c[C_FEE], sh.name, "收费金额“%s”无效（应为金额，最多两位小数）",
                            "fee '%s' is invalid (an amount in yuan with at most two decimals)", c[C_FEE].s);
                        ok = false;
                }
                if (parse_levels(c[C_ACCEPT].s, &accept) < 0) {
                        ERR(cat, &c[C_ACCEPT], sh.name,
                            "受理层级“%s”无效（用 ; 分隔的 county、township、village）",
                            "accept_at '%s' is invalid (county;township;village, separated by ';')",
                            c[C_ACCEPT].s);
                        ok = false;
                }
                decide = cat_parse_level(c[C_DECIDE].s);
                if (decide == LEVEL_NONE || decide == LEVEL_VILLAGE) {
                        ERR(cat, &c[C_DECIDE], sh.name, "决定层级“%s”无效（应为 county 或 township）",
                            "decide_at '%s' is invalid (use county or township)", c[C_DECIDE].s);
                        ok = false;
                }
                if (c[C_REVIEW].len) {
                        review = cat_parse_level(c[C_REVIEW].s);
                        if (review == LEVEL_NONE || review == LEVEL_VILLAGE) {
                                ERR(cat, &c[C_REVIEW], sh.name, "初审层级“%s”无效（应为 township，或留空）",
                                    "review_at '%s' is invalid (use township, or leave it empty)",
                                    c[C_REVIEW].s);
                                ok = false;
                        } else if (ok && review <= decide) {
                                ERR(cat, &c[C_REVIEW], sh.name, "初审层级（%s）须低于决定层级（%s）",
                                    "review_at (%s) must be below decide_at (%s)",
                                    c[C_REVIEW].s, c[C_DECIDE].s);
                                ok = false;
                        }
                }
                if (ok) {
                        for (int l = LEVEL_COUNTY; l <= LEVEL_VILLAGE; l++)
                                if ((accept & (1u << l)) && l < (int)decide) {
                                        ERR(cat, &c[C_ACCEPT], sh.name,
                                            "受理层级 %s 高于决定层级 %s", "accept_at %s is above decide_at %s",
                                            cat_level_name(l), cat_level_name(decide));
                                        ok = false;
                                }
                }
                /* A row with a bad cell is still kept under its code (the
                 * catalogue is unusable anyway), so its fields and
                 * materials do not pile up "unknown matter" errors. */
                if (!ok && decide == LEVEL_NONE)
                        decide = LEVEL_COUNTY;
                struct cat_matter *m = cat_vec_push(&v);
                if (!m) {
                        cat->arena.oom = true;
                        break;
                }
                m->code = (char *)c[C_CODE].s;
                m->name_zh = (char *)c[C_ZH].s;
                m->name_en = c[C_EN].len ? (char *)c[C_EN].s : m->name_zh;
                m->department = (char *)c[C_DEPT].s;
                m->type = (char *)c[C_TYPE].s;
                m->basis = (char *)c[C_BASIS].s;
                m->time_limit_days = limit;
                m->fee = c[C_FEE].len ? (char *)c[C_FEE].s : "0";
                m->accept_at = accept;
                m->decide_at = decide;
                m->review_at = review;
                m->pos = (struct cat_pos){ sh.name, c[C_CODE].line, c[C_CODE].col };
        }
        cat->matters = cat_vec_freeze(&cat->arena, &v, &cat->nmatters);
        for (size_t i = 0; i < cat->nmatters; i++) {
                struct cat_matter *m = &cat->matters[i];
                cat_index_code(cat, &cat->by_matter, m->code, m, &m->pos, "事项编码", "matter code");
        }
out:
        free(v.v);
        cat_sheet_free(&sh);
}

/* The matter a row of fields.csv or matter_materials.csv names in cell c,
 * or NULL (an error at c). */
static struct cat_matter *row_matter(catalog *cat, const struct sheet *sh, const struct cell *c)
{
        struct cat_matter *m = cat_map_get(&cat->by_matter, c->s);

        if (!m)
                ERR(cat, c, sh->name, "事项“%s”不存在（matters.csv 中没有此编码）",
                    "unknown matter '%s' (not in matters.csv)", c->s);
        return m;
}

/* ---- fields.csv ----------------------------------------------------------- */

#define MAX_FIELDS_PER_MATTER 500

/* Fields of one matter while its rows are read: a flat list in file order
 * with the index of each field's enclosing repeat (-1 at top level). */
struct fbuild {
        struct vec fields;      /* struct cat_field */
        struct vec parent;      /* int */
        int open;               /* index of the open begin_repeat, or -1 */
};

/* fields.csv's role cell: applicant_name (a text field) or applicant_id
 * (an ID number, a credit code or text), at most one of each per matter.
 * Where in the form they may stand is checked on the built form
 * (cat_check_applicant). */
static bool parse_role(catalog *cat, const struct sheet *sh, const struct cell *c, enum ftype t,
                       const struct fbuild *b, enum cat_role *ret)
{
        if (strcmp(c->s, "applicant_name") == 0 || strcmp(c->s, "申请人姓名") == 0)
                *ret = ROLE_APPLICANT_NAME;
        else if (strcmp(c->s, "applicant_id") == 0 || strcmp(c->s, "申请人证件号码") == 0)
                *ret = ROLE_APPLICANT_ID;
        else {
                ERR(cat, c, sh->name, "role 应为 applicant_name（申请人姓名）或 applicant_id（申请人证件号码），而不是“%s”",
                    "role must be applicant_name or applicant_id, not '%s'", c->s);
                return false;
        }
        if (*ret == ROLE_APPLICANT_NAME && t != FT_TEXT) {
                ERR(cat, c, sh->name, "申请人姓名须为 text 类型的字段%s", "the applicant's name must be a text field%s", "");
                return false;
        }
        if (*ret == ROLE_APPLICANT_ID && t != FT_ID_NUMBER && t != FT_USCC && t != FT_TEXT) {
                ERR(cat, c, sh->name, "申请人证件号码须为 id_number、uscc 或 text 类型的字段%s",
                    "the applicant's ID must be an id_number, uscc or text field%s", "");
                return false;
        }
        for (size_t k = 0; k < b->fields.n; k++) {
                const struct cat_field *o = &((const struct cat_field *)b->fields.v)[k];
                if (o->role == *ret) {
                        ERR(cat, c, sh->name, "本事项已有字段“%s”声明为 %s，每个事项只能有一个",
                            "field '%s' of this matter already has role %s; a matter has one", o->name, c->s);
                        return false;
                }
        }
        return true;
}

void cat_load_fields(catalog *cat)
{
        static const char *const cols[] = { "matter", "name", "type", "label_zh", "label_en", "required",
                                            "constraint", "constraint_msg_zh", "relevant", "choices",
                                            "hint_zh", "?min_rows", "?max_rows", "?role", NULL };
        enum { C_MATTER, C_NAME, C_TYPE, C_ZH, C_EN, C_REQ, C_CONS, C_MSG, C_REL, C_CHOICES, C_HINT,
               C_MIN, C_MAX, C_ROLE, C_N };
        struct sheet sh;
        struct fbuild *fb = calloc(cat->nmatters ? cat->nmatters : 1, sizeof *fb);

        if (!fb) {
                cat->arena.oom = true;
                return;
        }
        for (size_t i = 0; i < cat->nmatters; i++) {
                fb[i].fields.size = sizeof(struct cat_field);
                fb[i].parent.size = sizeof(int);
                fb[i].open = -1;
        }
        if (!cat_sheet_load(cat, &sh, "fields.csv", cols))
                goto freeze;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[C_N];
                struct cat_matter *m;
                struct fbuild *b;
                enum ftype t;
                bool ok = true, req = false;

                for (int k = 0; k < C_N; k++)
                        c[k] = cat_get_cell(cat, &sh, row, k);
                m = row_matter(cat, &sh, &c[C_MATTER]);
                if (!m)
                        continue;
                b = &fb[m - cat->matters];
                if (ftype_from_name(c[C_TYPE].s, &t) < 0) {
                        ERR(cat, &c[C_TYPE], sh.name, "未知的字段类型“%s”", "unknown field type '%s'",
                            c[C_TYPE].s);
                        continue;
                }
                if (!cat_is_name(c[C_NAME].s)) {
                        ERR(cat, &c[C_NAME], sh.name,
                            "字段名“%s”无效（字母或 _ 开头，只含字母、数字、_）",
                            "field name '%s' is invalid (a letter or _, then letters, digits, _)",
                            c[C_NAME].s);
                        continue;
                }
                if (t == FT_END_REPEAT) {
                        struct cat_field *open = b->open >= 0 ? &((struct cat_field *)b->fields.v)[b->open] : NULL;
                        if (!open)
                                ERR(cat, &c[C_TYPE], sh.name, "end_repeat 没有对应的 begin_repeat",
                                    "%s", "end_repeat without a matching begin_repeat");
                        else if (strcmp(open->name, c[C_NAME].s) != 0)
                                ERR(cat, &c[C_NAME], sh.name, "end_repeat“%s”与 begin_repeat“%s”不对应",
                                    "end_repeat '%s' does not match begin_repeat '%s'", c[C_NAME].s,
                                    open->name);
                        b->open = -1;
                        continue;
                }
                for (size_t k = 0; k < b->fields.n; k++)
                        if (strcmp(((struct cat_field *)b->fields.v)[k].name, c[C_NAME].s) == 0) {
                                ERR(cat, &c[C_NAME], sh.name, "事项“%s”中字段名“%s”重复",
                                    "duplicate field '%s' in matter '%s'", c[C_NAME].s, m->code);
                                ok = false;
                                break;
                        }
                if (b->fields.n >= MAX_FIELDS_PER_MATTER) {
                        ERR(cat, &c[C_NAME], sh.name, "一个事项最多 %d 个字段", "a matter has at most %d fields",
                            MAX_FIELDS_PER_MATTER);
                        ok = false;
                }
                if (!c[C_ZH].len) {
                        ERR(cat, &c[C_ZH], sh.name, "字段“%s”缺少中文标签", "field '%s' has no Chinese label",
                            c[C_NAME].s);
                        ok = false;
                }
                if (cat_parse_bool(c[C_REQ].s, false, &req) < 0) {
                        ERR(cat, &c[C_REQ], sh.name, "required 应为 yes 或 no，而不是“%s”",
                            "required must be yes or no, not '%s'", c[C_REQ].s);
                        ok = false;
                }
                const struct cat_list *list = NULL;
                if (t == FT_SELECT_ONE || t == FT_SELECT_MULTIPLE) {
                        list = c[C_CHOICES].len ? cat_map_get(&cat->by_list, c[C_CHOICES].s) : NULL;
                        if (!list) {
                                if (c[C_CHOICES].len)
                                        ERR(cat, &c[C_CHOICES], sh.name,
                                            "选项列表“%s”不存在（choices.csv 中没有）",
                                            "unknown choice list '%s' (not in choices.csv)", c[C_CHOICES].s);
                                else
                                        ERR(cat, &c[C_CHOICES], sh.name, "%s 字段“%s”须指定选项列表",
                                            "%s field '%s' needs a choice list", c[C_TYPE].s, c[C_NAME].s);
                                ok = false;
                        }
                } else if (c[C_CHOICES].len) {
                        WARN(cat, &c[C_CHOICES], sh.name, "%s 类型的字段不使用选项列表，已忽略",
                             "a %s field does not use a choice list; it is ignored", c[C_TYPE].s);
                }
                int minr = req ? 1 : 0, maxr = 50;
                if (t == FT_BEGIN_REPEAT) {
                        if (b->open >= 0) {
                                ERR(cat, &c[C_TYPE], sh.name, "不支持嵌套的重复组（“%s”尚未结束）",
                                    "nested repeats are not supported ('%s' is still open)",
                                    ((struct cat_field *)b->fields.v)[b->open].name);
                                ok = false;
                        }
                        if (c[C_MIN].len && cat_parse_int(c[C_MIN].s, 0, CAT_REPEAT_MAX_ROWS, &minr) < 0) {
                                ERR(cat, &c[C_MIN], sh.name, "min_rows 应为 0 到 %d 的整数",
                                    "min_rows must be an integer from 0 to %d", CAT_REPEAT_MAX_ROWS);
                                ok = false;
                        }
                        if (c[C_MAX].len && cat_parse_int(c[C_MAX].s, 1, CAT_REPEAT_MAX_ROWS, &maxr) < 0) {
                                ERR(cat, &c[C_MAX], sh.name, "max_rows 应为 1 到 %d 的整数",
                                    "max_rows must be an integer from 1 to %d", CAT_REPEAT_MAX_ROWS);
                                ok = false;
                        }
                        if (ok && minr > maxr) {
                                ERR(cat, &c[C_MIN], sh.name, "min_rows（%d）大于 max_rows（%d）",
                                    "min_rows (%d) is larger than max_rows (%d)", minr, maxr);
                                ok = false;
                        }
                } else if (c[C_MIN].len || c[C_MAX].len) {
                        struct cell *x = c[C_MIN].len ? &c[C_MIN] : &c[C_MAX];
                        ERR(cat, x, sh.name, "min_rows/max_rows 只用于 begin_repeat",
                            "%s", "min_rows/max_rows apply to begin_repeat only");
                        ok = false;
                }
                enum cat_role role = ROLE_NONE;
                if (c[C_ROLE].len && !parse_role(cat, &sh, &c[C_ROLE], t, b, &role))
                        ok = false;
                expr *cons = cat_parse_expr_cell(cat, &c[C_CONS], sh.name, "constraint");
                expr *rel = cat_parse_expr_cell(cat, &c[C_REL], sh.name, "relevant");
                if ((c[C_CONS].len && !cons) || (c[C_REL].len && !rel))
                        ok = false;
                if (!ok)
                        continue;

                struct cat_field *f = cat_vec_push(&b->fields);
                int *par = cat_vec_push(&b->parent);
                if (!f || !par) {
                        cat_vec_unpush(&b->fields, f);
                        cat_vec_unpush(&b->parent, par);
                        cat->arena.oom = true;
                        break;
                }
                f->name = (char *)c[C_NAME].s;
                f->type = t;
                f->label_zh = (char *)c[C_ZH].s;
                f->label_en = c[C_EN].len ? (char *)c[C_EN].s : f->label_zh;
                f->required = req;
                f->constraint_src = cat_cell_str(cat, &c[C_CONS]);
                f->constraint = cons;
                f->constraint_msg_zh = cat_cell_str(cat, &c[C_MSG]);
                f->relevant_src = cat_cell_str(cat, &c[C_REL]);
                f->relevant = rel;
                f->choices = list;
                f->hint_zh = cat_cell_str(cat, &c[C_HINT]);
                f->min_rows = minr;
                f->max_rows = maxr;
                f->role = role;
                f->pos = (struct cat_pos){ sh.name, c[C_NAME].line, c[C_NAME].col };
                f->constraint_pos = (struct cat_pos){ sh.name, c[C_CONS].line, c[C_CONS].col };
                f->relevant_pos = (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col };
                *par = b->open;
                if (t == FT_BEGIN_REPEAT)
                        b->open = (int)b->fields.n - 1;
        }
        for (size_t i = 0; i < cat->nmatters; i++)
                if (fb[i].open >= 0) {
                        struct cat_field *f = &((struct cat_field *)fb[i].fields.v)[fb[i].open];
                        cat_diagf(cat, CAT_ERROR, sh.name, f->pos.line, f->pos.col,
                                  "重复组“%s”缺少 end_repeat", "repeat '%s' has no end_repeat", f->name);
                }

freeze:
        /* Top-level fields and each repeat's children become arena arrays. */
        for (size_t i = 0; i < cat->nmatters; i++) {
                struct cat_matter *m = &cat->matters[i];
                struct cat_field *all = fb[i].fields.v;
                int *par = fb[i].parent.v;
                size_t ntop = 0;

                for (size_t k = 0; k < fb[i].fields.n; k++)
                        ntop += par[k] < 0;
                m->fields = cat_arena_alloc(&cat->arena, (ntop ? ntop : 1) * sizeof *m->fields);
                if (!m->fields)
                        break;
                for (size_t k = 0; k < fb[i].fields.n; k++) {
                        if (par[k] >= 0)
                                continue;
                        struct cat_field *f = &m->fields[m->nfields++];
                        *f = all[k];
                        if (f->type != FT_BEGIN_REPEAT)
                                continue;
                        size_t nch = 0;
                        for (size_t j = k + 1; j < fb[i].fields.n; j++)
                                nch += par[j] == (int)k;
                        f->children = cat_arena_alloc(&cat->arena, (nch ? nch : 1) * sizeof *f->children);
                        if (!f->children)
                                break;
                        for (size_t j = k + 1; j < fb[i].fields.n; j++)
                                if (par[j] == (int)k)
                                        f->children[f->nchildren++] = all[j];
                        if (!nch)
                                cat_diagf(cat, CAT_ERROR, sh.name, f->pos.line, f->pos.col,
                                          "重复组“%s”中没有字段", "repeat '%s' has no fields", f->name);
                }
                cat->nfields += fb[i].fields.n;
                free(fb[i].fields.v);
                free(fb[i].parent.v);
        }
        free(fb);
        cat_sheet_free(&sh);
}

/* ---- matter_materials.csv ---------------------------------------------------- */

void cat_load_matter_materials(catalog *cat)
{
        static const char *const cols[] = { "matter", "material", "kind", "copies", "required",
                                            "deficiency_ok", "deficiency_days", "relevant", "note_zh", NULL };
        enum { C_MATTER, C_MAT, C_KIND, C_COPIES, C_REQ, C_DOK, C_DDAYS, C_REL, C_NOTE };
        struct sheet sh;
        struct vec *per = calloc(cat->nmatters ? cat->nmatters : 1, sizeof *per);

        if (!per) {
                cat->arena.oom = true;
                return;
        }
        for (size_t i = 0; i < cat->nmatters; i++)
                per[i].size = sizeof(struct cat_matter_material);
        if (!cat_sheet_load(cat, &sh, "matter_materials.csv", cols))
                goto freeze;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[9];
                struct cat_matter *m;
                const struct cat_material *mat;
                enum cat_mkind kind = MK_ORIGINAL;
                int copies = 1, ddays = 0;
                bool ok = true, req = true, dok = false;

                for (int k = 0; k < 9; k++)
                        c[k] = cat_get_cell(cat, &sh, row, k);
                m = row_matter(cat, &sh, &c[C_MATTER]);
                if (!m)
                        continue;
                mat = cat_map_get(&cat->by_material, c[C_MAT].s);
                if (!mat) {
                        ERR(cat, &c[C_MAT], sh.name, "材料“%s”不存在（materials.csv 中没有此编码）",
                            "unknown material '%s' (not in materials.csv)", c[C_MAT].s);
                        ok = false;
                }
                if (strcmp(c[C_KIND].s, "original") == 0)
                        kind = MK_ORIGINAL;
                else if (strcmp(c[C_KIND].s, "copy") == 0)
                        kind = MK_COPY;
                else if (strcmp(c[C_KIND].s, "scan") == 0)
                        kind = MK_SCAN;
                else if (strcmp(c[C_KIND].s, "commitment") == 0)
                        kind = MK_COMMITMENT;
                else {
                        ERR(cat, &c[C_KIND], sh.name,
                            "材料形式“%s”无效（应为 original、copy、scan 或 commitment）",
                            "material kind '%s' is invalid (original, copy, scan or commitment)", c[C_KIND].s);
                        ok = false;
                }
                if (c[C_COPIES].len && cat_parse_int(c[C_COPIES].s, 1, 99, &copies) < 0) {
                        ERR(cat, &c[C_COPIES], sh.name, "份数“%s”无效（1 到 99）",
                            "copies '%s' is invalid (1 to 99)", c[C_COPIES].s);
                        ok = false;
                }
                if (cat_parse_bool(c[C_REQ].s, true, &req) < 0) {
                        ERR(cat, &c[C_REQ], sh.name, "required 应为 yes 或 no，而不是“%s”",
                            "required must be yes or no, not '%s'", c[C_REQ].s);
                        ok = false;
                }
                if (cat_parse_bool(c[C_DOK].s, false, &dok) < 0) {
                        ERR(cat, &c[C_DOK], sh.name, "deficiency_ok 应为 yes 或 no，而不是“%s”",
                            "deficiency_ok must be yes or no, not '%s'", c[C_DOK].s);
                        ok = false;
                }
                if (dok && cat_parse_int(c[C_DDAYS].s, 1, 365, &ddays) < 0) {
                        ERR(cat, &c[C_DDAYS], sh.name, "允许容缺时须填写补交期限（1 到 365 个工作日），而不是“%s”",
                            "a deficiency needs a deadline of 1 to 365 working days, not '%s'", c[C_DDAYS].s);
                        ok = false;
                } else if (!dok && c[C_DDAYS].len) {
                        WARN(cat, &c[C_DDAYS], sh.name, "不允许容缺时补交期限无意义，已忽略",
                             "%s", "deficiency_days is ignored when deficiency_ok is no");
                }
                expr *rel = cat_parse_expr_cell(cat, &c[C_REL], sh.name, "relevant");
                if (c[C_REL].len && !rel)
                        ok = false;
                struct vec *v = &per[m - cat->matters];
                for (size_t k = 0; ok && k < v->n; k++)
                        if (((struct cat_matter_material *)v->v)[k].material == mat) {
                                ERR(cat, &c[C_MAT], sh.name, "事项“%s”中材料“%s”重复",
                                    "material '%s' is listed twice for matter '%s'", c[C_MAT].s, m->code);
                                ok = false;
                        }
                if (!ok)
                        continue;
                if (rel) {
                        struct check_env ce = { m, NULL, NULL };
                        size_t before = cat->nerrors;
                        cat_check_expr(cat, rel, c[C_REL].s, (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col },
                                       &ce, "relevant");
                        if (cat->nerrors != before)
                                continue;
                }
                struct cat_matter_material *mm = cat_vec_push(v);
                if (!mm) {
                        cat->arena.oom = true;
                        break;
                }
                mm->material = mat;
                mm->kind = kind;
                mm->copies = copies;
                mm->required = req;
                mm->deficiency_ok = dok;
                mm->deficiency_days = ddays;
                mm->relevant_src = cat_cell_str(cat, &c[C_REL]);
                mm->relevant = rel;
                mm->note_zh = cat_cell_str(cat, &c[C_NOTE]);
                mm->pos = (struct cat_pos){ sh.name, c[C_MAT].line, c[C_MAT].col };
                mm->relevant_pos = (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col };
        }
freeze:
        for (size_t i = 0; i < cat->nmatters; i++) {
                cat->matters[i].materials = cat_vec_freeze(&cat->arena, &per[i], &cat->matters[i].nmaterials);
                free(per[i].v);
        }
        free(per);
        cat_sheet_free(&sh);
}
