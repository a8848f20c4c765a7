/* Tests of sync/changeset.c: a built change set parses back to the same
 * events; every kind of malformed, dishonest or truncated set is
 * refused with a message; nothing is accepted halfway. */
#include <errno.h>
#include <stdlib.h>

#include "sync/changeset.h"
#include "sync/platform.h"
#include "tests/harness.h"

#define V "330225101201"
#define T "330225101"

static struct cs_event ev(const char *node, int64_t seq, const char *type, const char *part)
{
        struct cs_event e = { (char *)node, seq, (uint64_t)(1000 + seq) << 16, 1700000000000 + seq, (char *)"op01",
                              (char *)type, (char *)(V "-2"), (char *)part, (char *)"{\"material\":\"SFZ\"}" };
        return e;
}

static int build(struct cs_event *evs, size_t n, const char *writer, const char *part, char **h, size_t *hl,
                 char **e, size_t *el)
{
        struct changeset cs = { (char *)writer, (char *)part, 0, 0, evs, n };
        return changeset_build(&cs, h, hl, e, el);
}

static const char *parse(const char *h, const char *e, const char *writer, const char *part, int64_t after)
{
        static char err[512];
        struct changeset cs;

        err[0] = '\0';
        if (changeset_parse(h, strlen(h), e, strlen(e), writer, part, after, &cs, err, sizeof err) == 0) {
                changeset_free(&cs);
                return NULL;
        }
        return err;
}

TEST(round_trip)
{
        struct cs_event evs[3] = { ev(V, 2, "app.created", V), ev(V, 3, "app.material", V), ev(V, 7, "app.submitted", V) };
        struct changeset cs;
        char *h, *e, err[256];
        size_t hl, el;

        evs[0].body = (char *)"{\"b\":1,\"a\":\"李\"}";
        CHECK_INT(build(evs, 3, V, V, &h, &hl, &e, &el), ==, 0);
        CHECK(strstr(h, "\"version\":1"));
        CHECK(strstr(h, "\"first_seq\":2"));
        CHECK(strstr(h, "\"last_seq\":7"));
        CHECK_INT(changeset_parse(h, hl, e, el, V, V, 1, &cs, err, sizeof err), ==, 0);
        CHECK_INT(cs.n, ==, 3);
        CHECK_INT(cs.ev[2].seq, ==, 7);
        CHECK_INT(cs.ev[1].hlc, ==, (uint64_t)1003 << 16);
        CHECK_STR(cs.ev[0].body, "{\"a\":\"李\",\"b\":1}");   /* canonical: sorted keys */
        CHECK_STR(cs.ev[0].app, V "-2");
        changeset_free(&cs);
        /* already ingested up to 2: refused as a replay of old seqs */
        CHECK_INT(changeset_parse(h, hl, e, el, V, V, 2, &cs, err, sizeof err), ==, -EINVAL);
        CHECK(strstr(err, "do not fit"));
        free(h);
        free(e);
}

TEST(dishonest_and_malformed_sets_are_refused)
{
        struct cs_event good[2] = { ev(V, 1, "app.created", V), ev(V, 2, "app.material", V) };
        char *h, *e, *bad;
        size_t hl, el;
        const char *err;

        CHECK_INT(build(good, 2, V, V, &h, &hl, &e, &el), ==, 0);
        CHECK(parse(h, e, V, V, 0) == NULL);
        /* the ref says another writer or partition */
        CHECK((err = parse(h, e, T, V, 0)) && strstr(err, "claims writer"));
        CHECK((err = parse(h, e, V, "330225101202", 0)) && strstr(err, "claims writer"));
        /* truncated: the last line cut */
        bad = strndup(e, el - 5);
        CHECK((err = parse(h, bad, V, V, 0)) && strstr(err, "not terminated"));
        free(bad);
        /* a line missing */
        bad = strndup(e, (size_t)(strchr(e, '\n') - e + 1));
        CHECK((err = parse(h, bad, V, V, 0)) && strstr(err, "header announces"));
        free(bad);
        /* unknown version, foreign format, extra header field, garbage */
        CHECK((err = parse("{\"count\":2,\"first_seq\":1,\"format\":\"daiban-changeset\",\"last_seq\":2,\"partition\":\""
                           V "\",\"version\":2,\"writer\":\"" V "\"}", e, V, V, 0)) && strstr(err, "unsupported version"));
        CHECK((err = parse("{\"format\":\"other\"}", e, V, V, 0)) && strstr(err, "not a daiban change set"));
        CHECK((err = parse("{\"count\":2,\"first_seq\":1,\"format\":\"daiban-changeset\",\"last_seq\":2,\"partition\":\""
                           V "\",\"version\":1,\"writer\":\"" V "\",\"x\":1}", e, V, V, 0)) && strstr(err, "fields are"));
        CHECK((err = parse("not json", e, V, V, 0)) && strstr(err, "not a JSON object"));
        CHECK((err = parse(h, "{\"node\":1}\n{}\n", V, V, 0)) && strstr(err, "not an event"));
        free(h);
        free(e);

        /* an event by someone else in the writer's feed */
        struct cs_event other[2] = { ev(V, 1, "app.created", V), ev(T, 2, "app.reviewed", V) };
        CHECK_INT(build(other, 2, V, V, &h, &hl, &e, &el), ==, 0);
        CHECK((err = parse(h, e, V, V, 0)) && strstr(err, "may only carry its writer's events"));
        free(h);
        free(e);
        /* a village claiming county authority */
        struct cs_event decide[1] = { ev(V, 1, "app.decided", V) };
        CHECK_INT(build(decide, 1, V, V, &h, &hl, &e, &el), ==, 0);
        CHECK((err = parse(h, e, V, V, 0)) && strstr(err, "only a township or the county"));
        free(h);
        free(e);
        /* a township capturing in a village's partition */
        struct cs_event capture[1] = { ev(T, 1, "app.created", V) };
        CHECK_INT(build(capture, 1, T, V, &h, &hl, &e, &el), ==, 0);
        CHECK((err = parse(h, e, T, V, 0)) && strstr(err, "only station"));
        free(h);
        free(e);
        /* an event of another partition */
        struct cs_event part[1] = { ev(T, 1, "app.reviewed", "330225101202") };
        CHECK_INT(build(part, 1, T, V, &h, &hl, &e, &el), ==, 0);
        CHECK((err = parse(h, e, T, V, 0)) && strstr(err, "partition"));
        free(h);
        free(e);
        /* out of order seqs */
        struct cs_event order[2] = { ev(V, 5, "app.created", V), ev(V, 3, "app.material", V) };
        CHECK_INT(build(order, 2, V, V, &h, &hl, &e, &el), ==, 0);
        CHECK((err = parse(h, e, V, V, 0)));
        free(h);
        free(e);
}

TEST(limits)
{
        char *big = malloc(CHANGESET_MAX_BYTES + 2);
        const char *err;

        memset(big, ' ', CHANGESET_MAX_BYTES + 1);
        big[CHANGESET_MAX_BYTES + 1] = '\0';
        CHECK((err = parse("{}", big, V, V, 0)) && strstr(err, "larger than"));
        free(big);
}
