/* The catalogue's expression language for `constraint` and `relevant`.
 *
 * A small subset of XLSForm's XPath, specified in docs/catalog.md
 * ("Expressions"). Grammar, lowest precedence first:
 *
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := cmp ("and" cmp)*
 *   cmp     := add (("=" | "!=" | "<" | "<=" | ">" | ">=") add)?
 *   add     := mul (("+" | "-") mul)*
 *   mul     := unary (("*" | "div" | "mod") unary)*
 *   unary   := "-" unary | primary
 *   primary := NUMBER | STRING | "." | "${" NAME "}" | "(" expr ")"
 *            | FUNC "(" [expr ("," expr)*] ")"
 *
 * STRING is single-quoted ('...', no escapes; a double-quoted "..." is
 * accepted too). NAME is [A-Za-z_][A-Za-z0-9_]*. FUNC is one of
 * today, age, gender, string-length, count, selected, count-selected,
 * regex, not. Comparisons do not chain (a < b < c is an error).
 *
 * Three phases, each usable on its own:
 *   expr_parse  text -> tree, or an error with a byte offset (syntax,
 *               unknown function, wrong number of arguments, nesting);
 *   expr_check  static types against the form (unknown field, type
 *               mismatch, bad regex) with a byte offset; done once by
 *               `catalog check`;
 *   expr_eval   value of a checked tree for one application.
 *
 * Types: bool, number, string, date, repeat (rows of a repeat group).
 * Empty (missing) values are NULL at evaluation time; see expr_eval. */
#ifndef DAIBAN_FORMS_EXPR_H
#define DAIBAN_FORMS_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPR_MAX_LEN   4096   /* bytes of source */
#define EXPR_MAX_DEPTH 64     /* nesting of the tree */

typedef struct expr expr;

enum expr_type {
        ET_BOOL,
        ET_NUMBER,
        ET_STRING,
        ET_DATE,
        ET_REPEAT,
};

const char *expr_type_name(enum expr_type t);

/* Where and what went wrong. offset is a byte offset into the source
 * (0-based) where the offending token starts. msg is English; the
 * catalogue tools print it after FILE:LINE:COL. */
struct expr_error {
        size_t offset;
        char msg[160];
};

/* Parse src (NUL-terminated, at most EXPR_MAX_LEN bytes). On success
 * returns 0 and *ret (owned by the caller, expr_free). On failure returns
 * -EINVAL and fills *err; *ret is untouched. -ENOMEM on out of memory. */
int expr_parse(const char *src, expr **ret, struct expr_error *err);
void expr_free(expr *e);

/* A value at evaluation time. Strings are borrowed: from the tree (for
 * literals) or from the environment (for field values); they must stay
 * valid during one expr_eval call. */
enum expr_vkind {
        EV_NULL,        /* empty / missing / not computable */
        EV_BOOL,
        EV_NUMBER,
        EV_STRING,
        EV_DATE,
        EV_REPEAT,
};

struct expr_value {
        enum expr_vkind kind;
        bool b;
        double num;
        const char *str;
        int32_t date;   /* days since 1970-01-01, see calendar.h */
        long rows;      /* EV_REPEAT: number of rows */
};

/* What the expression can see.
 *
 * type_of (check time): the static type of a name. name is NULL for "."
 * (the field the expression belongs to). Returns 0 and *ret, or -ENOENT
 * for an unknown field.
 *
 * value_of (eval time): the value of a name (NULL for "."). A field with
 * no value yields EV_NULL. Field values of type date come as EV_DATE,
 * numbers as EV_NUMBER, repeats as EV_REPEAT, everything else EV_STRING.
 * Returns 0, or -ENOENT (treated as EV_NULL).
 *
 * today is the date today() returns and age() measures at; tests inject
 * it. */
struct expr_env {
        void *userdata;
        int (*type_of)(void *userdata, const char *name, enum expr_type *ret);
        int (*value_of)(void *userdata, const char *name, struct expr_value *ret);
        int32_t today;
};

/* Type-check e against env->type_of. Returns 0 and (if ret_type) the
 * expression's type, or -EINVAL and fills *err. Rules:
 *   arithmetic + - * div mod     number x number -> number;
 *                                date +/- number -> date; date - date -> number
 *   = !=                         both sides of one type (string literal vs
 *                                date is allowed when the literal is a date)
 *   < <= > >=                    number, string or date, both the same
 *   and or not()                 bool
 *   today()                      -> date
 *   age(string|date)             -> number
 *   gender(string)               -> string
 *   string-length(string)        -> number
 *   count(repeat)                -> number
 *   selected(string, string)     -> bool
 *   count-selected(string)       -> number
 *   regex(string, string-literal)-> bool (POSIX ERE, must compile)
 */
int expr_check(const expr *e, const struct expr_env *env,
               enum expr_type *ret_type, struct expr_error *err);

/* Evaluate an expression. Always returns 0: an operand whose kind does
 * not fit its operator (possible only in a tree that was not checked)
 * gives NULL, like a missing value. NULL semantics: arithmetic with NULL is NULL; "=" is true when both
 * sides are NULL (or NULL and ''), "!=" is its negation; ordering
 * comparisons with NULL are false; and/or/not treat NULL as false;
 * division by zero is NULL; functions of NULL give NULL, except
 * string-length (0), count-selected (0), selected (false), regex (false). */
int expr_eval(const expr *e, const struct expr_env *env, struct expr_value *ret);

/* Truth of an evaluated value for `relevant`/`constraint`: EV_BOOL as is,
 * NULL false, anything else true. */
bool expr_value_truthy(const struct expr_value *v);

/* Call fn for every ${name} the expression references (in source order,
 * duplicates included). Used to build dependency lists. */
void expr_foreach_ref(const expr *e, void (*fn)(void *ud, const char *name, size_t offset), void *ud);

/* Plain words for a constraint, for the people who fill in the form, in
 * the common shapes: a field's value, its length, the rows of a repeat,
 * the choices made or an age, compared with a number, a date, today or
 * another field; two comparisons of one subject as a range; and/or of
 * those. label(ud, name) gives a field's label in Chinese (zh true) or
 * English, NULL for its name. env->type_of tells dates from numbers.
 * 0 with zh and en filled ("长度不超过 30 个字", "must be at most 30
 * characters long"), or -1 when the expression is not one of those
 * shapes: the catalogue must give the message itself. */
int expr_describe(const expr *e, const struct expr_env *env,
                  const char *(*label)(void *ud, const char *name, bool zh), void *ud,
                  char *zh, size_t zhlen, char *en, size_t enlen);

#endif
