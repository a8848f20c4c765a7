/* Validation of application data against a form: see validate.h and
 * docs/catalog.md ("Validation").
 *
 * Order of work for one scope (the top level, or one row of a repeat):
 *  1. relevance of every item, in form order: an item's `relevant` sees
 *     earlier non-relevant items as empty, so the result does not depend
 *     on anything but the data and the order of the form;
 *  2. each relevant item: empty and required, then JSON type, length,
 *     field type, choice list, then its constraints (only on a value that
 *     passed the type check, as XLSForm does);
 *  3. keys in the data that the scope does not know.
 * Nothing allocates on the path of a valid application except the
 * optional clean copy. */
#include "forms/validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/csv.h"

void form_problems_init(struct form_problems *p)
{
        memset(p, 0, sizeof *p);
}

void form_problems_reset(struct form_problems *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->v[i].path);
                free(p->v[i].msg_zh);
                free(p->v[i].msg_en);
        }
        p->n = 0;
}

void form_problems_finish(struct form_problems *p)
{
        form_problems_reset(p);
        free(p->v);
        form_problems_init(p);
}

/* The scope an expression is evaluated in. */
struct scope {
        const struct cat_item *items;
        size_t nitems;
        const json_t *obj;              /* the object holding the values */
        signed char *relevant;          /* per item: 1, 0, or -1 not yet known */
        const struct scope *outer;      /* the top level, for a row */
};

struct vctx {
        const struct cat_form *form;
        int32_t today;
        struct form_problems *out;
        json_t *hidden;                 /* paths relevance hides, or NULL */
        int oom;
        /* for the expression being evaluated */
        const struct scope *sc;
        const struct cat_item *self;
        const json_t *self_val;
};

static const json_t *item_value(const struct scope *sc, size_t i)
{
        return json_object_get(sc->obj, sc->items[i].field->name);
}

static bool is_empty(const json_t *v)
{
        if (!v || json_is_null(v))
                return true;
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                for (; *s; s++)
                        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
                                return false;
                return true;
        }
        if (json_is_array(v))
                return json_array_size(v) == 0;
        return false;
}

/* The value of a field as an expression sees it: typed, or NULL when
 * empty or not valid for its type. */
static void typed_value(const struct cat_field *f, const json_t *v, int32_t today, struct expr_value *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->kind = EV_NULL;
        if (f->type == FT_BEGIN_REPEAT) {
                ret->kind = EV_REPEAT;
                ret->rows = json_is_array(v) ? (long)json_array_size(v) : 0;
                return;
        }
        if (is_empty(v))
                return;
        switch (f->type) {
        case FT_INTEGER:
        case FT_DECIMAL:
        case FT_MONEY:
                if (json_is_number(v)) {
                        ret->kind = EV_NUMBER;
                        ret->num = json_number_value(v);
                } else if (json_is_string(v) && !ftype_check(f->type, json_string_value(v), today)) {
                        ret->kind = EV_NUMBER;
                        ret->num = ftype_number(json_string_value(v));
                }
                return;
        case FT_DATE:
                if (json_is_string(v) && cal_date_parse(json_string_value(v), &ret->date) == 0)
                        ret->kind = EV_DATE;
                return;
        default:
                if (json_is_string(v)) {
                        ret->kind = EV_STRING;
                        ret->str = json_string_value(v);
                }
                return;
        }
}

static int find_item(const struct scope *sc, const char *name)
{
        for (size_t i = 0; i < sc->nitems; i++)
                if (strcmp(sc->items[i].field->name, name) == 0)
                        return (int)i;
        return -1;
}

static int env_value_of(void *ud, const char *name, struct expr_value *ret)
{
        struct vctx *c = ud;
        const struct scope *sc = c->sc;
        int i;

        if (!name) {
                if (!c->self) {
                        memset(ret, 0, sizeof *ret);
                        return -ENOENT;
                }
                typed_value(c->self->field, c->self_val, c->today, ret);
                return 0;
        }
        for (; sc; sc = sc->outer) {
                i = find_item(sc, name);
                if (i < 0)
                        continue;
                if (sc->relevant[i] == 0) {
                        /* not relevant: as if empty */
                        typed_value(sc->items[i].field, NULL, c->today, ret);
                        return 0;
                }
                typed_value(sc->items[i].field, item_value(sc, (size_t)i), c->today, ret);
                return 0;
        }
        memset(ret, 0, sizeof *ret);
        return -ENOENT;
}

static bool eval_bool(struct vctx *c, const expr *e, const struct scope *sc,
                      const struct cat_item *self, const json_t *self_val)
{
        struct expr_env env = { .userdata = c, .value_of = env_value_of, .today = c->today };
        struct expr_value v;

        c->sc = sc;
        c->self = self;
        c->self_val = self_val;
        if (expr_eval(e, &env, &v) < 0)
                return false;
        return expr_value_truthy(&v);
}

/* Relevance of item i: relevant when any definition has no `relevant`
 * or one that is true. */
static bool item_relevant(struct vctx *c, const struct scope *sc, size_t i)
{
        const struct cat_item *it = &sc->items[i];

        for (size_t d = 0; d < it->ndefs; d++) {
                if (!it->defs[d]->relevant)
                        return true;
                if (eval_bool(c, it->defs[d]->relevant, sc, it, item_value(sc, i)))
                        return true;
        }
        return false;
}

static void compute_relevance(struct vctx *c, struct scope *sc)
{
        for (size_t i = 0; i < sc->nitems; i++)
                sc->relevant[i] = -1;
        for (size_t i = 0; i < sc->nitems; i++)
                sc->relevant[i] = item_relevant(c, sc, i);
}

bool form_problem_add(struct form_problems *p, const char *path, const char *code, const char *zh, const char *en)
{
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 16;
                struct form_problem *nv = realloc(p->v, cap * sizeof *nv);
                if (!nv)
                        return false;
                p->v = nv;
                p->cap = cap;
        }
        struct form_problem *fp = &p->v[p->n];
        fp->path = strdup(path);
        fp->code = code;
        fp->msg_zh = strdup(zh);
        fp->msg_en = strdup(en);
        if (!fp->path || !fp->msg_zh || !fp->msg_en) {
                free(fp->path);
                free(fp->msg_zh);
                free(fp->msg_en);
                return false;
        }
        p->n++;
        return true;
}

static void add_problem(struct vctx *c, const char *path, const char *code, const char *zh, const char *en)
{
        if (!form_problem_add(c->out, path, code, zh, en))
                c->oom = 1;
}

/* problem(c, path, code, (zh format, args...), (en format, args...)):
 * the two messages take their own arguments, since labels differ by
 * language. */
#define FMT_ARGS(...) __VA_ARGS__
#define problem(c, path, code, zh, en) do {                             \
        char zh_[1024], en_[1024];                                      \
        snprintf(zh_, sizeof zh_, FMT_ARGS zh);                         \
        snprintf(en_, sizeof en_, FMT_ARGS en);                         \
        add_problem(c, path, code, zh_, en_);                           \
} while (0)

/* Labels for messages: "家庭成员第3行·成员身份号码" / "Household members row 3: Member ID".
 * Built only when a problem needs one: most values are fine, and
 * formatting a label for every field was a fifth of validation time. */
struct label {
        const struct cat_item *row_of;
        long row;
        const struct cat_field *f;
        bool built;
        char zh[256];
        char en[256];
};

static void make_label(struct label *l, const struct cat_item *row_of, long row, const struct cat_field *f)
{
        l->row_of = row_of;
        l->row = row;
        l->f = f;
        l->built = false;
}

static void build_label(struct label *l)
{
        if (l->built)
                return;
        if (l->row_of) {
                snprintf(l->zh, sizeof l->zh, "%s第%ld行·%s", l->row_of->field->label_zh, l->row + 1, l->f->label_zh);
                snprintf(l->en, sizeof l->en, "%s row %ld: %s", l->row_of->field->label_en, l->row + 1,
                         l->f->label_en);
        } else {
                snprintf(l->zh, sizeof l->zh, "%s", l->f->label_zh);
                snprintf(l->en, sizeof l->en, "%s", l->f->label_en);
        }
        l->built = true;
}

static const char *label_zh(struct label *l)
{
        build_label(l);
        return l->zh;
}

static const char *label_en(struct label *l)
{
        build_label(l);
        return l->en;
}

/* prefix + name into buf (truncated to fit): "members[2]." + "member_id". */
static void join_path(char *buf, size_t size, const char *prefix, const char *name)
{
        size_t a = strlen(prefix), b = strlen(name);

        if (a >= size)
                a = size - 1;
        memcpy(buf, prefix, a);
        if (b >= size - a)
                b = size - a - 1;
        memcpy(buf + a, name, b);
        buf[a + b] = '\0';
}

static bool choice_known(const struct cat_list *l, const char *v, size_t len)
{
        for (size_t i = 0; l && i < l->nitems; i++)
                if (strlen(l->items[i].value) == len && memcmp(l->items[i].value, v, len) == 0)
                        return true;
        return false;
}

/* Type checks of one non-empty value. Returns true when it may go on to
 * its constraints. */
static bool check_value(struct vctx *c, const char *path, struct label *lb,
                        const struct cat_field *f, const json_t *v)
{
        char numbuf[64];
        const char *s;

        if (json_is_string(v)) {
                s = json_string_value(v);
        } else if (json_is_integer(v) && (f->type == FT_INTEGER || f->type == FT_DECIMAL ||
                                          f->type == FT_MONEY)) {
                snprintf(numbuf, sizeof numbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                s = numbuf;
        } else if (json_is_real(v) && (f->type == FT_DECIMAL || f->type == FT_MONEY)) {
                double d = json_real_value(v);
                if (!isfinite(d) || fabs(d) > 1e15) {
                        problem(c, path, "decimal", ("%s：数值超出范围", label_zh(lb)),
                                ("%s: the number is out of range", label_en(lb)));
                        return false;
                }
                snprintf(numbuf, sizeof numbuf, "%.15g", d);
                s = numbuf;
        } else {
                problem(c, path, "bad_type",
                        ("%s：应填写文字，而不是%s", label_zh(lb),
                         json_is_number(v) ? "数字" : json_is_boolean(v) ? "真/假" :
                         json_is_array(v) ? "列表" : "对象"),
                        ("%s: expected text, not %s", label_en(lb),
                         json_is_number(v) ? "a number" : json_is_boolean(v) ? "true/false" :
                         json_is_array(v) ? "a list" : "an object"));
                return false;
        }
        if (strlen(s) > FORM_MAX_VALUE) {
                problem(c, path, "too_long", ("%s：内容过长（最多 %d 字节）", label_zh(lb), FORM_MAX_VALUE),
                        ("%s: the value is too long (at most %d bytes)", label_en(lb), FORM_MAX_VALUE));
                return false;
        }
        const struct ftype_issue *is = ftype_check(f->type, s, c->today);
        if (is) {
                problem(c, path, is->code, ("%s：%s", label_zh(lb), is->zh), ("%s: %s", label_en(lb), is->en));
                return false;
        }
        if (f->type == FT_SELECT_ONE) {
                if (!choice_known(f->choices, s, strlen(s))) {
                        problem(c, path, "choice", ("%s：“%s”不是可选的选项", label_zh(lb), s),
                                ("%s: '%s' is not one of the choices", label_en(lb), s));
                        return false;
                }
        } else if (f->type == FT_SELECT_MULTIPLE) {
                bool ok = true;
                for (const char *p = s; *p;) {
                        while (*p == ' ')
                                p++;
                        const char *e = p;
                        while (*e && *e != ' ')
                                e++;
                        if (e == p)
                                break;
                        if (!choice_known(f->choices, p, (size_t)(e - p))) {
                                problem(c, path, "choice", ("%s：“%.*s”不是可选的选项", label_zh(lb), (int)(e - p), p),
                                        ("%s: '%.*s' is not one of the choices", label_en(lb), (int)(e - p), p));
                                ok = false;
                        }
                        for (const char *q = s; ok && q < p;) {
                                while (*q == ' ')
                                        q++;
                                const char *qe = q;
                                while (*qe && *qe != ' ')
                                        qe++;
                                if (q < p && qe - q == e - p && memcmp(q, p, (size_t)(e - p)) == 0) {
                                        problem(c, path, "choice_repeated", ("%s：选项“%.*s”重复", label_zh(lb), (int)(e - p), p),
                                                ("%s: '%.*s' is chosen twice", label_en(lb), (int)(e - p), p));
                                        ok = false;
                                }
                                q = qe;
                        }
                        p = e;
                }
                return ok;
        }
        return true;
}

/* Each distinct constraint of the relevant definitions. */
static void check_constraints(struct vctx *c, const char *path, struct label *lb,
                              const struct scope *sc, const struct cat_item *it, const json_t *v)
{
        for (size_t d = 0; d < it->ndefs; d++) {
                const struct cat_field *f = it->defs[d];
                bool seen = false;
                if (!f->constraint)
                        continue;
                for (size_t e = 0; e < d && !seen; e++)
                        seen = it->defs[e]->constraint_src &&
                               strcmp(it->defs[e]->constraint_src, f->constraint_src) == 0;
                if (seen)
                        continue;
                if (f->relevant && !eval_bool(c, f->relevant, sc, it, v))
                        continue;   /* this matter does not ask the field */
                if (eval_bool(c, f->constraint, sc, it, v))
                        continue;
                if (f->constraint_msg_zh)
                        problem(c, path, "constraint", ("%s：%s", label_zh(lb), f->constraint_msg_zh),
                                ("%s: %s", label_en(lb), f->constraint_msg_zh));     /* the catalogue's words */
                else if (f->constraint_words_zh)
                        problem(c, path, "constraint", ("%s：%s", label_zh(lb), f->constraint_words_zh),
                                ("%s: %s", label_en(lb), f->constraint_words_en));
                else    /* never the expression: people do not read it */
                        problem(c, path, "constraint", ("%s：不符合填写要求，请核对", label_zh(lb)),
                                ("%s: not as the form asks; check it", label_en(lb)));
        }
}

static bool item_required(struct vctx *c, const struct scope *sc, const struct cat_item *it, const json_t *v)
{
        for (size_t d = 0; d < it->ndefs; d++) {
                const struct cat_field *f = it->defs[d];
                if (f->required && (!f->relevant || eval_bool(c, f->relevant, sc, it, v)))
                        return true;
        }
        return false;
}

static void validate_scope(struct vctx *c, struct scope *sc, const char *prefix,
                           const struct cat_item *row_of, long row, json_t *clean);

static void check_unknown_keys(struct vctx *c, const struct scope *sc, const char *prefix)
{
        const char *key;
        json_t *val;
        char path[512];

        json_object_foreach((json_t *)sc->obj, key, val) {
                if (find_item(sc, key) >= 0)
                        continue;
                snprintf(path, sizeof path, "%s%s", prefix, key);
                problem(c, path, "unknown_field", ("表单中没有字段“%s”", key), ("'%s' is not a field of this form", key));
        }
}

static void validate_repeat(struct vctx *c, const char *path, struct label *lb,
                            const struct cat_item *it, const json_t *v, const struct scope *outer,
                            json_t *clean)
{
        const struct cat_field *f = it->field;
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        int minr = 0, maxr = CAT_REPEAT_MAX_ROWS;
        json_t *rows = NULL;

        if (v && !json_is_null(v) && !json_is_array(v)) {
                problem(c, path, "bad_type", ("%s：应为多行列表", label_zh(lb)), ("%s: expected a list of rows", label_en(lb)));
                return;
        }
        for (size_t d = 0; d < it->ndefs; d++) {
                if (it->defs[d]->min_rows > minr)
                        minr = it->defs[d]->min_rows;
                if (it->defs[d]->max_rows < maxr)
                        maxr = it->defs[d]->max_rows;
        }
        if (!item_required(c, outer, it, v) && minr > 0 && n == 0)
                minr = 0;
        if ((long)n < minr) {
                problem(c, path, n ? "repeat_min" : "required", ("%s：至少填写 %d 行（现有 %zu 行）", label_zh(lb), minr, n),
                        ("%s: at least %d rows are needed (there are %zu)", label_en(lb), minr, n));
        } else if ((long)n > maxr) {
                problem(c, path, "repeat_max", ("%s：最多 %d 行（现有 %zu 行）", label_zh(lb), maxr, n),
                        ("%s: at most %d rows (there are %zu)", label_en(lb), maxr, n));
                return;   /* do not walk an oversized list */
        }
        if (clean && n) {
                rows = json_array();
                if (!rows || json_object_set_new(clean, f->name, rows) < 0) {
                        c->oom = 1;
                        return;
                }
        }
        signed char relbuf[64];
        signed char *rel = it->nchildren <= sizeof relbuf ? relbuf : malloc(it->nchildren);
        if (!rel) {
                c->oom = 1;
                return;
        }
        for (size_t r = 0; r < n; r++) {
                const json_t *rowv = json_array_get(v, r);
                char rpath[544];
                snprintf(rpath, sizeof rpath, "%s[%zu]", path, r);
                if (!json_is_object(rowv)) {
                        problem(c, rpath, "bad_type", ("%s第%zu行：应为一组字段", label_zh(lb), r + 1),
                                ("%s row %zu: expected an object", label_en(lb), r + 1));
                        continue;
                }
                struct scope rs = { it->children, it->nchildren, rowv, rel, outer };
                json_t *crow = NULL;
                if (rows) {
                        crow = json_object();
                        if (!crow || json_array_append_new(rows, crow) < 0) {
                                c->oom = 1;
                                break;
                        }
                }
                char rprefix[552];
                snprintf(rprefix, sizeof rprefix, "%s.", rpath);
                compute_relevance(c, &rs);
                validate_scope(c, &rs, rprefix, it, (long)r, crow);
        }
        if (rel != relbuf)
                free(rel);
        /* The repeat's own constraints (count(.) = ...) */
        check_constraints(c, path, lb, outer, it, v);
}

static void validate_scope(struct vctx *c, struct scope *sc, const char *prefix,
                           const struct cat_item *row_of, long row, json_t *clean)
{
        char path[512];
        size_t present = 0;

        for (size_t i = 0; i < sc->nitems; i++) {
                const struct cat_item *it = &sc->items[i];
                const struct cat_field *f = it->field;
                const json_t *v = item_value(sc, i);
                struct label lb;

                present += v != NULL;
                if (!sc->relevant[i]) {
                        if (c->hidden) {
                                join_path(path, sizeof path, prefix, f->name);
                                if (json_array_append_new(c->hidden, json_string(path)) < 0)
                                        c->oom = 1;
                        }
                        continue;
                }
                join_path(path, sizeof path, prefix, f->name);
                make_label(&lb, row_of, row, f);
                if (f->type == FT_BEGIN_REPEAT) {
                        validate_repeat(c, path, &lb, it, v, sc, clean);
                        continue;
                }
                if (is_empty(v)) {
                        if (item_required(c, sc, it, v))
                                problem(c, path, "required", ("%s：必填，请填写", label_zh(&lb)), ("%s: required", label_en(&lb)));
                        continue;
                }
                if (!check_value(c, path, &lb, f, v))
                        continue;
                check_constraints(c, path, &lb, sc, it, v);
                if (clean && json_object_set(clean, f->name, (json_t *)v) < 0)
                        c->oom = 1;
        }
        /* every key matched a field: nothing unknown to look for */
        if (present != json_object_size(sc->obj))
                check_unknown_keys(c, sc, prefix);
}

static int validate(const struct cat_form *form, const json_t *data, int32_t today, struct form_problems *out,
                    json_t **ret_clean, json_t *hidden)
{
        struct vctx c = { .form = form, .today = today, .out = out, .hidden = hidden };
        signed char relbuf[64], *rel = relbuf;
        json_t *clean = NULL;

        if (!json_is_object(data)) {
                add_problem(&c, "", "bad_json", "申请数据应为一个 JSON 对象（{…}）",
                            "the application data must be a JSON object ({...})");
                return c.oom ? -ENOMEM : 0;
        }
        if (json_object_size(data) > FORM_MAX_KEYS) {
                problem(&c, "", "too_many_fields", ("字段过多（最多 %d 个）", FORM_MAX_KEYS),
                        ("too many fields (at most %d)", FORM_MAX_KEYS));
                return c.oom ? -ENOMEM : 0;
        }
        if (form->nitems > sizeof relbuf && !(rel = malloc(form->nitems)))
                return -ENOMEM;
        if (ret_clean && !(clean = json_object())) {
                if (rel != relbuf)
                        free(rel);
                return -ENOMEM;
        }
        struct scope top = { form->items, form->nitems, data, rel, NULL };
        compute_relevance(&c, &top);
        validate_scope(&c, &top, "", NULL, 0, clean);
        if (rel != relbuf)
                free(rel);
        if (c.oom) {
                json_decref(clean);
                return -ENOMEM;
        }
        if (ret_clean)
                *ret_clean = clean;
        return 0;
}

int form_validate(const struct cat_form *form, const json_t *data, int32_t today,
                  struct form_problems *out, json_t **ret_clean)
{
        return validate(form, data, today, out, ret_clean, NULL);
}

int form_validate_hidden(const struct cat_form *form, const json_t *data, int32_t today,
                         struct form_problems *out, json_t *hidden)
{
        return validate(form, data, today, out, NULL, hidden);
}

json_t *form_split(const struct cat_matter *m, const json_t *data, int32_t today)
{
        struct form_problems p;
        json_t *clean = NULL;

        /* Validating against the matter's own form yields exactly the
         * fields that matter asks for, under its own relevance rules. */
        form_problems_init(&p);
        if (form_validate(m->form, data, today, &p, &clean) < 0)
                clean = NULL;
        form_problems_finish(&p);
        return clean;
}

void form_materials_asked(const struct cat_form *form, const json_t *data, int32_t today, bool *asked)
{
        struct vctx c = { .form = form, .today = today };
        struct form_problems none;

        form_problems_init(&none);
        c.out = &none;
        for (size_t k = 0; k < form->nmaterials; k++) {
                const struct cat_form_material *fm = &form->materials[k];
                asked[k] = false;
                for (size_t d = 0; d < fm->ndefs && !asked[k]; d++) {
                        const struct cat_form *mf = fm->def_matters[d]->form;
                        signed char relbuf[64], *rel = relbuf;
                        if (!fm->defs[d]->relevant) {
                                asked[k] = true;
                                break;
                        }
                        if (mf->nitems > sizeof relbuf && !(rel = malloc(mf->nitems))) {
                                asked[k] = true;   /* out of memory: ask rather than forget */
                                break;
                        }
                        struct scope top = { mf->items, mf->nitems, json_is_object(data) ? data : NULL, rel, NULL };
                        compute_relevance(&c, &top);
                        asked[k] = eval_bool(&c, fm->defs[d]->relevant, &top, NULL, NULL);
                        if (rel != relbuf)
                                free(rel);
                }
        }
        form_problems_finish(&none);
}
