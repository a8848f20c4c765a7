/* The county's key roster in memory: what it says of a node, the nodes
 * of a roster read at a verified tip read on first use. Its files are
 * rosterfile.c, its chain rosterchain.c. See roster.h and docs/roster.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/roster-int.h"

void roster_lazy_free(struct roster_lazy *lz)
{
        if (!lz)
                return;
        free(lz->got.e);
        free(lz->seen);
        free(lz);
}

void roster_free(struct roster *ro)
{
        free(ro->e);
        roster_lazy_free(ro->lazy);
        memset(ro, 0, sizeof *ro);
}

/* A lazy roster reads node's file the first time node is asked for. A
 * file that cannot be read leaves node without entries, so its change
 * sets are refused, never taken (the chain was verified when it came:
 * this is a damaged repository, which git fsck shows), and marks the
 * roster failed, so that nothing is written on it (roster_commit,
 * roster_load_all: -EIO). */
void roster_need(const struct roster *ro, const char *node)
{
        struct roster_lazy *lz = ro->lazy;
        git_tree *t = NULL;
        const git_tree_entry *te;
        char name[32], err[256];

        if (!lz || strcmp(node, ro->county) == 0)
                return;
        for (size_t i = 0; i < lz->nseen; i++)
                if (strcmp(lz->seen[i], node) == 0)
                        return;
        char(*ns)[16] = realloc(lz->seen, (lz->nseen + 1) * sizeof *ns);
        if (!ns || strlen(node) >= sizeof *ns) {
                lz->failed = lz->failed || !ns;
                if (ns)
                        lz->seen = ns;
                return;
        }
        lz->seen = ns;
        snprintf(lz->seen[lz->nseen++], sizeof *ns, "%s", node);
        snprintf(name, sizeof name, "%s.json", node);
        if (git_tree_lookup(&t, lz->repo, &lz->nodes) < 0)
                lz->failed = true;
        else if ((te = git_tree_entry_byname(t, name)) && roster_read_node(lz->repo, te, &lz->got, err, sizeof err) < 0)
                lz->failed = true;
        git_tree_free(t);
}

size_t roster_total(const struct roster *ro)
{
        return ro->n + (ro->lazy ? ro->lazy->got.n : 0);
}

const struct roster_entry *roster_entry_at(const struct roster *ro, size_t i)
{
        size_t nl = ro->lazy ? ro->lazy->got.n : 0;
        return i < nl ? &ro->lazy->got.e[i] : &ro->e[i - nl];
}

const struct roster_entry *roster_find(const struct roster *ro, const char *node, const uint8_t pk[SSHSIG_PK_BYTES])
{
        roster_need(ro, node);
        for (size_t i = roster_total(ro); i-- > 0;)
                if (strcmp(roster_entry_at(ro, i)->node, node) == 0 && memcmp(roster_entry_at(ro, i)->pk, pk, SSHSIG_PK_BYTES) == 0)
                        return roster_entry_at(ro, i);
        return NULL;
}

bool roster_lists(const struct roster *ro, const char *node)
{
        return roster_began(ro, node) != INT64_MAX;
}

int64_t roster_began(const struct roster *ro, const char *node)
{
        int64_t began = INT64_MAX;

        roster_need(ro, node);
        for (size_t i = 0; i < roster_total(ro); i++)
                if (strcmp(roster_entry_at(ro, i)->node, node) == 0 && roster_entry_at(ro, i)->from < began)
                        began = roster_entry_at(ro, i)->from;
        return began;
}

const struct roster_entry *roster_county_key(const struct roster *ro)
{
        for (size_t i = ro->n; i-- > 0;)
                if (strcmp(ro->e[i].node, ro->county) == 0 && ro->e[i].until == 0)
                        return &ro->e[i];
        return NULL;
}

int roster_check(const struct roster *ro, const char *writer, int64_t first, int64_t last, bool is_signed,
                 const uint8_t pk[SSHSIG_PK_BYTES], char *err, size_t errlen)
{
        int64_t begins = INT64_MAX;

        roster_need(ro, writer);
        for (size_t i = 0; i < roster_total(ro); i++) {
                const struct roster_entry *x = roster_entry_at(ro, i);
                if (strcmp(x->node, writer) != 0)
                        continue;
                if (x->from < begins)
                        begins = x->from;
                if (is_signed && memcmp(x->pk, pk, SSHSIG_PK_BYTES) == 0 && x->from <= first &&
                    (x->until == 0 || last < x->until))
                        return 0;
        }
        if (begins == INT64_MAX) {
                snprintf(err, errlen, "%s has no key on the county's roster; the county enrolls it with 'daiban roster"
                         " add %s KEY' (KEY: what 'daiban key show' prints at %s)", writer, writer, writer);
                return -EINVAL;
        }
        if (last < begins)
                return 0;       /* written before its signatures began */
        if (!is_signed) {
                snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") is not signed, and %s signs"
                         " from seq %" PRId64 " on", first, last, writer, begins);
                return -EINVAL;
        }
        for (size_t i = 0; i < roster_total(ro); i++) {
                const struct roster_entry *x = roster_entry_at(ro, i);
                if (strcmp(x->node, writer) == 0 && memcmp(x->pk, pk, SSHSIG_PK_BYTES) == 0) {
                        if (x->until && last >= x->until)
                                snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") is signed with"
                                         " a key of %s that the roster ended at seq %" PRId64 "%s%s", first, last,
                                         writer, x->until, x->note[0] ? ": " : "", x->note);
                        else
                                snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") is signed with"
                                         " a key of %s that the roster admits only from seq %" PRId64, first, last,
                                         writer, x->from);
                        return -EINVAL;
                }
        }
        char fp[80];
        sshsig_fingerprint(pk, fp, sizeof fp);
        snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") is signed with a key (%s) that the"
                 " roster does not give %s", first, last, fp, writer);
        return -EINVAL;
}
