/* The timed HTTP(S) transport (Windows): libgit2's smart transport over
 * its own HTTP subtransport (WinHTTP), with every read and write of its
 * streams noting when it began and when it returned. A read returns as
 * soon as some bytes came, so a slow but steady link keeps returning; a
 * silent one leaves a call waiting, which a watch (agent/netwatch.c)
 * sees through netidle_blocked_ms. WinHTTP, as libgit2 1.5.1 sets it
 * up, waits without a time limit, and another thread cannot end a
 * call it is waiting in: the watch ends the process (every sync step is
 * crash-safe). See netidle.h. */
#include <errno.h>
#include <stdlib.h>

#include <git2.h>
#include <git2/sys/transport.h>
#include <uv.h>

#include "sync/netidle.h"

/* When the call under way began (uv_hrtime, ns), 0 when none is. One
 * sync runs one transfer at a time: one slot is enough. */
static volatile uint64_t started_ns;

uint64_t netidle_blocked_ms(void)
{
        uint64_t t = started_ns, now = uv_hrtime();

        return t && now > t ? (now - t) / 1000000 : 0;
}

struct timed_sub {
        git_smart_subtransport parent;
        git_smart_subtransport *inner;
};

struct timed_stream {
        git_smart_subtransport_stream parent;
        git_smart_subtransport_stream *inner;
};

static int timed_read(git_smart_subtransport_stream *stream, char *buf, size_t len, size_t *got)
{
        struct timed_stream *s = (struct timed_stream *)stream;

        started_ns = uv_hrtime();
        int r = s->inner->read(s->inner, buf, len, got);
        started_ns = 0;
        return r;
}

static int timed_write(git_smart_subtransport_stream *stream, const char *buf, size_t len)
{
        struct timed_stream *s = (struct timed_stream *)stream;

        started_ns = uv_hrtime();
        int r = s->inner->write(s->inner, buf, len);
        started_ns = 0;
        return r;
}

static void timed_stream_free(git_smart_subtransport_stream *stream)
{
        struct timed_stream *s = (struct timed_stream *)stream;

        s->inner->free(s->inner);
        free(s);
}

static int timed_action(git_smart_subtransport_stream **out, git_smart_subtransport *sub, const char *url,
                        git_smart_service_t action)
{
        struct timed_sub *t = (struct timed_sub *)sub;
        struct timed_stream *s = calloc(1, sizeof *s);
        int r;

        if (!s)
                return -1;
        /* the inner action connects and may send: timed as a write */
        started_ns = uv_hrtime();
        r = t->inner->action(&s->inner, t->inner, url, action);
        started_ns = 0;
        if (r < 0) {
                free(s);
                return r;
        }
        s->parent.subtransport = sub;
        s->parent.read = timed_read;
        s->parent.write = timed_write;
        s->parent.free = timed_stream_free;
        *out = &s->parent;
        return 0;
}

static int timed_close(git_smart_subtransport *sub)
{
        struct timed_sub *t = (struct timed_sub *)sub;

        return t->inner->close(t->inner);
}

static void timed_free(git_smart_subtransport *sub)
{
        struct timed_sub *t = (struct timed_sub *)sub;

        t->inner->free(t->inner);
        free(t);
}

static int timed_sub_new(git_smart_subtransport **out, git_transport *owner, void *param)
{
        struct timed_sub *t = calloc(1, sizeof *t);

        (void)param;
        if (!t)
                return -1;
        if (git_smart_subtransport_http(&t->inner, owner, NULL) < 0) {
                free(t);
                return -1;
        }
        t->parent.action = timed_action;
        t->parent.close = timed_close;
        t->parent.free = timed_free;
        *out = &t->parent;
        return 0;
}

static int timed_transport(git_transport **out, git_remote *owner, void *param)
{
        /* stateless, as libgit2's own http subtransport is */
        static git_smart_subtransport_definition def = { timed_sub_new, 1, NULL };

        (void)param;
        return git_transport_smart(out, owner, &def);
}

int netidle_install(void)
{
        static int done;

        if (done)
                return 0;
        if (git_transport_register("https", timed_transport, NULL) < 0 ||
            git_transport_register("http", timed_transport, NULL) < 0)
                return -EIO;
        done = 1;
        return 0;
}
