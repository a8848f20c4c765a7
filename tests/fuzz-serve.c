/* libFuzzer target for the station daemon's request handlers
 * (agent/serve.c): any bytes become one request, "METHOD PATH?QUERY"
 * on the first line and the body after it, sent with or without a
 * valid session cookie, CSRF token and origin (the first byte's bits),
 * to a village's or a county's station (a temporary home of the sample
 * catalogue, where the session's operator is registered). Every route
 * runs, the writes too: the writer runs them at once, through the core,
 * on the station's own home (agent/writer.h, inline). Nothing may
 * crash, leak or hang, and every answer of 400 or more is JSON with an
 * "error" code. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <uv.h>

#include "agent/core/core.h"
#include "agent/home.h"
#include "agent/serve.h"
#include "agent/station.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct station *st[2];
static const char token[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char csrf[] = "c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5";
static const char *const nodes[2] = { "330225101201", "330225" };

static char top[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(p);
}

static void cleanup(void)
{
        for (int i = 0; i < 2; i++)
                if (st[i])
                        serve_test_close(st[i]);
        /* both sync timers closed: what is left (a slowed sign-in's
         * answer) ends within seconds */
        uv_run(uv_default_loop(), UV_RUN_DEFAULT);
        if (top[0])
                nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
        char tmpl[] = "/tmp/daiban-fuzz-serve.XXXXXX", dir[4096], cat[4096], err[256], hash[65];
        const char *base = getenv("DAIBAN_TEST_DATA");
        static const char *const roles[2] = { "village", "county" };
        unsigned char h[32];

#ifdef TEST_DATA_DIR
        if (!base)
                base = TEST_DATA_DIR;
#endif
        snprintf(cat, sizeof cat, "%s/catalog-sample", base ? base : "tests/data");
        if (!mkdtemp(tmpl))
                abort();
        snprintf(top, sizeof top, "%s", tmpl);
        atexit(cleanup);
        setenv("DAIBAN_TODAY", "2026-11-24", 1);
        crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
        for (int i = 0; i < 32; i++)
                sprintf(hash + 2 * i, "%02x", h[i]);
        for (int i = 0; i < 2; i++) {
                sqlite3 *db;
                snprintf(dir, sizeof dir, "%s/%s", tmpl, roles[i]);
                if (home_init(dir, nodes[i], roles[i], cat, NULL) != 0 || station_open(dir, &db, err, sizeof err) < 0)
                        abort();
                /* the session's operator, so that writes get past who */
                struct home hm;
                struct core_ctx c;
                struct core_result res;
                core_result_init(&res);
                if (home_open(dir, &hm) != 0 || core_act(&c, &hm, NULL, NULL, 20416, &res) ||
                    core_operator_add(&c, "fz", "Fuzz", &res)) {
                        fprintf(stderr, "fuzz-serve: cannot add the operator: %s\n", res.en ? res.en : "?");
                        abort();
                }
                core_result_finish(&res);
                home_close(&hm);
                char sql[512];
                snprintf(sql, sizeof sql, "INSERT INTO sessions VALUES ('%s', 'fz', '%s', strftime('%%s','now'),"
                         " strftime('%%s','now') + 1000000)", hash, csrf);
                if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                        abort();
                sqlite3_close(db);
                st[i] = serve_test_open(dir);
                if (!st[i])
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char line[1600], method[16], path[1200], cookie[256];
        const char *query = "", *body;
        size_t n = 0;

        if (!st[0])
                setup();
        if (size < 2)
                return 0;
        unsigned flags = data[0];
        data++;
        size--;
        while (n < size && data[n] != '\n' && n < sizeof line - 1)
                n++;
        memcpy(line, data, n);
        line[n] = '\0';
        if (memchr(line, '\0', n))
                return 0;
        const char *body_at = (const char *)data + (n < size ? n + 1 : n);
        size_t blen = size - (size_t)(body_at - (const char *)data);
        if (sscanf(line, "%15s %1199s", method, path) != 2)
                return 0;
        char *q = strchr(path, '?');
        if (q) {
                *q = '\0';
                query = q + 1;
        }
        /* a sign-in costs an argon2id hash and a second's delay: the
         * route's parsing is covered by its refusals without a body */
        if (!strcmp(path, "/api/session") && !strcmp(method, "POST") && blen > 0)
                return 0;
        struct station *s = st[(flags >> 3) & 1];
        snprintf(cookie, sizeof cookie, "daiban_%s_0=%s.%s", nodes[(flags >> 3) & 1],
                 flags & 16 ? "330225101202" : nodes[(flags >> 3) & 1], token);
        int status = serve_test_request(s, method, path, query, flags & 1 ? cookie : "", flags & 2 ? csrf : "",
                                        flags & 4 ? "http://evil.example" : "", body_at, blen, &body);
        if (status < 100 || status > 599)
                abort();
        /* FUZZ_SERVE_TRACE=1: what each seed reached */
        if (getenv("FUZZ_SERVE_TRACE"))
                fprintf(stderr, "%s %s -> %d %.160s\n", method, path, status, body);
        if (status >= 400) {
                json_t *j = json_loads(body, 0, NULL);
                if (!json_is_string(json_object_get(j, "error")))
                        abort();
                json_decref(j);
        }
        return 0;
}
