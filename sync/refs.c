/* Ref names and who may hold what: the names of feeds, scan chains, the
 * catalogue's and the roster's chains and the evidence kept of an
 * equivocation, and the rule, from division codes, of which partitions
 * a node may hold and write. The base every feed file stands on; it
 * calls nothing else in sync/. See refs.h. */
#include <stdio.h>
#include <string.h>

#include <git2.h>

#include "forms/division.h"
#include "sync/refs.h"

bool feed_entitled(const char *self, const char *partition)
{
        /* a township's villages and a county's everything share its code
         * as a prefix; a village holds only itself */
        return division_code_within(partition, self);
}

bool feed_split_ref(const char *ref, const char *prefix, const char *incoming, char *partition, size_t plen,
                    char *writer, size_t wlen)
{
        const char *p, *slash;

        if (strncmp(ref, prefix, strlen(prefix)) == 0)
                p = ref + strlen(prefix);
        else if (strncmp(ref, incoming, strlen(incoming)) == 0)
                p = ref + strlen(incoming);
        else
                return false;
        slash = strchr(p, '/');
        if (!slash || (size_t)(slash - p) >= plen || strlen(slash + 1) >= wlen || strchr(slash + 1, '/'))
                return false;
        memcpy(partition, p, (size_t)(slash - p));
        partition[slash - p] = '\0';
        strcpy(writer, slash + 1);
        return division_code_valid(partition) && division_code_valid(writer);
}

bool feed_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen)
{
        return feed_split_ref(ref, FEED_PREFIX, FEED_INCOMING, partition, plen, writer, wlen);
}

bool feed_may_write(const char *pusher, const char *part, const char *writer)
{
        /* a partition under the pusher, written by the pusher itself or
         * relayed for a node under it (a township's villages) */
        return division_code_valid(pusher) && feed_entitled(pusher, part) &&
               (strcmp(writer, pusher) == 0 || feed_entitled(pusher, writer));
}

bool feed_parse_evidence(const char *ref, char *part, size_t plen, char *writer, size_t wlen, git_oid *head,
                         char *feed, size_t flen)
{
        const char *rest = ref + strlen(FEED_EVIDENCE), *slash = strrchr(ref, '/');
        char f[160];

        if (strncmp(ref, FEED_EVIDENCE, strlen(FEED_EVIDENCE)) != 0 || !slash || slash < rest ||
            strlen(slash + 1) != GIT_OID_HEXSZ || strspn(slash + 1, "0123456789abcdef") != GIT_OID_HEXSZ ||
            (size_t)(slash - rest) + strlen(FEED_PREFIX) >= sizeof f)
                return false;
        snprintf(f, sizeof f, FEED_PREFIX "%.*s", (int)(slash - rest), rest);
        if (!feed_parse_ref(f, part, plen, writer, wlen) || git_oid_fromstr(head, slash + 1) < 0)
                return false;
        snprintf(feed, flen, "%s", f);
        return true;
}

bool scan_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen)
{
        return feed_split_ref(ref, SCAN_PREFIX, SCAN_INCOMING, partition, plen, writer, wlen);
}

void catfeed_county(const char *node, char county[7])
{
        division_county(node, county);
}

