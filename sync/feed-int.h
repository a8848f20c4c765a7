/* The change-set feed's pieces, private to them (feedread.c, feedwrite.c,
 * evidence.c, ingest.c): where ingest of a feed stands, a feed read and
 * checked but not yet stored, and the functions one of these files calls
 * in another (all in feedread.c). */
#ifndef DAIBAN_SYNC_FEED_INT_H
#define DAIBAN_SYNC_FEED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "sync/feed.h"

/* Where ingest of a feed stands (its feed_heads row). */
struct feed_pos {
        bool have_done;
        git_oid done;
        int64_t last_seq;
        long total_events;
};

struct prepared {
        char *ref, part[32], writer[32];
        git_oid head;
        bool up_to_date;
        size_t nchain;                  /* change sets on the way */
        struct changeset *cs;           /* parsed, oldest first */
        size_t ncs;
        struct feed_pos pos;
        int r;                          /* 0, -EINVAL (refused: err), or -EIO/-ENOMEM */
        char err[512];
};

/* The last seq on feed ref and its head (0 and *exists false when it
 * does not exist). 0 or negative. */
int feed_last_seq(git_repository *repo, const char *ref, int64_t *ret, git_oid *head, bool *exists);

/* Read and parse a feed's change sets after pos up to its head (want:
 * that commit instead of the ref's, for a proposed update). Fills p;
 * p->r says how it went; free it with prepared_free. Touches git only. */
void prepare_feed(git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *want,
                  const char *part, const char *writer, const struct feed_pos *pos, struct prepared *p);
void prepared_free(struct prepared *p);

#endif
