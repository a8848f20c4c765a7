/* The application commands (`daiban app ...`): new, edit, material,
 * submit, withdraw, deliver, rate, and the reading ones: show, list,
 * log, receipt, notice. Each parses its options, calls the core or the
 * read model, and prints. Every command that writes does it as one
 * transaction: a refusal writes nothing. See docs/lifecycle.md. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "agent/cmd-app-int.h"
#include "agent/join.h"
#include "agent/station.h"
#include "sync/durable.h"
#include "sync/fold.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* ---- application data ------------------------------------------------------ */

#define APP_DATA_MAX (4u * 1024u * 1024u)      /* an application's JSON file */

/* A JSON file given to a command (--data, --materials): NULL with the
 * reason printed, file, line and column where they apply. */
static json_t *load_json_file(const char *path, bool object)
{
        json_error_t e;
        struct stat sb;
        json_t *j;

        /* refuse a huge file before reading it */
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > APP_DATA_MAX) {
                cli_error(cli_msg("%s: error: %.1f MiB is not an application's data (at most %u MiB)",
                                  "%s：错误：%.1f MiB 不像是一份申请数据（最多 %u MiB）"),
                          path, (double)sb.st_size / 1048576.0, APP_DATA_MAX >> 20);
                return NULL;
        }
        j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
                if (e.line < 1)         /* not opened or not read: no position */
                        cli_error(cli_msg("%s: error: %s", "%s：错误：%s"), path, e.text);
                else
                        cli_error(cli_msg("%s:%d:%d: error: %s", "%s:%d:%d: 错误：%s"), path, e.line, e.column, e.text);
                return NULL;
        }
        if (object && !json_is_object(j)) {
                cli_error(cli_msg("%s: error: the application data must be a JSON object ({...})",
                                  "%s：错误：申请数据应为一个 JSON 对象（{…}）"), path);
                json_decref(j);
                return NULL;
        }
        return j;
}

/* A draft saved with things still to do: list them (stderr). */
static void print_still_to_do(const struct core_result *res)
{
        const struct form_problems *p = &res->problems;

        if (!p->n || cli_json_errors())
                return;
        fprintf(stderr, cli_msg("still to complete before submitting (%zu):\n", "提交前还需完善（%zu 项）：\n"), p->n);
        cmd_print_problems(p);
}

/* ---- app new / edit / material / submit ---------------------------------------- */

static const char usage_app[] =
        "Usage: daiban app COMMAND ...\n"
        "\n"
        "  new CODE --data FILE.json [--materials FILE.json] [--submit]\n"
        "                                         start an application (or a bundle) and print its id;\n"
        "                                         --materials: [{\"material\",\"state\",\"promise\"}] in the same step\n"
        "  edit ID --data FILE.json               replace a draft's or returned application's data\n"
        "  material ID MATERIAL provided|missing|deficient [--file PATH] [--promise YYYY-MM-DD]\n"
        "  submit ID                              accept it: receipt number, due date (resubmits a returned one)\n"
        "  withdraw ID --reason TEXT              the applicant withdraws\n"
        "  deliver ID                             the decision was handed to the applicant\n"
        "  rate ID --level 1-5 [--comment TEXT]   the applicant's rating (5 = very satisfied)\n"
        "  show ID [--json]                       one application\n"
        "  list [--status S] [--overdue] [--limit N] [--after CURSOR] [--json]\n"
        "  receipt ID [--html]                    the acceptance receipt (受理回执)\n"
        "  notice ID [--html]                     the one-time notification (一次性告知单)\n"
        "  log ID                                 the audit trail: every event, time, node and operator\n"
        "\n"
        "ID is an application id, a receipt number, or a bundle's id or receipt.\n"
        "Writing commands need --operator ID (or $DAIBAN_OPERATOR). All take\n"
        "--home DIR; --today YYYY-MM-DD (or $DAIBAN_TODAY) fixes the date.\n"
        "Exit codes: 0 done, 1 refused by the rules (nothing was written), 2 usage.\n";

static int app_new(int argc, char **argv)
{
        struct ctx c = { 0 };
        json_t *data = NULL, *mats = NULL;
        int r;

        r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_SUBMIT | O_TODAY | O_NODE | O_MATERIALS | O_REQUEST,
                  1, "daiban app new CODE --data FILE.json [--materials FILE.json] [--submit] [--request KEY]", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app new needs --data FILE.json", "app new 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if ((r = cmd_ctx_open(&c)))
                goto out;
        if (!(data = load_json_file(c.o.data, true)) || (c.o.materials && !(mats = load_json_file(c.o.materials, false)))) {
                r = EXIT_REFUSED;
                goto out;
        }
        struct core_new in = { .code = c.o.pos[0], .data = data, .materials = mats, .request = c.o.request,
                               .submit = (c.o.given & O_SUBMIT) != 0 };
        if (core_app_new(&c.core, &in, &c.res) != CORE_OK) {
                r = cmd_print_result(&c.res);
                if (in.submit && c.res.at_acceptance)
                        cli_error("%s", cli_msg("nothing was saved; without --submit the draft is kept and can be completed",
                                                "未保存任何内容；不加 --submit 可先保存草稿再补全"));
                goto out;
        }
        if (c.res.repeated && !cli_json_errors())
                fprintf(stderr, "%s\n", cli_msg("request already done; nothing new was created", "该请求已完成；未新建办件"));
        print_still_to_do(&c.res);
        printf("%s\n", c.res.id);
        if (in.submit && !c.res.repeated)
                printf(cli_msg("accepted: receipt %s\n", "已受理，受理编号 %s\n"), c.res.receipt);
        r = 0;
out:
        json_decref(data);
        json_decref(mats);
        cmd_ctx_close(&c);
        return r;
}

static int app_edit(int argc, char **argv)
{
        struct ctx c = { 0 };
        json_t *data = NULL;
        int r;

        r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_TODAY, 1, "daiban app edit ID --data FILE.json", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app edit needs --data FILE.json", "app edit 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if ((r = cmd_ctx_open(&c)))
                goto out;
        if (!(data = load_json_file(c.o.data, true))) {
                r = EXIT_REFUSED;
                goto out;
        }
        if (core_app_edit(&c.core, c.o.pos[0], data, &c.res) != CORE_OK) {
                r = cmd_print_result(&c.res);
                goto out;
        }
        print_still_to_do(&c.res);
        printf(cli_msg("%s: data saved\n", "%s：数据已保存\n"), c.o.pos[0]);
out:
        json_decref(data);
        cmd_ctx_close(&c);
        return r;
}

/* A scan named by --file: its bytes, read whole after a size check.
 * NULL with the reason printed. */
static void *read_scan(const char *path, size_t *len)
{
        struct stat sb;
        size_t max = home_max_file_bytes();
        char *buf;
        FILE *f;

        if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                cli_error(cli_msg("--file %s: not a readable file", "--file %s：不是可读取的文件"), path);
                return NULL;
        }
        if ((size_t)sb.st_size > max) {
                cli_error(cli_msg("--file %s is %.2f MiB; scanned materials may be at most %.2f MiB "
                                  "(scan at 150-200 dpi in grey, or as JPEG)",
                                  "--file %s 有 %.2f MiB；扫描件最大 %.2f MiB（请用 150-200 dpi 灰度或 JPEG 扫描）"),
                          path, (double)sb.st_size / 1048576.0, (double)max / 1048576.0);
                return NULL;
        }
        buf = malloc((size_t)sb.st_size + 1);
        f = fopen(path, "rb");
        if (!buf || !f || fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
                cli_error(cli_msg("--file %s: cannot read it", "--file %s：无法读取"), path);
                free(buf);
                buf = NULL;
        }
        if (f)
                fclose(f);
        *len = (size_t)sb.st_size;
        return buf;
}

static int app_material(int argc, char **argv)
{
        struct ctx c = { 0 };
        void *scan = NULL;
        size_t len = 0;
        int r;

        r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_FILE | O_PROMISE | O_TODAY, 3,
                  "daiban app material ID MATERIAL provided|missing|deficient [--file PATH] [--promise YYYY-MM-DD]", &c.o);
        if (r)
                return r;
        struct core_material in = { .material = c.o.pos[1], .state = c.o.pos[2], .promise = c.o.promise };
        int32_t unused;
        /* the arguments first: a wrong one is a usage error before
         * anything is opened or read */
        core_result_init(&c.res);
        if (core_material_check(&in, c.o.file != NULL, &unused, &c.res)) {
                r = cmd_print_result(&c.res);
                core_result_finish(&c.res);
                return r;
        }
        core_result_finish(&c.res);
        if ((r = cmd_ctx_open(&c)))
                goto out;
        if (c.o.file) {
                if (!(scan = read_scan(c.o.file, &len))) {
                        r = EXIT_REFUSED;
                        goto out;
                }
                in.scan = scan;
                in.scan_len = len;
        }
        if (core_app_material(&c.core, c.o.pos[0], &in, &c.res) != CORE_OK) {
                r = cmd_print_result(&c.res);
                goto out;
        }
        printf(cli_msg("%s: %s %s%s%s\n", "%s：%s %s%s%s\n"), c.o.pos[0], c.o.pos[1], c.o.pos[2], c.res.blob[0] ? " " : "",
               c.res.blob);
out:
        free(scan);
        cmd_ctx_close(&c);
        return r;
}

static int app_submit(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app submit ID", &c.o);

        if (r)
                return r;
        if (!(r = cmd_ctx_open(&c))) {
                if (core_app_submit(&c.core, c.o.pos[0], &c.res) != CORE_OK)
                        r = cmd_print_result(&c.res);
                else if (c.res.resubmitted)
                        printf(cli_msg("%s resubmitted\n", "%s 已重新提交\n"), c.o.pos[0]);
                else
                        printf(cli_msg("accepted: receipt %s\n", "已受理，受理编号 %s\n"), c.res.receipt);
        }
        cmd_ctx_close(&c);
        return r;
}

/* ---- one-event commands: withdraw, deliver, rate -------------------------------- */

static int app_withdraw(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_TODAY, 1, "daiban app withdraw ID --reason TEXT", &c.o);

        return r ? r : cmd_step(&c, &(struct core_step){ .kind = CORE_WITHDRAW, .reason = c.o.reason });
}

static int app_deliver(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app deliver ID", &c.o);

        return r ? r : cmd_step(&c, &(struct core_step){ .kind = CORE_DELIVER });
}

static int app_rate(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_LEVEL | O_COMMENT | O_TODAY, 1,
                      "daiban app rate ID --level 1-5 [--comment TEXT]", &c.o);

        return r ? r : cmd_step(&c, &(struct core_step){ .kind = CORE_RATE, .level = c.o.level, .comment = c.o.comment });
}

/* ---- reading: show, list, log, receipt, notice, status -------------------------- */

/* One application as app show gives it: a JSON object (returned, owned by
 * the caller) and, unless as_json, its text on stdout. */
static json_t *show_one(struct ctx *c, const struct app_row *r, bool as_json)
{
        char a[11], b[11];
        json_t *j = app_detail_json(&c->h, c->today, r);
        json_t *mats = json_object_get(j, "materials"), *confs = json_object_get(j, "conflict_list"), *m;
        size_t i;

        if (!as_json) {
                printf("%s  %s %s\n", r->id, r->matter, r->matter_name);
                printf(cli_msg("  status %s · held by %s", "  状态 %s · 当前办理 %s"), cmd_status_zh(r->status), r->holder);
                if (json_is_true(json_object_get(j, "overdue")))
                        printf("%s", cli_msg(" · OVERDUE", " · 已超期"));
                putchar('\n');
                if (r->receipt[0])
                        printf(cli_msg("  receipt %s · accepted %s · due %s (%lld working days)\n",
                                       "  受理编号 %s · 受理 %s · 办结期限 %s（%lld 个工作日）\n"),
                               r->receipt, app_date_str(r->accepted_on, a), app_date_str(r->due, b), r->time_limit);
                if (r->applicant[0])
                        printf(cli_msg("  applicant %s %s\n", "  申请人 %s %s\n"), r->applicant, r->applicant_id);
                if (r->bundle[0])
                        printf(cli_msg("  bundle %s (%s) %s\n", "  一件事 %s（%s）%s\n"), r->bundle, r->bundle_code,
                               r->bundle_receipt);
                if (r->catalog[0])
                        printf(cli_msg("  catalogue version %.12s%s\n", "  目录清单版本 %.12s%s\n"), r->catalog,
                               home_catalog_for(&c->h, r->catalog) ? ""
                                                                  : cli_msg(" (not received yet: waiting for it)",
                                                                            "（尚未收到，等待中）"));
                if (r->result[0] || r->reason[0])
                        printf(cli_msg("  result %s %s\n", "  结果 %s %s\n"), r->result, r->reason);
                if (r->rating >= 0)
                        printf(cli_msg("  rating %lld/5 %s\n", "  评价 %lld/5 %s\n"), r->rating, r->rating_comment);
                json_array_foreach(mats, i, m) {
                        printf(cli_msg("  material %s: %s", "  材料 %s：%s"), json_string_value(json_object_get(m, "material")),
                               json_string_value(json_object_get(m, "state")));
                        if (json_object_get(m, "promise"))
                                printf(cli_msg(" (promised by %s%s)", "（承诺 %s 前补交%s）"),
                                       json_string_value(json_object_get(m, "promise")),
                                       json_is_true(json_object_get(m, "promise_overdue")) ? cli_msg(", OVERDUE", "，已超期") : "");
                        putchar('\n');
                }
                json_array_foreach(confs, i, m)
                        printf(cli_msg("  CONFLICT: event %s/%lld %s: %s\n", "  冲突：事件 %s/%lld %s：%s\n"),
                               json_string_value(json_object_get(m, "node")),
                               (long long)json_integer_value(json_object_get(m, "seq")),
                               json_string_value(json_object_get(m, "type")), cmd_tr(json_string_value(json_object_get(m, "reason"))));
        }
        return j;
}

static int app_show(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = cmd_parse(argc, argv, O_HOME | O_JSON | O_TODAY, 1, "daiban app show ID [--json]", &c.o);
        bool as_json = c.o.given & O_JSON;

        /* ID is an application id or receipt, or a bundle's id or receipt:
         * a bundle shows each of its applications. */
        if (rc || (rc = cmd_ctx_open(&c)) || (rc = cmd_load_targets(&c, c.o.pos[0], &t, &n)))
                goto out;
        bool one = n == 1 && (!strcmp(t[0].id, c.o.pos[0]) || !strcmp(t[0].receipt, c.o.pos[0]));
        json_t *all = json_array();
        if (!one && !as_json)
                printf(cli_msg("bundle %s (%s) %s: %zu applications\n\n", "一件事 %s（%s）%s：%zu 件申请\n\n"), t[0].bundle,
                       t[0].bundle_code, t[0].bundle_receipt, n);
        for (size_t i = 0; i < n; i++) {
                if (!one && !as_json && i)
                        putchar('\n');
                json_array_append_new(all, show_one(&c, &t[i], as_json));
        }
        if (as_json) {
                json_t *j = one ? json_incref(json_array_get(all, 0))
                                : json_pack("{s:s,s:s,s:O}", "bundle", t[0].bundle, "bundle_code", t[0].bundle_code,
                                            "applications", all);
                if (!one && t[0].bundle_receipt[0])
                        json_object_set_new(j, "bundle_receipt", json_string(t[0].bundle_receipt));
                char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
                puts(s);
                free(s);
                json_decref(j);
        }
        json_decref(all);
out:
        app_rows_free(t, n);
        cmd_ctx_close(&c);
        return rc;
}

/* The list as it is read: JSON summaries (--json) or a line each,
 * printed only once the whole page is read (a failed read prints no
 * part of a list). */
struct list_out {
        struct ctx *c;
        json_t *arr;            /* --json */
        FILE *text;             /* else, on buf */
        char *buf;
        size_t len;
};

static int list_row(void *ud, const struct app_row *row)
{
        struct list_out *lo = ud;
        struct ctx *c = lo->c;
        char a[11];

        if (lo->arr) {
                json_t *j = app_summary_json(&c->h, c->today, row);
                json_object_set_new(j, "promise_overdue", json_boolean(row->promise_overdue));
                json_array_append_new(lo->arr, j);
        } else
                fprintf(lo->text, "%-20s %-18s %-12s %-10s %-10s %s%s%s\n", row->id, row->receipt[0] ? row->receipt : "-",
                        row->matter, cmd_status_zh(row->status), app_date_str(row->due, a), row->applicant,
                        row->due >= 0 && app_status_open(row->status) && cal_is_overdue((int32_t)row->due, c->today)
                                ? cli_msg("  OVERDUE", "  超期") : "",
                        row->promise_overdue ? cli_msg("  PROMISE OVERDUE", "  容缺逾期") : "");
        return 0;
}

static int app_list(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct readmodel_page page = { 0 };
        struct list_out lo = { .c = &c };
        int rc = cmd_parse(argc, argv, O_HOME | O_JSON | O_STATUS | O_OVERDUE | O_LIMIT | O_AFTER | O_TODAY, 0,
                       "daiban app list [--status S] [--overdue] [--limit N] [--after CURSOR] [--json]", &c.o);

        if (rc)
                return rc;
        if (!(c.o.given & O_LIMIT))
                c.o.limit = READMODEL_LIST_LIMIT;
        if (c.o.limit < 1 || c.o.limit > 10000) {
                cli_error("%s", cli_msg("--limit is 1 to 10000", "--limit 应为 1 至 10000"));
                return EXIT_USAGE;
        }
        if (c.o.status) {
                if (!app_status_known(c.o.status)) {
                        cli_error(cli_msg("--status %s: use draft, accepted, returned, passed, approved, rejected, "
                                          "delivered, rated or withdrawn",
                                          "--status %s：应为 draft、accepted、returned、passed、approved、rejected、"
                                          "delivered、rated 或 withdrawn"), c.o.status);
                        return EXIT_USAGE;
                }
        }
        if ((rc = cmd_ctx_open(&c)))
                goto out;
        struct readmodel_filter f = {
                .today = c.today, .status = c.o.status, .overdue = c.o.given & O_OVERDUE, .due_within = -1,
                .limit = c.o.limit, .after = c.o.after, .with_data = c.o.given & O_JSON,
        };
        if (c.o.given & O_JSON)
                lo.arr = json_array();
        else if (!(lo.text = open_memstream(&lo.buf, &lo.len))) {
                cli_error("%s", cli_msg("out of memory", "内存不足"));
                rc = EXIT_REFUSED;
                goto out;
        }
        int r = readmodel_app_list(c.h.st, &f, list_row, &lo, &page);
        if (lo.text && fclose(lo.text) != 0 && r == 0)
                r = -ENOMEM;
        if (r == -ENOMEM) {
                cli_error("%s", cli_msg("out of memory", "内存不足"));
                rc = EXIT_REFUSED;
                goto out;
        }
        if (r == -EINVAL) {
                cli_error("%s", cli_msg("--after takes the cursor printed by the previous page",
                                        "--after 应为上一页末尾给出的游标"));
                rc = EXIT_USAGE;
                goto out;
        }
        if (r < 0) {
                cli_error("%s", store_errmsg(c.h.st));
                rc = EXIT_REFUSED;
                goto out;
        }
        if (c.o.given & O_JSON) {
                json_t *pj = json_pack("{s:o,s:s?}", "applications", lo.arr, "next", page.next[0] ? page.next : NULL);
                char *s = json_dumps(pj, JSON_INDENT(1));
                lo.arr = NULL;
                puts(s);
                free(s);
                json_decref(pj);
        } else {
                fputs(lo.buf, stdout);
                if (page.next[0])
                        printf(cli_msg("more: --after %s\n", "下一页：--after %s\n"), page.next);
        }
out:
        json_decref(lo.arr);
        free(lo.buf);
        cmd_ctx_close(&c);
        return rc;
}

static int app_log(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = cmd_parse(argc, argv, O_HOME | O_JSON, 1, "daiban app log ID [--json]", &c.o);

        if (rc || (rc = cmd_ctx_open(&c)) || (rc = cmd_load_targets(&c, c.o.pos[0], &t, &n)))
                goto out;
        json_t *arr = readmodel_app_log(c.h.st, t, n);
        if (!arr) {
                cli_error(cli_msg("cannot read the store: %s", "无法读取数据库：%s"), store_errmsg(c.h.st));
                rc = EXIT_REFUSED;
                goto out;
        }
        if (c.o.given & O_JSON) {
                char *s = json_dumps(arr, JSON_INDENT(1));
                puts(s);
                free(s);
        } else {
                size_t i;
                json_t *e;
                json_array_foreach(arr, i, e) {
                        /* the screen shows the event without the form data
                         * (--json has everything) */
                        json_t *b = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
                        char *txt;
                        if (json_object_get(b, "data"))
                                json_object_set_new(b, "data", json_string("…"));
                        txt = b ? json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
                        printf("%s  %-12s %-5lld %-10s %-16s %s %s\n", json_string_value(json_object_get(e, "time")),
                               json_string_value(json_object_get(e, "node")),
                               (long long)json_integer_value(json_object_get(e, "seq")),
                               json_string_value(json_object_get(e, "operator")),
                               json_string_value(json_object_get(e, "type")),
                               json_string_value(json_object_get(e, "app")), txt ? txt : "");
                        free(txt);
                        json_decref(b);
                }
        }
        json_decref(arr);
out:
        app_rows_free(t, n);
        cmd_ctx_close(&c);
        return rc;
}

static int paperwork(int argc, char **argv, bool receipt)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = cmd_parse(argc, argv, O_HOME | O_HTML | O_TODAY, 1,
                       receipt ? "daiban app receipt ID [--html]" : "daiban app notice ID [--html]", &c.o);

        if (rc || (rc = cmd_ctx_open(&c)) || (rc = cmd_load_targets(&c, c.o.pos[0], &t, &n)))
                goto out;
        if (receipt && !t[0].receipt[0]) {
                cli_error(cli_msg("%s has not been accepted yet: no receipt (submit it with 'daiban app submit %s')",
                                  "%s 尚未受理，没有受理回执（请用“daiban app submit %s”提交）"), c.o.pos[0], c.o.pos[0]);
                rc = EXIT_REFUSED;
                goto out;
        }
        size_t len = 0;
        char *sheet = receipt ? paper_receipt(&c.h, t, n, c.o.given & O_HTML, &len)
                              : paper_notice(&c.h, t, n, c.today, c.o.given & O_HTML, &len);
        if (!sheet) {
                cli_error("%s", cli_msg("out of memory", "内存不足"));
                rc = EXIT_REFUSED;
                goto out;
        }
        fwrite(sheet, 1, len, stdout);
        free(sheet);
out:
        app_rows_free(t, n);
        cmd_ctx_close(&c);
        return rc;
}

static int app_receipt(int argc, char **argv)
{
        return paperwork(argc, argv, true);
}

static int app_notice(int argc, char **argv)
{
        return paperwork(argc, argv, false);
}

/* ---- dispatch ------------------------------------------------------------------ */

static const struct cli_command app_commands[] = {
        { "new", "Start an application or a bundle",
          "Usage: daiban app new CODE --data FILE.json [--submit]\n"
          "\nCODE is a matter or a bundle this node may accept (daiban catalog accept). A draft may be\n"
          "incomplete (what is still missing is listed) but not hold fields its form does not have.\n"
          "Prints the application id (a bundle's id for a bundle). --submit also accepts it at once,\n"
          "in the same transaction: if the acceptance is refused, nothing is saved (exit 1).\n", app_new },
        { "edit", "Replace the data of a draft or returned application", "Usage: daiban app edit ID --data FILE.json\n", app_edit },
        { "material", "Record a material: provided, missing or deficient (容缺)",
          "Usage: daiban app material ID MATERIAL provided|missing|deficient [--file PATH] [--promise YYYY-MM-DD]\n"
          "\n--file stores a scan content-addressed (deduplicated) in the home's git repository,\n"
          "at most 20 MiB ($DAIBAN_MAX_FILE_BYTES). --promise is the date the applicant promises\n"
          "a deficient material; by default the matter's limit in working days from acceptance.\n", app_material },
        { "submit", "Accept: receipt number and due date (or resubmit after a return)", "Usage: daiban app submit ID\n", app_submit },
        { "withdraw", "The applicant withdraws", "Usage: daiban app withdraw ID --reason TEXT\n", app_withdraw },
        { "deliver", "The decision was handed to the applicant", "Usage: daiban app deliver ID\n", app_deliver },
        { "rate", "The applicant's rating (好差评)", "Usage: daiban app rate ID --level 1-5 [--comment TEXT]\n", app_rate },
        { "show", "One application", "Usage: daiban app show ID [--json]\n", app_show },
        { "list", "Applications, filtered and paged",
          "Usage: daiban app list [--status S] [--overdue] [--limit N] [--after CURSOR] [--json]\n", app_list },
        { "receipt", "The acceptance receipt (受理回执)", "Usage: daiban app receipt ID [--html]\n", app_receipt },
        { "notice", "The one-time notification (一次性告知单)", "Usage: daiban app notice ID [--html]\n", app_notice },
        { "log", "The audit trail of an application", "Usage: daiban app log ID [--json]\n", app_log },
        { NULL, NULL, NULL, NULL },
};

int cmd_app(int argc, char **argv)
{
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                fputs(usage_app, stdout);
                return 0;
        }
        return cli_dispatch("daiban app", "Applications at this station", app_commands, argc - 1, argv + 1);
}
