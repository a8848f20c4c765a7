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
#include "agent/core/core.h"
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

/* ---- the context of a command ------------------------------------------------ */

struct ctx {
        struct home h;
        struct opts o;
        struct core_ctx core;   /* who acts, where, when */
        struct core_result res;
        int32_t today;
        bool open;
};

static void print_problems(const struct form_problems *p)
{
        for (size_t i = 0; i < p->n; i++)
                fprintf(stderr, "  %s%s%s [%s]\n", p->v[i].path, p->v[i].path[0] ? ": " : "",
                        cli_zh() ? p->v[i].msg_zh : p->v[i].msg_en, p->v[i].code);
}

/* Print a result: its message (an error on stderr, with its problems;
 * what was done on stdout), and return the exit code. */
static int print_result(struct core_result *res)
{
        const struct form_problems *p = &res->problems;

        if (res->status == CORE_OK) {
                if (res->en)
                        printf("%s\n", cli_zh() ? res->zh : res->en);
                return 0;
        }
        if (res->en)
                cli_error_both(res->en, res->zh);
        /* only the problems that stopped it (not a draft's to-do list) */
        if (res->status != CORE_INVALID)
                ;
        else if (p->n && cli_json_errors())
                cli_json_problems(p);
        else
                print_problems(p);
        return core_exit_code(res->status);
}

static int ctx_open(struct ctx *c)
{
        bool bad;
        int r;

        core_result_init(&c->res);
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
        if (core_act(&c->core, &c->h, c->o.node, c->o.operator, c->today, &c->res))
                return print_result(&c->res);
        return 0;
}

static void ctx_close(struct ctx *c)
{
        if (c->open)
                home_close(&c->h);
        core_result_finish(&c->res);
}

/* ---- the words, in the user's language ---------------------------------------- */

static const char *tr(const char *en)
{
        return cli_zh() ? app_rule_zh(en) : en;
}

static const char *status_zh(const char *s)
{
        return app_status_name(s, cli_zh());
}

/* The applications key names, or the refusal printed. */
static int load_targets(struct ctx *c, const char *key, struct app_row **ret, size_t *n)
{
        return core_app_rows(&c->h, key, ret, n, &c->res) ? print_result(&c->res) : 0;
}

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
        print_problems(p);
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
        c.core.operator = c.o.pos[0];
        if (core_check_operator(&c.core, &c.res)) {
                r = print_result(&c.res);
                goto out;
        }
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

/* operator disable|enable ID --operator WHO */
static int operator_able(int argc, char **argv, bool disable)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR, 1,
                      disable ? "daiban operator disable ID --operator WHO" : "daiban operator enable ID --operator WHO",
                      &c.o);

        if (!r && !(r = ctx_open(&c)))
                r = (core_operator_able(&c.core, c.o.pos[0], disable, &c.res), print_result(&c.res));
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
                struct readmodel_operator *ops = NULL;
                size_t n = 0;
                readmodel_operators(c.h.st, NULL, &ops, &n);
                for (size_t i = 0; i < n; i++)
                        printf("%-12s %-12s %s%s\n", ops[i].id, ops[i].name, ops[i].node,
                               ops[i].disabled ? cli_msg("  (disabled)", "  （已停用）") : "");
                free(ops);
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
        if (!(r = ctx_open(&c)))
                r = (core_operator_add(&c.core, c.o.pos[0], c.o.name, &c.res), print_result(&c.res));
out:
        ctx_close(&c);
        return r;
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

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_SUBMIT | O_TODAY | O_NODE | O_MATERIALS | O_REQUEST,
                  1, "daiban app new CODE --data FILE.json [--materials FILE.json] [--submit] [--request KEY]", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app new needs --data FILE.json", "app new 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)))
                goto out;
        if (!(data = load_json_file(c.o.data, true)) || (c.o.materials && !(mats = load_json_file(c.o.materials, false)))) {
                r = EXIT_REFUSED;
                goto out;
        }
        struct core_new in = { .code = c.o.pos[0], .data = data, .materials = mats, .request = c.o.request,
                               .submit = (c.o.given & O_SUBMIT) != 0 };
        if (core_app_new(&c.core, &in, &c.res) != CORE_OK) {
                r = print_result(&c.res);
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
        ctx_close(&c);
        return r;
}

static int app_edit(int argc, char **argv)
{
        struct ctx c = { 0 };
        json_t *data = NULL;
        int r;

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_DATA | O_TODAY, 1, "daiban app edit ID --data FILE.json", &c.o);
        if (r)
                return r;
        if (!c.o.data) {
                cli_error("%s", cli_msg("app edit needs --data FILE.json", "app edit 需要 --data FILE.json"));
                return EXIT_USAGE;
        }
        if ((r = ctx_open(&c)))
                goto out;
        if (!(data = load_json_file(c.o.data, true))) {
                r = EXIT_REFUSED;
                goto out;
        }
        if (core_app_edit(&c.core, c.o.pos[0], data, &c.res) != CORE_OK) {
                r = print_result(&c.res);
                goto out;
        }
        print_still_to_do(&c.res);
        printf(cli_msg("%s: data saved\n", "%s：数据已保存\n"), c.o.pos[0]);
out:
        json_decref(data);
        ctx_close(&c);
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

        r = parse(argc, argv, O_HOME | O_OPERATOR | O_FILE | O_PROMISE | O_TODAY, 3,
                  "daiban app material ID MATERIAL provided|missing|deficient [--file PATH] [--promise YYYY-MM-DD]", &c.o);
        if (r)
                return r;
        struct core_material in = { .material = c.o.pos[1], .state = c.o.pos[2], .promise = c.o.promise };
        int32_t unused;
        /* the arguments first: a wrong one is a usage error before
         * anything is opened or read */
        core_result_init(&c.res);
        if (core_material_check(&in, c.o.file != NULL, &unused, &c.res)) {
                r = print_result(&c.res);
                core_result_finish(&c.res);
                return r;
        }
        core_result_finish(&c.res);
        if ((r = ctx_open(&c)))
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
                r = print_result(&c.res);
                goto out;
        }
        printf(cli_msg("%s: %s %s%s%s\n", "%s：%s %s%s%s\n"), c.o.pos[0], c.o.pos[1], c.o.pos[2], c.res.blob[0] ? " " : "",
               c.res.blob);
out:
        free(scan);
        ctx_close(&c);
        return r;
}

static int app_submit(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app submit ID", &c.o);

        if (r)
                return r;
        if (!(r = ctx_open(&c))) {
                if (core_app_submit(&c.core, c.o.pos[0], &c.res) != CORE_OK)
                        r = print_result(&c.res);
                else if (c.res.resubmitted)
                        printf(cli_msg("%s resubmitted\n", "%s 已重新提交\n"), c.o.pos[0]);
                else
                        printf(cli_msg("accepted: receipt %s\n", "已受理，受理编号 %s\n"), c.res.receipt);
        }
        ctx_close(&c);
        return r;
}

/* ---- one-event commands: withdraw, deliver, rate, review, decide ------------- */

/* Run a step: its arguments checked before the home is opened. */
static int step(struct ctx *c, const struct core_step *in)
{
        const char *en, *zh;
        int r;

        core_result_init(&c->res);
        if (core_step_check(in, &c->res)) {
                r = print_result(&c->res);
                core_result_finish(&c->res);
                return r;
        }
        core_result_finish(&c->res);
        if (!(r = ctx_open(c))) {
                if (core_app_step(&c->core, c->o.pos[0], in, &c->res) != CORE_OK) {
                        r = print_result(&c->res);
                } else {
                        core_step_done(in, &en, &zh);
                        printf("%s %s\n", c->o.pos[0], cli_zh() ? zh : en);
                }
        }
        ctx_close(c);
        return r;
}

static int app_withdraw(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_TODAY, 1, "daiban app withdraw ID --reason TEXT", &c.o);

        return r ? r : step(&c, &(struct core_step){ .kind = CORE_WITHDRAW, .reason = c.o.reason });
}

static int app_deliver(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_TODAY, 1, "daiban app deliver ID", &c.o);

        return r ? r : step(&c, &(struct core_step){ .kind = CORE_DELIVER });
}

static int app_rate(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r = parse(argc, argv, O_HOME | O_OPERATOR | O_LEVEL | O_COMMENT | O_TODAY, 1,
                      "daiban app rate ID --level 1-5 [--comment TEXT]", &c.o);

        return r ? r : step(&c, &(struct core_step){ .kind = CORE_RATE, .level = c.o.level, .comment = c.o.comment });
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

        return r ? r : step(&c, &(struct core_step){ .kind = CORE_REVIEW, .result = c.o.pos[1], .reason = c.o.reason });
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

        return r ? r : step(&c, &(struct core_step){ .kind = CORE_DECIDE, .result = c.o.pos[1], .reason = c.o.reason });
}

/* ---- reading: show, list, log, receipt, notice, status -------------------------- */

static const char *date_str(long long day, char *buf)
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
                        json_object_set_new(m, "promise", json_string(date_str(p, a)));
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
        struct readmodel_page page = { 0 };
        char a[11];
        int rc = parse(argc, argv, O_HOME | O_JSON | O_STATUS | O_OVERDUE | O_LIMIT | O_AFTER | O_TODAY, 0,
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
        if ((rc = ctx_open(&c)))
                goto out;
        struct readmodel_filter f = {
                .today = c.today, .status = c.o.status, .overdue = c.o.given & O_OVERDUE, .due_within = -1,
                .limit = c.o.limit, .after = c.o.after, .with_data = c.o.given & O_JSON,
        };
        int r = readmodel_app_list(c.h.st, &f, &page);
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
        json_t *arr = json_array();
        for (size_t i = 0; i < page.n; i++) {
                const struct app_row *row = &page.rows[i];
                if (c.o.given & O_JSON) {
                        json_t *j = app_summary_json(&c.h, c.today, row);
                        json_object_set_new(j, "promise_overdue", json_boolean(row->promise_overdue));
                        json_array_append_new(arr, j);
                } else
                        printf("%-20s %-18s %-12s %-10s %-10s %s%s%s\n", row->id, row->receipt[0] ? row->receipt : "-",
                               row->matter, status_zh(row->status), date_str(row->due, a), row->applicant,
                               row->due >= 0 && app_status_open(row->status) && cal_is_overdue((int32_t)row->due, c.today)
                                       ? cli_msg("  OVERDUE", "  超期") : "",
                               row->promise_overdue ? cli_msg("  PROMISE OVERDUE", "  容缺逾期") : "");
        }
        if (c.o.given & O_JSON) {
                json_t *pj = json_pack("{s:o,s:s?}", "applications", arr, "next", page.next[0] ? page.next : NULL);
                char *s = json_dumps(pj, JSON_INDENT(1));
                puts(s);
                free(s);
                json_decref(pj);
        } else {
                json_decref(arr);
                if (page.next[0])
                        printf(cli_msg("more: --after %s\n", "下一页：--after %s\n"), page.next);
        }
out:
        readmodel_page_finish(&page);
        ctx_close(&c);
        return rc;
}

static int app_log(int argc, char **argv)
{
        struct ctx c = { 0 };
        struct app_row *t = NULL;
        size_t n = 0;
        int rc = parse(argc, argv, O_HOME | O_JSON, 1, "daiban app log ID [--json]", &c.o);

        if (rc || (rc = ctx_open(&c)) || (rc = load_targets(&c, c.o.pos[0], &t, &n)))
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

static int cmd_status(int argc, char **argv)
{
        struct ctx c = { 0 };
        int rc = parse(argc, argv, O_HOME | O_JSON | O_TODAY, 0, "daiban status [--json]", &c.o);

        if (rc || (rc = ctx_open(&c)))
                goto out;
        const char *names[16];
        size_t ns = 0;
        while (ns < 15 && (names[ns] = app_status_nth(ns)))
                ns++;
        names[ns] = NULL;
        struct readmodel_counts counts = { 0 };
        if (readmodel_counts(c.h.st, c.today, names, &counts) < 0) {
                cli_error(cli_msg("cannot read the store: %s", "无法读取数据库：%s"), store_errmsg(c.h.st));
                rc = EXIT_REFUSED;
                goto out;
        }
        json_t *by = counts.by_status;
        long long overdue = counts.overdue, promises = counts.overdue_promises, conflicts = counts.conflicts;
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
                if (core_begin(&c.h, &c.res)) {
                        rc = print_result(&c.res);
                        goto out;
                }
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
        if (core_begin(&c.h, &c.res)) {
                rc = print_result(&c.res);
                goto out;
        }
        bool tty = isatty(2);
        if (fold_rebuild(c.h.st, tty ? progress : NULL, NULL) < 0 || store_commit(c.h.st) < 0) {
                rc = (core_store_failed(&c.h, &c.res), print_result(&c.res));
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
