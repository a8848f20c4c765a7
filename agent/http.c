/* The HTTP/1.1 server of agent/: see http.h. One connection serves one
 * request at a time (keep-alive, no pipelining: bytes that arrive early
 * wait until the response ends). Parsing is libhttp-parser's; this file
 * owns the connection's life, the limits, TLS plumbing and back-pressure.
 *
 * Life of a connection: accepted -> reading headers (head deadline) ->
 * handler owns the request (body streamed to it; idle deadline) -> the
 * handler ends the response -> next request or close. A handle is freed
 * only in its close callback; the handler hears on_abort if the peer goes
 * away while it owns the request. */
#include "agent/http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "agent/tls.h"

struct http_server {
        uv_loop_t *loop;
        uv_tcp_t tcp;
        struct tls_ctx *tls;
        struct http_limits lim;
        struct http_handler h;
        void *ud;
        unsigned nconns;        /* connections holding a slot */
        unsigned nrefused;      /* refused at accept, their refusal still being sent */
        http_conn *conns;
        bool stopping;
};

enum conn_state {
        CONN_HEAD,        /* reading a request's line and headers */
        CONN_BODY,        /* the handler has the request; body arriving */
        CONN_WAIT,        /* request complete; waiting for the response to end */
};

struct http_conn {
        uv_tcp_t tcp;
        uv_timer_t timer;
        uv_shutdown_t shutdown;
        http_server *srv;
        http_conn *next, **pprev;
        struct tls_conn *tls;
        http_parser parser;
        enum conn_state state;
        bool owned;             /* the handler owns the current request */
        bool started, chunked, close_after, closing, finishing, paused, too_big;
        bool in_feed, resume;   /* a response ended inside the parser's callbacks */
        bool peer_eof;          /* the peer shut down its side after a complete request */
        bool head_started;      /* a byte of the current request's head has arrived */
        bool refused;           /* refused at accept: holds no slot and no share */
        int nclosing;
        uint64_t deadline;      /* uv_now() after which the connection closes */
        uint64_t body_bytes;
        uint64_t opened;        /* uv_now() at accept */
        uint64_t bytes_in;      /* read from the peer, all requests */
        uint64_t rate_t0, rate_b0;      /* bytes_in at the body's start (reset by a pause): its rate */
        const char *why;        /* why the server closed it (NULL: the peer went away) */
        char *pending;          /* bytes received after a complete request */
        size_t npending;
        /* the request's head: url, then names and values, NUL-separated */
        char head[HTTP_MAX_HEAD];
        size_t headlen;
        int last_cb;            /* 0 none, 1 url, 2 field, 3 value */
        size_t url_off, name_off[HTTP_MAX_HEADERS], value_off[HTTP_MAX_HEADERS];
        size_t nhdr;
        struct http_request req;
        char peer[64];
        void *data;
};

static void conn_close(http_conn *c);
static void conn_feed(http_conn *c, const char *data, size_t len);

const char *http_status_text(int status)
{
        switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 421: return "Misdirected Request";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Status";
        }
}

/* ---- sending ---------------------------------------------------------------- */

struct wreq {
        uv_write_t req;
        uv_buf_t buf;
};

static void on_written(uv_write_t *req, int status)
{
        struct wreq *w = (struct wreq *)req;
        http_conn *c = req->data;

        free(w->buf.base);
        free(w);
        if (c->closing)
                return;         /* the server may be gone already (http_server_stop) */
        if (status < 0) {
                conn_close(c);
                return;
        }
        c->deadline = uv_now(c->srv->loop) + c->srv->lim.idle_timeout_ms;
        if (!c->closing && c->owned && c->tcp.write_queue_size == 0 && c->srv->h.on_drain)
                c->srv->h.on_drain(c);
}

/* Queue raw bytes (takes ownership of buf). */
static void raw_send(http_conn *c, char *buf, size_t len)
{
        struct wreq *w;

        if (c->closing || !len) {
                free(buf);
                return;
        }
        if (!(w = malloc(sizeof *w))) {
                free(buf);
                conn_close(c);
                return;
        }
        w->buf = uv_buf_init(buf, (unsigned)len);
        w->req.data = c;
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written) < 0) {
                free(buf);
                free(w);
                conn_close(c);
        }
}

static void flush_tls(http_conn *c)
{
        size_t n;
        char *out;

        while ((out = tls_conn_take_output(c->tls, &n)))
                raw_send(c, out, n);
}

static void conn_send(http_conn *c, const void *data, size_t len)
{
        char *copy;

        if (c->closing || !len)
                return;
        if (c->tls) {
                if (tls_conn_write(c->tls, data, len) < 0) {
                        conn_close(c);
                        return;
                }
                flush_tls(c);
                return;
        }
        if (!(copy = malloc(len))) {
                conn_close(c);
                return;
        }
        memcpy(copy, data, len);
        raw_send(c, copy, len);
}

/* ---- closing ------------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
        http_conn *c = h->data;

        if (--c->nclosing > 0)
                return;
        tls_conn_free(c->tls);
        /* request heads and bodies carry tokens, cookies and passwords:
         * wiped before the memory goes back */
        if (c->pending)
                explicit_bzero(c->pending, c->npending);
        free(c->pending);
        explicit_bzero(c, sizeof *c);
        free(c);
}

static void conn_close(http_conn *c)
{
        if (c->closing)
                return;
        c->closing = true;
        if (c->owned && c->srv->h.on_abort) {
                c->owned = false;
                c->srv->h.on_abort(c);
        }
        c->owned = false;
        if (c->next)
                c->next->pprev = c->pprev;
        *c->pprev = c->next;
        if (c->refused)
                c->srv->nrefused--;
        else
                c->srv->nconns--;
        c->nclosing = 2;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
        (void)status;
        conn_close(req->data);
}

/* Close once what is queued has been sent. */
static void conn_finish(http_conn *c)
{
        if (c->closing || c->finishing)
                return;
        c->finishing = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->shutdown.data = c;
        if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
                conn_close(c);
}

/* ---- responses ---------------------------------------------------------------- */

void http_respond_start(http_conn *c, int status, const char *headers, int64_t content_length)
{
        char *head = NULL, tail[64];
        int n;

        if (c->started)
                return;
        c->started = true;
        c->chunked = content_length < 0;
        if (c->state != CONN_WAIT || !http_should_keep_alive(&c->parser) || c->peer_eof)
                c->close_after = true;     /* the body was not read to its end, or the peer is done */
        if (c->chunked)
                snprintf(tail, sizeof tail, "Transfer-Encoding: chunked\r\n");
        else
                snprintf(tail, sizeof tail, "Content-Length: %" PRId64 "\r\n", content_length);
        n = asprintf(&head, "HTTP/1.1 %d %s\r\n%s%s%s\r\n", status, http_status_text(status), headers ? headers : "",
                     tail, c->close_after ? "Connection: close\r\n" : "");
        if (n < 0) {
                conn_close(c);
                return;
        }
        conn_send(c, head, (size_t)n);
        free(head);
}

void http_respond_write(http_conn *c, const void *data, size_t len)
{
        if (!len || c->closing)
                return;
        c->deadline = uv_now(c->srv->loop) + c->srv->lim.idle_timeout_ms;
        if (c->chunked) {
                char *buf = malloc(len + 24);
                int n;
                if (!buf) {
                        conn_close(c);
                        return;
                }
                n = snprintf(buf, 24, "%zx\r\n", len);
                memcpy(buf + n, data, len);
                memcpy(buf + n + len, "\r\n", 2);
                conn_send(c, buf, (size_t)n + len + 2);
                free(buf);
        } else {
                conn_send(c, data, len);
        }
}

static void reset_request(http_conn *c)
{
        c->state = CONN_HEAD;
        c->owned = c->started = c->chunked = c->too_big = c->head_started = false;
        c->headlen = c->nhdr = 0;
        c->last_cb = 0;
        c->body_bytes = 0;
        c->data = NULL;
        memset(&c->req, 0, sizeof c->req);
        c->deadline = uv_now(c->srv->loop) + c->srv->lim.head_timeout_ms;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Serve the next request on this connection: what arrived early first. */
static void resume_next(http_conn *c)
{
        char *p = c->pending;
        size_t n = c->npending;

        reset_request(c);
        http_parser_pause(&c->parser, 0);
        c->pending = NULL;
        c->npending = 0;
        if (!c->paused)
                uv_read_start((uv_stream_t *)&c->tcp, http_alloc, on_read);
        if (n)
                conn_feed(c, p, n);
        if (p)
                explicit_bzero(p, n);
        free(p);
}

void http_respond_end(http_conn *c)
{
        if (c->closing)
                return;
        if (c->chunked)
                conn_send(c, "0\r\n\r\n", 5);
        c->owned = false;
        c->data = NULL;
        if (c->close_after || c->srv->stopping) {
                conn_finish(c);
                return;
        }
        if (c->in_feed)
                c->resume = true;       /* conn_feed resumes once the parser has returned */
        else
                resume_next(c);
}

void http_respond(http_conn *c, int status, const char *content_type, const char *body, size_t len)
{
        char hdr[256];

        snprintf(hdr, sizeof hdr, "Content-Type: %s\r\nCache-Control: no-store\r\n", content_type);
        http_respond_start(c, status, hdr, (int64_t)len);
        http_respond_write(c, body, len);
        http_respond_end(c);
}

static void json_escape(char *out, size_t cap, const char *s)
{
        size_t n = 0;

        for (; *s && n + 8 < cap; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch == '"' || ch == '\\') {
                        out[n++] = '\\';
                        out[n++] = (char)ch;
                } else if (ch < 0x20) {
                        n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
                } else {
                        out[n++] = (char)ch;
                }
        }
        out[n] = '\0';
}

void http_respond_error(http_conn *c, int status, const char *code, const char *en, const char *zh)
{
        char body[2048], e1[768], e2[768];

        json_escape(e1, sizeof e1, en);
        json_escape(e2, sizeof e2, zh);
        snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":{\"en\":\"%s\",\"zh\":\"%s\"}}\n", code, e1, e2);
        c->close_after = true;
        http_respond(c, status, "application/json; charset=utf-8", body, strlen(body));
}

/* ---- parsing ------------------------------------------------------------------ */

static http_conn *pconn(http_parser *p)
{
        return p->data;
}

static int head_append(http_conn *c, int kind, const char *at, size_t len)
{
        if (c->last_cb != kind) {
                /* a new piece: terminate the previous one */
                if (c->last_cb && c->headlen < sizeof c->head)
                        c->head[c->headlen++] = '\0';
                if (kind == 1)
                        c->url_off = c->headlen;
                else if (kind == 2) {
                        if (c->nhdr >= HTTP_MAX_HEADERS) {
                                c->too_big = true;
                                return -1;
                        }
                        c->name_off[c->nhdr] = c->headlen;
                } else {
                        c->value_off[c->nhdr++] = c->headlen;
                }
                c->last_cb = kind;
        }
        if (c->headlen + len + 1 >= sizeof c->head) {
                c->too_big = true;
                return -1;
        }
        memcpy(c->head + c->headlen, at, len);
        c->headlen += len;
        return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
        return head_append(pconn(p), 1, at, len);
}

static int on_hfield(http_parser *p, const char *at, size_t len)
{
        return head_append(pconn(p), 2, at, len);
}

static int on_hvalue(http_parser *p, const char *at, size_t len)
{
        return head_append(pconn(p), 3, at, len);
}

static bool is_loopback(const char *peer)
{
        return strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]", 5) == 0 || strncmp(peer, "[::ffff:127.", 12) == 0;
}

static int on_headers_complete(http_parser *p)
{
        http_conn *c = pconn(p);
        struct http_request *r = &c->req;
        char *q;
        const char *cl;

        if (c->last_cb == 2) {          /* a name without a value */
                if (head_append(c, 3, "", 0) < 0)
                        return -1;
        }
        if (c->headlen >= sizeof c->head)
                return -1;
        c->head[c->headlen++] = '\0';
        r->method = http_method_str((enum http_method)p->method);
        r->path = c->head + c->url_off;
        q = strchr(c->head + c->url_off, '?');
        if (q) {
                *q = '\0';
                r->query = q + 1;
        } else {
                r->query = "";
        }
        for (size_t i = 0; i < c->nhdr; i++) {
                r->hdr[i].name = c->head + c->name_off[i];
                r->hdr[i].value = c->head + c->value_off[i];
        }
        r->nhdr = c->nhdr;
        cl = http_header_get(r, "Content-Length");
        r->content_length = cl ? strtoll(cl, NULL, 10) : -1;
        r->has_body = (p->flags & F_CHUNKED) || r->content_length > 0;
        r->peer = c->peer;
        r->peer_loopback = is_loopback(c->peer);
        r->tls = c->tls != NULL;
        c->state = CONN_BODY;
        c->owned = true;
        c->deadline = uv_now(c->srv->loop) + c->srv->lim.idle_timeout_ms;
        c->rate_t0 = uv_now(c->srv->loop);
        c->rate_b0 = c->bytes_in;
        if (r->content_length > 0 && (uint64_t)r->content_length > c->srv->lim.max_body) {
                c->owned = false;
                http_respond_error(c, 413, "body_too_large", "the request body is larger than this server accepts",
                                   "请求内容超过服务器允许的大小");
                return 0;
        }
        c->srv->h.on_request(c, r);
        return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
        http_conn *c = pconn(p);

        c->body_bytes += len;
        if (c->body_bytes > c->srv->lim.max_body) {
                if (c->owned && c->srv->h.on_abort) {
                        c->owned = false;
                        c->srv->h.on_abort(c);
                }
                if (!c->started) {
                        c->owned = false;
                        http_respond_error(c, 413, "body_too_large", "the request body is larger than this server accepts",
                                           "请求内容超过服务器允许的大小");
                }
                return -1;
        }
        if (c->owned && c->srv->h.on_body)
                c->srv->h.on_body(c, at, len);
        return 0;
}

static int on_message_complete(http_parser *p)
{
        http_conn *c = pconn(p);

        c->state = CONN_WAIT;
        http_parser_pause(p, 1);
        if (c->owned && c->srv->h.on_body_end)
                c->srv->h.on_body_end(c);
        return 0;
}

static const http_parser_settings settings = {
        .on_url = on_url,
        .on_header_field = on_hfield,
        .on_header_value = on_hvalue,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

static void keep_pending(http_conn *c, const char *data, size_t len)
{
        char *np;

        if (!len)
                return;
        if (c->npending + len > 4 * HTTP_MAX_HEAD) {
                /* a client that sends far ahead of the response: stop reading */
                uv_read_stop((uv_stream_t *)&c->tcp);
        }
        if (!(np = malloc(c->npending + len))) {
                conn_close(c);
                return;
        }
        if (c->pending) {
                memcpy(np, c->pending, c->npending);
                explicit_bzero(c->pending, c->npending);
                free(c->pending);
        }
        memcpy(np + c->npending, data, len);
        c->pending = np;
        c->npending += len;
}

static void conn_feed(http_conn *c, const char *data, size_t len)
{
        size_t n;
        enum http_errno e;

        if (c->closing)
                return;
        if (c->state == CONN_WAIT) {
                keep_pending(c, data, len);
                return;
        }
        c->in_feed = true;
        n = http_parser_execute(&c->parser, &settings, data, len);
        c->in_feed = false;
        if (c->closing)
                return;
        e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
                if (n < len)
                        keep_pending(c, data + n, len - n);
                if (c->resume) {
                        c->resume = false;
                        resume_next(c);
                }
                return;
        }
        if (e != HPE_OK) {
                if (c->started) {       /* e.g. a body over the limit, answered already */
                        conn_finish(c);
                        return;
                }
                if (c->owned && c->srv->h.on_abort) {
                        c->owned = false;
                        c->srv->h.on_abort(c);
                }
                c->owned = false;
                if (c->too_big)
                        http_respond_error(c, 431, "head_too_large", "the request's headers are too large",
                                           "请求头过大");
                else
                        http_respond_error(c, 400, "bad_request", "malformed HTTP request", "HTTP 请求格式错误");
        }
}

static void tls_plain(void *ud, const char *data, size_t len)
{
        conn_feed(ud, data, len);
}

void http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
        (void)h;
        (void)hint;
        buf->base = malloc(65536);
        buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        http_conn *c = s->data;

        if (nread < 0) {
                free(buf->base);
                if (c->state == CONN_WAIT && c->owned) {
                        /* half-close after a complete request: answer it,
                         * then close once the answer is sent */
                        c->peer_eof = true;
                        c->close_after = true;
                        uv_read_stop(s);
                        return;
                }
                if (c->tcp.write_queue_size)
                        conn_finish(c);         /* what is queued still goes out */
                else
                        conn_close(c);
                return;
        }
        if (nread > 0)
                c->bytes_in += (uint64_t)nread;
        if (nread > 0 && !c->closing) {
                /* the head's deadline is fixed when the request starts (a
                 * client trickling a byte at a time must not keep a slot);
                 * past the head, any progress moves the idle deadline */
                if (c->state == CONN_HEAD && !c->head_started) {
                        c->head_started = true;
                        c->deadline = uv_now(c->srv->loop) + c->srv->lim.head_timeout_ms;
                } else if (c->state != CONN_HEAD) {
                        c->deadline = uv_now(c->srv->loop) + c->srv->lim.idle_timeout_ms;
                }
                if (c->tls) {
                        if (tls_conn_input(c->tls, buf->base, (size_t)nread, tls_plain, c) < 0) {
                                free(buf->base);
                                conn_close(c);
                                return;
                        }
                        if (!c->closing)
                                flush_tls(c);
                } else {
                        conn_feed(c, buf->base, (size_t)nread);
                }
        }
        if (nread > 0)
                explicit_bzero(buf->base, (size_t)nread);
        free(buf->base);
}

void http_conn_pause(http_conn *c, bool pause)
{
        if (c->closing || c->paused == pause)
                return;
        c->paused = pause;
        if (pause) {
                uv_read_stop((uv_stream_t *)&c->tcp);
        } else {
                /* the wait was ours, not the client's: measure afresh */
                c->rate_t0 = uv_now(c->srv->loop);
                c->rate_b0 = c->bytes_in;
                if (c->state != CONN_WAIT)
                        uv_read_start((uv_stream_t *)&c->tcp, http_alloc, on_read);
        }
}

size_t http_conn_queued(http_conn *c)
{
        return c->tcp.write_queue_size;
}

/* A body trickling in below the server's minimum rate (a slow-loris
 * client holding a slot with a byte every half minute). Counted in bytes
 * off the wire: over TLS, a record's plaintext appears only once the
 * whole record (up to 16 KB) is in, which on a slow link can take longer
 * than the grace. */
static bool too_slow(const http_conn *c, uint64_t now)
{
        const struct http_limits *l = &c->srv->lim;
        uint64_t span = now - c->rate_t0;
        unsigned grace = l->rate_grace_ms ? l->rate_grace_ms : HTTP_RATE_GRACE_MS;

        return l->min_body_rate && c->state == CONN_BODY && !c->paused && span > grace &&
               (c->bytes_in - c->rate_b0) * 1000 < (uint64_t)l->min_body_rate * span;
}

const char *http_conn_closed_why(const http_conn *c)
{
        return c->why;
}

static void on_tick(uv_timer_t *t)
{
        http_conn *c = t->data;
        uint64_t now = uv_now(c->srv->loop);

        if (too_slow(c, now)) {
                c->why = "its body came slower than this server's least rate";
                conn_close(c);
                return;
        }
        if (now < c->deadline)
                return;
        if (c->state == CONN_HEAD && !c->owned) {
                if (c->headlen)
                        http_respond_error(c, 408, "timeout", "the request was not sent in time", "请求发送超时");
                else
                        conn_close(c);  /* an idle keep-alive connection */
                return;
        }
        c->why = "no progress either way for the idle timeout";
        conn_close(c);                  /* a stuck or slow peer */
}

/* ---- the listener --------------------------------------------------------------- */

/* The address part of "ip:port" or "[ip6]:port". */
static size_t peer_addr_len(const char *peer)
{
        const char *colon = strrchr(peer, ':');
        return colon ? (size_t)(colon - peer) : strlen(peer);
}

/* How many connections, c included, come from c's address. */
static unsigned same_peer(http_server *s, const http_conn *c)
{
        size_t n = peer_addr_len(c->peer);
        unsigned k = 0;

        for (const http_conn *x = s->conns; x; x = x->next)
                if (!x->closing && !x->refused && peer_addr_len(x->peer) == n && memcmp(x->peer, c->peer, n) == 0)
                        k++;
        return k;
}

/* Who goes first when room is made: a connection idle between requests
 * (or with no byte yet), then one still sending its head, then a body
 * being received (a push whose token was checked). */
static int evict_class(const http_conn *x)
{
        if (x->state == CONN_HEAD)
                return x->head_started ? 1 : 0;
        return 2;
}

/* Full: close a connection to give a newcomer its slot: of the first
 * class that has one, the slowest to arrive (bytes per second since it
 * opened, at least a second counted), the oldest of equals. A response
 * being written is never cut. */
static void make_room(http_server *s, const http_conn *newcomer)
{
        uint64_t now = uv_now(s->loop);
        http_conn *victim = NULL;
        uint64_t vrate = 0;
        int vclass = 3;

        for (http_conn *x = s->conns; x; x = x->next) {
                if (x == newcomer || x->closing || x->refused || x->state == CONN_WAIT || (x->owned && x->started))
                        continue;
                uint64_t age = now - x->opened < 1000 ? 1000 : now - x->opened;
                uint64_t rate = x->bytes_in * 1000 / age;
                int cls = evict_class(x);
                if (cls < vclass || (cls == vclass && (rate < vrate || (rate == vrate && x->opened < victim->opened)))) {
                        victim = x;
                        vrate = rate;
                        vclass = cls;
                }
        }
        if (victim) {
                victim->why = "closed to make room: the server was full and it was the slowest";
                conn_close(victim);     /* its handler hears of it (on_abort) */
        }
}

static void on_connection(uv_stream_t *server, int status)
{
        http_server *s = server->data;
        http_conn *c;
        struct sockaddr_storage sa;
        int salen = sizeof sa;

        if (status < 0 || !(c = calloc(1, sizeof *c)))
                return;
        c->srv = s;
        uv_tcp_init(s->loop, &c->tcp);
        uv_timer_init(s->loop, &c->timer);
        c->tcp.data = c->timer.data = c;
        c->next = s->conns;
        if (s->conns)
                s->conns->pprev = &c->next;
        c->pprev = &s->conns;
        s->conns = c;
        s->nconns++;
        if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
                conn_close(c);
                return;
        }
        uv_tcp_nodelay(&c->tcp, 1);
        strcpy(c->peer, "?");
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
                char ip[48] = "";
                if (sa.ss_family == AF_INET) {
                        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
                        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
                } else if (sa.ss_family == AF_INET6) {
                        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
                        snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
                }
        }
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        reset_request(c);
        if (s->tls && !(c->tls = tls_conn_new(s->tls))) {
                conn_close(c);
                return;
        }
        uv_timer_start(&c->timer, on_tick, 1000, 1000);
        c->opened = uv_now(s->loop);
        /* one address may not take every slot; when all are taken, the
         * slowest request in progress makes room */
        bool peer_full = s->lim.max_per_peer && same_peer(s, c) > s->lim.max_per_peer;
        if (!peer_full && s->nconns > s->lim.max_conns)
                make_room(s, c);
        if (peer_full || s->nconns > s->lim.max_conns) {
                /* a refused socket gives its slot back at once, not when its
                 * refusal has been sent: refusals met in the same turn of the
                 * loop must not keep the next newcomer out. At most as many
                 * refusals are written as there are slots; past that, closed. */
                c->refused = true;
                s->nconns--;
                s->nrefused++;
                static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                           "Connection: close\r\nContent-Length: 120\r\n\r\n";
                char body[121];
                snprintf(body, sizeof body, "%-119s\n",
                         "{\"error\":\"busy\",\"message\":{\"en\":\"too many connections; try again\",\"zh\":\"连接过多，请稍后再试\"}}");
                if (!c->tls && s->nrefused <= s->lim.max_conns) {
                        conn_send(c, busy, sizeof busy - 1);
                        conn_send(c, body, 120);
                        conn_finish(c);
                } else {
                        conn_close(c);
                }
                return;
        }
        uv_read_start((uv_stream_t *)&c->tcp, http_alloc, on_read);
}

static int parse_listen(const char *listen, struct sockaddr_storage *sa, char *err, size_t errlen)
{
        char host[128];
        const char *colon;
        long port;
        char *end;

        if (listen[0] == '[') {
                const char *rb = strchr(listen, ']');
                if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof host)
                        goto bad;
                memcpy(host, listen + 1, (size_t)(rb - listen - 1));
                host[rb - listen - 1] = '\0';
                colon = rb + 1;
        } else {
                colon = strrchr(listen, ':');
                if (!colon || (size_t)(colon - listen) >= sizeof host)
                        goto bad;
                memcpy(host, listen, (size_t)(colon - listen));
                host[colon - listen] = '\0';
        }
        port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535 || end == colon + 1)
                goto bad;
        if (strcmp(host, "localhost") == 0 || !host[0])
                strcpy(host, "127.0.0.1");
        if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0 && strchr(host, '.'))
                return 0;
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0)
                return 0;
bad:
        snprintf(err, errlen, "cannot listen on '%s': give HOST:PORT with a numeric address, e.g. 127.0.0.1:8443", listen);
        return UV_EINVAL;
}

static void free_server(uv_handle_t *h)
{
        free(h->data);
}

int http_server_start(uv_loop_t *loop, const char *listen, struct tls_ctx *tls, const struct http_limits *lim,
                      const struct http_handler *h, void *ud, http_server **ret, char *err, size_t errlen)
{
        struct sockaddr_storage sa;
        http_server *s;
        int r;

        memset(&sa, 0, sizeof sa);
        if ((r = parse_listen(listen, &sa, err, errlen)) < 0)
                return r;
        if (!(s = calloc(1, sizeof *s))) {
                snprintf(err, errlen, "out of memory");
                return UV_ENOMEM;
        }
        s->loop = loop;
        s->tls = tls;
        s->lim = *lim;
        s->h = *h;
        s->ud = ud;
        uv_tcp_init(loop, &s->tcp);
        s->tcp.data = s;
        if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0)) < 0 ||
            (r = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection)) < 0) {
                snprintf(err, errlen, "cannot listen on %s: %s", listen, uv_strerror(r));
                uv_close((uv_handle_t *)&s->tcp, free_server);
                return r;
        }
        *ret = s;
        return 0;
}

void http_server_stop(http_server *s)
{
        if (!s)
                return;
        s->stopping = true;
        while (s->conns)
                conn_close(s->conns);
        uv_close((uv_handle_t *)&s->tcp, free_server);
}

void *http_server_data(http_server *s)
{
        return s->ud;
}

int http_server_port(http_server *s)
{
        struct sockaddr_storage sa;
        int len = sizeof sa;

        if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&sa, &len) < 0)
                return -1;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&sa)->sin_port);
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
}

http_server *http_conn_server(http_conn *c)
{
        return c->srv;
}

void http_conn_set_data(http_conn *c, void *data)
{
        c->data = data;
}

void *http_conn_data(http_conn *c)
{
        return c->data;
}

const char *http_header_get(const struct http_request *r, const char *name)
{
        for (size_t i = 0; i < r->nhdr; i++)
                if (strcasecmp(r->hdr[i].name, name) == 0)
                        return r->hdr[i].value;
        return NULL;
}
