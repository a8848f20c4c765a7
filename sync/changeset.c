/* The change-set format. See changeset.h and docs/change-set.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/division.h"
#include "sync/changeset.h"

void changeset_free(struct changeset *cs)
{
        if (!cs)
                return;
        for (size_t i = 0; i < cs->n; i++) {
                free(cs->ev[i].node);
                free(cs->ev[i].operator);
                free(cs->ev[i].type);
                free(cs->ev[i].app);
                free(cs->ev[i].part);
                free(cs->ev[i].body);
        }
        free(cs->ev);
        free(cs->writer);
        free(cs->partition);
        memset(cs, 0, sizeof *cs);
}

/* Event types written only by the application's station, and only by an
 * office (township or county). */
static bool capture_type(const char *t)
{
        static const char *const v[] = { "app.created", "app.edited", "app.material", "app.submitted",
                                         "app.resubmitted", "app.delivered", "app.rated", "app.withdrawn", NULL };
        for (const char *const *p = v; *p; p++)
                if (strcmp(*p, t) == 0)
                        return true;
        return false;
}

static bool office_type(const char *t)
{
        return strcmp(t, "app.reviewed") == 0 || strcmp(t, "app.decided") == 0;
}

int changeset_build(const struct changeset *cs, char **ret_header, size_t *ret_hlen, char **ret_events,
                    size_t *ret_elen)
{
        json_t *h;
        char *header, *buf = NULL;
        size_t len = 0, cap = 0;

        if (!cs->n)
                return -EINVAL;
        h = json_pack("{s:s,s:i,s:s,s:s,s:I,s:I,s:I}", "format", CHANGESET_FORMAT, "version", CHANGESET_VERSION,
                      "writer", cs->writer, "partition", cs->partition, "first_seq", (json_int_t)cs->ev[0].seq,
                      "last_seq", (json_int_t)cs->ev[cs->n - 1].seq, "count", (json_int_t)cs->n);
        if (!h)
                return -ENOMEM;
        header = json_dumps(h, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(h);
        if (!header)
                return -ENOMEM;
        for (size_t i = 0; i < cs->n; i++) {
                const struct cs_event *e = &cs->ev[i];
                json_t *body = json_loads(e->body, 0, NULL);
                json_t *o = body ? json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:o}", "node", e->node, "seq",
                                              (json_int_t)e->seq, "hlc", (json_int_t)e->hlc, "wall",
                                              (json_int_t)e->wall_ms, "operator", e->operator, "type", e->type,
                                              "part", e->part, "body", body)
                                 : NULL;
                char *line;
                if (o && e->app)
                        json_object_set_new(o, "app", json_string(e->app));
                line = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
                json_decref(o);
                if (!line) {
                        free(buf);
                        free(header);
                        return -ENOMEM;
                }
                size_t l = strlen(line);
                if (len + l + 2 > cap) {
                        size_t nc = (len + l + 2) * 2;
                        char *nb = realloc(buf, nc);
                        if (!nb) {
                                free(line);
                                free(buf);
                                free(header);
                                return -ENOMEM;
                        }
                        buf = nb;
                        cap = nc;
                }
                memcpy(buf + len, line, l);
                len += l;
                buf[len++] = '\n';
                buf[len] = '\0';
                free(line);
        }
        *ret_header = header;
        *ret_hlen = strlen(header);
        *ret_events = buf;
        *ret_elen = len;
        return 0;
}

static int refuse(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static char *dupstr(json_t *o, const char *k)
{
        const char *s = json_string_value(json_object_get(o, k));
        return s ? strdup(s) : NULL;
}

/* An application's id is its origin's code and the seq of its creation:
 * "330225101201-17". Its origin is the partition it lives in. (A strict
 * form also keeps a sender's words out of the reasons a refusal gives.) */
static bool app_id_of(const char *app, const char *partition)
{
        size_t n = strlen(partition), digits;

        if (strncmp(app, partition, n) != 0 || app[n] != '-')
                return false;
        digits = strspn(app + n + 1, "0123456789");
        return digits >= 1 && digits <= 19 && app[n + 1 + digits] == '\0';
}

static bool has_int(json_t *o, const char *k, json_int_t min)
{
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) && json_integer_value(v) >= min;
}

int changeset_parse(const char *header, size_t hlen, const char *events, size_t elen, const char *writer,
                    const char *partition, int64_t after_seq, struct changeset *ret, char *err, size_t errlen)
{
        struct changeset cs = { 0 };
        json_error_t je;
        json_t *h;
        int64_t count, prev;
        size_t lineno = 0;
        const char *p, *end;
        int r = -EINVAL;

        if (hlen > CHANGESET_MAX_HEADER)
                return refuse(err, errlen, "changeset.json is larger than %u bytes", CHANGESET_MAX_HEADER);
        if (elen > CHANGESET_MAX_BYTES)
                return refuse(err, errlen, "events.jsonl is larger than %u bytes", CHANGESET_MAX_BYTES);
        h = json_loadb(header, hlen, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(h)) {
                json_decref(h);
                return refuse(err, errlen, "changeset.json is not a JSON object: %s", je.text);
        }
        if (!json_is_string(json_object_get(h, "format")) ||
            strcmp(json_string_value(json_object_get(h, "format")), CHANGESET_FORMAT) != 0) {
                r = refuse(err, errlen, "changeset.json: not a daiban change set (format)");
                goto out_h;
        }
        if (!json_is_integer(json_object_get(h, "version")) ||
            json_integer_value(json_object_get(h, "version")) != CHANGESET_VERSION) {
                r = refuse(err, errlen, "changeset.json: unsupported version (this daiban reads version %d; upgrade it)",
                           CHANGESET_VERSION);
                goto out_h;
        }
        if (json_object_size(h) != 7 || !has_int(h, "first_seq", 1) || !has_int(h, "last_seq", 1) ||
            !has_int(h, "count", 1) || !json_is_string(json_object_get(h, "writer")) ||
            !json_is_string(json_object_get(h, "partition"))) {
                r = refuse(err, errlen, "changeset.json: the fields are format, version, writer, partition, first_seq,"
                           " last_seq, count");
                goto out_h;
        }
        if (strcmp(json_string_value(json_object_get(h, "writer")), writer) != 0 ||
            strcmp(json_string_value(json_object_get(h, "partition")), partition) != 0) {
                r = refuse(err, errlen, "the change set claims writer %s, partition %s but sits on the feed of %s in %s",
                           json_string_value(json_object_get(h, "writer")),
                           json_string_value(json_object_get(h, "partition")), writer, partition);
                goto out_h;
        }
        count = json_integer_value(json_object_get(h, "count"));
        cs.first_seq = json_integer_value(json_object_get(h, "first_seq"));
        cs.last_seq = json_integer_value(json_object_get(h, "last_seq"));
        if (count > CHANGESET_MAX_EVENTS || cs.first_seq > cs.last_seq || cs.first_seq <= after_seq ||
            cs.last_seq - cs.first_seq + 1 < count) {
                r = refuse(err, errlen, "changeset.json: seq %lld..%lld, count %lld do not fit (after %lld, at most %d"
                           " events)", (long long)cs.first_seq, (long long)cs.last_seq, (long long)count,
                           (long long)after_seq, CHANGESET_MAX_EVENTS);
                goto out_h;
        }
        if (cs.last_seq > CHANGESET_MAX_SEQ) {
                r = refuse(err, errlen, "changeset.json: seq %lld is beyond the largest a writer can reach (%lld)",
                           (long long)cs.last_seq, (long long)CHANGESET_MAX_SEQ);
                goto out_h;
        }
        cs.writer = strdup(writer);
        cs.partition = strdup(partition);
        cs.ev = calloc((size_t)count, sizeof *cs.ev);
        if (!cs.writer || !cs.partition || !cs.ev) {
                r = -ENOMEM;
                goto out_h;
        }
        prev = after_seq;
        p = events;
        end = events + elen;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                json_t *o, *body;
                struct cs_event *e;

                lineno++;
                if (!nl) {
                        r = refuse(err, errlen, "events.jsonl:%zu: the last line is not terminated (truncated?)", lineno);
                        goto out;
                }
                if ((size_t)(nl - p) > CHANGESET_MAX_LINE) {
                        r = refuse(err, errlen, "events.jsonl:%zu: line longer than %u bytes", lineno, CHANGESET_MAX_LINE);
                        goto out;
                }
                if (cs.n == (size_t)count) {
                        r = refuse(err, errlen, "events.jsonl: more events than the %lld announced", (long long)count);
                        goto out;
                }
                o = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &je);
                p = nl + 1;
                body = json_object_get(o, "body");
                if (!json_is_object(o) || !json_is_string(json_object_get(o, "node")) || !has_int(o, "seq", 1) ||
                    !has_int(o, "hlc", 1) || !has_int(o, "wall", 0) || !json_is_string(json_object_get(o, "operator")) ||
                    !json_is_string(json_object_get(o, "type")) || !json_is_string(json_object_get(o, "part")) ||
                    !json_is_object(body) ||
                    (json_object_get(o, "app") && !json_is_string(json_object_get(o, "app"))) ||
                    json_object_size(o) != 8u + (json_object_get(o, "app") != NULL)) {
                        json_decref(o);
                        r = refuse(err, errlen, "events.jsonl:%zu: not an event (node, seq, hlc, wall, operator, type, app,"
                                   " part, body)", lineno);
                        goto out;
                }
                e = &cs.ev[cs.n];
                e->node = dupstr(o, "node");
                e->seq = json_integer_value(json_object_get(o, "seq"));
                e->hlc = (uint64_t)json_integer_value(json_object_get(o, "hlc"));
                e->wall_ms = json_integer_value(json_object_get(o, "wall"));
                e->operator = dupstr(o, "operator");
                e->type = dupstr(o, "type");
                e->app = dupstr(o, "app");
                e->part = dupstr(o, "part");
                e->body = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
                bool had_app = json_object_get(o, "app") != NULL;
                json_decref(o);
                cs.n++;
                if (!e->node || !e->operator || !e->type || !e->part || !e->body || (had_app && !e->app)) {
                        r = -ENOMEM;
                        goto out;
                }
                if (strcmp(e->node, writer) != 0) {
                        r = refuse(err, errlen, "events.jsonl:%zu: an event by %s in the feed of %s (a change set may"
                                   " only carry its writer's events)", lineno, e->node, writer);
                        goto out;
                }
                if (e->app && !app_id_of(e->app, partition)) {
                        r = refuse(err, errlen, "events.jsonl:%zu: the application id is not <partition>-<number>",
                                   lineno);
                        goto out;
                }
                if (strcmp(e->part, partition) != 0) {
                        r = refuse(err, errlen, "events.jsonl:%zu: an event of partition %s in the feed of partition %s",
                                   lineno, e->part, partition);
                        goto out;
                }
                if (e->seq <= prev || e->seq < cs.first_seq || e->seq > cs.last_seq) {
                        r = refuse(err, errlen, "events.jsonl:%zu: seq %lld out of order (after %lld, within %lld..%lld)",
                                   lineno, (long long)e->seq, (long long)prev, (long long)cs.first_seq,
                                   (long long)cs.last_seq);
                        goto out;
                }
                prev = e->seq;
                if (capture_type(e->type) && strcmp(e->node, partition) != 0) {
                        r = refuse(err, errlen, "events.jsonl:%zu: %s by %s, but only station %s captures in its"
                                   " partition", lineno, e->type, e->node, partition);
                        goto out;
                }
                if (office_type(e->type) && division_code_level(e->node) == 3) {
                        r = refuse(err, errlen, "events.jsonl:%zu: %s by village %s: only a township or the county"
                                   " reviews and decides", lineno, e->type, e->node);
                        goto out;
                }
                if (!e->app && strcmp(e->type, "operator.added") != 0) {
                        r = refuse(err, errlen, "events.jsonl:%zu: %s without an application", lineno, e->type);
                        goto out;
                }
        }
        if (cs.n != (size_t)count || cs.ev[0].seq != cs.first_seq || cs.ev[cs.n - 1].seq != cs.last_seq) {
                r = refuse(err, errlen, "events.jsonl: %zu events, seq %lld..%lld, but the header announces %lld, %lld..%lld",
                           cs.n, cs.n ? (long long)cs.ev[0].seq : 0LL, cs.n ? (long long)cs.ev[cs.n - 1].seq : 0LL,
                           (long long)count, (long long)cs.first_seq, (long long)cs.last_seq);
                goto out;
        }
        json_decref(h);
        *ret = cs;
        return 0;
out:
        changeset_free(&cs);
out_h:
        json_decref(h);
        return r;
}
