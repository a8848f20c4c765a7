/* The station daemon's pieces (agent/serve*.c), private to them: the
 * station, one request, a child, and every function one file of the
 * daemon calls in another. The files: serve.c (a request's life, the
 * HTTP handler, the command, answers), serve-util.c (dates, query
 * parameters, path segments; the log is agent/log.c), serve-session.c
 * (sessions and sign-in), serve-child.c (children: a catalogue's check
 * and install, doctor, background sync),
 * serve-drafts.c, serve-apps.c (applications: reads, and writes through
 * the writer thread), serve-county.c (the catalogue, statistics,
 * stations), serve-route.c (routing). */
#ifndef DAIBAN_AGENT_SERVE_INT_H
#define DAIBAN_AGENT_SERVE_INT_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>
#include "agent/app.h"
#include "agent/cli.h"
#include "agent/core/core.h"
#include "agent/digest.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/refusal.h"
#include "agent/serve.h"
#include "agent/setup.h"
#include "agent/station.h"
#include "agent/throttle.h"
#include "agent/tls.h"
#include "agent/ui.h"
#include "agent/writer.h"
#include "forms/calendar.h"
#include "forms/pinyin.h"
#include "forms/validate.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

#define SESSION_IDLE_S   (12 * 3600)
#define SESSION_TOUCH_S  300            /* record use at most this often */
#define BODY_MAX         (1u << 20)
#define CATALOG_BODY_MAX (4u << 20)
#define MAX_CHILDREN     16
/* a write's child must end before the connection's idle limit (120 s),
 * so its answer always has a connection to go to */
#define CHILD_TIMEOUT_MS 60000
/* a sync moves scans piece by piece over slow links: it may run long */
#define SYNC_TIMEOUT_MS  (3600 * 1000)
#define BUFFERED_MAX     ((size_t)256 << 20)    /* all request bodies at once */
#define SIGNIN_BODY_MAX  4096
#define CHILD_OUT_MAX    (8u << 20)
#define SYNC_EVERY_S     300            /* --sync-every's default */
#define SYNC_FIRST_S     15
#define SYNC_MAX_S       1800
/* base64 SHA-256 of "window.print()", the receipt's print button
 * (agent/core/paper.c), for its CSP */
#define PRINT_HANDLER_SHA256 "MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU="

struct station {
        uv_loop_t *loop;
        http_server *srv;
        /* "daiban_<node>_<port>=": browsers share cookies across the
         * ports of a host, so two stations on one PC need two names */
        char cookie_name[64];
        size_t cookie_len;
        struct home h;
        char *home_dir;
        sqlite3 *db;                    /* station.db */
        char exe[4096];
        char *home_env;                 /* "DAIBAN_HOME=..." for children */
        bool tls;
        unsigned nchildren;
        uv_signal_t sigint, sigterm;
        uv_async_t stop_async;          /* a stop from another thread (daemon-stop.h) */
        /* background sync */
        uv_timer_t sync_timer;
        unsigned sync_every_s;
        bool syncing;
        unsigned failures;
        uint64_t next_sync;             /* uv_now ms */
        json_t *last_error;             /* {"en","zh"} or NULL */
        uv_timer_t refresh_timer;       /* a catalogue installed by the CLI */
        size_t buffered;                /* request bodies held, all requests */
        bool loopback;                  /* listening on loopback only */
        /* serve_test_*: no sockets, no children; the last answer kept */
        bool testing;
        int test_status;
        char *test_body;
        size_t test_len;
        struct throttle *thr;           /* sign-in failures (agent/throttle.h) */
        struct writer *w;               /* the writes' thread (agent/writer.h) */
};

struct req {
        struct station *st;
        http_conn *c;                   /* NULL once the connection went away */
        char method[8];
        char path[512];
        char query[1024];
        char cookie[256];               /* "<cookie_name>VALUE" only */
        char csrf[96];
        char origin[256];
        char host[256];
        char ctype[128];                /* Content-Type */
        char peer[64];
        char inm[96];                   /* If-None-Match */
        bool gzip, tls, head_only;
        unsigned pending;               /* child, work or timer outstanding */
        char *body;
        size_t len, cap, max;
        /* the session */
        bool signed_in;
        char op[64];
        char sess_csrf[80];
        char *tmps[4];                  /* files to remove when done */
        char *tmpdir;                   /* a folder of flat files, likewise */
        bool gated;                     /* session and CSRF checked already */
        /* a write waiting for its child */
        void (*after)(struct req *, int status, const char *out, json_t *errors);
        char key[128];                  /* what the write was about */
        json_t *ctx;                    /* the route's own data */
};

struct child {
        uv_process_t proc;
        uv_pipe_t out, err;
        uv_timer_t timer;
        struct req *r;                  /* NULL for the background sync */
        struct station *st;
        char *obuf, *ebuf;
        size_t olen, elen;
        int64_t status;
        int open;                       /* handles still open */
        void (*done)(struct child *);
};

/* Why the gate refused a request: its status, code and message. */
struct refusal {
        int status;
        const char *code, *en, *zh;
};

/* serve.c */
void req_done(struct req *r);
void respond(struct req *r, int status, const char *type, const char *extra, const void *body, size_t len);
void reply_json_h(struct req *r, int status, json_t *j, const char *extra);
void reply_json(struct req *r, int status, json_t *j);
void reply_error_x(struct req *r, int status, const char *code, const char *en, const char *zh, json_t *extra);
void reply_error(struct req *r, int status, const char *code, const char *en, const char *zh);
void bad_request(struct req *r, const char *en, const char *zh);
void not_found(struct req *r);

/* serve-util.c */
int32_t today(void);
int hexval(int ch);
const char *qparam(const struct req *r, const char *name, char *buf, size_t cap, bool *bad);
bool ident_ok(const char *s, size_t n);
const char *segment(const char *path, const char *prefix, char *seg, size_t cap);
json_t *body_json(struct req *r);
bool is_write(const struct req *r);
void random_hex(char *out, size_t nbytes);
void token_hash(const char *s, char out[65]);
const char *operator_name(struct station *st, const char *op, char *buf, size_t cap);

/* serve-child.c */
void reply_child_refused(struct req *r, int status, json_t *errs);
void run_write(struct req *r, const char *const *args, void (*after)(struct req *, int, const char *, json_t *));
const char *tmp_dir(struct station *st);
json_t *status_json(struct station *st);
void home_refresh(struct station *st);
void sync_start(struct station *st);
void sync_schedule(struct station *st, uint64_t delay_ms);
void refresh_tick(uv_timer_t *t);

/* serve-session.c */
int session_lookup(struct req *r);
int gate(struct req *r, struct refusal *f);
json_t *session_json(struct req *r);
void signin(struct req *r);
void signout(struct req *r);
void operators(struct req *r);

/* serve-apps.c */
void app_get(struct req *r, const char *id);
void paperwork(struct req *r, const char *id, bool receipt);
void draft_notice(struct req *r, const char *id);
void apps_list(struct req *r);
void conflicts(struct req *r);
void scan_get(struct req *r, const char *hex);
void app_create(struct req *r);
void app_log_route(struct req *r, const char *id);
void write_simple(struct req *r, const char *id, const char *what);
void scan_put(struct req *r, const char *id, const char *mat);
void sync_now(struct req *r);

/* serve-county.c */
void matters(struct req *r);
void form(struct req *r, const char *code);
void validate(struct req *r, const char *code);
void reasons(struct req *r);
void stats(struct req *r);
void stations(struct req *r);
void catalog_route(struct req *r, bool publish);

/* serve-drafts.c */
void drafts_list(struct req *r);
json_t *draft_load(struct req *r, const char *id);
void draft_get(struct req *r, const char *id);
void draft_put(struct req *r, const char *id);
void draft_delete_id(struct station *st, const char *op, const char *id);

/* serve-route.c */
bool path_suspicious(const char *p);
void dispatch(struct req *r);

#endif
