/* `daiban backup` and `daiban restore`: a home as one file, and back
 * (agent/backup.h, docs/backup.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "agent/backup.h"
#include "agent/cli.h"
#include "agent/home.h"

#define MIN_PASSPHRASE 8

static const char usage_backup[] =
        "Usage: daiban backup [--to DIR] [--keep N] [--copy-to DIR] [--key-passphrase -|@FILE] [--json]\n"
        "                     [--home DIR]\n"
        "\n"
        "Write this home to one file, DIR/daiban-<node>-<UTC time>.tar.gz: the\n"
        "store and station.db (SQLite's online backup: the station keeps serving\n"
        "and capturing meanwhile), every ref and object as a git bundle, the\n"
        "installed catalogues, a manifest with a SHA-256 per file. The node's\n"
        "key goes in only sealed with a passphrase (--key-passphrase: \"-\" reads\n"
        "it from stdin, @FILE from a file; at least 8 characters); without one\n"
        "it is left out, and a restore needs the node.key kept elsewhere.\n"
        "\n"
        "  --to DIR    where to write (default HOME/backups; a mounted USB stick)\n"
        "  --keep N    then keep this node's newest N backups in DIR, remove the\n"
        "              rest (default 7; 0 keeps all)\n"
        "  --copy-to DIR  when a USB stick is mounted at DIR (a mount point, such\n"
        "              as an fstab automount for a labelled stick), copy the\n"
        "              backup there too and keep the newest N there; when none\n"
        "              is, say so and go on (exit 0)\n";

static const char usage_restore[] =
        "Usage: daiban restore FILE [--home DIR] [--key-passphrase -|@FILE] [--key FILE] [--json]\n"
        "       daiban restore FILE --offline [--home DIR] [--json]\n"
        "\n"
        "Rebuild a home from a backup, on a fresh machine or in a new folder\n"
        "(DIR must be absent or empty). Every file is checked against the\n"
        "backup's manifest before the home appears. The node's key comes from\n"
        "the backup (sealed: give its passphrase) or from --key FILE.\n"
        "\n"
        "A restored node must never sign a sequence number it already sent: it\n"
        "refuses to write until `daiban sync` has fetched from the hall what\n"
        "this node sent after the backup, and goes on after it.\n"
        "\n"
        "--offline: no link to the hall now (a village that syncs by stick, a\n"
        "dead line). The home gets a new key and numbers its events from a new\n"
        "epoch, above any its old key could have signed; it writes at once. Its\n"
        "events leave only after a sync with the hall, and are accepted once\n"
        "the county enrolls the new key (the command to give it is printed).\n";

struct bopts {
        const char *home, *to, *pass, *key, *copy_to;
        int keep;
        bool json, offline;
        int npos;
        char **pos;
};

static int bparse(int argc, char **argv, const char *usage, struct bopts *o)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "to", required_argument, NULL, 't' },
                { "keep", required_argument, NULL, 'k' }, { "key-passphrase", required_argument, NULL, 'p' },
                { "key", required_argument, NULL, 'K' },  { "json", no_argument, NULL, 'j' },
                { "copy-to", required_argument, NULL, 'c' }, { "offline", no_argument, NULL, 'o' },
                { NULL, 0, NULL, 0 },
        };
        int c;
        char *end;

        memset(o, 0, sizeof *o);
        o->keep = BACKUP_KEEP_DEFAULT;
        optind = 1;
        opterr = 0;
        if (cli_wants_help(argc, argv)) {
                fputs(usage, stdout);
                return -1;
        }
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'H': o->home = optarg; break;
                case 't': o->to = optarg; break;
                case 'p': o->pass = optarg; break;
                case 'K': o->key = optarg; break;
                case 'c': o->copy_to = optarg; break;
                case 'j': o->json = true; break;
                case 'o': o->offline = true; break;
                case 'k': {
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < 0 || v > 100000) {
                                cli_error(cli_msg("--keep takes a number of backups (0 keeps all), not '%s'",
                                                  "--keep 应为保留的备份份数（0 表示全部保留），而不是“%s”"), optarg);
                                return EXIT_USAGE;
                        }
                        o->keep = (int)v;
                        break;
                }
                default:
                        cli_error(cli_msg("unknown or incomplete option '%s'", "未知或不完整的选项“%s”"),
                                  argv[optind - 1]);
                        fputs(usage, stderr);
                        return EXIT_USAGE;
                }
        }
        o->npos = argc - optind;
        o->pos = argv + optind;
        return 0;
}

/* The passphrase, never from the arguments themselves (a process list
 * shows them). */
static int passphrase(const char *spec, char *buf, size_t len, bool sealing)
{
        if (strcmp(spec, "-") != 0 && spec[0] != '@') {
                cli_error("%s", cli_msg("--key-passphrase takes - (read it from stdin) or @FILE, never the passphrase "
                                        "itself: the process list would show it",
                                        "--key-passphrase 应为 -（从标准输入读取）或 @FILE，不能直接写口令：进程列表会显示它"));
                return EXIT_USAGE;
        }
        if (!cli_read_secret(spec, buf, len)) {
                cli_error(cli_msg("no passphrase could be read from %s", "未能从 %s 读取口令"),
                          strcmp(spec, "-") == 0 ? "stdin" : spec + 1);
                return EXIT_USAGE;
        }
        if (sealing && strlen(buf) < MIN_PASSPHRASE) {
                cli_error(cli_msg("the passphrase must have at least %d characters: it guards the node's signing key",
                                  "口令至少需要 %d 个字符：它保护本节点的签名密钥"), MIN_PASSPHRASE);
                return EXIT_USAGE;
        }
        return 0;
}

static void human_size(uint64_t b, char *out, size_t len)
{
        if (b >= 10u << 20)
                snprintf(out, len, "%.0f MiB", (double)b / (1 << 20));
        else if (b >= 1u << 20)
                snprintf(out, len, "%.1f MiB", (double)b / (1 << 20));
        else
                snprintf(out, len, "%.0f KiB", (double)b / 1024);
}

static int cmd_backup(int argc, char **argv)
{
        struct bopts o;
        struct backup_result res;
        struct backup_msg m;
        char pass[512], to[4096];
        int r;

        if ((r = bparse(argc, argv, usage_backup, &o)))
                return r < 0 ? 0 : r;
        if (o.npos || o.key || o.offline) {
                fputs(usage_backup, stderr);
                return EXIT_USAGE;
        }
        if (o.pass && (r = passphrase(o.pass, pass, sizeof pass, true)))
                return r;
        const char *home = home_path(o.home);
        snprintf(to, sizeof to, "%s", o.to ? o.to : "");
        if (!o.to)
                snprintf(to, sizeof to, "%s/backups", home);
        if (sodium_init() < 0)
                return EXIT_REFUSED;
        git_libgit2_init();
        r = backup_write(home, to, o.pass ? pass : NULL, o.keep, &res, &m);
        git_libgit2_shutdown();
        sodium_memzero(pass, sizeof pass);
        if (r < 0) {
                cli_error_both(m.en, m.zh);
                return EXIT_REFUSED;
        }
        /* for `daiban doctor`: when the last backup was made, and where */
        struct home h;
        if (home_open(home, &h) == 0) {
                char when[32];
                time_t now = time(NULL);
                struct tm tm;
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
                if (store_begin(h.st) < 0 || store_meta_set(h.st, "backup.last", when) < 0 ||
                    store_meta_set(h.st, "backup.last_path", res.path) < 0 || store_commit(h.st) < 0)
                        store_rollback(h.st);   /* bookkeeping only: the backup is written */
                home_close(&h);
        }
        /* the copy to a stick, when one is there */
        char copied[4096] = "";
        int cr = 0, cremoved = 0;
        if (o.copy_to) {
                cr = backup_copy(res.path, o.copy_to, res.node, o.keep, copied, sizeof copied, &cremoved, &m);
                if (cr < 0) {
                        cli_error_both(m.en, m.zh);
                        return EXIT_REFUSED;
                }
        }
        if (o.json) {
                json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:i,s:s?,s:i}", "path", res.path, "node",
                                      res.node, "events", (json_int_t)res.events, "applications", (json_int_t)res.apps,
                                      "own_seq", (json_int_t)res.own_seq, "refs", (json_int_t)res.refs, "objects",
                                      (json_int_t)res.objects, "catalogs", (json_int_t)res.catalogs, "key_sealed",
                                      res.key_sealed, "bytes", (json_int_t)res.bytes, "removed", res.removed,
                                      "copied_to", cr > 0 ? copied : NULL, "copy_removed", cremoved);
                char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
                puts(s);
                free(s);
                json_decref(j);
                return 0;
        }
        char size[32];
        human_size(res.bytes, size, sizeof size);
        printf(cli_msg("backup written: %s (%s)\n"
                       "  %lld applications, %lld events (this node's up to seq %lld), %ld refs, %ld objects, %ld catalogues\n",
                       "备份已写入：%s（%s）\n"
                       "  %lld 件申请，%lld 个事件（本节点序号至 %lld），%ld 个引用，%ld 个对象，%ld 个目录版本\n"),
               res.path, size, res.apps, res.events, res.own_seq, res.refs, res.objects, res.catalogs);
        if (res.key_sealed)
                printf("%s", cli_msg("  the node's key is in it, sealed with the passphrase: keep the passphrase apart from the file\n",
                                     "  节点密钥已用口令加密存入：口令请与备份文件分开保管\n"));
        else
                printf("%s", cli_msg("  the node's key is NOT in it: keep node.key elsewhere, or back up with --key-passphrase\n",
                                     "  备份中不含节点密钥：请另外保管 node.key，或使用 --key-passphrase 备份\n"));
        if (res.removed)
                printf(cli_msg("  %d older backups removed (keeping the newest %d)\n", "  已删除 %d 份较旧的备份（保留最新 %d 份）\n"),
                       res.removed, o.keep);
        if (cr > 0)
                printf(cli_msg("  copied to the stick: %s (%d older copies removed there)\n",
                               "  已复制到U盘：%s（U盘上删除了 %d 份较旧的备份）\n"), copied, cremoved);
        else if (o.copy_to)
                printf(cli_msg("  no USB stick is mounted at %s: not copied (plug one in for the next backup)\n",
                               "  %s 处没有挂载U盘：未复制（下次备份前请插入U盘）\n"), o.copy_to);
        return 0;
}

static int cmd_restore(int argc, char **argv)
{
        struct bopts o;
        struct restore_result res;
        struct backup_msg m;
        char pass[512];
        int r;

        if ((r = bparse(argc, argv, usage_restore, &o)))
                return r < 0 ? 0 : r;
        if (o.npos != 1 || o.to || o.copy_to || (o.offline && (o.pass || o.key))) {
                if (o.offline && (o.pass || o.key))
                        cli_error("%s", cli_msg("--offline makes a new key: --key and --key-passphrase do not apply",
                                                "--offline 会生成新密钥：不能同时使用 --key 或 --key-passphrase"));
                fputs(usage_restore, stderr);
                return EXIT_USAGE;
        }
        if (o.pass && (r = passphrase(o.pass, pass, sizeof pass, false)))
                return r;
        if (sodium_init() < 0)
                return EXIT_REFUSED;
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        /* "DIR/" is DIR: the home is made beside it, not inside */
        char home[4096];
        snprintf(home, sizeof home, "%s", home_path(o.home));
        for (size_t l = strlen(home); l > 1 && home[l - 1] == '/'; l--)
                home[l - 1] = '\0';
        r = o.offline ? backup_restore_offline(o.pos[0], home, &res, &m)
                      : backup_restore(o.pos[0], home, o.pass ? pass : NULL, o.key, &res, &m);
        git_libgit2_shutdown();
        sodium_memzero(pass, sizeof pass);
        if (r < 0) {
                cli_error_both(m.en, m.zh);
                return EXIT_REFUSED;
        }
        if (o.json) {
                json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:b}", "home", home, "node", res.node, "role",
                                      res.role, "created", res.created, "events", (json_int_t)res.events, "applications",
                                      (json_int_t)res.apps, "own_seq", (json_int_t)res.own_seq, "refs",
                                      (json_int_t)res.refs, "catalogs", (json_int_t)res.catalogs, "key_from_backup",
                                      res.key_from_backup, "pending_sync", true);
                if (o.offline) {
                        json_object_set_new(j, "offline", json_true());
                        json_object_set_new(j, "first_seq", json_integer(res.floor));
                        json_object_set_new(j, "key", json_string(res.key_line));
                        json_object_set_new(j, "fingerprint", json_string(res.fingerprint));
                        json_object_set_new(j, "spoken", json_string(res.spoken));
                }
                char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
                puts(s);
                free(s);
                json_decref(j);
                return 0;
        }
        if (o.offline) {
                printf(cli_msg("restored node %s (%s) into %s from the backup of %s, offline:\n"
                               "  %lld applications, %lld events (this node's up to seq %lld), %ld refs, %ld catalogues\n"
                               "it writes at once, with a new key, from seq %lld (a new epoch: no number its old key\n"
                               "could have signed). Its events leave at its first sync with the hall, and the hall\n"
                               "accepts them once the county has enrolled the new key. Give the county this command\n"
                               "(by stick, or read the key out) for the county's PC:\n"
                               "  daiban roster rotate %s '%s' --at %lld --note 'offline restore'\n"
                               "  fingerprint %s, read aloud: %s\n",
                               "已把节点 %s（%s）离线恢复到 %s，备份时间 %s：\n"
                               "  %lld 件申请，%lld 个事件（本节点序号至 %lld），%ld 个引用，%ld 个目录版本\n"
                               "现在即可办理业务：使用新密钥，序号从 %lld 开始（新的周期，旧密钥不可能签过这些序号）。\n"
                               "本站的数据在与县里首次同步时发出；县里为新密钥登记后即被接收。请把下面的命令交给县里\n"
                               "（用U盘带去，或电话念出密钥），在县里的电脑上运行：\n"
                               "  daiban roster rotate %s '%s' --at %lld --note 'offline restore'\n"
                               "  指纹 %s，念读形式：%s\n"),
                       res.node, res.role, home, res.created, res.apps, res.events, res.own_seq, res.refs, res.catalogs,
                       res.floor, res.node, res.key_line, res.floor, res.fingerprint, res.spoken);
                return 0;
        }
        if (strcmp(res.role, "county") == 0) {
                printf(cli_msg("restored the county hall %s into %s from the backup of %s:\n"
                               "  %lld applications, %lld events (its own up to seq %lld), %ld refs, %ld catalogues\n"
                               "it writes at once from seq %lld (a new epoch: none it signed after the backup is used again),\n"
                               "but changes neither roster nor catalogue, and commits nothing to its feeds, until what it\n"
                               "wrote after the backup has come back: start `daiban hall serve`; each township's and village's\n"
                               "next sync gives back the hall's chains it holds. When every township has synced, run\n"
                               "`daiban hall resume` (it lists who has).\n",
                               "已把县级服务端 %s 恢复到 %s，备份时间 %s：\n"
                               "  %lld 件申请，%lld 个事件（本县序号至 %lld），%ld 个引用，%ld 个目录版本\n"
                               "现在即可办理，序号从 %lld 开始（新的周期，备份后签过的序号不会再用）；但在取回备份之后\n"
                               "本县所写内容之前，不修改密钥名册和目录清单，也不写入通道：请启动 daiban hall serve，\n"
                               "各乡镇、村下次同步时会交回它们持有的本县数据。各乡镇都同步后，运行 daiban hall resume\n"
                               "（它会列出哪些乡镇已同步）。\n"),
                       res.node, home, res.created, res.apps, res.events, res.own_seq, res.refs, res.catalogs, res.floor);
                return 0;
        }
        printf(cli_msg("restored node %s (%s) into %s from the backup of %s:\n"
                       "  %lld applications, %lld events (this node's up to seq %lld), %ld refs, %ld catalogues\n"
                       "before anything is written here, run `daiban sync`: it fetches from the hall what this node sent\n"
                       "after the backup, so that no sequence number is used twice. Until then writing is refused.\n",
                       "已把节点 %s（%s）恢复到 %s，备份时间 %s：\n"
                       "  %lld 件申请，%lld 个事件（本节点序号至 %lld），%ld 个引用，%ld 个目录版本\n"
                       "在此写入任何内容之前，请先运行 `daiban sync`：从县里取回本节点在备份之后发出的内容，\n"
                       "以免同一序号被使用两次。在此之前，写入会被拒绝。\n"),
               res.node, res.role, home, res.created, res.apps, res.events, res.own_seq, res.refs, res.catalogs);
        return 0;
}

const struct cli_command backup_commands[] = {
        { "backup", "Write this home to one file (store, repository, catalogues, sealed key)", usage_backup,
          cmd_backup },
        { "restore", "Rebuild a home from a backup; it writes only after a sync", usage_restore, cmd_restore },
        { NULL, NULL, NULL, NULL },
};
