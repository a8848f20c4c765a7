/* Processes started off the loop's thread and reaped through a pidfd:
 * see spawner.h. The loop hands a spawn to the threads through a queue
 * (mutex and condition); the threads hand it back through another and
 * a uv_async_t. */
#include "agent/spawner.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWNER_MAX_THREADS 8

struct spawner {
        uv_loop_t *loop;
        uv_async_t done_async;
        uv_mutex_t mu;
        uv_cond_t cond;
        struct spawned *todo, **todo_tail;      /* for the threads, in order */
        struct spawned *done;                   /* for the loop */
        bool stop;
        int inflight;                           /* run and not yet back: the loop's only */
        int nthreads;
        uv_thread_t threads[SPAWNER_MAX_THREADS];
};

#define spawned_of(h) ((struct spawned *)((char *)(h) - offsetof(struct spawned, poll)))

/* posix_spawn as the thread's own work: 0 with p->pid and p->pidfd, or
 * -errno with nothing running. */
static int start(struct spawned *p)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, all;
        int r;

        if ((r = posix_spawn_file_actions_init(&fa)))
                return -r;
        if ((r = posix_spawnattr_init(&at))) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* (a descriptor kept at its number is dup2'ed too: glibc then
         * clears its close-on-exec flag, Austin Group 411) */
        for (int i = 0; i < p->nfd && !r; i++)
                r = posix_spawn_file_actions_adddup2(&fa, p->fd[i], i);
        /* the hall ignores SIGPIPE; git must not (nor anything it runs) */
        sigemptyset(&none);
        sigemptyset(&all);
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP && s < SIGRTMIN)
                        sigaddset(&all, s);
        if (!r)
                r = posix_spawnattr_setsigmask(&at, &none);
        if (!r)
                r = posix_spawnattr_setsigdefault(&at, &all);
        if (!r)
                r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (!r)
                r = posix_spawn(&p->pid, p->file, &fa, &at, p->argv, p->envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (r)
                return -r;
        if ((p->pidfd = pidfd_open(p->pid, 0)) < 0) {
                /* out of descriptors: a process nobody could watch must not run */
                r = -errno;
                kill(p->pid, SIGKILL);
                while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                p->pid = 0;
                return r;
        }
        return 0;
}

/* The descriptors the caller handed over (close_after): closed here
 * once the process started, failed to, or never will. */
static void close_handed(struct spawned *p)
{
        for (int i = 0; i < p->nfd; i++)
                if (p->close_after & (1u << i))
                        close(p->fd[i]);
}

static void thread_main(void *arg)
{
        struct spawner *sp = arg;

        for (;;) {
                struct spawned *p;

                uv_mutex_lock(&sp->mu);
                while (!sp->todo && !sp->stop)
                        uv_cond_wait(&sp->cond, &sp->mu);
                if (!sp->todo) {
                        uv_mutex_unlock(&sp->mu);
                        return;
                }
                p = sp->todo;
                if (!(sp->todo = p->next))
                        sp->todo_tail = &sp->todo;
                uv_mutex_unlock(&sp->mu);

                p->err = start(p);
                close_handed(p);

                uv_mutex_lock(&sp->mu);
                p->next = sp->done;
                sp->done = p;
                uv_mutex_unlock(&sp->mu);
                uv_async_send(&sp->done_async);
        }
}

/* A process the loop cannot watch (a failed poll): stopped and reaped
 * here and now, so that nothing runs unwatched. By its pid: libuv made
 * the pidfd non-blocking, and waitid on it would not wait. */
static void stop_now(struct spawned *p, siginfo_t *si)
{
        pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
        memset(si, 0, sizeof *si);
        while (waitid(P_PID, (id_t)p->pid, si, WEXITED) < 0 && errno == EINTR)
                ;
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
        struct spawned *p = spawned_of(h);
        siginfo_t si;

        (void)events;
        memset(&si, 0, sizeof si);
        if (status < 0)
                stop_now(p, &si);
        else if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0)
                return;                 /* not yet: a spurious wake */
        uv_poll_stop(h);
        p->exited = true;
        if (si.si_code == CLD_EXITED)
                p->exit_cb(p, si.si_status, 0);
        else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
                p->exit_cb(p, 0, si.si_status);
        else
                p->exit_cb(p, 0, SIGKILL);      /* waitid failed: cannot be, for a child of ours */
}

/* A spawn came back: watch it, or say it failed. */
static void started(struct spawner *sp, struct spawned *p)
{
        siginfo_t si;
        int r;

        if (p->err == 0) {
                if ((r = uv_poll_init(sp->loop, &p->poll, p->pidfd)) == 0) {
                        p->watching = true;
                        p->poll.data = p->data;
                        if (p->kill_sig)
                                pidfd_send_signal(p->pidfd, p->kill_sig, NULL, 0);
                        if ((r = uv_poll_start(&p->poll, UV_READABLE, on_exit_readable)) == 0)
                                return;
                        on_exit_readable(&p->poll, r, 0);
                        return;
                }
                stop_now(p, &si);
                close(p->pidfd);
                p->pidfd = -1;
                p->err = r;
        }
        p->exited = true;
        p->exit_cb(p, 127, 0);
}

static void on_done(uv_async_t *a)
{
        struct spawner *sp = a->data;
        struct spawned *list, *rev = NULL;

        uv_mutex_lock(&sp->mu);
        list = sp->done;
        sp->done = NULL;
        uv_mutex_unlock(&sp->mu);
        while (list) {                  /* in the order they came back */
                struct spawned *n = list->next;
                list->next = rev;
                rev = list;
                list = n;
        }
        while (rev) {
                struct spawned *n = rev->next;
                rev->next = NULL;
                if (--sp->inflight == 0)
                        uv_unref((uv_handle_t *)&sp->done_async);
                started(sp, rev);
                rev = n;
        }
}

/* Tell the threads to end once the queue is empty, and wait for them. */
static void stop_threads(struct spawner *sp)
{
        uv_mutex_lock(&sp->mu);
        sp->stop = true;
        uv_cond_broadcast(&sp->cond);
        uv_mutex_unlock(&sp->mu);
        for (int i = 0; i < sp->nthreads; i++)
                uv_thread_join(&sp->threads[i]);
}

int spawner_new(uv_loop_t *loop, int nthreads, struct spawner **ret_sp)
{
        struct spawner *sp;
        int r;

        if (nthreads < 1 || nthreads > SPAWNER_MAX_THREADS)
                return -EINVAL;
        if (!(sp = calloc(1, sizeof *sp)))
                return -ENOMEM;
        sp->loop = loop;
        sp->todo_tail = &sp->todo;
        if ((r = uv_mutex_init(&sp->mu)) < 0)
                goto out_free;
        if ((r = uv_cond_init(&sp->cond)) < 0)
                goto out_mutex;
        /* the threads only wait until spawner_run, which cannot come
         * before this returns: the handle they signal is made last */
        for (; sp->nthreads < nthreads; sp->nthreads++)
                if ((r = uv_thread_create(&sp->threads[sp->nthreads], thread_main, sp)) < 0)
                        goto out_threads;
        if ((r = uv_async_init(loop, &sp->done_async, on_done)) < 0)
                goto out_threads;
        sp->done_async.data = sp;
        uv_unref((uv_handle_t *)&sp->done_async);
        *ret_sp = sp;
        return 0;

out_threads:
        stop_threads(sp);
        uv_cond_destroy(&sp->cond);
out_mutex:
        uv_mutex_destroy(&sp->mu);
out_free:
        free(sp);
        return r;
}

void spawner_free(struct spawner *sp)
{
        if (!sp)
                return;
        stop_threads(sp);
        on_done(&sp->done_async);       /* what came back after the loop's last turn */
        uv_close((uv_handle_t *)&sp->done_async, NULL);
        uv_run(sp->loop, UV_RUN_NOWAIT);
        uv_cond_destroy(&sp->cond);
        uv_mutex_destroy(&sp->mu);
        free(sp);
}

int spawner_run(struct spawner *sp, struct spawned *p, const char *file, char *const argv[], char *const envp[],
                const int fd[], int nfd, unsigned close_after, spawned_exit_cb exit_cb)
{
        if (nfd < 0 || nfd > SPAWN_MAX_FDS || !exit_cb)
                return -EINVAL;
        for (int i = 0; i < nfd; i++)
                for (int j = 0; j < i; j++)
                        if (fd[j] != j && fd[i] == j)
                                return -EINVAL;         /* replaced before it is copied */
        p->sp = sp;
        p->next = NULL;
        p->file = file;
        p->argv = argv;
        p->envp = envp;
        memcpy(p->fd, fd, (size_t)nfd * sizeof *fd);
        p->nfd = nfd;
        p->close_after = close_after;
        p->err = 0;
        p->pid = 0;
        p->pidfd = -1;
        p->kill_sig = 0;
        p->watching = p->exited = false;
        p->exit_cb = exit_cb;
        uv_mutex_lock(&sp->mu);
        if (sp->stop) {
                uv_mutex_unlock(&sp->mu);
                return -ECANCELED;
        }
        *sp->todo_tail = p;
        sp->todo_tail = &p->next;
        uv_cond_signal(&sp->cond);
        uv_mutex_unlock(&sp->mu);
        if (sp->inflight++ == 0)
                uv_ref((uv_handle_t *)&sp->done_async);         /* the loop waits for it to come back */
        return 0;
}

/* Take p out of the queue if no thread took it yet: true when it was
 * (its descriptors closed here, and it comes back as never started). */
static bool cancel_queued(struct spawner *sp, struct spawned *p)
{
        struct spawned **pp;

        uv_mutex_lock(&sp->mu);
        for (pp = &sp->todo; *pp && *pp != p; pp = &(*pp)->next)
                ;
        if (!*pp) {
                uv_mutex_unlock(&sp->mu);
                return false;
        }
        if (!(*pp = p->next))
                sp->todo_tail = pp;
        p->err = -ECANCELED;
        p->next = sp->done;
        sp->done = p;
        uv_mutex_unlock(&sp->mu);
        close_handed(p);
        uv_async_send(&sp->done_async);
        return true;
}

int spawned_kill(struct spawned *p, int signal)
{
        if (p->exited)
                return -ESRCH;
        if (!p->watching) {
                /* still queued (a client that went away while the threads
                 * were busy): never started; else sent as it starts */
                if (!p->kill_sig)
                        cancel_queued(p->sp, p);
                p->kill_sig = signal;
                return 0;
        }
        return pidfd_send_signal(p->pidfd, signal, NULL, 0) < 0 ? -errno : 0;
}

static void on_closed(uv_handle_t *h)
{
        struct spawned *p = spawned_of(h);

        close(p->pidfd);
        p->pidfd = -1;
        if (p->close_cb)
                p->close_cb(h);
}

bool spawned_close(struct spawned *p, uv_close_cb cb)
{
        if (!p->watching)
                return false;
        p->watching = false;
        p->close_cb = cb;
        uv_close((uv_handle_t *)&p->poll, on_closed);
        return true;
}
