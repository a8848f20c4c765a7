/* How long an event loop waits while it starts processes, on a loaded
 * machine: libuv's uv_spawn (fork on the loop's thread, wait for the
 * child's exec) against the hall's spawner (agent/spawner.h: posix_spawn
 * on threads of its own, the exit watched by a pidfd).
 *
 *   bench-spawn [SPAWNS [BUSY [ROUNDS]]]
 *
 * BUSY processes spin on the CPU meanwhile (the county herd ran at a load
 * of 16 on 2 cores); SPAWNS processes (/bin/true) are started, 8 at a
 * time, in each of ROUNDS rounds per way, the ways alternating. Printed
 * per round: the time the loop spent inside the call that starts a
 * process (median, p99, max), the longest gap between two turns of a
 * 1 ms timer, and the spawns per second; then the medians over rounds.
 * docs/BENCHMARKS.md ("The hall's spawner") has the figures. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "agent/spawner.h"

#define IN_FLIGHT 8

extern char **environ;

struct job {
        uv_process_t proc;              /* uv_spawn's */
        struct spawned sp;              /* the spawner's */
        struct bench *b;
};

struct bench {
        uv_loop_t *loop;
        struct spawner *spawner;
        bool use_spawner;
        int total, started, done, running;
        double *call_ms;                /* per spawn: time inside the starting call */
        uv_timer_t tick;
        uint64_t last_tick, max_gap;
        uint64_t t0, t1;
        struct job *jobs;
};

static char *true_argv[] = { (char *)"/bin/true", NULL };

static void start_more(struct bench *b);

static void job_done(struct bench *b)
{
        b->done++;
        b->running--;
        start_more(b);
        if (b->done == b->total) {
                b->t1 = uv_hrtime();
                uv_timer_stop(&b->tick);
        }
}

static void on_uv_exit(uv_process_t *p, int64_t status, int sig)
{
        (void)status;
        (void)sig;
        uv_close((uv_handle_t *)p, NULL);
        job_done(((struct job *)p->data)->b);
}

static void on_sp_exit(struct spawned *p, int64_t status, int sig)
{
        struct job *j = p->data;

        (void)status;
        (void)sig;
        spawned_close(p, NULL);
        job_done(j->b);
}

static void start_more(struct bench *b)
{
        while (b->running < IN_FLIGHT && b->started < b->total) {
                struct job *j = &b->jobs[b->started];
                uint64_t t = uv_hrtime();
                int r;

                j->b = b;
                if (b->use_spawner) {
                        j->sp.data = j;
                        r = spawner_run(b->spawner, &j->sp, true_argv[0], true_argv, environ, (int[]){ 0, 1, 2 }, 3,
                                        0, on_sp_exit);
                } else {
                        uv_process_options_t po;
                        memset(&po, 0, sizeof po);
                        po.file = true_argv[0];
                        po.args = true_argv;
                        po.exit_cb = on_uv_exit;
                        j->proc.data = j;
                        r = uv_spawn(b->loop, &j->proc, &po);
                }
                b->call_ms[b->started] = (double)(uv_hrtime() - t) / 1e6;
                if (r < 0) {
                        fprintf(stderr, "cannot start /bin/true: %s\n", uv_strerror(r));
                        exit(1);
                }
                b->started++;
                b->running++;
        }
}

static void on_tick(uv_timer_t *t)
{
        struct bench *b = t->data;
        uint64_t now = uv_hrtime();

        if (b->last_tick && now - b->last_tick > b->max_gap)
                b->max_gap = now - b->last_tick;
        b->last_tick = now;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct round {
        double call_p50, call_p99, call_max, gap_max, per_s;
};

static struct round run(uv_loop_t *loop, struct spawner *sp, bool use_spawner, int n)
{
        struct bench b = { 0 };
        struct round r;

        b.loop = loop;
        b.spawner = sp;
        b.use_spawner = use_spawner;
        b.total = n;
        b.call_ms = calloc((size_t)n, sizeof *b.call_ms);
        b.jobs = calloc((size_t)n, sizeof *b.jobs);
        if (!b.call_ms || !b.jobs)
                exit(1);
        uv_timer_init(loop, &b.tick);
        b.tick.data = &b;
        uv_timer_start(&b.tick, on_tick, 1, 1);
        b.t0 = uv_hrtime();
        start_more(&b);
        uv_run(loop, UV_RUN_DEFAULT);           /* ends when the timer stopped and all exited */
        uv_close((uv_handle_t *)&b.tick, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        qsort(b.call_ms, (size_t)n, sizeof *b.call_ms, cmp_double);
        r.call_p50 = b.call_ms[n / 2];
        r.call_p99 = b.call_ms[(n * 99) / 100];
        r.call_max = b.call_ms[n - 1];
        r.gap_max = (double)b.max_gap / 1e6;
        r.per_s = n / ((double)(b.t1 - b.t0) / 1e9);
        free(b.call_ms);
        free(b.jobs);
        return r;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 400;
        int busy = argc > 2 ? atoi(argv[2]) : 16;
        int rounds = argc > 3 ? atoi(argv[3]) : 5;
        pid_t *spinners;
        uv_loop_t *loop = uv_default_loop();
        struct spawner *sp;
        struct round (*res)[2];
        const char *names[2] = { "uv_spawn", "spawner" };

        if (n < 1 || busy < 0 || rounds < 1) {
                fprintf(stderr, "usage: bench-spawn [SPAWNS [BUSY [ROUNDS]]]\n");
                return 2;
        }
        if (!(spinners = calloc((size_t)busy + 1, sizeof *spinners)) || !(res = calloc((size_t)rounds, sizeof *res)))
                return 1;
        for (int i = 0; i < busy; i++) {
                char *spin[] = { (char *)"/bin/sh", (char *)"-c", (char *)"while :; do :; done", NULL };
                if (posix_spawn(&spinners[i], spin[0], NULL, NULL, spin, environ) != 0) {
                        fprintf(stderr, "cannot start a busy process\n");
                        return 1;
                }
        }
        if (spawner_new(loop, 2, &sp) < 0)
                return 1;
        printf("%d spawns of /bin/true (%d at a time) a round, %d busy processes, %ld cores\n", n, IN_FLIGHT, busy,
               sysconf(_SC_NPROCESSORS_ONLN));
        printf("%-9s %5s %12s %12s %12s %14s %10s\n", "way", "round", "call p50 ms", "call p99 ms", "call max ms",
               "loop gap max ms", "spawns/s");
        for (int k = 0; k < rounds; k++)
                for (int w = 0; w < 2; w++) {
                        int way = (k % 2) ? 1 - w : w;  /* alternate which goes first */
                        struct round r = run(loop, sp, way == 1, n);
                        res[k][way] = r;
                        printf("%-9s %5d %12.3f %12.3f %12.3f %14.3f %10.1f\n", names[way], k + 1, r.call_p50,
                               r.call_p99, r.call_max, r.gap_max, r.per_s);
                        fflush(stdout);
                }
        for (int i = 0; i < busy; i++) {
                kill(spinners[i], SIGKILL);
                waitpid(spinners[i], NULL, 0);
        }
        printf("medians over %d rounds:\n", rounds);
        for (int w = 0; w < 2; w++) {
                double v[5][64];
                int m = rounds < 64 ? rounds : 64;
                for (int k = 0; k < m; k++) {
                        v[0][k] = res[k][w].call_p50;
                        v[1][k] = res[k][w].call_p99;
                        v[2][k] = res[k][w].call_max;
                        v[3][k] = res[k][w].gap_max;
                        v[4][k] = res[k][w].per_s;
                }
                printf("%-9s %5s %12.3f %12.3f %12.3f %14.3f %10.1f\n", names[w], "-", median(v[0], m),
                       median(v[1], m), median(v[2], m), median(v[3], m), median(v[4], m));
        }
        spawner_free(sp);
        uv_loop_close(loop);
        free(spinners);
        free(res);
        return 0;
}
