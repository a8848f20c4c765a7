/* `daiban key show` and `daiban roster add|rotate|revoke|list|export`:
 * a node's signing key, and the county's roster of which key may sign
 * for which node (sync/roster.h, docs/roster.md). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <git2.h>
#include <jansson.h>

#include "agent/cli.h"
#include "agent/console.h"
#include "agent/home.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/scan.h"
#include "sync/roster.h"
#include "sync/readmodel.h"
#include "sync/sshsig.h"
#include "forms/calendar.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

struct kopts {
        const char *home, *operator, *note, *from_time;
        int64_t from;
        bool json, has_from;
        const char *allowed;
        int npos;
        char **pos;
};

static int kparse(int argc, char **argv, const char *usage, struct kopts *o)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' },     { "json", no_argument, NULL, 'j' },
                { "operator", required_argument, NULL, 'o' }, { "reason", required_argument, NULL, 'r' },
                { "note", required_argument, NULL, 'r' },     { "from", required_argument, NULL, 'f' },
                { "at", required_argument, NULL, 'f' },       { "from-time", required_argument, NULL, 't' },
                { "allowed-signers", required_argument, NULL, 'a' }, { NULL, 0, NULL, 0 },
        };
        int c;
        char *end;

        memset(o, 0, sizeof *o);
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'H': o->home = optarg; break;
                case 'j': o->json = true; break;
                case 'o': o->operator = optarg; break;
                case 'r': o->note = optarg; break;
                case 't': o->from_time = optarg; break;
                case 'a': o->allowed = optarg; break;
                case 'f':
                        o->from = strtoll(optarg, &end, 10);
                        if (*end || o->from < 1) {
                                cli_error(cli_msg("--from takes a sequence number (1 or more), not '%s'",
                                                  "--from 应为序号（不小于 1），而不是“%s”"), optarg);
                                return EXIT_USAGE;
                        }
                        o->has_from = true;
                        break;
                default:
                        cli_error(cli_msg("option '%s' is not valid here; usage: %s", "此处不能用选项“%s”；用法：%s"),
                                  argv[optind - 1], usage);
                        return EXIT_USAGE;
                }
        }
        o->npos = argc - optind;
        o->pos = argv + optind;
        if (!o->operator)
                o->operator = console_getenv("DAIBAN_OPERATOR");
        return 0;
}

/* ---- key show ------------------------------------------------------------------ */

static const char usage_key[] =
        "Usage: daiban key show [--json] [--home DIR]\n"
        "       daiban key rotate [--note TEXT] [--operator ID] [--home DIR]   (the county)\n"
        "\n"
        "Print this node's public key, as the county enrolls it on its roster\n"
        "('daiban roster add NODE KEY'), with its fingerprint: SHA256:... as\n"
        "ssh-keygen -l prints it, and eight groups of four letters and digits\n"
        "to read over the phone. The secret half stays in HOME/node.key (mode\n"
        "0600); it is never printed and never leaves this machine.\n"
        "\n"
        "rotate, at the county: a new key for the county itself. The county's\n"
        "events not yet committed are committed with the key in use; the\n"
        "roster, signed by that key, ends it at the county's next sequence\n"
        "number and gives the new one everything from there; then the new key\n"
        "replaces it in HOME/node.key. Stations follow at their next sync: the\n"
        "old key vouches for the new one. Stop the hall first.\n";

static int key_rotate(int argc, char **argv);

static int cmd_key(int argc, char **argv)
{
        struct kopts o;
        struct home h;
        const struct sshsig_key *key;
        char line[160], fp[80], spoken[64];
        int r;

        if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
                return key_rotate(argc - 1, argv + 1);
        if (argc < 2 || strcmp(argv[1], "show") != 0) {
                fputs(usage_key, stderr);
                return EXIT_USAGE;
        }
        if ((r = kparse(argc - 1, argv + 1, "daiban key show [--json]", &o)))
                return r;
        if ((r = home_open_cmd(o.home, o.npos, usage_key, &h)))
                return r;
        if ((r = home_key(&h, &key))) {
                home_close(&h);
                return r;
        }
        sshsig_pubkey_line(key->pk, h.node, line, sizeof line);
        sshsig_fingerprint(key->pk, fp, sizeof fp);
        sshsig_fingerprint_spoken(key->pk, spoken, sizeof spoken);
        if (o.json) {
                json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "node", h.node, "key", line, "fingerprint", fp, "spoken",
                                      spoken);
                char *s = json_dumps(j, JSON_SORT_KEYS);
                printf("%s\n", s);
                free(s);
                json_decref(j);
        } else {
                printf(cli_msg("node %s (%s)\npublic key:  %s\nfingerprint: %s\nread aloud:  %s\n",
                               "站点 %s（%s）\n公钥：  %s\n指纹：  %s\n朗读码：%s\n"),
                       h.node, h.name, line, fp, spoken);
        }
        home_close(&h);
        return 0;
}

/* ---- roster ---------------------------------------------------------------------- */

static const char usage_roster[] =
        "Usage: daiban roster add NODE KEY [--from SEQ] [--note TEXT] [--operator ID]\n"
        "       daiban roster rotate NODE KEY [--at SEQ] [--note TEXT] [--operator ID]\n"
        "       daiban roster revoke NODE (--from SEQ | --from-time TIME) --reason TEXT [--operator ID]\n"
        "       daiban roster list [--json]\n"
        "       daiban roster export --allowed-signers FILE\n"
        "       (each with [--home DIR])\n"
        "\n"
        "The county's roster of which key may sign change sets for which node.\n"
        "add, rotate and revoke run at the county (its key signs the roster);\n"
        "the hall and every sync carry it to the stations, which refuse any\n"
        "change set its writer's roster entry does not admit.\n"
        "\n"
        "  add      enroll NODE's KEY (the line 'daiban key show' prints at NODE,\n"
        "           or a file holding it) for its change sets from seq SEQ\n"
        "           (default: 1 for a new node; for a node upgraded from\n"
        "           unsigned change sets, the seq after the last of its events\n"
        "           the county holds). A node that pushes to the hall with its\n"
        "           own token is enrolled at its first signed push without this.\n"
        "  rotate   NODE's new KEY (a replaced PC) takes over at seq SEQ (default:\n"
        "           after the last of NODE's events the county holds); the key in\n"
        "           use, if any (not after a revocation), stops there.\n"
        "  revoke   NODE's key (a lost or stolen PC) is not accepted from SEQ, or\n"
        "           from its first event at or after TIME (YYYY-MM-DD[THH:MM]),\n"
        "           on; what it signed before stays valid.\n"
        "  list     every entry, open or ended.\n"
        "  export   an allowed-signers file for stock git: with it,\n"
        "           git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE\n"
        "           verify-commit checks any change set.\n"
        "\n"
        "--operator ID (or $DAIBAN_OPERATOR) names who made the change; it is\n"
        "recorded in the entry.\n";

/* Open the county's home and roster for a change. */
static int roster_begin(struct kopts *o, struct home *h, git_repository **repo, struct roster *ro, int *lockfd)
{
        char err[512];
        bool present = false;
        int r;

        *repo = NULL;
        *lockfd = -1;
        memset(ro, 0, sizeof *ro);
        if ((r = home_open(home_path(o->home), h)))
                return r;
        if (strcmp(h->role, "county") != 0) {
                cli_error(cli_msg("only the county changes its roster; this node is a %s",
                                  "只有县级可以修改密钥名册；本站点是%s"), h->role);
                home_close(h);
                return EXIT_REFUSED;
        }
        if ((r = home_county_restoring(h))) {
                home_close(h);
                return r;
        }
        if ((*lockfd = home_lock_repo(h)) < 0) {
                home_close(h);
                return EXIT_REFUSED;
        }
        if ((r = home_open_repo(h, repo))) {
                home_unlock_repo(*lockfd);
                home_close(h);
                return r;
        }
        if (roster_open(h->st, *repo, h->node, ro, &present, err, sizeof err) < 0) {
                cli_error(cli_msg("the roster held here cannot be trusted: %s", "本地密钥名册不可信：%s"), err);
                r = EXIT_REFUSED;
        } else if (present && roster_load_all(ro, err, sizeof err) < 0) {
                cli_error(cli_msg("cannot read the roster: %s", "无法读取密钥名册：%s"), err);
                r = EXIT_REFUSED;
        } else if (!present) {
                /* a county home made before keys: its roster starts with its own */
                const struct sshsig_key *key;
                struct roster_entry e = { 0 };
                if ((r = home_key(h, &key)) == 0) {
                        snprintf(ro->county, sizeof ro->county, "%s", h->node);
                        snprintf(e.node, sizeof e.node, "%s", h->node);
                        memcpy(e.pk, key->pk, sizeof e.pk);
                        e.from = store_next_seq(h->st, h->node);
                        snprintf(e.by, sizeof e.by, "%s", o->operator ? o->operator : "daiban");
                        e.at = (int64_t)time(NULL) * 1000;
                        snprintf(e.note, sizeof e.note, "the county's own key; its change sets before this seq were"
                                 " written unsigned");
                        r = roster_add(ro, &e) < 0 ? EXIT_REFUSED : 0;
                }
        }
        if (r) {
                roster_free(ro);
                git_repository_free(*repo);
                *repo = NULL;
                git_libgit2_shutdown();
                home_unlock_repo(*lockfd);
                home_close(h);
        }
        return r;
}

static void roster_end(struct home *h, git_repository *repo, struct roster *ro, int lockfd)
{
        roster_free(ro);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_unlock_repo(lockfd);
        home_close(h);
}

/* KEY: a public key line, or a file whose first line is one. */
static int read_key_arg(const char *arg, uint8_t pk[SSHSIG_PK_BYTES])
{
        char line[512];
        FILE *f;

        if (sshsig_pubkey_parse(arg, pk) == 0)
                return 0;
        if (!(f = fopen(arg, "r")))
                return -EINVAL;
        bool ok = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        return ok && sshsig_pubkey_parse(line, pk) == 0 ? 0 : -EINVAL;
}

static int check_node(struct home *h, const char *node)
{
        const struct cat_division *d = catalog_find_division(h->cat, node);

        if (!d || strncmp(node, h->node, strlen(h->node)) != 0) {
                cli_error(cli_msg("%s is not a division of this county in the catalogue (divisions.csv)",
                                  "%s 不是目录清单（divisions.csv）中本县的区划"), node);
                return EXIT_REFUSED;
        }
        return 0;
}

static struct roster_entry *open_entry(struct roster *ro, const char *node)
{
        for (size_t i = ro->n; i-- > 0;)
                if (strcmp(ro->e[i].node, node) == 0 && ro->e[i].until == 0)
                        return &ro->e[i];
        return NULL;
}

static int save(struct home *h, git_repository *repo, struct roster *ro, const char *msg)
{
        const struct sshsig_key *key;
        char err[512];
        int r;

        if ((r = home_key(h, &key)))
                return r;
        if (roster_commit(h->st, repo, ro, key, msg, err, sizeof err) < 0) {
                cli_error(cli_msg("the roster was not changed: %s", "密钥名册未修改：%s"), err);
                return EXIT_REFUSED;
        }
        return 0;
}

static int need_operator(const struct kopts *o)
{
        if (o->operator && *o->operator)
                return 0;
        cli_error("%s", cli_msg("name who makes this change: --operator ID (or DAIBAN_OPERATOR)",
                                "请用 --operator ID（或 DAIBAN_OPERATOR）注明操作人"));
        return EXIT_USAGE;
}

/* The operator named must be registered at this node and not disabled. */
static int operator_may(struct home *h, const char *op)
{
        int state = home_operator_state(h, op);

        if (state == HOME_OP_ACTIVE)
                return 0;
        cli_error(state == HOME_OP_DISABLED ? cli_msg("operator '%s' is disabled here", "经办人“%s”已停用")
                                            : cli_msg("operator '%s' is not known here ('daiban operator list')",
                                                      "经办人“%s”未在本站登记（见“daiban operator list”）"),
                  op);
        return EXIT_REFUSED;
}

/* roster_begin, then the operator's right to change the roster and,
 * unless NULL, node's place under this county: all ended on a refusal. */
static int roster_begin_as(struct kopts *o, struct home *h, git_repository **repo, struct roster *ro, int *lockfd,
                           const char *node)
{
        int r;

        if ((r = roster_begin(o, h, repo, ro, lockfd)))
                return r;
        if ((r = operator_may(h, o->operator)) || (node && (r = check_node(h, node))))
                roster_end(h, *repo, ro, *lockfd);
        return r;
}

static int roster_cmd_add(int argc, char **argv, bool rotate)
{
        struct kopts o;
        struct home h;
        git_repository *repo;
        struct roster ro;
        struct roster_entry e = { 0 };
        int lockfd, r;
        char msg[160], fp[80];

        if ((r = kparse(argc, argv, rotate ? "daiban roster rotate NODE KEY [--at SEQ]" : "daiban roster add NODE KEY",
                        &o)))
                return r;
        if (o.npos != 2) {
                fputs(usage_roster, stderr);
                return EXIT_USAGE;
        }
        if ((r = need_operator(&o)))
                return r;
        if (read_key_arg(o.pos[1], e.pk) < 0) {
                cli_error(cli_msg("'%s' is not an ssh-ed25519 public key, nor a file holding one; give the line "
                                  "'daiban key show' prints at the node",
                                  "“%s”不是 ssh-ed25519 公钥，也不是含公钥的文件；请使用该站点“daiban key show”显示的那一行"),
                          o.pos[1]);
                return EXIT_USAGE;
        }
        if ((r = roster_begin_as(&o, &h, &repo, &ro, &lockfd, o.pos[0])))
                return r;
        for (size_t i = 0; i < ro.n; i++)
                if (memcmp(ro.e[i].pk, e.pk, sizeof e.pk) == 0) {
                        cli_error(cli_msg("that key is on the roster already, for %s; every node has its own key",
                                          "该密钥已登记给 %s；每个站点使用各自的密钥"), ro.e[i].node);
                        r = EXIT_REFUSED;
                        goto out;
                }
        struct roster_entry *cur = open_entry(&ro, o.pos[0]);
        snprintf(e.node, sizeof e.node, "%s", o.pos[0]);
        snprintf(e.by, sizeof e.by, "%s", o.operator);
        e.at = (int64_t)time(NULL) * 1000;
        snprintf(e.note, sizeof e.note, "%s", o.note ? o.note : rotate ? "rotated" : "enrolled");
        if (!rotate) {
                if (roster_lists(&ro, o.pos[0])) {
                        cli_error(cli_msg("%s is on the roster already; to give it a new key use 'daiban roster rotate'",
                                          "%s 已在名册中；更换密钥请用“daiban roster rotate”"), o.pos[0]);
                        r = EXIT_REFUSED;
                        goto out;
                }
                /* a new node signs from its first seq; one upgraded from
                 * unsigned change sets, after what the county holds of it
                 * (accepted before: not judged again) */
                e.from = o.has_from ? o.from : store_next_seq(h.st, o.pos[0]);
        } else {
                if (!roster_lists(&ro, o.pos[0])) {
                        cli_error(cli_msg("%s is not on the roster; enroll it with 'daiban roster add'",
                                          "%s 不在名册中；请用“daiban roster add”登记"), o.pos[0]);
                        r = EXIT_REFUSED;
                        goto out;
                }
                e.from = o.has_from ? o.from : store_next_seq(h.st, o.pos[0]);
                if (cur && e.from < cur->from) {
                        cli_error(cli_msg("--at %" PRId64 " is before where %s's current key starts (%" PRId64 ")",
                                          "--at %" PRId64 " 早于 %s 当前密钥的起点（%" PRId64 "）"),
                                  e.from, o.pos[0], cur->from);
                        r = EXIT_REFUSED;
                        goto out;
                }
                /* never below what the county holds: those events were
                 * accepted under the key in use (a second PC restored
                 * from the same backup asks for the same seq) */
                int64_t held = store_next_seq(h.st, o.pos[0]) - 1;
                if (e.from <= held) {
                        cli_error(cli_msg("--at %" PRId64 ": the county already holds %s's events up to seq %" PRId64
                                          " under its key in use; the new key can take over only above them",
                                          "--at %" PRId64 "：县里已有 %s 序号至 %" PRId64 " 的事件（使用现有密钥签名）；新密钥只能从其后开始"),
                                  e.from, o.pos[0], held);
                        r = EXIT_REFUSED;
                        goto out;
                }
                /* the key in use ends where the new one takes over; after a
                 * revocation there is none in use, and the new key (a
                 * replacement PC) simply starts */
                if (cur) {
                        cur->until = e.from;
                        snprintf(cur->note, sizeof cur->note, "replaced at seq %" PRId64 " by %s", e.from, o.operator);
                }
        }
        if (strcmp(o.pos[0], h.node) == 0 && rotate) {
                cli_error("%s", cli_msg("the county's own key is not rotated this way yet",
                                        "县级自身密钥暂不能用此方式更换"));
                r = EXIT_REFUSED;
                goto out;
        }
        if (roster_add(&ro, &e) < 0) {
                r = EXIT_REFUSED;
                goto out;
        }
        snprintf(msg, sizeof msg, "roster: %s %s from seq %" PRId64 "\n", rotate ? "rotate" : "enroll", o.pos[0],
                 e.from);
        if ((r = save(&h, repo, &ro, msg)))
                goto out;
        sshsig_fingerprint(e.pk, fp, sizeof fp);
        /* (the verb in the message's own language: the Chinese text
         * once took its arguments in another order and crashed) */
        printf(cli_msg("%s: key %s %s from seq %" PRId64 "\n", "%s：密钥 %s %s，自序号 %" PRId64 " 起生效\n"), o.pos[0], fp,
               rotate ? (cli_zh() ? "接替" : "takes over") : (cli_zh() ? "已登记" : "enrolled"), e.from);
out:
        roster_end(&h, repo, &ro, lockfd);
        return r;
}

/* The first of node's seqs whose event's wall time is at or after t. */
/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" into *tm (local time, mktime's),
 * checked as strptime would */
static bool local_minute(const char *s, struct tm *tm)
{
        int y, mo, d, h = 0, mi = 0, n = -1;
        int32_t days;

        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5 || s[n])
                if (n = -1, h = mi = 0, sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || s[n])
                        return false;
        if (cal_date_from_ymd(y, mo, d, &days) < 0 || h < 0 || h > 23 || mi < 0 || mi > 59)
                return false;
        memset(tm, 0, sizeof *tm);
        tm->tm_year = y - 1900, tm->tm_mon = mo - 1, tm->tm_mday = d, tm->tm_hour = h, tm->tm_min = mi;
        return true;
}

static int64_t seq_from_time(store *st, const char *node, int64_t t_ms)
{
        int64_t seq = store_next_seq(st, node);
        long long first = readmodel_first_seq_since(st, node, t_ms);

        return first >= 0 ? first : seq;
}

static int roster_cmd_revoke(int argc, char **argv)
{
        struct kopts o;
        struct home h;
        git_repository *repo;
        struct roster ro;
        int lockfd, r;
        int64_t from;
        char msg[160];

        if ((r = kparse(argc, argv, "daiban roster revoke NODE (--from SEQ | --from-time TIME) --reason TEXT", &o)))
                return r;
        if (o.npos != 1 || (o.has_from == !!o.from_time) || !o.note || !*o.note) {
                cli_error("%s", cli_msg("revoke needs NODE, one of --from SEQ or --from-time TIME, and --reason TEXT",
                                        "revoke 需要 NODE、--from SEQ 或 --from-time TIME 之一，以及 --reason TEXT"));
                return EXIT_USAGE;
        }
        if ((r = need_operator(&o)))
                return r;
        struct tm tm = { 0 };
        if (o.from_time) {
                if (!local_minute(o.from_time, &tm)) {
                        cli_error(cli_msg("--from-time takes YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time), not '%s'",
                                          "--from-time 应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM（本地时间），而不是“%s”"),
                                  o.from_time);
                        return EXIT_USAGE;
                }
                tm.tm_isdst = -1;
        }
        if ((r = roster_begin_as(&o, &h, &repo, &ro, &lockfd, o.pos[0])))
                return r;
        struct roster_entry *cur = open_entry(&ro, o.pos[0]);
        if (!cur) {
                cli_error(cli_msg("%s has no key in use on the roster", "%s 在名册中没有在用的密钥"), o.pos[0]);
                r = EXIT_REFUSED;
                goto out;
        }
        if (strcmp(o.pos[0], h.node) == 0) {
                cli_error("%s", cli_msg("the county cannot revoke its own key: the roster would have no signer",
                                        "县级不能吊销自身密钥：名册将无人签署"));
                r = EXIT_REFUSED;
                goto out;
        }
        from = o.has_from ? o.from : seq_from_time(h.st, o.pos[0], (int64_t)mktime(&tm) * 1000);
        if (from < cur->from)
                from = cur->from;       /* from its very start: nothing it signed counts */
        cur->until = from;
        snprintf(cur->note, sizeof cur->note, "revoked from seq %" PRId64 " by %s: %s", from, o.operator, o.note);
        snprintf(msg, sizeof msg, "roster: revoke %s's key from seq %" PRId64 "\n", o.pos[0], from);
        if ((r = save(&h, repo, &ro, msg)))
                goto out;
        printf(cli_msg("%s: its key is refused from seq %" PRId64 " on\n", "%s：其密钥自序号 %" PRId64 " 起不再接受\n"),
               o.pos[0], from);
out:
        roster_end(&h, repo, &ro, lockfd);
        return r;
}

static int roster_cmd_list(int argc, char **argv, bool export)
{
        struct kopts o;
        struct home h;
        git_repository *repo = NULL;
        struct roster ro = { 0 };
        bool present = false;
        char path[4096], err[512] = "";
        int r;

        if ((r = kparse(argc, argv, export ? "daiban roster export --allowed-signers FILE" : "daiban roster list [--json]",
                        &o)))
                return r;
        if ((r = home_open_cmd(o.home, o.npos || (export && !o.allowed), usage_roster, &h)))
                return r;
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h.dir);
        if (git_repository_open_bare(&repo, path) < 0 ||
            roster_open(h.st, repo, h.node, &ro, &present, err, sizeof err) < 0 ||
            roster_load_all(&ro, err, sizeof err) < 0) {
                cli_error(cli_msg("cannot read the roster: %s", "无法读取密钥名册：%s"), err[0] ? err :
                          git_error_last() ? git_error_last()->message : "?");
                r = EXIT_REFUSED;
                goto out;
        }
        if (!present) {
                cli_error("%s", cli_msg("this node holds no roster yet (the county's comes with the next sync)",
                                        "本站点尚无密钥名册（下次同步时从县里获取）"));
                r = EXIT_REFUSED;
                goto out;
        }
        if (export) {
                FILE *f = fopen(o.allowed, "w");
                if (!f) {
                        cli_error(cli_msg("cannot write %s", "无法写入 %s"), o.allowed);
                        r = EXIT_REFUSED;
                        goto out;
                }
                /* every key that ever signed: git verify-commit checks the
                 * signature; which seqs a key covers is daiban's check */
                for (size_t i = 0; i < ro.n; i++) {
                        char line[160];
                        sshsig_pubkey_line(ro.e[i].pk, NULL, line, sizeof line);
                        fprintf(f, "%s namespaces=\"git\" %s\n", ro.e[i].node, line);
                }
                if (fclose(f) != 0) {
                        cli_error(cli_msg("cannot write %s", "无法写入 %s"), o.allowed);
                        r = EXIT_REFUSED;
                        goto out;
                }
                printf(cli_msg("%s: %zu keys\n", "%s：%zu 个密钥\n"), o.allowed, ro.n);
                goto out;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < ro.n; i++) {
                const struct roster_entry *e = &ro.e[i];
                char fp[80], line[160];
                sshsig_fingerprint(e->pk, fp, sizeof fp);
                sshsig_pubkey_line(e->pk, NULL, line, sizeof line);
                if (o.json) {
                        json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s}", "node", e->node, "key", line, "fingerprint",
                                              fp, "from", (json_int_t)e->from, "by", e->by, "at", (json_int_t)e->at,
                                              "note", e->note);
                        json_object_set_new(j, "until", e->until ? json_integer(e->until) : json_null());
                        json_array_append_new(arr, j);
                } else if (e->until) {
                        printf(cli_msg("%-12s %s  seq %" PRId64 "..%" PRId64 "  (%s; %s)\n",
                                       "%-12s %s  序号 %" PRId64 "..%" PRId64 "（%s；%s）\n"),
                               e->node, fp, e->from, e->until - 1, e->by, e->note);
                } else {
                        printf(cli_msg("%-12s %s  seq %" PRId64 "..     (%s; %s)\n",
                                       "%-12s %s  序号 %" PRId64 " 起（%s；%s）\n"),
                               e->node, fp, e->from, e->by, e->note);
                }
        }
        if (o.json) {
                char *s = json_dumps(arr, JSON_SORT_KEYS);
                printf("%s\n", s);
                free(s);
        }
        json_decref(arr);
out:
        roster_free(&ro);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_close(&h);
        return r;
}

/* `daiban key rotate`, at the county: see usage_key. */
static int key_rotate(int argc, char **argv)
{
        struct kopts o;
        struct home h;
        git_repository *repo;
        struct roster ro;
        struct roster_entry e = { 0 };
        struct sshsig_key nk;
        const struct sshsig_key *old;
        char err[512], msg[160], fp[80], spoken[64], next[4200], cur_path[4200], *text = NULL;
        int lockfd, r;

        if ((r = kparse(argc, argv, "daiban key rotate [--note TEXT] [--operator ID]", &o)))
                return r;
        if (o.npos) {
                fputs(usage_key, stderr);
                return EXIT_USAGE;
        }
        if ((r = need_operator(&o)))
                return r;
        if ((r = roster_begin_as(&o, &h, &repo, &ro, &lockfd, NULL)))
                return r;
        r = EXIT_REFUSED;
        /* the hall signs the county's change sets with the key it loaded */
        if (home_daemon_running(h.dir, "hall")) {
                cli_error("%s", cli_msg("the hall is running on this home: stop it first (systemctl stop daiban-hall), "
                                        "rotate, then start it again",
                                        "县级服务端正在使用本数据目录：请先停止它（systemctl stop daiban-hall），更换密钥后再启动"));
                goto out;
        }
        struct roster_entry *cur = open_entry(&ro, h.node);
        if (!cur) {
                cli_error("%s", cli_msg("the roster gives the county no key in use; nothing to rotate",
                                        "名册中县级没有在用的密钥，无需更换"));
                goto out;
        }
        snprintf(next, sizeof next, "%s/node.key.next", h.dir);
        snprintf(cur_path, sizeof cur_path, "%s/node.key", h.dir);
        if (access(next, F_OK) == 0) {
                cli_error("%s", cli_msg("a rotation was cut short here (HOME/node.key.next): run 'daiban key show' to "
                                        "finish or drop it, then rotate again",
                                        "此前的密钥更换未完成（HOME/node.key.next）：请先运行“daiban key show”完成或撤销，再更换"));
                goto out;
        }
        if ((r = home_key(&h, &old)))
                goto out;
        r = EXIT_REFUSED;
        if (memcmp(old->pk, cur->pk, sizeof cur->pk) != 0) {
                cli_error("%s", cli_msg("HOME/node.key is not the county's key on the roster; it cannot vouch for a new one",
                                        "HOME/node.key 不是名册中的县级密钥，无法为新密钥作保"));
                goto out;
        }
        /* the store's write lock from here to the swap: no event of the
         * county can take a sequence number between what the old key signs
         * and where the new one starts */
        if (store_begin(h.st) < 0) {
                cli_error(cli_msg("cannot lock the store: %s", "无法锁定数据库：%s"), store_errmsg(h.st));
                goto out;
        }
        /* what the old key signs: every event up to here */
        long pieces = 0;
        if (feed_commit_local(h.st, repo, h.node, old, NULL, cli_log, NULL) < 0 ||
            scan_commit_local(h.st, repo, h.node, old, &pieces, cli_log, NULL) < 0) {
                cli_error("%s", cli_msg("the county's events could not be committed with the key in use; nothing was changed",
                                        "未能用在用密钥提交县级事件；未做任何修改"));
                store_rollback(h.st);
                goto out;
        }
        int64_t at = store_next_seq(h.st, h.node);
        /* the new key, written before the roster names it (a crash leaves
         * it unused: home_key removes it, or finishes the swap when the
         * roster did name it) */
        int fd = -1;
        if (sshsig_keygen(&nk) < 0 || sshsig_key_encode(&nk, h.node, &text) < 0 ||
            (fd = open(next, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
            write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 || durable_sync_dir(h.dir) < 0) {
                cli_error(cli_msg("cannot write the new key %s: %s", "无法写入新密钥 %s：%s"), next, strerror(errno));
                if (fd >= 0)
                        close(fd);
                unlink(next);
                goto out_key;
        }
        close(fd);
        cur->until = at;
        snprintf(cur->note, sizeof cur->note, "replaced at seq %" PRId64 " by %s", at, o.operator);
        snprintf(e.node, sizeof e.node, "%s", h.node);
        memcpy(e.pk, nk.pk, sizeof e.pk);
        e.from = at;
        snprintf(e.by, sizeof e.by, "%s", o.operator);
        e.at = (int64_t)time(NULL) * 1000;
        snprintf(e.note, sizeof e.note, "%s", o.note ? o.note : "the county's key rotated");
        snprintf(msg, sizeof msg, "roster: rotate the county's key %s from seq %" PRId64 "\n", h.node, at);
        if (roster_add(&ro, &e) < 0 || (r = save(&h, repo, &ro, msg))) {
                unlink(next);
                r = EXIT_REFUSED;
                goto out_key;
        }
        /* named: the new key takes the old one's place */
        if (rename(next, cur_path) < 0 || durable_sync_dir(h.dir) < 0) {
                cli_error(cli_msg("the roster names the new key, but %s could not replace %s (%s): run any daiban "
                                  "command on this home to finish", "名册已登记新密钥，但 %s 未能替换 %s（%s）：在本数据目录运行任意 daiban 命令即可完成"),
                          next, cur_path, strerror(errno));
                r = EXIT_REFUSED;
                goto out_key;
        }
        if (store_commit(h.st) < 0) {
                cli_error(cli_msg("the key was rotated, but the store's bookkeeping was not saved: %s",
                                  "密钥已更换，但数据库记录未保存：%s"), store_errmsg(h.st));
                r = EXIT_REFUSED;
                goto out_key;
        }
        sshsig_fingerprint(nk.pk, fp, sizeof fp);
        sshsig_fingerprint_spoken(nk.pk, spoken, sizeof spoken);
        printf(cli_msg("the county's key is now %s (read aloud: %s) from seq %" PRId64 "; the old one signed up to "
                       "seq %" PRId64 ". Stations take it at their next sync.\n",
                       "县级密钥已更换为 %s（朗读码：%s），自序号 %" PRId64 " 起生效；旧密钥签署至序号 %" PRId64
                       "。各站点下次同步时自动接收。\n"),
               fp, spoken, at, at - 1);
        r = 0;
out_key:
        if (r)
                store_rollback(h.st);   /* (no-op once committed) */
        sodium_memzero(&nk, sizeof nk);
        if (text) {
                sodium_memzero(text, strlen(text));
                free(text);
        }
out:
        (void)err;
        roster_end(&h, repo, &ro, lockfd);
        return r;
}

static int cmd_roster(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "add") == 0)
                return roster_cmd_add(argc - 1, argv + 1, false);
        if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
                return roster_cmd_add(argc - 1, argv + 1, true);
        if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
                return roster_cmd_revoke(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "list") == 0)
                return roster_cmd_list(argc - 1, argv + 1, false);
        if (argc >= 2 && strcmp(argv[1], "export") == 0)
                return roster_cmd_list(argc - 1, argv + 1, true);
        fputs(usage_roster, stderr);
        return EXIT_USAGE;
}

const struct cli_command key_commands[] = {
        { "key", "Show this node's signing key", usage_key, cmd_key },
        { "roster", "The county's roster of signing keys", usage_roster, cmd_roster },
        { NULL, NULL, NULL, NULL },
};
