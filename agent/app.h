/* An application for the fronts: its views as JSON (agent/core/view.c),
 * the lifecycle's words (agent/core/words.c), what stops an acceptance
 * (agent/core/capture.c), and its paperwork (agent/core/paper.c). The
 * rows themselves come from the read model (sync/readmodel.h). */
#ifndef DAIBAN_AGENT_APP_H
#define DAIBAN_AGENT_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "agent/home.h"
#include "sync/readmodel.h"
#include "forms/applicant.h"
#include "forms/validate.h"

/* struct app_row and the queries of the derived tables: sync/readmodel.h */

/* An application as JSON: as `app list --json` lists it, and as
 * `app show --json` shows it (with materials and conflicts). today
 * decides what is overdue. */
json_t *app_summary_json(struct home *h, int32_t today, const struct app_row *r);
json_t *app_detail_json(struct home *h, int32_t today, const struct app_row *r);

/* day (days since 1970) as YYYY-MM-DD in buf (11 bytes), or "-" when
 * day < 0. */
const char *app_date_str(long long day, char *buf);

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

/* Paperwork (agent/core/paper.c): each sheet as text (plain, or an HTML
 * page), malloc'ed, the caller's; *len its length; NULL when out of
 * memory. today is the printing date. The receipt and the notice of
 * stored applications: rows are one application or every member of a
 * bundle. */
char *paper_receipt(struct home *h, const struct app_row *rows, size_t n, bool html, size_t *len);
char *paper_notice(struct home *h, const struct app_row *rows, size_t n, int32_t today, bool html, size_t *len);
/* The notice before acceptance, of a form filled in but not accepted
 * (a station's draft): materials as the station sends them, an array of
 * {"material", "state", "promise"}; op, the operator telling it. */
char *paper_notice_draft(struct home *h, const struct cat_form *form, const json_t *data, const json_t *materials,
                         int32_t today, const char *op, bool html, size_t *len);

#endif
