/* What supervision is told of a home: the hall's refusals noted in
 * HOME/hall/refused.jsonl and the equivocations this node holds
 * evidence of, as alarms. See home.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "agent/cli.h"
#include "agent/home.h"
#include "agent/home-int.h"
#include "agent/core/result.h"
#include "forms/division.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/scan.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

static void note_line(const char *path, json_int_t at, const char *node, const char *ref, const char *msg,
                      const char *by)
{
        char why[1024], where[512];
        struct stat sb;
        int fd;

        snprintf(why, sizeof why, "%s", msg);
        snprintf(where, sizeof where, "%s", ref);
        /* a sender's words, shown on the county's screens: no controls
         * (C0, DEL, C1), and valid UTF-8 (a cut may split a character) */
        cli_unctrl(why);
        cli_unctrl(where);
        json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s?}", "at", at, "node", node, "ref", where, "why", why, "by", by);
        if (!j) {
                for (unsigned char *p = (unsigned char *)why; *p; p++)
                        if (*p >= 0x80)
                                *p = '?';
                for (unsigned char *p = (unsigned char *)where; *p; p++)
                        if (*p >= 0x80)
                                *p = '?';
                j = json_pack("{s:I,s:s,s:s,s:s,s:s?}", "at", at, "node", node, "ref", where, "why", why, "by", by);
        }
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line)
                return;
        if (stat(path, &sb) == 0 && sb.st_size > 4 * 1024 * 1024) {
                char old[4096 + 8];
                snprintf(old, sizeof old, "%s.1", path);
                rename(path, old);      /* one generation kept */
        }
        if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
                size_t n = strlen(line);
                line[n] = '\n';         /* over the NUL: one write, one line */
                if (write(fd, line, n + 1) < 0) {
                        /* best effort: the pusher and the log were told */
                }
                close(fd);
        }
        free(line);
}

void home_refusal_note(const char *path, const char *node, const char *msg)
{
        const char *colon = strncmp(msg, "refs/", 5) == 0 ? strstr(msg, ": ") : NULL;
        char ref[512] = "";

        if (colon && (size_t)(colon - msg) < sizeof ref) {
                memcpy(ref, msg, (size_t)(colon - msg));
                ref[colon - msg] = '\0';
                msg = colon + 2;
        }
        note_line(path, (json_int_t)time(NULL), node, ref, msg, NULL);
}

bool home_refusal_note_reported(const char *path, const char *by, const char *text)
{
        json_t *j = json_loads(text, 0, NULL);
        const char *node = json_string_value(json_object_get(j, "node"));
        const char *ref = json_string_value(json_object_get(j, "ref"));
        const char *why = json_string_value(json_object_get(j, "why"));
        json_t *at = json_object_get(j, "at");
        bool ok = node && why && json_is_integer(at) && strlen(node) <= 12 && division_code_valid(node) &&
                  feed_entitled(by, node) && strcmp(node, by) != 0;
        /* a node reports refusals of what came from below it, nothing else */
        /* the hall's own time: a reporter's clock cannot keep its lines
         * at the top of the county's alarms */
        if (ok)
                note_line(path, (json_int_t)time(NULL), node, ref ? ref : "", why, by);
        json_decref(j);
        return ok;
}

/* Refusals that say nothing against the sender: a race with another
 * push, a catalogue version still on its way. */
static bool refusal_benign(const char *why)
{
        return strstr(why, "not a fast-forward") || strstr(why, "has not reached this node yet");
}

/* The hall's refusals of the last 30 days, one alarm per sender and
 * reason (with a count), the 10 most recent. */
static void refusal_alarms(const struct home *h, json_t *arr)
{
        char path[4096];
        FILE *f;
        json_t *agg = json_array();
        time_t since = time(NULL) - 30 * 24 * 3600;

        snprintf(path, sizeof path, "%s/" HOME_REFUSALS, h->dir);
        if (!(f = fopen(path, "r"))) {
                json_decref(agg);
                return;
        }
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > 512 * 1024) {
                fseek(f, -512 * 1024, SEEK_END);
                int c;
                while ((c = fgetc(f)) != EOF && c != '\n')
                        ;       /* from the next whole line */
        } else {
                fseek(f, 0, SEEK_SET);
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                json_t *j = json_loads(line, 0, NULL);
                const char *node = json_string_value(json_object_get(j, "node"));
                const char *why = json_string_value(json_object_get(j, "why"));
                const char *by = json_string_value(json_object_get(j, "by"));
                json_int_t at = json_integer_value(json_object_get(j, "at"));
                if (node && why && at >= since && !refusal_benign(why)) {
                        json_t *hit = NULL;
                        size_t i;
                        json_t *x;
                        /* the hall's own refusals one alarm per sender and
                         * reason; a reporter's, one per reporter and sender
                         * (the latest reason shown): its distinct lines
                         * cannot bury the county's own */
                        bool reported = by && *by;
                        json_array_foreach(agg, i, x)
                                if (!strcmp(json_string_value(json_object_get(x, "node")), node) &&
                                    (reported || !strcmp(json_string_value(json_object_get(x, "why")), why)) &&
                                    !strcmp(json_string_value(json_object_get(x, "by")), by ? by : ""))
                                        hit = x;
                        if (hit) {
                                json_object_set_new(hit, "count",
                                                    json_integer(json_integer_value(json_object_get(hit, "count")) + 1));
                                json_object_set(hit, "at", json_object_get(j, "at"));
                                json_object_set(hit, "ref", json_object_get(j, "ref"));
                                json_object_set_new(hit, "why", json_string(why));
                        } else if (json_array_size(agg) < 1000) {
                                json_array_append_new(agg, json_pack("{s:s,s:O,s:s,s:O,s:i,s:s}", "node", node, "ref",
                                                                     json_object_get(j, "ref"), "why", why, "at",
                                                                     json_object_get(j, "at"), "count", 1, "by",
                                                                     by ? by : ""));
                        }
                }
                json_decref(j);
        }
        free(line);
        fclose(f);
        /* the most recent first, ten at most */
        for (int k = 0; k < 10 && json_array_size(agg); k++) {
                size_t best = 0, i;
                json_t *x;
                json_array_foreach(agg, i, x)
                        if (json_integer_value(json_object_get(x, "at")) >
                            json_integer_value(json_object_get(json_array_get(agg, best), "at")))
                                best = i;
                x = json_incref(json_array_get(agg, best));
                json_array_remove(agg, best);
                char en[1024], zh[1024];
                const char *node = json_string_value(json_object_get(x, "node"));
                const char *ref = json_string_value(json_object_get(x, "ref"));
                const char *why = json_string_value(json_object_get(x, "why"));
                long long n = json_integer_value(json_object_get(x, "count"));
                const char *by = json_string_value(json_object_get(x, "by"));
                if (by && *by) {
                        snprintf(en, sizeof en, "%s refused %s from %s on a USB stick (%lld time%s in 30 days%s): %s",
                                 by, *ref ? ref : "data", node, n, n == 1 ? "" : "s", n == 1 ? "" : "; the latest shown",
                                 why);
                        snprintf(zh, sizeof zh, "%s 在导入U盘数据时拒收了 %s 的 %s（30 天内 %lld 次%s）。原因（英文）：%s", by,
                                 node, *ref ? ref : "数据", n, n == 1 ? "" : "，显示最近一次", why);
                } else {
                        snprintf(en, sizeof en, "the hall refused %s from %s (%lld time%s in 30 days): %s",
                                 *ref ? ref : "a push", node, n, n == 1 ? "" : "s", why);
                        snprintf(zh, sizeof zh, "县级服务端拒收了 %s 推送的 %s（30 天内 %lld 次）。原因（英文）：%s", node,
                                 *ref ? ref : "数据", n, why);
                }
                json_object_set_new(x, "kind", json_string("refused"));
                json_object_set_new(x, "en", json_string(en));
                json_object_set_new(x, "zh", json_string(zh));
                json_array_append_new(arr, x);
        }
        json_decref(agg);
}

json_t *home_alarms(const struct home *h)
{
        json_t *arr = json_array();
        git_repository *repo = NULL;
        struct feed_evidence *ev = NULL;
        size_t n = 0;
        char path[4096];

        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(&repo, path) == 0 && feed_evidence_list(repo, &ev, &n) == 0) {
                for (size_t i = 0; i < n; i++) {
                        char held[GIT_OID_HEXSZ + 1], other[GIT_OID_HEXSZ + 1], en[768], zh[768];
                        git_oid_tostr(held, sizeof held, &ev[i].held);
                        git_oid_tostr(other, sizeof other, &ev[i].other);
                        snprintf(en, sizeof en, "%s signed two different histories of its feed in partition %s (seq %"
                                 PRId64 "..%" PRId64 "): a PC restored from an old backup, or its key copied. Call the"
                                 " station; the county revokes the key from seq %" PRId64 " and enrolls a new one."
                                 " Both signed histories are kept as evidence.", ev[i].writer, ev[i].part,
                                 ev[i].from_seq, ev[i].to_seq, ev[i].from_seq);
                        snprintf(zh, sizeof zh, "%s 在分区 %s 对同一序号（%" PRId64 "–%" PRId64 "）签署了两份不同的记录：可能是"
                                 "电脑从旧备份恢复，或密钥被复制。请联系该站点；县里应自序号 %" PRId64 " 起吊销其密钥并登记新密钥。"
                                 "两份签名记录均已留存为证据。", ev[i].writer, ev[i].part, ev[i].from_seq, ev[i].to_seq,
                                 ev[i].from_seq);
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s}", "kind",
                                                             "equivocation", "writer", ev[i].writer, "partition",
                                                             ev[i].part, "from_seq", (json_int_t)ev[i].from_seq,
                                                             "to_seq", (json_int_t)ev[i].to_seq, "held", held, "other",
                                                             other, "en", en, "zh", zh));
                }
        }
        free(ev);
        git_repository_free(repo);
        git_libgit2_shutdown();
        if (strcmp(h->role, "county") == 0)
                refusal_alarms(h, arr);
        return arr;
}
