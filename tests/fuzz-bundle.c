/* libFuzzer target for the USB bundle reader's header: any bytes as a
 * bundle file. What is accepted must be a list of feed refs with valid
 * ids, and a pack offset inside the input that starts with "PACK". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char **names = NULL, err[256];
        git_oid *ids = NULL;
        size_t n = 0, off = 0;

        if (feed_bundle_parse_header((const char *)data, size, &names, &ids, &n, &off, err, sizeof err) == 0) {
                if (off + 4 > size || memcmp(data + off, "PACK", 4) != 0)
                        abort();
                for (size_t i = 0; i < n; i++) {
                        if (strncmp(names[i], FEED_PREFIX, strlen(FEED_PREFIX)) != 0)
                                abort();
                        free(names[i]);
                }
                free(names);
                free(ids);
        } else if (!err[0]) {
                abort();
        }
        return 0;
}
