/* A stop asked of the running daemon from another thread: the Windows
 * service's control handler (agent/winservice.c) asks it where Linux
 * sends SIGTERM. The daemon's loop watches one uv_async_t at a time (the
 * first-run setup's, then the station's) and stops as on SIGTERM when it
 * fires. A stop asked before a loop watches, or between the setup and
 * the station, is kept: the next loop to watch stops at once. */
#ifndef DAIBAN_AGENT_DAEMON_STOP_H
#define DAIBAN_AGENT_DAEMON_STOP_H

#include <uv.h>

/* Initialise a on loop with cb and watch it; a stop already asked fires
 * it on the loop's first turn. */
void daemon_stop_watch(uv_loop_t *loop, uv_async_t *a, uv_async_cb cb);

/* On the loop's thread, when stopping: no longer watched, and closed. */
void daemon_stop_close(uv_async_t *a);

/* Ask the daemon to stop: any thread, any time, more than once. */
void daemon_stop_request(void);

#endif
