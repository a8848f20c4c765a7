/* An application as the derived tables hold it (agent/core/rows.c), its
 * views as JSON (agent/cmd-app.c), and its paperwork (agent/paper.c). */
#ifndef DAIBAN_AGENT_APP_H
#define DAIBAN_AGENT_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "agent/home.h"
#include "forms/applicant.h"
#include "forms/validate.h"

/* One application as the derived tables hold it. */
struct app_row {
        char id[64];
        char matter[64];
        char matter_name[256];
        char bundle[64], bundle_code[64], bundle_receipt[64];
        char origin[16], reviewer[16], decider[16], holder[16];
        char status[16];
        char receipt[64];
        char applicant[256], applicant_id[64];
        char accepted_by[64];
        char result[16];
        char reason[1024];
        char rating_comment[1024];
        char catalog[48];       /* the catalogue version it was captured under */
        long long time_limit, accepted_on, due, rating, nconflicts;
        json_t *data;           /* owned */
};

void app_row_free(struct app_row *r);

/* The columns of apps that fill an app_row, in app_row_from's order; the
 * second leaves the form data out (lists): data is then an empty object. */
#define APP_COLS_DATA(data)                                                                                        \
        "id, matter, matter_name, bundle, bundle_code, bundle_receipt, origin, reviewer, decider, holder,"       \
        " status, receipt, applicant, applicant_id, accepted_by, result, reason, rating_comment, time_limit,"     \
        " accepted_on, due, rating, nconflicts, " data ", catalog"
#define APP_COLS APP_COLS_DATA("data")
#define APP_COLS_NO_DATA APP_COLS_DATA("NULL")

/* Fill r from a row of a statement that selected APP_COLS (or
 * APP_COLS_NO_DATA) first. */
void app_row_from(sqlite3_stmt *st, struct app_row *r);

/* Every application an id names: one (id or receipt), or a bundle's
 * members (bundle id or bundle receipt), in order. 0 (n > 0), -ENOENT
 * or -EIO. */
int app_rows_load(store *st, const char *key, struct app_row **ret, size_t *n);
void app_rows_free(struct app_row *v, size_t n);

/* An application as JSON: as `app list --json` lists it, and as
 * `app show --json` shows it (with materials and conflicts). today
 * decides what is overdue. */
json_t *app_summary_json(struct home *h, int32_t today, const struct app_row *r);
json_t *app_detail_json(struct home *h, int32_t today, const struct app_row *r);

/* The audit trail of t[0..n): every event, oldest first, as
 * `app log --json` prints it. NULL when the store failed. */
json_t *app_log_json(store *st, const struct app_row *t, size_t n);

/* Is s a state of the lifecycle (draft, accepted, ...)? */
bool app_status_known(const char *s);

/* The i-th state of the lifecycle, in order from draft; NULL past the
 * last. */
const char *app_status_nth(size_t i);

/* A state's name: s itself in English, its Chinese name with zh. */
const char *app_status_name(const char *s, bool zh);

/* Is an application in this state open (accepted, returned or passed:
 * its time limit runs)? */
bool app_status_open(const char *status);

/* A key the station and the CLI take from a client (a draft id, a
 * request key, a material code): 1-64 of [A-Za-z0-9._-], not starting
 * with '-'. */
bool app_key_ok(const char *s, size_t n);

/* The Chinese of a lifecycle rule's English reason (the fold's words, as
 * conflicts record them), or en itself when there is none. */
const char *app_rule_zh(const char *en);

/* The problems that stop application r from being accepted now: its
 * data against its matter's form, then the materials (required ones
 * neither provided nor allowed to be deficient). Appends to p.
 * Uses the catalogue version the application was captured under.
 * Returns 0 or -ENOMEM; -EAGAIN when that version has not reached this
 * node yet; -ENOENT when it lacks the matter. */
int app_acceptance_problems(struct home *h, const struct app_row *r, int32_t today, struct form_problems *p);

/* The materials of form that data asks for and that are neither provided
 * nor deficient where 容缺 is allowed, appended to p; state_of gives a
 * material's state ("provided", "deficient" or ""). Returns 0 or -ENOMEM. */
int app_material_problems(const struct cat_form *form, const json_t *data, int32_t today,
                          const char *(*state_of)(void *ctx, const char *material), void *ctx,
                          struct form_problems *p);

/* Paperwork (agent/paper.c); today is the printing date. The receipt and
 * the notice of stored applications: rows are one application or every
 * member of a bundle. */
void paper_receipt(FILE *f, struct home *h, const struct app_row *rows, size_t n, bool html);
void paper_notice(FILE *f, struct home *h, const struct app_row *rows, size_t n, int32_t today, bool html);
/* The notice before acceptance, of a form filled in but not accepted
 * (a station's draft): materials as the station sends them, an array of
 * {"material", "state", "promise"}; op, the operator telling it. */
void paper_notice_draft(FILE *f, struct home *h, const struct cat_form *form, const json_t *data,
                        const json_t *materials, int32_t today, const char *op, bool html);

#endif
