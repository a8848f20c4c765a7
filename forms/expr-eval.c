/* The expression language's evaluator: the value of a checked tree for
 * one application, with the NULL semantics expr.h lists (a missing value
 * never makes an error; it makes the comparison false or the result
 * NULL). */
#include <math.h>
#include "forms/port.h"      /* regex_t: POSIX, or TRE on Windows */
#include <string.h>

#include "forms/calendar.h"
#include "forms/csv.h"
#include "forms/expr-int.h"
#include "forms/ftype.h"

/* ---- evaluation ---------------------------------------------------------- */

struct evaluator {
        const struct expr_env *env;
};

static void eval_node(const struct evaluator *ev, const struct node *n, struct expr_value *v);

static void set_null(struct expr_value *v)
{
        v->kind = EV_NULL;
}

static void set_bool(struct expr_value *v, bool b)
{
        v->kind = EV_BOOL;
        v->b = b;
}

static void set_num(struct expr_value *v, double d)
{
        if (!isfinite(d)) {
                v->kind = EV_NULL;
                return;
        }
        v->kind = EV_NUMBER;
        v->num = d;
}

static void set_date(struct expr_value *v, double d)
{
        /* 1900-01-01 .. 2999-12-31 */
        if (!(d >= -25567 && d <= 376199)) {
                v->kind = EV_NULL;
                return;
        }
        v->kind = EV_DATE;
        v->date = (int32_t)d;
}

bool expr_value_truthy(const struct expr_value *v)
{
        return v->kind == EV_BOOL ? v->b : v->kind != EV_NULL;
}

static bool is_empty(const struct expr_value *v)
{
        return v->kind == EV_NULL || (v->kind == EV_STRING && v->str[0] == '\0');
}

/* Both sides as dates, when one is a date and the other a string that
 * reads as one. */
static bool as_dates(const struct expr_value *a, const struct expr_value *b, int32_t *x, int32_t *y)
{
        if (a->kind == EV_DATE && b->kind == EV_DATE) {
                *x = a->date;
                *y = b->date;
                return true;
        }
        if (a->kind == EV_DATE && b->kind == EV_STRING && cal_date_parse(b->str, y) == 0) {
                *x = a->date;
                return true;
        }
        if (b->kind == EV_DATE && a->kind == EV_STRING && cal_date_parse(a->str, x) == 0) {
                *y = b->date;
                return true;
        }
        return false;
}

/* -1, 0, 1, or 2 when the two cannot be compared. */
static int compare(const struct expr_value *a, const struct expr_value *b)
{
        int32_t x, y;
        int r;

        if (as_dates(a, b, &x, &y))
                return (x > y) - (x < y);
        if (a->kind != b->kind)
                return 2;
        switch (a->kind) {
        case EV_BOOL:
                return (a->b > b->b) - (a->b < b->b);
        case EV_NUMBER:
                return (a->num > b->num) - (a->num < b->num);
        case EV_STRING:
                r = strcmp(a->str, b->str);
                return (r > 0) - (r < 0);
        case EV_REPEAT:
                return (a->rows > b->rows) - (a->rows < b->rows);
        default:
                return 2;
        }
}

/* Is word (len bytes) one of the space-separated values in list? */
static bool list_has(const char *list, const char *word, size_t len)
{
        const char *p = list;

        if (len == 0)
                return false;
        while (*p) {
                while (*p == ' ')
                        p++;
                const char *e = p;
                while (*e && *e != ' ')
                        e++;
                if ((size_t)(e - p) == len && memcmp(p, word, len) == 0)
                        return true;
                p = e;
        }
        return false;
}

static long list_count(const char *list)
{
        long n = 0;
        const char *p = list;

        while (*p) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                n++;
                while (*p && *p != ' ')
                        p++;
        }
        return n;
}

static void eval_call(const struct evaluator *ev, const struct node *n, struct expr_value *v)
{
        struct expr_value a, b;
        int32_t birth;
        char g;

        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        if (n->fn != F_TODAY)
                eval_node(ev, n->kid[0], &a);
        switch (n->fn) {
        case F_TODAY:
                v->kind = EV_DATE;
                v->date = ev->env->today;
                return;
        case F_AGE:
                /* a date, an ID number, or text that reads as a date */
                if (a.kind == EV_DATE)
                        birth = a.date;
                else if (a.kind != EV_STRING ||
                         (idnum_birth(a.str, &birth) < 0 && cal_date_parse(a.str, &birth) < 0)) {
                        set_null(v);
                        return;
                }
                if (birth > ev->env->today) {
                        set_null(v);
                        return;
                }
                set_num(v, cal_years_between(birth, ev->env->today));
                return;
        case F_GENDER:
                if (a.kind != EV_STRING || idnum_gender(a.str, &g) < 0) {
                        set_null(v);
                        return;
                }
                v->kind = EV_STRING;
                v->str = g == 'M' ? "M" : "F";
                return;
        case F_STRING_LENGTH:
                if (a.kind == EV_STRING)
                        set_num(v, (double)utf8_length(a.str, strlen(a.str)));
                else if (a.kind == EV_NULL)
                        set_num(v, 0);
                else
                        set_null(v);
                return;
        case F_COUNT:
                if (a.kind == EV_REPEAT)
                        set_num(v, (double)a.rows);
                else
                        set_null(v);
                return;
        case F_SELECTED:
                eval_node(ev, n->kid[1], &b);
                set_bool(v, a.kind == EV_STRING && b.kind == EV_STRING && list_has(a.str, b.str, strlen(b.str)));
                return;
        case F_COUNT_SELECTED:
                set_num(v, a.kind == EV_STRING ? (double)list_count(a.str) : 0);
                return;
        case F_REGEX:
                set_bool(v, a.kind == EV_STRING && n->re && regexec(n->re, a.str, 0, NULL, 0) == 0);
                return;
        case F_NOT:
                set_bool(v, !expr_value_truthy(&a));
                return;
        }
        set_null(v);
}

static void eval_node(const struct evaluator *ev, const struct node *n, struct expr_value *v)
{
        struct expr_value a, b;
        int c;

        memset(v, 0, sizeof *v);
        switch (n->kind) {
        case N_NUM:
                set_num(v, n->num);
                return;
        case N_STR:
                v->kind = EV_STRING;
                v->str = n->str;
                return;
        case N_SELF:
        case N_REF:
                if (!ev->env->value_of || ev->env->value_of(ev->env->userdata, n->kind == N_REF ? n->str : NULL, v) < 0)
                        memset(v, 0, sizeof *v);
                if (v->kind == EV_STRING && !v->str)
                        set_null(v);
                return;
        case N_OR:
        case N_AND:
                eval_node(ev, n->kid[0], &a);
                if (expr_value_truthy(&a) == (n->kind == N_OR)) {
                        set_bool(v, n->kind == N_OR);
                        return;
                }
                eval_node(ev, n->kid[1], &b);
                set_bool(v, expr_value_truthy(&b));
                return;
        case N_NEG:
                eval_node(ev, n->kid[0], &a);
                if (a.kind == EV_NUMBER)
                        set_num(v, -a.num);
                else
                        set_null(v);
                return;
        case N_CALL:
                eval_call(ev, n, v);
                return;
        default:
                break;
        }
        eval_node(ev, n->kid[0], &a);
        eval_node(ev, n->kid[1], &b);
        switch (n->kind) {
        case N_EQ:
        case N_NE:
                if (is_empty(&a) || is_empty(&b))
                        c = is_empty(&a) && is_empty(&b) ? 0 : 2;
                else
                        c = compare(&a, &b);
                set_bool(v, (c == 0) == (n->kind == N_EQ));
                return;
        case N_LT:
        case N_LE:
        case N_GT:
        case N_GE:
                c = a.kind == EV_NULL || b.kind == EV_NULL ? 2 : compare(&a, &b);
                if (c == 2)
                        set_bool(v, false);
                else
                        set_bool(v, n->kind == N_LT ? c < 0 : n->kind == N_LE ? c <= 0 : n->kind == N_GT ? c > 0 : c >= 0);
                return;
        default:
                break;
        }
        /* arithmetic */
        if (a.kind == EV_NUMBER && b.kind == EV_NUMBER) {
                switch (n->kind) {
                case N_ADD: set_num(v, a.num + b.num); return;
                case N_SUB: set_num(v, a.num - b.num); return;
                case N_MUL: set_num(v, a.num * b.num); return;
                case N_DIV:
                        if (b.num == 0)
                                set_null(v);
                        else
                                set_num(v, a.num / b.num);
                        return;
                case N_MOD:
                        if (b.num == 0)
                                set_null(v);
                        else
                                set_num(v, fmod(a.num, b.num));
                        return;
                default:
                        break;
                }
        } else if (n->kind == N_ADD && a.kind == EV_DATE && b.kind == EV_NUMBER) {
                set_date(v, (double)a.date + trunc(b.num));
                return;
        } else if (n->kind == N_ADD && a.kind == EV_NUMBER && b.kind == EV_DATE) {
                set_date(v, trunc(a.num) + (double)b.date);
                return;
        } else if (n->kind == N_SUB && a.kind == EV_DATE && b.kind == EV_NUMBER) {
                set_date(v, (double)a.date - trunc(b.num));
                return;
        } else if (n->kind == N_SUB && a.kind == EV_DATE && b.kind == EV_DATE) {
                set_num(v, (double)a.date - (double)b.date);
                return;
        }
        set_null(v);
}

int expr_eval(const expr *e, const struct expr_env *env, struct expr_value *ret)
{
        struct evaluator ev = { env };

        eval_node(&ev, e->root, ret);
        return 0;
}
