/* The log of the daemons (the county hall and the station): one line per
 * event on one descriptor, stamped in UTC (ISO 8601 with Z), so that the
 * hall's, the stations' and the hooks' lines read and sort alike
 * whatever the machine's time zone. journald keeps them. libc only:
 * daiban-hall-helper links it too (agent/hallcgi.h). */
#include "agent/log.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "daiban";
static int log_fd = 2;

void log_open(const char *name, int fd)
{
        static char named[32];

        snprintf(named, sizeof named, "daiban %s", name);
        log_name = named;
        log_fd = fd;
}

void log_vline(const char *fmt, va_list ap)
{
        char line[1600];
        time_t now = time(NULL);
        struct tm tm;
        size_t n;
        int k;

        if (log_fd < 0)
                return;
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", gmtime_r(&now, &tm));
        k = snprintf(line + n, sizeof line - n, "%s: ", log_name);
        n += (size_t)k < sizeof line - n ? (size_t)k : 0;
        k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
        n = k < 0 ? n : n + (size_t)k < sizeof line - 1 ? n + (size_t)k : sizeof line - 2;
        line[n++] = '\n';
        /* one call: the ingest thread and the hooks log too */
        if (write(log_fd, line, n) < 0)
                return;
}

void log_line(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vline(fmt, ap);
        va_end(ap);
}

void log_feed(void *ud, const char *fmt, ...)
{
        va_list ap;

        (void)ud;
        va_start(ap, fmt);
        log_vline(fmt, ap);
        va_end(ap);
}

const char *log_safe(const char *s, char *out, size_t cap)
{
        size_t k = 0;

        for (; s && *s && k + 1 < cap; s++)
                out[k++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        out[k] = '\0';
        return out;
}
