/* libFuzzer target for the request framing the hall and the station share
 * (agent/http.c on libhttp-parser): any bytes are sent on one loopback
 * connection to a server with small limits, then the write side is
 * closed. Nothing may crash, leak or hang, and whatever comes back is an
 * HTTP/1.1 response. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "agent/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t *loop;
static http_server *srv;
static int port;

static void on_request(http_conn *c, const struct http_request *req)
{
        if (!req->has_body)
                http_respond(c, 200, "text/plain", "ok", 2);
        else
                http_conn_set_data(c, (void *)1);
}

static void on_body_end(http_conn *c)
{
        if (http_conn_data(c))
                http_respond(c, 200, "text/plain", "ok", 2);
}

static void start_once(void)
{
        static const struct http_handler hh = { on_request, NULL, on_body_end, NULL, NULL };
        struct http_limits lim = { 16, 65536, 2000, 5000, .max_per_peer = 8 };
        char err[256];

        if (loop)
                return;
        loop = uv_default_loop();
        if (http_server_start(loop, "127.0.0.1:0", NULL, &lim, &hh, NULL, &srv, err, sizeof err) < 0) {
                fprintf(stderr, "fuzz-http: %s\n", err);
                abort();
        }
        port = http_server_port(srv);
}

/* The first bytes the server sent back on this connection. */
static char head[16];
static size_t hlen;

/* Turn the server's loop and read what it sends, until the server closed
 * the connection (until_eof) or nothing more is there now, or the turns
 * run out. */
static void pump(int fd, bool until_eof)
{
        char buf[4096];

        for (int turn = 0; turn < 4000; turn++) {
                uv_run(loop, UV_RUN_NOWAIT);
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) {
                        for (ssize_t i = 0; i < n && hlen < sizeof head - 1; i++)
                                head[hlen++] = buf[i];
                        continue;
                }
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        return;         /* closed */
                if (!until_eof)
                        return;
                usleep(50);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        size_t sent = 0;
        int fd;

        start_once();
        hlen = 0;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
                return 0;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
                close(fd);
                return 0;
        }
        for (int turn = 0; sent < size && turn < 4000; turn++) {
                uv_run(loop, UV_RUN_NOWAIT);
                ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0)
                        sent += (size_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
                        break;          /* the server closed it already */
                pump(fd, false);
        }
        shutdown(fd, SHUT_WR);
        pump(fd, true);
        close(fd);
        for (int i = 0; i < 20; i++)
                uv_run(loop, UV_RUN_NOWAIT);    /* the server sees the close */
        if (hlen >= 9 && memcmp(head, "HTTP/1.1 ", 9) != 0)
                abort();
        return 0;
}
