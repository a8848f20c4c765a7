/* The read model: the queries of the derived tables (apps,
 * app_materials, conflicts, operators) and of the event log as agent/
 * shows it, next to the schema in store.c. See readmodel.h. Every query
 * is a prepared statement with bound parameters; the list query builds
 * its WHERE from fixed pieces only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "forms/port.h"
#include "sync/readmodel.h"
#include "sync/store-int.h"

/* ---- applications ---------------------------------------------------------------- */

/* The columns of apps that fill an app_row, in app_row_from's order; the
 * second leaves the form data out (lists): data is then an empty object. */
#define APP_COLS_DATA(data)                                                                                        \
        "id, matter, matter_name, bundle, bundle_code, bundle_receipt, origin, reviewer, decider, holder,"       \
        " status, receipt, applicant, applicant_id, accepted_by, result, reason, rating_comment, time_limit,"     \
        " accepted_on, due, rating, nconflicts, " data ", catalog"
#define APP_COLS APP_COLS_DATA("data")
#define APP_COLS_NO_DATA APP_COLS_DATA("NULL")
#define APP_NCOLS 25

/* open: the states in which an application's time limit runs */
#define OPEN "status IN ('accepted','returned','passed')"

void app_row_free(struct app_row *r)
{
        json_decref(r->data);
        r->data = NULL;
}

void app_rows_free(struct app_row *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                app_row_free(&v[i]);
        free(v);
}

/* Control characters (C0, DEL, and C1 as UTF-8) become '?': an
 * applicant's name or a reason written elsewhere (another node's event)
 * must not drive the agent's terminal. */
static void unctrl(char *s)
{
        for (unsigned char *p = (unsigned char *)s; *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
                else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
                        p[0] = p[1] = '?';
        }
}

/* A column as text to show, cut to n - 1 bytes as snprintf would cut
 * it, and cleaned. Copied by length, not by snprintf("%s"): a list
 * copies 20 columns a row, and the format machinery cost more than the
 * copy (about a twentieth of a list request). */
static void col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
        const char *s = (const char *)sqlite3_column_text(st, i);
        size_t len = s ? strnlen(s, n - 1) : 0;

        if (len)
                memcpy(dst, s, len);
        dst[len] = '\0';
        unctrl(dst);
}

static long long icol(sqlite3_stmt *st, int i)
{
        return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static void app_row_from(sqlite3_stmt *st, struct app_row *r)
{
        memset(r, 0, sizeof *r);
        col(st, 0, r->id, sizeof r->id);
        col(st, 1, r->matter, sizeof r->matter);
        col(st, 2, r->matter_name, sizeof r->matter_name);
        col(st, 3, r->bundle, sizeof r->bundle);
        col(st, 4, r->bundle_code, sizeof r->bundle_code);
        col(st, 5, r->bundle_receipt, sizeof r->bundle_receipt);
        col(st, 6, r->origin, sizeof r->origin);
        col(st, 7, r->reviewer, sizeof r->reviewer);
        col(st, 8, r->decider, sizeof r->decider);
        col(st, 9, r->holder, sizeof r->holder);
        col(st, 10, r->status, sizeof r->status);
        col(st, 11, r->receipt, sizeof r->receipt);
        col(st, 12, r->applicant, sizeof r->applicant);
        col(st, 13, r->applicant_id, sizeof r->applicant_id);
        col(st, 14, r->accepted_by, sizeof r->accepted_by);
        col(st, 15, r->result, sizeof r->result);
        col(st, 16, r->reason, sizeof r->reason);
        col(st, 17, r->rating_comment, sizeof r->rating_comment);
        r->time_limit = icol(st, 18);
        r->accepted_on = icol(st, 19);
        r->due = icol(st, 20);
        r->rating = icol(st, 21);
        r->nconflicts = icol(st, 22);
        /* NULL when the query left the form data out (APP_COLS_NO_DATA) */
        r->data = sqlite3_column_type(st, 23) == SQLITE_NULL
                          ? NULL : json_loads((const char *)sqlite3_column_text(st, 23), 0, NULL);
        col(st, 24, r->catalog, sizeof r->catalog);
        if (!r->data)
                r->data = json_object();
}

/* Room in *v (of k elements of size bytes) for one more: the array
 * doubles (4, 8, 16...) rather than growing by one, or a bundle's
 * application rows (3 KB each) would be copied again for each member.
 * false when out of memory. */
static bool grow(void **v, size_t k, size_t size)
{
        if (k == 0 || (k >= 4 && (k & (k - 1)) == 0)) {
                void *nv = realloc(*v, (k ? k * 2 : 4) * size);
                if (!nv)
                        return false;
                *v = nv;
        }
        return true;
}

/* Append a row of st to *v (of *k). -ENOMEM. */
static int push_row(sqlite3_stmt *st, struct app_row **v, size_t *k)
{
        if (!grow((void **)v, *k, sizeof **v))
                return -ENOMEM;
        app_row_from(st, &(*v)[(*k)++]);
        return 0;
}

int readmodel_app_rows(store *s, const char *key, struct app_row **ret, size_t *n)
{
        sqlite3_stmt *st;
        struct app_row *v = NULL;
        size_t k = 0;
        int rc;

        *ret = NULL;
        *n = 0;
        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT " APP_COLS " FROM apps WHERE id = ?1 OR receipt = ?1 OR bundle = ?1"
                               " OR (bundle_receipt = ?1 AND bundle IS NOT NULL) ORDER BY created_hlc, id", -1, &st,
                               NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if (push_row(st, &v, &k) < 0)
                        break;
        sqlite3_finalize(st);
        if (!k) {
                free(v);
                return rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        *ret = v;
        *n = k;
        return 0;
}

/* ---- the list ---------------------------------------------------------------------- */

/* Bind the list's parameters by their numbers (?1 status, ?2 today, ?3
 * days, ?4 origin, ?5 matter, ?6 text, ?7 the todo node, ?8 and ?9 the
 * cursor, ?10 the limit): each statement holds only some of them. */
static void bind_list(sqlite3_stmt *x, const struct readmodel_filter *f, long long akey, const char *aid, long limit)
{
        int np = sqlite3_bind_parameter_count(x);

        for (int i = 1; i <= np; i++) {
                const char *name = sqlite3_bind_parameter_name(x, i);
                switch (name ? atoi(name + 1) : i) {
                case 1: sqlite3_bind_text(x, i, f->status, -1, SQLITE_STATIC); break;
                case 2: sqlite3_bind_int64(x, i, f->today); break;
                case 3: sqlite3_bind_int64(x, i, f->due_within); break;
                case 4: sqlite3_bind_text(x, i, f->origin, -1, SQLITE_STATIC); break;
                case 5: sqlite3_bind_text(x, i, f->matter, -1, SQLITE_STATIC); break;
                case 6: sqlite3_bind_text(x, i, f->text, -1, SQLITE_STATIC); break;
                case 7: sqlite3_bind_text(x, i, f->todo_node, -1, SQLITE_STATIC); break;
                case 8: sqlite3_bind_int64(x, i, akey); break;
                case 9: sqlite3_bind_text(x, i, aid, -1, SQLITE_STATIC); break;
                case 10: sqlite3_bind_int64(x, i, limit); break;
                }
        }
}

static bool given(const char *s)
{
        return s && *s;
}

int readmodel_app_list(store *s, const struct readmodel_filter *f, readmodel_row_fn *fn, void *ud,
                       struct readmodel_page *page)
{
        long limit = f->limit > 0 ? f->limit : READMODEL_LIST_LIMIT;
        long long akey = 0;
        char aid[96] = "", where[1024] = "1", sql[2048];
        size_t wl = 1;
        sqlite3_stmt *st;
        struct readmodel_page pg = { 0 };
        /* one row, filled again for each match: it stays in the cache */
        struct app_row row;
        int rc = 0;

        if (given(f->after) && sscanf(f->after, "%lld:%95s", &akey, aid) != 2)
                return -EINVAL;
        bool by_due = f->overdue || f->due_within >= 0;
#define W(...) (wl += (size_t)snprintf(where + wl, sizeof where - wl, __VA_ARGS__))
        if (given(f->status))
                W(" AND status = ?1");
        if (f->due_within >= 0)
                W(" AND " OPEN " AND due >= ?2 AND due <= ?2 + ?3");
        if (given(f->origin))
                W(" AND origin = ?4");
        if (given(f->matter))
                W(" AND (matter = ?5 OR bundle_code = ?5)");
        if (given(f->text))
                W(" AND (applicant LIKE '%%' || ?6 || '%%' OR id = ?6 OR receipt LIKE ?6 || '%%' OR applicant_id = ?6)");
        if (f->todo_node) {
                if (f->todo_village)
                        W(" AND origin = ?7 AND status IN ('draft','returned','approved','rejected')");
                else
                        W(" AND holder = ?7 AND status IN ('accepted','passed')");
        }
        if (f->count) {
                /* by due date the open applications' partial index holds
                 * every column the filters test: SQLite would not pick it
                 * unaided */
                snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s%s", by_due ? "apps INDEXED BY apps_open_due" : "apps",
                         where, f->overdue ? " AND " OPEN " AND (due < ?2 OR coalesce(promise_due < ?2, 0))" : "");
                if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
                        return -EIO;
                bind_list(st, f, akey, aid, limit);
                if (sqlite3_step(st) == SQLITE_ROW)
                        pg.total = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
        }
        if (given(f->after))
                W(by_due ? " AND (due, id) > (?8, ?9)" : " AND (updated_hlc, id) < (?8, ?9)");
#undef W
        /* Overdue are the open applications past their due date and the
         * open ones with a 容缺 promise (promise_due: the earliest one)
         * that has passed. Every application of the first kind has due <
         * today and every other one due >= today, so the list is the
         * first query's rows, then the second's: each walks an index and
         * stops at the page's end. */
        const char *data = f->with_data ? APP_COLS : APP_COLS_NO_DATA;
        int nq = f->overdue ? 2 : 1;
        for (int q = 0; q < nq && (long)pg.n < limit && !rc; q++) {
                if (!by_due)
                        snprintf(sql, sizeof sql, "SELECT %s, updated_hlc, " OPEN " AND coalesce(promise_due < ?2, 0)"
                                 " FROM apps WHERE %s ORDER BY updated_hlc DESC, id DESC LIMIT ?10", data, where);
                else if (!f->overdue)
                        snprintf(sql, sizeof sql, "SELECT %s, due, coalesce(promise_due < ?2, 0) FROM apps INDEXED BY"
                                 " apps_open_due WHERE " OPEN " AND %s ORDER BY due, id LIMIT ?10", data, where);
                else if (q == 0)
                        snprintf(sql, sizeof sql, "SELECT %s, due, coalesce(promise_due < ?2, 0) FROM apps INDEXED BY"
                                 " apps_open_due WHERE " OPEN " AND due < ?2 AND %s ORDER BY due, id LIMIT ?10", data, where);
                else
                        snprintf(sql, sizeof sql, "SELECT %s, due, 1 FROM apps INDEXED BY apps_open_promise"
                                 " WHERE promise_due < ?2 AND " OPEN " AND due >= ?2 AND %s ORDER BY due, id LIMIT ?10",
                                 data, where);
                if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK) {
                        rc = -EIO;
                        break;
                }
                bind_list(st, f, akey, aid, limit - (long)pg.n);
                int step;
                while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                        app_row_from(st, &row);
                        row.promise_overdue = sqlite3_column_int(st, APP_NCOLS + 1);
                        snprintf(pg.next, sizeof pg.next, "%lld:%s", (long long)sqlite3_column_int64(st, APP_NCOLS),
                                 row.id);
                        int r = fn(ud, &row);
                        app_row_free(&row);
                        pg.n++;
                        if (r < 0) {
                                rc = r;
                                break;
                        }
                }
                if (!rc && step != SQLITE_DONE)
                        rc = -EIO;
                sqlite3_finalize(st);
        }
        if (rc < 0)
                return rc;
        if ((long)pg.n < limit)
                pg.next[0] = '\0';
        *page = pg;
        return 0;
}

/* ---- materials ------------------------------------------------------------------------ */

/* Every row of st (finalized here), each filled by fill into an element
 * of size bytes (zeroed first), as a malloc'ed array: 0, -ENOMEM or
 * -EIO. */
static int collect(sqlite3_stmt *st, size_t size, void (*fill)(sqlite3_stmt *st, void *elem), void **ret, size_t *n)
{
        char *v = NULL;
        size_t k = 0;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (!grow((void **)&v, k, size)) {
                        rc = SQLITE_NOMEM;
                        break;
                }
                memset(v + k * size, 0, size);
                fill(st, v + k * size);
                k++;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                free(v);
                return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
        }
        *ret = v;
        *n = k;
        return 0;
}

/* The first row of st (finalized here), filled by fill into ret (size
 * bytes, written only then): 0, -ENOENT, -EIO. */
static int collect_one(sqlite3_stmt *st, size_t size, void (*fill)(sqlite3_stmt *st, void *elem), void *ret)
{
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW) {
                memset(ret, 0, size);
                fill(st, ret);
        }
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static void material_from(sqlite3_stmt *st, void *elem)
{
        struct readmodel_material *m = elem;

        col(st, 0, m->material, sizeof m->material);
        col(st, 1, m->state, sizeof m->state);
        col(st, 2, m->blob, sizeof m->blob);
        m->promise = icol(st, 3);
}

int readmodel_materials(store *s, const char *app, const char *state, struct readmodel_material **ret, size_t *n)
{
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(store_db(s), "SELECT material, state, blob, promise FROM app_materials WHERE app = ?1"
                               " AND (?2 IS NULL OR state = ?2) ORDER BY material", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
        return collect(st, sizeof **ret, material_from, (void **)ret, n);
}

int readmodel_material(store *s, const char *app, const char *material, struct readmodel_material *ret)
{
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(store_db(s), "SELECT material, state, blob, promise FROM app_materials"
                               " WHERE app = ? AND material = ?", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, material, -1, SQLITE_STATIC);
        return collect_one(st, sizeof *ret, material_from, ret);
}

int readmodel_deficient(store *s, const char *key, bool bundle, struct readmodel_material **ret, size_t *n)
{
        sqlite3_stmt *st;

        /* each by its key: an OR of the two would read every deficient row */
        if (sqlite3_prepare_v2(store_db(s),
                               bundle ? "SELECT material, 'deficient', NULL, MIN(promise) FROM app_materials WHERE app IN"
                                        " (SELECT id FROM apps WHERE bundle = ?1) AND state = 'deficient'"
                                        " GROUP BY material ORDER BY material"
                                      : "SELECT material, 'deficient', NULL, MIN(promise) FROM app_materials WHERE app = ?1"
                                        " AND state = 'deficient' GROUP BY material ORDER BY material",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        return collect(st, sizeof **ret, material_from, (void **)ret, n);
}

bool readmodel_blob_named(store *s, const char *hex)
{
        sqlite3_stmt *q;
        bool named = false;

        if (sqlite3_prepare_v2(store_db(s), "SELECT 1 FROM app_materials WHERE blob = ? LIMIT 1", -1, &q, NULL) ==
            SQLITE_OK) {
                sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
                named = sqlite3_step(q) == SQLITE_ROW;
                sqlite3_finalize(q);
        }
        return named;
}

/* ---- conflicts --------------------------------------------------------------------------- */

static void conflict_from(sqlite3_stmt *st, void *elem)
{
        struct readmodel_conflict *c = elem;

        col(st, 0, c->app, sizeof c->app);
        col(st, 1, c->matter_name, sizeof c->matter_name);
        col(st, 2, c->applicant, sizeof c->applicant);
        col(st, 3, c->node, sizeof c->node);
        c->seq = sqlite3_column_int64(st, 4);
        col(st, 5, c->type, sizeof c->type);
        col(st, 6, c->reason, sizeof c->reason);
        c->known = sqlite3_column_int(st, 7);
}

int readmodel_conflicts(store *s, const char *app, size_t limit, struct readmodel_conflict **ret, size_t *n)
{
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT c.app, a.matter_name, a.applicant, c.node, c.seq, c.type, c.reason, a.id IS NOT NULL"
                               " FROM conflicts c LEFT JOIN apps a ON a.id = c.app WHERE ?1 IS NULL OR c.app = ?1"
                               " ORDER BY c.app, c.node, c.seq LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
        return collect(st, sizeof **ret, conflict_from, (void **)ret, n);
}

/* ---- operators --------------------------------------------------------------------------- */

static void operator_from(sqlite3_stmt *st, void *elem)
{
        struct readmodel_operator *o = elem;

        col(st, 0, o->node, sizeof o->node);
        col(st, 1, o->id, sizeof o->id);
        col(st, 2, o->name, sizeof o->name);
        o->disabled = sqlite3_column_int(st, 3) != 0;
}

int readmodel_operators(store *s, const char *node, struct readmodel_operator **ret, size_t *n)
{
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(store_db(s), "SELECT node, id, name, disabled FROM operators WHERE ?1 IS NULL OR node = ?1"
                               " ORDER BY node, id", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
        return collect(st, sizeof **ret, operator_from, (void **)ret, n);
}

int readmodel_operator(store *s, const char *node, const char *id, struct readmodel_operator *ret)
{
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(store_db(s), "SELECT node, id, name, disabled FROM operators WHERE node = ? AND id = ?", -1,
                               &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        return collect_one(st, sizeof *ret, operator_from, ret);
}

/* ---- statistics ------------------------------------------------------------------------- */

static long long count(store *s, const char *sql, long long arg)
{
        sqlite3_stmt *st;
        long long n = -1;

        if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_int64(st, 1, arg);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

int readmodel_counts(store *s, int32_t today, const char *const *statuses, struct readmodel_counts *ret)
{
        sqlite3_stmt *st;
        json_t *by = json_object();

        if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM apps WHERE status = ?", -1, &st, NULL) != SQLITE_OK) {
                json_decref(by);
                return -EIO;
        }
        for (size_t i = 0; statuses[i]; i++) {
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, statuses[i], -1, SQLITE_STATIC);
                sqlite3_step(st);
                json_object_set_new(by, statuses[i], json_integer(sqlite3_column_int64(st, 0)));
        }
        sqlite3_finalize(st);
        ret->by_status = by;
        ret->overdue = count(s, "SELECT count(*) FROM apps WHERE " OPEN " AND due < ?", today);
        ret->overdue_promises = count(s, "SELECT count(*) FROM app_materials m JOIN apps a ON a.id = m.app"
                                      " WHERE m.state = 'deficient' AND m.promise < ? AND a." OPEN, today);
        ret->conflicts = count(s, "SELECT count(*) FROM conflicts", 0);
        return 0;
}

int readmodel_stats(store *s, int32_t d0, int32_t d1, void (*fn)(void *ud, const struct readmodel_stat *r), void *ud)
{
        sqlite3_stmt *q;
        int rc;

        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT a.origin, a.matter, a.matter_name, a.status, a.due, a.rating,"
                               " (SELECT json_extract(e.body, '$.decided_on') FROM events e WHERE e.app = a.id"
                               "  AND e.type = 'app.decided' ORDER BY e.hlc DESC LIMIT 1),"
                               " (SELECT e.wall FROM events e WHERE e.app = a.id AND e.type = 'app.decided'"
                               "  ORDER BY e.hlc DESC LIMIT 1)"
                               " FROM apps a WHERE a.accepted_on BETWEEN ? AND ?", -1, &q, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(q, 1, d0);
        sqlite3_bind_int64(q, 2, d1);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
                struct readmodel_stat r = {
                        .origin = (const char *)sqlite3_column_text(q, 0),
                        .matter = (const char *)sqlite3_column_text(q, 1),
                        .matter_name = (const char *)sqlite3_column_text(q, 2),
                        .status = (const char *)sqlite3_column_text(q, 3),
                        .due = icol(q, 4),
                        .rating = icol(q, 5),
                        /* the decision's day as it says, else its China day by the writer's clock */
                        .decided = sqlite3_column_type(q, 6) != SQLITE_NULL ? sqlite3_column_int64(q, 6)
                                   : sqlite3_column_type(q, 7) != SQLITE_NULL
                                           ? (sqlite3_column_int64(q, 7) / 1000 + 8 * 3600) / 86400
                                           : -1,
                };
                fn(ud, &r);
        }
        sqlite3_finalize(q);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

json_t *readmodel_catalog_by_origin(store *s)
{
        json_t *vers = json_object();
        sqlite3_stmt *cv;

        if (sqlite3_prepare_v2(store_db(s), "SELECT origin, catalog, max(created_hlc) FROM apps"
                               " WHERE catalog IS NOT NULL GROUP BY origin", -1, &cv, NULL) == SQLITE_OK) {
                while (sqlite3_step(cv) == SQLITE_ROW)
                        json_object_set_new(vers, (const char *)sqlite3_column_text(cv, 0),
                                            json_string((const char *)sqlite3_column_text(cv, 1)));
                sqlite3_finalize(cv);
        }
        return vers;
}

/* ---- capture's look-ups -------------------------------------------------------------------- */

int readmodel_receipt_max(store *s, const char *prefix, long *best)
{
        char like[64];
        sqlite3_stmt *st;

        *best = 0;
        snprintf(like, sizeof like, "%s%%", prefix);
        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT receipt FROM apps WHERE receipt LIKE ?1 UNION ALL "
                               "SELECT bundle_receipt FROM apps WHERE bundle_receipt LIKE ?1", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                long v = strtol((const char *)sqlite3_column_text(st, 0) + strlen(prefix), NULL, 10);
                if (v > *best)
                        *best = v;
        }
        sqlite3_finalize(st);
        return 0;
}

int readmodel_request_find(store *s, const char *node, const char *request, char *id, size_t idn, char *code,
                           size_t coden)
{
        sqlite3_stmt *st;
        int r;

        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT app, json_extract(body, '$.bundle'),"
                               " coalesce(json_extract(body, '$.bundle_code'), json_extract(body, '$.matter'))"
                               /* without statistics the planner would walk
                                * the node's whole feed by its primary key */
                               " FROM events INDEXED BY events_request"
                               " WHERE node = ?1 AND json_extract(body, '$.request') = ?2"
                               " AND type = 'app.created' LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, request, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
                const char *b = (const char *)sqlite3_column_text(st, 1);
                snprintf(id, idn, "%s", b ? b : (const char *)sqlite3_column_text(st, 0));
                snprintf(code, coden, "%s", (const char *)sqlite3_column_text(st, 2));
                r = 1;
        } else {
                r = r == SQLITE_DONE ? 0 : -EIO;
        }
        sqlite3_finalize(st);
        return r;
}

/* ---- the event log -------------------------------------------------------------------------- */

json_t *readmodel_app_log(store *s, const struct app_row *t, size_t n)
{
        sqlite3_stmt *q;
        json_t *arr;

        /* operators by name as well: a login ID means nothing to most */
        if (sqlite3_prepare_v2(store_db(s), "SELECT node, seq, hlc, wall, operator, type, body,"
                               " (SELECT name FROM operators o WHERE o.node = e.node AND o.id = e.operator)"
                               " FROM events e WHERE app = ? ORDER BY hlc, node, seq", -1, &q, NULL) != SQLITE_OK)
                return NULL;
        arr = json_array();
        for (size_t i = 0; i < n; i++) {
                sqlite3_reset(q);
                sqlite3_bind_text(q, 1, t[i].id, -1, SQLITE_STATIC);
                while (sqlite3_step(q) == SQLITE_ROW) {
                        time_t secs = (time_t)(sqlite3_column_int64(q, 3) / 1000);
                        struct tm tm = { 0 };
                        char when[32];
                        long off;
                        port_local_time(secs, &tm, &off);      /* China Standard Time on Windows */
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s?,s:s,s:s}", "app", t[i].id, "node",
                                                             sqlite3_column_text(q, 0), "seq",
                                                             (json_int_t)sqlite3_column_int64(q, 1), "hlc",
                                                             (json_int_t)sqlite3_column_int64(q, 2), "time", when,
                                                             "operator", sqlite3_column_text(q, 4), "operator_name",
                                                             sqlite3_column_text(q, 7), "type",
                                                             sqlite3_column_text(q, 5), "body", sqlite3_column_text(q, 6)));
                }
        }
        sqlite3_finalize(q);
        return arr;
}

/* One number from sql with ?1 a text and ?2 an integer; -1 when NULL or on error. */
static long long number(store *s, const char *sql, const char *text, long long arg)
{
        sqlite3_stmt *st;
        long long v = -1;

        if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
                return -1;
        if (sqlite3_bind_parameter_count(st) >= 1)
                sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 2)
                sqlite3_bind_int64(st, 2, arg);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

long long readmodel_node_last_wall(store *s, const char *node)
{
        return number(s, "SELECT max(wall) FROM events WHERE node = ?1", node, 0);
}

long long readmodel_events_after(store *s, const char *node, long long seq)
{
        return number(s, "SELECT count(*) FROM events WHERE node = ?1 AND seq > ?2", node, seq);
}

long long readmodel_first_seq_since(store *s, const char *node, long long wall)
{
        return number(s, "SELECT min(seq) FROM events WHERE node = ?1 AND wall >= ?2", node, wall);
}

long long readmodel_max_hlc(store *s)
{
        return number(s, "SELECT max(hlc) FROM events", NULL, 0);
}

bool readmodel_has_feeds(store *s)
{
        return number(s, "SELECT 1 FROM feed_heads LIMIT 1", NULL, 0) == 1;
}
