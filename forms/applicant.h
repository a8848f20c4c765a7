/* Who applies: which fields of a form hold the applicant's name and ID,
 * and their values in an application. Receipts, notices, lists and
 * search name the applicant from here; they never guess (docs/catalog.md,
 * "The applicant").
 *
 * A form says it in fields.csv's role column (applicant_name,
 * applicant_id). Without one, a text field whose Chinese label names the
 * applicant (申请人/申报人 with 姓名) stands for the name, and its ID is
 * the ID field whose label names the same person, else the form's only
 * top-level ID number. A form that says neither has no applicant name:
 * the paperwork leaves it blank and `catalog check` warns. */
#ifndef DAIBAN_FORMS_APPLICANT_H
#define DAIBAN_FORMS_APPLICANT_H

#include <stdbool.h>

#include <jansson.h>

#include "forms/catalog.h"

struct form_applicant {
        const struct cat_item *name;    /* NULL: the form does not say */
        const struct cat_item *id;      /* NULL: no ID is printed */
        const struct cat_item *repeat;  /* the repeat holding name (a household), or NULL */
        bool declared;                  /* by the role column, not by a label */
};

/* The applicant's fields of form. A name inside a repeat is a household's
 * member: the row whose ID number equals the top-level applicant_id (the
 * householder's), or the first row when the ID is in the same repeat. */
void form_applicant_fields(const struct cat_form *form, struct form_applicant *ret);

/* Where the roles of one matter's form cannot work: an ID inside a repeat
 * without the name beside it, or a name inside a repeat with no ID to
 * choose its row. Returns NULL when they can, else a message in English
 * and (*zh) in Chinese, both static. */
const char *form_applicant_misplaced(const struct cat_form *form, const struct form_applicant *a,
                                     const char **zh);

/* The applicant's name and ID in data (pointers into data), each NULL
 * when the form does not say or data lacks it. */
void form_applicant_of(const struct cat_form *form, const json_t *data, const char **name, const char **id);

#endif
