/* The station daemon, `daiban serve` (agent/serve.c). The command is
 * cmd_serve (cli.h); these entry points drive its routes without sockets
 * or child processes, for the fuzz target. */
#ifndef DAIBAN_AGENT_SERVE_H
#define DAIBAN_AGENT_SERVE_H

#include <stdbool.h>
#include <stddef.h>

struct station;

/* Whether listen ("HOST:PORT") is on this machine only (loopback): the
 * daemon serves plain HTTP there without --insecure-http. */
bool serve_listen_local(const char *listen);

/* A station on an existing home, not listening, running no children
 * (routes that write through the CLI answer 503). NULL on failure. */
struct station *serve_test_open(const char *home_dir);
/* One request through the routes; returns its status and points
 * *ret_body at its body (valid until the next call). */
int serve_test_request(struct station *st, const char *method, const char *path, const char *query, const char *cookie,
                       const char *csrf, const char *origin, const char *body, size_t len, const char **ret_body);
void serve_test_close(struct station *st);

#endif
