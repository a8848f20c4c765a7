/* The read model: every query of the tables the fold derives from the
 * events (apps, app_materials, conflicts, operators) and of the event log
 * for display, next to their schema (sync/store.c), so that no raw
 * database handle travels up to agent/. Results are plain structs or
 * jansson values the caller owns, or (the list) rows lent to the
 * caller's callback one at a time. Text columns come back with control
 * characters replaced by '?': what another node wrote must not drive a
 * terminal. See docs/store.md. */
#ifndef DAIBAN_SYNC_READMODEL_H
#define DAIBAN_SYNC_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sync/store.h"

/* ---- applications ---- */

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
        bool promise_overdue;   /* set by readmodel_app_list only: an open one's 容缺 promise has passed */
        json_t *data;           /* owned; an empty object in a list */
};

void app_row_free(struct app_row *r);
void app_rows_free(struct app_row *v, size_t n);

/* Every application an id names: one (id or receipt), or a bundle's
 * members (bundle id or bundle receipt), in order. 0 (n > 0), -ENOENT
 * or -EIO. *ret is the caller's (app_rows_free). */
int readmodel_app_rows(store *st, const char *key, struct app_row **ret, size_t *n);

/* The one list of applications, for the CLI's `app list` and the
 * station's GET /api/apps. Overdue is one rule: an open application
 * (accepted, returned, passed) past its due date or with a 容缺 promise
 * that has passed, as of today. Ordered by due date, most overdue first,
 * when overdue or due_within is given; else by last change, newest
 * first. Both page by cursor (next). */
#define READMODEL_LIST_LIMIT 50

struct readmodel_filter {
        int32_t today;                  /* what is overdue */
        const char *status;             /* NULL or "": any */
        bool overdue;
        long due_within;                /* -1: none; else open and due in [today, today + days] */
        const char *origin;             /* the village that took it */
        const char *matter;             /* a matter or a bundle code */
        const char *text;               /* the applicant's name (part), their ID, an id or a receipt (prefix) */
        const char *todo_node;          /* NULL, or what this node has to do: */
        bool todo_village;              /*   a village: its own to edit, submit, deliver; else what it holds */
        long limit;                     /* 0: READMODEL_LIST_LIMIT */
        const char *after;              /* NULL, or the previous page's next */
        bool with_data;                 /* fill the form data (else an empty object) */
        bool count;                     /* also count every match (total) */
};

/* Called for each match of a list, in order. The row is the read
 * model's and lives only during the call (its data too): build what
 * the front shows from it, keep nothing. A negative return stops the
 * list, and readmodel_app_list returns it. */
typedef int readmodel_row_fn(void *ud, const struct app_row *row);

/* What a list gives besides its rows. */
struct readmodel_page {
        size_t n;                       /* the rows given to fn */
        long long total;                /* with filter.count */
        char next[160];                 /* the cursor of the next page, "" on the last */
};

/* Call fn(ud, row) for each match of f, in the list's order, one row
 * at a time straight from the statement (a page is never held: a list
 * request copied 3 KB a row into a growing array), then fill page (the
 * caller's). 0, -EINVAL (after is no cursor), -EIO (store_errmsg), or
 * what fn returned to stop it; page is written only on 0. */
int readmodel_app_list(store *st, const struct readmodel_filter *f, readmodel_row_fn *fn, void *ud,
                       struct readmodel_page *page);

/* ---- materials ---- */

struct readmodel_material {
        char material[64];
        char state[16];                 /* provided, missing, deficient */
        char blob[72];                  /* "" when no scan */
        long long promise;              /* a deficient one's day, -1 */
};

/* app's materials, by code; state NULL: every state. 0 or -EIO; *ret the caller's (free). */
int readmodel_materials(store *st, const char *app, const char *state, struct readmodel_material **ret, size_t *n);
/* One material of app: 0, -ENOENT, -EIO. */
int readmodel_material(store *st, const char *app, const char *material, struct readmodel_material *ret);
/* The deficient materials of one application, or of every member of
 * bundle (bundle true: key is the bundle's id), each once with its
 * earliest promise. 0 or -EIO. */
int readmodel_deficient(store *st, const char *key, bool bundle, struct readmodel_material **ret, size_t *n);
/* Does an application name the blob hex as a material's scan? */
bool readmodel_blob_named(store *st, const char *hex);

/* ---- conflicts ---- */

struct readmodel_conflict {
        char app[64];
        char matter_name[256];          /* "" when the application is not here */
        char applicant[256];
        bool known;                     /* the application is here (matter_name, applicant) */
        char node[16];
        long long seq;
        char type[64];
        char reason[1024];
};

/* app's conflicts (app NULL: every application's, at most limit), by
 * application, node, seq. 0 or -EIO; *ret the caller's (free). */
int readmodel_conflicts(store *st, const char *app, size_t limit, struct readmodel_conflict **ret, size_t *n);

/* ---- operators ---- */

struct readmodel_operator {
        char node[16];
        char id[64];
        char name[256];
        bool disabled;
};

/* node's operators (node NULL: every node's), by node and id. 0 or -EIO;
 * *ret the caller's (free). */
int readmodel_operators(store *st, const char *node, struct readmodel_operator **ret, size_t *n);
/* Operator id of node: 0, -ENOENT, -EIO. */
int readmodel_operator(store *st, const char *node, const char *id, struct readmodel_operator *ret);

/* ---- statistics ---- */

/* The counts `daiban status` shows: applications by status (as a JSON
 * object, every state of the lifecycle, owned by the caller), the open
 * ones past their due date, the open ones' passed 容缺 promises, the
 * conflicts. 0 or -EIO. */
struct readmodel_counts {
        json_t *by_status;
        long long overdue, overdue_promises, conflicts;
};
int readmodel_counts(store *st, int32_t today, const char *const *statuses, struct readmodel_counts *ret);

/* One application accepted in a period, as the county's statistics read it. */
struct readmodel_stat {
        const char *origin, *matter, *matter_name, *status;
        long long due, rating;
        long long decided;              /* the day it was decided, -1 */
};
/* Call fn for each application accepted on a day in [d0, d1]. 0 or -EIO. */
int readmodel_stats(store *st, int32_t d0, int32_t d1, void (*fn)(void *ud, const struct readmodel_stat *s), void *ud);

/* The catalogue version each station (origin) last captured under: a
 * JSON object origin -> version, the caller's. */
json_t *readmodel_catalog_by_origin(store *st);

/* ---- capture's look-ups ---- */

/* The highest number after prefix of the receipts (and bundle receipts)
 * that start with it, into *best (0 when none). 0 or -EIO. */
int readmodel_receipt_max(store *st, const char *prefix, long *best);
/* The application (the bundle's id for a bundle) node created for
 * request, and its matter or bundle code: 1, 0 when none, -EIO. */
int readmodel_request_find(store *st, const char *node, const char *request, char *id, size_t idn, char *code,
                           size_t coden);

/* ---- the event log ---- */

/* The audit trail of t[0..n): every event, oldest first, as `app log
 * --json` prints it (with the operator's name). NULL when the store
 * failed. */
json_t *readmodel_app_log(store *st, const struct app_row *t, size_t n);
/* The newest wall clock (ms) of node's events, -1 when none. */
long long readmodel_node_last_wall(store *st, const char *node);
/* The count of node's events after seq, -1 on error. */
long long readmodel_events_after(store *st, const char *node, long long seq);
/* The first seq of node's events written at or after wall (ms), -1 when none. */
long long readmodel_first_seq_since(store *st, const char *node, long long wall);
/* The newest stamp in the store, -1 when none. */
long long readmodel_max_hlc(store *st);
/* Has this store ever taken a feed (synced with another node)? */
bool readmodel_has_feeds(store *st);

#endif
