/* The station daemon's writer thread: see writer.h. */
#include "agent/writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct job {
        struct job *next;
        void *data;
        writer_work_fn work;
        writer_after_fn after;
};

struct writer {
        uv_loop_t *loop;
        bool inline_;
        struct home h;
        uv_thread_t thread;
        uv_mutex_t mu;
        uv_cond_t cv;
        uv_async_t async;               /* the thread tells the loop: jobs done */
        struct job *todo, **todo_tail;  /* queued, oldest first */
        struct job *done, **done_tail;  /* done, waiting for the loop */
        unsigned pending;
        bool stopping, exited;
};

static void thread_main(void *arg)
{
        struct writer *w = arg;

        uv_mutex_lock(&w->mu);
        for (;;) {
                while (!w->todo && !w->stopping)
                        uv_cond_wait(&w->cv, &w->mu);
                struct job *j = w->todo;
                if (!j)
                        break;          /* stopping, and nothing left */
                w->todo = j->next;
                if (!w->todo)
                        w->todo_tail = &w->todo;
                uv_mutex_unlock(&w->mu);

                home_reload(&w->h);      /* the catalogue changed under it */
                j->work(&w->h, j->data);

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
        home_close(&w->h);
        if (!w->inline_) {
                uv_cond_destroy(&w->cv);
                uv_mutex_destroy(&w->mu);
        }
        free(w);
}

static void async_closed(uv_handle_t *h)
{
        writer_free(h->data);
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
        if (!w || home_open(dir, &w->h) != 0) {
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
                home_reload(&w->h);
                work(&w->h, data);
                after(data);
                return 0;
        }
        if (w->stopping)
                return -ECANCELED;
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

void writer_stop(struct writer *w)
{
        if (!w)
                return;
        if (w->inline_) {
                writer_free(w);
                return;
        }
        uv_mutex_lock(&w->mu);
        w->stopping = true;
        uv_cond_signal(&w->cv);
        uv_mutex_unlock(&w->mu);
}
