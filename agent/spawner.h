/* Starting processes from threads of their own, so that an event loop
 * does not wait while the kernel makes them (Linux only: the hall).
 *
 * libuv 1.44's uv_spawn forks on the loop's thread and waits there until
 * the child has called exec. On a loaded machine (the county simulator:
 * a load of 16 on 2 cores) that wait is the child waiting to be
 * scheduled, and every connection the loop serves waits with it. Here a
 * spawner thread starts the process with posix_spawn (glibc's vfork-like
 * clone: no copy of the parent's page tables), opens a pidfd on it, and
 * hands it back to the loop, which watches the pidfd for the exit and
 * reaps the process itself (waitid on the pidfd). libuv's own SIGCHLD
 * handling reaps only the processes it started, so the two coexist.
 *
 * A child's parent-death signal (PR_SET_PDEATHSIG, which the hall's
 * gate sets) follows the thread that started it: the spawner's threads
 * live until spawner_free. */
#ifndef DAIBAN_AGENT_SPAWNER_H
#define DAIBAN_AGENT_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#define SPAWN_MAX_FDS 4

struct spawner;
struct spawned;

/* On the loop, exactly once for every spawner_run that returned 0: the
 * process's exit status, or signal (then status 0); p->err < 0 when it
 * was never started (then status 127). */
typedef void (*spawned_exit_cb)(struct spawned *p, int64_t status, int signal);

/* One process, in memory the caller owns (typically inside its own
 * request) until exit_cb was called and spawned_close's callback ran. */
struct spawned {
        void *data;                     /* the caller's */
        int err;                        /* 0, or -errno: never started */
        pid_t pid;                      /* 0 until started */
        /* private */
        struct spawner *sp;
        struct spawned *next;
        const char *file;
        char *const *argv, *const *envp;
        int fd[SPAWN_MAX_FDS], nfd;
        unsigned close_after;
        int pidfd;
        int kill_sig;                   /* asked for before it started */
        bool watching, exited;
        uv_poll_t poll;                 /* on the pidfd */
        uv_close_cb close_cb;
        spawned_exit_cb exit_cb;
};

/* Start nthreads spawner threads for loop. The spawner keeps the loop
 * alive only while a spawn is on its way (then the process's watch
 * does). 0 with *ret_sp set, or -errno. Loop thread. */
int spawner_new(uv_loop_t *loop, int nthreads, struct spawner **ret_sp);

/* Stop the threads and free the spawner, after uv_run has returned
 * (every spawn came back by then); it runs the loop once more
 * (UV_RUN_NOWAIT) to let its handle go, before uv_loop_close. NULL is
 * fine. */
void spawner_free(struct spawner *sp);

/* Run file with argv and envp (kept by the caller until exit_cb), its
 * descriptors 0..nfd-1 copied from fd[] (fd[i] == i leaves one as it
 * is; fd[i] must not be a lower number j that fd[j] replaces). The
 * descriptors whose bit is set in close_after (each named once) are
 * closed in this process once the process started or failed to (a
 * pipe's child end, so that its other end sees the end). Every other descriptor of this process
 * must be close-on-exec. Signals are reset to their defaults and none
 * is blocked in the child. 0 (exit_cb will be called), or -errno with
 * nothing started and nothing closed (exit_cb will not). Loop thread. */
int spawner_run(struct spawner *sp, struct spawned *p, const char *file, char *const argv[], char *const envp[],
                const int fd[], int nfd, unsigned close_after, spawned_exit_cb exit_cb);

/* Send signal to a process not yet reaped: at once, or as soon as it
 * started; a spawn that no thread took yet never starts (its exit_cb
 * comes with p->err -ECANCELED). 0, or -ESRCH once it exited. Loop
 * thread. */
int spawned_kill(struct spawned *p, int signal);

/* After exit_cb: let go of the process's handle. true when cb (which may
 * be NULL) will be called (as uv_close's), false when there was none (it never started):
 * then p may be freed at once. Loop thread. */
bool spawned_close(struct spawned *p, uv_close_cb cb);

#endif
