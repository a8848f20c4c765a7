/* The station daemon's writer: one thread with a home of its own (its
 * own SQLite connection, catalogue and repository handles) that runs the
 * core's writes (agent/core/core.h) one at a time, in the order they
 * came, so that the event loop never waits on a disk sync. A write's
 * answer goes back to the loop, which sends it.
 *
 * Writes from other processes (the CLI on the same home, a sync) are
 * serialised with these by SQLite's write lock, as before. */
#ifndef DAIBAN_AGENT_WRITER_H
#define DAIBAN_AGENT_WRITER_H

#include <stdbool.h>

#include <uv.h>

#include "agent/home.h"

struct writer;

/* Runs on the writer thread, with the writer's home (opened on the first
 * write, closed after a minute without one); h is NULL when the home
 * cannot be opened or its catalogue changed and cannot be loaded, and
 * why says so (the job must refuse: writing under a catalogue the node
 * has left behind would break the rules the CLI keeps). */
struct core_result;
typedef void (*writer_work_fn)(struct home *h, const struct core_result *why, void *job);
/* Runs on the loop once the work is done. */
typedef void (*writer_after_fn)(void *job);

/* Start the thread that writes the home at dir. inline_: no thread,
 * every job runs at once in writer_post (the fuzz target's station). 0,
 * or -1 (out of memory, no thread). */
int writer_start(struct writer **ret, uv_loop_t *loop, const char *dir, bool inline_);

/* The most jobs queued or running: past it writer_post refuses. */
#define WRITER_QUEUE_MAX 16

/* Queue a job. Its after runs on the loop, never before writer_post
 * returns (unless inline). 0, or -EAGAIN (WRITER_QUEUE_MAX jobs wait
 * already), -ENOMEM, -ECANCELED after writer_stop (nothing was
 * queued). */
int writer_post(struct writer *w, void *job, writer_work_fn work, writer_after_fn after);

/* Jobs queued or running. */
unsigned writer_pending(const struct writer *w);

/* Stop taking jobs; those queued still run and their after is called;
 * then the thread ends, the home closes, the loop's handle goes and
 * stopped(ud) is called (when not NULL). For a writer that never had a
 * loop (inline), the same at once. */
void writer_stop(struct writer *w, void (*stopped)(void *ud), void *ud);

#endif
