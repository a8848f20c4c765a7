/* A watchdog for a link that goes silent.
 *
 * libgit2 1.5.1 sets no network timeout: a fetch whose link goes silent
 * without a reset waits in recv() for ever (a receiving socket without
 * keepalive is never timed out by the kernel), and a push for the
 * kernel's 15 minutes of retries. While a watch is armed, a thread reads
 * what the arming thread does (/proc/self/task/TID: its context
 * switches, which move each time data wakes it from recv or send, its
 * CPU time and its read/write bytes); when none of them has moved for
 * the idle limit, it interrupts the thread's blocked
 * call with SIGALRM, whose handler does nothing and is installed without
 * SA_RESTART, so recv, send or connect return EINTR and libgit2 fails
 * the step. It repeats once a second until the watch is stopped. Only
 * the network steps are watched; a step that was interrupted leaves
 * nothing half-done (the crash-point tests kill at every write). On
 * Windows see netwatch.c (a timed transport, and the process ends). */
#ifndef DAIBAN_AGENT_NETWATCH_H
#define DAIBAN_AGENT_NETWATCH_H

#include <stdbool.h>

struct netwatch;

/* Arm a watch on the calling thread. NULL when it cannot be armed (no
 * /proc, no thread): the steps then run unwatched, as before. */
struct netwatch *netwatch_start(unsigned idle_s);

/* What to say, in both languages, where the watch cannot interrupt the
 * call (Windows: it says it as cli_error_both does and ends the process
 * with exit 1 when it fires; a watch without one only waits there). On
 * Linux the interrupted call returns and the caller says it: unused.
 * Copies both texts; w may be NULL. */
void netwatch_farewell(struct netwatch *w, const char *en, const char *zh);

/* True once the watch interrupted the thread. */
bool netwatch_fired(const struct netwatch *w);

/* Disarm and free (NULL is fine). */
void netwatch_stop(struct netwatch *w);

/* The idle limit of `daiban sync`, in seconds: DAIBAN_SYNC_IDLE_S, or 90. */
unsigned netwatch_idle_limit(void);

#endif
