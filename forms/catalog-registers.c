/* The catalogue's registers, which matters refer to: divisions.csv (the
 * county's tree of divisions, each code beginning with its parent's),
 * materials.csv, choices.csv (the lists of select fields) and
 * calendar.csv (holidays and working weekends). See docs/catalog.md. */
#include "forms/catalog-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forms/division.h"

/* ---- divisions.csv ------------------------------------------------------ */

void cat_load_divisions(catalog *cat)
{
        static const char *const cols[] = { "code", "name", "level", "parent", "?phone", NULL };
        enum { C_CODE, C_NAME, C_LEVEL, C_PARENT, C_PHONE };
        struct sheet sh;
        struct vec v = VEC(struct cat_division);
        struct vec parents = VEC(struct cell);
        size_t ncounty = 0;

        if (!cat_sheet_load(cat, &sh, "divisions.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = cat_get_cell(cat, &sh, row, C_CODE);
                struct cell name = cat_get_cell(cat, &sh, row, C_NAME);
                struct cell level = cat_get_cell(cat, &sh, row, C_LEVEL);
                struct cell parent = cat_get_cell(cat, &sh, row, C_PARENT);
                struct cell phone = cat_get_cell(cat, &sh, row, C_PHONE);
                enum cat_level l = cat_parse_level(level.s);
                size_t want;
                bool ok = true;

                if (l == LEVEL_NONE) {
                        ERR(cat, &level, sh.name, "未知的区划层级“%s”（应为 county、township 或 village）",
                            "unknown division level '%s' (use county, township or village)", level.s);
                        ok = false;
                }
                want = l == LEVEL_COUNTY ? 6 : l == LEVEL_TOWNSHIP ? 9 : 12;
                /* digits (and no NUL among them), of its level's length
                 * when the level is known (forms/division.h) */
                bool digits = code.len > 0 && strspn(code.s, "0123456789") == code.len;
                if (!digits || (l != LEVEL_NONE && division_code_level(code.s) != (int)l)) {
                        ERR(cat, &code, sh.name, "区划代码“%s”无效：%s级应为 %zu 位数字",
                            "division code '%s' is invalid: a %s code has %zu digits",
                            code.s, l ? cat_level_name_zh(l) : "?", want);
                        ok = false;
                }
                if (!name.len) {
                        ERR(cat, &name, sh.name, "区划名称为空", "%s", "the division name is empty");
                        ok = false;
                }
                if (phone.len && ftype_check(FT_PHONE, phone.s, 0)) {
                        ERR(cat, &phone, sh.name, "电话“%s”无效（手机 11 位，或区号-号码，如 0574-65123456）",
                            "phone '%s' is invalid (a mobile number, or area code-number such as 0574-65123456)",
                            phone.s);
                        ok = false;
                }
                if (!ok)
                        continue;
                struct cat_division *d = cat_vec_push(&v);
                struct cell *pc = cat_vec_push(&parents);
                if (!d || !pc) {
                        cat_vec_unpush(&v, d);
                        cat_vec_unpush(&parents, pc);
                        cat->arena.oom = true;
                        break;
                }
                d->code = (char *)code.s;
                d->name = (char *)name.s;
                d->level = l;
                d->phone = cat_cell_str(cat, &phone);
                d->pos = (struct cat_pos){ sh.name, code.line, code.col };
                *pc = parent;
                if (l == LEVEL_COUNTY)
                        ncounty++;
        }
        cat->divisions = cat_vec_freeze(&cat->arena, &v, &cat->ndivisions);
        for (size_t i = 0; i < cat->ndivisions; i++) {
                struct cat_division *d = &cat->divisions[i];
                cat_index_code(cat, &cat->by_division, d->code, d, &d->pos, "区划代码", "division code");
        }
        for (size_t i = 0; i < cat->ndivisions; i++) {
                struct cat_division *d = &cat->divisions[i];
                struct cell *pc = &((struct cell *)parents.v)[i];
                const struct cat_division *p;

                if (d->level == LEVEL_COUNTY) {
                        if (pc->len)
                                ERR(cat, pc, sh.name, "县级区划不应有上级", "%s",
                                    "a county has no parent");
                        continue;
                }
                p = pc->len ? cat_map_get(&cat->by_division, pc->s) : NULL;
                if (!p) {
                        ERR(cat, pc, sh.name, "上级区划“%s”不存在", "parent division '%s' does not exist",
                            pc->s);
                } else if (p->level != d->level - 1) {
                        ERR(cat, pc, sh.name, "上级区划“%s”是%s级，应为%s级",
                            "parent '%s' is a %s, expected a %s", pc->s,
                            cat_level_name(p->level), cat_level_name(d->level - 1));
                } else if (!division_code_within(d->code, p->code)) {
                        ERR(cat, pc, sh.name, "区划代码“%s”与上级“%s”不相符（应以上级代码开头）",
                            "division code '%s' does not start with its parent's code '%s'",
                            d->code, p->code);
                } else {
                        d->parent = p;
                }
        }
        if (ncounty != 1 && sh.csv)
                cat_diagf(cat, CAT_ERROR, sh.name, 0, 0, "应有且只有一个县级区划（现有 %zu 个）",
                          "there must be exactly one county (found %zu)", ncounty);
out:
        free(v.v);
        free(parents.v);
        cat_sheet_free(&sh);
}

/* ---- materials.csv ------------------------------------------------------ */

void cat_load_materials(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", NULL };
        struct sheet sh;
        struct vec v = VEC(struct cat_material);

        if (!cat_sheet_load(cat, &sh, "materials.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = cat_get_cell(cat, &sh, row, 0);
                struct cell zh = cat_get_cell(cat, &sh, row, 1);
                struct cell en = cat_get_cell(cat, &sh, row, 2);

                if (!cat_is_code(code.s)) {
                        ERR(cat, &code, sh.name, "材料代码“%s”无效（只能用字母、数字、-、_、.）",
                            "material code '%s' is invalid (letters, digits, - _ . only)", code.s);
                        continue;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "材料“%s”缺少中文名称", "material '%s' has no Chinese name",
                            code.s);
                        continue;
                }
                struct cat_material *m = cat_vec_push(&v);
                if (!m) {
                        cat->arena.oom = true;
                        break;
                }
                m->code = (char *)code.s;
                m->name_zh = (char *)zh.s;
                m->name_en = en.len ? (char *)en.s : m->name_zh;
                m->pos = (struct cat_pos){ sh.name, code.line, code.col };
        }
        cat->materials = cat_vec_freeze(&cat->arena, &v, &cat->nmaterials);
        for (size_t i = 0; i < cat->nmaterials; i++) {
                struct cat_material *m = &cat->materials[i];
                cat_index_code(cat, &cat->by_material, m->code, m, &m->pos, "材料代码", "material code");
        }
out:
        free(v.v);
        cat_sheet_free(&sh);
}

/* ---- choices.csv ---------------------------------------------------------- */

void cat_load_choices(catalog *cat)
{
        static const char *const cols[] = { "list", "value", "label_zh", "label_en", NULL };
        struct sheet sh;
        struct vec lists = VEC(struct cat_list);
        struct vec items = VEC(struct vec);   /* one vec of cat_choice per list */
        struct map idx = { 0 };

        if (!cat_sheet_load(cat, &sh, "choices.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell list = cat_get_cell(cat, &sh, row, 0);
                struct cell value = cat_get_cell(cat, &sh, row, 1);
                struct cell zh = cat_get_cell(cat, &sh, row, 2);
                struct cell en = cat_get_cell(cat, &sh, row, 3);
                struct vec *iv;
                size_t li;

                if (!cat_is_name(list.s)) {
                        ERR(cat, &list, sh.name, "选项列表名“%s”无效（字母开头，只含字母、数字、_）",
                            "choice list name '%s' is invalid (a letter, then letters, digits, _)", list.s);
                        continue;
                }
                if (!value.len || strpbrk(value.s, " \t")) {
                        ERR(cat, &value, sh.name, "选项值“%s”无效：不能为空，也不能含空格",
                            "choice value '%s' is invalid: it must be non-empty without spaces", value.s);
                        continue;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "选项“%s”缺少中文标签", "choice '%s' has no Chinese label",
                            value.s);
                        continue;
                }
                void *found = cat_map_get(&idx, list.s);
                if (found) {
                        li = (size_t)(uintptr_t)found - 1;
                } else {
                        struct cat_list *l = cat_vec_push(&lists);
                        struct vec *nv = cat_vec_push(&items);
                        if (!l || !nv || cat_map_add(&idx, list.s, (void *)(uintptr_t)lists.n) < 0) {
                                cat_vec_unpush(&lists, l);
                                cat_vec_unpush(&items, nv);
                                cat->arena.oom = true;
                                break;
                        }
                        l->name = (char *)list.s;
                        l->pos = (struct cat_pos){ sh.name, list.line, list.col };
                        nv->size = sizeof(struct cat_choice);
                        li = lists.n - 1;
                }
                iv = &((struct vec *)items.v)[li];
                for (size_t k = 0; k < iv->n; k++)
                        if (strcmp(((struct cat_choice *)iv->v)[k].value, value.s) == 0) {
                                ERR(cat, &value, sh.name, "列表“%s”中选项值“%s”重复",
                                    "duplicate value '%s' in list '%s'", list.s, value.s);
                                goto next;
                        }
                struct cat_choice *c = cat_vec_push(iv);
                if (!c) {
                        cat->arena.oom = true;
                        break;
                }
                c->value = (char *)value.s;
                c->label_zh = (char *)zh.s;
                c->label_en = en.len ? (char *)en.s : c->label_zh;
        next:;
        }
        cat->lists = cat_vec_freeze(&cat->arena, &lists, &cat->nlists);
        for (size_t i = 0; i < cat->nlists; i++) {
                struct vec *iv = &((struct vec *)items.v)[i];
                cat->lists[i].items = cat_vec_freeze(&cat->arena, iv, &cat->lists[i].nitems);
                cat_map_put(cat, &cat->by_list, cat->lists[i].name, &cat->lists[i]);
        }
out:
        for (size_t i = 0; i < items.n; i++)
                free(((struct vec *)items.v)[i].v);
        free(items.v);
        free(lists.v);
        cat_map_free(&idx);
        cat_sheet_free(&sh);
}

/* ---- calendar.csv --------------------------------------------------------- */

void cat_load_calendar(catalog *cat)
{
        static const char *const cols[] = { "date", "kind", "name_zh", NULL };
        struct sheet sh;

        if (!cat_sheet_load(cat, &sh, "calendar.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell date = cat_get_cell(cat, &sh, row, 0);
                struct cell kind = cat_get_cell(cat, &sh, row, 1);
                enum cal_kind k;
                int32_t day;
                int rc;

                if (cal_date_parse(date.s, &day) < 0) {
                        ERR(cat, &date, sh.name, "日期“%s”无效（格式为 YYYY-MM-DD，且须是真实的日期）",
                            "bad date '%s' (use YYYY-MM-DD, a real day)", date.s);
                        continue;
                }
                if (strcmp(kind.s, "holiday") == 0) {
                        k = CAL_HOLIDAY;
                } else if (strcmp(kind.s, "workday") == 0) {
                        k = CAL_WORKDAY;
                } else {
                        ERR(cat, &kind, sh.name, "日期类型“%s”无效（应为 holiday 或 workday）",
                            "unknown day kind '%s' (use holiday or workday)", kind.s);
                        continue;
                }
                if (k == CAL_WORKDAY && cal_weekday(day) <= 5)
                        WARN(cat, &kind, sh.name, "%s 本来就是工作日，调休上班标记无效果",
                             "%s is already a weekday; marking it a workday changes nothing", date.s);
                rc = cal_add(cat->cal, day, k);
                if (rc == -EEXIST)
                        ERR(cat, &date, sh.name, "日期“%s”重复", "duplicate date '%s'", date.s);
                else if (rc < 0)
                        cat->arena.oom = true;
        }
out:
        cat_sheet_free(&sh);
}
