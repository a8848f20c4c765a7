/* Tests of agent/writer.c, the station daemon's writer thread: jobs run
 * one at a time, in the order they came, off the loop's thread, each
 * answered once on the loop; the queue is bounded; a stop answers every
 * job taken before it and refuses later ones; a home that cannot be
 * opened reaches the job as NULL with the reason. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "agent/core/result.h"
#include "agent/home.h"
#include "agent/writer.h"
#include "tests/harness.h"

struct job {
        int n;
        uv_thread_t ran_on;
        bool had_home;
        char why[256];
        int *order, *norder;            /* where the work ran, in turn */
        int *answered;
};

static void work(struct home *h, const struct core_result *why, void *arg)
{
        struct job *j = arg;

        j->ran_on = uv_thread_self();
        j->had_home = h != NULL;
        snprintf(j->why, sizeof j->why, "%s", why && why->en ? why->en : "");
        usleep(2000);                   /* long enough for the queue to fill */
        j->order[(*j->norder)++] = j->n;
}

static void after(void *arg)
{
        struct job *j = arg;

        j->answered[j->n]++;
}

static int nstopped;

static void stopped(void *ud)
{
        (void)ud;
        nstopped++;
}

/* A village home of the sample catalogue. */
static const char *village(void)
{
        static char dir[4200];
        char cat[4200];

        snprintf(dir, sizeof dir, "%s/home", test_tmpdir());
        snprintf(cat, sizeof cat, "%s/catalog-sample", test_data_dir());
        if (home_init(dir, "330225101201", "village", cat, NULL) != 0)
                return NULL;
        return dir;
}

TEST(jobs_run_in_order_off_the_loop_bounded_and_stop_answers_them)
{
        const char *dir = village();
        uv_loop_t loop;
        struct writer *w;
        struct job jobs[WRITER_QUEUE_MAX + 4];
        int order[WRITER_QUEUE_MAX + 4], norder = 0, answered[WRITER_QUEUE_MAX + 4] = { 0 };
        uv_thread_t me = uv_thread_self();
        int taken = 0, busy = 0;

        CHECK(dir);
        uv_loop_init(&loop);
        CHECK_INT(writer_start(&w, &loop, dir, false), ==, 0);
        for (int i = 0; i < WRITER_QUEUE_MAX + 4; i++) {
                jobs[i] = (struct job){ .n = i, .order = order, .norder = &norder, .answered = answered };
                int r = writer_post(w, &jobs[i], work, after);
                if (r == 0)
                        taken++;
                else if (r == -EAGAIN)
                        busy++;
        }
        /* the first jobs may already be done: at most the bound waits */
        CHECK_INT(taken, >=, WRITER_QUEUE_MAX);
        CHECK_INT(busy, >=, 1);
        CHECK_INT(taken + busy, ==, WRITER_QUEUE_MAX + 4);
        nstopped = 0;
        writer_stop(w, stopped, NULL);
        /* nothing is answered before the loop runs */
        for (int i = 0; i < taken; i++)
                CHECK_INT(answered[i], ==, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_INT(nstopped, ==, 1);
        CHECK_INT(norder, ==, taken);
        for (int i = 0; i < taken; i++) {
                CHECK_INT(order[i], ==, i);                     /* in the order they came */
                CHECK_INT(answered[i], ==, 1);                  /* each answered once */
                CHECK(!uv_thread_equal(&jobs[i].ran_on, &me));  /* not on the loop's thread */
                CHECK(jobs[i].had_home);
        }
        for (int i = taken; i < WRITER_QUEUE_MAX + 4; i++)
                CHECK_INT(answered[i], ==, 0);                  /* refused ones never run */
        CHECK_INT(uv_loop_close(&loop), ==, 0);                 /* no handle left behind */
}

TEST(a_stopping_writer_takes_no_more)
{
        const char *dir = village();
        uv_loop_t loop;
        struct writer *w;
        int order[2], norder = 0, answered[2] = { 0 };
        struct job j = { .n = 0, .order = order, .norder = &norder, .answered = answered };

        CHECK(dir);
        uv_loop_init(&loop);
        CHECK_INT(writer_start(&w, &loop, dir, false), ==, 0);
        nstopped = 0;
        writer_stop(w, stopped, NULL);
        CHECK_INT(writer_post(w, &j, work, after), ==, -ECANCELED);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_INT(nstopped, ==, 1);
        CHECK_INT(answered[0], ==, 0);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(a_home_that_cannot_be_opened_reaches_the_job_with_the_reason)
{
        char dir[4200];
        uv_loop_t loop;
        struct writer *w;
        int order[1], norder = 0, answered[1] = { 0 };
        struct job j = { .n = 0, .order = order, .norder = &norder, .answered = answered };

        snprintf(dir, sizeof dir, "%s/nothing-here", test_tmpdir());
        uv_loop_init(&loop);
        CHECK_INT(writer_start(&w, &loop, dir, false), ==, 0);
        CHECK_INT(writer_post(w, &j, work, after), ==, 0);
        writer_stop(w, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_INT(answered[0], ==, 1);
        CHECK(!j.had_home);
        CHECK(strstr(j.why, "is not a daiban home"));
        CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(inline_runs_at_once)
{
        const char *dir = village();
        struct writer *w;
        int order[1], norder = 0, answered[1] = { 0 };
        struct job j = { .n = 0, .order = order, .norder = &norder, .answered = answered };
        uv_thread_t me = uv_thread_self();

        CHECK(dir);
        CHECK_INT(writer_start(&w, NULL, dir, true), ==, 0);
        CHECK_INT(writer_post(w, &j, work, after), ==, 0);
        CHECK_INT(answered[0], ==, 1);
        CHECK(uv_thread_equal(&j.ran_on, &me));
        CHECK(j.had_home);
        nstopped = 0;
        writer_stop(w, stopped, NULL);
        CHECK_INT(nstopped, ==, 1);
}
