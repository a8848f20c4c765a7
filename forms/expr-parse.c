/* The expression language's recursive-descent parser: text -> tree, one
 * function per level of the grammar in expr.h, lowest precedence first.
 * The tree's depth and the parser's recursion are both capped at
 * EXPR_MAX_DEPTH; a regex() pattern is compiled here, once, unless
 * expr-regex.c refuses it. */
#include <errno.h>
#include "forms/port.h"      /* regex_t: POSIX, or TRE on Windows */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/calendar.h"
#include "forms/expr-int.h"

/* The functions by enum fn, with the number of arguments each takes. */
static const struct {
        const char *name;
        int nargs;
} functions[] = {
        [F_TODAY] = { "today", 0 },
        [F_AGE] = { "age", 1 },
        [F_GENDER] = { "gender", 1 },
        [F_STRING_LENGTH] = { "string-length", 1 },
        [F_COUNT] = { "count", 1 },
        [F_SELECTED] = { "selected", 2 },
        [F_COUNT_SELECTED] = { "count-selected", 1 },
        [F_REGEX] = { "regex", 2 },
        [F_NOT] = { "not", 1 },
};
#define NFUNCTIONS (sizeof functions / sizeof functions[0])

/* ---- parser -------------------------------------------------------------- */

static struct node *mk(struct parser *p, enum nkind k, size_t off, struct node *a, struct node *b)
{
        struct node *n;
        int d = 0;

        if (p->failed) {
                expr_node_free(a);
                expr_node_free(b);
                return NULL;
        }
        if (a && a->depth > d)
                d = a->depth;
        if (b && b->depth > d)
                d = b->depth;
        if (d + 1 > EXPR_MAX_DEPTH) {
                expr_fail(p, off, "expression nested too deeply (at most %d levels)", EXPR_MAX_DEPTH);
                expr_node_free(a);
                expr_node_free(b);
                return NULL;
        }
        n = calloc(1, sizeof *n);
        if (!n) {
                p->oom = true;
                expr_fail(p, off, "out of memory");
                expr_node_free(a);
                expr_node_free(b);
                return NULL;
        }
        n->kind = k;
        n->off = off;
        n->depth = d + 1;
        n->kid[0] = a;
        n->kid[1] = b;
        return n;
}

static struct node *parse_or(struct parser *p);

static struct node *parse_call(struct parser *p)
{
        size_t off = p->toff, nlen = p->tlen;
        const char *name = p->src + off;
        struct node *args[2] = { NULL, NULL };
        int nargs = 0;
        size_t f;

        for (f = 0; f < NFUNCTIONS; f++)
                if (strlen(functions[f].name) == nlen && memcmp(functions[f].name, name, nlen) == 0)
                        break;
        expr_lex(p);
        if (p->t != T_LP) {
                if (f < NFUNCTIONS)
                        expr_unexpected(p, "'(' after the function name");
                else
                        expr_fail(p, off, "unexpected name '%.*s': write a field as ${%.*s}", (int)nlen, name,
                                  (int)nlen, name);
                return NULL;
        }
        if (f == NFUNCTIONS) {
                expr_fail(p, off, "unknown function '%.*s()'", (int)(nlen > 40 ? 40 : nlen), name);
                return NULL;
        }
        expr_lex(p);
        if (p->t != T_RP) {
                for (;;) {
                        size_t aoff = p->toff;
                        struct node *a = parse_or(p);
                        if (!a)
                                goto fail;
                        if (nargs >= functions[f].nargs) {
                                expr_node_free(a);
                                expr_fail(p, aoff, "%s() takes %d argument%s", functions[f].name,
                                          functions[f].nargs, functions[f].nargs == 1 ? "" : "s");
                                goto fail;
                        }
                        args[nargs++] = a;
                        if (p->t == T_RP)
                                break;
                        if (p->t != T_COMMA) {
                                expr_unexpected(p, "',' or ')'");
                                goto fail;
                        }
                        expr_lex(p);
                }
        }
        if (nargs != functions[f].nargs) {
                expr_fail(p, p->toff, "%s() takes %d argument%s, not %d", functions[f].name, functions[f].nargs,
                          functions[f].nargs == 1 ? "" : "s", nargs);
                goto fail;
        }
        expr_lex(p);        /* ')' */
        struct node *n = mk(p, N_CALL, off, args[0], args[1]);
        if (!n)
                return NULL;
        n->fn = (enum fn)f;
        if (n->fn == F_REGEX && n->kid[1]->kind == N_STR) {
                int rc;
                n->re = malloc(sizeof *n->re);
                if (!n->re) {
                        p->oom = true;
                        expr_fail(p, off, "out of memory");
                        expr_node_free(n);
                        return NULL;
                }
                const char *why = expr_regex_refused(n->kid[1]->str);
                if (why) {
                        snprintf(n->re_error, sizeof n->re_error, "%s", why);
                        free(n->re);
                        n->re = NULL;
                } else if ((rc = regcomp(n->re, n->kid[1]->str, REG_EXTENDED | REG_NOSUB)) != 0) {
                        regerror(rc, n->re, n->re_error, sizeof n->re_error);
                        free(n->re);
                        n->re = NULL;
                        if (!n->re_error[0])
                                snprintf(n->re_error, sizeof n->re_error, "does not compile");
                }
        }
        return n;
fail:
        expr_node_free(args[0]);
        expr_node_free(args[1]);
        return NULL;
}

static struct node *parse_primary(struct parser *p)
{
        struct node *n;
        size_t off = p->toff;

        if (p->failed)
                return NULL;
        switch (p->t) {
        case T_NUM:
                n = mk(p, N_NUM, off, NULL, NULL);
                if (n) {
                        char buf[40];
                        memcpy(buf, p->src + off, p->tlen);
                        buf[p->tlen] = '\0';
                        n->num = strtod(buf, NULL);
                }
                expr_lex(p);
                return n;
        case T_STR:
        case T_REF:
                n = mk(p, p->t == T_STR ? N_STR : N_REF, off, NULL, NULL);
                if (!n)
                        return NULL;
                n->str = strndup(p->src + p->sval, p->slen);
                if (!n->str) {
                        p->oom = true;
                        expr_fail(p, off, "out of memory");
                        expr_node_free(n);
                        return NULL;
                }
                if (n->kind == N_STR && cal_date_parse(n->str, &n->date) == 0)
                        n->is_date = true;
                expr_lex(p);
                return n;
        case T_DOT:
                n = mk(p, N_SELF, off, NULL, NULL);
                expr_lex(p);
                return n;
        case T_NAME:
                return parse_call(p);
        case T_LP:
                expr_lex(p);
                n = parse_or(p);
                if (!n)
                        return NULL;
                if (p->t != T_RP) {
                        expr_unexpected(p, "')'");
                        expr_node_free(n);
                        return NULL;
                }
                expr_lex(p);
                return n;
        default:
                expr_unexpected(p, "a value, a field or a function");
                return NULL;
        }
}

static struct node *parse_unary(struct parser *p)
{
        struct node *n;

        if (p->failed)
                return NULL;
        if (++p->nesting > EXPR_MAX_DEPTH) {
                expr_fail(p, p->toff, "expression nested too deeply (at most %d levels)", EXPR_MAX_DEPTH);
                return NULL;
        }
        if (p->t == T_MINUS) {
                size_t off = p->toff;
                expr_lex(p);
                struct node *a = parse_unary(p);
                n = a ? mk(p, N_NEG, off, a, NULL) : NULL;
        } else {
                n = parse_primary(p);
        }
        p->nesting--;
        return n;
}

static struct node *parse_mul(struct parser *p)
{
        struct node *l = parse_unary(p);

        while (l && (p->t == T_STAR || p->t == T_DIV || p->t == T_MOD)) {
                enum nkind k = p->t == T_STAR ? N_MUL : p->t == T_DIV ? N_DIV : N_MOD;
                size_t off = p->toff;
                expr_lex(p);
                struct node *r = parse_unary(p);
                if (!r) {
                        expr_node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
        }
        return l;
}

static struct node *parse_add(struct parser *p)
{
        struct node *l = parse_mul(p);

        while (l && (p->t == T_PLUS || p->t == T_MINUS)) {
                enum nkind k = p->t == T_PLUS ? N_ADD : N_SUB;
                size_t off = p->toff;
                expr_lex(p);
                struct node *r = parse_mul(p);
                if (!r) {
                        expr_node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
        }
        return l;
}

static bool is_cmp(enum tok t)
{
        return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE;
}

static struct node *parse_cmp(struct parser *p)
{
        static const enum nkind kinds[] = {
                [T_EQ] = N_EQ, [T_NE] = N_NE, [T_LT] = N_LT, [T_LE] = N_LE, [T_GT] = N_GT, [T_GE] = N_GE,
        };
        struct node *l = parse_add(p);

        if (l && is_cmp(p->t)) {
                enum nkind k = kinds[p->t];
                size_t off = p->toff;
                expr_lex(p);
                struct node *r = parse_add(p);
                if (!r) {
                        expr_node_free(l);
                        return NULL;
                }
                l = mk(p, k, off, l, r);
                if (l && is_cmp(p->t)) {
                        expr_fail(p, p->toff, "comparisons do not chain: write a < b and b < c");
                        expr_node_free(l);
                        return NULL;
                }
        }
        return l;
}

static struct node *parse_and(struct parser *p)
{
        struct node *l = parse_cmp(p);

        while (l && p->t == T_AND) {
                size_t off = p->toff;
                expr_lex(p);
                struct node *r = parse_cmp(p);
                if (!r) {
                        expr_node_free(l);
                        return NULL;
                }
                l = mk(p, N_AND, off, l, r);
        }
        return l;
}

static struct node *parse_or(struct parser *p)
{
        struct node *l = parse_and(p);

        while (l && p->t == T_OR) {
                size_t off = p->toff;
                expr_lex(p);
                struct node *r = parse_and(p);
                if (!r) {
                        expr_node_free(l);
                        return NULL;
                }
                l = mk(p, N_OR, off, l, r);
        }
        return l;
}

int expr_parse(const char *src, expr **ret, struct expr_error *err)
{
        struct parser p = { .src = src, .err = err };
        struct node *root;
        expr *e;

        p.len = strlen(src);
        if (p.len > EXPR_MAX_LEN) {
                expr_set_error(err, EXPR_MAX_LEN, "expression too long (at most %d bytes)", EXPR_MAX_LEN);
                return -EINVAL;
        }
        expr_lex(&p);
        if (p.t == T_END && !p.failed) {
                expr_set_error(err, 0, "empty expression");
                return -EINVAL;
        }
        root = parse_or(&p);
        if (root && p.t != T_END) {
                if (p.t == T_REF || p.t == T_NUM || p.t == T_STR || p.t == T_DOT || p.t == T_NAME || p.t == T_LP)
                        expr_unexpected(&p, "an operator");
                else
                        expr_unexpected(&p, NULL);
        }
        if (p.failed) {
                expr_node_free(root);
                return p.oom ? -ENOMEM : -EINVAL;
        }
        e = malloc(sizeof *e);
        if (!e) {
                expr_node_free(root);
                return -ENOMEM;
        }
        e->root = root;
        *ret = e;
        return 0;
}
