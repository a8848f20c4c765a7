/* The roster's parts shared by its three files, internal to sync/:
 * roster.c (the roster in memory: what it says of a node, read lazily),
 * rosterfile.c (its files' formats) and rosterchain.c (its chain of
 * signed commits). See roster.h and docs/roster.md. */
#ifndef DAIBAN_SYNC_ROSTER_INT_H
#define DAIBAN_SYNC_ROSTER_INT_H

#include <git2.h>

#include "sync/roster.h"

#define ROSTER_VERSION 2
#define ROSTER_V1_FILE "roster.json"
#define ROSTER_V1_MAX_BYTES (4u * 1024u * 1024u)
#define ROSTER_V1_MAX_ENTRIES 20000
#define ROSTER_HEAD "county.json"
#define ROSTER_NODES "nodes"

/* The nodes of a roster read at a verified tip that are read on first
 * use: its `nodes` tree there, and what was read so far. */
struct roster_lazy {
        git_repository *repo;
        git_oid nodes;
        struct roster got;              /* the entries read (county: ro's) */
        char (*seen)[16];               /* nodes looked up, listed or not */
        size_t nseen;
        bool failed;                    /* a file could not be read: nothing is written on this roster */
};

void roster_lazy_free(struct roster_lazy *lz);

/* Read node's file (if a lazy roster has not yet): see roster.c. */
void roster_need(const struct roster *ro, const char *node);

/* Every entry, the lazily read ones first: roster_entry_at(ro, i) for
 * i < roster_total(ro). */
size_t roster_total(const struct roster *ro);
const struct roster_entry *roster_entry_at(const struct roster *ro, size_t i);

/* The node file at te (nodes/<node>.json) appended to into. 0, or
 * -EINVAL / -EIO with the reason in err. */
int roster_read_node(git_repository *repo, const git_tree_entry *te, struct roster *into, char *err, size_t errlen);

#endif
