/* The command line: subcommand dispatch, help, the language of messages
 * and exit codes shared by every command.
 *
 * Exit codes (stable, scripts and tests rely on them):
 *   0  success
 *   1  refused: the input broke a rule (the reasons are printed)
 *   2  usage error: unknown command or option, missing argument
 * Messages go in English unless LANG (or LC_ALL / LC_MESSAGES) selects
 * Chinese (zh_*), for the CLI and logs; agents' screens are Chinese. */
#ifndef DAIBAN_AGENT_CLI_H
#define DAIBAN_AGENT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "forms/calendar.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE   2

struct cli_command {
        const char *name;
        const char *summary;     /* one line, English */
        const char *usage;       /* full --help text, English; NULL for a
                                  * group of commands that prints its own */
        int (*run)(int argc, char **argv);
};

/* True when messages should be Chinese. */
bool cli_zh(void);

/* Replace, in place, the control characters of text another node wrote
 * (C0, DEL, and C1 as UTF-8) with '?', so that showing it cannot drive a
 * terminal. */
void cli_unctrl(char *s);

/* The last pair cli_msg chose from, so that cli_error can give both
 * languages to the station daemon (see cli_error). */
extern const char *cli_last_en, *cli_last_zh;

/* Pick the message for the user's language. Both texts take the same
 * printf arguments in the same order (or use positional %1$s forms);
 * the compiler checks the call's arguments against the English one. */
__attribute__((format_arg(1))) static inline const char *cli_msg(const char *en, const char *zh)
{
        cli_last_en = en;
        cli_last_zh = zh;
        return cli_zh() ? zh : en;
}

/* Print an error prefixed with "daiban: " to stderr. With
 * DAIBAN_ERRORS=json in the environment (how `daiban serve` runs its
 * writes) each error is instead one JSON line {"en":..,"zh":..}: both
 * languages when the format (or a lone "%s" argument) came from
 * cli_msg, else the same text twice. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An error whose two languages were formatted by the caller: printed
 * like cli_error's, one JSON line with both under DAIBAN_ERRORS=json. */
void cli_error_both(const char *en, const char *zh);

/* A library's log line (a log callback of sync/ and home.h: ud unused)
 * printed as cli_error("%s", line). */
void cli_log(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True with DAIBAN_ERRORS=json. */
bool cli_json_errors(void);
/* One JSON line on stderr: {"problems":[{"path","code","zh","en"}]}
 * (form_problems of forms/validate.h; only with cli_json_errors). */
struct form_problems;
void cli_json_problems(const struct form_problems *p);

/* Dispatch argv[0] (a subcommand name) among cmds; prints help for
 * "help", "--help", "-h" and for no command. `prog` names the level
 * ("daiban catalog") in messages. */
int cli_dispatch(const char *prog, const char *summary, const struct cli_command *cmds, int argc,
                 char **argv);

/* A secret given as "-" (the first line of stdin) or "@FILE" (the first
 * line of FILE), so that it never shows in a process list: read into
 * buf. Anything else is copied as it is. false when nothing was read. */
bool cli_read_secret(const char *spec, char *buf, size_t len);

/* True when argv holds -h or --help before a "--"; callers print usage. */
bool cli_wants_help(int argc, char **argv);

/* The catalogue commands (agent/cmd-catalog.c). */
int cmd_catalog(int argc, char **argv);
struct cat_form;

/* A node's own work: init, operator, app, review, decide, status,
 * rebuild (agent/cmd-node.c, agent/cmd-app.c). */
extern const struct cli_command node_commands[];

/* remote, sync (agent/cmd-sync.c). */
extern const struct cli_command sync_commands[];

/* key, roster (agent/cmd-key.c). */
extern const struct cli_command key_commands[];

/* serve (agent/serve.c): the station's web UI and API. */
int cmd_serve(int argc, char **argv);

/* backup, restore (agent/cmd-backup.c). */
extern const struct cli_command backup_commands[];

/* doctor (agent/cmd-doctor.c). */
extern const struct cli_command doctor_commands[];

/* service: the Windows service (agent/cmd-service.c, Windows only). */
extern const struct cli_command service_commands[];

/* hall (agent/hall.c). */
extern const struct cli_command hall_commands[];

#endif
