/* Plain words for a constraint (expr_describe in expr.h): what a person
 * at the window reads when a value is refused, in place of the
 * expression the catalogue's author wrote. */
#include <stdio.h>
#include <string.h>

#include "forms/expr-tree.h"

enum subject_kind { S_VALUE, S_LENGTH, S_ROWS, S_CHOICES, S_AGE };

struct subject {
        enum subject_kind kind;
        const char *name;       /* NULL: the field itself */
        bool date;
};

struct words {
        const struct expr_env *env;
        const char *(*label)(void *ud, const char *name, bool zh);
        void *ud;
};

static const char *label_of(const struct words *w, const char *name, bool zh)
{
        const char *l = w->label ? w->label(w->ud, name, zh) : NULL;
        return l && *l ? l : name;
}

static bool is_date(const struct words *w, const char *name)
{
        enum expr_type t;
        return w->env && w->env->type_of && w->env->type_of(w->env->userdata, name, &t) == 0 && t == ET_DATE;
}

static bool self_or_ref(const struct node *n)
{
        return n && (n->kind == N_SELF || n->kind == N_REF);
}

static bool subject_of(const struct words *w, const struct node *n, struct subject *s)
{
        memset(s, 0, sizeof *s);
        if (self_or_ref(n)) {
                s->kind = S_VALUE;
                s->name = n->kind == N_REF ? n->str : NULL;
                s->date = is_date(w, s->name);
                return true;
        }
        if (n->kind != N_CALL || !self_or_ref(n->kid[0]))
                return false;
        s->name = n->kid[0]->kind == N_REF ? n->kid[0]->str : NULL;
        switch (n->fn) {
        case F_STRING_LENGTH: s->kind = S_LENGTH; return true;
        case F_COUNT: s->kind = S_ROWS; return true;
        case F_COUNT_SELECTED: s->kind = S_CHOICES; return true;
        case F_AGE: s->kind = S_AGE; return true;
        default: return false;
        }
}

/* What the subject is compared with. */
static bool value_of(const struct words *w, const struct node *n, char *zh, size_t zl, char *en, size_t el)
{
        switch (n->kind) {
        case N_NUM:
                snprintf(zh, zl, "%g", n->num);
                snprintf(en, el, "%g", n->num);
                return true;
        case N_STR:
                snprintf(zh, zl, n->is_date ? "%s" : "“%s”", n->str);
                snprintf(en, el, n->is_date ? "%s" : "'%s'", n->str);
                return true;
        case N_REF:
                snprintf(zh, zl, "“%s”", label_of(w, n->str, true));
                snprintf(en, el, "'%s'", label_of(w, n->str, false));
                return true;
        case N_CALL:
                if (n->fn != F_TODAY)
                        return false;
                snprintf(zh, zl, "今天");
                snprintf(en, el, "today");
                return true;
        default:
                return false;
        }
}

static void subject_words(const struct words *w, const struct subject *s, char *zh, size_t zl, char *en, size_t el)
{
        char lz[160] = "", le[160] = "";

        if (s->name) {
                snprintf(lz, sizeof lz, "“%s”", label_of(w, s->name, true));
                snprintf(le, sizeof le, "'%s'", label_of(w, s->name, false));
        }
        switch (s->kind) {
        case S_VALUE:
                snprintf(zh, zl, "%s", lz);
                snprintf(en, el, "%s", *le ? le : "");
                break;
        case S_LENGTH:
                snprintf(zh, zl, "%s%s长度", lz, *lz ? "的" : "");
                snprintf(en, el, "%s%slength", le, *le ? "'s " : "");
                break;
        case S_ROWS:
                snprintf(zh, zl, "%s%s行数", lz, *lz ? "的" : "");
                snprintf(en, el, "the number of rows%s%s", *le ? " of " : "", le);
                break;
        case S_CHOICES:
                snprintf(zh, zl, "%s所选项数", lz);
                snprintf(en, el, "the choices made%s%s", *le ? " in " : "", le);
                break;
        case S_AGE:
                snprintf(zh, zl, "%s%s年龄", lz, *lz ? "对应的" : "");
                snprintf(en, el, "the age%s%s", *le ? " from " : "", le);
                break;
        }
}

static const char *unit(const struct subject *s, bool zh)
{
        switch (s->kind) {
        case S_LENGTH: return zh ? " 个字" : " characters";
        case S_ROWS: return zh ? " 行" : " rows";
        case S_CHOICES: return zh ? " 项" : "";
        case S_AGE: return zh ? " 岁" : " years";
        default: return "";
        }
}

static enum nkind flipped(enum nkind k)
{
        switch (k) {
        case N_LT: return N_GT;
        case N_LE: return N_GE;
        case N_GT: return N_LT;
        case N_GE: return N_LE;
        default: return k;
        }
}

static const char *op_words(enum nkind k, bool date, bool zh)
{
        static const char *const num_zh[] = { [N_EQ] = "应为", [N_NE] = "不能为", [N_LT] = "应小于",
                                              [N_LE] = "不超过", [N_GT] = "应大于", [N_GE] = "不少于" };
        static const char *const date_zh[] = { [N_EQ] = "应为", [N_NE] = "不能为", [N_LT] = "应早于",
                                               [N_LE] = "不晚于", [N_GT] = "应晚于", [N_GE] = "不早于" };
        static const char *const num_en[] = { [N_EQ] = "must be", [N_NE] = "must not be",
                                              [N_LT] = "must be less than", [N_LE] = "must be at most",
                                              [N_GT] = "must be more than", [N_GE] = "must be at least" };
        static const char *const date_en[] = { [N_EQ] = "must be", [N_NE] = "must not be", [N_LT] = "must be before",
                                               [N_LE] = "must be on or before", [N_GT] = "must be after",
                                               [N_GE] = "must be on or after" };
        return (zh ? (date ? date_zh : num_zh) : (date ? date_en : num_en))[k];
}

static bool is_cmp(enum nkind k)
{
        return k == N_EQ || k == N_NE || k == N_LT || k == N_LE || k == N_GT || k == N_GE;
}

/* One comparison: its subject, its operator (subject on the left) and
 * the words of its value. */
struct cmp {
        struct subject s;
        enum nkind op;
        char vz[160], ve[160];
        bool date;
        bool word;              /* the value is a field or today: no unit after it */
};

/* Chinese puts a space between its words and digits, none between its
 * own words. */
static const char *gap(const char *zh)
{
        unsigned char c = (unsigned char)zh[0];
        return c && c < 0x80 ? " " : "";
}

static bool read_cmp(const struct words *w, const struct node *n, struct cmp *c)
{
        if (!is_cmp(n->kind))
                return false;
        c->op = n->kind;
        if (subject_of(w, n->kid[0], &c->s) &&
            value_of(w, n->kid[1], c->vz, sizeof c->vz, c->ve, sizeof c->ve)) {
                ;
        } else if (subject_of(w, n->kid[1], &c->s) &&
                   value_of(w, n->kid[0], c->vz, sizeof c->vz, c->ve, sizeof c->ve)) {
                c->op = flipped(n->kind);
        } else {
                return false;
        }
        const struct node *v = c->op == n->kind ? n->kid[1] : n->kid[0];
        c->word = v->kind == N_REF || v->kind == N_CALL;
        c->date = c->s.kind == S_VALUE &&
                  (c->s.date || (n->kid[1]->kind == N_CALL && n->kid[1]->fn == F_TODAY) ||
                   (n->kid[0]->kind == N_CALL && n->kid[0]->fn == F_TODAY) ||
                   (n->kid[1]->kind == N_STR && n->kid[1]->is_date));
        return true;
}

static bool same_subject(const struct subject *a, const struct subject *b)
{
        return a->kind == b->kind && (a->name == b->name || (a->name && b->name && strcmp(a->name, b->name) == 0));
}

static bool say(const struct words *w, const struct node *n, char *zh, size_t zl, char *en, size_t el, int depth)
{
        struct cmp a, b;
        char sz[200], se[200];

        if (depth > 8)
                return false;
        if (read_cmp(w, n, &a)) {
                subject_words(w, &a.s, sz, sizeof sz, se, sizeof se);
                snprintf(zh, zl, "%s%s%s%s%s", sz, op_words(a.op, a.date, true), gap(a.vz), a.vz,
                         a.word ? "" : unit(&a.s, true));
                snprintf(en, el, "%s%s%s %s%s", se, *se ? " " : "", op_words(a.op, a.date, false), a.ve,
                         a.word ? "" : unit(&a.s, false));
                return true;
        }
        if (n->kind == N_AND && read_cmp(w, n->kid[0], &a) && read_cmp(w, n->kid[1], &b) &&
            same_subject(&a.s, &b.s) && (a.op == N_GE || a.op == N_GT) && (b.op == N_LE || b.op == N_LT)) {
                /* a range: "长度应在 2 至 20 个字之间" */
                bool open = a.op == N_GT || b.op == N_LT, date = a.date || b.date;
                subject_words(w, &a.s, sz, sizeof sz, se, sizeof se);
                const char *uz = a.word || b.word ? "" : unit(&a.s, true), *ue = a.word || b.word ? "" : unit(&a.s, false);
                if (open) {
                        snprintf(zh, zl, "%s%s%s%s%s，且%s%s%s%s", sz, op_words(a.op, date, true), gap(a.vz), a.vz,
                                 a.word ? "" : unit(&a.s, true), op_words(b.op, date, true), gap(b.vz), b.vz,
                                 b.word ? "" : unit(&b.s, true));
                        snprintf(en, el, "%s%s%s %s%s, and %s %s%s", se, *se ? " " : "", op_words(a.op, date, false),
                                 a.ve, a.word ? "" : unit(&a.s, false), op_words(b.op, date, false), b.ve,
                                 b.word ? "" : unit(&b.s, false));
                } else {
                        snprintf(zh, zl, "%s应在%s%s%s至%s%s%s%s之间", sz, gap(a.vz), a.vz, gap(a.vz), gap(b.vz), b.vz,
                                 uz, *uz ? "" : gap(b.vz));
                        snprintf(en, el, "%s%smust be between %s and %s%s", se, *se ? " " : "", a.ve, b.ve, ue);
                }
                return true;
        }
        if (n->kind == N_AND || n->kind == N_OR) {
                char z1[400], e1[400], z2[400], e2[400];
                if (!say(w, n->kid[0], z1, sizeof z1, e1, sizeof e1, depth + 1) ||
                    !say(w, n->kid[1], z2, sizeof z2, e2, sizeof e2, depth + 1))
                        return false;
                snprintf(zh, zl, "%s，%s%s", z1, n->kind == N_AND ? "且" : "或", z2);
                snprintf(en, el, "%s, %s %s", e1, n->kind == N_AND ? "and" : "or", e2);
                return true;
        }
        return false;
}

int expr_describe(const expr *e, const struct expr_env *env,
                  const char *(*label)(void *ud, const char *name, bool zh), void *ud,
                  char *zh, size_t zhlen, char *en, size_t enlen)
{
        struct words w = { env, label, ud };

        if (!e || !e->root || !say(&w, e->root, zh, zhlen, en, enlen, 0))
                return -1;
        return 0;
}
