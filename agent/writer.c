/* The station daemon's writer thread: see writer.h. */
#include "agent/writer.h"

#include "agent/core/result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An idle writer closes its home after this long (its SQLite cache and
 * its copy of the catalogue, up to tens of MB for a large county), and
 * opens it again with the next write. */
#define WRITER_IDLE_NS (60ull * 1000 * 1000 * 1000)

struct job {
        struct job *next;
        void *data;
        writer_work_fn work;
        writer_after_fn after;
};

struct writer {
        uv_loop_t *loop;
        bool inline_;
        char *dir;
        struct home h;
        bool open;                      /* h is open */
        struct core_result why;         /* why it could not be opened */
        uv_thread_t thread;
        uv_mutex_t mu;
        uv_cond_t cv;
        uv_async_t async;               /* the thread tells the loop: jobs done */
        struct job *todo, **todo_tail;  /* queued, oldest first */
        struct job *done, **done_tail;  /* done, waiting for the loop */
        unsigned pending;
        bool stopping, exited;
        void (*stopped)(void *);
        void *stopped_ud;
};

/* The writer's home, opened on first use and reopened when its
 * catalogue changed under it; NULL when it cannot be, why in w->why. */
static struct home *home_of(struct writer *w)
{
        core_result_finish(&w->why);
        core_result_init(&w->why);
        if (!w->open)
                w->open = home_load(w->dir, &w->h, &w->why) == 0;
        else if (home_reload(&w->h, &w->why) < 0)
                return NULL;
        return w->open ? &w->h : NULL;
}

static void home_drop(struct writer *w)
{
        if (w->open)
                home_close(&w->h);
        w->open = false;
}

static void thread_main(void *arg)
{
        struct writer *w = arg;

        uv_mutex_lock(&w->mu);
        for (;;) {
                while (!w->todo && !w->stopping) {
                        if (!w->open) {
                                uv_cond_wait(&w->cv, &w->mu);
                                continue;
                        }
                        if (uv_cond_timedwait(&w->cv, &w->mu, WRITER_IDLE_NS) == UV_ETIMEDOUT && !w->todo &&
                            !w->stopping) {
                                uv_mutex_unlock(&w->mu);
                                home_drop(w);
                                uv_mutex_lock(&w->mu);
                        }
                }
                struct job *j = w->todo;
                if (!j)
                        break;          /* stopping, and nothing left */
                w->todo = j->next;
                if (!w->todo)
                        w->todo_tail = &w->todo;
                uv_mutex_unlock(&w->mu);

                struct home *h = home_of(w);
                j->work(h, &w->why, j->data);

                uv_mutex_lock(&w->mu);
                j->next = NULL;
                *w->done_tail = j;
                w->done_tail = &j->next;
                uv_async_send(&w->async);
        }
        w->exited = true;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
}

static void writer_free(struct writer *w)
{
        home_drop(w);
        core_result_finish(&w->why);
        free(w->dir);
        if (!w->inline_) {
                uv_cond_destroy(&w->cv);
                uv_mutex_destroy(&w->mu);
        }
        free(w);
}

static void async_closed(uv_handle_t *h)
{
        struct writer *w = h->data;
        void (*stopped)(void *) = w->stopped;
        void *ud = w->stopped_ud;

        writer_free(w);
        if (stopped)
                stopped(ud);
}

static void on_done(uv_async_t *a)
{
        struct writer *w = a->data;
        struct job *list;
        bool exited;

        uv_mutex_lock(&w->mu);
        list = w->done;
        w->done = NULL;
        w->done_tail = &w->done;
        exited = w->exited;
        uv_mutex_unlock(&w->mu);
        while (list) {
                struct job *j = list;
                list = j->next;
                w->pending--;
                j->after(j->data);
                free(j);
        }
        if (exited && !uv_is_closing((uv_handle_t *)&w->async)) {
                uv_thread_join(&w->thread);
                uv_close((uv_handle_t *)&w->async, async_closed);
        }
}

int writer_start(struct writer **ret, uv_loop_t *loop, const char *dir, bool inline_)
{
        struct writer *w = calloc(1, sizeof *w);

        *ret = NULL;
        if (w)
                core_result_init(&w->why);
        if (!w || !(w->dir = strdup(dir))) {
                free(w);
                return -1;
        }
        w->loop = loop;
        w->inline_ = inline_;
        w->todo_tail = &w->todo;
        w->done_tail = &w->done;
        if (!inline_) {
                uv_mutex_init(&w->mu);
                uv_cond_init(&w->cv);
                uv_async_init(loop, &w->async, on_done);
                w->async.data = w;
                if (uv_thread_create(&w->thread, thread_main, w) != 0) {
                        w->inline_ = true;      /* what is freed below is the inline kind's */
                        uv_cond_destroy(&w->cv);
                        uv_mutex_destroy(&w->mu);
                        uv_close((uv_handle_t *)&w->async, NULL);
                        uv_run(loop, UV_RUN_NOWAIT);
                        writer_free(w);
                        return -1;
                }
        }
        *ret = w;
        return 0;
}

int writer_post(struct writer *w, void *data, writer_work_fn work, writer_after_fn after)
{
        if (w->inline_) {
                struct home *h = home_of(w);
                work(h, &w->why, data);
                after(data);
                return 0;
        }
        if (w->stopping)
                return -ECANCELED;
        if (w->pending >= WRITER_QUEUE_MAX)
                return -EAGAIN;
        struct job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->data = data;
        j->work = work;
        j->after = after;
        uv_mutex_lock(&w->mu);
        *w->todo_tail = j;
        w->todo_tail = &j->next;
        w->pending++;
        uv_cond_signal(&w->cv);
        uv_mutex_unlock(&w->mu);
        return 0;
}

unsigned writer_pending(const struct writer *w)
{
        return w->pending;
}

void writer_stop(struct writer *w, void (*stopped)(void *), void *ud)
{
        if (!w) {
                if (stopped)
                        stopped(ud);
                return;
        }
        if (w->inline_) {
                writer_free(w);
                if (stopped)
                        stopped(ud);
                return;
        }
        w->stopped = stopped;
        w->stopped_ud = ud;
        uv_mutex_lock(&w->mu);
        w->stopping = true;
        uv_cond_signal(&w->cv);
        uv_mutex_unlock(&w->mu);
}
