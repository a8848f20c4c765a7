/* The log of the daemons: the county hall and the station (agent/log.c). */
#ifndef DAIBAN_AGENT_LOG_H
#define DAIBAN_AGENT_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Name this process's lines ("hall", "serve") and the descriptor they go
 * to: 2 (stderr, journald's) for a daemon; the hall's hooks write to the
 * hall's own log, which git hands them as fd 3; -1 drops every line.
 * Until called: "daiban", stderr. Call it before any thread logs. */
void log_open(const char *name, int fd);

/* One line: "<UTC time, ISO 8601 with Z> daiban <name>: <message>\n",
 * written in one call, so that the lines of threads and processes
 * sharing the log do not mix. Longer messages are cut. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vline(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* log_line in the shape of the sync library's log callbacks
 * (feed_ingest, scan_assemble...); ud is unused. */
void log_feed(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A value from a client, fit for one log line: control bytes become '?',
 * and it is cut to the buffer. Returns out. */
const char *log_safe(const char *s, char *out, size_t cap);

#endif
