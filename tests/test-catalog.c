/* Tests of forms/catalog*.c on the sample catalogue and on broken copies
 * of it: every problem found in one run, at the right file, line and
 * column; the merged bundle forms; delegation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "forms/applicant.h"
#include "forms/catalog.h"
#include "forms/division.h"
#include "forms/validate.h"
#include "tests/harness.h"

static catalog *load_sample(void)
{
        char dir[4096];
        catalog *cat = NULL;

        snprintf(dir, sizeof dir, "%s/catalog-sample", test_data_dir());
        if (catalog_load(dir, &cat) < 0)
                return NULL;
        return cat;
}

static const char *sample_sheet(const char *name)
{
        static char path[4096];
        snprintf(path, sizeof path, "%s/catalog-sample/%s", test_data_dir(), name);
        return path;
}

/* A copy of the sample catalogue in a temporary folder, with sheet
 * `name` replaced by `content` (NULL: removed). */
static const char *broken_copy(const char *name, const char *content)
{
        static const char *sheets[] = { "divisions.csv", "materials.csv", "matters.csv", "fields.csv",
                                         "choices.csv", "matter_materials.csv", "bundles.csv", "calendar.csv",
                                         NULL };
        const char *dir = test_tmpdir();
        char path[4096], buf[65536];

        for (size_t i = 0; sheets[i]; i++) {
                FILE *in, *out;
                size_t n;
                snprintf(path, sizeof path, "%s/%s", dir, sheets[i]);
                if (strcmp(sheets[i], name) == 0) {
                        if (content) {
                                out = fopen(path, "wb");
                                fputs(content, out);
                                fclose(out);
                        }
                        continue;
                }
                in = fopen(sample_sheet(sheets[i]), "rb");
                out = fopen(path, "wb");
                if (!in || !out)
                        abort();
                while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                        fwrite(buf, 1, n, out);
                fclose(in);
                fclose(out);
        }
        return dir;
}

/* Read a sample sheet into a malloc'd string. */
static char *read_sheet(const char *name)
{
        FILE *f = fopen(sample_sheet(name), "rb");
        char *s = calloc(1, 1 << 20);
        size_t n;

        if (!f || !s)
                abort();
        n = fread(s, 1, (1 << 20) - 1, f);
        s[n] = '\0';
        fclose(f);
        return s;
}

/* Replace the first occurrence of `from` in s (malloc'd) with `to`. */
static char *replace(char *s, const char *from, const char *to)
{
        char *p = strstr(s, from);
        char *out;

        if (!p)
                abort();
        out = malloc(strlen(s) + strlen(to) + 1);
        memcpy(out, s, (size_t)(p - s));
        strcpy(out + (p - s), to);
        strcat(out, p + strlen(from));
        free(s);
        return out;
}

static bool has_diag(const catalog *cat, const char *sheet, int line, int col, const char *needle)
{
        for (size_t i = 0; i < catalog_ndiags(cat); i++) {
                const struct cat_diag *d = catalog_diag(cat, i);
                if (d->severity == CAT_ERROR && strstr(d->file, sheet) && d->line == line &&
                    (col == 0 || d->col == col) && strstr(d->msg_en, needle))
                        return true;
        }
        for (size_t i = 0; i < catalog_ndiags(cat); i++) {
                const struct cat_diag *d = catalog_diag(cat, i);
                fprintf(stderr, "  have: %s:%d:%d: %s\n", d->file, d->line, d->col, d->msg_en);
        }
        return false;
}

TEST(sample_checks_clean)
{
        catalog *cat = load_sample();

        CHECK(cat);
        for (size_t i = 0; i < catalog_ndiags(cat); i++)
                fprintf(stderr, "%s:%d:%d: %s\n", catalog_diag(cat, i)->file, catalog_diag(cat, i)->line,
                        catalog_diag(cat, i)->col, catalog_diag(cat, i)->msg_en);
        CHECK_INT(catalog_nerrors(cat), ==, 0);
        /* its only warnings: matters that do not say who applies */
        for (size_t i = 0; i < catalog_ndiags(cat); i++)
                CHECK(strstr(catalog_diag(cat, i)->msg_en, "does not say which field is the applicant's name"));
        CHECK_INT(catalog_ndiags(cat), ==, 5);
        CHECK_INT(catalog_nmatters(cat), ==, 13);
        CHECK_INT(catalog_nbundles(cat), ==, 2);
        CHECK_INT(catalog_ndivisions(cat), ==, 11);
        CHECK_INT(catalog_nmaterials(cat), ==, 18);
        CHECK_INT(catalog_nfields(cat), ==, 86);   /* 87 rows, one end_repeat */
        CHECK_INT(cal_count(catalog_calendar(cat)), ==, 39);
        catalog_free(cat);
}

/* Who applies, by the sample's labels alone (it has no role column): a
 * label naming 申请人/申报人 with 姓名, its ID by the same word or as the
 * only ID number; otherwise nothing, and no first-field guess. */
TEST(applicant_by_label)
{
        static const struct {
                const char *form, *name, *id;
        } want[] = {
                { "GA-HKZX-001", "declarant_name", "declarant_id" },   /* the word matches the ID */
                { "MZ-GLJT-001", "applicant_name", "id_number" },      /* the only ID number */
                { "NY-ZJD-001", "applicant_name", "id_number" },       /* 申请人(户主)姓名 */
                { "YJS-SHS-001", "declarant_name", "declarant_id" },   /* the bundle: not the deceased first */
                { "YB-CB-001", NULL, NULL },                            /* 参保人姓名: not said */
                { "RS-SZF-001", NULL, NULL },                           /* the deceased first: no guess */
        };
        catalog *cat = load_sample();

        CHECK(cat);
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
                const struct cat_matter *m = catalog_find_matter(cat, want[i].form);
                const struct cat_bundle *b = m ? NULL : catalog_find_bundle(cat, want[i].form);
                const struct cat_form *f = m ? m->form : b ? b->form : NULL;
                struct form_applicant a;

                CHECK(f);
                form_applicant_fields(f, &a);
                CHECK(!a.declared);
                CHECK_STR(a.name ? a.name->field->name : "(none)", want[i].name ? want[i].name : "(none)");
                CHECK_STR(a.id ? a.id->field->name : "(none)", want[i].id ? want[i].id : "(none)");
        }
        catalog_free(cat);
}

TEST(repeat_structure)
{
        catalog *cat = load_sample();
        const struct cat_matter *m = catalog_find_matter(cat, "MZ-DB-001");

        CHECK(m);
        CHECK_INT(m->nfields, ==, 8);
        CHECK_STR(m->fields[5].name, "members");
        CHECK_INT(m->fields[5].type, ==, FT_BEGIN_REPEAT);
        CHECK_INT(m->fields[5].nchildren, ==, 4);
        CHECK_STR(m->fields[5].children[1].name, "member_id");
        CHECK_STR(m->fields[6].name, "reason");
        CHECK_INT(m->review_at, ==, LEVEL_TOWNSHIP);
        CHECK_INT(m->decide_at, ==, LEVEL_COUNTY);
        CHECK_INT(m->time_limit_days, ==, 30);
        CHECK_INT(m->nmaterials, ==, 5);
        CHECK(m->materials[2].deficiency_ok);
        CHECK_INT(m->materials[2].deficiency_days, ==, 30);
        CHECK_INT(m->materials[3].kind, ==, MK_COMMITMENT);
        catalog_free(cat);
}

TEST(bundle_merges_shared_fields_once)
{
        catalog *cat = load_sample();
        const struct cat_bundle *b = catalog_find_bundle(cat, "YJS-SHS-001");
        const struct cat_form *f;

        CHECK(b);
        f = b->form;
        CHECK(f->is_bundle);
        CHECK_INT(f->nmatters, ==, 3);
        /* GA-HKZX: 6 fields; RS-SZF adds heir_name, heir_id,
         * heir_bank_account; MZ-BZBT adds cremation_date */
        CHECK_INT(f->nitems, ==, 10);
        CHECK_STR(f->items[0].field->name, "deceased_name");
        CHECK_INT(f->items[0].ndefs, ==, 3);
        CHECK_STR(f->items[2].field->name, "date_of_death");
        CHECK_INT(f->items[2].ndefs, ==, 3);
        CHECK_STR(f->items[6].field->name, "heir_name");
        CHECK_INT(f->items[6].ndefs, ==, 2);
        CHECK_STR(f->items[9].field->name, "cremation_date");
        /* materials: SWZM HKB SFZ (GA) + HHZM YHK; HHZM is 容缺 in RS-SZF
         * but not in MZ-BZBT, so not in the bundle */
        CHECK_INT(f->nmaterials, ==, 5);
        for (size_t i = 0; i < f->nmaterials; i++)
                if (strcmp(f->materials[i].material->code, "HHZM") == 0) {
                        CHECK(!f->materials[i].deficiency_ok);
                        CHECK_INT(f->materials[i].ndefs, ==, 2);
                }
        catalog_free(cat);
}

TEST(delegation)
{
        catalog *cat = load_sample();
        const struct cat_division *v = catalog_find_division(cat, "330225101201");
        const struct cat_division *t = catalog_find_division(cat, "330225101");
        const struct cat_matter *gt = catalog_find_matter(cat, "SC-GTBG-001");
        const struct cat_matter *db = catalog_find_matter(cat, "MZ-DB-001");
        size_t nv = 0, nt = 0;

        CHECK(v && t && gt && db);
        CHECK(!catalog_may_accept(gt, v));
        CHECK(catalog_may_accept(gt, t));
        CHECK(catalog_may_accept(db, v));
        for (size_t i = 0; i < catalog_nmatters(cat); i++) {
                nv += catalog_may_accept(catalog_matter(cat, i), v);
                nt += catalog_may_accept(catalog_matter(cat, i), t);
        }
        CHECK_INT(nv, ==, 12);
        CHECK_INT(nt, ==, 13);
        CHECK(catalog_division_at(v, LEVEL_TOWNSHIP) == t);
        CHECK_STR(catalog_division_at(v, LEVEL_COUNTY)->code, "330225");
        CHECK(catalog_bundle_may_accept(catalog_find_bundle(cat, "YJS-GL-001"), v));
        catalog_free(cat);
}

TEST(every_problem_reported_in_one_run)
{
        char *fields = read_sheet("fields.csv");
        char *matters = read_sheet("matters.csv");
        catalog *cat = NULL;
        const char *dir;
        char path[4096];
        FILE *f;

        /* line 3: unknown function in a constraint, at column 52 */
        fields = replace(fields, "RS-YL-001,id_number,id_number,公民身份号码,ID number,yes,age(.) >= 16",
                         "RS-YL-001,id_number,id_number,公民身份号码,ID number,yes,agee(.) >= 16");
        /* line 5: unknown choice list */
        fields = replace(fields, "Household type,yes,,,,hukou,", "Household type,yes,,,,hukou_typo,");
        /* line 17: reference to an unknown field in a relevant */
        fields = replace(fields, "selected(${disability_type}, 'intellectual') or",
                         "selected(${disability_typ}, 'intellectual') or");
        /* line 4: unknown type */
        fields = replace(fields, "RS-YL-001,phone,phone,", "RS-YL-001,phone,telephone,");
        dir = broken_copy("fields.csv", fields);
        /* matters.csv: a duplicate code (line 15) and a bad level (line 3) */
        matters = replace(matters, "village;township,county,\nCL-CJZ-001", "village;township,countyy,\nCL-CJZ-001");
        matters = realloc(matters, strlen(matters) + 128);
        strcat(matters, "RS-YL-001,重复,Dup,部门,类型,依据,5,0,village,county,\n");
        snprintf(path, sizeof path, "%s/matters.csv", dir);
        f = fopen(path, "wb");
        fputs(matters, f);
        fclose(f);

        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "fields.csv", 3, 52, "unknown function"));
        CHECK(has_diag(cat, "fields.csv", 4, 17, "unknown field type 'telephone'"));
        CHECK(has_diag(cat, "fields.csv", 5, 60, "unknown choice list 'hukou_typo'"));
        CHECK(has_diag(cat, "fields.csv", 17, 0, "unknown field"));
        CHECK(has_diag(cat, "matters.csv", 3, 0, "decide_at 'countyy'"));
        CHECK(has_diag(cat, "matters.csv", 15, 1, "duplicate matter code 'RS-YL-001'"));
        CHECK_INT(catalog_nerrors(cat), ==, 6);
        catalog_free(cat);
        free(fields);
        free(matters);
}

TEST(bundle_conflicts_are_catalogue_errors)
{
        char *fields = read_sheet("fields.csv");
        catalog *cat = NULL;
        const char *dir;

        /* RS-SZF-001's date_of_death becomes text: conflicts with GA-HKZX-001 */
        fields = replace(fields, "RS-SZF-001,date_of_death,date,", "RS-SZF-001,date_of_death,text,");
        fields = replace(fields, "RS-SZF-001,date_of_death,text,死亡日期,Date of death,yes,. <= today()",
                         "RS-SZF-001,date_of_death,text,死亡日期,Date of death,yes,");
        dir = broken_copy("fields.csv", fields);
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "bundles.csv", 2, 0, "shared field 'date_of_death' has conflicting types"));
        CHECK(catalog_find_bundle(cat, "YJS-SHS-001") == NULL);
        catalog_free(cat);
        free(fields);
}

TEST(bundle_choice_list_conflict_is_a_catalogue_error)
{
        char *fields = read_sheet("fields.csv");
        catalog *cat = NULL;
        const char *dir;

        /* both matters of YJS-GL-001 ask hukou_type, from different lists */
        fields = replace(fields, "MZ-GLJT-001,bank_account,bank_account,收款银行账号,Bank account for payment,yes,,,,,\n",
                         "MZ-GLJT-001,bank_account,bank_account,收款银行账号,Bank account for payment,yes,,,,,\n"
                         "MZ-GLJT-001,hukou_type,select_one,户籍性质,Household type,yes,,,,tier,\n");
        fields = replace(fields, "MZ-LNYDZ-001,address,text,现居住地址,Current address,yes,,,,,\n",
                         "MZ-LNYDZ-001,address,text,现居住地址,Current address,yes,,,,,\n"
                         "MZ-LNYDZ-001,hukou_type,select_one,户籍性质,Household type,yes,,,,hukou,\n");
        dir = broken_copy("fields.csv", fields);
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "bundles.csv", 3, 0, "shared field 'hukou_type' has conflicting choice lists"));
        CHECK_INT(catalog_nerrors(cat), ==, 1);
        CHECK(catalog_find_bundle(cat, "YJS-GL-001") == NULL);
        CHECK(catalog_find_bundle(cat, "YJS-SHS-001") != NULL);
        catalog_free(cat);
        free(fields);
}

/* fields.csv with the optional min_rows/max_rows columns, the members
 * repeat of MZ-DB-001 (line 24) given `rows` (",MIN,MAX"). */
static const char *rows_copy(const char *rows, const char *extra_from, const char *extra_to)
{
        char *fields = read_sheet("fields.csv");
        char members[256];
        const char *dir;

        fields = replace(fields, "relevant,choices,hint_zh\n", "relevant,choices,hint_zh,min_rows,max_rows\n");
        snprintf(members, sizeof members, "家庭成员条数须与人数一致,,,%s\n", rows);
        fields = replace(fields, "家庭成员条数须与人数一致,,,\n", members);
        if (extra_from)
                fields = replace(fields, extra_from, extra_to);
        dir = broken_copy("fields.csv", fields);
        free(fields);
        return dir;
}

TEST(repeat_min_and_max_rows)
{
        catalog *cat = load_sample();
        const struct cat_matter *m = catalog_find_matter(cat, "MZ-DB-001");
        struct form_problems p;
        json_t *d;
        int32_t today;

        /* defaults: a required repeat needs 1 row, at most 50 */
        CHECK_INT(m->fields[5].min_rows, ==, 1);
        CHECK_INT(m->fields[5].max_rows, ==, 50);
        catalog_free(cat);
        cat = NULL;

        CHECK_INT(catalog_load(rows_copy(",2,3", NULL, NULL), &cat), ==, 0);
        CHECK_INT(catalog_nerrors(cat), ==, 0);
        m = catalog_find_matter(cat, "MZ-DB-001");
        CHECK_INT(m->fields[5].min_rows, ==, 2);
        CHECK_INT(m->fields[5].max_rows, ==, 3);
        /* an application with one row: repeat_min; with four: repeat_max */
        cal_date_parse("2026-11-24", &today);
        form_problems_init(&p);
        d = json_pack("{s:[{}]}", "members");
        form_validate(catalog_find_form(cat, "MZ-DB-001"), d, today, &p, NULL);
        bool found = false;
        for (size_t i = 0; i < p.n; i++)
                found = found || (strcmp(p.v[i].path, "members") == 0 && strcmp(p.v[i].code, "repeat_min") == 0 &&
                                  strstr(p.v[i].msg_en, "at least 2 rows") && p.v[i].msg_zh[0]);
        CHECK(found);
        json_decref(d);
        form_problems_reset(&p);
        d = json_pack("{s:[{},{},{},{}]}", "members");
        form_validate(catalog_find_form(cat, "MZ-DB-001"), d, today, &p, NULL);
        found = false;
        for (size_t i = 0; i < p.n; i++)
                found = found || (strcmp(p.v[i].path, "members") == 0 && strcmp(p.v[i].code, "repeat_max") == 0 &&
                                  strstr(p.v[i].msg_en, "at most 3 rows"));
        CHECK(found);
        json_decref(d);
        form_problems_finish(&p);
        catalog_free(cat);
        cat = NULL;

        /* beyond the hard cap, min above max, and on a field that is not a repeat */
        CHECK_INT(catalog_load(rows_copy(",0,201", NULL, NULL), &cat), ==, 0);
        CHECK(has_diag(cat, "fields.csv", 24, 0, "max_rows must be an integer from 1 to 200"));
        catalog_free(cat);
        cat = NULL;
        CHECK_INT(catalog_load(rows_copy(",5,3", NULL, NULL), &cat), ==, 0);
        CHECK(has_diag(cat, "fields.csv", 24, 0, "min_rows (5) is larger than max_rows (3)"));
        catalog_free(cat);
        cat = NULL;
        CHECK_INT(catalog_load(rows_copy(",,", "RS-YL-001,phone,phone,联系电话,Phone,yes,,,,,\n",
                                         "RS-YL-001,phone,phone,联系电话,Phone,yes,,,,,,1,2\n"), &cat), ==, 0);
        CHECK(has_diag(cat, "fields.csv", 4, 0, "min_rows/max_rows apply to begin_repeat only"));
        catalog_free(cat);
}

TEST(bad_dates_and_levels)
{
        catalog *cat = NULL;
        const char *dir = broken_copy("calendar.csv",
                                      "date,kind,name_zh\n2026-02-30,holiday,x\n2026-10-01,holiday,a\n"
                                      "2026-10-01,workday,b\n2026-10-02,vacation,c\n");

        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "calendar.csv", 2, 1, "bad date '2026-02-30'"));
        CHECK(has_diag(cat, "calendar.csv", 4, 1, "duplicate date '2026-10-01'"));
        CHECK(has_diag(cat, "calendar.csv", 5, 12, "unknown day kind 'vacation'"));
        catalog_free(cat);

        dir = broken_copy("divisions.csv", "code,name,level,parent\n330225,县,county,\n"
                                           "330225101,镇,town,330225\n330225101201,村,village,330225999\n");
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "divisions.csv", 3, 0, "unknown division level 'town'"));
        CHECK(has_diag(cat, "divisions.csv", 4, 0, "parent division '330225999' does not exist"));
        catalog_free(cat);
}

TEST(missing_sheet_and_column)
{
        catalog *cat = NULL;
        const char *dir = broken_copy("bundles.csv", NULL);

        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(catalog_nerrors(cat) >= 1);
        CHECK(has_diag(cat, "bundles.csv", 0, 0, "cannot read"));
        catalog_free(cat);

        dir = broken_copy("materials.csv", "code,name_zh\nSFZ,居民身份证\n");
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK(has_diag(cat, "materials.csv", 1, 1, "missing column 'name_en'"));
        catalog_free(cat);
}

TEST(excel_quirks_are_accepted)
{
        char *m = read_sheet("materials.csv");
        catalog *cat = NULL;
        const char *dir;
        char *crlf = malloc(strlen(m) * 3 + 16), *o = crlf;

        /* BOM, CRLF, trailing empty columns, a quoted name with a comma */
        o += sprintf(o, "\xef\xbb\xbf");
        for (const char *p = m; *p; p++) {
                if (*p == '\n') {
                        o += sprintf(o, ",,\r\n");
                        continue;
                }
                *o++ = *p;
        }
        *o = '\0';
        crlf = replace(crlf, "SFZ,居民身份证,Resident ID card", "SFZ,\"居民身份证（正面,反面）\",Resident ID card");
        dir = broken_copy("materials.csv", crlf);
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK_INT(catalog_nerrors(cat), ==, 0);
        CHECK_INT(catalog_nmaterials(cat), ==, 18);
        CHECK_STR(catalog_find_matter(cat, "RS-YL-001")->materials[0].material->name_zh, "居民身份证（正面,反面）");
        catalog_free(cat);
        free(m);
        free(crlf);
}

TEST(gbk_sheet_is_converted_with_a_warning)
{
        /* divisions.csv in GBK: header + the county + one township + one village */
        const char gbk[] = "code,name,level,parent\n330225,\xcf\xf3\xc9\xbd\xcf\xd8,county,\n";
        catalog *cat = NULL;
        const char *dir = broken_copy("divisions.csv", gbk);
        bool warned = false;

        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        CHECK_STR(catalog_find_division(cat, "330225")->name, "象山县");
        for (size_t i = 0; i < catalog_ndiags(cat); i++)
                warned = warned || (catalog_diag(cat, i)->severity == CAT_WARNING &&
                                    strstr(catalog_diag(cat, i)->msg_en, "CSV UTF-8"));
        CHECK(warned);
        catalog_free(cat);
}

TEST(division_codes)
{
        CHECK(division_code_valid("330225"));
        CHECK(division_code_valid("330225101"));
        CHECK(division_code_valid("330225101201"));
        CHECK(!division_code_valid("33022510120"));
        CHECK(!division_code_valid("3302251012011"));
        CHECK(!division_code_valid("33022a"));
        CHECK(!division_code_valid("../../x"));
        CHECK(!division_code_valid(""));
        CHECK(!division_code_valid(NULL));
}

TEST(division_levels)
{
        char county[7];

        CHECK(division_code_level("330225") == LEVEL_COUNTY);
        CHECK(division_code_level("330225101") == LEVEL_TOWNSHIP);
        CHECK(division_code_level("330225101201") == LEVEL_VILLAGE);
        CHECK(division_code_level("33022510120") == 0);
        CHECK(division_code_level("33022a") == 0);
        CHECK(division_code_level(NULL) == 0);
        CHECK(division_code_within("330225101201", "330225101"));
        CHECK(division_code_within("330225101201", "330225"));
        CHECK(division_code_within("330225101", "330225101"));
        CHECK(!division_code_within("330225101", "330225101201"));
        CHECK(!division_code_within("330225102201", "330225101"));
        CHECK(!division_code_within("330226101", "330225"));
        CHECK(!division_code_within("330225x", "330225"));
        CHECK(!division_code_within("330225101", ""));
        CHECK(!division_code_within(NULL, "330225"));
        CHECK(!division_code_within("330225101", NULL));
        division_county("330225101201", county);
        CHECK(strcmp(county, "330225") == 0);
}
