/* Joining a county through its hall: the link's settings (the hall's
 * address, this node's token, the certificate pin) checked and kept in
 * a home, and a new home's catalogue fetched from the hall (`daiban init
 * --from-hall`, the first-run page). Nothing here prints: each function
 * returns a status (agent/core/result.h) with why in res; the CLI's
 * wrappers (agent/cli-home.c) print it. */
#ifndef DAIBAN_AGENT_JOIN_H
#define DAIBAN_AGENT_JOIN_H

#include <stddef.h>

#include "agent/home.h"

struct core_result;

/* Check a hall address, token and pin as `remote set` takes them: the
 * address ends in /feeds; a token only over https (or on this machine);
 * the token names node ("<node>.<secret>"); the pin is 64 hex digits.
 * token, pin or node may be NULL (not checked). 0, CORE_REFUSED (a token
 * over plain http) or CORE_USAGE. */
int join_remote_check(const char *url, const char *token, const char *pin, const char *node,
                      struct core_result *res);

/* Keep them in h's store (remote.url, remote.token, remote.pin); a NULL
 * token or pin keeps what was set before. 0, or CORE_FAILED. */
int join_remote_set(struct home *h, const char *url, const char *token, const char *pin, struct core_result *res);

/* What a fetch has to tell on its way (the hall's lines, a link given
 * up), in both languages. */
typedef void join_say_fn(void *ud, const char *en, const char *zh);

/* Fetch the county's catalogue chain from the hall at url with node's
 * token and write its newest version's sheets into work/catalog (work
 * is created, and must not exist; the caller removes it). With
 * county_key (--county-key), the county's roster offered is verified
 * against it and every version of the catalogue must be signed by the
 * county's key in it, before anything is installed. role gets the level
 * of node's division in it ("village", "township"). What happens on the
 * way goes to say. 0, or the status with the reason in res. */
int join_catalog_fetch(const char *url, const char *token, const char *pin, const char *county_key, const char *node,
                       const char *work, char *catdir, size_t catlen, char *role, size_t rolelen, join_say_fn *say,
                       void *ud, struct core_result *res);

/* The command line's wrappers (agent/cli-home.c): the reason printed,
 * the CLI's exit code (0, EXIT_REFUSED, EXIT_USAGE) returned. */
int join_check_remote(const char *url, const char *token, const char *pin, const char *node);
int join_set_remote(struct home *h, const char *url, const char *token, const char *pin);
int join_fetch_catalog(const char *url, const char *token, const char *pin, const char *county_key, const char *node,
                       const char *work, char *catdir, size_t catlen, char *role, size_t rolelen);

#endif
