/* Ref names and who may hold what. Every ref daiban moves is named here:
 * feeds (refs/feeds/<partition>/<writer>), scan chains
 * (refs/scans/<partition>/<writer>), the county's catalogue
 * (refs/catalog/<county>) and roster (refs/roster/<county>), a node's
 * reports (refs/reports/<node>), each with its incoming form under
 * refs/incoming/, and the evidence kept of an equivocation. Which partitions a node may hold and write is decided
 * from division codes (forms/division.h). The base the feed, scan,
 * catalogue, roster, transfer and bundle files share; it calls nothing
 * else in sync/. See docs/change-set.md and docs/sync.md. */
#ifndef DAIBAN_SYNC_REFS_H
#define DAIBAN_SYNC_REFS_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#define FEED_PREFIX "refs/feeds/"
#define FEED_INCOMING "refs/incoming/feeds/"
#define FEED_EVIDENCE "refs/evidence/"
#define SCAN_PREFIX "refs/scans/"
#define SCAN_INCOMING "refs/incoming/scans/"
#define CATFEED_PREFIX "refs/catalog/"
#define CATFEED_INCOMING "refs/incoming/catalog/"
#define ROSTER_PREFIX "refs/roster/"
#define ROSTER_INCOMING "refs/incoming/roster/"
#define REPORT_PREFIX "refs/reports/"
#define REPORT_INCOMING "refs/incoming/reports/"

/* Messages for the operator and the log (English), the callback every
 * feed, scan, transfer and bundle operation logs through. */
typedef void (*feed_log_fn)(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Which partitions a node may hold: its own (and, for a township, those
 * of its villages; the county: all). Decided from division codes: a
 * village's code starts with its township's. */
bool feed_entitled(const char *self, const char *partition);

/* May pusher update refs/feeds/<part>/<writer>? Only within the
 * partitions it may hold, and only its own feeds or those of a node
 * under it that it relays (a township carrying its villages' feeds). */
bool feed_may_write(const char *pusher, const char *part, const char *writer);

/* Split "refs/feeds/<partition>/<writer>" (or the incoming form). */
bool feed_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen);
/* The same for any "<prefix><partition>/<writer>" (or "<incoming>..."). */
bool feed_split_ref(const char *ref, const char *prefix, const char *incoming, char *partition, size_t plen,
                    char *writer, size_t wlen);

/* refs/evidence/<part>/<writer>/<hex>: its parts, and the feed it is
 * about in feed (FEED_PREFIX<part>/<writer>). */
bool feed_parse_evidence(const char *ref, char *part, size_t plen, char *writer, size_t wlen, git_oid *head,
                         char *feed, size_t flen);

/* Split "refs/scans/<partition>/<writer>" (or the incoming form). */
bool scan_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen);

/* The county a node belongs to: the first six digits of its code. */
void catfeed_county(const char *node, char county[7]);

#endif
