/* The expression language's static type checker: every value has one of
 * the types in expr.h, a field's type comes from the form (env->type_of),
 * and each operator and function takes the types the table in expr.h
 * gives. Done once, when `catalog check` loads the catalogue, so
 * evaluation meets only well-typed trees. */
#include <errno.h>

#include "forms/expr-int.h"

/* ---- type checking ------------------------------------------------------- */

struct checker {
        const struct expr_env *env;
        struct expr_error *err;
};

static int check_node(struct checker *c, const struct node *n, enum expr_type *ret);

static int want(struct checker *c, const struct node *n, enum expr_type t, const char *what)
{
        enum expr_type got;

        if (check_node(c, n, &got) < 0)
                return -EINVAL;
        if (got != t) {
                expr_set_error(c->err, n->off, "%s needs a %s, not a %s", what, expr_type_name(t), expr_type_name(got));
                return -EINVAL;
        }
        return 0;
}

/* A string literal that is a date compares with a date. */
static bool date_literal(const struct node *n)
{
        return n->kind == N_STR && n->is_date;
}

static const char *op_name(enum nkind k)
{
        switch (k) {
        case N_OR: return "'or'";
        case N_AND: return "'and'";
        case N_EQ: return "'='";
        case N_NE: return "'!='";
        case N_LT: return "'<'";
        case N_LE: return "'<='";
        case N_GT: return "'>'";
        case N_GE: return "'>='";
        case N_ADD: return "'+'";
        case N_SUB: return "'-'";
        case N_MUL: return "'*'";
        case N_DIV: return "'div'";
        case N_MOD: return "'mod'";
        case N_NEG: return "'-'";
        default: return "?";
        }
}

static int check_call(struct checker *c, const struct node *n, enum expr_type *ret)
{
        enum expr_type a;

        switch (n->fn) {
        case F_TODAY:
                *ret = ET_DATE;
                return 0;
        case F_AGE:
                if (check_node(c, n->kid[0], &a) < 0)
                        return -EINVAL;
                if (a != ET_STRING && a != ET_DATE) {
                        expr_set_error(c->err, n->kid[0]->off, "age() needs an ID number or a date, not a %s",
                                       expr_type_name(a));
                        return -EINVAL;
                }
                *ret = ET_NUMBER;
                return 0;
        case F_GENDER:
                *ret = ET_STRING;
                return want(c, n->kid[0], ET_STRING, "gender()");
        case F_STRING_LENGTH:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_STRING, "string-length()");
        case F_COUNT:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_REPEAT, "count()");
        case F_SELECTED:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_STRING, "selected()") < 0)
                        return -EINVAL;
                return want(c, n->kid[1], ET_STRING, "selected()'s second argument");
        case F_COUNT_SELECTED:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_STRING, "count-selected()");
        case F_REGEX:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_STRING, "regex()") < 0)
                        return -EINVAL;
                if (n->kid[1]->kind != N_STR) {
                        expr_set_error(c->err, n->kid[1]->off, "regex() needs its pattern as a quoted string");
                        return -EINVAL;
                }
                if (!n->re) {
                        expr_set_error(c->err, n->kid[1]->off, "bad regular expression: %s", n->re_error);
                        return -EINVAL;
                }
                return 0;
        case F_NOT:
                *ret = ET_BOOL;
                return want(c, n->kid[0], ET_BOOL, "not()");
        }
        return -EINVAL;
}

static int check_node(struct checker *c, const struct node *n, enum expr_type *ret)
{
        enum expr_type a, b;
        int r;

        switch (n->kind) {
        case N_NUM:
                *ret = ET_NUMBER;
                return 0;
        case N_STR:
                *ret = ET_STRING;
                return 0;
        case N_SELF:
                if (!c->env->type_of || c->env->type_of(c->env->userdata, NULL, ret) < 0) {
                        expr_set_error(c->err, n->off, "'.' (this field) cannot be used here");
                        return -EINVAL;
                }
                return 0;
        case N_REF:
                if (!c->env->type_of || c->env->type_of(c->env->userdata, n->str, ret) < 0) {
                        expr_set_error(c->err, n->off, "unknown field '%s'", n->str);
                        return -EINVAL;
                }
                return 0;
        case N_OR:
        case N_AND:
                *ret = ET_BOOL;
                if (want(c, n->kid[0], ET_BOOL, op_name(n->kind)) < 0)
                        return -EINVAL;
                return want(c, n->kid[1], ET_BOOL, op_name(n->kind));
        case N_NEG:
                *ret = ET_NUMBER;
                return want(c, n->kid[0], ET_NUMBER, "'-'");
        case N_CALL:
                return check_call(c, n, ret);
        default:
                break;
        }
        /* binary operators over values */
        if ((r = check_node(c, n->kid[0], &a)) < 0 || (r = check_node(c, n->kid[1], &b)) < 0)
                return r;
        switch (n->kind) {
        case N_EQ:
        case N_NE:
        case N_LT:
        case N_LE:
        case N_GT:
        case N_GE:
                *ret = ET_BOOL;
                if (a == ET_REPEAT || b == ET_REPEAT) {
                        expr_set_error(c->err, n->off, "a repeat group cannot be compared: use count(...)");
                        return -EINVAL;
                }
                if ((a == ET_DATE && b == ET_STRING && date_literal(n->kid[1])) ||
                    (b == ET_DATE && a == ET_STRING && date_literal(n->kid[0])))
                        return 0;
                if (a != b) {
                        expr_set_error(c->err, n->off, "%s compares a %s with a %s", op_name(n->kind),
                                       expr_type_name(a), expr_type_name(b));
                        return -EINVAL;
                }
                if (a == ET_BOOL && n->kind != N_EQ && n->kind != N_NE) {
                        expr_set_error(c->err, n->off, "%s cannot order true/false values", op_name(n->kind));
                        return -EINVAL;
                }
                return 0;
        case N_ADD:
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                if ((a == ET_DATE && b == ET_NUMBER) || (a == ET_NUMBER && b == ET_DATE)) {
                        *ret = ET_DATE;
                        return 0;
                }
                break;
        case N_SUB:
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                if (a == ET_DATE && b == ET_NUMBER) {
                        *ret = ET_DATE;
                        return 0;
                }
                if (a == ET_DATE && b == ET_DATE) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                break;
        default:        /* * div mod */
                if (a == ET_NUMBER && b == ET_NUMBER) {
                        *ret = ET_NUMBER;
                        return 0;
                }
                break;
        }
        expr_set_error(c->err, n->off, "%s cannot combine a %s and a %s", op_name(n->kind), expr_type_name(a),
                       expr_type_name(b));
        return -EINVAL;
}

int expr_check(const expr *e, const struct expr_env *env, enum expr_type *ret_type, struct expr_error *err)
{
        struct checker c = { env, err };
        enum expr_type t;

        if (check_node(&c, e->root, &t) < 0)
                return -EINVAL;
        if (ret_type)
                *ret_type = t;
        return 0;
}
