/* Validating an application (a JSON object of field values, repeats as
 * arrays of objects) against the form of its matter or bundle.
 *
 * The result is the complete list of problems, never only the first:
 * the one-time notification (一次性告知) prints all of them at once.
 * Each problem has a field path ("members[2].member_id", rows counted
 * from 0), a machine code and a message in Chinese and English. The
 * rules and codes are listed in docs/catalog.md ("Validation"). */
#ifndef DAIBAN_FORMS_VALIDATE_H
#define DAIBAN_FORMS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "forms/catalog.h"

#define FORM_MAX_VALUE   4000   /* bytes in one value */
#define FORM_MAX_KEYS    1000   /* keys in one application object */

struct form_problem {
        char *path;
        const char *code;
        char *msg_zh;
        char *msg_en;
};

struct form_problems {
        struct form_problem *v;
        size_t n, cap;
};

void form_problems_init(struct form_problems *p);
/* Append a problem (path and both messages are copied; code is a static
 * string). false when out of memory. */
bool form_problem_add(struct form_problems *p, const char *path, const char *code, const char *zh, const char *en);
/* Drop the problems but keep the memory for reuse. */
void form_problems_reset(struct form_problems *p);
void form_problems_finish(struct form_problems *p);

/* Validate data against form as of `today` (days since 1970-01-01).
 * Problems are appended to out (the data is valid when none were added).
 * If ret_clean is not NULL, *ret_clean receives a new object holding only
 * the relevant fields with a value (what would be stored). Returns 0, or
 * -ENOMEM. */
int form_validate(const struct cat_form *form, const json_t *data, int32_t today,
                  struct form_problems *out, json_t **ret_clean);

/* The same, also appending to the array `hidden` the path of every
 * field that relevance hides now ("members[0].occupation"), for a form
 * on a screen. */
int form_validate_hidden(const struct cat_form *form, const json_t *data, int32_t today,
                         struct form_problems *out, json_t *hidden);

/* The part of a bundle submission that belongs to matter m of the bundle
 * (fields of m that are relevant under m's own rules). Returns a new
 * object, or NULL on out of memory. Works for a plain matter too. */
json_t *form_split(const struct cat_matter *m, const json_t *data, int32_t today);

/* Which materials of the form are asked for, given the data: asked[i]
 * for form->materials[i] (false when every definition's `relevant` is
 * false). */
void form_materials_asked(const struct cat_form *form, const json_t *data, int32_t today, bool *asked);

#endif
