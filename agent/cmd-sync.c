/* Sync commands: `daiban remote set`, `daiban sync`. One round of sync
 * turns this node's new events into change sets on its feeds, pushes its
 * feeds to the remote (fast-forward only), fetches the feeds it is
 * entitled to, accepts them when they only move forward, and ingests
 * them. See docs/sync.md. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <jansson.h>

#include "agent/cli.h"
#include "agent/digest.h"
#include "agent/join.h"
#include "agent/home.h"
#include "agent/refusal.h"
#include "agent/round.h"
#include "agent/tls.h"
#include "agent/netwatch.h"
#include "sync/connpool.h"
#include "sync/bundle.h"
#include "sync/feed.h"
#include "sync/incoming.h"
#include "sync/roster.h"
#include "sync/hlc.h"
#include "sync/report.h"
#include "sync/readmodel.h"
#include "sync/scan.h"
#include "sync/transfer.h"
#include "forms/calendar.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

static void log_stderr(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_stderr(void *ud, const char *fmt, ...)
{
        va_list ap;
        int *nlog = ud;
        char msg[2048];

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        /* under LANG=zh_CN a known refusal says what it means first; the
         * English reason follows, for the county's staff and the log */
        const char *zh = cli_zh() && !cli_json_errors() ? refusal_zh(msg) : NULL;    /* (the station reads them in English) */
        if (zh)
                fprintf(stderr, "daiban: %s（%s）\n", zh, msg);
        else
                fprintf(stderr, "daiban: %s\n", msg);
        (*nlog)++;
}

/* At a USB import: every refusal is also noted for the county, in this
 * home's next report (a township, a village) or in the county's own
 * supervision log. */
struct import_log {
        int nlog;
        char path[4200];
};

static void log_import(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_import(void *ud, const char *fmt, ...)
{
        struct import_log *il = ud;
        va_list ap;
        char msg[2048], part[32], writer[32], ref[256];

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_stderr(&il->nlog, "%s", msg);
        /* "refused refs/<kind>/<part>/<writer>: why": whose it was */
        const char *colon = strncmp(msg, "refused refs/", 13) == 0 ? strstr(msg, ": ") : NULL;
        if (!colon || (size_t)(colon - msg - 8) >= sizeof ref)
                return;
        snprintf(ref, sizeof ref, "%.*s", (int)(colon - msg - 8), msg + 8);
        if (feed_parse_ref(ref, part, sizeof part, writer, sizeof writer) ||
            scan_parse_ref(ref, part, sizeof part, writer, sizeof writer))
                home_refusal_note(il->path, writer, msg + 8);
}

struct sopts {
        const char *home, *token, *pin, *remote;
        bool json;
        int npos;
        char **pos;
};

static int sparse(int argc, char **argv, bool remote_set, struct sopts *o, const char *usage)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "token", required_argument, NULL, 't' },
                { "pin", required_argument, NULL, 'p' }, { "remote", required_argument, NULL, 'r' },
                { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 },
        };
        int c;

        memset(o, 0, sizeof *o);
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c == 'H')
                        o->home = optarg;
                else if (c == 't' && remote_set)
                        o->token = optarg;
                else if (c == 'p' && remote_set)
                        o->pin = optarg;
                else if (c == 'r' && !remote_set)
                        o->remote = optarg;
                else if (c == 'j' && !remote_set)
                        o->json = true;
                else {
                        cli_error(cli_msg("option '%s' is not valid here; usage: %s", "此处不能用选项“%s”；用法：%s"),
                                  argv[optind - 1], usage);
                        return EXIT_USAGE;
                }
        }
        o->pos = argv + optind;
        o->npos = argc - optind;
        return 0;
}

static const char usage_remote[] =
        "Usage: daiban remote set URL [--token -|@FILE|TOKEN] [--pin SHA256] [--home DIR]\n"
        "       daiban remote show [--home DIR]\n"
        "\n"
        "Record the node this one syncs with: the county hall (https://...), or,\n"
        "for a direct exchange, another node's repository (a path or file://).\n"
        "--token -: read the token from stdin; @FILE: from a file (a token in the\n"
        "arguments can be seen by other users in the process list).\n";

static int cmd_remote(int argc, char **argv)
{
        struct sopts o;
        struct home h;
        int r;

        if (argc >= 2 && strcmp(argv[1], "show") == 0) {
                if ((r = sparse(argc - 1, argv + 1, true, &o, "daiban remote show")) || (r = home_open(home_path(o.home), &h)))
                        return r;
                char *url = NULL, *token = NULL, *pin = NULL;
                store_meta_get(h.st, "remote.url", &url);
                store_meta_get(h.st, "remote.token", &token);
                store_meta_get(h.st, "remote.pin", &pin);
                printf("%s\n", url ? url : cli_msg("(no remote; see 'daiban remote set')", "（未设置；见“daiban remote set”）"));
                if (token) {
                        /* never the secret: whose it is, and a fingerprint to compare */
                        char hex[65], node[32];
                        sha256_hex(token, strlen(token), hex);
                        snprintf(node, sizeof node, "%.*s", (int)strcspn(token, "."), token);
                        printf(cli_msg("token of %s, fingerprint %.16s\n", "令牌：%s 的令牌，指纹 %.16s\n"), node, hex);
                }
                if (pin)
                        printf(cli_msg("certificate pin %s\n", "证书指纹 %s\n"), pin);
                free(url);
                free(token);
                free(pin);
                home_close(&h);
                return 0;
        }
        if (argc < 2 || strcmp(argv[1], "set") != 0) {
                fputs(usage_remote, stderr);
                return EXIT_USAGE;
        }
        if ((r = sparse(argc - 1, argv + 1, true, &o, "daiban remote set URL [--token TOKEN] [--pin SHA256]")))
                return r;
        if (o.npos != 1 || !*o.pos[0]) {
                fputs(usage_remote, stderr);
                return EXIT_USAGE;
        }
        /* a token given in the arguments shows in every process list:
         * "-" reads it from stdin, "@FILE" from a file */
        char tokbuf[256];
        if (o.token && (strcmp(o.token, "-") == 0 || o.token[0] == '@')) {
                if (!cli_read_secret(o.token, tokbuf, sizeof tokbuf)) {
                        cli_error(cli_msg("no token could be read from %s", "未能从 %s 读取令牌"),
                                  strcmp(o.token, "-") == 0 ? "stdin" : o.token + 1);
                        return EXIT_USAGE;
                }
                o.token = tokbuf;
        }
        if ((r = join_check_remote(o.pos[0], o.token, o.pin, NULL)))
                return r;
        if ((r = home_open(home_path(o.home), &h)))
                return r;
        if ((r = join_check_remote(o.pos[0], o.token, NULL, h.node)) || (r = join_set_remote(&h, o.pos[0], o.token, o.pin))) {
                home_close(&h);
                return r;
        }
        printf(cli_msg("remote set: %s\n", "已设置远端：%s\n"), o.pos[0]);
        if (!o.token || !o.pin) {
                char *had = NULL;
                if (!o.token && store_meta_get(h.st, "remote.token", &had) == 0 && had)
                        printf("%s", cli_msg("the token set before is kept (see 'daiban remote show')\n",
                                             "沿用之前设置的令牌（见“daiban remote show”）\n"));
                free(had);
                had = NULL;
                if (!o.pin && store_meta_get(h.st, "remote.pin", &had) == 0 && had)
                        printf("%s", cli_msg("the certificate pin set before is kept\n", "沿用之前设置的证书指纹\n"));
                free(had);
        }
        home_close(&h);
        return 0;
}

static int lock_peer(const char *url)
{
        char path[4096];
        const char *p = url;
        size_t n;

        if (strncmp(p, "file://", 7) == 0)
                p += 7;
        else if (strstr(p, "://"))
                return -1;
        n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
                n--;
        snprintf(path, sizeof path, "%.*s", (int)n, p);
        return home_lock_peer_repo(path, home_log_stderr, NULL);
}

static const char usage_sync[] =
        "Usage: daiban sync [--remote URL] [--json] [--home DIR]\n"
        "\n"
        "One round: make change sets of this node's new events, fetch the feeds\n"
        "this node may hold (its own partition; a township also its villages';\n"
        "the county all), push its own feeds and those it relays (fast-forward\n"
        "only), and ingest. Without a remote (none set, none given) only the local\n"
        "steps run: committing, and ingesting feeds already in the repository\n"
        "(pushed here by others, or imported). Exits 1 when a step failed or a\n"
        "feed was refused; what moved is printed either way.\n";

static int cmd_sync(int argc, char **argv)
{
        struct sopts o;
        struct home h;
        struct feed_report rep = { 0 };
        git_repository *repo = NULL;
        char path[4096], *url = NULL, *token = NULL, *pin = NULL;
        int nlog = 0, r, failed = 0, lockfd = -1;

        if ((r = sparse(argc, argv, false, &o, "daiban sync [--remote URL] [--json]")))
                return r;
        if ((r = home_open_cmd(o.home, o.npos, usage_sync, &h)))
                return r;
        if (o.remote)
                url = strdup(o.remote);
        else
                store_meta_get(h.st, "remote.url", &url);
        store_meta_get(h.st, "remote.token", &token);
        store_meta_get(h.st, "remote.pin", &pin);
        struct feed_seen seen = { 0 };
        struct feed_clock clk = { 0, 0, false };
        /* scan pieces per push where the last sync's ended, for this
         * remote only ("N URL") */
        unsigned scan_batch = 1, scan_batch0;
        char *sb = NULL;
        if (url && store_meta_get(h.st, "scan.batch", &sb) == 0 && sb) {
                char *sp = strchr(sb, ' ');
                unsigned long v = strtoul(sb, NULL, 10);
                if (sp && strcmp(sp + 1, url) == 0 && v >= 1 && v <= SCAN_PUSH_MAX)
                        scan_batch = (unsigned)v;
        }
        free(sb);
        scan_batch0 = scan_batch;
        struct feed_remote rm = { url, token, pin, &seen, &clk, &scan_batch };
        if ((lockfd = home_lock_repo(&h)) < 0) {
                r = EXIT_REFUSED;
                home_close(&h);
                free(url);
                free(token);
                free(pin);
                return r;
        }
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        snprintf(path, sizeof path, "%s/repo", h.dir);
        if (git_repository_open_bare(&repo, path) < 0) {
                cli_error(cli_msg("cannot open the repository %s: %s", "无法打开仓库 %s：%s"), path,
                          git_error_last() ? git_error_last()->message : "?");
                r = EXIT_REFUSED;
                goto out;
        }
        feed_show_progress = isatty(2);
        const struct sshsig_key *key;
        if ((r = home_key(&h, &key)))
                goto out;
        /* a home restored from a backup first fetches back what it sent
         * after that backup, and commits nothing before: its next
         * sequence numbers must follow those */
        bool catching_up = store_restore_pending(h.st), epoch = false;
        if (catching_up && !url && store_new_epoch(h.st)) {
                cli_error("%s", cli_msg("this home was restored offline: what it writes is kept here and leaves at its first sync "
                                        "with the hall, and no hall is set (daiban remote set URL --token ...)",
                                        "本站数据为离线恢复：所写内容保存在本机，首次与县里同步时发出；但尚未设置服务端地址"
                                        "（daiban remote set URL --token ...）"));
                r = EXIT_REFUSED;
                goto out;
        }
        if (catching_up && !url) {
                cli_error("%s", cli_msg("this home was restored from a backup (or made with --rejoin): it must sync with the hall before anything is "
                                        "written, and no hall is set (daiban remote set URL --token ...)",
                                        "本站数据是从备份恢复（或用 --rejoin 重建）的：写入任何内容之前必须先与县里同步，但尚未设置服务端地址"
                                        "（daiban remote set URL --token ...）"));
                r = EXIT_REFUSED;
                goto out;
        }
        long pieces = 0, pieces_sent = 0;
        struct round rd;
round:
        if (!catching_up && feed_commit_local(h.st, repo, h.node, key, &rep, log_stderr, &nlog) < 0)
                failed++;
        if (!catching_up && scan_commit_local(h.st, repo, h.node, key, &pieces, log_stderr, &nlog) < 0)
                failed++;
        /* this node's events that this round's push carries */
        long long committed_seq = store_next_seq(h.st, h.node) - 1;
        /* A path remote is another home's repository: hold that home's
         * repository lock too while fetching from and pushing into it, so
         * its owner never takes our live ref locks for stale ones. */
        int peerfd = url ? lock_peer(url) : -1;
        /* what comes in, from the hall or another home's repository, waits
         * in a quarantine until its refs are accepted (as from a stick) */
        bool no_fetch = false;
        if (url && feed_quarantine_begin(repo) < 0) {
                cli_error(cli_msg("cannot set up the quarantine in %s/repo; nothing is fetched",
                                  "无法在 %s/repo 中建立隔离区；本次不接收数据"), h.dir);
                failed++;
                no_fetch = true;
        }
        /* libgit2 has no network timeout: a link gone silent is cut after
         * a while without a byte either way */
        struct netwatch *nw = url ? netwatch_start(netwatch_idle_limit()) : NULL;
        char silent_en[1200] = "", silent_zh[1200] = "";
        if (nw) {
                snprintf(silent_en, sizeof silent_en, "the link to %s was silent for %u s: the sync gave up (nothing is "
                         "lost; the next sync carries on)", url, netwatch_idle_limit());
                snprintf(silent_zh, sizeof silent_zh, "与 %s 的连接已 %u 秒无响应：本次同步已放弃（数据不会丢失，下次同步继续）",
                         url, netwatch_idle_limit());
                netwatch_farewell(nw, silent_en, silent_zh);
        }
        if (url && !no_fetch && feed_fetch(repo, &rm, h.node, log_stderr, &nlog) < 0)
                failed++;
        /* the roster, the catalogue, then what came in */
        round_init(&rd, &h, repo, &rep, catching_up, log_stderr, &nlog);
        if (round_trust(&rd) < 0)
                failed++;
        if (round_accept(&rd) < 0)
                failed++;
        /* refusals made at a USB import go up to the county as a report */
        long reported = 0;
        if (url && !catching_up && strcmp(h.role, "county") != 0) {
                char pending[4200], rerr[256];
                long sent = 0;
                snprintf(pending, sizeof pending, "%s/" HOME_REPORT_PENDING, h.dir);
                if (report_adopt(repo, h.node, pending, rerr, sizeof rerr) < 0 ||
                    report_commit(repo, h.node, key, pending, &sent, rerr, sizeof rerr) < 0) {
                        log_stderr(&nlog, "%s", rerr);
                        failed++;
                } else if ((reported = sent) && !o.json) {
                        printf(cli_msg("%ld refusals made here go to the county\n", "本站的 %ld 条拒收记录将报送县里\n"),
                               sent);
                }
        }
        /* a silent link is not tried again in this round */
        int pushed = url && !netwatch_fired(nw) && !catching_up ? feed_push(repo, &rm, h.node, log_stderr, &nlog) : 1;
        if (pushed < 0)
                failed++;
        /* the hall enrolls a node's key at its first signed push: take the
         * roster that names it now rather than at the next sync */
        if (pushed == 0 && rd.trusted && rd.have_ro && !roster_lists(&rd.ro, h.node) && !netwatch_fired(nw) && !no_fetch &&
            feed_fetch(repo, &rm, h.node, log_stderr, &nlog) == 0 && round_reread(&rd) < 0)
                failed++;
        /* scans after the events, a piece per push on a slow link */
        if (url && !netwatch_fired(nw) && !catching_up && scan_push(repo, &rm, h.node, &pieces_sent, log_stderr, &nlog) < 0)
                failed++;
        if (url && scan_batch != scan_batch0) {
                char v[32 + 4096];
                snprintf(v, sizeof v, "%u %s", scan_batch, url);
                if (store_meta_set(h.st, "scan.batch", v) == 0)
                        scan_batch0 = scan_batch;
        }
        if (netwatch_fired(nw))
                cli_error_both(silent_en, silent_zh);
        bool fetched = !netwatch_fired(nw) && !no_fetch && failed == 0;
        netwatch_stop(nw);
        home_unlock_repo(peerfd);
        if (round_ingest(&rd) < 0)
                failed++;
        if (round_assemble(&rd) < 0)
                failed++;
        round_end(&rd);
        feed_quarantine_end(repo);
        if (catching_up) {
                /* caught up only when the hall answered and all it held of
                 * this node's feeds is in: then a normal round follows */
                if (!fetched || failed || rep.refused || !rd.trusted) {
                        cli_error("%s", cli_msg("this home was restored from a backup (or made with --rejoin) and could not yet fetch back what it sent "
                                                "before: nothing is written until a sync succeeds",
                                                "本站数据是从备份恢复（或用 --rejoin 重建）的，尚未能从县里取回此前发出的内容：同步成功之前不写入任何内容"));
                        failed++;
                } else if (store_begin(h.st) < 0 || (epoch = store_new_epoch(h.st), store_restore_done(h.st) < 0) ||
                           store_commit(h.st) < 0) {
                        store_rollback(h.st);
                        failed++;
                } else {
                        /* (with --json, stdout is the JSON alone: a daemon parses it) */
                        if (epoch)
                                fprintf(o.json ? stderr : stdout,
                                        cli_msg("caught up after the restore: what this node wrote offline (from seq %lld, its "
                                                "new key) goes out now\n",
                                                "恢复后已追上：本节点离线期间所写内容（序号 %lld 起，新密钥）现在发出\n"),
                                        (long long)store_seq_floor(h.st));
                        else
                                fprintf(o.json ? stderr : stdout,
                                        cli_msg("caught up after the restore: this node's events go on after seq %lld\n",
                                                "恢复后已追上：本节点事件从序号 %lld 之后继续\n"),
                                        (long long)store_next_seq(h.st, h.node) - 1);
                        catching_up = false;
                        feed_seen_free(&seen);
                        memset(&seen, 0, sizeof seen);
                        goto round;
                }
        }
        /* a PC whose clock is far behind what it has seen: ordering stays
         * right (the clock moves past every stamp received), but say so */
        {
                struct hlc hc = { 0 };
                struct timespec ts;
                long long max_hlc = readmodel_max_hlc(h.st);
                if (max_hlc > 0)
                        hc.last = (uint64_t)max_hlc;
                clock_gettime(CLOCK_REALTIME, &ts);
                if (hlc_wall_behind(&hc, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000))
                        cli_error("%s", cli_msg("this PC's clock is far behind the events it holds: set the date and time "
                                                "(the order of events stays correct)",
                                                "本机时钟明显落后于已收到的事件：请校准日期和时间（事件顺序不受影响）"));
        }
        if (o.json) {
                json_t *j = json_pack("{s:s?,s:i,s:I,s:i,s:I,s:I,s:i,s:i,s:i,s:I,s:I,s:I,s:b,s:I}", "remote", url, "committed",
                                      rep.committed,
                                      "committed_events", (json_int_t)rep.committed_events, "ingested_feeds",
                                      rep.ingested_feeds, "ingested_events", (json_int_t)rep.ingested_events,
                                      "duplicate_events", (json_int_t)rep.duplicate_events, "refused", rep.refused,
                                      "updated_refs", rep.updated_refs, "catalogs_installed", rd.ncat,
                                      "scan_pieces_made", (json_int_t)pieces, "scan_pieces_sent", (json_int_t)pieces_sent,
                                      "scans_received", (json_int_t)rd.scans, "ok", !failed && !rep.refused,
                                      "refusals_reported", (json_int_t)reported);
                /* the TLS connections the steps opened and shared (sync/connpool.h) */
                long made, reused, resumed;
                connpool_counts(&made, &reused, &resumed);
                json_object_set_new(j, "connections", json_pack("{s:I,s:I,s:I}", "made", (json_int_t)made, "reused",
                                                                (json_int_t)reused, "resumed", (json_int_t)resumed));
                char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
                puts(s);
                free(s);
                json_decref(j);
        } else {
                printf(cli_msg("sync%s%s: %d change sets made (%ld events); %d feeds advanced; %ld events ingested"
                               " from %d feeds (%ld already held); %d refused\n",
                               "同步%s%s：生成 %d 个变更集（%ld 个事件）；%d 个通道有更新；收入 %ld 个事件"
                               "（来自 %d 个通道，%ld 个已有）；拒收 %d\n"),
                       url ? " with " : "", url ? url : "", rep.committed, rep.committed_events, rep.updated_refs,
                       rep.ingested_events, rep.ingested_feeds, rep.duplicate_events, rep.refused);
                if (pieces_sent || rd.scans)
                        printf(cli_msg("scans: %ld pieces sent; %ld scans received whole\n",
                                       "扫描件：发送 %ld 片；完整收到 %ld 份\n"),
                               pieces_sent, rd.scans);
        }
        r = failed || rep.refused ? EXIT_REFUSED : 0;
        if (r == 0 && url) {
                /* for `daiban status`: when the link last worked, and what
                 * the remote holds of this node's events */
                char when[32], seq[32];
                time_t now = time(NULL);
                cal_stamp_format(now, when);
                snprintf(seq, sizeof seq, "%lld", committed_seq);
                /* and this PC's clock against the hall's, when a push saw it */
                char off[64];
                snprintf(off, sizeof off, "%lld %lld", (long long)(clk.local_ms - clk.hall_ms), (long long)now);
                if (store_begin(h.st) < 0 || store_meta_set(h.st, "sync.last_ok", when) < 0 ||
                    store_meta_set(h.st, "sync.sent_seq", seq) < 0 ||
                    (clk.valid && store_meta_set(h.st, "clock.hall", off) < 0) || store_commit(h.st) < 0)
                        store_rollback(h.st);   /* only bookkeeping: the round itself succeeded */
        }
out:
        feed_seen_free(&seen);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_unlock_repo(lockfd);
        free(url);
        free(token);
        free(pin);
        home_close(&h);
        return r;
}

static const char usage_bundle[] =
        "Usage: daiban bundle export DIR [--for NODE] [--home DIR]\n"
        "       daiban bundle import DIR [--home DIR]\n"
        "\n"
        "Carry feeds on a USB stick where there is no link. export writes\n"
        "DIR/daiban-<this node>-to-<NODE>.bundle with every feed NODE may hold\n"
        "(default NODE: this node's township, or for a township its county).\n"
        "import takes every DIR/daiban-<sender>-to-<this node>.bundle, accepts\n"
        "and ingests its feeds like a sync, then writes the answer bundle for\n"
        "each sender back to DIR. The files are git bundles: `git bundle\n"
        "verify` and `git bundle list-heads` read them. Importing the same\n"
        "stick twice changes nothing.\n";

static int cmd_bundle(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "for", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
        };
        const char *homeopt = NULL, *target = NULL, *dir;
        bool export;
        struct home h;
        struct feed_report rep = { 0 };
        git_repository *repo = NULL;
        int c, r, nlog = 0, failed = 0, lockfd = -1;

        if (argc < 3 || (strcmp(argv[1], "export") && strcmp(argv[1], "import"))) {
                fputs(usage_bundle, stderr);
                return EXIT_USAGE;
        }
        export = !strcmp(argv[1], "export");
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
                if (c == 'H')
                        homeopt = optarg;
                else if (c == 'f' && export)
                        target = optarg;
                else {
                        fputs(usage_bundle, stderr);
                        return EXIT_USAGE;
                }
        }
        if (argc - 1 - optind != 1) {
                fputs(usage_bundle, stderr);
                return EXIT_USAGE;
        }
        dir = argv[1 + optind];
        if ((r = home_open(home_path(homeopt), &h)))
                return r;
        if ((lockfd = home_lock_repo(&h)) < 0) {
                home_close(&h);
                return EXIT_REFUSED;
        }
        if ((r = home_open_repo(&h, &repo))) {
                home_unlock_repo(lockfd);
                home_close(&h);
                return r;
        }
        const struct sshsig_key *key;
        if ((r = home_key(&h, &key)))
                goto out;
        if (feed_commit_local(h.st, repo, h.node, key, &rep, log_stderr, &nlog) < 0)
                failed++;
        int ncat = 0;
        long pieces = 0;
        if (export && (home_sync_catalog(&h, repo, &ncat, log_stderr, &nlog) < 0 ||
                       scan_commit_local(h.st, repo, h.node, key, &pieces, log_stderr, &nlog) < 0))
                failed++;
        if (export) {
                long nrefs = 0;
                if (!target)
                        target = h.div->parent ? h.div->parent->code : NULL;
                if (!target || !catalog_find_division(h.cat, target)) {
                        cli_error("%s", cli_msg("give the node the stick goes to: --for NODE", "请用 --for NODE 指明接收站点"));
                        r = EXIT_USAGE;
                        goto out;
                }
                if (feed_bundle_export(repo, dir, h.node, target, &nrefs, log_stderr, &nlog) < 0)
                        failed++;
                else
                        printf(cli_msg("%s/daiban-%s-to-%s.bundle: %ld feeds\n", "%s/daiban-%s-to-%s.bundle：%ld 个通道\n"), dir,
                               h.node, target, nrefs);
        } else {
                char **senders = NULL;
                size_t ns = 0;
                /* what the stick brings stays apart until its refs are accepted */
                if (feed_quarantine_begin(repo) < 0) {
                        cli_error(cli_msg("cannot set up the quarantine for the stick in %s/repo",
                                          "无法在 %s/repo 中为 U 盘数据建立隔离区"), h.dir);
                        r = EXIT_REFUSED;
                        goto out;
                }
                struct import_log il = { 0 };
                if (strcmp(h.role, "county") == 0) {
                        snprintf(il.path, sizeof il.path, "%s/hall", h.dir);
                        mkdir(il.path, 0700);
                        snprintf(il.path, sizeof il.path, "%s/" HOME_REFUSALS, h.dir);
                } else {
                        snprintf(il.path, sizeof il.path, "%s/" HOME_REPORT_PENDING, h.dir);
                }
                if (feed_bundle_import(repo, dir, h.node, &senders, &ns, log_import, &il) < 0)
                        failed++;
                /* a home restored offline (a new epoch: no number can
                 * repeat) catches up from its township's or county's stick
                 * as from the hall: a stick-only village has no other way */
                bool catching_up = store_restore_pending(h.st) && store_new_epoch(h.st), from_above = false;
                for (size_t i = 0; i < ns; i++)
                        from_above |= strcmp(senders[i], h.node) != 0 && feed_entitled(senders[i], h.node);
                struct round rd;
                round_init(&rd, &h, repo, &rep, catching_up, log_import, &il);
                if (round_trust(&rd) < 0 || round_accept(&rd) < 0 || round_ingest(&rd) < 0 || round_assemble(&rd) < 0)
                        failed++;
                round_end(&rd);
                nlog += il.nlog;
                printf(cli_msg("imported %zu bundles: %d feeds advanced; %ld events ingested (%ld already held); %d refused\n",
                               "导入 %zu 个数据包：%d 个通道有更新；收入 %ld 个事件（%ld 个已有）；拒收 %d\n"),
                       ns, rep.updated_refs, rep.ingested_events, rep.duplicate_events, rep.refused);
                if (catching_up && from_above && !failed && !rep.refused) {
                        if (store_begin(h.st) < 0 || store_restore_done(h.st) < 0 || store_commit(h.st) < 0) {
                                store_rollback(h.st);
                                failed++;
                        } else {
                                printf(cli_msg("caught up after the restore: what this node wrote offline (from seq %lld, its "
                                               "new key) goes out on the answer\n",
                                               "恢复后已追上：本节点离线期间所写内容（序号 %lld 起，新密钥）随回包发出\n"),
                                       (long long)store_seq_floor(h.st));
                                if (feed_commit_local(h.st, repo, h.node, key, &rep, log_stderr, &nlog) < 0 ||
                                    scan_commit_local(h.st, repo, h.node, key, &pieces, log_stderr, &nlog) < 0)
                                        failed++;
                        }
                } else if (catching_up) {
                        cli_error("%s", cli_msg("this home was restored offline: what it wrote leaves once a stick from its "
                                                "township or county (or a sync with the hall) has brought back what it sent before",
                                                "本站数据为离线恢复：须先导入乡镇或县里带来的U盘数据（或与县里同步），取回此前发出的内容后，"
                                                "离线期间所写内容才会发出"));
                }
                for (size_t i = 0; i < ns; i++) {
                        long nrefs = 0;
                        /* the answer: what the sender may hold, now including
                         * what came in and this node's own events */
                        if (feed_bundle_export(repo, dir, h.node, senders[i], &nrefs, log_stderr, &nlog) < 0)
                                failed++;
                        else
                                printf(cli_msg("answer %s/daiban-%s-to-%s.bundle: %ld feeds\n",
                                               "回包 %s/daiban-%s-to-%s.bundle：%ld 个通道\n"), dir, h.node, senders[i], nrefs);
                        free(senders[i]);
                }
                free(senders);
        }
        r = failed || rep.refused ? EXIT_REFUSED : 0;
out:
        feed_quarantine_end(repo);
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_unlock_repo(lockfd);
        home_close(&h);
        return r;
}

const struct cli_command sync_commands[] = {
        { "bundle", "Carry feeds on a USB stick (git bundles)", usage_bundle, cmd_bundle },
        { "remote", "Record the hall (or peer) this node syncs with", usage_remote, cmd_remote },
        { "sync", "One round of sync: commit, push, fetch, ingest", usage_sync, cmd_sync },
        { NULL, NULL, NULL, NULL },
};
