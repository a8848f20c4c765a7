/* Subcommand dispatch and the shared pieces of the command line: see
 * cli.h. */
#include "agent/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_zh(void)
{
        static int zh = -1;

        if (zh < 0) {
                const char *v = getenv("LC_ALL");
                if (!v || !*v)
                        v = getenv("LC_MESSAGES");
                if (!v || !*v)
                        v = getenv("LANG");
                zh = v && strncmp(v, "zh", 2) == 0;
        }
        return zh;
}

void cli_error(const char *fmt, ...)
{
        va_list ap;

        fputs("daiban: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

bool cli_wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        return false;
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
                        return true;
        }
        return false;
}

static void list_commands(FILE *f, const char *prog, const char *summary, const struct cli_command *cmds)
{
        fprintf(f, "%s\n\nUsage: %s COMMAND [ARGS...]\n\nCommands:\n", summary, prog);
        for (const struct cli_command *c = cmds; c->name; c++)
                fprintf(f, "  %-12s %s\n", c->name, c->summary);
        fprintf(f, "\nRun '%s COMMAND --help' for the options of one command.\n", prog);
}

int cli_dispatch(const char *prog, const char *summary, const struct cli_command *cmds, int argc,
                 char **argv)
{
        if (argc < 1) {
                list_commands(stderr, prog, summary, cmds);
                return EXIT_USAGE;
        }
        if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
                if (argc > 1)
                        for (const struct cli_command *c = cmds; c->name; c++)
                                if (strcmp(c->name, argv[1]) == 0) {
                                        char help[] = "--help", *hv[] = { argv[1], help, NULL };
                                        if (!c->usage)
                                                return c->run(2, hv);
                                        fputs(c->usage, stdout);
                                        return 0;
                                }
                list_commands(stdout, prog, summary, cmds);
                return 0;
        }
        for (const struct cli_command *c = cmds; c->name; c++)
                if (strcmp(c->name, argv[0]) == 0) {
                        /* A group (usage NULL) answers --help itself. */
                        if (c->usage && cli_wants_help(argc, argv)) {
                                fputs(c->usage, stdout);
                                return 0;
                        }
                        return c->run(argc, argv);
                }
        cli_error(cli_msg("unknown command '%s'; run '%s --help'", "未知命令“%s”；请运行“%s --help”查看用法"),
                  argv[0], prog);
        return EXIT_USAGE;
}
