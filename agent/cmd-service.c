/* `daiban service`: the station as a Windows service (Windows only; on
 * Linux the systemd unit is its service). The Service Control Manager's
 * side is agent/winservice.c; what the service runs is `daiban serve`
 * itself (cmd_serve), stopped through agent/daemon-stop.h.
 * docs/windows.md, "The service". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent/cli.h"
#include "agent/home.h"
#include "agent/serve.h"
#include "agent/winservice.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

#define SERVICE_NAME   "daiban"
#define LISTEN_DEFAULT "127.0.0.1:8410"
#define RESTART_MS     5000     /* after a failure */
#define STOP_MS        9000     /* the SCM hears STOPPED within 10 s */

static const char usage_service[] =
        "Usage: daiban service install [--home DIR] [--listen HOST:PORT] [--no-start]\n"
        "       daiban service uninstall\n"
        "       daiban service run [--home DIR] [--listen HOST:PORT]\n"
        "\n"
        "The station as the Windows service \"daiban\": it starts with Windows,\n"
        "as LocalService, and runs 'daiban serve' (docs/windows.md). Run as\n"
        "administrator.\n"
        "\n"
        "  install     register the service (or renew it) and start it; the\n"
        "              home is made readable by LocalService and Administrators\n"
        "              only; after a failure the service restarts in 5 s\n"
        "  uninstall   stop the service and remove it; the home stays\n"
        "  run         what the Service Control Manager starts (not for a console)\n"
        "\n"
        "  --home DIR          the station's home (default %ProgramData%\\daiban\\station)\n"
        "  --listen HOST:PORT  where the station listens (default " LISTEN_DEFAULT ")\n"
        "  --no-start          register only\n";

struct service_opts {
        const char *home, *listen;
        bool no_start;
};

static int parse(int argc, char **argv, bool install, struct service_opts *o)
{
        static const struct option longopts[] = {
                { "home", required_argument, NULL, 'H' },
                { "listen", required_argument, NULL, 'l' },
                { "no-start", no_argument, NULL, 'n' },
                { NULL, 0, NULL, 0 },
        };
        int c;

        o->home = NULL;
        o->listen = LISTEN_DEFAULT;
        o->no_start = false;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                if (c == 'H')
                        o->home = optarg;
                else if (c == 'l')
                        o->listen = optarg;
                else if (c == 'n' && install)
                        o->no_start = true;
                else
                        return -1;
        }
        return optind == argc ? 0 : -1;
}

/* The home as the service names it: absolute, with '\' */
static char *service_home(const char *opt)
{
        char *h = strdup(home_path(opt));

        for (char *p = h; p && *p; p++)
                if (*p == '/')
                        *p = '\\';
        for (size_t n = h ? strlen(h) : 0; n > 3 && h[n - 1] == '\\'; n--)
                h[n - 1] = '\0';
        return h;
}

static int service_install(const struct service_opts *o)
{
        struct winservice_err err;
        char exe[4096], *home = service_home(o->home), *cmd = NULL;
        size_t len = sizeof exe;
        int r = EXIT_REFUSED;

        if (!home || uv_exepath(exe, &len) < 0) {
                cli_error("%s", cli_msg("cannot find this program's own path", "无法确定本程序的路径"));
                goto out;
        }
        /* the SCM starts the service in C:\Windows\system32; LocalService
         * has no right on a network share */
        if (!(home[0] && home[1] == ':' && home[2] == '\\')) {
                cli_error(cli_msg("--home %s: give the full path (C:\\...)", "--home %s：请给出完整路径（C:\\...）"), home);
                r = EXIT_USAGE;
                goto out;
        }
        /* a drive's root: its access list would become the home's, for
         * every file on the drive */
        if (strlen(home) <= 3 || platform_volume_root(home)) {
                cli_error(cli_msg("--home %s is a drive's root: give a folder on it (D:\\daiban\\station)",
                                  "--home %s 是磁盘根目录：请指定其中的文件夹（D:\\daiban\\station）"), home);
                r = EXIT_USAGE;
                goto out;
        }
        if (strchr(home, '"') || strchr(o->listen, '"') || strchr(o->listen, ' ')) {
                cli_error(cli_msg("the home or the address holds a quote or a space: %s %s",
                                  "数据目录或地址中含有引号或空格：%s %s"), home, o->listen);
                r = EXIT_USAGE;
                goto out;
        }
        /* the service serves plain HTTP: on this PC only (serve would
         * refuse another address at each start) */
        if (!serve_listen_local(o->listen)) {
                cli_error(cli_msg("--listen %s reaches beyond this PC: the service listens on this PC only (127.0.0.1:PORT)",
                                  "--listen %s 可被其他电脑访问：服务只在本机地址上监听（127.0.0.1:端口）"), o->listen);
                r = EXIT_USAGE;
                goto out;
        }
        if (asprintf(&cmd, "\"%s\" service run --home \"%s\" --listen %s", exe, home, o->listen) < 0)
                goto out;
        if (winservice_protect(home, &err) < 0) {
                char *en = NULL, *zh = NULL;
                if (asprintf(&en, "%s: %s", home, err.en) >= 0 && asprintf(&zh, "%s：%s", home, err.zh) >= 0)
                        cli_error_both(en, zh);
                free(en);
                free(zh);
                goto out;
        }
        const struct winservice_spec spec = {
                .name = SERVICE_NAME,
                .display = "代办服务站 (daiban)",
                .description = "代办服务站：村便民服务站的代办受理、网页界面与数据同步（daiban serve）。"
                               "停止后浏览器将无法打开服务站页面。",
                .account = "NT AUTHORITY\\LocalService",
                .command_line = cmd,
                .restart_ms = RESTART_MS,
        };
        if (winservice_install(&spec, !o->no_start, &err) < 0) {
                cli_error_both(err.en, err.zh);
                goto out;
        }
        printf(cli_msg("service %s installed%s: home %s, http://%s/\n", "服务 %s 已安装%s：数据目录 %s，http://%s/\n"),
               SERVICE_NAME, o->no_start ? "" : cli_msg(" and started", "并已启动"), home, o->listen);
        r = 0;
out:
        free(cmd);
        free(home);
        return r;
}

/* What the SCM starts: `daiban serve` with the service's home and
 * address, its log in HOME.log beside the home (as HOME.setup-code). */
static int service_run(const struct service_opts *o)
{
        struct winservice_err err;
        char *home = service_home(o->home), *log = NULL;
        char *args[] = { "serve", "--home", home, "--listen", (char *)o->listen, NULL };
        int r;

        if (!home || asprintf(&log, "%s.log", home) < 0)
                return EXIT_REFUSED;
        r = winservice_run(SERVICE_NAME, cmd_serve, 5, args, STOP_MS, log, &err);
        if (r < 0) {
                cli_error_both(err.en, err.zh);
                r = EXIT_REFUSED;
        }
        free(log);
        free(home);
        return r;
}

static int cmd_service(int argc, char **argv)
{
        struct service_opts o;
        const char *sub = argc > 1 ? argv[1] : "";
        struct winservice_err err;

        if (argc < 2 || cli_wants_help(argc, argv)) {
                fputs(usage_service, argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : 0;
        }
        bool install = !strcmp(sub, "install");
        if ((!install && strcmp(sub, "uninstall") && strcmp(sub, "run")) || parse(argc - 1, argv + 1, install, &o) < 0 ||
            (!strcmp(sub, "uninstall") && argc != 2)) {
                fputs(usage_service, stderr);
                return EXIT_USAGE;
        }
        if (install)
                return service_install(&o);
        if (!strcmp(sub, "run"))
                return service_run(&o);
        switch (winservice_uninstall(SERVICE_NAME, 20000, &err)) {
        case 0:
                printf(cli_msg("service %s stopped and removed; the home stays\n", "服务 %s 已停止并删除；数据保留\n"),
                       SERVICE_NAME);
                return 0;
        case 1:
                printf(cli_msg("there is no service %s\n", "没有名为 %s 的服务\n"), SERVICE_NAME);
                return 0;
        default:
                cli_error_both(err.en, err.zh);
                return EXIT_REFUSED;
        }
}

const struct cli_command service_commands[] = {
        { "service", "Install, remove or run the Windows service", usage_service, cmd_service },
        { NULL, NULL, NULL, NULL },
};
