/* The expression language's pieces (forms/expr*.c), private to them: the
 * parser's state, which the lexer advances, and every function one file
 * calls in another. The tree itself is in expr-tree.h, which exprwords.c
 * reads too. Not for other modules: they go through forms/expr.h.
 *
 * The files, in the order an expression goes through them:
 *   expr-lex.c    tokens, and the hints for full-width punctuation;
 *   expr-parse.c  the recursive-descent parser: text -> tree;
 *   expr-regex.c  how big a regex() pattern grows in regcomp, refused
 *                 before it can take gigabytes;
 *   expr-check.c  static types against the form;
 *   expr-eval.c   the value of a checked tree for one application;
 *   expr.c        the tree's life: type names, errors, freeing, walking. */
#ifndef DAIBAN_FORMS_EXPR_INT_H
#define DAIBAN_FORMS_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "forms/expr.h"
#include "forms/expr-tree.h"

/* ---- the tree (expr.c) ----------------------------------------------- */

/* Fill *err (if not NULL) with the offset and the message. */
void expr_set_error(struct expr_error *err, size_t off, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Free a node and its subtree (NULL: nothing). */
void expr_node_free(struct node *n);

/* ---- tokens (expr-lex.c) --------------------------------------------- */

enum tok {
        T_END, T_NUM, T_STR, T_DOT, T_REF, T_NAME, T_LP, T_RP, T_COMMA,
        T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR,
        T_AND, T_OR, T_DIV, T_MOD,
        T_ERROR,
};

struct parser {
        const char *src;
        size_t len;
        size_t pos;             /* next byte to lex */
        /* the current token */
        enum tok t;
        size_t toff, tlen;      /* its bytes in src */
        size_t sval, slen;      /* T_STR: the text between the quotes; T_REF: the name */
        int nesting;
        bool oom;
        struct expr_error *err;
        bool failed;
};

/* Record the first error of a parse at byte off; later ones are
 * dropped, as they follow from it. */
void expr_fail(struct parser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Advance to the next token (p->t, p->toff, p->tlen), or fail. */
void expr_lex(struct parser *p);
/* Fail at the current token, for "unexpected ..." messages; wanted says
 * what was expected, or is NULL. */
void expr_unexpected(struct parser *p, const char *wanted);

/* ---- regex() patterns (expr-regex.c) ----------------------------------- */

/* Why regcomp must not see this pattern, or NULL. */
const char *expr_regex_refused(const char *pat);

#endif
