/* Loading and checking the county catalogue: see catalog.h and
 * docs/catalog.md, which lists every sheet, column and rule. This file
 * runs the loader's phases in order and answers queries on a loaded
 * catalogue; the phases live in catalog-*.c (catalog-int.h lists them).
 *
 * The loader never stops at the first problem: each sheet is read in
 * full, every row that can be understood is kept, and every problem is
 * recorded as a diagnostic with file, line and column, because an admin
 * fixing a spreadsheet wants the whole list at once. Rows with errors are
 * skipped so later checks do not pile consequential errors on top.
 *
 * Memory: everything the model points to lives in one arena owned by the
 * catalogue (freed at once); parsed expressions are freed one by one. */
#include "forms/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forms/catalog-int.h"

/* ---- names of levels and kinds ------------------------------------------------------------ */

const char *cat_level_name(enum cat_level l)
{
        switch (l) {
        case LEVEL_COUNTY: return "county";
        case LEVEL_TOWNSHIP: return "township";
        case LEVEL_VILLAGE: return "village";
        default: return "none";
        }
}

const char *cat_level_name_zh(enum cat_level l)
{
        switch (l) {
        case LEVEL_COUNTY: return "县";
        case LEVEL_TOWNSHIP: return "乡镇";
        case LEVEL_VILLAGE: return "村";
        default: return "无";
        }
}

const char *cat_mkind_name(enum cat_mkind k)
{
        static const char *const n[] = { "original", "copy", "scan", "commitment" };
        return (unsigned)k < 4 ? n[k] : "?";
}

const char *cat_mkind_name_zh(enum cat_mkind k)
{
        static const char *const n[] = { "原件", "复印件", "扫描件", "承诺书" };
        return (unsigned)k < 4 ? n[k] : "?";
}

/* ---- the public face -------------------------------------------------------------------- */

int catalog_load(const char *dir, catalog **ret)
{
        catalog *cat = calloc(1, sizeof *cat);

        if (!cat)
                return -ENOMEM;
        cat->dir = strdup(dir);
        cat->cal = cal_new();
        cat->diags.size = sizeof(struct cat_diag);
        cat->exprs.size = sizeof(expr *);
        if (!cat->dir || !cat->cal) {
                catalog_free(cat);
                return -ENOMEM;
        }
        /* Order matters: each sheet refers only to sheets read before it. */
        cat_load_divisions(cat);
        cat_load_materials(cat);
        cat_load_choices(cat);
        cat_load_calendar(cat);
        cat_load_matters(cat);
        cat_load_fields(cat);
        cat_check_field_exprs(cat);
        cat_load_matter_materials(cat);
        for (size_t i = 0; i < cat->nmatters && !cat->arena.oom; i++) {
                struct cat_matter *m = &cat->matters[i];
                const struct cat_matter *one = m;
                m->form = cat_build_form(cat, m->code, m->name_zh, m->name_en, false, &one, 1, &m->pos);
                if (m->form)
                        cat_check_applicant(cat, m->form, &m->pos);
        }
        cat_load_bundles(cat);
        if (cat->arena.oom) {
                catalog_free(cat);
                return -ENOMEM;
        }
        *ret = cat;
        return 0;
}

void catalog_free(catalog *cat)
{
        if (!cat)
                return;
        for (size_t i = 0; i < cat->exprs.n; i++)
                expr_free(((expr **)cat->exprs.v)[i]);
        free(cat->exprs.v);
        free(cat->diags.v);
        cat_map_free(&cat->by_division);
        cat_map_free(&cat->by_material);
        cat_map_free(&cat->by_list);
        cat_map_free(&cat->by_matter);
        cat_map_free(&cat->by_bundle);
        cal_free(cat->cal);
        cat_arena_free(&cat->arena);
        free(cat->dir);
        free(cat);
}

size_t catalog_ndiags(const catalog *cat) { return cat->diags.n; }
const struct cat_diag *catalog_diag(const catalog *cat, size_t i)
{
        return i < cat->diags.n ? &((const struct cat_diag *)cat->diags.v)[i] : NULL;
}
size_t catalog_nerrors(const catalog *cat) { return cat->nerrors; }
size_t catalog_nmatters(const catalog *cat) { return cat->nmatters; }
const struct cat_matter *catalog_matter(const catalog *cat, size_t i)
{
        return i < cat->nmatters ? &cat->matters[i] : NULL;
}
size_t catalog_nbundles(const catalog *cat) { return cat->nbundles; }
const struct cat_bundle *catalog_bundle(const catalog *cat, size_t i)
{
        return i < cat->nbundles ? &cat->bundles[i] : NULL;
}
size_t catalog_ndivisions(const catalog *cat) { return cat->ndivisions; }
const struct cat_division *catalog_division(const catalog *cat, size_t i)
{
        return i < cat->ndivisions ? &cat->divisions[i] : NULL;
}
size_t catalog_nmaterials(const catalog *cat) { return cat->nmaterials; }
size_t catalog_nfields(const catalog *cat) { return cat->nfields; }
const calendar *catalog_calendar(const catalog *cat) { return cat->cal; }

const struct cat_matter *catalog_find_matter(const catalog *cat, const char *code)
{
        return cat_map_get(&cat->by_matter, code);
}

const struct cat_bundle *catalog_find_bundle(const catalog *cat, const char *code)
{
        return cat_map_get(&cat->by_bundle, code);
}

const struct cat_division *catalog_find_division(const catalog *cat, const char *code)
{
        return cat_map_get(&cat->by_division, code);
}

const struct cat_form *catalog_find_form(const catalog *cat, const char *code)
{
        const struct cat_matter *m = catalog_find_matter(cat, code);
        const struct cat_bundle *b;

        if (m)
                return m->form;
        b = catalog_find_bundle(cat, code);
        return b ? b->form : NULL;
}

bool catalog_may_accept(const struct cat_matter *m, const struct cat_division *div)
{
        return div && (m->accept_at & (1u << div->level)) && m->form;
}

bool catalog_bundle_may_accept(const struct cat_bundle *b, const struct cat_division *div)
{
        for (size_t i = 0; i < b->nmatters; i++)
                if (!catalog_may_accept(b->matters[i], div))
                        return false;
        return b->nmatters > 0;
}

const struct cat_division *catalog_division_at(const struct cat_division *div, enum cat_level level)
{
        while (div && div->level != level)
                div = div->parent;
        return div;
}
