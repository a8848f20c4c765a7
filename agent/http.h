/* A small HTTP/1.1 server on libuv: connections, request parsing with
 * libhttp-parser (Debian's libhttp-parser-dev), optional TLS (agent/tls.c),
 * streamed request and response bodies with back-pressure, and the limits
 * every peer-controlled size and time needs. The hall's git front
 * (agent/hall.c) and the station daemon (agent/serve.c) sit on it.
 *
 * Why libhttp-parser and not h2o: it builds for Windows (mingw-w64) as
 * libuv does, and the village station will; see README "Dependencies". */
#ifndef DAIBAN_AGENT_HTTP_H
#define DAIBAN_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct tls_ctx;

#define HTTP_MAX_HEAD (16u * 1024u)     /* request line and headers */
#define HTTP_MAX_HEADERS 64

typedef struct http_server http_server;
typedef struct http_conn http_conn;

struct http_header {
        const char *name, *value;
};

/* One request as far as its headers (valid until the response ends). */
struct http_request {
        const char *method;             /* "GET", "POST", ... */
        const char *path;               /* the URL's path, not decoded */
        const char *query;              /* after '?', or "" */
        struct http_header hdr[HTTP_MAX_HEADERS];
        size_t nhdr;
        int64_t content_length;         /* -1 when absent (chunked or none) */
        bool has_body;
        const char *peer;               /* "addr:port" */
        bool peer_loopback;
        bool tls;
};

/* What the application does with requests. on_request is called when a
 * request's headers are complete: it answers at once (http_respond_*) or
 * later, after the body. on_body and on_body_end deliver the request body
 * (already de-chunked); on_abort tells that the connection went away while
 * the request was the handler's, after which the handler must not touch
 * the connection; on_drain that the response's send queue emptied. Any
 * of them but on_request may be NULL. */
struct http_handler {
        void (*on_request)(http_conn *c, const struct http_request *req);
        void (*on_body)(http_conn *c, const char *data, size_t len);
        void (*on_body_end)(http_conn *c);
        void (*on_abort)(http_conn *c);
        void (*on_drain)(http_conn *c);
};

struct http_limits {
        unsigned max_conns;             /* then the slowest request in progress makes room, or 503 */
        uint64_t max_body;              /* bytes; more gets 413 */
        unsigned head_timeout_ms;       /* to send the request's headers */
        unsigned idle_timeout_ms;       /* no progress either way */
        unsigned max_per_peer;          /* connections from one address (0: no cap) */
        unsigned min_body_rate;         /* bytes/s a body must average, on the wire, after the grace (0: none) */
        unsigned rate_grace_ms;         /* how long before min_body_rate counts (0: HTTP_RATE_GRACE_MS) */
};

/* How long a body may arrive below min_body_rate before it counts. */
#define HTTP_RATE_GRACE_MS 20000u

/* Listen on host:port ("127.0.0.1:8410", "[::1]:8410", "0.0.0.0:8443").
 * tls: serve HTTPS with it (owned by the caller), or NULL. ud is the
 * application's (http_server_data). Returns 0 or a negative libuv error,
 * with a message in err. */
int http_server_start(uv_loop_t *loop, const char *listen, struct tls_ctx *tls, const struct http_limits *lim,
                      const struct http_handler *h, void *ud, http_server **ret, char *err, size_t errlen);
/* Stop listening and close every connection (their on_abort runs). */
void http_server_stop(http_server *s);
void *http_server_data(http_server *s);
/* The port actually bound (for "HOST:0"). */
int http_server_port(http_server *s);

http_server *http_conn_server(http_conn *c);
void http_conn_set_data(http_conn *c, void *data);
void *http_conn_data(http_conn *c);
/* Stop or resume reading the request body (back-pressure). */
void http_conn_pause(http_conn *c, bool pause);
/* Bytes of the response queued but not yet sent. */
size_t http_conn_queued(http_conn *c);

/* In on_abort: why the server closed the connection (a phrase for a log
 * line), or NULL if the peer went away. */
const char *http_conn_closed_why(const http_conn *c);

/* Start a response. headers: extra header lines, each ending in "\r\n",
 * or NULL. content_length < 0: chunked. */
void http_respond_start(http_conn *c, int status, const char *headers, int64_t content_length);
void http_respond_write(http_conn *c, const void *data, size_t len);
/* The response is complete; the connection serves its next request or
 * closes. The handler's data is cleared. */
void http_respond_end(http_conn *c);
/* A whole response. */
void http_respond(http_conn *c, int status, const char *content_type, const char *body, size_t len);
/* A JSON error {"error":code,"message":{"en":..,"zh":..}} and close. */
void http_respond_error(http_conn *c, int status, const char *code, const char *en, const char *zh);

/* A libuv read buffer (64 KiB, malloc'ed; the read callback frees it),
 * for the server's sockets and for the pipes of what it runs. */
void http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* The value of a request header (case-insensitive name), or NULL. */
const char *http_header_get(const struct http_request *r, const char *name);
const char *http_status_text(int status);

#endif
