/* The tree expr-parse.c builds, for the files that read it: the checker
 * and the evaluator (expr-int.h lists them) and exprwords.c. Private to
 * forms/. */
#ifndef DAIBAN_FORMS_EXPR_TREE_H
#define DAIBAN_FORMS_EXPR_TREE_H

#include "forms/port.h"      /* regex_t: POSIX, or TRE on Windows */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forms/expr.h"

enum nkind {
        N_NUM, N_STR, N_SELF, N_REF,
        N_OR, N_AND,
        N_EQ, N_NE, N_LT, N_LE, N_GT, N_GE,
        N_ADD, N_SUB, N_MUL, N_DIV, N_MOD, N_NEG,
        N_CALL,
};

enum fn {
        F_TODAY, F_AGE, F_GENDER, F_STRING_LENGTH, F_COUNT, F_SELECTED,
        F_COUNT_SELECTED, F_REGEX, F_NOT,
};

struct node {
        enum nkind kind;
        enum fn fn;
        size_t off;             /* where the node's token starts */
        int depth;              /* height of the subtree */
        double num;             /* N_NUM */
        char *str;              /* N_STR text, N_REF name */
        bool is_date;           /* N_STR: the literal is a YYYY-MM-DD date */
        int32_t date;
        struct node *kid[2];    /* operands; for N_CALL the first two args */
        regex_t *re;            /* regex(): the compiled literal pattern */
        char re_error[96];      /* regex(): why it did not compile */
};

struct expr {
        struct node *root;
};

#endif
