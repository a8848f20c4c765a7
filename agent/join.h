/* Joining a county through its hall: the link's settings (the hall's
 * address, this node's token, the certificate pin) checked and kept in
 * a home, and a new home's catalogue fetched from the hall (`daiban init
 * --from-hall`, the first-run page). Prints its own errors, in the
 * CLI's language. */
#ifndef DAIBAN_AGENT_JOIN_H
#define DAIBAN_AGENT_JOIN_H

#include <stddef.h>

#include "agent/home.h"

/* Check a hall address, token and pin as `remote set` takes them: the
 * address ends in /feeds; a token only over https (or on this machine);
 * the token names node ("<node>.<secret>"); the pin is 64 hex digits.
 * token, pin or node may be NULL (not checked). 0, EXIT_REFUSED (a token
 * over plain http) or EXIT_USAGE. */
int join_check_remote(const char *url, const char *token, const char *pin, const char *node);

/* Keep them in h's store (remote.url, remote.token, remote.pin); a NULL
 * token or pin keeps what was set before. 0, or EXIT_REFUSED. */
int join_set_remote(struct home *h, const char *url, const char *token, const char *pin);

/* Fetch the county's catalogue chain from the hall at url with node's
 * token and write its newest version's sheets into work/catalog (work
 * is created, and must not exist; the caller removes it). With
 * county_key (--county-key), the county's roster offered is verified
 * against it and every version of the catalogue must be signed by the
 * county's key in it, before anything is installed. role gets the level
 * of node's division in it ("village", "township"). 0, or EXIT_REFUSED
 * with the reason printed. */
int join_fetch_catalog(const char *url, const char *token, const char *pin, const char *county_key, const char *node,
                       const char *work, char *catdir, size_t catlen, char *role, size_t rolelen);

#endif
