/* Who applies: see applicant.h and docs/catalog.md. */
#include <string.h>

#include "forms/applicant.h"

static enum cat_role item_role(const struct cat_item *it)
{
        for (size_t d = 0; d < it->ndefs; d++)
                if (it->defs[d]->role != ROLE_NONE)
                        return it->defs[d]->role;
        return it->field->role;
}

static const struct cat_item *find_role(const struct cat_item *items, size_t n, enum cat_role role)
{
        for (size_t i = 0; i < n; i++)
                if (item_role(&items[i]) == role)
                        return &items[i];
        return NULL;
}

static bool is_id_type(enum ftype t)
{
        return t == FT_ID_NUMBER || t == FT_USCC;
}

/* The label convention: the person's word (申请人 or 申报人) and 姓名 in
 * a text field's Chinese label. Returns the word found, or NULL. */
static const char *label_names_applicant(const struct cat_field *f)
{
        static const char *const who[] = { "申请人", "申报人" };

        if (f->type != FT_TEXT || !f->label_zh || !strstr(f->label_zh, "姓名"))
                return NULL;
        for (size_t k = 0; k < sizeof who / sizeof *who; k++)
                if (strstr(f->label_zh, who[k]))
                        return who[k];
        return NULL;
}

void form_applicant_fields(const struct cat_form *form, struct form_applicant *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->name = find_role(form->items, form->nitems, ROLE_APPLICANT_NAME);
        for (size_t i = 0; !ret->name && i < form->nitems; i++)
                if (form->items[i].field->type == FT_BEGIN_REPEAT &&
                    (ret->name = find_role(form->items[i].children, form->items[i].nchildren,
                                           ROLE_APPLICANT_NAME)))
                        ret->repeat = &form->items[i];
        ret->id = ret->repeat ? find_role(ret->repeat->children, ret->repeat->nchildren, ROLE_APPLICANT_ID) : NULL;
        if (!ret->id)
                ret->id = find_role(form->items, form->nitems, ROLE_APPLICANT_ID);
        if (ret->name) {
                ret->declared = true;
                return;
        }
        if (ret->id) {
                /* an ID alone names no one */
                ret->declared = true;
                return;
        }

        const char *who = NULL;
        for (size_t i = 0; i < form->nitems && !who; i++)
                if ((who = label_names_applicant(form->items[i].field)))
                        ret->name = &form->items[i];
        if (!ret->name)
                return;
        const struct cat_item *only = NULL;
        size_t nids = 0;
        for (size_t i = 0; i < form->nitems; i++) {
                const struct cat_field *f = form->items[i].field;
                if (!is_id_type(f->type))
                        continue;
                if (f->label_zh && strstr(f->label_zh, who)) {
                        ret->id = &form->items[i];
                        return;
                }
                if (f->type == FT_ID_NUMBER) {
                        only = &form->items[i];
                        nids++;
                }
        }
        if (nids == 1)
                ret->id = only;
}

const char *form_applicant_misplaced(const struct cat_form *form, const struct form_applicant *a,
                                     const char **zh)
{
        for (size_t i = 0; i < form->nitems; i++) {
                const struct cat_item *r = &form->items[i];
                if (r->field->type != FT_BEGIN_REPEAT || r == a->repeat ||
                    !find_role(r->children, r->nchildren, ROLE_APPLICANT_ID))
                        continue;
                *zh = "申请人证件号码（applicant_id）在重复组中，而申请人姓名不在同一重复组";
                return "applicant_id is inside a repeat that does not hold applicant_name";
        }
        if (a->repeat && !a->id) {
                *zh = "申请人姓名在重复组中，须同时声明 applicant_id（户主身份号码，放在表单顶层或同一重复组中），"
                      "才能确定哪一行是申请人";
                return "the applicant's name is inside a repeat: declare applicant_id too (the householder's ID at "
                       "the top level, or in the same repeat) so that one row can be chosen";
        }
        if (a->declared && !a->name) {
                *zh = "只声明了申请人证件号码（applicant_id），还须声明申请人姓名（applicant_name）";
                return "applicant_id is declared without applicant_name";
        }
        return NULL;
}

static const char *str_of(const json_t *obj, const struct cat_item *it)
{
        const char *v = it ? json_string_value(json_object_get(obj, it->field->name)) : NULL;
        return v && *v ? v : NULL;
}

void form_applicant_of(const struct cat_form *form, const json_t *data, const char **name, const char **id)
{
        struct form_applicant a;

        *name = *id = NULL;
        form_applicant_fields(form, &a);
        if (!a.name)
                return;
        if (!a.repeat) {
                *name = str_of(data, a.name);
                *id = str_of(data, a.id);
                return;
        }
        const json_t *rows = json_object_get(data, a.repeat->field->name);
        if (!json_is_array(rows) || !a.id)
                return;
        const bool id_in_row = a.id >= a.repeat->children && a.id < a.repeat->children + a.repeat->nchildren;
        if (id_in_row) {
                const json_t *row = json_array_get(rows, 0);
                *name = str_of(row, a.name);
                *id = str_of(row, a.id);
                return;
        }
        /* a household: the member whose ID number is the householder's */
        const char *hid = str_of(data, a.id);
        if (!hid)
                return;
        size_t i;
        const json_t *row;
        json_array_foreach (rows, i, row)
                for (size_t c = 0; c < a.repeat->nchildren; c++) {
                        const struct cat_item *ch = &a.repeat->children[c];
                        const char *v = is_id_type(ch->field->type) ? str_of(row, ch) : NULL;
                        if (v && strcmp(v, hid) == 0) {
                                *name = str_of(row, a.name);
                                *id = hid;
                                return;
                        }
                }
}
