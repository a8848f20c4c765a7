/* A form of the catalogue as JSON, as `daiban catalog show --json`
 * prints it and the station daemon's GET /api/forms/CODE sends it: its
 * matters, fields and materials. Prints nothing. See agent/core/form.h. */
#include <stdbool.h>
#include <string.h>

#include "agent/core/form.h"
#include "forms/calendar.h"

static json_t *field_json(const struct cat_item *it)
{
        const struct cat_field *f = it->field;
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", f->name, "type", ftype_name(f->type),
                              "label_zh", f->label_zh, "label_en", f->label_en, "required", f->required);
        json_t *cons = json_array(), *rel = json_array();

        for (size_t d = 0; d < it->ndefs; d++) {
                const struct cat_field *x = it->defs[d];
                if (x->constraint_src)
                        json_array_append_new(cons, json_pack("{s:s,s:s?,s:s}", "expr", x->constraint_src,
                                                              "message_zh", x->constraint_msg_zh,
                                                              "matter", it->def_matters[d]->code));
                if (x->relevant_src)
                        json_array_append_new(rel, json_pack("{s:s,s:s}", "expr", x->relevant_src, "matter",
                                                             it->def_matters[d]->code));
                if (x->required)
                        json_object_set_new(j, "required", json_true());
        }
        json_object_set_new(j, "constraints", cons);
        json_object_set_new(j, "relevant", rel);
        if (f->hint_zh)
                json_object_set_new(j, "hint_zh", json_string(f->hint_zh));
        if (f->choices) {
                json_t *ch = json_array();
                for (size_t k = 0; k < f->choices->nitems; k++)
                        json_array_append_new(ch, json_pack("{s:s,s:s,s:s}", "value", f->choices->items[k].value,
                                                            "label_zh", f->choices->items[k].label_zh,
                                                            "label_en", f->choices->items[k].label_en));
                json_object_set_new(j, "choices", ch);
        }
        if (f->type == FT_BEGIN_REPEAT) {
                json_t *rows = json_array();
                for (size_t k = 0; k < it->nchildren; k++)
                        json_array_append_new(rows, field_json(&it->children[k]));
                json_object_set_new(j, "fields", rows);
                json_object_set_new(j, "min_rows", json_integer(f->min_rows));
                json_object_set_new(j, "max_rows", json_integer(f->max_rows));
        }
        return j;
}

json_t *catalog_material_json(const struct cat_form_material *fm, const calendar *cal, int32_t today)
{
        json_t *notes = json_array();

        for (size_t d = 0; d < fm->ndefs; d++)
                if (fm->defs[d]->note_zh && !SAID_BEFORE(fm->defs, d, note_zh))
                        json_array_append_new(notes, json_string(fm->defs[d]->note_zh));
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:b,s:o}", "code", fm->material->code, "name_zh",
                              fm->material->name_zh, "name_en", fm->material->name_en, "kind",
                              cat_mkind_name(fm->kind), "copies", fm->copies, "required", fm->required,
                              "deficiency_ok", fm->deficiency_ok, "notes_zh", notes);
        if (fm->deficiency_ok)
                json_object_set_new(j, "deficiency_days", json_integer(fm->deficiency_days));
        int32_t until;
        char day[11];
        if (fm->deficiency_ok && fm->deficiency_days > 0 && cal &&
            cal_add_workdays(cal, today, fm->deficiency_days, &until) == 0) {
                cal_date_format(until, day);
                json_object_set_new(j, "deficiency_until", json_string(day));
        }
        for (size_t d = 0; d < fm->ndefs; d++)
                if (fm->defs[d]->relevant_src) {
                        json_object_set_new(j, "relevant", json_string(fm->defs[d]->relevant_src));
                        break;
                }
        return j;
}

json_t *catalog_form_json(const struct cat_form *form, const calendar *cal, int32_t today)
{
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "code", form->code, "kind",
                              form->is_bundle ? "bundle" : "matter", "name_zh", form->name_zh, "name_en",
                              form->name_en);
        json_t *ms = json_array(), *fs = json_array(), *mats = json_array();
        for (size_t k = 0; k < form->nmatters; k++) {
                const struct cat_matter *m = form->matters[k];
                json_t *mj = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s?}", "code", m->code, "name_zh",
                                       m->name_zh, "name_en", m->name_en, "department", m->department,
                                       "time_limit_days", m->time_limit_days, "fee", m->fee, "decide_at",
                                       cat_level_name(m->decide_at), "review_at",
                                       m->review_at ? cat_level_name(m->review_at) : NULL);
                json_t *acc = json_array();
                for (int l = LEVEL_VILLAGE; l >= LEVEL_COUNTY; l--)
                        if (m->accept_at & (1u << l))
                                json_array_append_new(acc, json_string(cat_level_name(l)));
                json_object_set_new(mj, "accept_at", acc);
                json_array_append_new(ms, mj);
        }
        for (size_t k = 0; k < form->nitems; k++)
                json_array_append_new(fs, field_json(&form->items[k]));
        for (size_t k = 0; k < form->nmaterials; k++)
                json_array_append_new(mats, catalog_material_json(&form->materials[k], cal, today));
        json_object_set_new(j, "matters", ms);
        json_object_set_new(j, "fields", fs);
        json_object_set_new(j, "materials", mats);
        return j;
}
