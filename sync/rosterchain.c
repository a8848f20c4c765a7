/* The roster's chain, refs/roster/<county>: verified commit by commit as
 * it comes, opened at its verified tip, and written by the county. See
 * roster.h and docs/roster.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forms/division.h"
#include "sync/blob.h"
#include "sync/chain.h"
#include "sync/incoming.h"
#include "sync/roster-int.h"
#include "sync/signed.h"

#define MAX_CHAIN 1000000

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* A roster commit's tree: county.json and the tree of node files; or,
 * as 0.1.0 wrote it (v1), roster.json alone (head). */
struct layout {
        bool v1;
        git_oid head, nodes;
};

static int read_layout(git_repository *repo, const git_oid *id, struct layout *ly, char *err, size_t errlen)
{
        git_commit *c = NULL;
        git_tree *t = NULL;
        const git_tree_entry *h, *n;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0) {
                snprintf(err, errlen, "a commit of the roster is missing: %s", gerr());
                goto out;
        }
        memset(ly, 0, sizeof *ly);
        h = git_tree_entry_byname(t, ROSTER_V1_FILE);
        if (git_tree_entrycount(t) == 1 && h && git_tree_entry_filemode(h) == GIT_FILEMODE_BLOB) {
                ly->v1 = true;
                git_oid_cpy(&ly->head, git_tree_entry_id(h));
                r = 0;
                goto out;
        }
        h = git_tree_entry_byname(t, ROSTER_HEAD);
        n = git_tree_entry_byname(t, ROSTER_NODES);
        if (git_tree_entrycount(t) != 2 || !h || !n || git_tree_entry_filemode(h) != GIT_FILEMODE_BLOB ||
            git_tree_entry_filemode(n) != GIT_FILEMODE_TREE) {
                snprintf(err, errlen, "a commit of the roster holds something other than " ROSTER_HEAD " and "
                         ROSTER_NODES "/ (a roster of another version: upgrade daiban)");
                goto out;
        }
        git_oid_cpy(&ly->head, git_tree_entry_id(h));
        git_oid_cpy(&ly->nodes, git_tree_entry_id(n));
        r = 0;
out:
        git_tree_free(t);
        git_commit_free(c);
        return r;
}

static int read_head(git_repository *repo, const git_oid *head, const char *county, struct roster *ro, char *err,
                     size_t errlen)
{
        git_blob *b = NULL;
        int r;

        if (blob_lookup_max(&b, repo, head, 4096) < 0) {
                snprintf(err, errlen, "the roster's " ROSTER_HEAD " is missing or larger than 4 KiB");
                return -EINVAL;
        }
        r = roster_head_parse(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), county, ro, err, errlen);
        git_blob_free(b);
        return r;
}

/* The entries of nodes/<node>.json (te), appended to into. */
int roster_read_node(git_repository *repo, const git_tree_entry *te, struct roster *into, char *err, size_t errlen)
{
        const char *name = git_tree_entry_name(te);
        size_t len = strlen(name);
        char node[16];
        git_blob *b = NULL;
        int r;

        if (len <= 5 || len - 5 >= sizeof node || strcmp(name + len - 5, ".json") != 0 ||
            git_tree_entry_filemode(te) != GIT_FILEMODE_BLOB) {
                snprintf(err, errlen, "the roster holds %.40s, which is not a node's file (nodes/NODE.json)", name);
                return -EINVAL;
        }
        memcpy(node, name, len - 5);
        node[len - 5] = '\0';
        if ((r = blob_lookup_max(&b, repo, git_tree_entry_id(te), ROSTER_NODE_MAX_BYTES)) < 0) {
                if (r == -EFBIG)
                        snprintf(err, errlen, "the roster's file of %s is larger than %u KiB", node,
                                 ROSTER_NODE_MAX_BYTES >> 10);
                else
                        snprintf(err, errlen, "the roster's file of %s is missing", node);
                return -EINVAL;
        }
        r = roster_node_parse(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), node, into, err, errlen);
        git_blob_free(b);
        return r;
}

static int lookup_nodes(git_repository *repo, const git_oid *id, git_tree **ret, char *err, size_t errlen)
{
        if (git_tree_lookup(ret, repo, id) < 0) {
                snprintf(err, errlen, "a commit of the roster is missing: %s", gerr());
                return -EINVAL;
        }
        if (git_tree_entrycount(*ret) > ROSTER_MAX_NODES) {
                snprintf(err, errlen, "the roster names more than %d nodes", ROSTER_MAX_NODES);
                git_tree_free(*ret);
                *ret = NULL;
                return -EINVAL;
        }
        return 0;
}

/* The whole roster at a commit of layout ly (not verified). */
static int read_full(git_repository *repo, const struct layout *ly, const char *county, struct roster *ro, char *err,
                     size_t errlen)
{
        git_tree *t = NULL;
        int r;

        memset(ro, 0, sizeof *ro);
        if (ly->v1) {
                git_blob *b = NULL;
                if (blob_lookup_max(&b, repo, &ly->head, ROSTER_V1_MAX_BYTES) < 0) {
                        snprintf(err, errlen, "a commit of the roster holds something other than " ROSTER_V1_FILE
                                 " of at most %u MiB", ROSTER_V1_MAX_BYTES >> 20);
                        return -EINVAL;
                }
                r = roster_parse_v1(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), county, ro, err, errlen);
                git_blob_free(b);
                return r;
        }
        if ((r = read_head(repo, &ly->head, county, ro, err, errlen)) < 0 ||
            (r = lookup_nodes(repo, &ly->nodes, &t, err, errlen)) < 0)
                goto out;
        for (size_t i = 0; r == 0 && i < git_tree_entrycount(t); i++)
                r = roster_read_node(repo, git_tree_entry_byindex(t, i), ro, err, errlen);
out:
        git_tree_free(t);
        if (r < 0)
                roster_free(ro);
        return r;
}

/* Drop node's entries from ro. */
static void drop_node(struct roster *ro, const char *node)
{
        size_t k = 0;

        for (size_t i = 0; i < ro->n; i++)
                if (strcmp(ro->e[i].node, node) != 0)
                        ro->e[k++] = ro->e[i];
        ro->n = k;
}

static void node_of(const git_tree_entry *te, char node[16])
{
        const char *name = git_tree_entry_name(te);
        size_t len = strlen(name);

        snprintf(node, 16, "%.*s", len > 5 ? (int)(len - 5) : 0, name);
}

/* ro, the whole roster at a commit of layout was, becomes the roster at
 * one of layout now: only the node files that differ are read. */
static int apply_changes(git_repository *repo, const struct layout *was, const struct layout *now, const char *county,
                         struct roster *ro, char *err, size_t errlen)
{
        git_tree *a = NULL, *b = NULL;
        size_t i = 0, j = 0, na, nb;
        char node[16];
        int r = 0;

        if (was->v1 || now->v1) {              /* a version 1 commit: read whole */
                struct roster whole;
                if ((r = read_full(repo, now, county, &whole, err, errlen)) < 0)
                        return r;
                roster_free(ro);
                *ro = whole;
                return 0;
        }
        if (!git_oid_equal(&was->head, &now->head) && (r = read_head(repo, &now->head, county, ro, err, errlen)) < 0)
                return r;
        if (git_oid_equal(&was->nodes, &now->nodes))
                return 0;
        if ((r = lookup_nodes(repo, &was->nodes, &a, err, errlen)) < 0 ||
            (r = lookup_nodes(repo, &now->nodes, &b, err, errlen)) < 0)
                goto out;
        na = git_tree_entrycount(a);
        nb = git_tree_entrycount(b);
        while (r == 0 && (i < na || j < nb)) {
                const git_tree_entry *ea = i < na ? git_tree_entry_byindex(a, i) : NULL;
                const git_tree_entry *eb = j < nb ? git_tree_entry_byindex(b, j) : NULL;
                int c = !ea ? 1 : !eb ? -1 : strcmp(git_tree_entry_name(ea), git_tree_entry_name(eb));
                if (c < 0) {                    /* a node's file removed */
                        node_of(ea, node);
                        drop_node(ro, node);
                        i++;
                } else if (c > 0) {             /* added */
                        r = roster_read_node(repo, eb, ro, err, errlen);
                        j++;
                } else {
                        if (!git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) ||
                            git_tree_entry_filemode(ea) != git_tree_entry_filemode(eb)) {
                                node_of(ea, node);
                                drop_node(ro, node);
                                r = roster_read_node(repo, eb, ro, err, errlen);
                        }
                        i++;
                        j++;
                }
        }
out:
        git_tree_free(a);
        git_tree_free(b);
        return r;
}

/* The roster at the chain's verified tip id (layout ly): the county's
 * entries now, the other nodes' when first asked for. */
static int read_lazy(git_repository *repo, const git_oid *id, const char *county, struct roster *ro, char *err,
                     size_t errlen)
{
        struct layout ly;
        git_tree *t = NULL;
        const git_tree_entry *te;
        char name[32];
        int r;

        memset(ro, 0, sizeof *ro);
        if ((r = read_layout(repo, id, &ly, err, errlen)) < 0)
                return r;
        if (ly.v1)
                return read_full(repo, &ly, county, ro, err, errlen);   /* 0.1.0's: whole */
        if ((r = read_head(repo, &ly.head, county, ro, err, errlen)) < 0 ||
            (r = lookup_nodes(repo, &ly.nodes, &t, err, errlen)) < 0)
                goto out;
        snprintf(name, sizeof name, "%s.json", ro->county);
        if ((te = git_tree_entry_byname(t, name)) && (r = roster_read_node(repo, te, ro, err, errlen)) < 0)
                goto out;
        if (!(ro->lazy = calloc(1, sizeof *ro->lazy))) {
                r = -ENOMEM;
                goto out;
        }
        ro->lazy->repo = repo;
        git_oid_cpy(&ro->lazy->nodes, &ly.nodes);
        memcpy(ro->lazy->got.county, ro->county, sizeof ro->county);
out:
        git_tree_free(t);
        if (r < 0)
                roster_free(ro);
        return r;
}

int roster_load_all(struct roster *ro, char *err, size_t errlen)
{
        struct roster_lazy *lz = ro->lazy;
        git_tree *t = NULL;
        struct roster_entry *all;
        int r = 0;

        if (!lz)
                return 0;
        if (lz->failed) {
                snprintf(err, errlen, "a node's file on the roster cannot be read (run git fsck on the repository)");
                return -EIO;
        }
        if (lookup_nodes(lz->repo, &lz->nodes, &t, err, errlen) < 0)
                return -EIO;
        for (size_t i = 0; r == 0 && i < git_tree_entrycount(t); i++) {
                const git_tree_entry *te = git_tree_entry_byindex(t, i);
                char node[16];
                bool seen = false;
                node_of(te, node);
                for (size_t k = 0; k < lz->nseen && !seen; k++)
                        seen = strcmp(lz->seen[k], node) == 0;
                if (!seen && strcmp(node, ro->county) != 0 && roster_read_node(lz->repo, te, &lz->got, err, errlen) < 0) {
                        lz->failed = true;
                        r = -EIO;
                }
        }
        git_tree_free(t);
        if (r < 0)
                return r;
        if (!(all = malloc((lz->got.n + ro->n + 1) * sizeof *all)))
                return -ENOMEM;
        if (lz->got.n)
                memcpy(all, lz->got.e, lz->got.n * sizeof *all);
        if (ro->n)
                memcpy(all + lz->got.n, ro->e, ro->n * sizeof *all);
        free(ro->e);
        ro->e = all;
        ro->n += lz->got.n;
        roster_lazy_free(lz);
        ro->lazy = NULL;
        return 0;
}

/* Does the pin (a key line, a fingerprint or its spoken form) name one
 * of the county's keys in ro? */
static bool pin_matches(const struct roster *ro, const char *pin)
{
        for (size_t i = 0; i < ro->n; i++)
                if (strcmp(ro->e[i].node, ro->county) == 0 && sshsig_key_matches(ro->e[i].pk, pin))
                        return true;
        return false;
}

/* Verify the chain from its trusted commit `from` (NULL: from the root)
 * to `to`: linear, each commit signed by the county key of the roster
 * before it (the first by its own). With a pin, the chain must name the
 * pinned key (when verified from the root). Each commit is read by the
 * node files it changes. Fills ro with the whole roster at `to`. */
static int verify_chain(git_repository *repo, const char *county, const git_oid *from, const git_oid *to,
                        const char *pin, struct roster *ro, char *err, size_t errlen)
{
        git_oid *chain = NULL;
        size_t n = 0;
        struct roster cur = { 0 };
        struct layout ly;
        bool have_cur = false, pinned = !pin || !*pin || from;
        int r = 0;

        memset(ro, 0, sizeof *ro);
        enum chain_fault fault;
        r = chain_walk(repo, to, from, MAX_CHAIN, true, &chain, &n, &fault);
        if (r == -EINVAL && fault == CHAIN_MISSING)
                snprintf(err, errlen, "a commit of the roster is missing: %s", gerr());
        else if (r == -EINVAL && fault == CHAIN_MERGE)
                snprintf(err, errlen, "a merge commit on the roster's chain");
        else if (r == -EINVAL)
                snprintf(err, errlen, "the roster was rewritten: it does not descend from the one"
                         " this node holds; it is not followed");
        /* the trusted commit's roster, read whole once */
        if (r == 0 && from) {
                r = read_layout(repo, from, &ly, err, errlen);
                if (r == 0)
                        r = read_full(repo, &ly, county, &cur, err, errlen);
                have_cur = r == 0;
        }
        for (size_t k = n; r == 0 && k-- > 0;) {
                struct layout now;
                uint8_t pk[SSHSIG_PK_BYTES], signer[SSHSIG_PK_BYTES];
                const struct roster_entry *ck;
                bool is_signed, has_signer = false;
                char why[256];

                if ((r = read_layout(repo, &chain[k], &now, err, errlen)) < 0)
                        break;
                if (have_cur) {
                        /* the signer is known: check it before reading a byte the commit brings */
                        if ((ck = roster_county_key(&cur))) {
                                memcpy(signer, ck->pk, sizeof signer);
                                has_signer = true;
                        }
                } else {
                        /* the first signs as it names itself: its header and the county's file first */
                        struct roster head = { 0 };
                        git_tree *t = NULL;
                        const git_tree_entry *te;
                        char name[32];
                        if (now.v1) {
                                r = read_full(repo, &now, county, &head, err, errlen);
                        } else if ((r = read_head(repo, &now.head, county, &head, err, errlen)) == 0 &&
                            (r = lookup_nodes(repo, &now.nodes, &t, err, errlen)) == 0) {
                                snprintf(name, sizeof name, "%s.json", head.county);
                                if ((te = git_tree_entry_byname(t, name)))
                                        r = roster_read_node(repo, te, &head, err, errlen);
                        }
                        if (r == 0 && (ck = roster_county_key(&head))) {
                                memcpy(signer, ck->pk, sizeof signer);
                                has_signer = true;
                        }
                        git_tree_free(t);
                        roster_free(&head);
                        if (r < 0)
                                break;
                }
                r = signed_check(repo, &chain[k], &is_signed, pk, why, sizeof why);
                if (r == -EIO) {
                        snprintf(err, errlen, "%s", why);
                } else if (r < 0 || !is_signed) {
                        snprintf(err, errlen, "a roster commit is %s", r < 0 ? why : "not signed");
                        r = -EINVAL;
                } else if (!has_signer || memcmp(signer, pk, SSHSIG_PK_BYTES) != 0) {
                        char fp[80];
                        sshsig_fingerprint(pk, fp, sizeof fp);
                        snprintf(err, errlen, "a roster commit is signed by %s, which is not the county's key; the"
                                 " roster is refused", fp);
                        r = -EINVAL;
                }
                if (r < 0)
                        break;
                if (have_cur) {
                        r = apply_changes(repo, &ly, &now, county, &cur, err, errlen);
                } else {
                        r = read_full(repo, &now, county, &cur, err, errlen);
                        have_cur = r == 0;
                }
                if (r < 0)
                        break;
                ly = now;
                if (!roster_county_key(&cur)) {
                        snprintf(err, errlen, "a roster commit leaves the county without a key");
                        r = -EINVAL;
                }
                if (r == 0 && !pinned)
                        pinned = pin_matches(&cur, pin);
        }
        if (r == 0 && !have_cur) {
                snprintf(err, errlen, "the roster chain is empty");
                r = -EINVAL;
        }
        if (r == 0 && !pinned) {
                snprintf(err, errlen, "the roster is not signed by the county key this node was installed with (%s);"
                         " it is refused", pin);
                r = -EINVAL;
        }
        if (r == 0)
                *ro = cur;
        else
                roster_free(&cur);
        free(chain);
        return r;
}

int roster_verify_update(git_repository *repo, const char *county, const char *pin, const git_oid *old,
                         const git_oid *new_tip, char *err, size_t errlen)
{
        struct roster got = { 0 };
        int r = verify_chain(repo, county, old, new_tip, pin, &got, err, errlen);

        roster_free(&got);
        return r;
}

int roster_verify_offered(git_repository *repo, const char *county, const char *pin, struct roster *ro, char *err,
                          size_t errlen)
{
        char inc[64];
        git_oid want;

        memset(ro, 0, sizeof *ro);
        snprintf(inc, sizeof inc, ROSTER_INCOMING "%s", county);
        if (feed_incoming_id(repo, inc, &want) < 0) {
                snprintf(err, errlen, "no roster of county %s was offered", county);
                return -ENOENT;
        }
        return verify_chain(repo, county, NULL, &want, pin, ro, err, errlen);
}

int roster_open(store *s, git_repository *repo, const char *self, struct roster *ro, bool *ret_present, char *err,
                size_t errlen)
{
        char county[7], ref[64], *cached = NULL, *pin = NULL, hex[GIT_OID_HEXSZ + 1];
        git_oid tip, done;
        int r;

        memset(ro, 0, sizeof *ro);
        *ret_present = false;
        catfeed_county(self, county);
        snprintf(ref, sizeof ref, ROSTER_PREFIX "%s", county);
        if (git_reference_name_to_id(&tip, repo, ref) < 0)
                return 0;
        *ret_present = true;
        store_meta_get(s, "roster.verified", &cached);
        store_meta_get(s, "roster.pin", &pin);
        if (cached && git_oid_fromstr(&done, cached) == 0 && git_oid_equal(&done, &tip)) {
                r = read_lazy(repo, &tip, county, ro, err, errlen);
        } else {
                /* verified from a commit verified before, else from the root */
                bool from_done = cached && git_oid_fromstr(&done, cached) == 0 &&
                                 git_graph_descendant_of(repo, &tip, &done) == 1;
                r = verify_chain(repo, county, from_done ? &done : NULL, &tip, pin, ro, err, errlen);
                if (r == 0)
                        store_meta_set(s, "roster.verified", git_oid_tostr(hex, sizeof hex, &tip));
        }
        if (r == 0) {
                ro->read_at_known = true;
                ro->read_at = tip;
        }
        free(cached);
        free(pin);
        return r;
}

int roster_accept(store *s, git_repository *repo, const char *self, bool *ret_moved, char *err, size_t errlen)
{
        char county[7], ref[64], inc[64], *pin = NULL;
        git_oid want, have;
        struct roster held = { 0 }, got = { 0 };
        bool present = false, have_local;
        git_reference *nr = NULL;
        int r;

        *ret_moved = false;
        err[0] = '\0';
        catfeed_county(self, county);
        snprintf(ref, sizeof ref, ROSTER_PREFIX "%s", county);
        snprintf(inc, sizeof inc, ROSTER_INCOMING "%s", county);
        if (feed_incoming_id(repo, inc, &want) < 0)
                return 0;
        have_local = git_reference_name_to_id(&have, repo, ref) == 0;
        if (have_local && git_oid_equal(&have, &want)) {
                r = 0;
                goto drop;
        }
        if (have_local && git_graph_descendant_of(repo, &want, &have) != 1) {
                /* behind what is held (an old stick), or a rewrite */
                if (git_graph_descendant_of(repo, &have, &want) == 1) {
                        r = 0;
                } else {
                        snprintf(err, errlen, "the county's roster offered is not a continuation of the one held:"
                                 " it is not followed");
                        r = -EINVAL;
                }
                goto drop;
        }
        if (have_local && (r = roster_open(s, repo, self, &held, &present, err, errlen)) < 0)
                goto drop;
        store_meta_get(s, "roster.pin", &pin);
        r = verify_chain(repo, county, have_local ? &have : NULL, &want, pin, &got, err, errlen);
        if (r < 0)
                goto drop;
        if (feed_quarantine_keep(repo, have_local ? &have : NULL, &want) < 0) {
                snprintf(err, errlen, "cannot keep the roster's objects: %s", gerr());
                r = -EIO;
                goto drop;
        }
        if (have_local ? git_reference_create_matching(&nr, repo, ref, &want, 1, &have, "daiban: roster") < 0
                       : git_reference_create(&nr, repo, ref, &want, 0, "daiban: roster") < 0) {
                snprintf(err, errlen, "cannot move %s: %s", ref, gerr());
                r = -EIO;
                goto drop;
        }
        {
                char hex[GIT_OID_HEXSZ + 1], line[160];
                store_meta_set(s, "roster.verified", git_oid_tostr(hex, sizeof hex, &want));
                if (!pin || !*pin) {
                        /* trust on first use: from now on the county's key is this one */
                        const struct roster_entry *ck = roster_county_key(&got);
                        sshsig_pubkey_line(ck->pk, NULL, line, sizeof line);
                        store_meta_set(s, "roster.pin", line);
                }
        }
        *ret_moved = true;
drop:
        git_reference_free(nr);
        feed_incoming_drop(repo, inc);
        roster_free(&held);
        roster_free(&got);
        free(pin);
        return r;
}

/* A blob of text into a tree builder under name. */
static int insert_text(git_repository *repo, git_treebuilder *tb, const char *name, char *text, size_t len)
{
        git_oid id;
        int r = git_blob_create_from_buffer(&id, repo, text, len) < 0 ||
                git_treebuilder_insert(NULL, tb, name, &id, GIT_FILEMODE_BLOB) < 0 ? -EIO : 0;

        free(text);
        return r;
}

/* The tree of roster ro: county.json, and nodes/ with a file per node.
 * A roster read lazily writes the files of the nodes in ro->e (the
 * county's, and those added or changed) over the tree it was read at;
 * a whole one writes every node's. The limits a reader holds it to are
 * checked here, so the county never signs a roster others refuse.
 * -EINVAL (err), -EIO, -ENOMEM. */
static int build_tree(git_repository *repo, const struct roster *ro, git_tree **ret, char *err, size_t errlen)
{
        git_treebuilder *nb = NULL, *tb = NULL;
        git_tree *base = NULL;
        git_oid nodes, id;
        char *text, name[32];
        size_t len;
        int r = -EIO;

        err[0] = '\0';
        if (ro->lazy && ro->lazy->failed) {
                snprintf(err, errlen, "cannot write the roster: a node's file on it cannot be read (run git fsck on"
                         " the repository)");
                return -EIO;
        }
        if (ro->lazy && git_tree_lookup(&base, repo, &ro->lazy->nodes) < 0)
                goto out;
        if (git_treebuilder_new(&nb, repo, base) < 0 || git_treebuilder_new(&tb, repo, NULL) < 0)
                goto out;
        for (size_t i = 0; i < ro->n; i++) {
                bool done = false;
                for (size_t k = 0; k < i && !done; k++)
                        done = strcmp(ro->e[k].node, ro->e[i].node) == 0;
                if (done)
                        continue;
                roster_need(ro, ro->e[i].node);        /* its entries in the file, then ours */
                if (ro->lazy && ro->lazy->failed) {
                        snprintf(err, errlen, "cannot write the roster: the file of %s on it cannot be read (run"
                                 " git fsck on the repository)", ro->e[i].node);
                        r = -EIO;
                        goto out;
                }
                snprintf(name, sizeof name, "%s.json", ro->e[i].node);
                if ((r = roster_node_build(ro, ro->e[i].node, &text, &len)) < 0)
                        goto out;
                if (len > ROSTER_NODE_MAX_BYTES || !division_code_within(ro->e[i].node, ro->county)) {
                        free(text);
                        if (len > ROSTER_NODE_MAX_BYTES)
                                snprintf(err, errlen, "%s has more keys on the roster than it may hold (its file"
                                         " would pass %u KiB)", ro->e[i].node, ROSTER_NODE_MAX_BYTES >> 10);
                        else
                                snprintf(err, errlen, "%s is not a division of county %s", ro->e[i].node, ro->county);
                        r = -EINVAL;
                        goto out;
                }
                if ((r = insert_text(repo, nb, name, text, len)) < 0)
                        goto out;
        }
        if (git_treebuilder_entrycount(nb) > ROSTER_MAX_NODES) {
                snprintf(err, errlen, "the roster would name more than %d nodes", ROSTER_MAX_NODES);
                r = -EINVAL;
                goto out;
        }
        r = -EIO;
        if (git_treebuilder_write(&nodes, nb) < 0 || git_treebuilder_insert(NULL, tb, ROSTER_NODES, &nodes,
                                                                              GIT_FILEMODE_TREE) < 0)
                goto out;
        if ((r = roster_head_build(ro->county, &text, &len)) < 0 ||
            (r = insert_text(repo, tb, ROSTER_HEAD, text, len)) < 0)
                goto out;
        r = git_treebuilder_write(&id, tb) < 0 || git_tree_lookup(ret, repo, &id) < 0 ? -EIO : 0;
out:
        git_treebuilder_free(tb);
        git_treebuilder_free(nb);
        git_tree_free(base);
        return r;
}

int roster_commit(store *s, git_repository *repo, const struct roster *ro, const struct sshsig_key *key,
                  const char *msg, char *err, size_t errlen)
{
        char ref[64], hex[GIT_OID_HEXSZ + 1];
        git_oid tip, out;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        struct roster cur = { 0 };
        bool present = false, have_tip;
        const struct roster_entry *signer;
        int r;

        snprintf(ref, sizeof ref, ROSTER_PREFIX "%s", ro->county);
        have_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
        /* a change of the roster as read at one commit goes on that
         * commit only: another writer's change made since is never lost
         * (the caller reads again and retries) */
        if (ro->read_at_known && (!have_tip || !git_oid_equal(&tip, &ro->read_at))) {
                snprintf(err, errlen, "cannot write the roster: it changed meanwhile");
                return -EAGAIN;
        }
        if ((r = roster_open(s, repo, ro->county, &cur, &present, err, errlen)) < 0)
                return r;
        signer = roster_county_key(have_tip ? &cur : ro);
        if (!signer || memcmp(signer->pk, key->pk, SSHSIG_PK_BYTES) != 0) {
                snprintf(err, errlen, "this node's key is not the county's key on the roster; only the county's"
                         " key signs it");
                roster_free(&cur);
                return -EINVAL;
        }
        roster_free(&cur);
        if (!roster_county_key(ro)) {
                snprintf(err, errlen, "the roster would leave the county without a key");
                return -EINVAL;
        }
        if ((r = build_tree(repo, ro, &tree, err, errlen)) == -EINVAL)
                goto out;
        if (r < 0 ||
            (r = git_signature_new(&sig, ro->county, "daiban@localhost", time(NULL), 0)) < 0) {
                if (r != -EIO || !err[0])
                        snprintf(err, errlen, "cannot write the roster: %s", r == -ENOMEM ? "out of memory" : gerr());
                r = -EIO;
                goto out;
        }
        if ((r = signed_commit(repo, ref, have_tip ? &tip : NULL, sig, msg, tree, key, &out)) < 0) {
                git_oid now;
                bool moved = git_reference_name_to_id(&now, repo, ref) == 0 && (!have_tip || !git_oid_equal(&now, &tip));
                snprintf(err, errlen, "cannot write the roster: %s",
                         moved || r == -EAGAIN ? "it changed meanwhile" : gerr());
                r = moved || r == -EAGAIN ? -EAGAIN : -EIO;
                goto out;
        }
        store_meta_set(s, "roster.verified", git_oid_tostr(hex, sizeof hex, &out));
        {
                char *pin = NULL, line[160];
                if (store_meta_get(s, "roster.pin", &pin) < 0 || !pin || !*pin) {
                        sshsig_pubkey_line(key->pk, NULL, line, sizeof line);
                        store_meta_set(s, "roster.pin", line);
                }
                free(pin);
        }
        r = 0;
out:
        git_signature_free(sig);
        git_tree_free(tree);
        return r;
}
