/* Forms as an agent walks them: a matter's own, and a bundle's (一件事)
 * merged by field name from its member matters, each definition of a
 * shared field kept so every matter's rules still apply; and
 * bundles.csv, which names those bundles. See docs/catalog.md
 * ("bundles.csv"). */
#include "forms/catalog-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forms/applicant.h"

/* ---- forms: a matter's own, and a bundle's merged one --------------------------- */

/* Items while merging: every vector is malloc'd and turned into arena
 * arrays by freeze_items(). */
struct titem {
        struct vec defs;        /* const struct cat_field * */
        struct vec dmatters;    /* const struct cat_matter * */
        struct vec children;    /* struct titem */
};

static void titems_free(struct vec *items)
{
        for (size_t i = 0; i < items->n; i++) {
                struct titem *t = &((struct titem *)items->v)[i];
                free(t->defs.v);
                free(t->dmatters.v);
                titems_free(&t->children);
        }
        free(items->v);
        items->v = NULL;
        items->n = items->cap = 0;
}

static bool same_list(const struct cat_list *a, const struct cat_list *b)
{
        if (a == b)
                return true;
        if (!a || !b || a->nitems != b->nitems)
                return false;
        for (size_t i = 0; i < a->nitems; i++)
                if (strcmp(a->items[i].value, b->items[i].value) != 0)
                        return false;
        return true;
}

/* Merge fields f[0..n) of matter m into items. Conflicts are reported at
 * the bundle's row (pos). Returns false on a conflict. */
static bool merge_fields(catalog *cat, struct vec *items, const struct cat_field *f, size_t n,
                         const struct cat_matter *m, const struct cat_pos *pos)
{
        bool ok = true;

        for (size_t i = 0; i < n; i++) {
                struct titem *t = NULL;
                for (size_t k = 0; k < items->n; k++) {
                        struct titem *x = &((struct titem *)items->v)[k];
                        if (x->defs.n == 0)
                                continue;       /* left empty by an allocation failure */
                        if (strcmp((*(const struct cat_field **)x->defs.v)->name, f[i].name) == 0) {
                                t = x;
                                break;
                        }
                }
                if (t) {
                        const struct cat_field *first = *(const struct cat_field **)t->defs.v;
                        const struct cat_matter *fm = *(const struct cat_matter **)t->dmatters.v;
                        if (first->type != f[i].type) {
                                cat_diagf(cat, CAT_ERROR, pos->sheet, pos->line, pos->col,
                                          "共用字段“%s”类型不一致：事项 %s 中为 %s，事项 %s 中为 %s",
                                          "shared field '%s' has conflicting types: in %s it is %s, in %s it is %s",
                                          f[i].name, fm->code, ftype_name(first->type), m->code,
                                          ftype_name(f[i].type));
                                ok = false;
                                continue;
                        }
                        if (!same_list(first->choices, f[i].choices)) {
                                cat_diagf(cat, CAT_ERROR, pos->sheet, pos->line, pos->col,
                                          "共用字段“%s”的选项列表不一致：事项 %s 用“%s”，事项 %s 用“%s”",
                                          "shared field '%s' has conflicting choice lists: %s uses '%s', %s uses '%s'",
                                          f[i].name, fm->code, first->choices ? first->choices->name : "-",
                                          m->code, f[i].choices ? f[i].choices->name : "-");
                                ok = false;
                                continue;
                        }
                } else {
                        t = cat_vec_push(items);
                        if (!t) {
                                cat->arena.oom = true;
                                return false;
                        }
                        t->defs.size = sizeof(const struct cat_field *);
                        t->dmatters.size = sizeof(const struct cat_matter *);
                        t->children.size = sizeof(struct titem);
                }
                const struct cat_field **d = cat_vec_push(&t->defs);
                const struct cat_matter **dm = cat_vec_push(&t->dmatters);
                if (!d || !dm) {
                        cat_vec_unpush(&t->defs, d);
                        cat_vec_unpush(&t->dmatters, dm);
                        cat->arena.oom = true;
                        return false;
                }
                *d = &f[i];
                *dm = m;
                if (f[i].type == FT_BEGIN_REPEAT)
                        ok = merge_fields(cat, &t->children, f[i].children, f[i].nchildren, m, pos) && ok;
        }
        return ok;
}

static struct cat_item *freeze_items(catalog *cat, struct vec *items, size_t *ret_n)
{
        struct cat_item *out = cat_arena_alloc(&cat->arena, (items->n ? items->n : 1) * sizeof *out);

        if (!out)
                return NULL;
        for (size_t i = 0; i < items->n; i++) {
                struct titem *t = &((struct titem *)items->v)[i];
                out[i].defs = cat_arena_dup(&cat->arena, t->defs.v, t->defs.n * t->defs.size);
                out[i].def_matters = cat_arena_dup(&cat->arena, t->dmatters.v, t->dmatters.n * t->dmatters.size);
                out[i].ndefs = out[i].defs && out[i].def_matters ? t->defs.n : 0;
                out[i].field = out[i].defs ? out[i].defs[0] : NULL;
                out[i].children = freeze_items(cat, &t->children, &out[i].nchildren);
        }
        *ret_n = items->n;
        return out;
}

static bool merge_materials(catalog *cat, struct vec *mats, const struct cat_matter *m)
{
        for (size_t i = 0; i < m->nmaterials; i++) {
                const struct cat_matter_material *mm = &m->materials[i];
                struct cat_form_material *fm = NULL;
                for (size_t k = 0; k < mats->n; k++) {
                        struct cat_form_material *x = &((struct cat_form_material *)mats->v)[k];
                        if (x->material == mm->material) {
                                fm = x;
                                break;
                        }
                }
                if (!fm) {
                        fm = cat_vec_push(mats);
                        if (!fm) {
                                cat->arena.oom = true;
                                return false;
                        }
                        fm->material = mm->material;
                        fm->kind = mm->kind;
                        fm->deficiency_ok = true;
                        fm->deficiency_days = 0;
                        /* defs are collected in per-material vectors below */
                }
                if (mm->copies > fm->copies)
                        fm->copies = mm->copies;
                fm->required = fm->required || mm->required;
                if (mm->required) {
                        fm->deficiency_ok = fm->deficiency_ok && mm->deficiency_ok;
                        if (mm->deficiency_ok &&
                            (fm->deficiency_days == 0 || mm->deficiency_days < fm->deficiency_days))
                                fm->deficiency_days = mm->deficiency_days;
                }
                fm->ndefs++;
        }
        return true;
}

const struct cat_form *cat_build_form(catalog *cat, const char *code, const char *zh, const char *en,
                                      bool is_bundle, const struct cat_matter **ms, size_t nms,
                                      const struct cat_pos *pos)
{
        struct vec items = VEC(struct titem);
        struct vec mats = VEC(struct cat_form_material);
        struct cat_form *form = NULL;
        bool ok = true;

        for (size_t i = 0; i < nms; i++)
                ok = merge_fields(cat, &items, ms[i]->fields, ms[i]->nfields, ms[i], pos) && ok;
        for (size_t i = 0; ok && i < nms; i++)
                if (!merge_materials(cat, &mats, ms[i]))
                        ok = false;
        if (!ok)
                goto out;
        form = cat_arena_alloc(&cat->arena, sizeof *form);
        if (!form)
                goto out;
        form->code = code;
        form->name_zh = zh;
        form->name_en = en;
        form->is_bundle = is_bundle;
        form->matters = cat_arena_dup(&cat->arena, ms, nms * sizeof *ms);
        form->nmatters = form->matters ? nms : 0;
        form->items = freeze_items(cat, &items, &form->nitems);
        form->materials = cat_vec_freeze(&cat->arena, &mats, &form->nmaterials);
        for (size_t k = 0; k < form->nmaterials; k++) {
                struct cat_form_material *fm = &form->materials[k];
                size_t nd = 0;
                if (!fm->required)
                        fm->deficiency_ok = false;
                fm->defs = cat_arena_alloc(&cat->arena, fm->ndefs * sizeof *fm->defs);
                fm->def_matters = cat_arena_alloc(&cat->arena, fm->ndefs * sizeof *fm->def_matters);
                if (!fm->defs || !fm->def_matters)
                        break;
                for (size_t i = 0; i < nms; i++)
                        for (size_t j = 0; j < ms[i]->nmaterials; j++)
                                if (ms[i]->materials[j].material == fm->material) {
                                        fm->defs[nd] = &ms[i]->materials[j];
                                        fm->def_matters[nd++] = ms[i];
                                }
        }
out:
        titems_free(&items);
        free(mats.v);
        return form;
}

/* What the applicant's roles of a built form allow (forms/applicant.c):
 * an impossible placement is an error at the field; a form that says
 * nothing about its applicant is warned about at pos, for the paperwork
 * will leave 申请人 blank. */
void cat_check_applicant(catalog *cat, const struct cat_form *form, const struct cat_pos *pos)
{
        struct form_applicant a;
        const char *zh, *en;

        form_applicant_fields(form, &a);
        if ((en = form_applicant_misplaced(form, &a, &zh))) {
                const struct cat_field *f = a.name ? a.name->field : a.id ? a.id->field : NULL;
                struct cat_pos at = f ? f->pos : *pos;
                cat_diagf(cat, CAT_ERROR, at.sheet, at.line, at.col, "“%s”：%s%.0s", "'%s': %.0s%s", form->code, zh, en);
                return;
        }
        if (!a.name)
                cat_diagf(cat, CAT_WARNING, pos->sheet, pos->line, pos->col,
                          "“%s”未说明哪个字段是申请人姓名：回执、告知单和列表的“申请人”将留空；请在 fields.csv 的 role 列为该字段填 applicant_name（证件号码字段填 applicant_id）",
                          "'%s' does not say which field is the applicant's name: receipts, notices and lists will leave the applicant blank; give that field role applicant_name in fields.csv (and its ID field applicant_id)",
                          form->code);
}

/* ---- bundles.csv ------------------------------------------------------------------ */

void cat_load_bundles(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", "matters", NULL };
        struct sheet sh;
        struct vec v = VEC(struct cat_bundle);

        if (!cat_sheet_load(cat, &sh, "bundles.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = cat_get_cell(cat, &sh, row, 0);
                struct cell zh = cat_get_cell(cat, &sh, row, 1);
                struct cell en = cat_get_cell(cat, &sh, row, 2);
                struct cell ml = cat_get_cell(cat, &sh, row, 3);
                const struct cat_matter *ms[64];
                size_t nms = 0;
                bool ok = true;

                if (!cat_is_code(code.s)) {
                        ERR(cat, &code, sh.name, "一件事编码“%s”无效", "bundle code '%s' is invalid", code.s);
                        ok = false;
                } else if (cat_map_get(&cat->by_matter, code.s)) {
                        ERR(cat, &code, sh.name, "一件事编码“%s”与事项编码重复",
                            "bundle code '%s' is also a matter code", code.s);
                        ok = false;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "一件事缺少中文名称", "%s", "the bundle has no Chinese name");
                        ok = false;
                }
                char *buf = strdup(ml.s);
                if (!buf) {
                        cat->arena.oom = true;
                        break;
                }
                for (char *save = NULL, *t = strtok_r(buf, ";；", &save); t; t = strtok_r(NULL, ";；", &save)) {
                        while (*t == ' ')
                                t++;
                        for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
                                *--e = '\0';
                        const struct cat_matter *m = cat_map_get(&cat->by_matter, t);
                        if (!m) {
                                ERR(cat, &ml, sh.name, "一件事中的事项“%s”不存在",
                                    "bundle lists unknown matter '%s'", t);
                                ok = false;
                                continue;
                        }
                        for (size_t k = 0; k < nms; k++)
                                if (ms[k] == m) {
                                        ERR(cat, &ml, sh.name, "一件事中事项“%s”重复",
                                            "bundle lists matter '%s' twice", t);
                                        ok = false;
                                }
                        if (nms == 64) {
                                ERR(cat, &ml, sh.name, "一件事最多包含 64 个事项", "%s",
                                    "a bundle has at most 64 matters");
                                ok = false;
                                break;
                        }
                        ms[nms++] = m;
                }
                free(buf);
                if (ok && nms < 2) {
                        ERR(cat, &ml, sh.name, "一件事至少包含两个事项", "%s",
                            "a bundle joins at least two matters");
                        ok = false;
                }
                if (!ok)
                        continue;
                struct cat_pos pos = { sh.name, ml.line, ml.col };
                const struct cat_form *form = cat_build_form(cat, code.s, zh.s, en.len ? en.s : zh.s, true,
                                                             ms, nms, &pos);
                if (!form)
                        continue;
                cat_check_applicant(cat, form, &(struct cat_pos){ sh.name, code.line, code.col });
                struct cat_bundle *b = cat_vec_push(&v);
                if (!b) {
                        cat->arena.oom = true;
                        break;
                }
                b->code = (char *)code.s;
                b->name_zh = (char *)zh.s;
                b->name_en = en.len ? (char *)en.s : b->name_zh;
                b->matters = form->matters;
                b->nmatters = nms;
                b->form = form;
                b->pos = (struct cat_pos){ sh.name, code.line, code.col };
        }
        cat->bundles = cat_vec_freeze(&cat->arena, &v, &cat->nbundles);
        for (size_t i = 0; i < cat->nbundles; i++) {
                struct cat_bundle *b = &cat->bundles[i];
                cat_index_code(cat, &cat->by_bundle, b->code, b, &b->pos, "一件事编码", "bundle code");
        }
out:
        free(v.v);
        cat_sheet_free(&sh);
}
