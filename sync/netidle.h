/* How long the network call under way has been blocked, where a silent
 * link cannot be interrupted (Windows): libgit2's HTTP(S) transport with
 * each read and write of its streams timed. See netidle.c. */
#ifndef DAIBAN_SYNC_NETIDLE_H
#define DAIBAN_SYNC_NETIDLE_H

#include <stdint.h>

/* Put the timed transport in front of libgit2's own for http:// and
 * https:// URLs (once; later calls do nothing). Call after
 * git_libgit2_init, before the first fetch or push. 0, or -EIO. */
int netidle_install(void);

/* Milliseconds the stream read or write under way has waited so far, 0
 * when none is under way. May be called from any thread. */
uint64_t netidle_blocked_ms(void);

#endif
