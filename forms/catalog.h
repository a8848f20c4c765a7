/* The county catalogue (delegated matter list, 下放事项清单): loading the
 * eight sheets, checking them, and the forms, material lists, bundles,
 * delegation and calendar derived from them.
 *
 * The sheets and every rule checked here are specified in docs/catalog.md.
 * A catalogue is read-only once loaded, so its model is exposed as const
 * structs rather than through accessors: forms are walked by the
 * validator, the CLI and the station's web UI, and accessors for every
 * member would hide nothing worth hiding. Only the loader writes them. */
#ifndef DAIBAN_FORMS_CATALOG_H
#define DAIBAN_FORMS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forms/calendar.h"
#include "forms/expr.h"
#include "forms/ftype.h"

#define CAT_REPEAT_MAX_ROWS 200   /* hard cap on rows of any repeat */

enum cat_level {
        LEVEL_NONE = 0,
        LEVEL_COUNTY = 1,
        LEVEL_TOWNSHIP = 2,
        LEVEL_VILLAGE = 3,
};

const char *cat_level_name(enum cat_level l);       /* "county" ... */
const char *cat_level_name_zh(enum cat_level l);    /* "县" ... */
/* The level a role's word names: county, township or village (the
 * sheets' and the stores' word); LEVEL_NONE for anything else. */
enum cat_level cat_parse_level(const char *s);

/* Where a definition came from: sheet file name (e.g. "fields.csv"),
 * 1-based line and column. */
struct cat_pos {
        const char *sheet;
        int line;
        int col;
};

struct cat_division {
        char *code;
        char *name;
        enum cat_level level;
        const struct cat_division *parent;  /* NULL for the county */
        char *phone;                        /* the station's phone for villagers, or NULL */
        struct cat_pos pos;
};

struct cat_material {
        char *code;
        char *name_zh;
        char *name_en;
        struct cat_pos pos;
};

struct cat_choice {
        char *value;
        char *label_zh;
        char *label_en;
};

struct cat_list {
        char *name;
        struct cat_choice *items;
        size_t nitems;
        struct cat_pos pos;
};

/* One row of fields.csv (end_repeat rows only close a repeat and are not
 * kept). A begin_repeat field holds its row's fields as children. */
/* What a field says about the person applying (fields.csv's optional
 * role column): receipts, notices, lists and search name the applicant
 * from these, never from a guess. */
enum cat_role {
        ROLE_NONE = 0,
        ROLE_APPLICANT_NAME,
        ROLE_APPLICANT_ID,
};

struct cat_field {
        char *name;
        enum ftype type;
        char *label_zh;
        char *label_en;
        bool required;
        char *constraint_src;        /* NULL when empty */
        expr *constraint;
        char *constraint_msg_zh;     /* NULL when empty */
        char *constraint_words_zh;   /* without a message: the constraint in plain */
        char *constraint_words_en;   /* words (expr_describe), or NULL */
        char *relevant_src;
        expr *relevant;
        const struct cat_list *choices;
        char *hint_zh;
        int min_rows, max_rows;      /* begin_repeat only */
        enum cat_role role;
        struct cat_field *children;
        size_t nchildren;
        struct cat_pos pos;
        struct cat_pos constraint_pos;  /* where the expressions start */
        struct cat_pos relevant_pos;
};

enum cat_mkind {
        MK_ORIGINAL,
        MK_COPY,
        MK_SCAN,
        MK_COMMITMENT,
};

const char *cat_mkind_name(enum cat_mkind k);       /* "original" ... */
const char *cat_mkind_name_zh(enum cat_mkind k);    /* "原件" ... */

/* One row of matter_materials.csv. */
struct cat_matter_material {
        const struct cat_material *material;
        enum cat_mkind kind;
        int copies;
        bool required;
        bool deficiency_ok;          /* 容缺 allowed */
        int deficiency_days;         /* working days to supply it */
        char *relevant_src;
        expr *relevant;
        char *note_zh;
        struct cat_pos pos;
        struct cat_pos relevant_pos;
};

struct cat_form;

struct cat_matter {
        char *code;
        char *name_zh;
        char *name_en;
        char *department;
        char *type;
        char *basis;
        int time_limit_days;         /* working days */
        char *fee;
        unsigned accept_at;          /* bit (1 << level) per level */
        enum cat_level decide_at;
        enum cat_level review_at;    /* LEVEL_NONE: no separate review */
        struct cat_field *fields;    /* top level, in order */
        size_t nfields;
        struct cat_matter_material *materials;
        size_t nmaterials;
        const struct cat_form *form;
        struct cat_pos pos;
};

/* A form as an agent walks it: a matter's own, or a bundle's merged one.
 * An item stands for one question; in a bundle, defs holds the definition
 * of every member matter that asks it (their constraints all apply, it
 * is relevant when any of them is relevant, and required when a relevant
 * one requires it). */
struct cat_item {
        const struct cat_field *field;          /* defs[0] */
        const struct cat_field **defs;
        const struct cat_matter **def_matters;  /* matter of each def */
        size_t ndefs;
        struct cat_item *children;              /* begin_repeat */
        size_t nchildren;
};

struct cat_form_material {
        const struct cat_material *material;
        const struct cat_matter_material **defs;
        const struct cat_matter **def_matters;
        size_t ndefs;
        enum cat_mkind kind;         /* of defs[0] */
        int copies;                  /* largest of defs */
        bool required;               /* any def */
        bool deficiency_ok;          /* every def allows it */
        int deficiency_days;         /* smallest of defs */
};

struct cat_form {
        const char *code;
        const char *name_zh;
        const char *name_en;
        bool is_bundle;
        const struct cat_matter **matters;
        size_t nmatters;
        struct cat_item *items;
        size_t nitems;
        struct cat_form_material *materials;
        size_t nmaterials;
};

struct cat_bundle {
        char *code;
        char *name_zh;
        char *name_en;
        const struct cat_matter **matters;
        size_t nmatters;
        const struct cat_form *form;
        struct cat_pos pos;
};

/* A problem found while loading. Messages exist in both languages;
 * callers pick one (see i18n in agent/). */
enum cat_severity { CAT_ERROR, CAT_WARNING };

struct cat_diag {
        enum cat_severity severity;
        char *file;                  /* path as given to catalog_load */
        int line, col;               /* 0 when not about one cell */
        char *msg_en;
        char *msg_zh;
};

typedef struct catalog catalog;

/* Load and check the catalogue in folder dir. Returns 0 and *ret whenever
 * the folder could be read at all, even with problems: every problem is
 * in catalog_diags(), in file order, and catalog_nerrors() says whether
 * the catalogue may be used. -ENOMEM on out of memory. */
int catalog_load(const char *dir, catalog **ret);
void catalog_free(catalog *cat);

size_t catalog_ndiags(const catalog *cat);
const struct cat_diag *catalog_diag(const catalog *cat, size_t i);
size_t catalog_nerrors(const catalog *cat);

size_t catalog_nmatters(const catalog *cat);
const struct cat_matter *catalog_matter(const catalog *cat, size_t i);
size_t catalog_nbundles(const catalog *cat);
const struct cat_bundle *catalog_bundle(const catalog *cat, size_t i);
size_t catalog_ndivisions(const catalog *cat);
const struct cat_division *catalog_division(const catalog *cat, size_t i);
size_t catalog_nmaterials(const catalog *cat);
size_t catalog_nfields(const catalog *cat);   /* all fields of all matters */
const calendar *catalog_calendar(const catalog *cat);

const struct cat_matter *catalog_find_matter(const catalog *cat, const char *code);
const struct cat_bundle *catalog_find_bundle(const catalog *cat, const char *code);
const struct cat_division *catalog_find_division(const catalog *cat, const char *code);
/* The form of a matter or a bundle code, or NULL. */
const struct cat_form *catalog_find_form(const catalog *cat, const char *code);

/* Delegation: may a node at division div accept this matter / bundle (a
 * bundle when it may accept every member matter)? */
bool catalog_may_accept(const struct cat_matter *m, const struct cat_division *div);
bool catalog_bundle_may_accept(const struct cat_bundle *b, const struct cat_division *div);

/* The division at level `level` that is div or one of its ancestors (the
 * township that reviews a village's application, the county that
 * decides), or NULL. */
const struct cat_division *catalog_division_at(const struct cat_division *div, enum cat_level level);

#endif
