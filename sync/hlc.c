/* Hybrid logical clock: see hlc.h. The update rules are the paper's,
 * with the physical and logical parts packed into one integer so a stamp
 * compares with a single integer comparison and sorts in SQLite. */
#include "sync/hlc.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "sync/platform.h"

int hlc_tick(struct hlc *h, uint64_t wall_ms, uint64_t *ret)
{
        uint64_t next;

        if (wall_ms > hlc_ms(h->last)) {
                next = hlc_make(wall_ms, 0);
        } else {
                if ((h->last & HLC_LOGICAL_MASK) == HLC_LOGICAL_MASK)
                        return -EOVERFLOW;
                next = h->last + 1;
        }
        h->last = next;
        *ret = next;
        return 0;
}

void hlc_recv(struct hlc *h, uint64_t remote)
{
        if (remote > h->last)
                h->last = remote;
}

bool hlc_wall_behind(const struct hlc *h, uint64_t wall_ms)
{
        return hlc_ms(h->last) > wall_ms + HLC_SKEW_WARN_MS;
}

uint64_t hlc_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void hlc_format(uint64_t stamp, char *buf, unsigned size)
{
        uint64_t ms = hlc_ms(stamp);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&secs, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ+%u", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000),
                 (unsigned)(stamp & HLC_LOGICAL_MASK));
}
