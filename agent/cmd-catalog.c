/* `daiban catalog ...`: check a county catalogue folder, show a form as
 * an agent walks it, list what a node may accept, validate application
 * data and compute due dates. The output formats are stable: tests and
 * other tools read them (docs/catalog.md, "Commands"). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/cli.h"
#include "agent/core/form.h"
#include "agent/home.h"
#include "forms/calendar.h"
#include "forms/catalog.h"
#include "forms/validate.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

#define APP_JSON_MAX (1u << 20)   /* bytes of one application file */

static void print_diag(const struct cat_diag *d)
{
        const char *sev = d->severity == CAT_ERROR ? cli_msg("error", "错误") : cli_msg("warning", "警告");
        const char *msg = cli_zh() ? d->msg_zh : d->msg_en;

        if (d->line > 0)
                fprintf(stderr, "%s:%d:%d: %s: %s\n", d->file, d->line, d->col, sev, msg);
        else
                fprintf(stderr, "%s: %s: %s\n", d->file, sev, msg);
}

/* The matter or bundle code in the catalogue at dir, or NULL after
 * printing that it has none. */
static const struct cat_form *find_form(catalog *cat, const char *dir, const char *code)
{
        const struct cat_form *form = catalog_find_form(cat, code);

        if (!form)
                cli_error(cli_msg("no matter or bundle with code '%s' in %s", "%2$s 中没有编码为“%1$s”的事项或一件事"),
                          code, dir);
        return form;
}

/* Load the catalogue for a command that needs a sound one. Returns NULL
 * (after printing why) when it cannot be used. */
static catalog *load_sound(const char *dir)
{
        catalog *cat = NULL;
        struct stat st;

        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                cli_error(cli_msg("'%s' is not a catalogue folder", "“%s”不是目录清单文件夹"), dir);
                return NULL;
        }
        if (catalog_load(dir, &cat) < 0) {
                cli_error("%s", cli_msg("out of memory", "内存不足"));
                return NULL;
        }
        if (catalog_nerrors(cat)) {
                for (size_t i = 0; i < catalog_ndiags(cat); i++)
                        if (catalog_diag(cat, i)->severity == CAT_ERROR)
                                print_diag(catalog_diag(cat, i));
                cli_error(cli_msg("the catalogue has %zu errors; fix them first (daiban catalog check %s)",
                                  "目录清单有 %zu 处错误，请先修正（daiban catalog check %s）"),
                          catalog_nerrors(cat), dir);
                catalog_free(cat);
                return NULL;
        }
        return cat;
}

static int print_json(json_t *j)
{
        char *s;

        if (!j) {
                cli_error("out of memory");
                return EXIT_FAILURE;
        }
        s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s) {
                cli_error("out of memory");
                return EXIT_FAILURE;
        }
        puts(s);
        free(s);
        return 0;
}

/* Options shared by the subcommands: --json, --today. Returns the index
 * of the first positional argument, or -1 after a usage error. */
struct opts {
        bool json;
        int32_t today;
        bool has_today;
};

static int parse_opts(int argc, char **argv, struct opts *o, bool allow_today)
{
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' },
                { "today", required_argument, NULL, 't' },
                { NULL, 0, NULL, 0 },
        };
        int c;

        memset(o, 0, sizeof *o);
        o->today = cal_today();
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'j':
                        o->json = true;
                        break;
                case 't':
                        if (!allow_today) {
                                cli_error(cli_msg("%s does not take --today", "%s 不接受 --today 选项"), argv[0]);
                                return -1;
                        }
                        if (cal_date_parse(optarg, &o->today) < 0) {
                                cli_error(cli_msg("--today: '%s' is not a date (YYYY-MM-DD)",
                                                  "--today：“%s”不是有效日期（YYYY-MM-DD）"), optarg);
                                return -1;
                        }
                        o->has_today = true;
                        break;
                default:
                        cli_error(cli_msg("unknown option '%s'; see '%s --help'", "未知选项“%s”；见“%s --help”"),
                                  argv[optind - 1], argv[0]);
                        return -1;
                }
        }
        return optind;
}

/* A command's options and exactly n operands (else its usage, given in
 * both languages): the index of the first operand, or -1 after printing
 * why. */
static int operands(int argc, char **argv, struct opts *o, bool allow_today, int n, const char *usage_en,
                    const char *usage_zh)
{
        int i = parse_opts(argc, argv, o, allow_today);

        if (i >= 0 && argc - i != n) {
                cli_error_both(usage_en, usage_zh);
                return -1;
        }
        return i;
}

/* ---- check ---------------------------------------------------------------- */

/* operands, then the sound catalogue at the first (load_sound) in
 * *ret_cat: the index of the first operand, or minus the exit code
 * after printing why. */
static int sound_operands(int argc, char **argv, struct opts *o, bool allow_today, int n, const char *usage_en,
                          const char *usage_zh, catalog **ret_cat)
{
        int i = operands(argc, argv, o, allow_today, n, usage_en, usage_zh);

        if (i < 0)
                return -EXIT_USAGE;
        if (!(*ret_cat = load_sound(argv[i])))
                return -EXIT_REFUSED;
        return i;
}

static int run_check(int argc, char **argv)
{
        struct opts o;
        catalog *cat = NULL;
        struct stat st;
        int i = operands(argc, argv, &o, false, 1, "usage: daiban catalog check DIR",
                         "用法：daiban catalog check DIR");
        size_t nwarn = 0;

        if (i < 0)
                return EXIT_USAGE;
        if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
                cli_error(cli_msg("'%s' is not a folder", "“%s”不是文件夹"), argv[i]);
                return EXIT_REFUSED;
        }
        if (catalog_load(argv[i], &cat) < 0) {
                cli_error("out of memory");
                return EXIT_FAILURE;
        }
        for (size_t k = 0; k < catalog_ndiags(cat); k++) {
                print_diag(catalog_diag(cat, k));
                nwarn += catalog_diag(cat, k)->severity == CAT_WARNING;
        }
        {
                /* due dates this year would count weekends only */
                bool bad = false;
                int32_t today = home_today(NULL, &bad);
                int y = 0;
                if (!bad)
                        cal_date_to_ymd(today, &y, NULL, NULL);
                if (y && catalog_nerrors(cat) == 0 && !cal_covers_year(catalog_calendar(cat), y)) {
                        fprintf(stderr, cli_msg("%s/calendar.csv: warning: no holidays or working weekends for %d: due"
                                                " dates would count weekends only; add this year's arrangement\n",
                                                "%s/calendar.csv：警告：没有 %d 年的节假日和调休安排，办结期限将只按周末计算；"
                                                "请补充当年的安排\n"),
                                argv[i], y);
                        nwarn++;
                }
        }
        if (o.json) {
                json_t *j = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ok", catalog_nerrors(cat) == 0,
                                      "errors", (json_int_t)catalog_nerrors(cat), "warnings", (json_int_t)nwarn,
                                      "matters", (json_int_t)catalog_nmatters(cat),
                                      "bundles", (json_int_t)catalog_nbundles(cat),
                                      "fields", (json_int_t)catalog_nfields(cat),
                                      "materials", (json_int_t)catalog_nmaterials(cat),
                                      "divisions", (json_int_t)catalog_ndivisions(cat),
                                      "calendar_days", (json_int_t)cal_count(catalog_calendar(cat)));
                print_json(j);
        }
        if (catalog_nerrors(cat)) {
                fprintf(stderr, cli_msg("%s: %zu errors, %zu warnings: the catalogue cannot be used\n",
                                        "%s：%zu 处错误，%zu 处警告，目录清单不能使用\n"),
                        argv[i], catalog_nerrors(cat), nwarn);
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        if (!o.json)
                printf(cli_msg("catalog ok: %zu matters, %zu bundles, %zu fields, %zu materials "
                               "(%zu divisions, %d calendar days, %zu warnings)\n",
                               "目录清单正常：%zu 个事项，%zu 个一件事，%zu 个字段，%zu 种材料"
                               "（%zu 个区划，%d 个日历例外日，%zu 处警告）\n"),
                       catalog_nmatters(cat), catalog_nbundles(cat), catalog_nfields(cat),
                       catalog_nmaterials(cat), catalog_ndivisions(cat), cal_count(catalog_calendar(cat)), nwarn);
        catalog_free(cat);
        return 0;
}

/* ---- show ----------------------------------------------------------------- */

static void print_levels(unsigned mask)
{
        bool first = true;

        for (int l = LEVEL_VILLAGE; l >= LEVEL_COUNTY; l--)
                if (mask & (1u << l)) {
                        printf("%s%s", first ? "" : ", ", cli_zh() ? cat_level_name_zh(l) : cat_level_name(l));
                        first = false;
                }
}

static void print_item(const struct cat_item *it, const char *num)
{
        const struct cat_field *f = it->field;
        bool req = false;

        for (size_t d = 0; d < it->ndefs; d++)
                req = req || it->defs[d]->required;
        printf("  %-6s %-18s %-15s %s%s", num, f->name, ftype_name(f->type), cli_zh() ? f->label_zh : f->label_en,
               req ? cli_msg("  [required]", "  【必填】") : "");
        if (f->type == FT_BEGIN_REPEAT)
                printf(cli_msg("  (%d to %d rows)", "（%d 至 %d 行）"), f->min_rows, f->max_rows);
        putchar('\n');
        if (f->hint_zh)
                printf("         %s %s\n", cli_msg("hint:", "提示："), f->hint_zh);
        if (f->choices) {
                printf("         %s", cli_msg("choices:", "选项："));
                for (size_t k = 0; k < f->choices->nitems; k++)
                        printf(" %s=%s", f->choices->items[k].value,
                               cli_zh() ? f->choices->items[k].label_zh : f->choices->items[k].label_en);
                putchar('\n');
        }
        for (size_t d = 0; d < it->ndefs; d++) {
                const struct cat_field *x = it->defs[d];
                if (x->relevant_src && !SAID_BEFORE(it->defs, d, relevant_src))
                        printf("         %s %s\n", cli_msg("asked when:", "何时填写："), x->relevant_src);
                if (x->constraint_src && !(SAID_BEFORE(it->defs, d, constraint_src) &&
                                           (!x->constraint_msg_zh || SAID_BEFORE(it->defs, d, constraint_msg_zh))))
                        printf("         %s %s%s%s\n", cli_msg("rule:", "规则："), x->constraint_src,
                               x->constraint_msg_zh ? "  — " : "", x->constraint_msg_zh ? x->constraint_msg_zh : "");
        }
        for (size_t k = 0; k < it->nchildren; k++) {
                char sub[32];
                snprintf(sub, sizeof sub, "%s%zu.", num, k + 1);
                print_item(&it->children[k], sub);
        }
}

static int run_show(int argc, char **argv)
{
        struct opts o;
        catalog *cat;
        int i = sound_operands(argc, argv, &o, false, 2, "usage: daiban catalog show DIR CODE [--json]",
                               "用法：daiban catalog show DIR CODE [--json]", &cat);
        const struct cat_form *form;

        if (i < 0)
                return -i;
        form = find_form(cat, argv[i], argv[i + 1]);
        if (!form) {
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        if (o.json) {
                json_t *j = catalog_form_json(form, NULL, 0);
                catalog_free(cat);
                return print_json(j);
        }

        printf("%s  %s\n", form->code, cli_zh() ? form->name_zh : form->name_en);
        for (size_t k = 0; k < form->nmatters; k++) {
                const struct cat_matter *m = form->matters[k];
                if (form->is_bundle)
                        printf("  %s %s  %s\n", cli_msg("matter", "事项"), m->code, cli_zh() ? m->name_zh : m->name_en);
                printf("  %s %s · %s %d · %s %s · %s ", cli_msg("department", "部门"), m->department,
                       cli_msg("time limit (working days)", "承诺时限(工作日)"), m->time_limit_days,
                       cli_msg("fee", "收费"), m->fee, cli_msg("accepted at", "受理"));
                print_levels(m->accept_at);
                if (m->review_at)
                        printf(" · %s %s", cli_msg("reviewed at", "初审"),
                               cli_zh() ? cat_level_name_zh(m->review_at) : cat_level_name(m->review_at));
                printf(" · %s %s\n", cli_msg("decided at", "决定"),
                       cli_zh() ? cat_level_name_zh(m->decide_at) : cat_level_name(m->decide_at));
        }
        printf("\n%s\n", cli_msg("Form:", "表单："));
        for (size_t k = 0; k < form->nitems; k++) {
                char num[32];
                snprintf(num, sizeof num, "%zu.", k + 1);
                print_item(&form->items[k], num);
        }
        printf("\n%s\n", cli_msg("Materials:", "材料："));
        for (size_t k = 0; k < form->nmaterials; k++) {
                const struct cat_form_material *fm = &form->materials[k];
                printf("  %2zu. %-7s %s  %s ×%d%s", k + 1, fm->material->code,
                       cli_zh() ? fm->material->name_zh : fm->material->name_en,
                       cli_zh() ? cat_mkind_name_zh(fm->kind) : cat_mkind_name(fm->kind), fm->copies,
                       fm->required ? cli_msg("  [required]", "  【必交】") : cli_msg("  [optional]", "  【选交】"));
                if (fm->deficiency_ok)
                        printf(cli_msg("  deficiency allowed: within %d working days", "  可容缺：%d 个工作日内补交"),
                               fm->deficiency_days);
                putchar('\n');
                for (size_t d = 0; d < fm->ndefs; d++) {
                        if (fm->defs[d]->relevant_src && !SAID_BEFORE(fm->defs, d, relevant_src))
                                printf("         %s %s\n", cli_msg("asked when:", "何时提交："), fm->defs[d]->relevant_src);
                        if (fm->defs[d]->note_zh && !SAID_BEFORE(fm->defs, d, note_zh))
                                printf("         %s %s\n", cli_msg("note:", "说明："), fm->defs[d]->note_zh);
                }
        }
        catalog_free(cat);
        return 0;
}

/* ---- accept ---------------------------------------------------------------- */

static json_t *who_json(const struct cat_division *d)
{
        return d ? json_pack("{s:s,s:s}", "code", d->code, "name", d->name) : json_null();
}

static int run_accept(int argc, char **argv)
{
        struct opts o;
        catalog *cat;
        int i = sound_operands(argc, argv, &o, false, 2, "usage: daiban catalog accept DIR NODE_CODE [--json]",
                               "用法：daiban catalog accept DIR NODE_CODE [--json]", &cat);
        const struct cat_division *div;

        if (i < 0)
                return -i;
        div = catalog_find_division(cat, argv[i + 1]);
        if (!div) {
                cli_error(cli_msg("no division with code '%s' in the catalogue (divisions.csv)",
                                  "目录清单的区划表（divisions.csv）中没有代码“%s”"), argv[i + 1]);
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        json_t *jm = json_array(), *jb = json_array();
        if (!o.json)
                printf("%s %s (%s)\n%s\n", div->code, div->name,
                       cli_zh() ? cat_level_name_zh(div->level) : cat_level_name(div->level),
                       cli_msg("May accept:", "可受理事项："));
        size_t nm = 0, nb = 0;
        for (size_t k = 0; k < catalog_nmatters(cat); k++) {
                const struct cat_matter *m = catalog_matter(cat, k);
                if (!catalog_may_accept(m, div))
                        continue;
                const struct cat_division *rev = m->review_at ? catalog_division_at(div, m->review_at) : NULL;
                const struct cat_division *dec = catalog_division_at(div, m->decide_at);
                nm++;
                if (o.json) {
                        json_array_append_new(jm, json_pack("{s:s,s:s,s:s,s:i,s:s?,s:o,s:s,s:o}", "code", m->code,
                                                            "name_zh", m->name_zh, "name_en", m->name_en,
                                                            "time_limit_days", m->time_limit_days, "review_at",
                                                            m->review_at ? cat_level_name(m->review_at) : NULL,
                                                            "reviewer", who_json(rev), "decide_at",
                                                            cat_level_name(m->decide_at), "decider", who_json(dec)));
                        continue;
                }
                printf("  %-13s %s\n", m->code, cli_zh() ? m->name_zh : m->name_en);
                printf("                %s %d", cli_msg("time limit (working days)", "承诺时限(工作日)"),
                       m->time_limit_days);
                if (rev)
                        printf(" · %s %s %s", cli_msg("reviewed by", "初审"), rev->name, rev->code);
                if (dec)
                        printf(" · %s %s %s", cli_msg("decided by", "决定"), dec->name, dec->code);
                putchar('\n');
        }
        if (!o.json)
                printf("%s\n", cli_msg("Bundles:", "一件事："));
        for (size_t k = 0; k < catalog_nbundles(cat); k++) {
                const struct cat_bundle *b = catalog_bundle(cat, k);
                if (!catalog_bundle_may_accept(b, div))
                        continue;
                nb++;
                if (o.json) {
                        json_t *ms = json_array();
                        for (size_t x = 0; x < b->nmatters; x++)
                                json_array_append_new(ms, json_string(b->matters[x]->code));
                        json_array_append_new(jb, json_pack("{s:s,s:s,s:s,s:o}", "code", b->code, "name_zh",
                                                            b->name_zh, "name_en", b->name_en, "matters", ms));
                        continue;
                }
                printf("  %-13s %s (", b->code, cli_zh() ? b->name_zh : b->name_en);
                for (size_t x = 0; x < b->nmatters; x++)
                        printf("%s%s", x ? ", " : "", b->matters[x]->code);
                printf(")\n");
        }
        if (o.json) {
                json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:o}", "node", div->code, "name", div->name, "level",
                                      cat_level_name(div->level), "matters", jm, "bundles", jb);
                catalog_free(cat);
                return print_json(j);
        }
        json_decref(jm);
        json_decref(jb);
        printf(cli_msg("%zu matters, %zu bundles\n", "共 %zu 个事项，%zu 个一件事\n"), nm, nb);
        catalog_free(cat);
        return 0;
}

/* ---- validate ------------------------------------------------------------- */

/* Read an application file with a hard size cap. NULL after printing why. */
static json_t *load_app_json(const char *path)
{
        struct stat st;
        json_error_t jerr;
        json_t *j;

        if (stat(path, &st) < 0) {
                cli_error(cli_msg("cannot read '%s': %s", "无法读取“%s”：%s"), path, strerror(errno));
                return NULL;
        }
        if (st.st_size > (off_t)APP_JSON_MAX) {
                cli_error(cli_msg("'%s' is larger than %u KiB; an application is never that large",
                                  "“%s”超过 %u KiB，申请数据不应这么大"), path, APP_JSON_MAX >> 10);
                return NULL;
        }
        j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                fprintf(stderr, "%s:%d:%d: %s: %s\n", path, jerr.line, jerr.column, cli_msg("error", "错误"),
                        jerr.text);
                cli_error(cli_msg("'%s' is not valid JSON", "“%s”不是有效的 JSON"), path);
        }
        return j;
}

static int run_validate(int argc, char **argv)
{
        struct opts o;
        catalog *cat;
        int i = sound_operands(argc, argv, &o, true, 3,
                               "usage: daiban catalog validate DIR CODE FILE.json [--json] [--today YYYY-MM-DD]",
                               "用法：daiban catalog validate DIR CODE FILE.json [--json] [--today YYYY-MM-DD]", &cat);
        struct form_problems probs;
        const struct cat_form *form;
        json_t *data;
        bool *asked;
        int rc;

        if (i < 0)
                return -i;
        form = find_form(cat, argv[i], argv[i + 1]);
        if (!form) {
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        data = load_app_json(argv[i + 2]);
        if (!data) {
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        form_problems_init(&probs);
        if (form_validate(form, data, o.today, &probs, NULL) < 0) {
                cli_error("out of memory");
                rc = EXIT_FAILURE;
                goto out;
        }
        asked = calloc(form->nmaterials + 1, sizeof *asked);
        if (!asked) {
                rc = EXIT_FAILURE;
                goto out;
        }
        form_materials_asked(form, data, o.today, asked);
        rc = probs.n ? EXIT_REFUSED : 0;
        if (o.json) {
                json_t *jp = json_array(), *jm = json_array();
                char day[11];
                cal_date_format(o.today, day);
                for (size_t k = 0; k < probs.n; k++)
                        json_array_append_new(jp, json_pack("{s:s,s:s,s:s,s:s}", "path", probs.v[k].path, "code",
                                                            probs.v[k].code, "message_zh", probs.v[k].msg_zh,
                                                            "message_en", probs.v[k].msg_en));
                for (size_t k = 0; k < form->nmaterials; k++)
                        if (asked[k])
                                json_array_append_new(jm, catalog_material_json(&form->materials[k], catalog_calendar(cat),
                                                                                o.today));
                print_json(json_pack("{s:s,s:s,s:b,s:o,s:o}", "code", form->code, "today", day, "valid",
                                     probs.n == 0, "problems", jp, "materials", jm));
        } else if (probs.n) {
                printf(cli_msg("%s: %zu problems\n", "%s：共 %zu 处问题\n"), form->code, probs.n);
                for (size_t k = 0; k < probs.n; k++)
                        printf("  %-28s %-18s %s\n", probs.v[k].path[0] ? probs.v[k].path : "(application)",
                               probs.v[k].code, cli_zh() ? probs.v[k].msg_zh : probs.v[k].msg_en);
        } else {
                printf(cli_msg("%s: valid\n", "%s：填写无误\n"), form->code);
                printf("%s\n", cli_msg("Materials to check:", "需核验的材料："));
                for (size_t k = 0; k < form->nmaterials; k++)
                        if (asked[k])
                                printf("  %-7s %s %s ×%d\n", form->materials[k].material->code,
                                       cli_zh() ? form->materials[k].material->name_zh
                                                : form->materials[k].material->name_en,
                                       cli_zh() ? cat_mkind_name_zh(form->materials[k].kind)
                                                : cat_mkind_name(form->materials[k].kind),
                                       form->materials[k].copies);
        }
        free(asked);
out:
        form_problems_finish(&probs);
        json_decref(data);
        catalog_free(cat);
        return rc;
}

/* ---- due -------------------------------------------------------------------- */

static int run_due(int argc, char **argv)
{
        struct opts o;
        int i = operands(argc, argv, &o, false, 3, "usage: daiban catalog due DIR YYYY-MM-DD N",
                         "用法：daiban catalog due DIR YYYY-MM-DD N");
        int32_t from, due;
        catalog *cat;
        char buf[11];
        char *end;
        long n;

        if (i < 0)
                return EXIT_USAGE;
        if (cal_date_parse(argv[i + 1], &from) < 0) {
                cli_error(cli_msg("'%s' is not a date (YYYY-MM-DD)", "“%s”不是有效日期（YYYY-MM-DD）"), argv[i + 1]);
                return EXIT_USAGE;
        }
        errno = 0;
        n = strtol(argv[i + 2], &end, 10);
        if (errno || *end || end == argv[i + 2] || n < 0 || n > 3650) {
                cli_error(cli_msg("'%s' is not a number of working days (0 to 3650)",
                                  "“%s”不是有效的工作日天数（0 至 3650）"), argv[i + 2]);
                return EXIT_USAGE;
        }
        cat = load_sound(argv[i]);
        if (!cat)
                return EXIT_REFUSED;
        if (cal_add_workdays(catalog_calendar(cat), from, (int)n, &due) < 0) {
                cli_error("%s", cli_msg("the due date is out of range", "期限超出可计算范围"));
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        cal_date_format(due, buf);
        if (o.json) {
                char fb[11];
                cal_date_format(from, fb);
                print_json(json_pack("{s:s,s:i,s:s,s:i}", "from", fb, "working_days", (int)n, "due", buf,
                                     "weekday", cal_weekday(due)));
        } else {
                puts(buf);
        }
        {
                int y;
                cal_date_to_ymd(due, &y, NULL, NULL);
                if (!cal_covers_year(catalog_calendar(cat), y))
                        fprintf(stderr, cli_msg("warning: the calendar has no holidays for %d; weekends only were counted\n",
                                                "警告：日历中没有 %d 年的节假日安排，只按周末计算\n"), y);
        }
        catalog_free(cat);
        return 0;
}

/* ---- install ---------------------------------------------------------------- */

static int run_install(int argc, char **argv)
{
        static const struct option lo[] = { { "home", required_argument, NULL, 'H' }, { NULL, 0, NULL, 0 } };
        const char *homeopt = NULL;
        struct home h;
        catalog *cat = NULL;
        char version[41];
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c != 'H') {
                        cli_error("%s", cli_msg("usage: daiban catalog install DIR [--home DIR]",
                                                "用法：daiban catalog install DIR [--home DIR]"));
                        return EXIT_USAGE;
                }
                homeopt = optarg;
        }
        if (argc - optind != 1) {
                cli_error("%s", cli_msg("usage: daiban catalog install DIR [--home DIR]",
                                        "用法：daiban catalog install DIR [--home DIR]"));
                return EXIT_USAGE;
        }
        r = catalog_load(argv[optind], &cat);
        if (r < 0 || catalog_nerrors(cat)) {
                cli_error(cli_msg("the catalogue %s cannot be installed; run 'daiban catalog check %s'",
                                  "目录清单 %s 无法安装；请运行“daiban catalog check %s”"), argv[optind], argv[optind]);
                catalog_free(cat);
                return EXIT_REFUSED;
        }
        if ((r = home_open(home_path(homeopt), &h))) {
                catalog_free(cat);
                return r;
        }
        if ((r = home_county_restoring(&h))) {
                ;
        } else if (!catalog_find_division(cat, h.node)) {
                cli_error(cli_msg("this node (%s) is not in the new catalogue's divisions; not installed",
                                  "本站点（%s）不在新目录清单的区划中；未安装"), h.node);
                r = EXIT_REFUSED;
        } else if (!(r = home_install_catalog(h.dir, argv[optind], h.st, version))) {
                printf(cli_msg("catalogue version %.12s installed and current (was %.12s); applications keep the version"
                               " they were captured under\n",
                               "目录清单版本 %.12s 已安装并启用（原为 %.12s）；已有申请仍按受理时的版本办理\n"),
                       version, h.catalog_version);
        }
        home_close(&h);
        catalog_free(cat);
        return r;
}

static const struct cli_command catalog_commands[] = {
        { "install", "Install a catalogue version in this node's home",
          "Usage: daiban catalog install DIR [--home DIR]\n\n"
          "Check the catalogue folder DIR and install it as a new version of this\n"
          "node's catalogue (until the county publishes catalogues by sync). New\n"
          "applications use it; every application keeps the version it was\n"
          "captured under for its whole life.\n", run_install },
        { "check", "Check a catalogue folder and report every problem",
          "Usage: daiban catalog check DIR [--json]\n\n"
          "Read the eight sheets of the catalogue folder DIR and check them.\n"
          "Prints a one-line summary and exits 0 when the catalogue is sound;\n"
          "otherwise prints every problem on stderr as FILE:LINE:COL: message\n"
          "and exits 1. Warnings do not make the catalogue unusable.\n", run_check },
        { "show", "Show the form of a matter or bundle as an agent walks it",
          "Usage: daiban catalog show DIR CODE [--json]\n\n"
          "Print the fields (in order, with choices, rules and repeats) and the\n"
          "materials of matter or bundle CODE. A bundle shows its merged form.\n", run_show },
        { "accept", "List the matters and bundles a node may accept",
          "Usage: daiban catalog accept DIR NODE_CODE [--json]\n\n"
          "List what the node with division code NODE_CODE may accept, with who\n"
          "reviews and who decides each matter.\n", run_accept },
        { "validate", "Validate application data (JSON) against a form",
          "Usage: daiban catalog validate DIR CODE FILE.json [--json] [--today YYYY-MM-DD]\n\n"
          "Check the application data in FILE.json (an object of field values;\n"
          "repeats as arrays of objects) against matter or bundle CODE. Exits 0\n"
          "when valid, 1 with every problem listed otherwise. --today fixes the\n"
          "date used by today(), age() and ID birth dates.\n", run_validate },
        { "due", "Compute the due date N working days after a date",
          "Usage: daiban catalog due DIR YYYY-MM-DD N [--json]\n\n"
          "Print the date on which N working days counted from the day after\n"
          "YYYY-MM-DD end, by the catalogue's working-day calendar.\n", run_due },
        { NULL, NULL, NULL, NULL },
};

int cmd_catalog(int argc, char **argv)
{
        return cli_dispatch("daiban catalog", "The county's delegated matter list (catalogue)", catalog_commands,
                            argc - 1, argv + 1);
}
