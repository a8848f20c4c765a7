/* Hybrid logical clock (Kulkarni et al., 2014) for ordering events.
 *
 * A stamp is 64 bits: the high 48 hold milliseconds since the Unix epoch,
 * the low 16 a logical counter. Stamps only grow on one node, whatever
 * its wall clock does, and a node that receives a stamp moves past it, so
 * an event written after seeing another sorts after it even when the
 * writer's PC clock is years behind (a dead CMOS battery). Events are
 * ordered by (stamp, node, seq), which is total. */
#ifndef DAIBAN_SYNC_HLC_H
#define DAIBAN_SYNC_HLC_H

#include <stdbool.h>
#include <stdint.h>

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MASK ((UINT64_C(1) << HLC_LOGICAL_BITS) - 1)

/* How far the wall clock may lag behind the largest stamp seen before
 * the operator is warned (one hour). */
#define HLC_SKEW_WARN_MS (60u * 60u * 1000u)

/* How far a received stamp (an event's hlc or wall time) may run ahead
 * of the receiver's wall clock (one day). A stamp further ahead is
 * refused at ingest: accepted, it would drag every later local stamp
 * with it, and one near the top of the range would stop the receiver's
 * clock for good. The same bound keeps the local clock from following a
 * stamp that got in before the check existed. */
#define HLC_MAX_AHEAD_MS (24u * 60u * 60u * 1000u)

struct hlc {
        uint64_t last;          /* largest stamp issued or seen */
};

static inline uint64_t hlc_ms(uint64_t stamp) { return stamp >> HLC_LOGICAL_BITS; }
static inline uint64_t hlc_make(uint64_t ms, uint64_t logical)
{
        return (ms << HLC_LOGICAL_BITS) | (logical & HLC_LOGICAL_MASK);
}

/* A stamp for a local event at wall time wall_ms. Returns 0 and *ret, or
 * -EOVERFLOW when the logical counter would wrap (65,536 events in one
 * millisecond of a stuck clock; the caller retries a moment later). */
int hlc_tick(struct hlc *h, uint64_t wall_ms, uint64_t *ret);

/* Merge a stamp received from another node: later local stamps sort
 * after it. Always accepted: a node cannot tell whether its own clock or
 * the sender's is wrong (a village PC stuck in 2009 receives stamps from
 * 2026 and must order after them); the operator is warned instead, see
 * hlc_wall_behind(). */
void hlc_recv(struct hlc *h, uint64_t remote);

/* True when the wall clock lags the clock's own time by more than
 * HLC_SKEW_WARN_MS: the PC's clock is wrong and the operator should be
 * told (ordering stays correct). */
bool hlc_wall_behind(const struct hlc *h, uint64_t wall_ms);

/* The wall clock, in milliseconds since 1970 (UTC). */
uint64_t hlc_now_ms(void);

/* Is a received stamp (hlc) or wall time (ms) too far ahead of the
 * receiver's wall clock now_ms to be taken? */
static inline bool hlc_too_far_ahead(uint64_t stamp, int64_t wall_ms, uint64_t now_ms)
{
        return hlc_ms(stamp) > now_ms + HLC_MAX_AHEAD_MS || (wall_ms > 0 && (uint64_t)wall_ms > now_ms + HLC_MAX_AHEAD_MS);
}

/* Format as "2026-11-24T06:30:00.123Z+5" (at least 40 bytes). */
void hlc_format(uint64_t stamp, char *buf, unsigned size);

#endif
