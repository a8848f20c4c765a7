/* The county hall: `daiban hall serve|token|resume|pack|pin|cert|...`.
 *
 * The hall is the county node's home served over HTTP(S) (agent/http.c):
 * its repository's feeds speak git smart HTTP through stock `git
 * http-backend`, spawned per request as a CGI behind this front. The
 * front authenticates each node by its token (stored hashed), and lets it
 * see only the partitions it may hold: every ref outside them is hidden
 * from both upload-pack and receive-pack (transfer.hideRefs, set per
 * request), and git refuses wants and updates of hidden refs. Updates go
 * through a pre-receive hook (`daiban hall pre-receive`) that refuses,
 * all or nothing, a ref the pusher may not write, a delete, a rewrite, or
 * a change set the strict ingest would refuse; objects of a refused push
 * stay in git's quarantine and are dropped. After a push the hall
 * ingests at once. See docs/http-api.md and docs/sync.md.
 *
 * This file holds the command and the hall's life: its options, the
 * hooks it writes, the repository lock, the timer and signals; and the
 * small commands (resume after a restore, pin, cert). The front is
 * hall-front.c, tokens hall-token.c, the hooks hall-hook.c, the
 * background work hall-ingest.c and hall-pack.c (hall-int.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <uv.h>

#include "agent/cli.h"
#include "agent/hall-int.h"
#include "agent/hallcgi.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/spawner.h"
#include "agent/tls.h"
#include "sync/durable.h"
#include "sync/repack.h"

/* The home's repository lock keeps the CLI out while the hall writes;
 * the hall takes it once for all its pushes and ingests at a time. */
bool hall_lock(struct hall *H)
{
        if (H->lockfd < 0)
                H->lockfd = home_trylock_repo(&H->h);
        return H->lockfd >= 0;
}

void hall_unlock_idle(struct hall *H)
{
        if (H->lockfd >= 0 && H->pushes == 0 && !H->ingesting) {
                home_unlock_repo(H->lockfd);
                H->lockfd = -1;
        }
}

void hall_push_done(struct hall *H)
{
        H->pushes--;
        hall_unlock_idle(H);
}

/* Replace *repo by a fresh handle on the hall's repository; on failure
 * the old one stays. true when replaced. */
bool hall_reopen(struct hall *H, git_repository **repo)
{
        git_repository *fresh = NULL;

        if (git_repository_open_bare(&fresh, H->repo_dir) < 0)
                return false;
        git_repository_free(*repo);
        *repo = fresh;
        return true;
}

static void on_tick(uv_timer_t *t)
{
        hall_ingest(t->data);
        hall_repack(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
        struct hall *H = s->data;

        log_line("signal %d: stopping", signum);
        H->stopping = true;
        http_server_stop(H->srv);
        H->srv = NULL;
        uv_timer_stop(&H->tick);
        uv_close((uv_handle_t *)&H->tick, NULL);
        uv_close((uv_handle_t *)&H->sig[0], NULL);
        uv_close((uv_handle_t *)&H->sig[1], NULL);
}

/* ---- commands ------------------------------------------------------------------------ */

const char usage_hall[] =
        "Usage: daiban hall serve [--listen HOST:PORT] [--cert FILE --key FILE] [--max-body BYTES]\n"
        "                         [--max-conns N] [--head-timeout SECONDS] [--scan-quota MIB]\n"
        "                         [--pack-loose N] [--assemble-ms MS] [--home DIR]\n"
        "       daiban hall token NODE [--revoke] [--home DIR]\n"
        "       daiban hall resume [--anyway] [--home DIR]\n"
        "       daiban hall pack [--merge] [--home DIR]\n"
        "       daiban hall pin --cert FILE\n"
        "       daiban hall cert --cert FILE --key FILE [--name NAME] [--days N]\n"
        "\n"
        "The county hall: serves this county home's feeds to its townships and\n"
        "villages over git smart HTTP (stock git http-backend behind daiban's own\n"
        "front), at http(s)://HOST:PORT/feeds.\n"
        "\n"
        "  serve   listen (default " HALL_DEFAULT_LISTEN "); with --cert and --key it\n"
        "          serves HTTPS and prints the certificate's pin. Beyond loopback\n"
        "          HTTPS is required: tokens are never accepted over plain HTTP.\n"
        "          --max-body caps one push (default 64 MiB); --max-conns the\n"
        "          connections (default 1024); --head-timeout the time to send a\n"
        "          request's headers (default 30); --scan-quota the scanned\n"
        "          materials one node may keep at the hall, in MiB (default\n"
        "          " HALL_SCAN_QUOTA_DEFAULT_STR "); --pack-loose the loose objects at which\n"
        "          the repository's objects are packed, unreachable scans too\n"
        "          (default " HALL_PACK_LOOSE_DEFAULT_STR ", 0: never); --assemble-ms the time\n"
        "          one ingest round may spend joining scans before it takes in\n"
        "          the feeds again (default " HALL_ASSEMBLE_MS_DEFAULT_STR ", 0: no limit).\n"
        "          SIGINT/SIGTERM stop it.\n"
        "  token   issue the token of a node of this county (printed once, stored\n"
        "          hashed); a new token replaces the old one; --revoke removes it.\n"
        "  pack    pack the repository's loose objects now, unreachable scans too\n"
        "          (serve does it on its own); --merge the packs into one as well.\n"
        "  pin     the SHA-256 of a certificate, for 'daiban remote set --pin'.\n"
        "  cert    make a self-signed certificate (P-256, no extensions, default\n"
        "          10 years) and its key for serve --cert/--key; prints its pin.\n";

/* An option that only names a string (a file, an address): getopt's
 * letter and where its value goes, in a list ended by { 0, NULL }. */
struct str_opt {
        int c;
        const char **to;
};

/* Store optarg where c's entry says; false when c is none of them. */
static bool take_str(const struct str_opt *so, int c)
{
        for (; so->to; so++) {
                if (so->c == c) {
                        *so->to = optarg;
                        return true;
                }
        }
        return false;
}

static int hall_cert(int argc, char **argv)
{
        static const struct option lo[] = {
                { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
                { "name", required_argument, NULL, 'n' }, { "days", required_argument, NULL, 'd' },
                { NULL, 0, NULL, 0 },
        };
        const char *cert = NULL, *key = NULL, *name = "daiban hall";
        const struct str_opt so[] = { { 'c', &cert }, { 'k', &key }, { 'n', &name }, { 0, NULL } };
        int days = 3650, c;
        char hex[65], err[512];

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                char *end;
                if (take_str(so, c))
                        ;
                else if (c == 'd' && (days = (int)strtol(optarg, &end, 10)) > 0 && days <= 36500 && !*end)
                        ;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!cert || !key || optind != argc || !*name) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (tls_make_cert(cert, key, name, days, err, sizeof err) < 0 || tls_cert_pin(cert, hex, err, sizeof err) < 0) {
                cli_error("%s", err);
                return EXIT_REFUSED;
        }
        printf(cli_msg("certificate %s and key %s written (%d days); pin: %s\n",
                       "已生成证书 %s 和私钥 %s（有效 %d 天）；证书指纹：%s\n"),
               cert, key, days, hex);
        return 0;
}

static int hall_pin(int argc, char **argv)
{
        static const struct option lo[] = { { "cert", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 } };
        const char *cert = NULL;
        const struct str_opt so[] = { { 'c', &cert }, { 0, NULL } };
        char hex[65], err[512];
        int c;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (!take_str(so, c)) {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (!cert || optind != argc) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (tls_cert_pin(cert, hex, err, sizeof err) < 0) {
                cli_error("%s", err);
                return EXIT_REFUSED;
        }
        printf("%s\n", hex);
        return 0;
}

/* Write HOOKS/name, a shell script that execs cmd, whole or not at all
 * (written aside, then renamed over the old one). */
static int put_hook(const struct hall *H, const char *name, const char *purpose, const char *cmd)
{
        char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", H->hooks, name);
        snprintf(tmp, sizeof tmp, "%s.new", path);
        unlink(tmp);
        if (!(f = fopen(tmp, "wx")))
                return -1;
        fprintf(f, "#!/bin/sh\n# written by 'daiban hall serve' (pid %d; %s): %s\nexec %s\n", (int)getpid(),
                H->self_exe, purpose, cmd);
        if (fclose(f) != 0 || chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
                unlink(tmp);
                return -1;
        }
        return 0;
}

static void find_programs(struct hall *H);

static int write_hook(struct hall *H)
{
        char *exe = H->self_exe, path[PATH_MAX + 32];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof H->self_exe - 1);

        if (n <= 0)
                return -1;
        exe[n] = '\0';
        if (strchr(exe, '\''))
                return -1;
        snprintf(H->hooks, sizeof H->hooks, "%s/hall/hooks", H->home_abs);
        snprintf(path, sizeof path, "%s/hall", H->home_abs);
        mkdir(path, 0755);
        mkdir(H->hooks, 0755);
        find_programs(H);
        hallcgi_clear_notes(H->home_abs);
        /* /proc/<pid>/...: this very hall's binaries. When the hall is
         * gone the exec fails and git refuses the push, rather than
         * moving refs with nobody to make them durable. */
        char cmd[PATH_MAX + 64];
        if (H->check[0])
                snprintf(cmd, sizeof cmd, "%s pre-receive", H->check);
        else
                snprintf(cmd, sizeof cmd, "/proc/%d/exe hall pre-receive", (int)getpid());
        if (put_hook(H, "pre-receive", "check every push before git moves a ref", cmd) < 0)
                return -1;
        if (H->helper[0])
                snprintf(cmd, sizeof cmd, "%s reference-transaction \"$1\"", H->helper);
        else
                snprintf(cmd, sizeof cmd, "/proc/%d/exe hall ref-sync \"$1\"", (int)getpid());
        return put_hook(H, "reference-transaction", "make a push durable before git answers it", cmd);
}

/* One of the hall's programs (daiban-hall-helper, daiban-hall-check):
 * beside this program (a build tree, or a folder it was copied to with
 * it), else where the package puts it. Opened once, so every request and
 * hook runs this copy: "/proc/<pid>/fd/<n>" in out, or "" when there is
 * none of this daiban's version (then daiban itself does its work). */
static void find_program(const struct hall *H, const char *name, char *out, size_t outlen)
{
        char dir[PATH_MAX], path[PATH_MAX + 32];
        int fd = -1;

        out[0] = '\0';
        snprintf(dir, sizeof dir, "%s", H->self_exe);
        if (strrchr(dir, '/'))
                *strrchr(dir, '/') = '\0';
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (access(path, X_OK) == 0)
                fd = open(path, O_PATH | O_CLOEXEC);
#ifdef DAIBAN_LIBEXECDIR
        if (fd < 0) {
                snprintf(path, sizeof path, DAIBAN_LIBEXECDIR "/%s", name);
                if (access(path, X_OK) == 0)
                        fd = open(path, O_PATH | O_CLOEXEC);
        }
#endif
        if (fd < 0) {
                log_line("no %s beside %s: daiban itself does its work (slower)", name, H->self_exe);
                return;
        }
        snprintf(out, outlen, "/proc/%d/fd/%d", (int)getpid(), fd);
        /* it and this hall share private contracts (the push notes, the
         * hooks' environment): only the same version's */
        char cmd[96], got[128] = "", want[128];
        snprintf(cmd, sizeof cmd, "%s --version 2>/dev/null", out);
        FILE *p = popen(cmd, "r");
        if (p) {
                if (!fgets(got, sizeof got, p))
                        got[0] = '\0';
                pclose(p);
        }
        got[strcspn(got, "\n")] = '\0';
        snprintf(want, sizeof want, "%s %s", name, DAIBAN_HELPER_VERSION);
        if (strcmp(got, want) != 0) {
                log_line("%s is not this daiban's (%s: \"%s\"): daiban itself does its work", path,
                         DAIBAN_HELPER_VERSION, got);
                close(fd);
                out[0] = '\0';
        }
}

static void find_programs(struct hall *H)
{
        find_program(H, HALLCGI_HELPER, H->helper, sizeof H->helper);
        find_program(H, HALL_CHECK, H->check, sizeof H->check);
}

static int find_backend(char *out, size_t len)
{
        FILE *p = popen("git --exec-path 2>/dev/null", "r");
        char dir[PATH_MAX] = "";

        if (!p)
                return -1;
        if (!fgets(dir, sizeof dir, p))
                dir[0] = '\0';
        pclose(p);
        dir[strcspn(dir, "\n")] = '\0';
        if (!dir[0])
                return -1;
        snprintf(out, len, "%s/git-http-backend", dir);
        return access(out, X_OK);
}

static int hall_serve(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "listen", required_argument, NULL, 'l' },
                { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
                { "max-body", required_argument, NULL, 'b' }, { "max-conns", required_argument, NULL, 'n' },
                { "head-timeout", required_argument, NULL, 't' }, { "scan-quota", required_argument, NULL, 'q' },
                { "pack-loose", required_argument, NULL, 'p' }, { "assemble-ms", required_argument, NULL, 'a' },
                { NULL, 0, NULL, 0 },
        };
        unsigned long long quota_mib = HALL_SCAN_QUOTA_DEFAULT;
        const char *homeopt = NULL, *listen = HALL_DEFAULT_LISTEN, *cert = NULL, *key = NULL;
        const struct str_opt so[] = { { 'H', &homeopt }, { 'l', &listen }, { 'c', &cert }, { 'k', &key }, { 0, NULL } };
        /* a push over a 64 kbit/s link with loss averages some 6 KB/s,
         * but a cut of a few seconds backs TCP off for tens of seconds; a
         * body below 128 B/s for a minute is a client holding a slot */
        /* 1,024 connections: a county's 418 nodes syncing within a minute
         * (bench/county-sim.py) filled 256, and a full house makes room by
         * closing its slowest request: the stations on the slowest links,
         * whose syncs then failed and waited for their next turn */
        struct http_limits lim = { 1024, HALL_MAX_BODY_DEFAULT, 30000, 120000, .max_per_peer = 64,
                                   .min_body_rate = 128, .rate_grace_ms = 60000 };
        struct hall H;
        char err[512], path[PATH_MAX + 8], pin[65] = "";
        int c, r = EXIT_REFUSED;

        memset(&H, 0, sizeof H);
        log_open("hall", 2);
        H.lockfd = -1;
        H.pack_loose = HALL_PACK_LOOSE_DEFAULT;
        H.assemble_ms = HALL_ASSEMBLE_MS_DEFAULT;
        H.objects_moved = true;         /* look once at start */
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                char *end;
                if (take_str(so, c))
                        ;
                else if (c == 'b' && (lim.max_body = strtoull(optarg, &end, 10)) > 0 && !*end)
                        ;
                else if (c == 'n' && (lim.max_conns = (unsigned)strtoul(optarg, &end, 10)) > 0 && !*end)
                        ;
                else if (c == 't' && (lim.head_timeout_ms = 1000u * (unsigned)strtoul(optarg, &end, 10)) > 0 && !*end &&
                         lim.head_timeout_ms <= 3600000u)
                        ;
                else if (c == 'q' && (quota_mib = strtoull(optarg, &end, 10)) > 0 && !*end && quota_mib <= (1ull << 30))
                        ;
                else if (c == 'p' && optarg[0] >= '0' && optarg[0] <= '9' &&
                         ((H.pack_loose = strtoul(optarg, &end, 10)), !*end))
                        ;
                else if (c == 'a' && optarg[0] >= '0' && optarg[0] <= '9' &&
                         ((H.assemble_ms = strtoul(optarg, &end, 10)), !*end) && H.assemble_ms <= 3600000)
                        ;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc || !cert != !key) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        if (!cert && strncmp(listen, "127.", 4) != 0 && strncmp(listen, "[::1]", 5) != 0 &&
            strncmp(listen, "localhost:", 10) != 0) {
                cli_error("%s", cli_msg("serving beyond this machine needs HTTPS: give --cert and --key (tokens are"
                                        " never accepted over plain HTTP)",
                                        "对外提供服务须使用 HTTPS：请给出 --cert 和 --key（令牌不能通过明文 HTTP 发送）"));
                return EXIT_USAGE;
        }
        H.max_body = lim.max_body;
        H.scan_quota = quota_mib << 20;
        {
                /* a request is its socket, the two socket pairs of its
                 * backend (both ends while the spawn waits for a thread)
                 * and the backend's pidfd: allow what --max-conns says */
                struct rlimit rl;
                rlim_t want = (rlim_t)lim.max_conns * 6 + 64;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        if ((r = home_open(home_path(homeopt), &H.h)))
                return r;
        r = EXIT_REFUSED;
        if (strcmp(H.h.role, "county") != 0) {
                cli_error(cli_msg("the hall serves a county's home; this home is a %s's",
                                        "服务端只能运行在县级节点；本节点为%s"),
                          H.h.role);
                goto out_home;
        }
        if (home_lock_daemon(&H.h, "hall") < 0)
                goto out_home;          /* one hall per home: two would take each other's pushes */
        if (!realpath(H.h.dir, H.home_abs)) {
                cli_error("cannot resolve %s: %s", H.h.dir, strerror(errno));
                goto out_home;
        }
        if (find_backend(H.backend, sizeof H.backend) < 0) {
                cli_error("%s", cli_msg("git http-backend was not found: install git (apt-get install git)",
                                        "找不到 git http-backend：请安装 git（apt-get install git）"));
                goto out_home;
        }
        if (write_hook(&H) < 0) {
                cli_error(cli_msg("cannot write the hall's hook under %s/hall", "无法写入 %s/hall 下的钩子"), H.home_abs);
                goto out_home;
        }
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        hall_limit_mapped();
        snprintf(path, sizeof path, "%s/repo", H.home_abs);
        snprintf(H.repo_dir, sizeof H.repo_dir, "%s", path);
        if (git_repository_open_bare(&H.repo, path) < 0 || git_repository_open_bare(&H.wrepo, path) < 0) {
                cli_error(cli_msg("cannot open the repository %s: %s", "无法打开仓库 %s：%s"), path,
                          git_error_last() ? git_error_last()->message : "?");
                goto out_git;
        }
        /* a push whose hooks a killed hall never ran to the end, or whose
         * note was wrong, is made durable now; and what a killed packing
         * left goes */
        if ((r = durable_sync_objects(path, NULL, 0)) < 0)
                log_line("cannot sync the repository's object folders: %s", strerror(-r));
        if (repack_clean(path))
                log_line("removed what an interrupted packing left in %s/objects/pack", path);
        if ((r = home_open(H.h.dir, &H.wh))) {
                git_repository_free(H.wrepo);
                H.wrepo = NULL;
                r = EXIT_REFUSED;
                goto out_git;
        }
        r = EXIT_REFUSED;
        if (cert) {
                if (!(H.tls = tls_ctx_new(cert, key, err, sizeof err)) || tls_cert_pin(cert, pin, err, sizeof err) < 0) {
                        cli_error("%s", err);
                        goto out_git;
                }
        }
        /* the county's catalogue is published before the hall says it
         * serves: a station that joins at once (daiban init --from-hall)
         * finds it (the first ingest round would publish it a moment
         * later, on the worker thread) */
        if (hall_lock(&H)) {
                int ncat = 0;
                home_sync_catalog(&H.wh, H.wrepo, &ncat, log_feed, NULL);
                hall_unlock_idle(&H);
        }
        H.loop = uv_default_loop();
        /* two threads: one may wait for a process the kernel has yet to
         * schedule while the other starts the next */
        if ((r = spawner_new(H.loop, 2, &H.spawner)) < 0) {
                cli_error("cannot start the hall's spawner threads: %s", uv_strerror(r));
                r = EXIT_REFUSED;
                goto out_git;
        }
        r = EXIT_REFUSED;
        if (http_server_start(H.loop, listen, H.tls, &lim, &hall_front, &H, &H.srv, err, sizeof err) < 0) {
                cli_error("%s", err);
                goto out_git;
        }
        signal(SIGPIPE, SIG_IGN);
        uv_timer_init(H.loop, &H.tick);
        H.tick.data = &H;
        uv_timer_start(&H.tick, on_tick, 0, HALL_TICK_MS);
        for (int i = 0; i < 2; i++) {
                uv_signal_init(H.loop, &H.sig[i]);
                H.sig[i].data = &H;
                uv_signal_start(&H.sig[i], on_signal, i ? SIGTERM : SIGINT);
        }
        {
                char host[128];
                snprintf(host, sizeof host, "%s", listen);
                char *colon = strrchr(host, ':');
                if (colon)
                        *colon = '\0';
                printf(cli_msg("hall %s serving %s://%s:%d/feeds\n", "县级服务端 %s 已启动：%s://%s:%d/feeds\n"), H.h.node,
                       cert ? "https" : "http", host, http_server_port(H.srv));
                if (cert)
                        printf(cli_msg("certificate pin (for 'daiban remote set --pin'): %s\n",
                                       "证书指纹（用于“daiban remote set --pin”）：%s\n"),
                               pin);
                fflush(stdout);
        }
        uv_run(H.loop, UV_RUN_DEFAULT);
        spawner_free(H.spawner);
        H.spawner = NULL;
        uv_loop_close(H.loop);
        r = 0;
out_git:
        spawner_free(H.spawner);
        if (H.wrepo)
                home_close(&H.wh);
        git_repository_free(H.wrepo);
        git_repository_free(H.repo);
        free(H.parts);
        git_libgit2_shutdown();
        tls_ctx_free(H.tls);
out_home:
        home_unlock_repo(H.lockfd);
        home_close(&H.h);
        return r;
}

/* The arguments of a command that takes --home and one flag: open the
 * home. 0, or the exit code (the usage printed). */
int hall_open_with_flag(int argc, char **argv, const char *flag, bool *set, struct home *h)
{
        const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { flag, no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
        };
        const char *homeopt = NULL;
        int c;

        *set = false;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1 && c != '?') {
                if (c == 'H')
                        homeopt = optarg;
                else
                        *set = true;
        }
        if (c == '?' || argc != optind) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        return home_open(home_path(homeopt), h);
}

/* `hall resume`: a hall restored from a backup goes back to writing its
 * chains once every township that syncs with it (holds a token) has
 * pushed since the restore, giving back what the hall wrote after the
 * backup; --anyway for a township that cannot. */
static int hall_resume(int argc, char **argv)
{
        bool anyway;
        struct home h;
        char **nodes = NULL;
        int r, waiting = 0, seen = 0;

        if ((r = hall_open_with_flag(argc, argv, "anyway", &anyway, &h)))
                return r;
        if (strcmp(h.role, "county") != 0 || !store_restore_pending(h.st)) {
                printf("%s", cli_msg("this hall is not being restored: nothing to resume\n", "本县服务端不在恢复中：无需继续\n"));
                home_close(&h);
                return 0;
        }
        if (store_meta_keys(h.st, "hall.token.", &nodes) < 0) {
                cli_error(cli_msg("cannot read the store: %s", "无法读取数据库：%s"), store_errmsg(h.st));
                home_close(&h);
                return EXIT_REFUSED;
        }
        for (size_t i = 0; nodes[i]; i++) {
                const char *node = nodes[i];
                const struct cat_division *d = catalog_find_division(h.cat, node);
                char key[64], rkey[64], *v = NULL, *rv = NULL;
                if (!d || d->level == LEVEL_COUNTY)
                        continue;
                snprintf(key, sizeof key, HALL_RESTORE_SEEN "%s", node);
                snprintf(rkey, sizeof rkey, HALL_RESTORE_REFUSED "%s", node);
                bool refused_back = store_meta_get(h.st, rkey, &rv) == 0;
                free(rv);
                if (refused_back)
                        printf(cli_msg("  %-12s %s  gave back chains the hall refused: see the hall's log before resuming\n",
                                       "  %-12s %s  交回的本县链曾被拒收：继续之前请查看服务端日志\n"), node, d->name);
                if (store_meta_get(h.st, key, &v) == 0 && v) {
                        long long at = 0;
                        int returned = 0;
                        sscanf(v, "%lld %d", &at, &returned);
                        char when[32];
                        time_t t = (time_t)at;
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
                        printf(cli_msg("  %-12s %s  synced since the restore (%s; %d of the hall's chains given back)\n",
                                       "  %-12s %s  恢复后已同步（%s；交回本县链 %d 条）\n"),
                               node, d->name, when, returned);
                        seen++;
                } else {
                        if (waiting < 40)
                                printf(cli_msg("  %-12s %s  not yet synced since the restore\n", "  %-12s %s  恢复后尚未同步\n"),
                                       node, d->name);
                        waiting++;
                }
                free(v);
        }
        store_meta_keys_free(nodes);
        if (waiting && !anyway) {
                cli_error(cli_msg("%d townships or villages that sync with the hall have not given back since the restore: what "
                                  "the hall wrote after its backup may still be with them. Wait for their syncs, or resume "
                                  "with --anyway (a decision they hold and did not give back then shows as two histories, "
                                  "for a person to settle)",
                                  "%d 个与服务端同步的乡镇或村在恢复后尚未交回：本县在备份之后所写内容可能还在它们那里。请等待其同步，"
                                  "或用 --anyway 继续（它们持有而未交回的决定届时将显示为两份记录，须由人工处理）"),
                          waiting);
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (store_begin(h.st) < 0 || store_restore_done(h.st) < 0 ||
            store_meta_delete_prefix(h.st, HALL_RESTORE_SEEN) < 0 || store_meta_delete_prefix(h.st, HALL_RESTORE_REFUSED) < 0 ||
            store_commit(h.st) < 0) {
                cli_error(cli_msg("cannot write the store: %s", "无法写入数据库：%s"), store_errmsg(h.st));
                store_rollback(h.st);
                home_close(&h);
                return EXIT_REFUSED;
        }
        printf(cli_msg("the hall resumes (%d nodes synced since the restore%s): what the county wrote meanwhile, from "
                       "seq %lld, goes on its feeds at the hall's next round\n",
                       "本县服务端恢复完成（%d 个站点已在恢复后同步%s）：本县期间所写内容（序号 %lld 起）将在服务端下一轮写入通道\n"),
               seen, waiting ? cli_msg(", some not: --anyway", "，部分未同步：--anyway") : "",
               (long long)store_seq_floor(h.st));
        home_close(&h);
        return 0;
}

static int cmd_hall(int argc, char **argv)
{
        static const struct cli_command sub[] = {
                { "serve", "Serve this county home's feeds over HTTP(S)", usage_hall, hall_serve },
                { "token", "Issue (or revoke) a node's token", usage_hall, hall_token },
                { "resume", "After a restore: write again once the townships have given back", usage_hall,
                  hall_resume },
                { "pack", "Pack the repository's loose objects now (the hall does on its own)", usage_hall,
                  hall_pack },
                { "pin", "Print a certificate's SHA-256 pin", usage_hall, hall_pin },
                { "cert", "Make a self-signed certificate and key for the hall", usage_hall, hall_cert },
                { "pre-receive", "The hall's git hook (run by git receive-pack)", usage_hall, hall_pre_receive },
                { "ref-sync", "The hall's reference-transaction hook (internal)", usage_hall, hall_ref_sync },
                { "cgi", "Runs git http-backend for the hall (internal)", usage_hall, hall_cgi },
                { NULL, NULL, NULL, NULL },
        };

        return cli_dispatch("daiban hall", "The county hall: feeds over git smart HTTP", sub, argc - 1, argv + 1);
}

const struct cli_command hall_commands[] = {
        { "hall", "The county hall: serve feeds over HTTPS, issue tokens", NULL, cmd_hall },
        { NULL, NULL, NULL, NULL },
};
