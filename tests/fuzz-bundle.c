/* libFuzzer target for the USB bundle reader's header: any bytes as a
 * bundle file. What is accepted must be a list of refs a stick may carry
 * (feeds, scan chains, the county's catalogue chain and key roster:
 * docs/sync.md) with
 * valid ids, and a pack offset inside the input that starts with "PACK". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/bundle.h"
#include "sync/refs.h"

static int may_carry(const char *name)
{
        char part[32], writer[32];
        const char *county = name + strlen(CATFEED_PREFIX);

        if (strncmp(name, FEED_PREFIX, strlen(FEED_PREFIX)) == 0)
                return feed_parse_ref(name, part, sizeof part, writer, sizeof writer);
        if (strncmp(name, SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0)
                return scan_parse_ref(name, part, sizeof part, writer, sizeof writer);
        if (strncmp(name, ROSTER_PREFIX, strlen(ROSTER_PREFIX)) == 0)      /* the county's key roster */
                return strlen(name + strlen(ROSTER_PREFIX)) == 6 &&
                       strspn(name + strlen(ROSTER_PREFIX), "0123456789") == 6;
        return strncmp(name, CATFEED_PREFIX, strlen(CATFEED_PREFIX)) == 0 && strlen(county) == 6 &&
               strspn(county, "0123456789") == 6;
}

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
                        if (!may_carry(names[i]))
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
