/* A stop asked of the running daemon from another thread: see
 * daemon-stop.h. */
#include "agent/daemon-stop.h"

#include <stdbool.h>
#include <stdlib.h>

static uv_mutex_t lock;
static uv_once_t once = UV_ONCE_INIT;
static uv_async_t *watched;     /* the loop's, while it runs */
static bool asked;              /* kept for the life of the process */

static void init(void)
{
        if (uv_mutex_init(&lock) != 0)
                abort();
}

void daemon_stop_watch(uv_loop_t *loop, uv_async_t *a, uv_async_cb cb)
{
        /* cannot fail once the loop is made: libuv's own async (its
         * thread pool's) made the loop's wakeup descriptor already */
        if (uv_async_init(loop, a, cb) != 0)
                abort();
        uv_once(&once, init);
        uv_mutex_lock(&lock);
        watched = a;
        if (asked)
                uv_async_send(a);
        uv_mutex_unlock(&lock);
}

void daemon_stop_close(uv_async_t *a)
{
        uv_once(&once, init);
        uv_mutex_lock(&lock);
        if (watched == a)
                watched = NULL;
        uv_mutex_unlock(&lock);
        if (!uv_is_closing((uv_handle_t *)a))
                uv_close((uv_handle_t *)a, NULL);
}

void daemon_stop_request(void)
{
        uv_once(&once, init);
        uv_mutex_lock(&lock);
        asked = true;
        if (watched)
                uv_async_send(watched);
        uv_mutex_unlock(&lock);
}
