/* The county's authority over what a station says (agent/authority.c):
 * who reviews and decides an application, and in how many working days,
 * follow from the catalogue version it names and the division tree. */
#ifndef DAIBAN_AGENT_AUTHORITY_H
#define DAIBAN_AGENT_AUTHORITY_H

#include <stddef.h>

#include "agent/home.h"
#include "forms/catalog.h"
#include "sync/feed.h"

/* How a matter (in a bundle, or NULL) captured at origin is handled. */
struct authority_route {
        const struct cat_matter *matter;
        const struct cat_division *reviewer;    /* NULL: no separate review */
        const struct cat_division *decider;
};

/* Derive the route, or -EPERM with the reason in err (English) when the
 * catalogue does not delegate the matter to origin or has no office to
 * handle it. Pure: the catalogue only. */
int authority_route(const catalog *cat, const char *origin, const char *matter, const char *bundle,
                    struct authority_route *ret, char *err, size_t errlen);

/* feed_trust's admit for home h (ud): an app.created whose origin,
 * reviewer, decider, time limit or matter name differ from what its
 * catalogue version derives is refused (-EPERM); one whose version has
 * not reached this node is held back (-EAGAIN). Other events pass: the
 * fold judges them against what was created. */
int authority_admit(void *ud, const struct cs_event *e, char *err, size_t errlen);

/* The trust a home applies to what it receives: the roster, and
 * authority_admit over its catalogues. */
void authority_trust(struct home *h, const struct roster *ro, struct feed_trust *ret);

#endif
