/* What a node may ask of the hall's upload-pack (agent/fetchguard.c).
 * git checks that a commit it is asked for is a ref tip the asker was
 * shown, but not a tree or a blob: with one village's token, a want of
 * a blob id from another village's hidden feed would return it. So the
 * hall reads the request itself first: the body bounded (a gzip body
 * inflated here, with a cap, not by git), every `want` a tip of a ref
 * the node may fetch, or a commit such a tip reaches (the ref moved
 * between the two requests of a fetch). */
#ifndef DAIBAN_AGENT_FETCHGUARD_H
#define DAIBAN_AGENT_FETCHGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#define FETCHGUARD_MAX_IN (8u * 1024u * 1024u)          /* a request as sent */
#define FETCHGUARD_MAX_OUT (32u * 1024u * 1024u)        /* and inflated */

/* Read a request body from fd: identity, or gzip when encoding says so
 * (inflated here). 0 and a malloc'ed body; -E2BIG when it exceeds the
 * caps, -EINVAL for another encoding or a bad gzip stream, with a
 * reason in err. */
int fetchguard_read(int fd, const char *encoding, char **ret, size_t *ret_len, char *err, size_t errlen);

/* Call fn for each `want <oid>` of a protocol v0 upload-pack request
 * (pkt-lines). 0; -EINVAL (with err) when the framing is bad or a want
 * is not a 40-hex id; fn's non-zero return stops the walk and is
 * returned. Pure: fuzzed (tests/fuzz-wants.c). */
int fetchguard_wants(const char *body, size_t len, int (*fn)(void *ud, const git_oid *want), void *ud, char *err,
                     size_t errlen);

/* Is every want of body a tip of a ref node may fetch from repo (the
 * catalogue, the roster, and the feeds and scans of the partitions it is
 * entitled to), or a commit one of those tips reaches? 0; -EPERM or
 * -EINVAL with the reason in err. */
int fetchguard_check(git_repository *repo, const char *node, const char *body, size_t len, char *err,
                     size_t errlen);

#endif
