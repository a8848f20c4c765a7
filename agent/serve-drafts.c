/* The station daemon: drafts, kept in HOME/station.db until they are
 * accepted. See serve-int.h. */
#include "agent/serve-int.h"

/* ---- drafts ----------------------------------------------------------------- */

void drafts_list(struct req *r)
{
        sqlite3_stmt *q;
        json_t *a = json_array();

        if (sqlite3_prepare_v2(r->st->db, "SELECT id, matter, body, updated FROM drafts WHERE operator = ?"
                               " ORDER BY updated DESC LIMIT 200", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                while (sqlite3_step(q) == SQLITE_ROW) {
                        json_t *b = json_loads((const char *)sqlite3_column_text(q, 2), 0, NULL);
                        const char *code = (const char *)sqlite3_column_text(q, 1);
                        const struct cat_form *f = catalog_find_form(r->st->h.cat, code);
                        const char *applicant = NULL, *aid;
                        /* named as the receipt will name them */
                        if (f)
                                form_applicant_of(f, json_object_get(b, "data"), &applicant, &aid);
                        json_array_append_new(a, json_pack("{s:s,s:s,s:s?,s:s?,s:I}", "id", sqlite3_column_text(q, 0),
                                                           "matter", code, "matter_name", f ? f->name_zh : NULL,
                                                           "applicant", applicant, "updated",
                                                           (json_int_t)sqlite3_column_int64(q, 3)));
                        json_decref(b);
                }
                sqlite3_finalize(q);
        }
        reply_json(r, 200, json_pack("{s:o}", "drafts", a));
}

/* The signed-in operator's draft id as {id, matter, data, materials,
 * updated}, or NULL. */
json_t *draft_load(struct req *r, const char *id)
{
        sqlite3_stmt *q;
        json_t *j = NULL;

        if (sqlite3_prepare_v2(r->st->db, "SELECT matter, body, updated FROM drafts WHERE operator = ? AND id = ?", -1, &q,
                               NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                if (sqlite3_step(q) == SQLITE_ROW) {
                        json_t *b = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
                        j = json_pack("{s:s,s:s,s:O?,s:O?,s:I}", "id", id, "matter", sqlite3_column_text(q, 0), "data",
                                      json_object_get(b, "data"), "materials", json_object_get(b, "materials"), "updated",
                                      (json_int_t)sqlite3_column_int64(q, 2));
                        json_decref(b);
                }
                sqlite3_finalize(q);
        }
        return j;
}

void draft_get(struct req *r, const char *id)
{
        json_t *j = draft_load(r, id);

        if (!j)
                not_found(r);
        else
                reply_json(r, 200, j);
}

void draft_put(struct req *r, const char *id)
{
        json_t *j = body_json(r);
        const char *matter = json_string_value(json_object_get(j, "matter"));
        json_t *data = json_object_get(j, "data"), *mats = json_object_get(j, "materials");
        sqlite3_stmt *q;
        long long now = (long long)time(NULL) * 1000;

        if (!matter || !json_is_object(data) || (mats && !json_is_array(mats) && !json_is_object(mats))) {
                json_decref(j);
                bad_request(r, "a draft is {\"matter\", \"data\": {...}, \"materials\": [...]}",
                            "草稿应为 {\"matter\", \"data\": {...}, \"materials\": [...]}");
                return;
        }
        if (!catalog_find_form(r->st->h.cat, matter)) {
                json_decref(j);
                bad_request(r, "no such matter or bundle in the catalogue", "目录清单中没有该事项");
                return;
        }
        json_t *b = json_pack("{s:O,s:O?}", "data", data, "materials", mats);
        char *text = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        int rc = SQLITE_ERROR;
        if (text && sqlite3_prepare_v2(r->st->db, "INSERT OR REPLACE INTO drafts(operator, id, matter, body, updated)"
                                       " VALUES (?, ?, ?, ?, ?)", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, r->op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, matter, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(q, 4, text, -1, SQLITE_STATIC);
                sqlite3_bind_int64(q, 5, now);
                rc = sqlite3_step(q);
                sqlite3_finalize(q);
        }
        free(text);
        json_decref(j);
        if (rc != SQLITE_DONE) {
                reply_error(r, 500, "internal", "the draft could not be saved (is the disk full?)",
                            "草稿未能保存（磁盘是否已满？）");
                return;
        }
        reply_json(r, 200, json_pack("{s:s,s:I}", "id", id, "updated", (json_int_t)now));
}

void draft_delete_id(struct station *st, const char *op, const char *id)
{
        sqlite3_stmt *q;

        if (sqlite3_prepare_v2(st->db, "DELETE FROM drafts WHERE operator = ? AND id = ?", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, op, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
                sqlite3_step(q);
                sqlite3_finalize(q);
        }
}
