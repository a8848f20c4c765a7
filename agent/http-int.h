/* The HTTP server's own files (agent/http.c: a connection's requests
 * and responses; agent/http-listen.c: the listener): the server and a
 * connection, and what the listener calls of a connection. Private to
 * them; the API is agent/http.h. */
#ifndef DAIBAN_AGENT_HTTP_INT_H
#define DAIBAN_AGENT_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <http_parser.h>

#include "agent/http.h"

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

/* A response that ends before its request's body keeps the connection
 * if no more than this much of the body is still to come. */
#define HTTP_DRAIN_MAX (64u * 1024u)

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
        bool draining;          /* the response ended before its request's body */
        uint64_t drain_left;    /* bytes of that body still taken before closing */
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

/* ---- http.c: a connection ------------------------------------------------------- */

/* Close now (the handler hears on_abort if it owns a request); the
 * connection is freed when its handles have closed. */
void http_conn_close(http_conn *c);
/* Queue bytes to the peer (through TLS when the connection has it). */
void http_conn_send(http_conn *c, const void *data, size_t len);
/* Close once what was queued has been written. */
void http_conn_finish(http_conn *c);
/* Ready the connection for its next request's head. */
void http_conn_reset(http_conn *c);
/* The connection's read callback (uv_read_start) and its timer's, once
 * a second: the deadlines and the least body rate. */
void http_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
void http_conn_tick(uv_timer_t *t);

#endif
