/* The HTTP/1.1 server of agent/: see http.h. One connection serves one
 * request at a time (keep-alive, no pipelining: bytes that arrive early
 * wait until the response ends). Parsing is libhttp-parser's; this file
 * owns the connection's life, the limits, TLS plumbing and back-pressure;
 * accepting connections and sharing their slots is http-listen.c's.
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
#include <strings.h>

#include "agent/http-int.h"
#include "agent/tls.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

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
                http_conn_close(c);
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
                http_conn_close(c);
                return;
        }
        w->buf = uv_buf_init(buf, (unsigned)len);
        w->req.data = c;
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written) < 0) {
                free(buf);
                free(w);
                http_conn_close(c);
        }
}

static void flush_tls(http_conn *c)
{
        size_t n;
        char *out;

        while ((out = tls_conn_take_output(c->tls, &n)))
                raw_send(c, out, n);
}

void http_conn_send(http_conn *c, const void *data, size_t len)
{
        char *copy;

        if (c->closing || !len)
                return;
        if (c->tls) {
                if (tls_conn_write(c->tls, data, len) < 0) {
                        http_conn_close(c);
                        return;
                }
                flush_tls(c);
                return;
        }
        if (!(copy = malloc(len))) {
                http_conn_close(c);
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

void http_conn_close(http_conn *c)
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
        http_conn_close(req->data);
}

/* Close once what is queued has been sent. */
void http_conn_finish(http_conn *c)
{
        if (c->closing || c->finishing)
                return;
        c->finishing = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->shutdown.data = c;
        if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
                http_conn_close(c);
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
        /* (a response may start before its request's body has all come:
         * git's receive-pack answers once it has read the pack, before
         * the chunked body's last chunk; http_respond_end then reads the
         * rest before the connection serves its next request) */
        if (!http_should_keep_alive(&c->parser) || c->peer_eof ||
            (c->state != CONN_WAIT && (status >= 300 || (c->req.content_length >= 0 &&
                                                         (uint64_t)c->req.content_length > c->body_bytes + HTTP_DRAIN_MAX))))
                c->close_after = true;     /* the client is done, or a refusal that need not read the rest */
        if (c->chunked)
                snprintf(tail, sizeof tail, "Transfer-Encoding: chunked\r\n");
        else
                snprintf(tail, sizeof tail, "Content-Length: %" PRId64 "\r\n", content_length);
        n = asprintf(&head, "HTTP/1.1 %d %s\r\n%s%s%s\r\n", status, http_status_text(status), headers ? headers : "",
                     tail, c->close_after ? "Connection: close\r\n" : "");
        if (n < 0) {
                http_conn_close(c);
                return;
        }
        http_conn_send(c, head, (size_t)n);
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
                        http_conn_close(c);
                        return;
                }
                n = snprintf(buf, 24, "%zx\r\n", len);
                memcpy(buf + n, data, len);
                memcpy(buf + n + len, "\r\n", 2);
                http_conn_send(c, buf, (size_t)n + len + 2);
                free(buf);
        } else {
                http_conn_send(c, data, len);
        }
}

void http_conn_reset(http_conn *c)
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

/* Serve the next request on this connection: what arrived early first. */
static void resume_next(http_conn *c)
{
        char *p = c->pending;
        size_t n = c->npending;

        http_conn_reset(c);
        http_parser_pause(&c->parser, 0);
        c->pending = NULL;
        c->npending = 0;
        if (!c->paused)
                uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_conn_read);
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
                http_conn_send(c, "0\r\n\r\n", 5);
        c->owned = false;
        c->data = NULL;
        if (c->close_after || c->srv->stopping) {
                http_conn_finish(c);
                return;
        }
        if (c->state != CONN_WAIT) {
                /* the body's rest is read and dropped (at most
                 * HTTP_DRAIN_MAX more bytes, within the idle and rate
                 * deadlines); on_message_complete then serves the next
                 * request */
                c->draining = true;
                c->drain_left = HTTP_DRAIN_MAX;
                http_conn_pause(c, false);
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
        if (c->draining) {
                /* a body that goes on long after its answer: close */
                if (len > c->drain_left)
                        return -1;
                c->drain_left -= len;
                return 0;
        }
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
        if (c->draining) {
                /* the answer went out before the body ended: now it has */
                c->draining = false;
                c->resume = true;       /* (always inside conn_feed) */
        }
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
                http_conn_close(c);
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
                        http_conn_finish(c);
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

void http_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
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
                        http_conn_finish(c);         /* what is queued still goes out */
                else
                        http_conn_close(c);
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
                                http_conn_close(c);
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
                        uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_conn_read);
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

void http_conn_tick(uv_timer_t *t)
{
        http_conn *c = t->data;
        uint64_t now = uv_now(c->srv->loop);

        if (too_slow(c, now)) {
                c->why = "its body came slower than this server's least rate";
                http_conn_close(c);
                return;
        }
        if (now < c->deadline)
                return;
        if (c->state == CONN_HEAD && !c->owned) {
                if (c->headlen)
                        http_respond_error(c, 408, "timeout", "the request was not sent in time", "请求发送超时");
                else
                        http_conn_close(c);  /* an idle keep-alive connection */
                return;
        }
        c->why = "no progress either way for the idle timeout";
        http_conn_close(c);                  /* a stuck or slow peer */
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
