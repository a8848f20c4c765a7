/* Tests of forms/validate.c against the sample catalogue: complete
 * problem lists with paths, codes and both languages; relevance; repeats;
 * bundles split per matter; the materials asked for. */
#include <stdio.h>
#include <stdlib.h>

#include "forms/catalog.h"
#include "forms/validate.h"
#include "tests/harness.h"

static catalog *cat;
static int32_t today;

static void setup(void)
{
        char dir[4096];

        if (cat)
                return;
        snprintf(dir, sizeof dir, "%s/catalog-sample", test_data_dir());
        if (catalog_load(dir, &cat) < 0 || catalog_nerrors(cat))
                abort();
        cal_date_parse("2026-11-24", &today);
}

/* A valid GB 11643 ID number, computed here independently of ftype.c. */
static const char *idn(const char *birth, const char *seq)
{
        static char bufs[8][19];
        static int k;
        static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
        char *b = bufs[k++ % 8];
        int sum = 0;

        snprintf(b, 19, "330225%s%s", birth, seq);
        for (int i = 0; i < 17; i++)
                sum += (b[i] - '0') * w[i];
        b[17] = "10X98765432"[sum % 11];
        b[18] = '\0';
        return b;
}

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);
        if (!j) {
                fprintf(stderr, "bad test JSON: %s\n", e.text);
                abort();
        }
        return j;
}

static const struct form_problem *find(const struct form_problems *p, const char *path, const char *code)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->v[i].path, path) == 0 && strcmp(p->v[i].code, code) == 0)
                        return &p->v[i];
        for (size_t i = 0; i < p->n; i++)
                fprintf(stderr, "  have: %s %s %s\n", p->v[i].path, p->v[i].code, p->v[i].msg_en);
        return NULL;
}

static json_t *dibao(int size, const char *id2, const char *income2)
{
        char buf[2048];

        snprintf(buf, sizeof buf,
                 "{\"applicant_name\":\"李建国\",\"id_number\":\"%s\",\"phone\":\"13857412345\","
                 "\"address\":\"下沈村5号\",\"household_size\":%d,\"members\":["
                 "{\"member_name\":\"李建国\",\"member_id\":\"%s\",\"relation\":\"self\",\"monthly_income\":\"800.50\"},"
                 "{\"member_name\":\"张桂芳\",\"member_id\":\"%s\",\"relation\":\"spouse\",\"monthly_income\":\"%s\"}],"
                 "\"reason\":\"家庭主要劳动力患病，收入不足以维持基本生活\",\"bank_account\":\"6217001234567890123\"}",
                 idn("19650720", "131"), size, idn("19650720", "131"), id2, income2);
        return J(buf);
}

TEST(valid_application_has_no_problems)
{
        struct form_problems p;
        json_t *d;

        setup();
        d = dibao(2, idn("19680211", "142"), "0");
        form_problems_init(&p);
        CHECK_INT(form_validate(catalog_find_form(cat, "MZ-DB-001"), d, today, &p, NULL), ==, 0);
        for (size_t i = 0; i < p.n; i++)
                fprintf(stderr, "%s %s\n", p.v[i].path, p.v[i].msg_en);
        CHECK_INT(p.n, ==, 0);
        form_problems_finish(&p);
        json_decref(d);
}

TEST(every_problem_listed_with_paths)
{
        struct form_problems p;
        char badid[19];
        json_t *d;

        setup();
        strcpy(badid, idn("19680211", "142"));
        badid[17] = badid[17] == '0' ? '1' : '0';
        /* three problems in row 2, one on the repeat's count */
        d = dibao(3, badid, "12.345");
        json_object_set_new(d, "phone", json_string("12345"));
        json_object_del(d, "applicant_name");
        json_object_set_new(d, "nickname", json_string("x"));
        json_object_set_new(json_array_get(json_object_get(d, "members"), 1), "relation", json_string("cousin"));
        form_problems_init(&p);
        CHECK_INT(form_validate(catalog_find_form(cat, "MZ-DB-001"), d, today, &p, NULL), ==, 0);
        CHECK(find(&p, "applicant_name", "required"));
        CHECK(find(&p, "phone", "phone"));
        CHECK(find(&p, "members[1].member_id", "id_number_check"));
        CHECK(find(&p, "members[1].monthly_income", "money"));
        CHECK(find(&p, "members[1].relation", "choice"));
        const struct form_problem *c = find(&p, "members", "constraint");
        CHECK(c);
        CHECK(strstr(c->msg_zh, "家庭成员条数须与人数一致"));
        CHECK(find(&p, "nickname", "unknown_field"));
        CHECK_INT(p.n, ==, 7);
        const struct form_problem *r = find(&p, "members[1].member_id", "id_number_check");
        CHECK(strstr(r->msg_zh, "家庭成员第2行·成员身份号码"));
        CHECK(strstr(r->msg_en, "Household members row 2: Member ID number"));
        form_problems_finish(&p);
        json_decref(d);
}

TEST(constraints_use_injected_today)
{
        struct form_problems p;
        char buf[512];
        json_t *d;
        int32_t t;

        setup();
        /* age(.) >= 80 for the old-age allowance; born 1946-11-25 */
        snprintf(buf, sizeof buf, "{\"applicant_name\":\"王\",\"id_number\":\"%s\",\"phone\":\"13857412345\","
                 "\"bank_account\":\"6217001234567890\"}", idn("19461125", "111"));
        d = J(buf);
        form_problems_init(&p);
        cal_date_parse("2026-11-24", &t);
        form_validate(catalog_find_form(cat, "MZ-GLJT-001"), d, t, &p, NULL);
        CHECK(find(&p, "id_number", "constraint"));
        CHECK(strstr(p.v[0].msg_zh, "申请人须年满80周岁"));
        form_problems_reset(&p);
        cal_date_parse("2026-11-25", &t);
        form_validate(catalog_find_form(cat, "MZ-GLJT-001"), d, t, &p, NULL);
        CHECK_INT(p.n, ==, 0);
        form_problems_finish(&p);
        json_decref(d);
}

TEST(relevance_hides_required_fields_and_drops_values)
{
        struct form_problems p;
        json_t *d, *clean = NULL;
        char buf[512];

        setup();
        /* physical disability: the guardian is not asked, and a value
         * given anyway is not stored */
        snprintf(buf, sizeof buf, "{\"applicant_name\":\"赵\",\"id_number\":\"%s\",\"phone\":\"13857412345\","
                 "\"disability_type\":\"physical\",\"guardian_name\":\"钱\"}", idn("19900101", "123"));
        d = J(buf);
        form_problems_init(&p);
        form_validate(catalog_find_form(cat, "CL-CJZ-001"), d, today, &p, &clean);
        CHECK_INT(p.n, ==, 0);
        CHECK(clean);
        CHECK(json_object_get(clean, "guardian_name") == NULL);
        CHECK(json_object_get(clean, "applicant_name") != NULL);
        json_decref(clean);
        clean = NULL;
        /* intellectual disability: both guardian fields are required */
        json_object_set_new(d, "disability_type", json_string("intellectual"));
        form_validate(catalog_find_form(cat, "CL-CJZ-001"), d, today, &p, &clean);
        CHECK_INT(p.n, ==, 1);
        CHECK(find(&p, "guardian_phone", "required"));
        CHECK_STR(json_string_value(json_object_get(clean, "guardian_name")), "钱");
        json_decref(clean);
        form_problems_finish(&p);
        json_decref(d);
}

TEST(select_multiple_and_relevant_materials)
{
        struct form_problems p;
        const struct cat_form *f;
        json_t *d;
        bool asked[16];
        char buf[512];

        setup();
        f = catalog_find_form(cat, "SC-GTBG-001");
        snprintf(buf, sizeof buf, "{\"operator_name\":\"周\",\"operator_id\":\"%s\",\"uscc\":\"91350100M000100Y43\","
                 "\"phone\":\"13900001111\",\"change_items\":\"name scope name\",\"new_name\":\"新\"}",
                 idn("19820909", "057"));
        d = J(buf);
        form_problems_init(&p);
        form_validate(f, d, today, &p, NULL);
        CHECK(find(&p, "change_items", "choice_repeated"));
        CHECK(find(&p, "new_scope", "required"));
        CHECK(!find(&p, "new_address", "required"));
        CHECK_INT(p.n, ==, 2);
        form_materials_asked(f, d, today, asked);
        CHECK_INT(f->nmaterials, ==, 3);
        CHECK(asked[0] && asked[1] && !asked[2]);   /* CSZM only when the address changes */
        json_object_set_new(d, "change_items", json_string("address"));
        form_materials_asked(f, d, today, asked);
        CHECK(asked[2]);
        form_problems_finish(&p);
        json_decref(d);
}

TEST(bundle_validates_merged_and_splits_per_matter)
{
        struct form_problems p;
        const struct cat_bundle *b;
        json_t *d, *part;
        char buf[1024];

        setup();
        b = catalog_find_bundle(cat, "YJS-SHS-001");
        snprintf(buf, sizeof buf,
                 "{\"deceased_name\":\"陈阿大\",\"deceased_id\":\"%s\",\"date_of_death\":\"2026-11-10\","
                 "\"declarant_name\":\"陈小明\",\"declarant_id\":\"%s\",\"declarant_relation\":\"child\","
                 "\"heir_name\":\"陈小明\",\"heir_id\":\"%s\",\"heir_bank_account\":\"6228480012345678901\","
                 "\"cremation_date\":\"2026-11-09\"}",
                 idn("19400505", "015"), idn("19701001", "035"), idn("19701001", "035"));
        d = J(buf);
        form_problems_init(&p);
        form_validate(b->form, d, today, &p, NULL);
        /* cremation before death breaks MZ-BZBT-001's constraint */
        CHECK_INT(p.n, ==, 1);
        CHECK(find(&p, "cremation_date", "constraint"));
        form_problems_reset(&p);
        /* death in the future: reported once although 3 matters ask it */
        json_object_set_new(d, "date_of_death", json_string("2026-12-01"));
        json_object_set_new(d, "cremation_date", json_string("2026-11-12"));
        form_validate(b->form, d, today, &p, NULL);
        size_t n = 0;
        for (size_t i = 0; i < p.n; i++)
                n += strcmp(p.v[i].path, "date_of_death") == 0;
        CHECK_INT(n, ==, 1);
        form_problems_reset(&p);

        part = form_split(b->matters[0], d, today);   /* GA-HKZX-001 */
        CHECK(part);
        CHECK_INT(json_object_size(part), ==, 6);
        CHECK(json_object_get(part, "declarant_id"));
        CHECK(!json_object_get(part, "heir_id"));
        json_decref(part);
        part = form_split(b->matters[2], d, today);   /* MZ-BZBT-001 */
        CHECK_INT(json_object_size(part), ==, 7);
        CHECK(json_object_get(part, "cremation_date"));
        CHECK(!json_object_get(part, "declarant_id"));
        json_decref(part);
        form_problems_finish(&p);
        json_decref(d);
}

TEST(wrong_json_types_and_sizes)
{
        struct form_problems p;
        json_t *d;
        char *big = malloc(FORM_MAX_VALUE + 2);

        setup();
        memset(big, 'a', FORM_MAX_VALUE + 1);
        big[FORM_MAX_VALUE + 1] = '\0';
        form_problems_init(&p);
        d = J("[1,2]");
        form_validate(catalog_find_form(cat, "RS-YL-001"), d, today, &p, NULL);
        CHECK(find(&p, "", "bad_json"));
        json_decref(d);
        form_problems_reset(&p);

        /* a phone as a JSON number would lose its leading zero: refused */
        d = J("{\"phone\": 574651234, \"tier\": true, \"household_size\": 2}");
        json_object_set_new(d, "address", json_string(big));
        form_validate(catalog_find_form(cat, "RS-YL-001"), d, today, &p, NULL);
        CHECK(find(&p, "phone", "bad_type"));
        CHECK(find(&p, "tier", "bad_type"));
        CHECK(find(&p, "address", "too_long"));
        CHECK(find(&p, "household_size", "unknown_field"));
        json_decref(d);
        form_problems_reset(&p);

        /* too many rows in a repeat */
        d = J("{\"members\": []}");
        for (int i = 0; i < CAT_REPEAT_MAX_ROWS + 1; i++)
                json_array_append_new(json_object_get(d, "members"), json_object());
        form_validate(catalog_find_form(cat, "MZ-DB-001"), d, today, &p, NULL);
        CHECK(find(&p, "members", "repeat_max"));
        json_decref(d);
        form_problems_reset(&p);

        /* more keys than FORM_MAX_KEYS: refused as a whole */
        d = json_object();
        for (int i = 0; i < FORM_MAX_KEYS + 1; i++) {
                char key[32];
                snprintf(key, sizeof key, "k%d", i);
                json_object_set_new(d, key, json_string("x"));
        }
        form_validate(catalog_find_form(cat, "RS-YL-001"), d, today, &p, NULL);
        CHECK(find(&p, "", "too_many_fields"));
        json_decref(d);
        form_problems_finish(&p);
        free(big);
}

TEST(numbers_as_json_numbers)
{
        struct form_problems p;
        char buf[512];
        json_t *d;

        setup();
        snprintf(buf, sizeof buf, "{\"applicant_name\":\"孙\",\"id_number\":\"%s\",\"phone\":\"13857412345\","
                 "\"emergency_type\":\"fire\",\"amount\":20000.5,\"description\":\"房屋失火，家中财物全部烧毁\"}",
                 idn("19750101", "111"));
        d = J(buf);
        form_problems_init(&p);
        form_validate(catalog_find_form(cat, "MZ-LSJZ-001"), d, today, &p, NULL);
        CHECK_INT(p.n, ==, 1);
        CHECK(find(&p, "amount", "constraint"));
        form_problems_reset(&p);
        json_object_set_new(d, "amount", json_real(1500.25));
        form_validate(catalog_find_form(cat, "MZ-LSJZ-001"), d, today, &p, NULL);
        CHECK_INT(p.n, ==, 0);
        json_object_set_new(d, "amount", json_real(1500.255));
        form_validate(catalog_find_form(cat, "MZ-LSJZ-001"), d, today, &p, NULL);
        CHECK(find(&p, "amount", "money"));
        form_problems_finish(&p);
        json_decref(d);
}

static void __attribute__((destructor)) teardown(void)
{
        catalog_free(cat);
}
