/* Subcommand dispatch and the shared pieces of the command line: see
 * cli.h. */
#include "agent/cli.h"
#include "agent/console.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forms/validate.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

const char *cli_last_en, *cli_last_zh;

void cli_unctrl(char *s)
{
        for (unsigned char *p = (unsigned char *)s; *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
                else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
                        p[0] = p[1] = '?';
        }
}

bool cli_zh(void)
{
        static int zh = -1;

        if (zh < 0) {
                const char *v = console_getenv("LC_ALL");
                if (!v || !*v)
                        v = console_getenv("LC_MESSAGES");
                if (!v || !*v)
                        v = console_getenv("LANG");
                zh = v && *v ? strncmp(v, "zh", 2) == 0 : console_system_zh();
        }
        return zh;
}

bool cli_json_errors(void)
{
        static int on = -1;

        if (on < 0) {
                const char *v = console_getenv("DAIBAN_ERRORS");
                on = v && strcmp(v, "json") == 0;
        }
        return on;
}

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
        char *s = NULL;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

static void json_line(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

        if (s) {
                fprintf(stderr, "%s\n", s);
                free(s);
        }
        json_decref(j);
}

void cli_json_problems(const struct form_problems *p)
{
        json_t *a = json_array();

        for (size_t i = 0; i < p->n; i++)
                json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "path", p->v[i].path, "code", p->v[i].code,
                                                   "zh", p->v[i].msg_zh, "en", p->v[i].msg_en));
        json_line(json_pack("{s:o}", "problems", a));
}

void cli_error_both(const char *en, const char *zh)
{
        if (cli_json_errors())
                json_line(json_pack("{s:s,s:s}", "en", en, "zh", zh));
        else
                fprintf(stderr, "daiban: %s\n", cli_zh() ? zh : en);
}

void cli_log(void *ud, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cli_error("%s", msg);
}

void cli_error(const char *fmt, ...)
{
        va_list ap;

        if (cli_json_errors()) {
                const char *en = fmt, *zh = fmt;
                char *a, *b;
                va_list aq;

                va_start(ap, fmt);
                if (fmt == cli_last_en || fmt == cli_last_zh) {
                        en = cli_last_en;
                        zh = cli_last_zh;
                } else if (strcmp(fmt, "%s") == 0) {
                        va_copy(aq, ap);
                        const char *arg = va_arg(aq, const char *);
                        va_end(aq);
                        if (arg && (arg == cli_last_en || arg == cli_last_zh)) {
                                en = "%s";
                                zh = "%s";
                                va_end(ap);
                                a = strdup(cli_last_en);
                                b = strdup(cli_last_zh);
                                goto out;
                        }
                }
                va_copy(aq, ap);
                /* en and zh are the pair cli_msg checked against the
                 * arguments (format_arg), or fmt itself */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                a = vformat(en, ap);
                b = vformat(zh, aq);
#pragma GCC diagnostic pop
                va_end(aq);
                va_end(ap);
out:
                json_line(json_pack("{s:s?,s:s?}", "en", a, "zh", b));
                free(a);
                free(b);
                return;
        }
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

bool cli_read_secret(const char *spec, char *buf, size_t len)
{
        if (strcmp(spec, "-") != 0 && spec[0] != '@') {
                snprintf(buf, len, "%s", spec);
                return buf[0] != '\0';
        }
        FILE *f = strcmp(spec, "-") == 0 ? stdin : fopen(spec + 1, "r");
        bool got = f && fgets(buf, (int)len, f);
        if (f && f != stdin)
                fclose(f);
        buf[got ? strcspn(buf, "\r\n") : 0] = '\0';
        return buf[0] != '\0';
}
