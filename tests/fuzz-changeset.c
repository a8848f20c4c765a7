/* libFuzzer target for the change-set reader: the input is split at the
 * first NUL byte into changeset.json and events.jsonl, and parsed as the
 * feed of a fixed writer and partition. Whatever is accepted must hold
 * only that writer's events of that partition in ascending order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/changeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *d = (const char *)data;
        const char *nul = memchr(d, '\0', size);
        struct changeset cs;
        char err[512];
        size_t hl = nul ? (size_t)(nul - d) : size;
        const char *ev = nul ? nul + 1 : "";
        size_t el = nul ? size - hl - 1 : 0;

        if (changeset_parse(d, hl, ev, el, "330225101201", "330225101201", 0, &cs, err, sizeof err) == 0) {
                for (size_t i = 0; i < cs.n; i++)
                        if (strcmp(cs.ev[i].node, cs.writer) != 0 || strcmp(cs.ev[i].part, cs.partition) != 0 ||
                            (i && cs.ev[i].seq <= cs.ev[i - 1].seq))
                                abort();
                changeset_free(&cs);
        } else if (!err[0]) {
                abort();
        }
        return 0;
}
