/* The catalogue's expression language: see expr.h for the grammar and
 * the rules, docs/catalog.md ("Expressions") for the user's view. Its
 * phases are in expr-lex.c, expr-parse.c (with expr-regex.c),
 * expr-check.c and expr-eval.c (expr-int.h lists them); this file holds
 * what they share: the type names, errors, and the tree's freeing and
 * walking. */
#include "forms/port.h"      /* regex_t: POSIX, or TRE on Windows */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "forms/expr.h"
#include "forms/expr-int.h"

const char *expr_type_name(enum expr_type t)
{
        switch (t) {
        case ET_BOOL: return "true/false";
        case ET_NUMBER: return "number";
        case ET_STRING: return "text";
        case ET_DATE: return "date";
        case ET_REPEAT: return "repeat group";
        }
        return "?";
}

void expr_set_error(struct expr_error *err, size_t off, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
}

void expr_node_free(struct node *n)
{
        if (!n)
                return;
        expr_node_free(n->kid[0]);
        expr_node_free(n->kid[1]);
        if (n->re) {
                regfree(n->re);
                free(n->re);
        }
        free(n->str);
        free(n);
}

void expr_free(expr *e)
{
        if (!e)
                return;
        expr_node_free(e->root);
        free(e);
}

static void foreach_ref(const struct node *n, void (*fn)(void *, const char *, size_t), void *ud)
{
        if (!n)
                return;
        if (n->kind == N_REF)
                fn(ud, n->str, n->off);
        foreach_ref(n->kid[0], fn, ud);
        foreach_ref(n->kid[1], fn, ud);
}

void expr_foreach_ref(const expr *e, void (*fn)(void *ud, const char *name, size_t offset), void *ud)
{
        foreach_ref(e->root, fn, ud);
}
