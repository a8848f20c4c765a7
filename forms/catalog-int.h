/* The catalogue loader's pieces (forms/catalog*.c), private to them: the
 * loader's memory, the catalogue's own state, a sheet and its cells, and
 * every function one file of the loader calls in another. Not for other
 * modules: they go through forms/catalog.h.
 *
 * The files, in the order catalog_load runs them:
 *   catalog-arena.c      the arena, string-keyed hash maps, growable vectors;
 *   catalog-sheet.c      one sheet: its header, trimmed cells, the cell
 *                        parsers, diagnostics, indexing rows by code;
 *   catalog-registers.c  divisions.csv, materials.csv, choices.csv and
 *                        calendar.csv: the registers matters refer to;
 *   catalog-matters.c    matters.csv, fields.csv, matter_materials.csv;
 *   catalog-exprs.c      expressions in cells: parsed, then checked against
 *                        the matter's fields (the checks across sheets);
 *   catalog-forms.c      forms built from matters (a matter's own, a
 *                        bundle's merged one) and bundles.csv;
 *   catalog.c            catalog_load's order, and queries on a loaded
 *                        catalogue. */
#ifndef DAIBAN_FORMS_CATALOG_INT_H
#define DAIBAN_FORMS_CATALOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forms/catalog.h"
#include "forms/csv.h"

/* ---- memory (catalog-arena.c) --------------------------------------- */

struct arena_block;

/* Everything the model points to; freed at once. oom marks an
 * allocation that failed: catalog_load then fails with -ENOMEM. */
struct arena {
        struct arena_block *head;
        bool oom;
};

/* n zeroed bytes, or NULL (and oom marked). */
void *cat_arena_alloc(struct arena *a, size_t n);
/* A copy of s in the arena; out of memory, an empty string (oom marked). */
char *cat_arena_strndup(struct arena *a, const char *s, size_t n);
/* A copy of n bytes of src, or NULL when n is 0 or out of memory. */
void *cat_arena_dup(struct arena *a, const void *src, size_t n);
void cat_arena_free(struct arena *a);

/* A string-keyed hash map (open addressing). */
struct map {
        const char **keys;
        void **vals;
        size_t n, cap;
};

void *cat_map_get(const struct map *m, const char *key);
/* Insert key (borrowed, must outlive the map). Returns 0, -EEXIST, -ENOMEM. */
int cat_map_add(struct map *m, const char *key, void *val);
void cat_map_free(struct map *m);

/* A growable vector of elements of `size` bytes (malloc'd). */
struct vec {
        void *v;
        size_t n, cap, size;
};

#define VEC(type) { NULL, 0, 0, sizeof(type) }

/* A new zeroed element at the end, or NULL out of memory. */
void *cat_vec_push(struct vec *v);
/* Undo the last cat_vec_push (when a push that goes with it failed). */
void cat_vec_unpush(struct vec *v, const void *p);
/* The vector's elements copied into the arena, *ret_n of them; NULL
 * with *ret_n 0 when there are none or memory ran out (oom marked). */
void *cat_vec_freeze(struct arena *a, const struct vec *v, size_t *ret_n);

/* ---- the catalogue ---------------------------------------------------- */

struct catalog {
        char *dir;
        struct arena arena;
        struct vec diags;                   /* struct cat_diag */
        size_t nerrors;

        struct cat_division *divisions;
        size_t ndivisions;
        struct cat_material *materials;
        size_t nmaterials;
        struct cat_list *lists;
        size_t nlists;
        struct cat_matter *matters;
        size_t nmatters;
        struct cat_bundle *bundles;
        size_t nbundles;
        size_t nfields;
        calendar *cal;
        struct vec exprs;                   /* expr *, for freeing */

        struct map by_division, by_material, by_list, by_matter, by_bundle;
};

/* ---- diagnostics and sheets (catalog-sheet.c) ------------------------- */

/* Record a problem at sheet:line:col. Both messages take the same
 * arguments: the compiler checks them against the English format; the
 * Chinese one must use the same conversions in the same order
 * (tests/lint/format-pairs.py compares them). */
void cat_diagf(catalog *cat, enum cat_severity sev, const char *sheet, int line, int col,
               const char *fmt_zh, const char *fmt_en, ...)
        __attribute__((format(printf, 7, 8)));

#define ERR(cat, cell_, sheet, zh, en, ...) \
        cat_diagf(cat, CAT_ERROR, sheet, (cell_)->line, (cell_)->col, zh, en, ##__VA_ARGS__)
#define WARN(cat, cell_, sheet, zh, en, ...) \
        cat_diagf(cat, CAT_WARNING, sheet, (cell_)->line, (cell_)->col, zh, en, ##__VA_ARGS__)

/* cat_map_add into one of the catalogue's maps, noting out of memory. */
int cat_map_put(catalog *cat, struct map *m, const char *key, void *val);
/* Index a sheet's row by its code in m; a code seen twice is an error at
 * the row's position. what names the code in both languages ("区划代码",
 * "division code"). */
void cat_index_code(catalog *cat, struct map *m, const char *code, void *row, const struct cat_pos *pos,
                    const char *what_zh, const char *what_en);

/* A loaded sheet with its header mapped to the columns we know. */
struct sheet {
        const char *name;
        csv *csv;
        int col[16];            /* index of each known column, -1 if absent */
        size_t ncols;
};

/* A cell of row r, column k (one of the sheet's known columns), trimmed of
 * surrounding white space (ASCII and the full-width space U+3000). An
 * absent cell is empty, positioned at the row's line. */
struct cell {
        const char *s;          /* arena copy, NUL-terminated */
        size_t len;
        int line, col;
};

/* Load sheet `name` from the catalogue folder. cols lists the known
 * columns; those marked with a leading '?' are optional. Returns false
 * when the sheet cannot be used at all (a diagnostic says why). */
bool cat_sheet_load(catalog *cat, struct sheet *sh, const char *name, const char *const *cols);
void cat_sheet_free(struct sheet *sh);
struct cell cat_get_cell(catalog *cat, const struct sheet *sh, const struct csv_row *row, int k);
/* The cell's text, or NULL when it is empty. */
char *cat_cell_str(catalog *cat, const struct cell *c);

/* Cell parsers: 0 and *ret, or -EINVAL / -ERANGE. An empty boolean is
 * dflt. */
int cat_parse_bool(const char *s, bool dflt, bool *ret);
int cat_parse_int(const char *s, int lo, int hi, int *ret);
/* A field or list name: a letter or '_', then letters, digits, '_'. */
bool cat_is_name(const char *s);
/* Codes: ASCII letters, digits, '-', '_' and '.'; 1..64 bytes. */
bool cat_is_code(const char *s);

/* ---- the sheets, in the order catalog_load reads them ------------------- */

void cat_load_divisions(catalog *cat);          /* catalog-registers.c */
void cat_load_materials(catalog *cat);
void cat_load_choices(catalog *cat);
void cat_load_calendar(catalog *cat);
void cat_load_matters(catalog *cat);            /* catalog-matters.c */
void cat_load_fields(catalog *cat);
void cat_load_matter_materials(catalog *cat);
void cat_load_bundles(catalog *cat);            /* catalog-forms.c */

/* ---- expressions (catalog-exprs.c) -------------------------------------- */

/* What an expression of field `self` (inside repeat `scope`, or at the top
 * level when scope is NULL) of matter m can see. */
struct check_env {
        const struct cat_matter *m;
        const struct cat_field *scope;
        const struct cat_field *self;    /* NULL: "." is not allowed */
};

/* The expression in cell c (what: "constraint" or "relevant"), kept for
 * catalog_free; NULL when the cell is empty or the expression bad
 * (reported). */
expr *cat_parse_expr_cell(catalog *cat, const struct cell *c, const char *sheet, const char *what);
/* Type-check e (source src, at pos) as a condition in ce; a problem is
 * an error. */
void cat_check_expr(catalog *cat, const expr *e, const char *src, struct cat_pos pos,
                    const struct check_env *ce, const char *what);
/* Check every field's constraint and relevant, and put constraints
 * without a message in plain words. After cat_load_fields. */
void cat_check_field_exprs(catalog *cat);

/* ---- forms (catalog-forms.c) --------------------------------------------- */

/* Build the form of a list of matters (one for a matter, several for a
 * bundle). Returns NULL on a merge conflict (reported) or out of memory. */
const struct cat_form *cat_build_form(catalog *cat, const char *code, const char *zh, const char *en,
                                      bool is_bundle, const struct cat_matter **ms, size_t nms,
                                      const struct cat_pos *pos);
/* What the applicant's roles of a built form allow: an error at a field
 * that cannot hold its role, a warning at pos when no field names the
 * applicant. */
void cat_check_applicant(catalog *cat, const struct cat_form *form, const struct cat_pos *pos);

#endif
