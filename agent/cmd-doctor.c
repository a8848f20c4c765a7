/* `daiban doctor`: the checks of agent/doctor.c, printed in the station's
 * language with what to do for each finding. Exit 0 when nothing needs a
 * person, 1 when something does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent/cli.h"
#include "agent/doctor.h"
#include "agent/home.h"

static const char usage_doctor[] =
        "Usage: daiban doctor [--json] [--home DIR]\n"
        "\n"
        "Check this node's home and say what needs a person, with what to do:\n"
        "who can read the home and its key, free disk space, the store\n"
        "(SQLite's quick_check), the repository (every ref's object, this\n"
        "node's own feed whole), the signing key on the county's roster, the\n"
        "link (hall, token, pin, the last good sync), events waiting to be\n"
        "sent, and this PC's clock against events from elsewhere.\n"
        "--json prints the findings as a JSON array. Exit 0: all well;\n"
        "1: something needs a person; 2: usage.\n";

/* Print s and pad it to cols terminal columns (a Chinese character takes
 * two; printf's widths count bytes). */
static void put_col(const char *s, int cols)
{
        int w = 0;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p & 0xC0) != 0x80)
                        w += *p >= 0xE0 ? 2 : 1;
        fputs(s, stdout);
        for (; w < cols; w++)
                putchar(' ');
}

static int cmd_doctor(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 },
        };
        const char *home = NULL;
        bool json = false, zh = cli_zh();
        json_t *found, *f;
        size_t i;
        int c;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c == 'H') {
                        home = optarg;
                } else if (c == 'j') {
                        json = true;
                } else {
                        fputs(usage_doctor, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc) {
                fputs(usage_doctor, stderr);
                return EXIT_USAGE;
        }
        found = doctor_run(home_path(home), (long long)time(NULL));
        if (json) {
                char *s = json_dumps(found, JSON_INDENT(2));
                puts(s ? s : "[]");
                free(s);
        } else {
                json_array_foreach(found, i, f) {
                        const char *level = json_string_value(json_object_get(f, "level"));
                        const char *tag = strcmp(level, "ok") == 0 ? cli_msg("ok", "正常")
                                          : strcmp(level, "warn") == 0 ? cli_msg("ATTENTION", "注意")
                                                                       : cli_msg("FAILED", "故障");
                        const char *todo = json_string_value(json_object_get(f, zh ? "todo_zh" : "todo_en"));
                        put_col(tag, 11);
                        put_col(json_string_value(json_object_get(f, zh ? "name_zh" : "name_en")), 12);
                        printf("%s\n", json_string_value(json_object_get(f, zh ? "zh" : "en")));
                        if (todo) {
                                put_col("", 23);
                                printf("%s%s\n", cli_msg("-> ", "→ "), todo);
                        }
                }
                printf(doctor_needs_person(found) ? cli_msg("Something above needs a person.\n", "以上有需要处理的问题。\n")
                                                  : cli_msg("All well.\n", "一切正常。\n"));
        }
        c = doctor_needs_person(found) ? EXIT_REFUSED : 0;
        json_decref(found);
        return c;
}

const struct cli_command doctor_commands[] = {
        { "doctor", "Check this node's home and say what needs a person", usage_doctor, cmd_doctor },
        { NULL, NULL, NULL, NULL },
};
