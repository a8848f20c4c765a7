/* agent/spawner.c: processes started off the loop's thread come back to
 * the loop with the right exit status or signal, their descriptors as
 * asked and the parent's copies closed, every signal at its default (the
 * hall ignores SIGPIPE), a kill asked before the start lands, a file
 * that cannot run is an error of the spawn, and many at once each come
 * back once. (That the loop does not wait while a process starts is
 * measured, not tested: bench/bench-spawn.c.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "agent/spawner.h"
#include "tests/harness.h"

struct run {
        struct spawned p;
        int exits;
        int64_t status;
        int signal;
        int closed;
};

static void on_exit_cb(struct spawned *p, int64_t status, int signal)
{
        struct run *r = p->data;

        r->exits++;
        r->status = status;
        r->signal = signal;
}

static void on_closed(uv_handle_t *h)
{
        ((struct run *)h->data)->closed++;
}

/* Run argv through a spawner with fds (0: /dev/null in, stdout/stderr
 * as they are) until it exited and was closed. */
static void run_one(struct spawner *sp, uv_loop_t *loop, struct run *r, char *const argv[], const int fd[], int nfd,
                    unsigned close_after)
{
        static char *const env[] = { (char *)"PATH=/usr/bin:/bin", NULL };

        memset(r, 0, sizeof *r);
        r->p.data = r;
        CHECK_INT(spawner_run(sp, &r->p, argv[0], argv, env, fd, nfd, close_after, on_exit_cb), ==, 0);
        while (r->exits == 0)
                uv_run(loop, UV_RUN_ONCE);
        if (spawned_close(&r->p, on_closed))
                while (r->closed == 0)
                        uv_run(loop, UV_RUN_ONCE);
}

TEST(exit_status_signal_and_failure)
{
        uv_loop_t loop;
        struct spawner *sp;
        struct run r;

        CHECK_INT(uv_loop_init(&loop), ==, 0);
        CHECK_INT(spawner_new(&loop, 2, &sp), ==, 0);
        run_one(sp, &loop, &r, (char *[]){ "/bin/sh", "-c", "exit 7", NULL }, (int[]){ 0, 1, 2 }, 3, 0);
        CHECK_INT(r.exits, ==, 1);
        CHECK_INT(r.p.err, ==, 0);
        CHECK(r.p.pid > 0);
        CHECK_INT(r.status, ==, 7);
        CHECK_INT(r.signal, ==, 0);
        CHECK_INT(r.closed, ==, 1);
        run_one(sp, &loop, &r, (char *[]){ "/bin/sh", "-c", "kill -USR1 $$", NULL }, (int[]){ 0, 1, 2 }, 3, 0);
        CHECK_INT(r.exits, ==, 1);
        CHECK_INT(r.signal, ==, SIGUSR1);
        /* nothing to run: the spawn's error, no handle to close, and the
         * child's end of a pipe closed all the same (the hall reads to
         * its other end's EOF) */
        int pp[2];
        char c;
        CHECK_INT(pipe2(pp, O_CLOEXEC), ==, 0);
        run_one(sp, &loop, &r, (char *[]){ "/nonexistent/daiban-no-such", NULL }, (int[]){ 0, pp[1], 2 }, 3, 1u << 1);
        CHECK_INT(r.exits, ==, 1);
        CHECK_INT(r.p.err, ==, -ENOENT);
        CHECK_INT(r.status, ==, 127);
        CHECK_INT(r.closed, ==, 0);
        CHECK_INT(fcntl(pp[1], F_GETFD), ==, -1);
        CHECK_INT(read(pp[0], &c, 1), ==, 0);
        close(pp[0]);
        /* a descriptor that a lower one replaces before it is copied */
        char *true_argv[] = { (char *)"/bin/true", NULL };
        CHECK_INT(spawner_run(sp, &r.p, "/bin/true", true_argv, true_argv + 1,
                              (int[]){ 2, 0 }, 2, 0, on_exit_cb), ==, -EINVAL);
        spawner_free(sp);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(descriptors_and_signal_defaults)
{
        uv_loop_t loop;
        struct spawner *sp;
        struct run r;
        int in[2], out[2];
        char buf[512];
        ssize_t n;
        size_t got = 0;

        sigset_t usr2, old;

        signal(SIGPIPE, SIG_IGN);       /* as the hall does */
        /* the spawner's threads start with this thread's mask: one signal
         * blocked, which the child must not inherit */
        sigemptyset(&usr2);
        sigaddset(&usr2, SIGUSR2);
        CHECK_INT(pthread_sigmask(SIG_BLOCK, &usr2, &old), ==, 0);
        CHECK_INT(uv_loop_init(&loop), ==, 0);
        CHECK_INT(spawner_new(&loop, 1, &sp), ==, 0);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        CHECK_INT(pipe2(in, O_CLOEXEC), ==, 0);
        CHECK_INT(pipe2(out, O_CLOEXEC), ==, 0);
        CHECK_INT(write(in[1], "from the parent\n", 16), ==, 16);
        close(in[1]);
        /* stdin and stdout from the pipes, fd 3 a copy of stdout; the
         * child's ends closed here after the start, so that out ends */
        run_one(sp, &loop, &r,
                (char *[]){ "/bin/sh", "-c",
                            "read l; echo \"$l\"; echo three >&3; grep '^SigIgn' /proc/self/status; "
                            "grep '^SigBlk' /proc/self/status",
                            NULL },
                (int[]){ in[0], out[1], 2, out[1] }, 4, 1u << 0 | 1u << 1);
        CHECK_INT(r.status, ==, 0);
        CHECK_INT(fcntl(in[0], F_GETFD), ==, -1);       /* closed by the spawner */
        CHECK_INT(fcntl(out[1], F_GETFD), ==, -1);
        while ((n = read(out[0], buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)n;
        buf[got] = '\0';
        close(out[0]);
        CHECK(strstr(buf, "from the parent\nthree\n") == buf);
        /* signals 1-31 neither ignored nor blocked (glibc's posix_spawn
         * leaves its own two internal ones, 32 and 33, ignored: glibc
         * gives them handlers again in the new program): bits 0-30 */
        CHECK(strstr(buf, "SigIgn:\t") && strstr(buf, "SigBlk:\t"));
        CHECK_INT(strtoull(strstr(buf, "SigIgn:\t") + 8, NULL, 16) & 0x7fffffffull, ==, 0);
        CHECK_INT(strtoull(strstr(buf, "SigBlk:\t") + 8, NULL, 16), ==, 0);
        signal(SIGPIPE, SIG_DFL);
        spawner_free(sp);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}

/* A kill asked before the loop saw the start (a client that went away
 * at once) lands as the start comes back; and many spawns at once on two
 * threads each come back exactly once, with their own status. */
TEST(kill_before_start_and_many_at_once)
{
        enum { N = 64 };
        uv_loop_t loop;
        struct spawner *sp;
        struct run *runs, killed;
        static char *const env[] = { (char *)"PATH=/usr/bin:/bin", NULL };
        /* argv lives until the exit (the spawner's threads read it) */
        char *sleep_argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"echo up; exec sleep 30", NULL };
        char codes[N][8], *argvs[N][4];
        int done = 0;

        CHECK_INT(uv_loop_init(&loop), ==, 0);
        CHECK_INT(spawner_new(&loop, 2, &sp), ==, 0);
        memset(&killed, 0, sizeof killed);
        killed.p.data = &killed;
        /* started by a thread (it said so on its pipe) before the loop
         * turned: the loop has not seen it start */
        int up[2];
        char word[4] = "";
        CHECK_INT(pipe2(up, O_CLOEXEC), ==, 0);
        CHECK_INT(spawner_run(sp, &killed.p, "/bin/sh", sleep_argv, env, (int[]){ 0, up[1], 2 }, 3, 1u << 1,
                              on_exit_cb),
                  ==, 0);
        CHECK_INT(read(up[0], word, 3), ==, 3);
        CHECK_STR(word, "up\n");
        close(up[0]);
        CHECK_INT(spawned_kill(&killed.p, SIGTERM), ==, 0);     /* the loop has not turned */
        CHECK((runs = calloc(N, sizeof *runs)));
        for (int i = 0; i < N; i++) {
                snprintf(codes[i], sizeof codes[i], "exit %d", i + 1);
                argvs[i][0] = (char *)"/bin/sh";
                argvs[i][1] = (char *)"-c";
                argvs[i][2] = codes[i];
                argvs[i][3] = NULL;
                runs[i].p.data = &runs[i];
                CHECK_INT(spawner_run(sp, &runs[i].p, "/bin/sh", argvs[i], env,
                                      (int[]){ 0, 1, 2 }, 3, 0, on_exit_cb),
                          ==, 0);
        }
        while (killed.exits == 0 || done < N) {
                uv_run(&loop, UV_RUN_ONCE);
                done = 0;
                for (int i = 0; i < N; i++)
                        done += runs[i].exits;
        }
        CHECK_INT(killed.signal, ==, SIGTERM);
        CHECK_INT(spawned_kill(&killed.p, SIGTERM), ==, -ESRCH);
        spawned_close(&killed.p, on_closed);
        for (int i = 0; i < N; i++) {
                CHECK_INT(runs[i].exits, ==, 1);
                CHECK_INT(runs[i].status, ==, i + 1);
                spawned_close(&runs[i].p, on_closed);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_INT(killed.closed, ==, 1);
        CHECK_INT(killed.exits, ==, 1);
        for (int i = 0; i < N; i++) {
                CHECK_INT(runs[i].closed, ==, 1);
                CHECK_INT(runs[i].exits, ==, 1);        /* no second exit_cb came late */
        }
        free(runs);
        spawner_free(sp);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}

/* Spawns killed while still queued (clients gone while the threads were
 * busy) never start; any a thread took already are stopped as they start
 * (as in the test above). Both are counted; the first must occur. */
TEST(killed_in_the_queue_never_start)
{
        enum { N = 48 };
        uv_loop_t loop;
        struct spawner *sp;
        struct run *runs;
        static char *const env[] = { (char *)"PATH=/usr/bin:/bin", NULL };
        char *sleep_argv[] = { (char *)"/bin/sleep", (char *)"30", NULL };
        int done = 0, cancelled = 0, stopped = 0, closes = 0;

        CHECK_INT(uv_loop_init(&loop), ==, 0);
        CHECK_INT(spawner_new(&loop, 1, &sp), ==, 0);
        CHECK((runs = calloc(N, sizeof *runs)));
        for (int i = 0; i < N; i++) {
                runs[i].p.data = &runs[i];
                CHECK_INT(spawner_run(sp, &runs[i].p, "/bin/sleep", sleep_argv, env, (int[]){ 0, 1, 2 }, 3, 0,
                                      on_exit_cb),
                          ==, 0);
        }
        for (int i = N - 1; i >= 0; i--)        /* the last are surely still queued */
                CHECK_INT(spawned_kill(&runs[i].p, SIGTERM), ==, 0);
        while (done < N) {
                uv_run(&loop, UV_RUN_ONCE);
                done = 0;
                for (int i = 0; i < N; i++)
                        done += runs[i].exits;
        }
        for (int i = 0; i < N; i++) {
                CHECK_INT(runs[i].exits, ==, 1);
                if (runs[i].p.err == -ECANCELED) {
                        cancelled++;
                        CHECK_INT(runs[i].p.pid, ==, 0);
                } else {
                        CHECK_INT(runs[i].p.err, ==, 0);
                        CHECK_INT(runs[i].signal, ==, SIGTERM);
                        stopped++;
                }
                closes += spawned_close(&runs[i].p, on_closed);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        printf("# %d never started, %d stopped as they started\n", cancelled, stopped);
        CHECK(cancelled >= 1);
        CHECK_INT(closes, ==, stopped);
        free(runs);
        spawner_free(sp);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}
