/* The node's commands' shared steps (cmd-app-int.h): their options
 * parsed, the home and the core's context opened, a core_result printed
 * in the user's language, a one-event step run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cmd-app-int.h"
#include "agent/console.h"

/* ---- options shared by the commands --------------------------------------- */

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

int cmd_parse(int argc, char **argv, unsigned allowed, int npos, const char *usage, struct opts *o)
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
                o->operator = console_getenv("DAIBAN_OPERATOR");
        return 0;
}

/* ---- the context of a command ------------------------------------------------ */

void cmd_print_problems(const struct form_problems *p)
{
        for (size_t i = 0; i < p->n; i++)
                fprintf(stderr, "  %s%s%s [%s]\n", p->v[i].path, p->v[i].path[0] ? ": " : "",
                        cli_zh() ? p->v[i].msg_zh : p->v[i].msg_en, p->v[i].code);
}

int cmd_print_result(struct core_result *res)
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
                cmd_print_problems(p);
        return core_exit_code(res->status);
}

int cmd_ctx_open(struct ctx *c)
{
        bool bad;
        int r;

        core_result_init(&c->res);
        c->today = home_today(c->o.today, &bad);
        if (bad) {
                cli_error(cli_msg("--today: '%s' is not a date (YYYY-MM-DD)", "--today：“%s”不是有效日期（YYYY-MM-DD）"),
                          c->o.today ? c->o.today : console_getenv("DAIBAN_TODAY"));
                return EXIT_USAGE;
        }
        r = home_open(home_path(c->o.home), &c->h);
        if (r)
                return r;
        c->open = true;
        if (core_act(&c->core, &c->h, c->o.node, c->o.operator, c->today, &c->res))
                return cmd_print_result(&c->res);
        return 0;
}

void cmd_ctx_close(struct ctx *c)
{
        if (c->open)
                home_close(&c->h);
        core_result_finish(&c->res);
}

/* ---- the words, in the user's language ---------------------------------------- */

const char *cmd_tr(const char *en)
{
        return cli_zh() ? app_rule_zh(en) : en;
}

const char *cmd_status_zh(const char *s)
{
        return app_status_name(s, cli_zh());
}

int cmd_load_targets(struct ctx *c, const char *key, struct app_row **ret, size_t *n)
{
        return core_app_rows(&c->h, key, ret, n, &c->res) ? cmd_print_result(&c->res) : 0;
}

/* ---- one-event steps ---------------------------------------------------------- */

int cmd_step(struct ctx *c, const struct core_step *in)
{
        const char *en, *zh;
        int r;

        core_result_init(&c->res);
        if (core_step_check(in, &c->res)) {
                r = cmd_print_result(&c->res);
                core_result_finish(&c->res);
                return r;
        }
        core_result_finish(&c->res);
        if (!(r = cmd_ctx_open(c))) {
                if (core_app_step(&c->core, c->o.pos[0], in, &c->res) != CORE_OK) {
                        r = cmd_print_result(&c->res);
                } else {
                        core_step_done(in, &en, &zh);
                        printf("%s %s\n", c->o.pos[0], cli_zh() ? zh : en);
                }
        }
        cmd_ctx_close(c);
        return r;
}
