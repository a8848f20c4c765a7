/* libgit2's TLS streams over OpenSSL, with a connection kept from one
 * step of a sync to the next. See connpool.h. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/tcp.h>    /* struct tcp_info with the delivery rate (glibc's lacks it) */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>

#include <git2.h>
#include <git2/sys/stream.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sync/connpool.h"
#include "sync/httpend.h"

#include <strings.h>
#include <time.h>

/* How long a kept connection's owed last chunk is waited for. */
#define LAST_CHUNK_WAIT_MS 3000

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Kept connections per host and port: a sync uses one at a time. */
#define KEEP_PER_PEER 2

/* One TLS connection. */
struct conn {
        struct conn *next;
        char peer[300];         /* "host:port" */
        int fd;
        SSL *ssl;
        unsigned char *der;     /* the server's certificate */
        int dlen;
        long verified;          /* X509_V_OK or why not */
        bool broken;            /* an I/O error: never kept */
        struct httpend rs;     /* the last response, as libgit2 read it */
};

/* A stream libgit2 holds: one connection while connected. */
struct pstream {
        git_stream parent;
        char *host, *port;
        struct conn *c;
        git_cert_x509 cert;
};

/* The last session of each peer, for resumption. */
struct session {
        struct session *next;
        char peer[300];
        SSL_SESSION *s;
};

static struct {
        pthread_mutex_t mu;
        SSL_CTX *ctx;
        struct conn *idle;      /* ready for the next step */
        struct conn *released;  /* closed by libgit2 during this step */
        struct session *sessions;
        long made, reused, resumed;
        uint64_t rate;          /* the last settled step's delivery rate, bytes/s (0: none) */
        int ex_peer;            /* SSL ex_data index: the conn's peer */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .ex_peer = -1 };

static void conn_free(struct conn *c)
{
        if (!c)
                return;
        if (c->ssl) {
                if (!c->broken)
                        SSL_shutdown(c->ssl);   /* (needs SIGPIPE ignored: agent/main.c) */
                ERR_clear_error();
                SSL_free(c->ssl);
        }
        if (c->fd >= 0)
                close(c->fd);
        OPENSSL_free(c->der);
        free(c);
}

static void ssl_error(const char *what)
{
        char buf[256] = "";
        unsigned long e = ERR_get_error();

        if (e)
                ERR_error_string_n(e, buf, sizeof buf);
        else if (errno == EINTR)
                snprintf(buf, sizeof buf, "interrupted");
        else if (errno)
                snprintf(buf, sizeof buf, "%s", strerror(errno));
        else
                snprintf(buf, sizeof buf, "the connection was closed");
        ERR_clear_error();
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s", what, buf);
        git_error_set_str(GIT_ERROR_SSL, msg);
}

/* OpenSSL hands over each session the server issues (TLS 1.3: after the
 * handshake); the newest per peer is kept. */
static int new_session(SSL *ssl, SSL_SESSION *s)
{
        const char *peer = SSL_get_ex_data(ssl, pool.ex_peer);
        struct session *e;

        if (!peer)
                return 0;
        pthread_mutex_lock(&pool.mu);
        for (e = pool.sessions; e && strcmp(e->peer, peer) != 0; e = e->next)
                ;
        if (!e && (e = calloc(1, sizeof *e))) {
                snprintf(e->peer, sizeof e->peer, "%s", peer);
                e->next = pool.sessions;
                pool.sessions = e;
        }
        if (e) {
                SSL_SESSION_free(e->s);
                e->s = s;
        }
        pthread_mutex_unlock(&pool.mu);
        return e ? 1 : 0;       /* 1: the reference is ours */
}

/* Read what a kept connection holds unread, without blocking longer
 * than wait_ms: the last chunk of its last response when libgit2 left it
 * (it may still be on its way: the server sends it once its git process
 * has exited), then nothing. False when it holds anything else, or was
 * closed: it is then not used. 1 alive, 0 not, -1 interrupted. */
static int conn_alive(struct conn *c, int wait_ms)
{
        bool last, alive = true, intr = false;
        char b[sizeof HTTPEND_LAST_CHUNK];
        size_t want = 0, got = 0;

        if (!httpend_ended(&c->rs, &last))
                return false;
        if (last)
                want = sizeof HTTPEND_LAST_CHUNK - 1;
        if (!want && SSL_pending(c->ssl) == 0 && poll(&(struct pollfd){ .fd = c->fd, .events = POLLIN }, 1, 0) == 0)
                return true;
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return false;
        uint64_t until = now_ms() + (uint64_t)wait_ms;
        for (;;) {
                /* one byte past what is wanted: more would be a stray */
                int n = SSL_read(c->ssl, b + got, (int)(want + 1 - got));
                if (n > 0) {
                        got += (size_t)n;
                        if (got > want) {
                                alive = false;
                                break;
                        }
                        continue;
                }
                if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) {
                        alive = false;  /* closed */
                        break;
                }
                if (got == want)
                        break;          /* all that was owed, and nothing more */
                uint64_t now = now_ms();
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int pr = now >= until ? 0 : poll(&p, 1, (int)(until - now));
                if (pr <= 0) {
                        intr = pr < 0 && errno == EINTR;        /* the silent-link watch */
                        alive = false;  /* it did not come */
                        break;
                }
        }
        if (alive && memcmp(b, HTTPEND_LAST_CHUNK, want) != 0)
                alive = false;
        ERR_clear_error();
        if (fcntl(c->fd, F_SETFL, fl) < 0)
                alive = false;
        return intr ? -1 : alive;
}

/* A connection to peer that ended its last response, kept by a step that
 * succeeded. (Not one this step's libgit2 closed: it closes between two
 * of its requests only a connection it would not reuse itself.) NULL,
 * or NULL with *ret_intr when the silent-link watch interrupted. */
static struct conn *take_kept(const char *peer, bool *ret_intr)
{
        for (;;) {
                struct conn *c = NULL;
                pthread_mutex_lock(&pool.mu);
                for (struct conn **pp = &pool.idle; *pp; pp = &(*pp)->next) {
                        if (strcmp((*pp)->peer, peer) == 0) {
                                c = *pp;
                                *pp = c->next;
                                c->next = NULL;
                                break;
                        }
                }
                pthread_mutex_unlock(&pool.mu);
                if (!c)
                        return NULL;
                int a = conn_alive(c, LAST_CHUNK_WAIT_MS);
                if (a < 0) {
                        conn_free(c);
                        *ret_intr = true;
                        return NULL;
                }
                if (a > 0) {
                        pthread_mutex_lock(&pool.mu);
                        pool.reused++;
                        pthread_mutex_unlock(&pool.mu);
                        httpend_begin(&c->rs);
                        return c;
                }
                conn_free(c);
        }
}

static int tcp_connect(const char *host, const char *port)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *a;
        int fd = -1, e;

        if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
                char msg[400];
                snprintf(msg, sizeof msg, "failed to resolve address for %s: %s", host, gai_strerror(e));
                git_error_set_str(GIT_ERROR_NET, msg);
                return -1;
        }
        for (a = res; a; a = a->ai_next) {
                if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol)) < 0)
                        continue;
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
                        break;
                e = errno;
                close(fd);
                fd = -1;
                errno = e;
                if (e == EINTR)
                        break;  /* the silent-link watch: give up */
        }
        freeaddrinfo(res);
        if (fd < 0) {
                char msg[400];
                snprintf(msg, sizeof msg, "failed to connect to %s: %s", host, strerror(errno));
                git_error_set_str(GIT_ERROR_NET, msg);
                return -1;
        }
        /* requests are written in pieces (head, then body): on a link
         * at hundreds of milliseconds, Nagle would hold each for a round
         * trip */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
}

static bool is_ip(const char *host)
{
        unsigned char buf[16];
        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static struct conn *conn_open(const char *host, const char *port, const char *peer)
{
        struct conn *c = calloc(1, sizeof *c);
        SSL_SESSION *s = NULL;

        if (!c) {
                git_error_set_oom();
                return NULL;
        }
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        httpend_begin(&c->rs);
        if ((c->fd = tcp_connect(host, port)) < 0) {
                free(c);
                return NULL;
        }
        if (!(c->ssl = SSL_new(pool.ctx)) || !SSL_set_fd(c->ssl, c->fd) ||
            !SSL_set_ex_data(c->ssl, pool.ex_peer, c->peer))
                goto fail;
        if (is_ip(host)) {
                if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host))
                        goto fail;
        } else if (!SSL_set_tlsext_host_name(c->ssl, host) || !SSL_set1_host(c->ssl, host)) {
                goto fail;
        }
        pthread_mutex_lock(&pool.mu);
        for (struct session *e = pool.sessions; e; e = e->next)
                if (strcmp(e->peer, peer) == 0 && e->s && SSL_SESSION_is_resumable(e->s))
                        s = e->s, SSL_SESSION_up_ref(s);
        pthread_mutex_unlock(&pool.mu);
        if (s) {
                SSL_set_session(c->ssl, s);
                SSL_SESSION_free(s);
        }
        ERR_clear_error();
        errno = 0;
        if (SSL_connect(c->ssl) != 1) {
                c->broken = true;
                ssl_error("TLS handshake failed");
                conn_free(c);
                return NULL;
        }
        X509 *x = SSL_get1_peer_certificate(c->ssl);
        c->verified = x ? SSL_get_verify_result(c->ssl) : X509_V_ERR_UNSPECIFIED;
        c->dlen = x ? i2d_X509(x, &c->der) : -1;
        X509_free(x);
        if (c->dlen <= 0) {
                git_error_set_str(GIT_ERROR_SSL, "the server did not provide a certificate");
                c->broken = true;
                conn_free(c);
                return NULL;
        }
        pthread_mutex_lock(&pool.mu);
        pool.made++;
        if (SSL_session_reused(c->ssl))
                pool.resumed++;
        pthread_mutex_unlock(&pool.mu);
        return c;
fail:
        ssl_error("cannot set up TLS");
        c->broken = true;
        conn_free(c);
        return NULL;
}

static int ps_connect(git_stream *stream)
{
        struct pstream *st = (struct pstream *)stream;
        char peer[300];

        snprintf(peer, sizeof peer, "%s:%s", st->host, st->port);
        bool intr = false;
        if (!st->c && !(st->c = take_kept(peer, &intr))) {
                if (intr) {
                        git_error_set_str(GIT_ERROR_NET, "failed to connect: interrupted");
                        return -1;
                }
                if (!(st->c = conn_open(st->host, st->port, peer)))
                        return -1;
        }
        if (st->c->verified != X509_V_OK) {
                /* libgit2 asks the certificate_check callback next: a pin
                 * may still accept it */
                char msg[400];
                snprintf(msg, sizeof msg, "the SSL certificate is invalid: %s",
                         X509_verify_cert_error_string(st->c->verified));
                git_error_set_str(GIT_ERROR_SSL, msg);
                return GIT_ECERTIFICATE;
        }
        return 0;
}

static int ps_certificate(git_cert **out, git_stream *stream)
{
        struct pstream *st = (struct pstream *)stream;

        if (!st->c) {
                git_error_set_str(GIT_ERROR_SSL, "not connected");
                return -1;
        }
        st->cert.parent.cert_type = GIT_CERT_X509;
        st->cert.data = st->c->der;
        st->cert.len = (size_t)st->c->dlen;
        *out = &st->cert.parent;
        return 0;
}

static int ps_set_proxy(git_stream *stream, const git_proxy_options *opts)
{
        (void)stream;
        (void)opts;
        git_error_set_str(GIT_ERROR_NET, "proxies are not supported");
        return -1;
}

static ssize_t ps_read(git_stream *stream, void *data, size_t len)
{
        struct pstream *st = (struct pstream *)stream;
        int n;

        if (!st->c)
                return -1;
        ERR_clear_error();
        errno = 0;
        n = SSL_read(st->c->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n > 0) {
                httpend_read(&st->c->rs, data, (size_t)n);
                return n;
        }
        if (SSL_get_error(st->c->ssl, n) == SSL_ERROR_ZERO_RETURN) {
                st->c->broken = true;   /* closed cleanly: not reusable */
                return 0;
        }
        /* (a blocking socket asks to retry only when interrupted: the
         * silent-link watch, which wants the step to fail) */
        st->c->broken = true;
        ssl_error("failed to read from the server");
        return -1;
}

static ssize_t ps_write(git_stream *stream, const char *data, size_t len, int flags)
{
        struct pstream *st = (struct pstream *)stream;
        size_t done = 0;

        (void)flags;
        if (!st->c)
                return -1;
        if (st->c->rs.reading)
                httpend_begin(&st->c->rs);     /* the next request */
        while (done < len) {
                size_t k = len - done > INT32_MAX ? INT32_MAX : len - done;
                ERR_clear_error();
                errno = 0;
                int n = SSL_write(st->c->ssl, data + done, (int)k);
                if (n <= 0) {
                        st->c->broken = true;
                        ssl_error("failed to write to the server");
                        return -1;
                }
                done += (size_t)n;
        }
        return (ssize_t)done;
}

/* libgit2 is done with the connection: one at a response's end waits
 * for connpool_settle (or serves this step's next request). */
static int ps_close(git_stream *stream)
{
        struct pstream *st = (struct pstream *)stream;
        struct conn *c = st->c;
        bool last;

        st->c = NULL;
        if (!c)
                return 0;
        if (c->broken || !httpend_ended(&c->rs, &last)) {
                conn_free(c);
                return 0;
        }
        pthread_mutex_lock(&pool.mu);
        c->next = pool.released;
        pool.released = c;
        pthread_mutex_unlock(&pool.mu);
        return 0;
}

static void ps_free(git_stream *stream)
{
        struct pstream *st = (struct pstream *)stream;

        if (st->c)
                ps_close(stream);
        free(st->host);
        free(st->port);
        free(st);
}

static int ps_init(git_stream **out, const char *host, const char *port)
{
        struct pstream *st = calloc(1, sizeof *st);

        if (!st || !(st->host = strdup(host)) || !(st->port = strdup(port ? port : "443"))) {
                if (st)
                        free(st->host);
                free(st);
                git_error_set_oom();
                return -1;
        }
        st->parent.version = GIT_STREAM_VERSION;
        st->parent.encrypted = 1;
        st->parent.proxy_support = 0;
        st->parent.connect = ps_connect;
        st->parent.certificate = ps_certificate;
        st->parent.set_proxy = ps_set_proxy;
        st->parent.read = ps_read;
        st->parent.write = ps_write;
        st->parent.close = ps_close;
        st->parent.free = ps_free;
        *out = &st->parent;
        return 0;
}

void connpool_settle(bool ok)
{
        struct conn *c, *next;

        pthread_mutex_lock(&pool.mu);
        c = pool.released;
        pool.released = NULL;
        pool.rate = 0;
        for (; c; c = next) {
                next = c->next;
                c->next = NULL;
                struct tcp_info ti;
                socklen_t tl = sizeof ti;
                memset(&ti, 0, sizeof ti);
                if (c->fd >= 0 && getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
                    tl >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof ti.tcpi_delivery_rate &&
                    ti.tcpi_delivery_rate > pool.rate)
                        pool.rate = ti.tcpi_delivery_rate;
                int kept = 0;
                for (struct conn *i = pool.idle; i; i = i->next)
                        kept += strcmp(i->peer, c->peer) == 0;
                if (ok && kept < KEEP_PER_PEER) {
                        c->next = pool.idle;
                        pool.idle = c;
                } else {
                        conn_free(c);
                }
        }
        pthread_mutex_unlock(&pool.mu);
}

int connpool_link_rate(uint64_t *ret_bytes_per_s)
{
        uint64_t r;

        pthread_mutex_lock(&pool.mu);
        r = pool.rate;
        pool.rate = 0;
        pthread_mutex_unlock(&pool.mu);
        if (!r)
                return -ENOENT;
        *ret_bytes_per_s = r;
        return 0;
}

void connpool_counts(long *ret_made, long *ret_reused, long *ret_resumed)
{
        pthread_mutex_lock(&pool.mu);
        *ret_made = pool.made;
        *ret_reused = pool.reused;
        *ret_resumed = pool.resumed;
        pthread_mutex_unlock(&pool.mu);
}

/* At exit: say goodbye on what is kept (the server then closes at once
 * instead of waiting out its idle limit). */
static void connpool_end(void)
{
        struct conn *c, *next;

        pthread_mutex_lock(&pool.mu);
        for (c = pool.idle; c; c = next) {
                next = c->next;
                conn_free(c);
        }
        pool.idle = NULL;
        for (c = pool.released; c; c = next) {
                next = c->next;
                conn_free(c);
        }
        pool.released = NULL;
        for (struct session *e = pool.sessions, *n; e; e = n) {
                n = e->next;
                SSL_SESSION_free(e->s);
                free(e);
        }
        pool.sessions = NULL;
        SSL_CTX_free(pool.ctx);
        pool.ctx = NULL;
        pthread_mutex_unlock(&pool.mu);
}

int connpool_install(void)
{
        static int done;
        static git_stream_registration reg = { GIT_STREAM_VERSION, ps_init, NULL };

        if (done)
                return done > 0 ? 0 : -EIO;
        done = -1;
        if (!(pool.ctx = SSL_CTX_new(TLS_client_method())))
                return -EIO;
        SSL_CTX_set_min_proto_version(pool.ctx, TLS1_2_VERSION);
        /* verified after the handshake (ps_connect), so that a pinned
         * certificate outside the system's authorities can be accepted */
        SSL_CTX_set_verify(pool.ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(pool.ctx, SSL_MODE_AUTO_RETRY);
        /* bytes count on a 2G link: no fake session id and
         * ChangeCipherSpec for middleboxes (TLS 1.3's compatibility mode),
         * and the key groups a hall offers (X25519 first: half P-256's) */
        SSL_CTX_clear_options(pool.ctx, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
        SSL_CTX_set1_groups_list(pool.ctx, "X25519:P-256:P-384");
        SSL_CTX_set_session_cache_mode(pool.ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(pool.ctx, new_session);
        if (SSL_CTX_set_default_verify_paths(pool.ctx) != 1 ||
            (pool.ex_peer = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0 ||
            git_stream_register(GIT_STREAM_TLS, &reg) < 0) {
                SSL_CTX_free(pool.ctx);
                pool.ctx = NULL;
                return -EIO;
        }
        atexit(connpool_end);
        done = 1;
        return 0;
}
