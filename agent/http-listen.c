/* The HTTP server's listener (see agent/http.c for a connection's
 * life): it accepts, names the peer, and shares the connection slots
 * fairly: one address may not take them all, and a full server makes
 * room by closing its slowest request in progress (make_room), or
 * refuses the newcomer with a 503. Also the server's start and stop. */
#include "agent/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http-int.h"
#include "agent/tls.h"

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
                http_conn_close(victim);     /* its handler hears of it (on_abort) */
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
                http_conn_close(c);
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
        http_conn_reset(c);
        if (s->tls && !(c->tls = tls_conn_new(s->tls))) {
                http_conn_close(c);
                return;
        }
        uv_timer_start(&c->timer, http_conn_tick, 1000, 1000);
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
                        http_conn_send(c, busy, sizeof busy - 1);
                        http_conn_send(c, body, 120);
                        http_conn_finish(c);
                } else {
                        http_conn_close(c);
                }
                return;
        }
        uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_conn_read);
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
                http_conn_close(s->conns);
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
