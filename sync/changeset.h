/* Change sets: a batch of one writer's events for one partition, as the
 * tree of one git commit on the feed refs/feeds/<partition>/<writer>.
 * This file is the format only (build and strict parse), with no git and
 * no SQLite, so it can be fuzzed; sync/feedwrite.c and sync/feedread.c
 * move change sets in and out of repositories. The format is specified
 * in docs/change-set.md. */
#ifndef DAIBAN_SYNC_CHANGESET_H
#define DAIBAN_SYNC_CHANGESET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CHANGESET_FORMAT "daiban-changeset"
#define CHANGESET_VERSION 1
#define CHANGESET_MAX_EVENTS 5000
#define CHANGESET_MAX_BYTES (8u * 1024u * 1024u)   /* events.jsonl */
#define CHANGESET_MAX_LINE (1024u * 1024u)         /* one event */
#define CHANGESET_MAX_HEADER 4096
/* The largest seq a change set may carry (2^40, a thousand events a
 * second for 34 years). Seqs count a writer's events over all its
 * partitions, so a feed's seqs have gaps; the cap keeps a forged seq near
 * INT64_MAX from overflowing the receiver's arithmetic. */
#define CHANGESET_MAX_SEQ (INT64_C(1) << 40)

/* One event as a change set carries it (strings owned by the set). */
struct cs_event {
        char *node;
        int64_t seq;
        uint64_t hlc;
        int64_t wall_ms;
        char *operator;
        char *type;
        char *app;              /* NULL for events about no application */
        char *part;
        char *body;             /* canonical JSON text (sorted keys, compact) */
};

struct changeset {
        char *writer;
        char *partition;
        int64_t first_seq, last_seq;
        struct cs_event *ev;
        size_t n;
};

void changeset_free(struct changeset *cs);

/* Serialise: header (changeset.json) and events (events.jsonl), both
 * malloc'ed. The events must be the writer's, in the partition, in
 * ascending seq. Returns 0 or -EINVAL / -ENOMEM. */
int changeset_build(const struct changeset *cs, char **ret_header, size_t *ret_hlen, char **ret_events,
                    size_t *ret_elen);

/* Parse and check strictly. writer and partition are what the ref
 * says (refs/feeds/<partition>/<writer>); after_seq is the last seq
 * already ingested from this feed (0 for none). On a refusal returns
 * -EINVAL and a message in err (English, for logs and the CLI), and
 * *ret is untouched. Checks: format and version; header fields and
 * limits; every line a JSON object with exactly the event fields and
 * their types; every event by the writer, in the partition, seq strictly
 * ascending and above after_seq, inside [first_seq, last_seq], count as
 * announced; capture events only by the partition's station; review
 * and decision events only by a township (9 digits) or county (6). */
int changeset_parse(const char *header, size_t hlen, const char *events, size_t elen, const char *writer,
                    const char *partition, int64_t after_seq, struct changeset *ret, char *err, size_t errlen);


#endif
