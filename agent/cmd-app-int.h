/* Private to the node's commands (cmd-opts.c, cmd-node.c, cmd-app.c):
 * their options, the context of one command, and the steps every one of
 * them shares: parse, open the home, print a core_result. */
#ifndef DAIBAN_AGENT_CMD_APP_INT_H
#define DAIBAN_AGENT_CMD_APP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/app.h"
#include "agent/cli.h"
#include "agent/core/core.h"

/* The options a command allows (parse's `allowed`) and was given. */
enum {
        O_HOME = 1 << 0, O_OPERATOR = 1 << 1, O_NODE = 1 << 2, O_TODAY = 1 << 3, O_JSON = 1 << 4,
        O_HTML = 1 << 5, O_DATA = 1 << 6, O_SUBMIT = 1 << 7, O_FILE = 1 << 8, O_PROMISE = 1 << 9,
        O_REASON = 1 << 10, O_LEVEL = 1 << 11, O_COMMENT = 1 << 12, O_STATUS = 1 << 13,
        O_OVERDUE = 1 << 14, O_LIMIT = 1 << 15, O_AFTER = 1 << 16, O_NAME = 1 << 17, O_ROLE = 1 << 18,
        O_CATALOG = 1 << 19, O_VERIFY = 1 << 20, O_MATERIALS = 1 << 21,
        O_REQUEST = 1 << 22, O_COUNTY_KEY = 1 << 23, O_REJOIN = 1 << 24, O_KEY = 1 << 25, O_FROM_HALL = 1 << 26, O_TOKEN = 1 << 27, O_PIN = 1 << 28,
};

struct opts {
        unsigned given;
        const char *home, *operator, *node, *today, *data, *file, *promise, *reason, *comment, *status,
                *after, *name, *role, *catalog, *materials, *request, *county_key, *key, *from_hall, *token, *pin;
        long level, limit;
        int npos;
        char **pos;
};

/* The context of a command. */
struct ctx {
        struct home h;
        struct opts o;
        struct core_ctx core;   /* who acts, where, when */
        struct core_result res;
        int32_t today;
        bool open;
};

/* Parse argv (argv[0] is the command name, `usage` its one-line usage)
 * allowing the options in `allowed` and exactly npos positionals (or at
 * least -npos when negative). Returns 0 or EXIT_USAGE. */
int cmd_parse(int argc, char **argv, unsigned allowed, int npos, const char *usage, struct opts *o);

/* Open c's home and its core context for c->o: 0, or the exit code
 * with the reason printed. cmd_ctx_close undoes it (always called). */
int cmd_ctx_open(struct ctx *c);
void cmd_ctx_close(struct ctx *c);

/* Print a result: its message (an error on stderr, with its problems;
 * what was done on stdout), and return the exit code. */
int cmd_print_result(struct core_result *res);
/* The problems, one a line, on stderr. */
void cmd_print_problems(const struct form_problems *p);

/* A rule's reason and a status, in the user's language. */
const char *cmd_tr(const char *en);
const char *cmd_status_zh(const char *s);

/* The applications key names, or the refusal printed (its exit code). */
int cmd_load_targets(struct ctx *c, const char *key, struct app_row **ret, size_t *n);

/* Run a one-event step on the application c->o.pos[0]: its arguments
 * checked before the home is opened; prints what it did. */
int cmd_step(struct ctx *c, const struct core_step *in);

/* `daiban app ...` (cmd-app.c). */
int cmd_app(int argc, char **argv);

#endif
