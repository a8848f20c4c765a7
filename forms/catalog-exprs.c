/* Expressions in the catalogue's cells: each `constraint` and `relevant`
 * parsed where it is read, then checked once against the fields of its
 * matter (the checks across sheets: a reference must name a field the
 * expression can see, and a condition must be true or false), and a
 * constraint without a message put in plain words. See docs/catalog.md
 * ("Expressions"). */
#include "forms/catalog-int.h"

#include <errno.h>
#include <string.h>

/* ---- expressions in cells ------------------------------------------------------ */

/* Line and column of byte offset `off` inside a cell that starts at pos. */
static struct cat_pos pos_in_cell(struct cat_pos pos, const char *src, size_t off)
{
        size_t line_start = 0;
        int extra_lines = 0;

        for (size_t i = 0; i < off && src[i]; i++)
                if (src[i] == '\n') {
                        extra_lines++;
                        line_start = i + 1;
                }
        pos.col = (extra_lines ? 1 : pos.col) + (int)utf8_length(src + line_start, off - line_start);
        pos.line += extra_lines;
        return pos;
}

expr *cat_parse_expr_cell(catalog *cat, const struct cell *c, const char *sheet, const char *what)
{
        struct expr_error err = { 0 };
        expr *e = NULL;
        int r;

        if (!c->len)
                return NULL;
        r = expr_parse(c->s, &e, &err);
        if (r == -ENOMEM) {
                cat->arena.oom = true;
                return NULL;
        }
        if (r < 0) {
                struct cat_pos p = pos_in_cell((struct cat_pos){ sheet, c->line, c->col }, c->s, err.offset);
                cat_diagf(cat, CAT_ERROR, sheet, p.line, p.col, "%s 表达式有误：%s", "bad %s expression: %s",
                          what, err.msg);
                return NULL;
        }
        expr **slot = cat_vec_push(&cat->exprs);
        if (!slot) {
                expr_free(e);
                cat->arena.oom = true;
                return NULL;
        }
        *slot = e;
        return e;
}

/* ---- expression checking ------------------------------------------------------ */

static enum expr_type field_expr_type(enum ftype t)
{
        switch (t) {
        case FT_INTEGER:
        case FT_DECIMAL:
        case FT_MONEY:
                return ET_NUMBER;
        case FT_DATE:
                return ET_DATE;
        case FT_BEGIN_REPEAT:
                return ET_REPEAT;
        default:
                return ET_STRING;
        }
}

static const struct cat_field *find_in(const struct cat_field *f, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(f[i].name, name) == 0)
                        return &f[i];
        return NULL;
}

static int check_type_of(void *ud, const char *name, enum expr_type *ret)
{
        const struct check_env *ce = ud;
        const struct cat_field *f;

        if (!name) {
                if (!ce->self)
                        return -ENOENT;
                *ret = field_expr_type(ce->self->type);
                return 0;
        }
        f = ce->scope ? find_in(ce->scope->children, ce->scope->nchildren, name) : NULL;
        if (!f)
                f = find_in(ce->m->fields, ce->m->nfields, name);
        if (!f)
                return -ENOENT;
        *ret = field_expr_type(f->type);
        return 0;
}

/* Report references to fields that live inside a repeat, seen from
 * outside it: expr_check would only call them unknown. */
struct ref_ctx {
        catalog *cat;
        const struct check_env *ce;
        const char *src;
        struct cat_pos pos;
        bool bad;
};

static void check_ref(void *ud, const char *name, size_t offset)
{
        struct ref_ctx *rc = ud;
        enum expr_type t;

        if (check_type_of((void *)rc->ce, name, &t) == 0)
                return;
        for (size_t i = 0; i < rc->ce->m->nfields; i++) {
                const struct cat_field *f = &rc->ce->m->fields[i];
                if (f->type == FT_BEGIN_REPEAT && find_in(f->children, f->nchildren, name)) {
                        struct cat_pos p = pos_in_cell(rc->pos, rc->src, offset);
                        cat_diagf(rc->cat, CAT_ERROR, p.sheet, p.line, p.col,
                                  "字段“%s”在重复组“%s”内，不能在组外引用",
                                  "field '%s' is inside repeat '%s' and cannot be used outside it",
                                  name, f->name);
                        rc->bad = true;
                        return;
                }
        }
}

void cat_check_expr(catalog *cat, const expr *e, const char *src, struct cat_pos pos,
                    const struct check_env *ce, const char *what)
{
        struct expr_env env = { .userdata = (void *)ce, .type_of = check_type_of };
        struct ref_ctx rc = { cat, ce, src, pos, false };
        struct expr_error err = { 0 };
        enum expr_type t;

        if (!e)
                return;
        expr_foreach_ref(e, check_ref, &rc);
        if (rc.bad)
                return;
        if (expr_check(e, &env, &t, &err) < 0) {
                struct cat_pos p = pos_in_cell(pos, src, err.offset);
                cat_diagf(cat, CAT_ERROR, p.sheet, p.line, p.col, "%s 表达式有误：%s", "bad %s expression: %s",
                          what, err.msg);
        } else if (t != ET_BOOL) {
                cat_diagf(cat, CAT_ERROR, pos.sheet, pos.line, pos.col,
                          "%s 表达式的结果应为真/假，而不是%s", "a %s expression must give true or false, not a %s",
                          what, expr_type_name(t));
        }
}

static const char *field_label(void *ud, const char *name, bool zh)
{
        const struct check_env *ce = ud;
        const struct cat_field *f = name ? NULL : ce->self;

        if (name) {
                f = ce->scope ? find_in(ce->scope->children, ce->scope->nchildren, name) : NULL;
                if (!f)
                        f = find_in(ce->m->fields, ce->m->nfields, name);
        }
        return f ? (zh || !f->label_en ? f->label_zh : f->label_en) : NULL;
}

/* A constraint without a message is told in plain words, never as its
 * expression; one that cannot be put in words needs its message. */
static void constraint_words(catalog *cat, const struct check_env *ce, struct cat_field *f)
{
        struct expr_env env = { .userdata = (void *)ce, .type_of = check_type_of };
        char zh[512], en[512];

        if (!f->constraint || f->constraint_msg_zh)
                return;
        if (expr_describe(f->constraint, &env, field_label, (void *)ce, zh, sizeof zh, en, sizeof en) == 0) {
                f->constraint_words_zh = cat_arena_strndup(&cat->arena, zh, strlen(zh));
                f->constraint_words_en = cat_arena_strndup(&cat->arena, en, strlen(en));
        } else {
                cat_diagf(cat, CAT_WARNING, f->constraint_pos.sheet, f->constraint_pos.line, f->constraint_pos.col,
                          "字段“%s”的约束无法自动说明，也没有提示语：请在 constraint_msg_zh 列写明填写要求（如“请按身份证号码格式填写”）",
                          "field '%s': its constraint has no message and cannot be put in plain words: write what is"
                          " asked in constraint_msg_zh (people never see the expression)", f->name);
        }
}

static void check_field_exprs(catalog *cat, const struct cat_matter *m, const struct cat_field *scope,
                              const struct cat_field *f)
{
        struct check_env ce = { m, scope, f };
        size_t errors = cat->nerrors;

        cat_check_expr(cat, f->constraint, f->constraint_src, f->constraint_pos, &ce, "constraint");
        if (cat->nerrors == errors)
                constraint_words(cat, &ce, (struct cat_field *)f);
        /* relevant: "." is the field itself too, as in XLSForm. */
        cat_check_expr(cat, f->relevant, f->relevant_src, f->relevant_pos, &ce, "relevant");
}

void cat_check_field_exprs(catalog *cat)
{
        for (size_t i = 0; i < cat->nmatters; i++) {
                const struct cat_matter *m = &cat->matters[i];
                for (size_t k = 0; k < m->nfields; k++) {
                        const struct cat_field *f = &m->fields[k];
                        check_field_exprs(cat, m, NULL, f);
                        for (size_t j = 0; j < f->nchildren; j++)
                                check_field_exprs(cat, m, f, &f->children[j]);
                }
        }
}
