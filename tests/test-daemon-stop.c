/* agent/daemon-stop.c: a stop asked from another thread (the Windows
 * service's control handler) reaches the loop watching, and a stop asked
 * while no loop watches (between the first-run page and the station) is
 * kept for the next one. On Linux and under Wine. */
#include <uv.h>

#include "agent/daemon-stop.h"
#include "tests/harness.h"

static int fired;

static void on_stop(uv_async_t *a)
{
        fired++;
        daemon_stop_close(a);
}

static void ask(void *arg)
{
        (void)arg;
        daemon_stop_request();
}

TEST(stop_reaches_the_loop_and_is_kept)
{
        uv_loop_t loop;
        uv_async_t a, b;
        uv_thread_t t;

        /* nothing asked yet: the loop waits */
        CHECK_INT(uv_loop_init(&loop), ==, 0);
        daemon_stop_watch(&loop, &a, on_stop);
        uv_run(&loop, UV_RUN_NOWAIT);
        CHECK_INT(fired, ==, 0);
        /* asked from another thread: the callback runs on the loop, which
         * then ends (its only handle closed) */
        CHECK_INT(uv_thread_create(&t, ask, NULL), ==, 0);
        CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), ==, 0);
        uv_thread_join(&t);
        CHECK_INT(fired, ==, 1);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
        /* the next loop to watch stops at its first turn */
        CHECK_INT(uv_loop_init(&loop), ==, 0);
        daemon_stop_watch(&loop, &b, on_stop);
        CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), ==, 0);
        CHECK_INT(fired, ==, 2);
        CHECK_INT(uv_loop_close(&loop), ==, 0);
        /* asked again with nothing watching: no harm */
        daemon_stop_request();
}
