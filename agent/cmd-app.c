/* The capture commands: init, operator, app ..., review, decide, status,
 * rebuild. Every command that writes does it as one transaction: check
 * the rules against the current state, append the events, fold the
 * applications they touch, commit (durable: WAL, synchronous=FULL), and
 * only then report success. A refusal writes nothing. See
 * docs/lifecycle.md and docs/store.md. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <termios.h>

#include "agent/app.h"
#include "agent/cli.h"
#include "agent/join.h"
#include "agent/station.h"
#include "sync/durable.h"
#include "sync/fold.h"

/* ---- options shared by the commands --------------------------------------- */

enum {
        O_HOME = 1 << 0, O_OPERATOR = 1 << 1, O_NODE = 1 << 2, O_TODAY = 1 << 3, O_JSON = 1 << 4,
        O_HTML = 1 << 5, O_DATA = 1 << 6, O_SUBMIT = 1 << 7, O_FILE = 1 << 8, O_PROMISE = 1 << 9,
        O_REASON = 1 << 10, O_LEVEL = 1 << 11, O_COMMENT = 1 << 12, O_STATUS = 1 << 13,
        O_OVERDUE = 1 << 14, O_LIMIT = 1 << 15, O_AFTER = 1 << 16, O_NAME = 1 << 17, O_ROLE = 1 << 18,
        O_CATALOG = 1 << 19, O_VERIFY = 1 << 20, O_MATERIALS = 1 << 21,
        O_REQUEST = 1 << 22, O_COUNTY_KEY = 1 << 23, O_REJOIN = 1 << 24, O_KEY = 1 << 25, O_FROM_HALL = 1 << 26, O_TOKEN = 1 << 27, O_PIN = 1 << 28,
};

struct opts {
        unsigned given;
        const char *home, *operator, *node, *today, *data, *file, *promise, *reason, *comment, *status,
                *after, *name, *role, *catalog, *materials, *request, *county_key, *key, *from_hall, *token, *pin;
        long level, limit;
        int npos;
        char **pos;
};

static const struct option longopts[] = {
        { "home", required_argument, NULL, 'H' },
        { "operator", required_argument, NULL, 'o' },
        { "node", required_argument, NULL, 'n' },
        { "today", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "html", no_argument, NULL, 'h' },
        { "data", required_argument, NULL, 'd' },
        { "submit", no_argument, NULL, 's' },
        { "file", required_argument, NULL, 'f' },
        { "promise", required_argument, NULL, 'p' },
        { "reason", required_argument, NULL, 'r' },
        { "level", required_argument, NULL, 'l' },
        { "comment", required_argument, NULL, 'c' },
        { "status", required_argument, NULL, 'S' },
        { "overdue", no_argument, NULL, 'O' },
        { "limit", required_argument, NULL, 'L' },
        { "after", required_argument, NULL, 'A' },
        { "name", required_argument, NULL, 'N' },
        { "role", required_argument, NULL, 'R' },
        { "catalog", required_argument, NULL, 'C' },
        { "verify", no_argument, NULL, 'V' },
        { "materials", required_argument, NULL, 'M' },
        { "request", required_argument, NULL, 'q' },
        { "county-key", required_argument, NULL, 'K' },
        { "rejoin", no_argument, NULL, 'J' },
        { "key", required_argument, NULL, 'k' },
        { "from-hall", required_argument, NULL, 'F' },
        { "token", required_argument, NULL, 'T' },
        { "pin", required_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
};

static unsigned flag_of(int c)
{
        switch (c) {
        case 'H': return O_HOME;
        case 'o': return O_OPERATOR;
        case 'n': return O_NODE;
        case 't': return O_TODAY;
        case 'j': return O_JSON;
        case 'h': return O_HTML;
        case 'd': return O_DATA;
        case 's': return O_SUBMIT;
        case 'f': return O_FILE;
        case 'p': return O_PROMISE;
        case 'r': return O_REASON;
        case 'l': return O_LEVEL;
        case 'c': return O_COMMENT;
        case 'S': return O_STATUS;
        case 'O': return O_OVERDUE;
        case 'L': return O_LIMIT;
        case 'A': return O_AFTER;
        case 'N': return O_NAME;
        case 'R': return O_ROLE;
        case 'C': return O_CATALOG;
        case 'V': return O_VERIFY;
        case 'M': return O_MATERIALS;
        case 'q': return O_REQUEST;
        case 'K': return O_COUNTY_KEY;
        case 'J': return O_REJOIN;
        case 'k': return O_KEY;
        case 'F': return O_FROM_HALL;
        case 'T': return O_TOKEN;
        case 'P': return O_PIN;
        }
        return 0;
}

/* Parse argv (argv[0] is the command name, `usage` its one-line usage)
 * allowing the options in `allowed` and exactly npos positionals (or at
 * least -npos when negative). Returns 0 or EXIT_USAGE. */
static int parse(int argc, char **argv, unsigned allowed, int npos, const char *usage, struct opts *o)
{
        int c;
        char *end;

        memset(o, 0, sizeof *o);
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                unsigned f = flag_of(c);
                if (!f || !(allowed & f)) {
                        const char *name = argv[optind - 1];
                        for (const struct option *lo = longopts; f && lo->name; lo++)
                                if (lo->val == c)
                                        name = lo->name;
                        cli_error(cli_msg("option '%s%s' is not valid here; usage: %s", "此处不能用选项“%s%s”；用法：%s"),
                                  f ? "--" : "", name, usage);
                        return EXIT_USAGE;
                }
                o->given |= f;
                switch (c) {
                case 'H': o->home = optarg; break;
                case 'o': o->operator = optarg; break;
                case 'n': o->node = optarg; break;
                case 't': o->today = optarg; break;
                case 'd': o->data = optarg; break;
                case 'f': o->file = optarg; break;
                case 'p': o->promise = optarg; break;
                case 'r': o->reason = optarg; break;
                case 'c': o->comment = optarg; break;
                case 'S': o->status = optarg; break;
                case 'A': o->after = optarg; break;
                case 'N': o->name = optarg; break;
                case 'R': o->role = optarg; break;
                case 'C': o->catalog = optarg; break;
                case 'M': o->materials = optarg; break;
                case 'q': o->request = optarg; break;
                case 'K': o->county_key = optarg; break;
                case 'k': o->key = optarg; break;
                case 'F': o->from_hall = optarg; break;
                case 'T': o->token = optarg; break;
                case 'P': o->pin = optarg; break;
                case 'l':
                case 'L':
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || *end || end == optarg) {
                                cli_error(cli_msg("%s needs a number, not '%s'", "%s 需要一个数字，而不是“%s”"),
                                          argv[optind - 1], optarg);
                                return EXIT_USAGE;
                        }
                        if (c == 'l')
                                o->level = v;
                        else
                                o->limit = v;
                        break;
                default:
                        break;
                }
        }
        o->pos = argv + optind;
        o->npos = argc - optind;
        if (npos >= 0 ? o->npos != npos : o->npos < -npos) {
                cli_error(cli_msg("usage: %s", "用法：%s"), usage);
                return EXIT_USAGE;
        }
        if (!o->operator)
                o->operator = getenv("DAIBAN_OPERATOR");
        return 0;
}

/* ---- the context of a writing command -------------------------------------- */

struct ctx {
        struct home h;
        struct opts o;
        const char *node;       /* acting node */
        int32_t today;
        bool open;
};

static int ctx_open(struct ctx *c)
{
        bool bad;
        int r;

        c->today = home_today(c->o.today, &bad);
        if (bad) {
                cli_error(cli_msg("--today: '%s' is not a date (YYYY-MM-DD)", "--today：“%s”不是有效日期（YYYY-MM-DD）"),
                          c->o.today ? c->o.today : getenv("DAIBAN_TODAY"));
                return EXIT_USAGE;
        }
        r = home_open(home_path(c->o.home), &c->h);
        if (r)
                return r;
        c->open = true;
        c->node = c->h.node;
        if (c->o.node && strcmp(c->o.node, c->h.node) != 0) {
                /* A standalone home (a demo, a trial, training) may write the
                 * township's and the county's events as those nodes. A home
                 * that syncs must not: those nodes write their own events,
                 * and the same (node, seq) written twice would be refused as
                 * an equivocation everywhere. */
                char *remote = NULL;
                sqlite3_stmt *st;
                bool synced = store_meta_get(c->h.st, "remote.url", &remote) == 0 && remote;
                free(remote);
                if (!synced && sqlite3_prepare_v2(store_db(c->h.st), "SELECT 1 FROM feed_heads LIMIT 1", -1, &st,
                                                  NULL) == SQLITE_OK) {
                        synced = sqlite3_step(st) == SQLITE_ROW;
                        sqlite3_finalize(st);
                }
                if (synced) {
                        cli_error(cli_msg("--node %s: this home syncs with other nodes, so it writes only as itself (%s);"
                                          " review and decide on that node's own home",
                                          "--node %s：本节点与其他节点同步，只能以本节点（%s）身份写入；请在该节点上审核或决定"),
                                  c->o.node, c->h.node);
                        return EXIT_REFUSED;
                }
        }
        if (c->o.node) {
                const struct cat_division *d = catalog_find_division(c->h.cat, c->o.node);
                if (!d) {
                        cli_error(cli_msg("--node %s is not a division of the catalogue", "--node %s 不是目录清单中的区划"),
                                  c->o.node);
                        return EXIT_REFUSED;
                }
                c->node = c->o.node;
        }
        return 0;
}

static void ctx_close(struct ctx *c)
{
        if (c->open)
                home_close(&c->h);
}

static int need_operator(struct ctx *c)
{
        sqlite3_stmt *st;

        if (!c->o.operator || !*c->o.operator) {
                /* name the operators there are: "add one" is no answer when
                 * adding one is what is being done */
                char ids[256] = "";
                size_t n = 0;
                if (sqlite3_prepare_v2(store_db(c->h.st), "SELECT id FROM operators WHERE node = ? AND NOT disabled ORDER BY id LIMIT 8",
                                       -1, &st, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, c->h.node, -1, SQLITE_STATIC);
                        while (sqlite3_step(st) == SQLITE_ROW && n < sizeof ids - 40)
                                n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%s", n ? ", " : "",
                                                      (const char *)sqlite3_column_text(st, 0));
                        sqlite3_finalize(st);
                }
                if (ids[0])
                        cli_error(cli_msg("who is doing this? give --operator ID (or set DAIBAN_OPERATOR), one of the"
                                          " operators registered here: %s",
                                          "请用 --operator ID（或环境变量 DAIBAN_OPERATOR）说明经办人，须为本站已登记的经办人：%s"),
                                  ids);
                else
                        cli_error("%s", cli_msg("who is doing this? give --operator ID (or set DAIBAN_OPERATOR); "
                                                "add operators with 'daiban operator add ID --name NAME'",
                                                "请用 --operator ID（或环境变量 DAIBAN_OPERATOR）说明经办人；"
                                                "用“daiban operator add ID --name 姓名”添加经办人"));
                return EXIT_USAGE;
        }
        /* operators are registered per node: this home's */
        int state = home_operator_state(&c->h, c->o.operator);
        if (state == HOME_OP_DISABLED) {
                cli_error(cli_msg("operator '%s' is disabled here; 'daiban operator enable %s' by another operator"
                                  " undoes it",
                                  "经办人“%s”已停用；可由其他经办人用“daiban operator enable %s”恢复"),
                          c->o.operator, c->o.operator);
                return EXIT_REFUSED;
        }
        if (state != HOME_OP_ACTIVE) {
                cli_error(cli_msg("operator '%s' is not known here; add it with 'daiban operator add %s --name NAME'",
                                  "经办人“%s”未登记；请用“daiban operator add %s --name 姓名”添加"),
                          c->o.operator, c->o.operator);
                return EXIT_REFUSED;
        }
        return 0;
}

static int store_failed(struct ctx *c)
{
        int code = sqlite3_extended_errcode(store_db(c->h.st)) & 0xff;

        if (code == SQLITE_FULL)
                cli_error("%s", cli_msg("the disk is full: nothing was saved; free some space and run the command again",
                                        "磁盘已满：本次操作未保存；请清理磁盘空间后重新执行"));
        else if (code == SQLITE_IOERR)
                cli_error("%s", cli_msg("the disk reported an I/O error: nothing was saved; check the disk "
                                        "(and its cable) and run the command again",
                                        "磁盘读写出错：本次操作未保存；请检查硬盘（及连线）后重新执行"));
        else
                cli_error(cli_msg("the store refused the write, nothing was saved: %s",
                                  "数据库写入失败，未保存任何内容：%s"), store_errmsg(c->h.st));
        store_rollback(c->h.st);
        return EXIT_REFUSED;
}

static int begin(struct ctx *c)
{
        if (store_begin(c->h.st) < 0) {
                cli_error(cli_msg("cannot start a transaction: %s", "无法开始事务：%s"), store_errmsg(c->h.st));
                return EXIT_REFUSED;
        }
        if (store_writes_held(c->h.st)) {
                store_rollback(c->h.st);
                cli_error("%s", cli_msg("this home was restored from a backup (or made with --rejoin) and has not synced since: nothing was saved."
                                        " Run `daiban sync` first, so that this node goes on after what it sent before"
                                        " (a number used twice would be refused by every office)",
                                        "本站数据是从备份恢复（或用 --rejoin 重建）的，之后尚未同步：本次操作未保存。请先运行同步（daiban sync），"
                                        "使本站接着此前已发出的内容继续编号（同一序号使用两次会被各级拒收）"));
                return EXIT_REFUSED;
        }
        return 0;
}

/* Append one event and fold its application. */
static int emit(struct ctx *c, const char *type, const char *app, const char *part, json_t *body)
{
        const char *k;
        json_t *v;
        void *tmp;
        char *text;

        /* absent, not null: bodies stay small and canonical */
        json_object_foreach_safe(body, tmp, k, v)
                if (json_is_null(v))
                        json_object_del(body, k);
        text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
        struct event ev = { .node = c->node, .operator = c->o.operator, .type = type, .app = app, .part = part,
                            .body = text };
        int r;

        json_decref(body);
        if (!text)
                return -ENOMEM;
        r = store_append(c->h.st, &ev);
        free(text);
        if (r == 0 && app)
                r = fold_app(c->h.st, app);
        return r;
}

/* ---- reading applications ------------------------------------------------- */

void app_row_free(struct app_row *r)
{
        json_decref(r->data);
        r->data = NULL;
}

/* A column as text to show. Control characters (C0, DEL, and C1 as
 * UTF-8) become '?': an applicant's name or a reason written elsewhere
 * (another node's event) must not drive the agent's terminal. */
static void col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
        const char *s = (const char *)sqlite3_column_text(st, i);

        snprintf(dst, n, "%s", s ? s : "");
        cli_unctrl(dst);
}

static long long icol(sqlite3_stmt *st, int i)
{
        return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

void app_row_from(sqlite3_stmt *st, struct app_row *r)
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

int app_rows_load(store *s, const char *key, struct app_row **ret, size_t *n)
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
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct app_row *nv = realloc(v, (k + 1) * sizeof *v);
                if (!nv)
                        break;
                v = nv;
                app_row_from(st, &v[k++]);
        }
        sqlite3_finalize(st);
        if (!k) {
                free(v);
                return rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        *ret = v;
        *n = k;
        return 0;
}

void app_rows_free(struct app_row *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                app_row_free(&v[i]);
        free(v);
}

/* The applications an id names, or an error printed. */
static int load_targets(struct ctx *c, const char *key, struct app_row **ret, size_t *n)
{
        int r = app_rows_load(c->h.st, key, ret, n);

        if (r == -ENOENT) {
                cli_error(cli_msg("no application or bundle '%s' here; see 'daiban app list'",
                                  "这里没有申请或一件事“%s”；请查看“daiban app list”"), key);
                return EXIT_REFUSED;
        }
        if (r < 0) {
                cli_error(cli_msg("cannot read the store: %s", "无法读取数据库：%s"), store_errmsg(c->h.st));
                return EXIT_REFUSED;
        }
        return 0;
}

/* ---- the rules, in the user's language -------------------------------------- */

static const struct {
        const char *en, *zh;
} reasons_zh[] = {
        { "only the station that took the application may edit it", "只有受理该申请的站点可以修改" },
        { "only a draft or a returned application can be edited", "只有草稿或被退回的申请可以修改" },
        { "only the station that took the application records its materials", "只有受理该申请的站点可以登记材料" },
        { "materials can no longer change after the decision", "办结后不能再修改材料" },
        { "only the station that took the application may submit it", "只有受理该申请的站点可以提交" },
        { "only a draft can be submitted (a returned one is resubmitted)", "只有草稿可以提交（被退回的申请请重新提交）" },
        { "only the station that took the application may resubmit it", "只有受理该申请的站点可以重新提交" },
        { "only a returned application can be resubmitted", "只有被退回的申请可以重新提交" },
        { "this matter has no separate review", "该事项没有单独的审核环节" },
        { "only the reviewing office may pass the application", "只有审核机关可以审核通过" },
        { "the reviewing office decides this matter itself: decide instead of passing", "审核机关即决定机关，请直接作出决定" },
        { "only an accepted application can be passed up", "只有已受理的申请可以上报" },
        { "only the reviewing or deciding office may return the application", "只有审核或决定机关可以退回" },
        { "the application is not waiting for this office", "该申请当前不在本机关办理" },
        { "a review is either pass or return", "审核结果只能是通过（pass）或退回（return）" },
        { "a decision is either approve or reject", "决定只能是批准（approve）或不予批准（reject）" },
        { "only the deciding office may decide", "只有决定机关可以作出决定" },
        { "the application has not passed its review yet", "该申请尚未通过审核" },
        { "the application is not waiting for a decision", "该申请当前不等待决定" },
        { "only the station that took the application delivers the result", "只有受理站点可以送达结果" },
        { "there is no decision to deliver yet", "尚无可送达的决定" },
        { "only the station that took the application records the rating", "只有受理站点可以登记评价" },
        { "the application was already rated", "该申请已经评价过" },
        { "an application is rated after its result was delivered", "结果送达后才能评价" },
        { "only the station that took the application may withdraw it", "只有受理站点可以撤回" },
        { "it is too late to withdraw: the application was decided", "已经办结，不能撤回" },
        { "the application already exists", "该申请已存在（重复创建）" },
        { "a creation must name its matter, origin (the writer) and decider", "创建申请须写明事项、受理站点（写入者）和决定机关" },
        { "the application was not created (yet)", "该申请尚未创建（或尚未同步到本站）" },
        { "a rating is a level from 1 to 5", "评价应为 1 至 5 级" },
        { "a material event must name the material", "材料记录须写明材料" },
        { "an acceptance must give its date", "受理记录须写明受理日期" },
        { "the due date does not follow from the matter's time limit", "办结期限与该事项的承诺时限不符" },
        { "the receipt number is not the accepting station's own for that day", "受理编号不是受理站点当日的编号" },
};

const char *app_rule_zh(const char *en)
{
        for (size_t i = 0; en && i < sizeof reasons_zh / sizeof reasons_zh[0]; i++)
                if (strcmp(reasons_zh[i].en, en) == 0)
                        return reasons_zh[i].zh;
        return en;
}

static const char *tr(const char *en)
{
        return cli_zh() ? app_rule_zh(en) : en;
}

/* Every state of the lifecycle, with its Chinese name. */
static const char *const statuses[][2] = {
        { ST_DRAFT, "草稿" }, { ST_ACCEPTED, "已受理" }, { ST_RETURNED, "退回补正" }, { ST_PASSED, "已上报" },
        { ST_APPROVED, "已批准" }, { ST_REJECTED, "不予批准" }, { ST_DELIVERED, "已送达" },
        { ST_RATED, "已评价" }, { ST_WITHDRAWN, "已撤回" },
};

bool app_status_known(const char *s)
{
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
                if (strcmp(statuses[i][0], s) == 0)
                        return true;
        return false;
}

static const char *status_in(const char *s, bool zh)
{
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
                if (strcmp(statuses[i][0], s) == 0)
                        return zh ? statuses[i][1] : s;
        return s;
}

static const char *status_zh(const char *s)
{
        return status_in(s, cli_zh());
}

static int refuse_rule(const struct app_row *r, const char *why)
{
        const char *who = r->receipt[0] ? r->receipt : r->id;

        if (cli_json_errors()) {
                /* both languages whole: the state and the rule translated too */
                char en[1024], zh[1024];
                snprintf(en, sizeof en, "%s (%s): %s", who, status_in(r->status, false), why);
                snprintf(zh, sizeof zh, "%s（%s）：%s", who, status_in(r->status, true), app_rule_zh(why));
                cli_error_both(en, zh);
                return EXIT_REFUSED;
        }
        cli_error(cli_msg("%s (%s): %s", "%s（%s）：%s"), who, status_zh(r->status), tr(why));
        return EXIT_REFUSED;
}

static int check_rule(struct ctx *c, const struct app_row *r, const char *type, const char *result)
{
        const char *why = fold_check(type, result, c->node, r->status, r->origin, r->reviewer[0] ? r->reviewer : NULL,
                                     r->decider, r->rating);
        return why ? refuse_rule(r, why) : 0;
}

/* ---- application data ------------------------------------------------------ */

#define APP_DATA_MAX (4u * 1024u * 1024u)      /* an application's JSON file */

static json_t *load_json_file(const char *path)
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
        if (!json_is_object(j)) {
                cli_error(cli_msg("%s: error: the application data must be a JSON object ({...})",
                                  "%s：错误：申请数据应为一个 JSON 对象（{…}）"), path);
                json_decref(j);
                return NULL;
        }
        return j;
}

static void print_problems(const struct form_problems *p)
{
        if (cli_json_errors()) {
                cli_json_problems(p);
                return;
        }
        for (size_t i = 0; i < p->n; i++)
                fprintf(stderr, "  %s%s%s [%s]\n", p->v[i].path, p->v[i].path[0] ? ": " : "",
                        cli_zh() ? p->v[i].msg_zh : p->v[i].msg_en, p->v[i].code);
}

/* Structural problems a draft may not be saved with (a draft may be
 * incomplete, but not hold fields the form does not have). */
static bool structural(const char *code)
{
        return strcmp(code, "unknown_field") == 0 || strcmp(code, "too_long") == 0 ||
               strcmp(code, "bad_type") == 0 || strcmp(code, "too_many_fields") == 0 ||
               strcmp(code, "bad_json") == 0 || strcmp(code, "text_encoding") == 0;
}

/* Validate data for a draft: refuse on structural problems, report the
 * rest as things still to do. */
static int check_draft(const struct cat_form *form, json_t *data, int32_t today, const char *what)
{
        struct form_problems p;
        size_t nbad = 0;

        form_problems_init(&p);
        if (form_validate(form, data, today, &p, NULL) < 0) {
                form_problems_finish(&p);
                cli_error("%s", cli_msg("out of memory", "内存不足"));
                return EXIT_REFUSED;
        }
        for (size_t i = 0; i < p.n; i++)
                nbad += structural(p.v[i].code);
        if (nbad) {
                cli_error(cli_msg("%s refused: the data does not fit the form of %s:",
                                  "%s 被拒绝：数据与 %s 的表单不符："), what, form->code);
                print_problems(&p);
                form_problems_finish(&p);
                return EXIT_REFUSED;
        }
        if (p.n && !cli_json_errors()) {
                fprintf(stderr, cli_msg("still to complete before submitting (%zu):\n", "提交前还需完善（%zu 项）：\n"),
                        p.n);
                print_problems(&p);
        }
        form_problems_finish(&p);
        return 0;
}

/* The part of data that belongs to matter m (its top-level fields). */
static json_t *filter_for(const struct cat_matter *m, json_t *data)
{
        json_t *out = json_object();

        for (size_t i = 0; out && i < m->nfields; i++) {
                json_t *v = json_object_get(data, m->fields[i].name);
                if (v)
                        json_object_set(out, m->fields[i].name, v);
        }
        return out;
}

static char *dump(const json_t *j)
{
        return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
}

/* ---- init and operators ---------------------------------------------------- */

static const char usage_init[] =
        "Usage: daiban init --node CODE [--role ROLE] --catalog DIR [--name NAME]\n"
        "                   [--county-key KEY] [--rejoin [--key FILE]] [--home DIR]\n"
        "       daiban init --from-hall URL --token -|@FILE|TOKEN [--pin SHA256]\n"
        "                   [--county-key KEY] [--name NAME] [--rejoin [--key FILE]] [--home DIR]\n"
        "\n"
        "Create a node home: its SQLite store, its git repository for change\n"
        "sets and scanned materials, the installed catalogue, and the node's\n"
        "signing key (HOME/node.key; 'daiban key show' prints its public half).\n"
        "CODE must be a division of the catalogue; ROLE (village, township or\n"
        "county) is its level there unless given. The home is --home, else\n"
        "$DAIBAN_HOME, else $XDG_DATA_HOME/daiban (~/.local/share/daiban).\n"
        "\n"
        "--from-hall: a township or village joins its county through the hall,\n"
        "with the token the county issued it ('daiban hall token CODE'; it\n"
        "names the node, so --node is not needed): the catalogue is fetched\n"
        "from the hall, and the hall's address, token and pin are kept as with\n"
        "'daiban remote set'. -: read the token from stdin; @FILE: from a file.\n"
        "\n"
        "A county starts its key roster with its own key. A township or village\n"
        "pins its county's key with --county-key: the county's public key line,\n"
        "a file holding it, or its fingerprint ('SHA256:...' or the spoken\n"
        "form the county reads out); with --from-hall the roster and every\n"
        "version of the catalogue the hall offers are checked against it before\n"
        "anything is installed. Without it, the first roster the node is\n"
        "offered is trusted and pinned.\n"
        "\n"
        "A station that exists already, on a re-imaged or new PC without a\n"
        "backup: --rejoin. The new home writes nothing until `daiban sync` has\n"
        "fetched its own history back from the hall; its numbering then goes\n"
        "on after it. --key FILE uses the node's key kept from the old PC;\n"
        "without it a new key is made, and the county must enrol it from the\n"
        "next sequence number: daiban roster rotate NODE KEY --at SEQ.\n";

/* The level of node's division in the catalogue at dir ("" if none). */
static void role_of(const char *dir, const char *node, char *role, size_t len)
{
        catalog *cat = NULL;
        const struct cat_division *div;

        role[0] = '\0';
        if (catalog_load(dir, &cat) == 0 && (div = catalog_find_division(cat, node)))
                snprintf(role, len, "%s", cat_level_name(div->level));
        catalog_free(cat);
}

static int cmd_init(int argc, char **argv)
{
        struct opts o;
        char role[16] = "", catdir[4200], work[4200] = "", tokbuf[256], node[32];
        int r = parse(argc, argv, O_HOME | O_NODE | O_ROLE | O_CATALOG | O_NAME | O_COUNTY_KEY | O_REJOIN | O_KEY |
                      O_FROM_HALL | O_TOKEN | O_PIN, 0,
                      "daiban init --node CODE [--role ROLE] --catalog DIR | --from-hall URL --token T [--pin P]", &o);

        if (r)
                return r;
        if (o.from_hall ? (o.catalog || !o.token) : (!o.node || !o.catalog || o.token || o.pin)) {
                cli_error("%s", cli_msg("init needs --node and --catalog, or --from-hall with --token",
                                        "init 需要 --node 和 --catalog，或 --from-hall 加 --token"));
                return EXIT_USAGE;
        }
        if (o.key && !(o.given & O_REJOIN)) {
                cli_error("%s", cli_msg("--key is for --rejoin: a new node gets a new key",
                                        "--key 只能与 --rejoin 一起使用：新站点使用新密钥"));
                return EXIT_USAGE;
        }
        const char *dir = home_path(o.home);
        if (o.from_hall) {
                /* a token given in the arguments shows in every process list */
                if (strcmp(o.token, "-") == 0 || o.token[0] == '@') {
                        if (!cli_read_secret(o.token, tokbuf, sizeof tokbuf)) {
                                cli_error(cli_msg("no token could be read from %s", "未能从 %s 读取令牌"),
                                          strcmp(o.token, "-") == 0 ? "stdin" : o.token + 1);
                                return EXIT_USAGE;
                        }
                        o.token = tokbuf;
                }
                snprintf(node, sizeof node, "%.*s", (int)strcspn(o.token, "."), o.token);
                if (o.node && strcmp(o.node, node) != 0) {
                        cli_error(cli_msg("the token is %s's, not %s's", "该令牌属于 %s，而不是 %s"), node, o.node);
                        return EXIT_USAGE;
                }
                o.node = node;
                if ((r = join_check_remote(o.from_hall, o.token, o.pin, o.node)))
                        return r;
                struct stat sb;
                snprintf(catdir, sizeof catdir, "%s/store.db", dir);
                if (stat(catdir, &sb) == 0) {
                        cli_error(cli_msg("%s is already a daiban home (it has store.db); choose another --home",
                                          "%s 已经是 daiban 的数据目录（已有 store.db）；请另选 --home"), dir);
                        return EXIT_REFUSED;
                }
                snprintf(work, sizeof work, "%s.join-%ld", dir, (long)getpid());
                if ((r = join_fetch_catalog(o.from_hall, o.token, o.pin, o.county_key, o.node, work, catdir, sizeof catdir, role,
                                            sizeof role)))
                        goto out;
                o.catalog = catdir;
        } else if (!o.role) {
                role_of(o.catalog, o.node, role, sizeof role);
        }
        struct home_init_opts io = { .name = o.name, .county_key = o.county_key, .key_file = o.key,
                                     .rejoin = (o.given & O_REJOIN) != 0 };
        /* a role that does not match the division is refused there */
        if ((r = home_init(dir, o.node, o.role ? o.role : *role ? role : "village", o.catalog, &io)))
                goto out;
        if (o.from_hall) {
                struct home h;
                if ((r = home_open(dir, &h)))
                        goto out;
                r = join_set_remote(&h, o.from_hall, o.token, o.pin);
                home_close(&h);
                if (r == 0)
                        printf(cli_msg("joined through the hall %s\n", "已通过县级服务端 %s 加入\n"), o.from_hall);
        }
out:
        if (*work)
                durable_remove_tree(work);
        explicit_bzero(tokbuf, sizeof tokbuf);
        return r;
}

static const char usage_operator[] =
        "Usage: daiban operator add ID --name NAME [--operator WHO] [--home DIR]\n"
        "       daiban operator disable ID --operator WHO [--home DIR]\n"
        "       daiban operator enable ID --operator WHO [--home DIR]\n"
        "       daiban operator list [--home DIR]\n"
        "       daiban operator passwd ID [--home DIR]\n"
        "\n"
        "Register an operator (the person at the window) on this node. Every\n"
        "command that writes names its operator with --operator ID or\n"
        "$DAIBAN_OPERATOR, and every event records it. The first operator\n"
        "registers itself; later ones are added by a registered operator\n"
        "(--operator WHO), recorded as the one who added them.\n"
        "\n"
        "disable: the operator can no longer sign in (a session open now\n"
        "ends) or write; their name stays in the audit trail. enable undoes\n"
        "it. The last operator who can still sign in cannot be disabled.\n"
        "\n"
        "passwd sets the password the operator signs in to the web UI with\n"
        "(daiban serve): typed twice at a terminal, else read as one line from\n"
        "standard input. At least 6 characters. Stored on this machine only\n"
        "(HOME/station.db, an argon2id hash); never replicated.\n";

/* One line of a password: from the terminal without echo, else stdin. */
static int read_password(const char *prompt, char *buf, size_t n)
{
        struct termios old, quiet;
        bool tty = isatty(0) && tcgetattr(0, &old) == 0;

        if (tty) {
                fputs(prompt, stderr);
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(0, TCSAFLUSH, &quiet);
        }
        char *ok = fgets(buf, (int)n, stdin);
        if (tty) {
                tcsetattr(0, TCSAFLUSH, &old);
                fputc('\n', stderr);
        }
        if (!ok)
                return -1;
        buf[strcspn(buf, "\r\n")] = '\0';
        return 0;
}

static int operator_passwd(int argc, char **argv)
{
        struct ctx c = { 0 };
        char pw[STATION_MAX_PASSWORD + 2], again[STATION_MAX_PASSWORD + 2], err[512];
        sqlite3 *db = NULL;
        int r = parse(argc, argv, O_HOME, 1, "daiban operator passwd ID", &c.o);

        if (r || (r = ctx_open(&c)))
                goto out;
        c.o.operator = c.o.pos[0];
        if ((r = need_operator(&c)))
                goto out;
        if (read_password(cli_msg("New password: ", "新密码："), pw, sizeof pw) < 0) {
                cli_error("%s", cli_msg("no password was given", "没有输入密码"));
                r = EXIT_USAGE;
                goto out;
        }
        if (strlen(pw) < STATION_MIN_PASSWORD || strlen(pw) > STATION_MAX_PASSWORD) {
                cli_error(cli_msg("a password has %d to %d characters", "密码应为 %d 至 %d 个字符"), STATION_MIN_PASSWORD,
                          STATION_MAX_PASSWORD);
                r = EXIT_REFUSED;
                goto out;
        }
        if (isatty(0)) {
                if (read_password(cli_msg("Again: ", "再输入一次："), again, sizeof again) < 0 || strcmp(pw, again)) {
                        cli_error("%s", cli_msg("the two passwords differ; nothing was changed",
                                                "两次输入的密码不一致，未作修改"));
                        r = EXIT_REFUSED;
                        goto out;
                }
        }
        if (station_open(c.h.dir, &db, err, sizeof err) < 0 || station_set_password(db, c.o.pos[0], pw) < 0) {
                cli_error(cli_msg("cannot save the password: %s", "无法保存密码：%s"), db ? sqlite3_errmsg(db) : err);
                r = EXIT_REFUSED;
                goto out;
        }
        printf(cli_msg("password of %s set\n", "已设置 %s 的密码\n"), c.o.pos[0]);
out:
        explicit_bzero(pw, sizeof pw);
        sqlite3_close(db);
        ctx_close(&c);
        return r;
}

/* Write and fold the operator.added event for operator id (name), by
 * c's operator, disabled or not, and commit the transaction begin()
 * opened. Returns 0 or the exit status (said). */
static int operator_event(struct ctx *c, const char *id, const char *name, bool disabled)
{
        json_t *body = json_pack("{s:s,s:s}", "id", id, "name", name);
        char *text;

        if (body && disabled)
                json_object_set_new(body, "disabled", json_true());
        text = body ? dump(body) : NULL;
        json_decref(body);
        struct event ev = { .node = c->node, .operator = c->o.operator, .type = "operator.added", .part = c->node,
                            .body = text };
        int r = 0;
        if (!text || store_append(c->h.st, &ev) < 0 || fold_operator(c->h.st, c->node, ev.hlc, text) < 0 ||
            store_commit(c->h.st) < 0)
                r = store_failed(c);
        free(text);
        return r;
}

/* operator disable|enable ID: an operator.added event for the same
 * operator with "disabled" set or not (an older daiban reads it as the
 * operator added again, which changes nothing there). */
static int operator_able(int argc, char **argv, bool disable)
{
        struct ctx c = { 0 };
        sqlite3_stmt *st;
        char *name = NULL;
        long long was = -1, others = 0;
        int r = parse(argc, argv, O_HOME | O_OPERATOR, 1,
                      disable ? "daiban operator disable ID --operator WHO" : "daiban operator enable ID --operator WHO",
                      &c.o);

        if (r)
                return r;
        if ((r = ctx_open(&c)) || (r = begin(&c)))
                goto out;
        if ((r = need_operator(&c))) {
                store_rollback(c.h.st);
                goto out;
        }
        if (sqlite3_prepare_v2(store_db(c.h.st), "SELECT name, disabled, (SELECT count(*) FROM operators o"
                               " WHERE o.node = ?1 AND o.id <> ?2 AND NOT o.disabled) FROM operators"
                               " WHERE node = ?1 AND id = ?2", -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, c.node, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, c.o.pos[0], -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW) {
                        name = strdup((const char *)sqlite3_column_text(st, 0));
                        was = sqlite3_column_int64(st, 1);
                        others = sqlite3_column_int64(st, 2);
                }
                sqlite3_finalize(st);
        }
        if (was < 0 || !name) {
                cli_error(cli_msg("operator '%s' is not registered here ('daiban operator list')",
                                  "本站没有经办人“%s”（见“daiban operator list”）"), c.o.pos[0]);
                r = EXIT_REFUSED;
        } else if ((was != 0) == disable) {
                cli_error(cli_msg(disable ? "operator %s (%s) is disabled already; nothing to do"
                                          : "operator %s (%s) is not disabled; nothing to do",
                                  disable ? "经办人 %s（%s）已停用，无需重复操作" : "经办人 %s（%s）未停用，无需操作"),
                          c.o.pos[0], name);
                r = EXIT_REFUSED;
        } else if (disable && others == 0) {
                cli_error(cli_msg("operator %s (%s) is the last one who can sign in here: add another first",
                                  "经办人 %s（%s）是本站最后一位可登录的经办人，请先添加其他经办人"),
                          c.o.pos[0], name);
                r = EXIT_REFUSED;
        }
        if (r) {
                store_rollback(c.h.st);
                goto out;
        }
        if ((r = operator_event(&c, c.o.pos[0], name, disable)))
                goto out;
        printf(disable ? cli_msg("operator %s (%s) disabled: no sign-in, no writes\n", "已停用经办人 %s（%s）：不能登录，不能办理\n")
                       : cli_msg("operator %s (%s) enabled again\n", "已恢复经办人 %s（%s）\n"),
               c.o.pos[0], name);
out:
        free(name);
        ctx_close(&c);
        return r;
}

static int cmd_operator(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r;

        if (argc >= 2 && strcmp(argv[1], "list") == 0) {
                r = parse(argc - 1, argv + 1, O_HOME, 0, "daiban operator list", &c.o);
                if (r || (r = ctx_open(&c)))
                        goto out;
                sqlite3_stmt *st;
                sqlite3_prepare_v2(store_db(c.h.st), "SELECT id, name, node, disabled FROM operators ORDER BY node, id", -1,
                                   &st, NULL);
                while (sqlite3_step(st) == SQLITE_ROW)
                        printf("%-12s %-12s %s%s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                               sqlite3_column_text(st, 2),
                               sqlite3_column_int(st, 3) ? cli_msg("  (disabled)", "  （已停用）") : "");
                sqlite3_finalize(st);
                goto out;
        }
        if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
                return operator_passwd(argc - 1, argv + 1);
        if (argc >= 2 && (strcmp(argv[1], "disable") == 0 || strcmp(argv[1], "enable") == 0))
                return operator_able(argc - 1, argv + 1, strcmp(argv[1], "disable") == 0);
        if (argc < 2 || strcmp(argv[1], "add") != 0) {
                fputs(usage_operator, stderr);
                return EXIT_USAGE;
        }
        r = parse(argc - 1, argv + 1, O_HOME | O_NAME | O_OPERATOR, 1, "daiban operator add ID --name NAME", &c.o);
        if (r)
                return r;
        if (!c.o.name || !*c.o.name || !*c.o.pos[0] || strlen(c.o.pos[0]) > 32) {
                cli_error("%s", cli_msg("operator add needs an ID (at most 32 characters) and --name NAME",
                                        "operator add 需要 ID（最多 32 个字符）和 --name 姓名"));
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)))
                goto out;
        if ((r = begin(&c)))
                goto out;
        /* The first operator of a station registers itself; later ones
         * are added by a registered operator, recorded as the event's
         * operator (电子监察: who let whom in). */
        {
                sqlite3_stmt *st;
                long long nops = 0;
                char *had = NULL;
                bool off = false;
                if (sqlite3_prepare_v2(store_db(c.h.st), "SELECT count(*), max(CASE WHEN id = ?2 THEN name END),"
                                       " max(CASE WHEN id = ?2 THEN disabled END) FROM operators WHERE node = ?1", -1,
                                       &st, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, c.node, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 2, c.o.pos[0], -1, SQLITE_STATIC);
                        if (sqlite3_step(st) == SQLITE_ROW) {
                                nops = sqlite3_column_int64(st, 0);
                                if (sqlite3_column_text(st, 1))
                                        had = strdup((const char *)sqlite3_column_text(st, 1));
                                off = sqlite3_column_int(st, 2) != 0;
                        }
                        sqlite3_finalize(st);
                }
                if (off) {
                        cli_error(cli_msg("operator %s (%s) is disabled; 'daiban operator enable %s' brings them back",
                                          "经办人 %s（%s）已停用；用“daiban operator enable %s”恢复"),
                                  c.o.pos[0], had ? had : "", c.o.pos[0]);
                        free(had);
                        store_rollback(c.h.st);
                        r = EXIT_REFUSED;
                        goto out;
                }
                if (had && strcmp(had, c.o.name) == 0) {
                        cli_error(cli_msg("operator %s (%s) is registered already; nothing to do",
                                          "经办人 %s（%s）已登记，无需重复添加"), c.o.pos[0], had);
                        free(had);
                        store_rollback(c.h.st);
                        r = EXIT_REFUSED;
                        goto out;
                }
                free(had);
                if (nops > 0 && (r = need_operator(&c))) {
                        store_rollback(c.h.st);
                        goto out;
                }
        }
        if (!c.o.operator)
                c.o.operator = c.o.pos[0];
        if ((r = operator_event(&c, c.o.pos[0], c.o.name, false)))
                goto out;
        printf(cli_msg("operator %s (%s) added\n", "已添加经办人 %s（%s）\n"), c.o.pos[0], c.o.name);
out:
        ctx_close(&c);
        return r;
}

/* ---- receipt numbers ------------------------------------------------------- */

/* "101201-261124-007": the node's code within the county (township and
 * village digits; a township is its three digits and 000, the county
 * 000000), the acceptance date as YYMMDD, and that node's sequence on
 * that day. Unique across the county without coordination, because
 * only that node issues numbers with its prefix, and 15 digits are
 * short enough to read over the phone. */
static int next_receipt(struct ctx *c, int32_t day, char *out, size_t n)
{
        char prefix[32], like[40], local[7] = "000000";
        size_t len = strlen(c->node);
        int y, m, d;
        long best = 0;
        sqlite3_stmt *st;

        if (len > 6)
                memcpy(local, c->node + 6, len - 6 > 6 ? 6 : len - 6);
        cal_date_to_ymd(day, &y, &m, &d);
        snprintf(prefix, sizeof prefix, "%s-%02d%02d%02d-", local, y % 100, m, d);
        snprintf(like, sizeof like, "%s%%", prefix);
        if (sqlite3_prepare_v2(store_db(c->h.st),
                               "SELECT receipt FROM apps WHERE receipt LIKE ?1 UNION ALL "
                               "SELECT bundle_receipt FROM apps WHERE bundle_receipt LIKE ?1", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                long v = strtol((const char *)sqlite3_column_text(st, 0) + strlen(prefix), NULL, 10);
                if (v > best)
                        best = v;
        }
        sqlite3_finalize(st);
        /* the day of an offline restore (and any before): the lost PC may
         * have numbered that day past the backup */
        char *eday = NULL;
        if (store_meta_get(c->h.st, HOME_EPOCH_DAY, &eday) == 0 && day <= atol(eday) && best < HOME_EPOCH_RECEIPTS)
                best = HOME_EPOCH_RECEIPTS;
        free(eday);
        snprintf(out, n, "%s%03ld", prefix, best + 1);
        return 0;
}

/* ---- acceptance: what stops an application ---------------------------------- */

static const char *mat_state(const struct app_row *r, store *st, const char *material, long long *promise)
{
        static char state[32];
        sqlite3_stmt *q;

        state[0] = '\0';
        *promise = -1;
        if (sqlite3_prepare_v2(store_db(st), "SELECT state, promise FROM app_materials WHERE app = ? AND material = ?",
                               -1, &q, NULL) != SQLITE_OK)
                return state;
        sqlite3_bind_text(q, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, material, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
                snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(q, 0));
                *promise = icol(q, 1);
        }
        sqlite3_finalize(q);
        return state;
}

static void add_problem2(struct form_problems *p, const char *path, const char *code, const char *zh, const char *en)
{
        struct form_problem *nv;

        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 16;
                nv = realloc(p->v, cap * sizeof *nv);
                if (!nv)
                        return;
                p->v = nv;
                p->cap = cap;
        }
        nv = &p->v[p->n];
        nv->path = strdup(path);
        nv->code = code;
        nv->msg_zh = strdup(zh);
        nv->msg_en = strdup(en);
        if (nv->path && nv->msg_zh && nv->msg_en)
                p->n++;
}

int app_material_problems(const struct cat_form *form, const json_t *data, int32_t today,
                          const char *(*state_of)(void *ctx, const char *material), void *ctx,
                          struct form_problems *p)
{
        bool *asked = calloc(form->nmaterials + 1, sizeof *asked);

        if (!asked)
                return -ENOMEM;
        form_materials_asked(form, data, today, asked);
        for (size_t i = 0; i < form->nmaterials; i++) {
                const struct cat_form_material *fm = &form->materials[i];
                const char *state;
                char path[128], zh[512], en[512];

                if (!asked[i] || !fm->required)
                        continue;
                state = state_of(ctx, fm->material->code);
                if (strcmp(state, "provided") == 0)
                        continue;
                if (strcmp(state, "deficient") == 0 && fm->deficiency_ok)
                        continue;
                snprintf(path, sizeof path, "materials.%s", fm->material->code);
                if (strcmp(state, "deficient") == 0) {
                        snprintf(zh, sizeof zh, "%s：该材料不允许容缺，须当场提交", fm->material->name_zh);
                        snprintf(en, sizeof en, "%s: this material may not be supplied later; it is needed now",
                                 fm->material->name_en);
                        add_problem2(p, path, "deficiency_not_allowed", zh, en);
                } else {
                        snprintf(zh, sizeof zh, "缺少材料：%s（%s %d 份）", fm->material->name_zh,
                                 cat_mkind_name_zh(fm->kind), fm->copies);
                        snprintf(en, sizeof en, "missing material: %s (%s, %d)", fm->material->name_en,
                                 cat_mkind_name(fm->kind), fm->copies);
                        add_problem2(p, path, "material_missing", zh, en);
                }
        }
        free(asked);
        return 0;
}

struct stored_materials {
        const struct app_row *r;
        store *st;
};

static const char *stored_state(void *ctx, const char *material)
{
        struct stored_materials *sm = ctx;
        long long promise;

        return mat_state(sm->r, sm->st, material, &promise);
}

int app_acceptance_problems(struct home *h, const struct app_row *r, int32_t today, struct form_problems *p)
{
        const catalog *cat = home_catalog_for(h, r->catalog);
        const struct cat_matter *m = cat ? catalog_find_matter(cat, r->matter) : NULL;
        struct stored_materials sm = { r, h->st };

        if (!cat)
                return -EAGAIN;
        if (!m)
                return -ENOENT;
        if (form_validate(m->form, r->data, today, p, NULL) < 0)
                return -ENOMEM;
        return app_material_problems(m->form, r->data, today, stored_state, &sm, p);
}

/* The matter of application r in the catalogue version it was captured
 * under; NULL with the reason printed (that version has not reached this
 * node yet, or it lacks the matter). */
static const struct cat_matter *matter_of(struct home *h, const struct app_row *r)
{
        const catalog *cat = home_catalog_for(h, r->catalog);
        const struct cat_matter *m = cat ? catalog_find_matter(cat, r->matter) : NULL;

        if (!cat)
                cli_error(cli_msg("%s was captured under catalogue version %.12s, which has not reached this node yet;"
                                  " it can be shown but not checked until it arrives",
                                  "%s 按目录清单版本 %.12s 受理，本站尚未收到该版本；可以查看，但须等该版本到达后才能校验"),
                          r->id, r->catalog);
        else if (!m)
                cli_error(cli_msg("matter %s is not in catalogue version %.12s", "目录清单版本 %2$.12s 中没有事项 %1$s"),
                          r->matter, r->catalog);
        return m;
}

/* ---- app new / edit --------------------------------------------------------- */

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

static int submit(struct ctx *c, const char *key, bool created);
static int new_materials(struct ctx *c, const char *key, const json_t *list);

bool app_key_ok(const char *s, size_t n)
{
        if (!n || n > 64 || s[0] == '-')        /* never an option to a command */
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

/* What an earlier `app new --request KEY` at this node created: 1 with
 * its id (the bundle's for a bundle) and the matter or bundle code it
 * was for, 0 if nothing, <0 on a store error. Runs inside the writing
 * transaction, so two tries of one request cannot both create. */
static int request_done(struct ctx *c, char *id, size_t idn, char *code, size_t coden)
{
        sqlite3_stmt *st;
        int r;

        if (sqlite3_prepare_v2(store_db(c->h.st),
                               "SELECT app, json_extract(body, '$.bundle'),"
                               " coalesce(json_extract(body, '$.bundle_code'), json_extract(body, '$.matter'))"
                               /* without statistics the planner would walk
                                * the node's whole feed by its primary key */
                               " FROM events INDEXED BY events_request"
                               " WHERE node = ?1 AND json_extract(body, '$.request') = ?2"
                               " AND type = 'app.created' LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, c->node, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->o.request, -1, SQLITE_STATIC);
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

static int app_new(int argc, char **argv)
{
        struct ctx c = { 0 };
        const struct cat_matter *ms[64];
        const struct cat_bundle *b;
        const struct cat_form *form;
        size_t nms = 0;
        json_t *data = NULL;
        char bundle_id[64] = "";
        int r;

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_SUBMIT | O_TODAY | O_NODE | O_MATERIALS | O_REQUEST,
                  1, "daiban app new CODE --data FILE.json [--materials FILE.json] [--submit] [--request KEY]", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app new needs --data FILE.json", "app new 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if (c.o.request && !app_key_ok(c.o.request, strlen(c.o.request))) {
                cli_error(cli_msg("--request needs 1 to 64 letters, digits, '.', '_' or '-', not '%s'",
                                  "--request 应为 1 至 64 个字母、数字、“.”“_”或“-”，而不是“%s”"),
                          c.o.request);
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)) || (r = need_operator(&c)))
                goto out;
        const struct cat_division *div = catalog_find_division(c.h.cat, c.node);
        form = catalog_find_form(c.h.cat, c.o.pos[0]);
        if (!form) {
                cli_error(cli_msg("no matter or bundle '%s' in the catalogue; see 'daiban catalog accept'",
                                  "目录清单中没有事项或一件事“%s”；请查看“daiban catalog accept”"), c.o.pos[0]);
                r = EXIT_REFUSED;
                goto out;
        }
        if ((b = catalog_find_bundle(c.h.cat, c.o.pos[0]))) {
                if (!catalog_bundle_may_accept(b, div))
                        goto not_delegated;
                for (size_t i = 0; i < b->nmatters && nms < 64; i++)
                        ms[nms++] = b->matters[i];
        } else {
                const struct cat_matter *m = catalog_find_matter(c.h.cat, c.o.pos[0]);
                if (!catalog_may_accept(m, div))
                        goto not_delegated;
                ms[nms++] = m;
        }
        if (!(data = load_json_file(c.o.data))) {
                r = EXIT_REFUSED;
                goto out;
        }
        if ((r = check_draft(form, data, c.today, "app new")))
                goto out;
        if ((r = begin(&c)))
                goto out;
        if (c.o.request) {
                char done[64], code[64];
                int d = request_done(&c, done, sizeof done, code, sizeof code);
                if (d < 0) {
                        r = store_failed(&c);
                        goto out;
                }
                if (d > 0) {
                        store_rollback(c.h.st);
                        if (strcmp(code, c.o.pos[0])) {
                                cli_error(cli_msg("request %s already created %s for %s, not %s; use a new request key",
                                                  "请求 %s 已为 %s 建立了 %s，不是 %s；请换一个请求标识"),
                                          c.o.request, code, done, c.o.pos[0]);
                                r = EXIT_REFUSED;
                                goto out;
                        }
                        /* the same request again (its answer was lost):
                         * what it created, and nothing new */
                        if (!cli_json_errors())
                                fprintf(stderr, "%s\n", cli_msg("request already done; nothing new was created",
                                                                "该请求已完成；未新建办件"));
                        printf("%s\n", done);
                        fflush(stdout);
                        r = 0;
                        goto out;
                }
        }
        int64_t seq = store_next_seq(c.h.st, c.node);
        if (b)
                snprintf(bundle_id, sizeof bundle_id, "B%s-%" PRId64, c.node, seq);
        for (size_t i = 0; i < nms; i++) {
                const struct cat_matter *m = ms[i];
                const struct cat_division *rv = m->review_at ? catalog_division_at(div, m->review_at) : NULL;
                const struct cat_division *dv = catalog_division_at(div, m->decide_at);
                char id[64];
                json_t *part = b ? filter_for(m, data) : json_incref(data);
                const char *name, *aid;
                char *text = dump(part);

                snprintf(id, sizeof id, "%s-%" PRId64, c.node, store_next_seq(c.h.st, c.node));
                /* a bundle has one applicant: its merged form decides */
                form_applicant_of(b ? form : m->form, b ? data : part, &name, &aid);
                json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:I}", "matter", m->code,
                                         "matter_name", m->name_zh, "origin", c.node, "data", text ? text : "{}",
                                         "reviewer", rv ? rv->code : NULL, "decider", dv ? dv->code : NULL,
                                         "bundle", b ? bundle_id : NULL, "bundle_code", b ? b->code : NULL,
                                         "applicant", name, "time_limit", (json_int_t)m->time_limit_days);
                if (aid)
                        json_object_set_new(body, "applicant_id", json_string(aid));
                json_object_set_new(body, "catalog", json_string(c.h.catalog_version));
                if (c.o.request)
                        json_object_set_new(body, "request", json_string(c.o.request));
                free(text);
                json_decref(part);
                if (!dv || !body || emit(&c, "app.created", id, c.node, body) < 0) {
                        r = store_failed(&c);
                        goto out;
                }
                if (!b)
                        snprintf(bundle_id, sizeof bundle_id, "%s", id);
        }
        if (c.o.materials) {
                json_error_t e;
                json_t *list = json_load_file(c.o.materials, JSON_REJECT_DUPLICATES, &e);
                if (!list) {
                        cli_error(cli_msg("%s:%d:%d: error: %s", "%s:%d:%d: 错误：%s"), c.o.materials, e.line, e.column,
                                  e.text);
                        r = EXIT_REFUSED;
                } else {
                        r = new_materials(&c, bundle_id, list);
                        json_decref(list);
                }
                if (r < 0) {
                        r = store_failed(&c);
                        goto out;
                }
                if (r) {
                        store_rollback(c.h.st);
                        goto out;
                }
        }
        if (c.o.given & O_SUBMIT) {
                /* create and accept in one transaction: a refusal changes
                 * nothing */
                r = submit(&c, bundle_id, true);
                goto out;
        }
        if (store_commit(c.h.st) < 0) {
                r = store_failed(&c);
                goto out;
        }
        printf("%s\n", bundle_id);
        fflush(stdout);
        r = 0;
        goto out;
not_delegated:
        cli_error(cli_msg("%s %s may not accept %s (see 'daiban catalog accept')",
                          "%s %s 无权受理 %s（见“daiban catalog accept”）"), c.node, div ? div->name : "?", c.o.pos[0]);
        r = EXIT_REFUSED;
out:
        json_decref(data);
        ctx_close(&c);
        return r;
}

static int app_edit(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        json_t *data = NULL;
        int r;

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_TODAY, 1, "daiban app edit ID --data FILE.json", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app edit needs --data FILE.json", "app edit 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)) || (r = need_operator(&c)))
                goto out;
        if (!(data = load_json_file(c.o.data))) {
                r = EXIT_REFUSED;
                goto out;
        }
        if ((r = begin(&c)) || (r = load_targets(&c, c.o.pos[0], &t, &n)))
                goto fail;
        for (size_t i = 0; i < n; i++) {
                const char *name, *aid;
                if ((r = check_rule(&c, &t[i], "app.edited", NULL)))
                        goto fail;
                const struct cat_matter *m = matter_of(&c.h, &t[i]);
                if (!m) {
                        r = EXIT_REFUSED;
                        goto fail;
                }
                json_t *part = n > 1 ? filter_for(m, data) : json_incref(data);
                if ((r = check_draft(m->form, part, c.today, "app edit"))) {
                        json_decref(part);
                        goto fail;
                }
                char *text = dump(part);
                /* a bundle has one applicant: its merged form decides */
                const catalog *cv = home_catalog_for(&c.h, t[i].catalog);
                const struct cat_form *bf = n > 1 && t[i].bundle_code[0] && cv ? catalog_find_form(cv, t[i].bundle_code)
                                                                               : NULL;
                form_applicant_of(bf ? bf : m->form, bf ? data : part, &name, &aid);
                json_t *body = json_pack("{s:s,s:s?,s:s?}", "data", text ? text : "{}", "applicant", name,
                                         "applicant_id", aid);
                free(text);
                json_decref(part);
                if (emit(&c, "app.edited", t[i].id, t[i].origin, body) < 0) {
                        r = store_failed(&c);
                        goto out;
                }
        }
        if (store_commit(c.h.st) < 0) {
                r = store_failed(&c);
                goto out;
        }
        printf(cli_msg("%s: data saved\n", "%s：数据已保存\n"), c.o.pos[0]);
        goto out;
fail:
        store_rollback(c.h.st);
out:
        app_rows_free(t, n);
        json_decref(data);
        ctx_close(&c);
        return r;
}

/* ---- materials ----------------------------------------------------------------- */

static const struct cat_form_material *form_material(const struct cat_form *form, const char *code)
{
        for (size_t i = 0; i < form->nmaterials; i++)
                if (strcmp(form->materials[i].material->code, code) == 0)
                        return &form->materials[i];
        return NULL;
}

/* Record one material's state on the applications t[0..n) (one, or a
 * bundle's members, each if its form asks for it), in the open
 * transaction. Returns 0, EXIT_REFUSED (an error was printed; the caller
 * rolls back) or -1 when the store failed. */
static int record_material(struct ctx *c, struct app_row *t, size_t n, const char *key, const char *code,
                           const char *state, int32_t promise, const char *blob)
{
        size_t applied = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                const struct cat_matter *m = matter_of(&c->h, &t[i]);
                const struct cat_form_material *fm = m ? form_material(m->form, code) : NULL;
                if (!m)
                        return EXIT_REFUSED;
                if (!fm)
                        continue;       /* a bundle member that does not ask for it */
                if ((r = check_rule(c, &t[i], "app.material", NULL)))
                        return r;
                if (!strcmp(state, "deficient")) {
                        int32_t limit;
                        if (!fm->deficiency_ok) {
                                cli_error(cli_msg("%s: %s may not be supplied later (no 容缺 for it in %s)",
                                                  "%s：%s 不允许容缺（%s）"), t[i].id, fm->material->name_zh, m->code);
                                return EXIT_REFUSED;
                        }
                        cal_add_workdays(catalog_calendar(c->h.cat), c->today, fm->deficiency_days, &limit);
                        if (promise >= 0 && (promise < c->today || promise > limit)) {
                                char a[11], b2[11];
                                cal_date_format(c->today, a);
                                cal_date_format(limit, b2);
                                cli_error(cli_msg("%s: the promised date must be between %s and %s (%d working days)",
                                                  "%s：承诺补交日期应在 %s 至 %s 之间（%d 个工作日）"),
                                          fm->material->name_zh, a, b2, fm->deficiency_days);
                                return EXIT_REFUSED;
                        }
                }
                json_t *body = json_pack("{s:s,s:s}", "material", fm->material->code, "state", state);
                if (blob && blob[0])
                        json_object_set_new(body, "blob", json_string(blob));
                if (promise >= 0)
                        json_object_set_new(body, "promise", json_integer(promise));
                if (emit(c, "app.material", t[i].id, t[i].origin, body) < 0)
                        return -1;
                applied++;
        }
        if (!applied) {
                cli_error(cli_msg("%s does not ask for material '%s'; see 'daiban app show %s'",
                                  "%s 不需要材料“%s”；请查看“daiban app show %s”"), key, code, key);
                return EXIT_REFUSED;
        }
        return 0;
}

static bool material_state_ok(const char *state)
{
        if (strcmp(state, "provided") && strcmp(state, "missing") && strcmp(state, "deficient")) {
                cli_error(cli_msg("the state is provided, missing or deficient, not '%s'",
                                  "材料状态应为 provided、missing 或 deficient，而不是“%s”"), state);
                return false;
        }
        return true;
}

static int app_material(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        char blob[41] = "";
        int32_t promise = -1;
        const char *state;
        int r;

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_FILE | O_PROMISE | O_TODAY, 3,
                  "daiban app material ID MATERIAL provided|missing|deficient [--file PATH] [--promise YYYY-MM-DD]", &c.o);
        if (r)
                return r;
        state = c.o.pos[2];
        if (!material_state_ok(state))
                return EXIT_USAGE;
        if (c.o.file && strcmp(state, "provided") != 0) {
                cli_error("%s", cli_msg("--file goes with 'provided': a scan is a material that was provided",
                                        "--file 只用于 provided：有扫描件即表示材料已提供"));
                return EXIT_USAGE;
        }
        if (c.o.promise && (strcmp(state, "deficient") || cal_date_parse(c.o.promise, &promise) < 0)) {
                cli_error("%s", cli_msg("--promise YYYY-MM-DD goes with 'deficient' (a real date)",
                                        "--promise YYYY-MM-DD 只用于 deficient（容缺），且须为有效日期"));
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)) || (r = need_operator(&c)))
                goto out;
        if (c.o.file) {
                if ((r = home_store_file(&c.h, c.o.file, home_max_file_bytes(), blob)))
                        goto out;
        }
        if ((r = begin(&c)) || (r = load_targets(&c, c.o.pos[0], &t, &n)))
                goto fail;
        r = record_material(&c, t, n, c.o.pos[0], c.o.pos[1], state, promise, blob);
        if (r < 0) {
                r = store_failed(&c);
                goto out;
        }
        if (r)
                goto fail;
        if (store_commit(c.h.st) < 0) {
                r = store_failed(&c);
                goto out;
        }
        printf(cli_msg("%s: %s %s%s%s\n", "%s：%s %s%s%s\n"), c.o.pos[0], c.o.pos[1], state, blob[0] ? " " : "", blob);
        goto out;
fail:
        store_rollback(c.h.st);
out:
        app_rows_free(t, n);
        ctx_close(&c);
        return r;
}

/* `app new --materials FILE.json`: [{"material","state","promise"}],
 * recorded in the creating transaction. */
static int new_materials(struct ctx *c, const char *key, const json_t *list)
{
        struct app_row *t = NULL;
        size_t n = 0, i;
        json_t *m;
        int r;

        if (!json_is_array(list)) {
                cli_error("%s", cli_msg("--materials: the file must hold a JSON array of {\"material\",\"state\",\"promise\"}",
                                        "--materials：文件应为 {\"material\",\"state\",\"promise\"} 组成的 JSON 数组"));
                return EXIT_REFUSED;
        }
        if ((r = load_targets(c, key, &t, &n)))
                return r;
        json_array_foreach(list, i, m) {
                const char *code = json_string_value(json_object_get(m, "material"));
                const char *state = json_string_value(json_object_get(m, "state"));
                const char *ps = json_string_value(json_object_get(m, "promise"));
                int32_t promise = -1;
                if (!code || !state || !material_state_ok(state)) {
                        cli_error(cli_msg("--materials: entry %zu needs \"material\" and \"state\"",
                                          "--materials：第 %zu 项需要 \"material\" 和 \"state\""), i + 1);
                        r = EXIT_REFUSED;
                        break;
                }
                if (ps && *ps && (strcmp(state, "deficient") || cal_date_parse(ps, &promise) < 0)) {
                        cli_error(cli_msg("--materials: %s: a promised date (YYYY-MM-DD) goes with 'deficient'",
                                          "--materials：%s：承诺补交日期（YYYY-MM-DD）只用于 deficient（容缺）"), code);
                        r = EXIT_REFUSED;
                        break;
                }
                if ((r = record_material(c, t, n, key, code, state, promise, NULL)))
                        break;
        }
        app_rows_free(t, n);
        return r;
}

/* ---- submit / resubmit ------------------------------------------------------ */

/* created: key was created in the open transaction by `app new
 * --submit`; then the creation and the acceptance are one transaction,
 * and a refusal leaves nothing behind (the id is printed on success). */
static int submit(struct ctx *c, const char *key, bool created)
{
        struct app_row *t = NULL;
        size_t n = 0;
        struct form_problems p;
        char receipt[64] = "", sub[80];
        int r;

        form_problems_init(&p);
        if ((!created && (r = begin(c))) || (r = load_targets(c, key, &t, &n)))
                goto fail;
        bool resubmit = strcmp(t[0].status, ST_RETURNED) == 0;
        for (size_t i = 0; i < n; i++) {
                if ((r = check_rule(c, &t[i], resubmit ? "app.resubmitted" : "app.submitted", NULL)))
                        goto fail;
                size_t before = p.n;
                if (!matter_of(&c->h, &t[i]) || app_acceptance_problems(&c->h, &t[i], c->today, &p) < 0) {
                        r = EXIT_REFUSED;
                        goto fail;
                }
                for (size_t k = before; k < p.n && n > 1; k++) {
                        /* prefix bundle members' problems with their matter */
                        char *np = malloc(strlen(p.v[k].path) + strlen(t[i].matter) + 2);
                        if (np) {
                                sprintf(np, "%s:%s", t[i].matter, p.v[k].path);
                                free(p.v[k].path);
                                p.v[k].path = np;
                        }
                }
        }
        if (p.n) {
                cli_error(cli_msg("%s cannot be accepted yet; %zu problems (print them for the applicant with "
                                  "'daiban app notice %s'):",
                                  "%s 暂不能受理，共 %zu 个问题（可用“daiban app notice %s”打印一次性告知单）："),
                          key, p.n, key);
                print_problems(&p);
                r = EXIT_REFUSED;
                goto fail;
        }
        if (!resubmit && next_receipt(c, c->today, receipt, sizeof receipt) < 0) {
                r = store_failed(c);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                /* the form, materials and time limit of the version it was
                 * captured under; the newest working-day calendar */
                const struct cat_matter *m = matter_of(&c->h, &t[i]);
                const calendar *cal = catalog_calendar(c->h.cat);
                int32_t due;
                json_t *clean = NULL, *defs = json_array();
                struct form_problems q;

                form_problems_init(&q);
                form_validate(m->form, t[i].data, c->today, &q, &clean);
                form_problems_finish(&q);
                cal_add_workdays(cal, c->today, m->time_limit_days, &due);
                for (size_t k = 0; k < m->form->nmaterials; k++) {
                        const struct cat_form_material *fm = &m->form->materials[k];
                        long long promise;
                        const char *state = mat_state(&t[i], c->h.st, fm->material->code, &promise);
                        if (strcmp(state, "deficient") != 0)
                                continue;
                        if (promise < 0) {
                                int32_t d;
                                cal_add_workdays(cal, c->today, fm->deficiency_days, &d);
                                promise = d;
                        }
                        json_array_append_new(defs, json_pack("{s:s,s:I}", "material", fm->material->code, "promise",
                                                              (json_int_t)promise));
                }
                char *text = clean ? dump(clean) : NULL;
                json_decref(clean);
                json_t *body = json_pack("{s:I,s:I,s:o,s:s?}", "accepted_on", (json_int_t)c->today, "due",
                                         (json_int_t)due, "deficiencies", defs, "data", text);
                free(text);
                if (!resubmit) {
                        if (n > 1) {
                                snprintf(sub, sizeof sub, "%s-%zu", receipt, i + 1);
                                json_object_set_new(body, "receipt", json_string(sub));
                                json_object_set_new(body, "bundle_receipt", json_string(receipt));
                        } else {
                                json_object_set_new(body, "receipt", json_string(receipt));
                        }
                }
                if (emit(c, resubmit ? "app.resubmitted" : "app.submitted", t[i].id, t[i].origin, body) < 0) {
                        r = store_failed(c);
                        goto out;
                }
        }
        if (store_commit(c->h.st) < 0) {
                r = store_failed(c);
                goto out;
        }
        if (created)
                printf("%s\n", key);
        if (resubmit)
                printf(cli_msg("%s resubmitted\n", "%s 已重新提交\n"), key);
        else
                printf(cli_msg("accepted: receipt %s\n", "已受理，受理编号 %s\n"), receipt);
        r = 0;
        goto out;
fail:
        store_rollback(c->h.st);
        if (created)
                cli_error("%s", cli_msg("nothing was saved; without --submit the draft is kept and can be completed",
                                        "未保存任何内容；不加 --submit 可先保存草稿再补全"));
out:
        form_problems_finish(&p);
        app_rows_free(t, n);
        return r;
}

static int app_submit(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app submit ID", &c.o);

        if (r)
                return r;
        if (!(r = ctx_open(&c)) && !(r = need_operator(&c)))
                r = submit(&c, c.o.pos[0], false);
        ctx_close(&c);
        return r;
}

/* ---- one-event commands: withdraw, deliver, rate, review, decide ------------- */

static int simple(struct ctx *c, const char *key, const char *type, const char *result, json_t *body,
                  const char *done_en, const char *done_zh)
{
        struct app_row *t = NULL;
        size_t n = 0;
        int r;

        if ((r = need_operator(c)) || (r = begin(c)) || (r = load_targets(c, key, &t, &n)))
                goto fail;
        for (size_t i = 0; i < n; i++)
                if ((r = check_rule(c, &t[i], type, result)))
                        goto fail;
        for (size_t i = 0; i < n; i++)
                if (emit(c, type, t[i].id, t[i].origin, json_deep_copy(body)) < 0) {
                        r = store_failed(c);
                        goto out;
                }
        if (store_commit(c->h.st) < 0) {
                r = store_failed(c);
                goto out;
        }
        printf("%s %s\n", key, cli_zh() ? done_zh : done_en);
        goto out;
fail:
        store_rollback(c->h.st);
out:
        json_decref(body);
        app_rows_free(t, n);
        return r;
}

static int app_withdraw(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_TODAY, 1, "daiban app withdraw ID --reason TEXT", &c.o);

        if (r)
                return r;
        if (!c.o.reason || !*c.o.reason) {
                cli_error("%s", cli_msg("a withdrawal needs --reason TEXT", "撤回需要 --reason 说明原因"));
                return EXIT_USAGE;
        }
        if (!(r = ctx_open(&c)))
                r = simple(&c, c.o.pos[0], "app.withdrawn", NULL, json_pack("{s:s}", "reason", c.o.reason),
                           "withdrawn", "已撤回");
        ctx_close(&c);
        return r;
}

static int app_deliver(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app deliver ID", &c.o);

        if (r)
                return r;
        if (!(r = ctx_open(&c)))
                r = simple(&c, c.o.pos[0], "app.delivered", NULL, json_object(), "result delivered", "结果已送达");
        ctx_close(&c);
        return r;
}

static int app_rate(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_LEVEL | O_COMMENT | O_TODAY, 1,
                      "daiban app rate ID --level 1-5 [--comment TEXT]", &c.o);

        if (r)
                return r;
        if (c.o.level < 1 || c.o.level > 5) {
                cli_error("%s", cli_msg("--level is 1 to 5 (5 very satisfied, 1 very dissatisfied)",
                                        "--level 为 1 至 5（5 非常满意，1 非常不满意）"));
                return EXIT_USAGE;
        }
        if (!(r = ctx_open(&c))) {
                json_t *body = json_pack("{s:I}", "level", (json_int_t)c.o.level);
                if (c.o.comment)
                        json_object_set_new(body, "comment", json_string(c.o.comment));
                r = simple(&c, c.o.pos[0], "app.rated", NULL, body, "rated", "已评价");
        }
        ctx_close(&c);
        return r;
}

static const char usage_review[] =
        "Usage: daiban review ID pass|return [--reason TEXT] [--node CODE]\n"
        "\n"
        "The reviewing office (the township for most matters) passes the\n"
        "application up to the deciding office, or returns it to the station\n"
        "for correction; a return needs --reason listing everything to fix.\n"
        "--node acts as that office on this store (until sync, this is how\n"
        "the township's events are written).\n";

static int cmd_review(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_NODE | O_TODAY, 2,
                      "daiban review ID pass|return [--reason TEXT] [--node CODE]", &c.o);

        if (r)
                return r;
        if (strcmp(c.o.pos[1], "pass") && strcmp(c.o.pos[1], "return")) {
                cli_error("%s", cli_msg("a review is pass or return", "审核结果应为 pass 或 return"));
                return EXIT_USAGE;
        }
        if (!strcmp(c.o.pos[1], "return") && (!c.o.reason || !*c.o.reason)) {
                cli_error("%s", cli_msg("a return needs --reason: everything the station must correct, at once",
                                        "退回需要 --reason：一次性列明所有需补正的内容"));
                return EXIT_USAGE;
        }
        if (!(r = ctx_open(&c))) {
                json_t *body = json_pack("{s:s}", "result", c.o.pos[1]);
                if (c.o.reason)
                        json_object_set_new(body, "reason", json_string(c.o.reason));
                r = simple(&c, c.o.pos[0], "app.reviewed", c.o.pos[1], body,
                           !strcmp(c.o.pos[1], "pass") ? "passed up" : "returned for correction",
                           !strcmp(c.o.pos[1], "pass") ? "已审核通过并上报" : "已退回补正");
        }
        ctx_close(&c);
        return r;
}

static const char usage_decide[] =
        "Usage: daiban decide ID approve|reject [--reason TEXT] [--node CODE]\n"
        "\n"
        "The deciding office decides; a rejection needs --reason. --node acts\n"
        "as that office on this store (until sync).\n";

static int cmd_decide(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_NODE | O_TODAY, 2,
                      "daiban decide ID approve|reject [--reason TEXT] [--node CODE]", &c.o);

        if (r)
                return r;
        if (strcmp(c.o.pos[1], "approve") && strcmp(c.o.pos[1], "reject")) {
                cli_error("%s", cli_msg("a decision is approve or reject", "决定应为 approve 或 reject"));
                return EXIT_USAGE;
        }
        if (!strcmp(c.o.pos[1], "reject") && (!c.o.reason || !*c.o.reason)) {
                cli_error("%s", cli_msg("a rejection needs --reason", "不予批准需要 --reason 说明理由"));
                return EXIT_USAGE;
        }
        if (!(r = ctx_open(&c))) {
                /* the day of the decision, for the on-time rate (按时办结率) */
                json_t *body = json_pack("{s:s,s:I}", "result", c.o.pos[1], "decided_on", (json_int_t)c.today);
                if (c.o.reason)
                        json_object_set_new(body, "reason", json_string(c.o.reason));
                r = simple(&c, c.o.pos[0], "app.decided", c.o.pos[1], body,
                           !strcmp(c.o.pos[1], "approve") ? "approved" : "rejected",
                           !strcmp(c.o.pos[1], "approve") ? "已批准" : "不予批准");
        }
        ctx_close(&c);
        return r;
}

/* ---- reading: show, list, log, receipt, notice, status -------------------------- */

static const char *date_str(long long day, char *buf)
{
        if (day < 0)
                return "-";
        cal_date_format((int32_t)day, buf);
        return buf;
}

bool app_status_open(const char *status)
{
        return !strcmp(status, ST_ACCEPTED) || !strcmp(status, ST_RETURNED) || !strcmp(status, ST_PASSED);
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
                json_object_set_new(j, "accepted_on", json_string(date_str(r->accepted_on, a)));
        if (r->due >= 0)
                json_object_set_new(j, "due", json_string(date_str(r->due, b)));
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
        sqlite3_stmt *st;
        char a[11];

        json_t *j = app_summary_json(h, today, r), *mats = json_array(), *confs = json_array();
        sqlite3_prepare_v2(store_db(h->st), "SELECT material, state, blob, promise FROM app_materials WHERE app = ?"
                           " ORDER BY material", -1, &st, NULL);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                json_t *m = json_pack("{s:s,s:s}", "material", sqlite3_column_text(st, 0), "state", sqlite3_column_text(st, 1));
                if (sqlite3_column_type(st, 2) != SQLITE_NULL)
                        json_object_set_new(m, "blob", json_string((const char *)sqlite3_column_text(st, 2)));
                if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
                        long long p = sqlite3_column_int64(st, 3);
                        json_object_set_new(m, "promise", json_string(date_str(p, a)));
                        json_object_set_new(m, "promise_overdue", json_boolean(app_status_open(r->status) &&
                                                                            !strcmp((const char *)sqlite3_column_text(st, 1), "deficient") &&
                                                                            cal_is_overdue((int32_t)p, today)));
                }
                json_array_append_new(mats, m);
        }
        sqlite3_finalize(st);
        sqlite3_prepare_v2(store_db(h->st), "SELECT node, seq, type, reason FROM conflicts WHERE app = ? ORDER BY node, seq",
                           -1, &st, NULL);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
                json_array_append_new(confs, json_pack("{s:s,s:I,s:s,s:s,s:s}", "node", sqlite3_column_text(st, 0), "seq",
                                                       (json_int_t)sqlite3_column_int64(st, 1), "type",
                                                       sqlite3_column_text(st, 2), "reason", sqlite3_column_text(st, 3),
                                                       "reason_zh",
                                                       app_rule_zh((const char *)sqlite3_column_text(st, 3))));
        sqlite3_finalize(st);
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
                printf(cli_msg("  status %s · held by %s", "  状态 %s · 当前办理 %s"), status_zh(r->status), r->holder);
                if (json_is_true(json_object_get(j, "overdue")))
                        printf("%s", cli_msg(" · OVERDUE", " · 已超期"));
                putchar('\n');
                if (r->receipt[0])
                        printf(cli_msg("  receipt %s · accepted %s · due %s (%lld working days)\n",
                                       "  受理编号 %s · 受理 %s · 办结期限 %s（%lld 个工作日）\n"),
                               r->receipt, date_str(r->accepted_on, a), date_str(r->due, b), r->time_limit);
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
                               json_string_value(json_object_get(m, "type")), tr(json_string_value(json_object_get(m, "reason"))));
        }
        return j;
}

static int app_show(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = parse(argc, argv, O_HOME | O_JSON | O_TODAY, 1, "daiban app show ID [--json]", &c.o);
        bool as_json = c.o.given & O_JSON;

        /* ID is an application id or receipt, or a bundle's id or receipt:
         * a bundle shows each of its applications. */
        if (rc || (rc = ctx_open(&c)) || (rc = load_targets(&c, c.o.pos[0], &t, &n)))
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
        ctx_close(&c);
        return rc;
}

static int app_list(int argc, char **argv)
{
        struct ctx c = { 0 };
        sqlite3_stmt *st;
        char sql[1024], a[11], cursor[96] = "";
        long long after_hlc = -1;
        char after_id[64] = "";
        long n = 0;
        int rc = parse(argc, argv, O_HOME | O_JSON | O_STATUS | O_OVERDUE | O_LIMIT | O_AFTER | O_TODAY, 0,
                       "daiban app list [--status S] [--overdue] [--limit N] [--after CURSOR] [--json]", &c.o);

        if (rc)
                return rc;
        if (!(c.o.given & O_LIMIT))
                c.o.limit = 50;
        if (c.o.limit < 1 || c.o.limit > 10000) {
                cli_error("%s", cli_msg("--limit is 1 to 10000", "--limit 应为 1 至 10000"));
                return EXIT_USAGE;
        }
        if (c.o.after && (sscanf(c.o.after, "%lld:%63s", &after_hlc, after_id) != 2)) {
                cli_error("%s", cli_msg("--after takes the cursor printed by the previous page",
                                        "--after 应为上一页末尾给出的游标"));
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
        if ((rc = ctx_open(&c)))
                goto out;
        /* The overdue list is ordered by due date (most overdue first),
         * the others by last change, newest first; both page by cursor.
         * Overdue are the open applications past their due date and the
         * open ones with a 容缺 promise that has passed. Every application
         * of the first kind has due < today and every other one due >=
         * today, so the list is the first query's rows, then the
         * second's: each walks an index and stops at the page's end. */
        /* promise_due: the earliest 容缺 promise of an open application */
        const char *open_promise = "coalesce(promise_due < ?1, 0)";
        int nq = c.o.given & O_OVERDUE ? 2 : 1;
        json_t *arr = json_array();
        for (int q = 0; q < nq && n < c.o.limit; q++) {
                if (!(c.o.given & O_OVERDUE))
                        snprintf(sql, sizeof sql, "SELECT " APP_COLS ", updated_hlc, id, status IN"
                                 " ('accepted','returned','passed') AND %s FROM apps WHERE 1 %s %s"
                                 " ORDER BY updated_hlc DESC, id DESC LIMIT ?4", open_promise,
                                 c.o.status ? "AND status = ?2" : "", c.o.after ? "AND (updated_hlc, id) < (?3, ?5)" : "");
                else if (q == 0)
                        snprintf(sql, sizeof sql, "SELECT " APP_COLS ", due, id, %s FROM apps INDEXED BY apps_open_due"
                                 " WHERE status IN ('accepted','returned','passed')"
                                 " AND due < ?1 %s %s ORDER BY due, id LIMIT ?4", open_promise,
                                 c.o.status ? "AND status = ?2" : "", c.o.after ? "AND (due, id) > (?3, ?5)" : "");
                else
                        snprintf(sql, sizeof sql, "SELECT " APP_COLS ", due, id, 1 FROM apps INDEXED BY apps_open_promise"
                                 " WHERE promise_due < ?1 AND status IN ('accepted','returned','passed') AND due >= ?1 %s %s"
                                 " ORDER BY due, id LIMIT ?4",
                                 c.o.status ? "AND status = ?2" : "", c.o.after ? "AND (due, id) > (?3, ?5)" : "");
                if (sqlite3_prepare_v2(store_db(c.h.st), sql, -1, &st, NULL) != SQLITE_OK) {
                        cli_error("%s", store_errmsg(c.h.st));
                        json_decref(arr);
                        rc = EXIT_REFUSED;
                        goto out;
                }
                sqlite3_bind_int64(st, 1, c.today);
                if (c.o.status)
                        sqlite3_bind_text(st, 2, c.o.status, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, after_hlc);
                sqlite3_bind_int64(st, 4, c.o.limit - n);
                sqlite3_bind_text(st, 5, after_id, -1, SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW) {
                        struct app_row r;
                        bool promise_overdue = sqlite3_column_int(st, 27);
                        app_row_from(st, &r);
                        snprintf(cursor, sizeof cursor, "%lld:%s", (long long)sqlite3_column_int64(st, 25),
                                 (const char *)sqlite3_column_text(st, 26));
                        if (c.o.given & O_JSON) {
                                json_t *j = app_summary_json(&c.h, c.today, &r);
                                json_object_set_new(j, "promise_overdue", json_boolean(promise_overdue));
                                json_array_append_new(arr, j);
                        } else
                                printf("%-20s %-18s %-12s %-10s %-10s %s%s%s\n", r.id, r.receipt[0] ? r.receipt : "-",
                                       r.matter, status_zh(r.status), date_str(r.due, a), r.applicant,
                                       r.due >= 0 && app_status_open(r.status) && cal_is_overdue((int32_t)r.due, c.today)
                                               ? cli_msg("  OVERDUE", "  超期") : "",
                                       promise_overdue ? cli_msg("  PROMISE OVERDUE", "  容缺逾期") : "");
                        app_row_free(&r);
                        n++;
                }
                sqlite3_finalize(st);
        }
        if (c.o.given & O_JSON) {
                json_t *page = json_pack("{s:o,s:s?}", "applications", arr, "next", n == c.o.limit ? cursor : NULL);
                char *s = json_dumps(page, JSON_INDENT(1));
                puts(s);
                free(s);
                json_decref(page);
        } else {
                json_decref(arr);
                if (n == c.o.limit)
                        printf(cli_msg("more: --after %s\n", "下一页：--after %s\n"), cursor);
        }
out:
        ctx_close(&c);
        return rc;
}

json_t *app_log_json(store *st, const struct app_row *t, size_t n)
{
        sqlite3_stmt *q;
        json_t *arr;

        /* operators by name as well: a login ID means nothing to most */
        if (sqlite3_prepare_v2(store_db(st), "SELECT node, seq, hlc, wall, operator, type, body,"
                               " (SELECT name FROM operators o WHERE o.node = e.node AND o.id = e.operator)"
                               " FROM events e WHERE app = ? ORDER BY hlc, node, seq", -1, &q, NULL) != SQLITE_OK)
                return NULL;
        arr = json_array();
        for (size_t i = 0; i < n; i++) {
                sqlite3_reset(q);
                sqlite3_bind_text(q, 1, t[i].id, -1, SQLITE_STATIC);
                while (sqlite3_step(q) == SQLITE_ROW) {
                        time_t secs = (time_t)(sqlite3_column_int64(q, 3) / 1000);
                        struct tm tm;
                        char when[32];
                        localtime_r(&secs, &tm);
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

static int app_log(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = parse(argc, argv, O_HOME | O_JSON, 1, "daiban app log ID [--json]", &c.o);

        if (rc || (rc = ctx_open(&c)) || (rc = load_targets(&c, c.o.pos[0], &t, &n)))
                goto out;
        json_t *arr = app_log_json(c.h.st, t, n);
        if (!arr) {
                rc = store_failed(&c);
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
        ctx_close(&c);
        return rc;
}

static int paperwork(int argc, char **argv, bool receipt)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = parse(argc, argv, O_HOME | O_HTML | O_TODAY, 1,
                       receipt ? "daiban app receipt ID [--html]" : "daiban app notice ID [--html]", &c.o);

        if (rc || (rc = ctx_open(&c)) || (rc = load_targets(&c, c.o.pos[0], &t, &n)))
                goto out;
        if (receipt && !t[0].receipt[0]) {
                cli_error(cli_msg("%s has not been accepted yet: no receipt (submit it with 'daiban app submit %s')",
                                  "%s 尚未受理，没有受理回执（请用“daiban app submit %s”提交）"), c.o.pos[0], c.o.pos[0]);
                rc = EXIT_REFUSED;
                goto out;
        }
        if (receipt)
                paper_receipt(stdout, &c.h, t, n, c.o.given & O_HTML);
        else
                paper_notice(stdout, &c.h, t, n, c.today, c.o.given & O_HTML);
out:
        app_rows_free(t, n);
        ctx_close(&c);
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

static const char usage_status[] =
        "Usage: daiban status [--json] [--home DIR]\n"
        "\n"
        "This node, its store and its applications by status, with the\n"
        "overdue ones, the overdue 容缺 promises and the conflicts.\n";

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

static int cmd_status(int argc, char **argv)
{
        struct ctx c = { 0 };
        int rc = parse(argc, argv, O_HOME | O_JSON | O_TODAY, 0, "daiban status [--json]", &c.o);

        if (rc || (rc = ctx_open(&c)))
                goto out;
        json_t *by = json_object();
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
                sqlite3_stmt *st;
                sqlite3_prepare_v2(store_db(c.h.st), "SELECT count(*) FROM apps WHERE status = ?", -1, &st, NULL);
                sqlite3_bind_text(st, 1, statuses[i][0], -1, SQLITE_STATIC);
                sqlite3_step(st);
                json_object_set_new(by, statuses[i][0], json_integer(sqlite3_column_int64(st, 0)));
                sqlite3_finalize(st);
        }
        long long overdue = count(c.h.st, "SELECT count(*) FROM apps WHERE status IN ('accepted','returned','passed')"
                                           " AND due < ?", c.today);
        long long promises = count(c.h.st, "SELECT count(*) FROM app_materials m JOIN apps a ON a.id = m.app"
                                   " WHERE m.state = 'deficient' AND m.promise < ? AND a.status IN ('accepted','returned','passed')",
                                   c.today);
        long long conflicts = count(c.h.st, "SELECT count(*) FROM conflicts", 0);
        long long events = store_nevents(c.h.st);
        /* the link: the remote, when a sync last worked, and this node's
         * events the remote does not hold yet */
        char *remote = NULL, *last = NULL;
        store_meta_get(c.h.st, "remote.url", &remote);
        store_meta_get(c.h.st, "sync.last_ok", &last);
        long long waiting = home_events_waiting(&c.h);
        json_t *alarms = home_alarms(&c.h), *keys = home_keys(&c.h);
        if (c.o.given & O_JSON) {
                json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:{s:s?,s:s?,s:I},s:O}", "home", c.h.dir,
                                      "node", c.h.node, "role", c.h.role, "name", c.h.name, "applications", by,
                                      "overdue", (json_int_t)overdue, "overdue_promises", (json_int_t)promises,
                                      "conflicts", (json_int_t)conflicts, "events", (json_int_t)events, "link",
                                      "remote", remote, "last_sync", last, "waiting_events", (json_int_t)waiting,
                                      "alarms", alarms);
                json_object_set(j, "keys", keys);
                char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
                puts(s);
                free(s);
                json_decref(j);
        } else {
                printf(cli_msg("%s %s (%s), home %s\n", "%s %s（%s），数据目录 %s\n"), c.h.role, c.h.node, c.h.name, c.h.dir);
                const char *k;
                json_t *v;
                json_object_foreach(by, k, v)
                        if (json_integer_value(v))
                                printf("  %-10s %lld\n", status_zh(k), (long long)json_integer_value(v));
                printf(cli_msg("  overdue %lld · overdue promises %lld · conflicts %lld · events %lld\n",
                               "  超期 %lld · 容缺逾期 %lld · 冲突 %lld · 事件 %lld\n"), overdue, promises, conflicts, events);
                if (remote)
                        printf(cli_msg("  link %s · last sync %s · %lld events saved here, waiting to be sent\n",
                                       "  链路 %s · 上次同步 %s · %lld 个事件已在本机保存，等待发送\n"),
                               remote, last ? last : cli_msg("never", "从未"), waiting);
                else if (strcmp(c.h.role, "county") == 0)
                        printf("%s", cli_msg("  the county syncs with no one: its hall serves the others ('daiban hall serve')\n",
                                             "  县级节点不向上同步：由县级服务端为各站点提供同步（“daiban hall serve”）\n"));
                else
                        printf("%s", cli_msg("  no link set: everything is saved here; send it with 'daiban bundle export'"
                                             " (USB) or set one with 'daiban remote set'\n",
                                             "  未设置链路：所有内容都已在本机保存；可用“daiban bundle export”（U 盘）送出，"
                                             "或用“daiban remote set”设置链路\n"));
                const char *fp = json_string_value(json_object_get(keys, "fingerprint"));
                json_t *en = json_object_get(keys, "enrolled");
                if (!fp)
                        printf("%s", cli_msg("  key: none yet (made at the first change set)\n",
                                             "  密钥：尚未生成（首次生成变更集时自动生成）\n"));
                else if (json_is_object(en))
                        printf(cli_msg("  key %s · on the county's roster from seq %lld\n",
                                       "  密钥 %s · 已登记在县级名册（自序号 %lld 起）\n"),
                               fp, (long long)json_integer_value(json_object_get(en, "from")));
                else if (json_is_true(json_object_get(keys, "roster")) && strcmp(c.h.role, "county") != 0)
                        printf(cli_msg("  key %s · not on the county's roster yet: its first sync with the hall "
                                       "enrolls it, or the county runs 'daiban roster add %s KEY'\n",
                                       "  密钥 %s · 尚未登记在县级名册：首次与县级同步时自动登记，或由县里运行"
                                       "“daiban roster add %s KEY”\n"),
                               fp, c.h.node);
                else
                        printf(cli_msg("  key %s\n", "  密钥 %s\n"), fp);
                size_t i;
                json_t *a;
                json_array_foreach(alarms, i, a)
                        printf(cli_msg("  ALARM: %s\n", "  警报：%s\n"),
                               json_string_value(json_object_get(a, cli_zh() ? "zh" : "en")));
                json_decref(by);
        }
        json_decref(alarms);
        json_decref(keys);
        free(remote);
        free(last);
out:
        ctx_close(&c);
        return rc;
}

static const char usage_rebuild[] =
        "Usage: daiban rebuild [--verify] [--home DIR]\n"
        "\n"
        "Recompute every derived table (applications, materials, conflicts,\n"
        "operators) from the events alone. --verify recomputes and compares\n"
        "without changing anything: exit 0 when the stored tables agree.\n";

static void progress(void *ud, long long done, long long total)
{
        (void)ud;
        fprintf(stderr, "\r%s %lld/%lld", cli_msg("rebuilding:", "重建中："), done, total);
        if (done >= total)
                fputc('\n', stderr);
}

static int cmd_rebuild(int argc, char **argv)
{
        struct ctx c = { 0 };
        char diff[512];
        int rc = parse(argc, argv, O_HOME | O_VERIFY, 0, "daiban rebuild [--verify]", &c.o);

        if (rc || (rc = ctx_open(&c)))
                goto out;
        if (c.o.given & O_VERIFY) {
                if ((rc = begin(&c)))
                        goto out;
                int r = fold_verify(c.h.st, diff, sizeof diff);
                store_rollback(c.h.st);
                if (r < 0) {
                        cli_error(cli_msg("cannot verify: %s", "无法校验：%s"), store_errmsg(c.h.st));
                        rc = EXIT_REFUSED;
                } else if (r > 0) {
                        printf(cli_msg("MISMATCH: %s\n", "不一致：%s\n"), diff);
                        rc = EXIT_REFUSED;
                } else {
                        printf("%s\n", cli_msg("derived tables agree with the events", "派生表与事件一致"));
                }
                goto out;
        }
        if ((rc = begin(&c)))
                goto out;
        bool tty = isatty(2);
        if (fold_rebuild(c.h.st, tty ? progress : NULL, NULL) < 0 || store_commit(c.h.st) < 0) {
                rc = store_failed(&c);
                goto out;
        }
        printf(cli_msg("rebuilt from %lld events\n", "已由 %lld 个事件重建\n"), (long long)store_nevents(c.h.st));
out:
        ctx_close(&c);
        return rc;
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

static int cmd_app(int argc, char **argv)
{
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                fputs(usage_app, stdout);
                return 0;
        }
        return cli_dispatch("daiban app", "Applications at this station", app_commands, argc - 1, argv + 1);
}

const struct cli_command node_commands[] = {
        { "init", "Create a node home (store, repository, catalogue)", usage_init, cmd_init },
        { "operator", "Register the operators of this node", usage_operator, cmd_operator },
        { "app", "Capture and follow applications", NULL, cmd_app },
        { "review", "Pass or return an application (reviewing office)", usage_review, cmd_review },
        { "decide", "Approve or reject an application (deciding office)", usage_decide, cmd_decide },
        { "status", "This node and its applications at a glance", usage_status, cmd_status },
        { "rebuild", "Recompute the derived tables from the events", usage_rebuild, cmd_rebuild },
        { NULL, NULL, NULL, NULL },
};
