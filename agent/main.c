/* daiban: the offline-first sync agent of village government-service
 * stations. One program, three roles (village, township, county); this
 * file only dispatches to the subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/console.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

#ifndef DAIBAN_VERSION
#define DAIBAN_VERSION "unknown"       /* meson passes the project's */
#endif

static int cmd_version(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        printf("daiban %s\n", DAIBAN_VERSION);
        return 0;
}

static const struct cli_command base_commands[] = {
        { "catalog", "Load, check and apply the county's delegated matter list",
          NULL, cmd_catalog },
        { "serve", "Run this node's station: web UI, HTTP API, background sync", NULL, cmd_serve },
        { "version", "Print the version", "Usage: daiban version\n", cmd_version },
};

static struct cli_command commands[64];

int main(int argc, char **argv)
{
        const struct cli_command *groups[] = { node_commands, sync_commands,
#ifndef DAIBAN_NO_HALL
                                               hall_commands,   /* the county hall: Linux only */
#endif
#ifdef _WIN32
                                               service_commands,        /* systemd's unit on Linux */
#endif
                                               key_commands, backup_commands, doctor_commands };
        const size_t max = sizeof commands / sizeof commands[0] - 1;
        size_t n = 0;

        for (size_t i = 0; i < sizeof base_commands / sizeof base_commands[0]; i++)
                commands[n++] = base_commands[i];
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
                for (const struct cli_command *c = groups[g]; c->name && n < max; c++)
                        commands[n++] = *c;
        console_start(&argc, &argv);
#ifndef _WIN32
        /* a peer that drops the link mid-transfer must give an error
         * return (and a message), not kill the process */
        signal(SIGPIPE, SIG_IGN);
#endif
        /* homes hold villagers' ID numbers, password hashes and keys:
         * whatever this process creates is its user's alone */
        umask(077);
        if (argc > 1 && strcmp(argv[1], "--version") == 0)
                return cmd_version(0, NULL);
        return cli_dispatch("daiban", "daiban: offline-first sync agent for village service stations", commands,
                            argc - 1, argv + 1);
}
