/* The node's own commands: init (a new home), operator (add, list,
 * passwd, disable, enable), review and decide (the offices' steps),
 * status (this node at a glance) and rebuild (the derived tables from
 * the events). Every command that writes does it as one transaction
 * through the core: a refusal writes nothing. See docs/lifecycle.md and
 * docs/store.md. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "agent/cmd-app-int.h"
#include "agent/console.h"
#include "agent/join.h"
#include "agent/station.h"
#include "sync/durable.h"
#include "sync/fold.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

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
        int r = cmd_parse(argc, argv, O_HOME | O_NODE | O_ROLE | O_CATALOG | O_NAME | O_COUNTY_KEY | O_REJOIN | O_KEY |
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

static int operator_passwd(int argc, char **argv)
{
        struct ctx c = { 0 };
        char pw[STATION_MAX_PASSWORD + 2], again[STATION_MAX_PASSWORD + 2], err[512];
        sqlite3 *db = NULL;
        int r = cmd_parse(argc, argv, O_HOME, 1, "daiban operator passwd ID", &c.o);

        if (r || (r = cmd_ctx_open(&c)))
                goto out;
        c.core.operator = c.o.pos[0];
        if (core_check_operator(&c.core, &c.res)) {
                r = cmd_print_result(&c.res);
                goto out;
        }
        if (console_read_secret(cli_msg("New password: ", "新密码："), pw, sizeof pw) < 0) {
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
                if (console_read_secret(cli_msg("Again: ", "再输入一次："), again, sizeof again) < 0 || strcmp(pw, again)) {
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
        cmd_ctx_close(&c);
        return r;
}

/* operator disable|enable ID --operator WHO */
static int operator_able(int argc, char **argv, bool disable)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR, 1,
                      disable ? "daiban operator disable ID --operator WHO" : "daiban operator enable ID --operator WHO",
                      &c.o);

        if (!r && !(r = cmd_ctx_open(&c)))
                r = (core_operator_able(&c.core, c.o.pos[0], disable, &c.res), cmd_print_result(&c.res));
        cmd_ctx_close(&c);
        return r;
}

static int cmd_operator(int argc, char **argv)
{
        struct ctx c = { 0 };
        int r;

        if (argc >= 2 && strcmp(argv[1], "list") == 0) {
                r = cmd_parse(argc - 1, argv + 1, O_HOME, 0, "daiban operator list", &c.o);
                if (r || (r = cmd_ctx_open(&c)))
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
        r = cmd_parse(argc - 1, argv + 1, O_HOME | O_NAME | O_OPERATOR, 1, "daiban operator add ID --name NAME", &c.o);
        if (r)
                return r;
        if (!c.o.name || !*c.o.name || !*c.o.pos[0] || strlen(c.o.pos[0]) > 32) {
                cli_error("%s", cli_msg("operator add needs an ID (at most 32 characters) and --name NAME",
                                        "operator add 需要 ID（最多 32 个字符）和 --name 姓名"));
                return EXIT_USAGE;
        }
        if (!(r = cmd_ctx_open(&c)))
                r = (core_operator_add(&c.core, c.o.pos[0], c.o.name, &c.res), cmd_print_result(&c.res));
out:
        cmd_ctx_close(&c);
        return r;
}

/* ---- the offices' steps: review, decide -------------------------------------- */

static const char usage_review[] =
        "Usage: daiban review ID pass|return [--reason TEXT] [--node CODE]\n"
        "\n"
        "The reviewing office (the township for most matters) passes the\n"
        "application up to the deciding office, or returns it to the station\n"
        "for correction; a return needs --reason listing everything to fix.\n"
        "--node acts as that office on this store (until sync, this is how\n"
        "the township's events are written).\n";

/* An office's step: ID, its result, maybe --reason, as --node. */
static int office_step(int argc, char **argv, enum core_step_kind kind, const char *usage)
{
        struct ctx c = { 0 };
        int r = cmd_parse(argc, argv, O_HOME | O_OPERATOR | O_REASON | O_NODE | O_TODAY, 2, usage, &c.o);

        return r ? r : cmd_step(&c, &(struct core_step){ .kind = kind, .result = c.o.pos[1], .reason = c.o.reason });
}

static int cmd_review(int argc, char **argv)
{
        return office_step(argc, argv, CORE_REVIEW, "daiban review ID pass|return [--reason TEXT] [--node CODE]");
}

static const char usage_decide[] =
        "Usage: daiban decide ID approve|reject [--reason TEXT] [--node CODE]\n"
        "\n"
        "The deciding office decides; a rejection needs --reason. --node acts\n"
        "as that office on this store (until sync).\n";

static int cmd_decide(int argc, char **argv)
{
        return office_step(argc, argv, CORE_DECIDE, "daiban decide ID approve|reject [--reason TEXT] [--node CODE]");
}

static const char usage_status[] =
        "Usage: daiban status [--json] [--home DIR]\n"
        "\n"
        "This node, its store and its applications by status, with the\n"
        "overdue ones, the overdue 容缺 promises and the conflicts.\n";

static int cmd_status(int argc, char **argv)
{
        struct ctx c = { 0 };
        int rc = cmd_parse(argc, argv, O_HOME | O_JSON | O_TODAY, 0, "daiban status [--json]", &c.o);

        if (rc || (rc = cmd_ctx_open(&c)))
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
                                printf("  %-10s %lld\n", cmd_status_zh(k), (long long)json_integer_value(v));
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
        cmd_ctx_close(&c);
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
        int rc = cmd_parse(argc, argv, O_HOME | O_VERIFY, 0, "daiban rebuild [--verify]", &c.o);

        if (rc || (rc = cmd_ctx_open(&c)))
                goto out;
        if (c.o.given & O_VERIFY) {
                if (core_begin(&c.h, &c.res)) {
                        rc = cmd_print_result(&c.res);
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
                rc = cmd_print_result(&c.res);
                goto out;
        }
        bool tty = isatty(2);
        if (fold_rebuild(c.h.st, tty ? progress : NULL, NULL) < 0 || store_commit(c.h.st) < 0) {
                rc = (core_store_failed(&c.h, &c.res), cmd_print_result(&c.res));
                goto out;
        }
        printf(cli_msg("rebuilt from %lld events\n", "已由 %lld 个事件重建\n"), (long long)store_nevents(c.h.st));
out:
        cmd_ctx_close(&c);
        return rc;
}

/* ---- dispatch ------------------------------------------------------------------ */

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
