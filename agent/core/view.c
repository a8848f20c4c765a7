/* An application as the fronts show it, as JSON: the summary a list
 * gives and the detail with its materials and conflicts (`app show
 * --json`, GET /api/apps/ID). What is overdue is decided by the day the
 * caller gives. Reads through the read model (sync/readmodel.h); prints
 * nothing. */
#include <stdlib.h>
#include <string.h>

#include "agent/app.h"
#include "forms/calendar.h"

const char *app_date_str(long long day, char *buf)
{
        if (day < 0)
                return "-";
        cal_date_format((int32_t)day, buf);
        return buf;
}


json_t *app_summary_json(struct home *h, int32_t today, const struct app_row *r)
{
        char a[11], b[11];
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:b}", "id", r->id, "matter", r->matter,
                              "matter_name", r->matter_name, "status", r->status, "origin", r->origin, "holder",
                              r->holder, "decider", r->decider, "data", r->data, "overdue",
                              r->due >= 0 && app_status_open(r->status) && cal_is_overdue((int32_t)r->due, today));
        /* the offices by name, for screens (codes stay the keys) */
        const char *const codes[3] = { r->origin, r->holder, r->decider }, *const keys[3] = { "origin_name", "holder_name",
                                                                                          "decider_name" };
        for (int k = 0; k < 3; k++) {
                const struct cat_division *dv = h->cat ? catalog_find_division(h->cat, codes[k]) : NULL;
                if (dv)
                        json_object_set_new(j, keys[k], json_string(dv->name));
        }
        if (r->receipt[0])
                json_object_set_new(j, "receipt", json_string(r->receipt));
        if (r->reviewer[0])
                json_object_set_new(j, "reviewer", json_string(r->reviewer));
        if (r->bundle[0]) {
                json_object_set_new(j, "bundle", json_string(r->bundle));
                json_object_set_new(j, "bundle_code", json_string(r->bundle_code));
        }
        if (r->bundle_receipt[0])
                json_object_set_new(j, "bundle_receipt", json_string(r->bundle_receipt));
        if (r->catalog[0]) {
                json_object_set_new(j, "catalog", json_string(r->catalog));
                json_object_set_new(j, "catalog_missing", json_boolean(!home_catalog_for(h, r->catalog)));
        }
        if (r->applicant[0])
                json_object_set_new(j, "applicant", json_string(r->applicant));
        if (r->applicant_id[0])
                json_object_set_new(j, "applicant_id", json_string(r->applicant_id));
        if (r->accepted_on >= 0)
                json_object_set_new(j, "accepted_on", json_string(app_date_str(r->accepted_on, a)));
        if (r->due >= 0)
                json_object_set_new(j, "due", json_string(app_date_str(r->due, b)));
        if (r->result[0])
                json_object_set_new(j, "result", json_string(r->result));
        if (r->reason[0])
                json_object_set_new(j, "reason", json_string(r->reason));
        if (r->rating >= 0)
                json_object_set_new(j, "rating", json_integer(r->rating));
        json_object_set_new(j, "time_limit", json_integer(r->time_limit));
        json_object_set_new(j, "conflicts", json_integer(r->nconflicts));
        return j;
}

json_t *app_detail_json(struct home *h, int32_t today, const struct app_row *r)
{
        char a[11];
        struct readmodel_material *mv = NULL;
        struct readmodel_conflict *cv = NULL;
        size_t nm = 0, nc = 0;

        json_t *j = app_summary_json(h, today, r), *mats = json_array(), *confs = json_array();
        readmodel_materials(h->st, r->id, NULL, &mv, &nm);
        for (size_t k = 0; k < nm; k++) {
                json_t *m = json_pack("{s:s,s:s}", "material", mv[k].material, "state", mv[k].state);
                if (mv[k].blob[0])
                        json_object_set_new(m, "blob", json_string(mv[k].blob));
                if (mv[k].promise >= 0) {
                        long long p = mv[k].promise;
                        json_object_set_new(m, "promise", json_string(app_date_str(p, a)));
                        json_object_set_new(m, "promise_overdue", json_boolean(app_status_open(r->status) &&
                                                                            !strcmp(mv[k].state, "deficient") &&
                                                                            cal_is_overdue((int32_t)p, today)));
                }
                json_array_append_new(mats, m);
        }
        free(mv);
        readmodel_conflicts(h->st, r->id, 0, &cv, &nc);
        for (size_t k = 0; k < nc; k++)
                json_array_append_new(confs, json_pack("{s:s,s:I,s:s,s:s,s:s}", "node", cv[k].node, "seq",
                                                       (json_int_t)cv[k].seq, "type", cv[k].type, "reason", cv[k].reason,
                                                       "reason_zh", app_rule_zh(cv[k].reason)));
        free(cv);
        json_object_set_new(j, "materials", mats);
        json_object_set_new(j, "conflict_list", confs);
        size_t i;
        json_t *m;
        bool promise_overdue = false;
        json_array_foreach(mats, i, m)
                promise_overdue |= json_is_true(json_object_get(m, "promise_overdue"));
        json_object_set_new(j, "promise_overdue", json_boolean(promise_overdue));
        return j;
}
