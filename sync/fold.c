/* The fold from events to application state. See fold.h and
 * docs/lifecycle.md. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forms/calendar.h"
#include "sync/store-int.h"
#include "sync/fold.h"

static bool is(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static bool one_of(const char *s, const char *const *set)
{
        for (; *set; set++)
                if (is(s, *set))
                        return true;
        return false;
}

const char *fold_check(const char *type, const char *result, const char *node, const char *status,
                       const char *origin, const char *reviewer, const char *decider, long long rating)
{
        static const char *const open_states[] = { ST_DRAFT, ST_ACCEPTED, ST_RETURNED, ST_PASSED, NULL };
        static const char *const editable[] = { ST_DRAFT, ST_RETURNED, NULL };
        static const char *const supplying[] = { ST_DRAFT, ST_RETURNED, ST_ACCEPTED, ST_PASSED, NULL };
        bool by_origin = is(node, origin);

        (void)rating;
        if (is(type, "app.created"))
                return "the application already exists";
        if (is(type, "app.edited")) {
                if (!by_origin)
                        return "only the station that took the application may edit it";
                return one_of(status, editable) ? NULL : "only a draft or a returned application can be edited";
        }
        if (is(type, "app.material")) {
                if (!by_origin)
                        return "only the station that took the application records its materials";
                return one_of(status, supplying) ? NULL : "materials can no longer change after the decision";
        }
        if (is(type, "app.submitted")) {
                if (!by_origin)
                        return "only the station that took the application may submit it";
                return is(status, ST_DRAFT) ? NULL : "only a draft can be submitted (a returned one is resubmitted)";
        }
        if (is(type, "app.resubmitted")) {
                if (!by_origin)
                        return "only the station that took the application may resubmit it";
                return is(status, ST_RETURNED) ? NULL : "only a returned application can be resubmitted";
        }
        if (is(type, "app.reviewed")) {
                bool by_reviewer = reviewer && is(node, reviewer);
                bool by_decider = is(node, decider);
                if (is(result, "pass")) {
                        if (!reviewer)
                                return "this matter has no separate review";
                        if (!by_reviewer)
                                return "only the reviewing office may pass the application";
                        if (is(reviewer, decider))
                                return "the reviewing office decides this matter itself: decide instead of passing";
                        return is(status, ST_ACCEPTED) ? NULL : "only an accepted application can be passed up";
                }
                if (is(result, "return")) {
                        if (by_reviewer && is(status, ST_ACCEPTED))
                                return NULL;
                        if (by_decider && (is(status, ST_PASSED) || (is(status, ST_ACCEPTED) &&
                                                                      (!reviewer || is(reviewer, decider)))))
                                return NULL;
                        if (!by_reviewer && !by_decider)
                                return "only the reviewing or deciding office may return the application";
                        return "the application is not waiting for this office";
                }
                return "a review is either pass or return";
        }
        if (is(type, "app.decided")) {
                if (!is(result, "approve") && !is(result, "reject"))
                        return "a decision is either approve or reject";
                if (!is(node, decider))
                        return "only the deciding office may decide";
                if (is(status, ST_PASSED))
                        return NULL;
                if (is(status, ST_ACCEPTED) && (!reviewer || is(reviewer, decider)))
                        return NULL;
                if (is(status, ST_ACCEPTED))
                        return "the application has not passed its review yet";
                return "the application is not waiting for a decision";
        }
        if (is(type, "app.delivered")) {
                if (!by_origin)
                        return "only the station that took the application delivers the result";
                return is(status, ST_APPROVED) || is(status, ST_REJECTED) ? NULL
                                                                           : "there is no decision to deliver yet";
        }
        if (is(type, "app.rated")) {
                if (!by_origin)
                        return "only the station that took the application records the rating";
                if (is(status, ST_RATED))
                        return "the application was already rated";
                return is(status, ST_DELIVERED) ? NULL : "an application is rated after its result was delivered";
        }
        if (is(type, "app.withdrawn")) {
                if (!by_origin)
                        return "only the station that took the application may withdraw it";
                return one_of(status, open_states) ? NULL : "it is too late to withdraw: the application was decided";
        }
        return "unknown event type";
}

/* ---- the state of one application ---------------------------------------- */

/* "101201-261124-": the receipt prefix of origin for acceptance day on
 * (agent/core/capture.c issues numbers under it). */
static void receipt_prefix(const char *origin, long long on, char *out, size_t n)
{
        char local[7] = "000000";
        size_t len = strlen(origin);
        int y, m, d;

        if (len > 6)
                memcpy(local, origin + 6, len - 6 > 6 ? 6 : len - 6);
        cal_date_to_ymd((int32_t)on, &y, &m, &d);
        snprintf(out, n, "%s-%02d%02d%02d-", local, y % 100, m, d);
}

/* s is prefix followed by one or more digits, and nothing else. */
static bool numbered(const char *s, const char *prefix)
{
        size_t n = strlen(prefix);

        if (!s || strncmp(s, prefix, n) != 0 || !s[n])
                return false;
        return strspn(s + n, "0123456789") == strlen(s + n) && strlen(s + n) <= 6;
}

struct mat {
        char *material, *state, *blob;
        long long promise;      /* -1: none */
};

struct conflict {
        char *node;
        long long seq;
        char *type, *reason;
};

struct app {
        bool exists;
        char *id, *matter, *matter_name, *bundle, *bundle_code, *bundle_receipt, *origin, *reviewer, *decider;
        const char *status;
        const char *holder;
        char *receipt, *applicant, *applicant_id, *data, *accepted_by, *result, *reason, *rating_comment, *catalog;
        long long time_limit, accepted_on, due, rating, created_hlc, updated_hlc;
        struct mat *mats;
        size_t nmats, capmats;
        struct conflict *conflicts;
        size_t nconflicts, capconflicts;
        bool oom;
};

static void set(struct app *a, char **dst, const char *src)
{
        free(*dst);
        *dst = NULL;
        if (src && !(*dst = strdup(src)))
                a->oom = true;
}

static void app_reset(struct app *a)
{
        free(a->id);
        free(a->matter);
        free(a->matter_name);
        free(a->bundle);
        free(a->bundle_code);
        free(a->bundle_receipt);
        free(a->origin);
        free(a->reviewer);
        free(a->decider);
        free(a->receipt);
        free(a->applicant);
        free(a->applicant_id);
        free(a->data);
        free(a->accepted_by);
        free(a->result);
        free(a->reason);
        free(a->rating_comment);
        free(a->catalog);
        for (size_t i = 0; i < a->nmats; i++) {
                free(a->mats[i].material);
                free(a->mats[i].state);
                free(a->mats[i].blob);
        }
        free(a->mats);
        for (size_t i = 0; i < a->nconflicts; i++) {
                free(a->conflicts[i].node);
                free(a->conflicts[i].type);
                free(a->conflicts[i].reason);
        }
        free(a->conflicts);
        memset(a, 0, sizeof *a);
}

static const char *jstr(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static long long jint(json_t *o, const char *k, long long dflt)
{
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static struct mat *mat_get(struct app *a, const char *code)
{
        for (size_t i = 0; i < a->nmats; i++)
                if (is(a->mats[i].material, code))
                        return &a->mats[i];
        if (a->nmats == a->capmats) {
                size_t cap = a->capmats ? a->capmats * 2 : 8;
                struct mat *n = realloc(a->mats, cap * sizeof *n);
                if (!n) {
                        a->oom = true;
                        return NULL;
                }
                a->mats = n;
                a->capmats = cap;
        }
        struct mat *m = &a->mats[a->nmats++];
        memset(m, 0, sizeof *m);
        m->promise = -1;
        set(a, &m->material, code);
        return m;
}

static void conflict(struct app *a, const char *node, long long seq, const char *type, const char *reason)
{
        if (a->nconflicts == a->capconflicts) {
                size_t cap = a->capconflicts ? a->capconflicts * 2 : 4;
                struct conflict *n = realloc(a->conflicts, cap * sizeof *n);
                if (!n) {
                        a->oom = true;
                        return;
                }
                a->conflicts = n;
                a->capconflicts = cap;
        }
        struct conflict *c = &a->conflicts[a->nconflicts++];
        memset(c, 0, sizeof *c);
        c->seq = seq;
        set(a, &c->node, node);
        set(a, &c->type, type);
        set(a, &c->reason, reason);
}

static const char *waiting_office(const struct app *a)
{
        return a->reviewer ? a->reviewer : a->decider;
}

/* Apply one event. */
/* A (re)submission's acceptance date, due date and receipt number
 * follow from the application's origin and time limit, both fixed at
 * creation (which ingest checked against the county's catalogue): NULL,
 * or why not. The due date is checked against bounds any working-day
 * calendar keeps (each working day is at least one day; holidays never
 * double the time), for the exact calendar is the catalogue's, outside
 * the fold. */
static const char *check_submission(const struct app *a, json_t *b, bool first)
{
        long long on = jint(b, "accepted_on", -1), due = jint(b, "due", -1);
        int32_t lo, hi;
        char prefix[32];

        cal_date_from_ymd(2000, 1, 1, &lo);
        cal_date_from_ymd(2199, 12, 31, &hi);
        if (on < lo || on > hi)
                return "an acceptance must give its date";
        if (a->time_limit < 0 || a->time_limit > 3650 || due < on + a->time_limit ||
            due > on + 2 * a->time_limit + 30)
                return "the due date does not follow from the matter's time limit";
        if (!first)
                return NULL;
        receipt_prefix(a->origin, on, prefix, sizeof prefix);
        const char *receipt = jstr(b, "receipt"), *whole = jstr(b, "bundle_receipt");
        if (a->bundle) {
                char part[48];
                snprintf(part, sizeof part, "%s-", whole ? whole : "");
                if (!numbered(whole, prefix) || !numbered(receipt, part))
                        return "the receipt number is not the accepting station's own for that day";
        } else if (!numbered(receipt, prefix) || whole) {
                return "the receipt number is not the accepting station's own for that day";
        }
        return NULL;
}

static void apply(struct app *a, const char *node, long long seq, long long hlc, const char *op,
                  const char *type, const char *body_text)
{
        json_error_t jerr;
        json_t *b = json_loads(body_text, 0, &jerr);
        const char *why;

        if (!json_is_object(b)) {
                conflict(a, node, seq, type, "the event body is not a JSON object");
                json_decref(b);
                return;
        }
        if (is(type, "app.created")) {
                const char *matter = jstr(b, "matter"), *origin = jstr(b, "origin"), *decider = jstr(b, "decider");
                if (a->exists) {
                        conflict(a, node, seq, type, "the application already exists");
                } else if (!matter || !origin || !decider || !is(origin, node) || !jstr(b, "data")) {
                        conflict(a, node, seq, type, "a creation must name its matter, origin (the writer) and decider");
                } else {
                        a->exists = true;
                        set(a, &a->matter, matter);
                        set(a, &a->matter_name, jstr(b, "matter_name") ? jstr(b, "matter_name") : matter);
                        set(a, &a->bundle, jstr(b, "bundle"));
                        set(a, &a->bundle_code, jstr(b, "bundle_code"));
                        set(a, &a->origin, origin);
                        set(a, &a->reviewer, jstr(b, "reviewer"));
                        set(a, &a->decider, decider);
                        set(a, &a->data, jstr(b, "data"));
                        set(a, &a->applicant, jstr(b, "applicant"));
                        set(a, &a->applicant_id, jstr(b, "applicant_id"));
                        set(a, &a->catalog, jstr(b, "catalog"));
                        a->time_limit = jint(b, "time_limit", 0);
                        a->status = ST_DRAFT;
                        a->holder = a->origin;
                        a->created_hlc = a->updated_hlc = hlc;
                        a->accepted_on = a->due = a->rating = -1;
                }
                json_decref(b);
                return;
        }
        if (!a->exists) {
                conflict(a, node, seq, type, "the application was not created (yet)");
                json_decref(b);
                return;
        }
        why = fold_check(type, jstr(b, "result"), node, a->status, a->origin, a->reviewer, a->decider, a->rating);
        if (!why && is(type, "app.rated") && (jint(b, "level", 0) < 1 || jint(b, "level", 0) > 5))
                why = "a rating is a level from 1 to 5";
        if (!why && is(type, "app.material") && !jstr(b, "material"))
                why = "a material event must name the material";
        if (!why && (is(type, "app.submitted") || is(type, "app.resubmitted")))
                why = check_submission(a, b, is(type, "app.submitted"));
        if (why) {
                conflict(a, node, seq, type, why);
                json_decref(b);
                return;
        }
        a->updated_hlc = hlc;
        if (is(type, "app.edited")) {
                if (jstr(b, "data"))
                        set(a, &a->data, jstr(b, "data"));
                set(a, &a->applicant, jstr(b, "applicant"));
                set(a, &a->applicant_id, jstr(b, "applicant_id"));
        } else if (is(type, "app.material")) {
                struct mat *m = mat_get(a, jstr(b, "material"));
                if (m) {
                        set(a, &m->state, jstr(b, "state") ? jstr(b, "state") : "provided");
                        if (jstr(b, "blob"))
                                set(a, &m->blob, jstr(b, "blob"));
                        m->promise = jint(b, "promise", is(m->state, "deficient") ? m->promise : -1);
                }
        } else if (is(type, "app.submitted") || is(type, "app.resubmitted")) {
                a->status = ST_ACCEPTED;
                a->holder = waiting_office(a);
                if (is(type, "app.submitted")) {
                        set(a, &a->receipt, jstr(b, "receipt"));
                        set(a, &a->bundle_receipt, jstr(b, "bundle_receipt"));
                        set(a, &a->accepted_by, op);
                }
                if (jstr(b, "data"))
                        set(a, &a->data, jstr(b, "data"));
                a->accepted_on = jint(b, "accepted_on", a->accepted_on);
                a->due = jint(b, "due", a->due);
                set(a, &a->reason, NULL);
                json_t *d = json_object_get(b, "deficiencies");
                size_t i;
                json_t *x;
                json_array_foreach(d, i, x) {
                        struct mat *m = jstr(x, "material") ? mat_get(a, jstr(x, "material")) : NULL;
                        if (m && is(m->state, "deficient"))
                                m->promise = jint(x, "promise", -1);
                }
        } else if (is(type, "app.reviewed")) {
                if (is(jstr(b, "result"), "pass")) {
                        a->status = ST_PASSED;
                        a->holder = a->decider;
                } else {
                        a->status = ST_RETURNED;
                        a->holder = a->origin;
                }
                set(a, &a->reason, jstr(b, "reason"));
        } else if (is(type, "app.decided")) {
                bool ok = is(jstr(b, "result"), "approve");
                a->status = ok ? ST_APPROVED : ST_REJECTED;
                a->holder = a->origin;
                set(a, &a->result, ok ? "approve" : "reject");
                set(a, &a->reason, jstr(b, "reason"));
        } else if (is(type, "app.delivered")) {
                a->status = ST_DELIVERED;
        } else if (is(type, "app.rated")) {
                a->status = ST_RATED;
                a->rating = jint(b, "level", 0);
                set(a, &a->rating_comment, jstr(b, "comment"));
        } else if (is(type, "app.withdrawn")) {
                a->status = ST_WITHDRAWN;
                a->holder = a->origin;
                set(a, &a->reason, jstr(b, "reason"));
        }
        json_decref(b);
}

/* ---- writing the derived rows ---------------------------------------------- */

struct writer {
        sqlite3 *db;
        sqlite3_stmt *del_app, *del_mats, *del_conf, *ins_app, *ins_mat, *ins_conf, *ins_op;
};

static void writer_close(struct writer *w)
{
        sqlite3_finalize(w->del_app);
        sqlite3_finalize(w->del_mats);
        sqlite3_finalize(w->del_conf);
        sqlite3_finalize(w->ins_app);
        sqlite3_finalize(w->ins_mat);
        sqlite3_finalize(w->ins_conf);
        sqlite3_finalize(w->ins_op);
}

static int writer_open(struct writer *w, sqlite3 *db)
{
        memset(w, 0, sizeof *w);
        w->db = db;
        if (sqlite3_prepare_v2(db, "DELETE FROM apps WHERE id = ?", -1, &w->del_app, NULL) ||
            sqlite3_prepare_v2(db, "DELETE FROM app_materials WHERE app = ?", -1, &w->del_mats, NULL) ||
            sqlite3_prepare_v2(db, "DELETE FROM conflicts WHERE app = ?", -1, &w->del_conf, NULL) ||
            sqlite3_prepare_v2(db,
                               "INSERT INTO apps(id, matter, matter_name, bundle, bundle_code, bundle_receipt,"
                               " origin, reviewer, decider, status, holder, receipt, applicant, applicant_id, data,"
                               " time_limit, accepted_on, due, accepted_by, result, reason, rating, rating_comment,"
                               " created_hlc, updated_hlc, nconflicts, catalog, promise_due) VALUES (?,?,?,?,?,?,?,?,?,?,"
                               "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &w->ins_app, NULL) ||
            sqlite3_prepare_v2(db, "INSERT INTO app_materials(app, material, state, blob, promise)"
                               " VALUES (?,?,?,?,?)", -1, &w->ins_mat, NULL) ||
            sqlite3_prepare_v2(db, "INSERT INTO conflicts(app, node, seq, type, reason) VALUES (?,?,?,?,?)", -1,
                               &w->ins_conf, NULL) ||
            sqlite3_prepare_v2(db, "INSERT INTO operators(id, name, node, hlc, disabled) VALUES (?,?,?,?,?)"
                               " ON CONFLICT(node, id) DO UPDATE SET name = excluded.name, hlc = excluded.hlc,"
                               " disabled = excluded.disabled WHERE excluded.hlc >= operators.hlc", -1,
                               &w->ins_op, NULL)) {
                writer_close(w);
                return -EIO;
        }
        return 0;
}

static void bt(sqlite3_stmt *st, int i, const char *s)
{
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static void bi(sqlite3_stmt *st, int i, long long v)
{
        if (v >= 0)
                sqlite3_bind_int64(st, i, v);
        else
                sqlite3_bind_null(st, i);
}

static int run(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Replace the rows of application id by the folded state a (which may
 * not exist: only conflicts, for events of an application never
 * created). */
static int write_app(struct writer *w, const char *id, const struct app *a, bool fresh)
{
        int r = 0;

        if (!fresh) {
                bt(w->del_app, 1, id);
                bt(w->del_mats, 1, id);
                bt(w->del_conf, 1, id);
                if (run(w->del_app) < 0 || run(w->del_mats) < 0 || run(w->del_conf) < 0)
                        return -EIO;
        }
        if (a->exists) {
                sqlite3_stmt *st = w->ins_app;
                bt(st, 1, id);
                bt(st, 2, a->matter);
                bt(st, 3, a->matter_name);
                bt(st, 4, a->bundle);
                bt(st, 5, a->bundle_code);
                bt(st, 6, a->bundle_receipt);
                bt(st, 7, a->origin);
                bt(st, 8, a->reviewer);
                bt(st, 9, a->decider);
                bt(st, 10, a->status);
                bt(st, 11, a->holder);
                bt(st, 12, a->receipt);
                bt(st, 13, a->applicant);
                bt(st, 14, a->applicant_id);
                bt(st, 15, a->data);
                sqlite3_bind_int64(st, 16, a->time_limit);
                bi(st, 17, a->accepted_on);
                bi(st, 18, a->due);
                bt(st, 19, a->accepted_by);
                bt(st, 20, a->result);
                bt(st, 21, a->reason);
                bi(st, 22, a->rating);
                bt(st, 23, a->rating_comment);
                sqlite3_bind_int64(st, 24, a->created_hlc);
                sqlite3_bind_int64(st, 25, a->updated_hlc);
                sqlite3_bind_int64(st, 26, (long long)a->nconflicts);
                bt(st, 27, a->catalog);
                /* the earliest 容缺 promise while the application is open */
                long long pdue = -1;
                if (is(a->status, ST_ACCEPTED) || is(a->status, ST_RETURNED) || is(a->status, ST_PASSED))
                        for (size_t i = 0; i < a->nmats; i++)
                                if (is(a->mats[i].state, "deficient") && a->mats[i].promise >= 0 &&
                                    (pdue < 0 || a->mats[i].promise < pdue))
                                        pdue = a->mats[i].promise;
                bi(st, 28, pdue);
                r = run(st);
                for (size_t i = 0; r == 0 && i < a->nmats; i++) {
                        bt(w->ins_mat, 1, id);
                        bt(w->ins_mat, 2, a->mats[i].material);
                        bt(w->ins_mat, 3, a->mats[i].state);
                        bt(w->ins_mat, 4, a->mats[i].blob);
                        bi(w->ins_mat, 5, a->mats[i].promise);
                        r = run(w->ins_mat);
                }
        }
        for (size_t i = 0; r == 0 && i < a->nconflicts; i++) {
                bt(w->ins_conf, 1, id);
                bt(w->ins_conf, 2, a->conflicts[i].node);
                sqlite3_bind_int64(w->ins_conf, 3, a->conflicts[i].seq);
                bt(w->ins_conf, 4, a->conflicts[i].type);
                bt(w->ins_conf, 5, a->conflicts[i].reason);
                r = run(w->ins_conf);
        }
        return r;
}

static int apply_operator(struct writer *w, const char *node, long long hlc, const char *body_text)
{
        json_t *b = json_loads(body_text, 0, NULL);
        int r = 0;

        if (jstr(b, "id") && jstr(b, "name")) {
                bt(w->ins_op, 1, jstr(b, "id"));
                bt(w->ins_op, 2, jstr(b, "name"));
                bt(w->ins_op, 3, node);
                sqlite3_bind_int64(w->ins_op, 4, hlc);
                sqlite3_bind_int(w->ins_op, 5, json_is_true(json_object_get(b, "disabled")));
                r = run(w->ins_op);
        }
        json_decref(b);
        return r;
}

int fold_apps(store *s, const char *const *ids, size_t n)
{
        struct writer w;
        sqlite3_stmt *st;
        int r = 0;

        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT node, seq, hlc, operator, type, body FROM events WHERE app = ?"
                               " ORDER BY hlc, node, seq", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        if (writer_open(&w, store_db(s)) < 0) {
                sqlite3_finalize(st);
                return -EIO;
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                struct app a = { 0 };
                int rc;
                sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        apply(&a, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                              sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
                              (const char *)sqlite3_column_text(st, 4), (const char *)sqlite3_column_text(st, 5));
                sqlite3_reset(st);
                if (rc != SQLITE_DONE)
                        r = -EIO;
                else if (a.oom)
                        r = -ENOMEM;
                else
                        r = write_app(&w, ids[i], &a, false);
                app_reset(&a);
        }
        writer_close(&w);
        sqlite3_finalize(st);
        return r;
}

int fold_app(store *s, const char *id)
{
        return fold_apps(s, &id, 1);
}

int fold_operator(store *s, const char *node, uint64_t hlc, const char *body)
{
        struct writer w;
        int r = writer_open(&w, store_db(s));

        if (r == 0) {
                r = apply_operator(&w, node, (long long)hlc, body);
                writer_close(&w);
        }
        return r;
}

static int exec(sqlite3 *db, const char *sql)
{
        return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

int fold_rebuild(store *s, void (*progress)(void *ud, long long done, long long total), void *ud)
{
        sqlite3 *db = store_db(s);
        struct writer w;
        struct app a = { 0 };
        sqlite3_stmt *st;
        char *cur = NULL;
        long long done = 0, total = store_nevents(s);
        int rc, r;

        if (exec(db, "DELETE FROM apps; DELETE FROM app_materials; DELETE FROM conflicts; DELETE FROM operators;") < 0)
                return -EIO;
        if (writer_open(&w, db) < 0)
                return -EIO;
        /* operator events first (they concern no application) */
        if (sqlite3_prepare_v2(db, "SELECT node, hlc, body FROM events WHERE app IS NULL AND type = 'operator.added'"
                               " ORDER BY hlc, node, seq", -1, &st, NULL) != SQLITE_OK) {
                writer_close(&w);
                return -EIO;
        }
        r = 0;
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = apply_operator(&w, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                                   (const char *)sqlite3_column_text(st, 2));
                done++;
        }
        sqlite3_finalize(st);
        if (r < 0 || sqlite3_prepare_v2(db, "SELECT app, node, seq, hlc, operator, type, body FROM events"
                                        " WHERE app IS NOT NULL ORDER BY app, hlc, node, seq", -1, &st, NULL)) {
                writer_close(&w);
                return -EIO;
        }
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 0);
                if (!cur || strcmp(cur, id) != 0) {
                        if (cur) {
                                r = a.oom ? -ENOMEM : write_app(&w, cur, &a, true);
                                app_reset(&a);
                                free(cur);
                        }
                        cur = strdup(id);
                        if (!cur) {
                                r = -ENOMEM;
                                break;
                        }
                }
                apply(&a, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
                      sqlite3_column_int64(st, 3), (const char *)sqlite3_column_text(st, 4),
                      (const char *)sqlite3_column_text(st, 5), (const char *)sqlite3_column_text(st, 6));
                if (++done % 100000 == 0 && progress)
                        progress(ud, done, total);
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = -EIO;
        if (r == 0 && cur)
                r = a.oom ? -ENOMEM : write_app(&w, cur, &a, true);
        sqlite3_finalize(st);
        app_reset(&a);
        free(cur);
        writer_close(&w);
        if (r == 0 && progress)
                progress(ud, done, total);
        return r;
}

static const char *const derived[] = { "apps", "app_materials", "conflicts", "operators", NULL };

int fold_verify(store *s, char *diff, size_t difflen)
{
        sqlite3 *db = store_db(s);
        char sql[512];
        int r;

        if (exec(db, "SAVEPOINT verify") < 0)
                return -EIO;
        for (const char *const *t = derived; *t; t++) {
                snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS temp.old_%s; CREATE TEMP TABLE old_%s AS SELECT * FROM main.%s",
                         *t, *t, *t);
                if (exec(db, sql) < 0) {
                        r = -EIO;
                        goto out;
                }
        }
        r = fold_rebuild(s, NULL, NULL);
        if (r < 0)
                goto out;
        for (const char *const *t = derived; *t && r == 0; t++) {
                sqlite3_stmt *st;
                snprintf(sql, sizeof sql,
                         "SELECT (SELECT count(*) FROM (SELECT * FROM main.%s EXCEPT SELECT * FROM temp.old_%s)),"
                         " (SELECT count(*) FROM (SELECT * FROM temp.old_%s EXCEPT SELECT * FROM main.%s))",
                         *t, *t, *t, *t);
                if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
                        r = -EIO;
                        break;
                }
                if (sqlite3_step(st) == SQLITE_ROW) {
                        long long extra = sqlite3_column_int64(st, 0), missing = sqlite3_column_int64(st, 1);
                        if (extra || missing) {
                                snprintf(diff, difflen, "table %s: %lld rows differ from a fresh fold, %lld stored rows"
                                         " are not produced by it", *t, extra, missing);
                                r = 1;
                        }
                } else {
                        r = -EIO;
                }
                sqlite3_finalize(st);
        }
out:
        exec(db, "ROLLBACK TO verify");
        exec(db, "RELEASE verify");
        for (const char *const *t = derived; *t; t++) {
                snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS temp.old_%s", *t);
                exec(db, sql);
        }
        return r;
}
