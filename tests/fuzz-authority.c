/* libFuzzer target for the ingest's authority check (agent/authority.c):
 * any bytes are read as one received event (a line of events.jsonl);
 * when they parse, its body is checked as an app.created against the
 * sample catalogue, as the receiver of a feed checks it. Nothing may
 * crash, leak or hang, and a verdict must be 0, -EPERM or -EAGAIN with a
 * reason. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/authority.h"
#include "sync/changeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct home h;
static char version[41] = "0123456789abcdef0123456789abcdef01234567";

static void load_once(void)
{
        char dir[4096];
        const char *base = getenv("DAIBAN_TEST_DATA");

#ifdef TEST_DATA_DIR
        if (!base)
                base = TEST_DATA_DIR;
#endif
        snprintf(dir, sizeof dir, "%s/catalog-sample", base ? base : "tests/data");
        if (catalog_load(dir, &h.cat) < 0 || catalog_nerrors(h.cat))
                abort();
        h.catalog_version = version;
        h.dir = (char *)"/nonexistent/daiban-fuzz-home";     /* no other version is held */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *o, *body;
        char err[512] = "";

        if (!h.cat)
                load_once();
        o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o))
                goto out;
        body = json_object_get(o, "body");
        const char *node = json_string_value(json_object_get(o, "node"));
        const char *app = json_string_value(json_object_get(o, "app"));
        const char *type = json_string_value(json_object_get(o, "type"));
        char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        struct cs_event e = { .node = (char *)(node ? node : "330225101201"), .seq = 1, .hlc = 1,
                              .operator = (char *)"op01", .type = (char *)(type ? type : "app.created"),
                              .app = (char *)(app ? app : "330225101201-1"), .part = (char *)"330225101201",
                              .body = text ? text : (char *)"{}" };
        int r = authority_admit(&h, &e, err, sizeof err);
        if (r != 0 && r != -EPERM && r != -EAGAIN)
                abort();
        if (r != 0 && !err[0])
                abort();                /* a refusal always says why */
        free(text);
out:
        json_decref(o);
        return 0;
}
