/* The county's key roster. See roster.h and docs/roster.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "forms/division.h"
#include "sync/blob.h"
#include "sync/chain.h"
#include "sync/incoming.h"
#include "sync/roster.h"
#include "sync/signed.h"

#define ROSTER_VERSION 2
#define ROSTER_V1_FILE "roster.json"
#define ROSTER_V1_MAX_BYTES (4u * 1024u * 1024u)
#define ROSTER_V1_MAX_ENTRIES 20000
#define ROSTER_HEAD "county.json"
#define ROSTER_NODES "nodes"
#define MAX_CHAIN 1000000

/* The nodes of a roster read at a verified tip that are read on first
 * use: its `nodes` tree there, and what was read so far. */
struct roster_lazy {
        git_repository *repo;
        git_oid nodes;
        struct roster got;              /* the entries read (county: ro's) */
        char (*seen)[16];               /* nodes looked up, listed or not */
        size_t nseen;
        bool failed;                    /* a file could not be read: nothing is written on this roster */
};

static void lazy_free(struct roster_lazy *lz)
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
        lazy_free(ro->lazy);
        memset(ro, 0, sizeof *ro);
}

int roster_add(struct roster *ro, const struct roster_entry *e)
{
        struct roster_entry *ne = realloc(ro->e, (ro->n + 1) * sizeof *ne);

        if (!ne)
                return -ENOMEM;
        ro->e = ne;
        ro->e[ro->n++] = *e;
        return 0;
}

static bool only_keys(json_t *o, const char *const *keys)
{
        const char *k;
        json_t *v;

        json_object_foreach(o, k, v) {
                bool known = false;
                for (const char *const *p = keys; *p && !known; p++)
                        known = strcmp(k, *p) == 0;
                if (!known)
                        return false;
        }
        return true;
}

static bool copy_text(json_t *v, char *dst, size_t len, bool required)
{
        const char *s = json_string_value(v);

        if (!v && !required) {
                dst[0] = '\0';
                return true;
        }
        if (!s || strlen(s) >= len || memchr(s, '\n', strlen(s)))
                return false;
        strcpy(dst, s);
        return true;
}

static size_t total(const struct roster *ro);
static const struct roster_entry *entry(const struct roster *ro, size_t i);

/* One entry: of a node's file (node: the file's), or of 0.1.0's
 * roster.json (node NULL: the entry names one of county's). */
static bool parse_entry(json_t *e, const char *node, const char *county, struct roster_entry *x)
{
        static const char *const file_keys[] = { "key", "from", "until", "by", "at", "note", NULL };
        static const char *const v1_keys[] = { "node", "key", "from", "until", "by", "at", "note", NULL };
        json_t *until = json_object_get(e, "until");
        char key[160];

        memset(x, 0, sizeof *x);
        if (node)
                snprintf(x->node, sizeof x->node, "%s", node);
        else if (!copy_text(json_object_get(e, "node"), x->node, sizeof x->node, true) ||
                 !division_code_within(x->node, county))
                return false;
        if (!json_is_object(e) || !only_keys(e, node ? file_keys : v1_keys) ||
            !copy_text(json_object_get(e, "key"), key, sizeof key, true) || sshsig_pubkey_parse(key, x->pk) < 0 ||
            !json_is_integer(json_object_get(e, "from")) || !(until && (json_is_null(until) || json_is_integer(until))) ||
            !json_is_integer(json_object_get(e, "at")) || !copy_text(json_object_get(e, "by"), x->by, sizeof x->by, true) ||
            !copy_text(json_object_get(e, "note"), x->note, sizeof x->note, false))
                return false;
        x->from = json_integer_value(json_object_get(e, "from"));
        x->until = json_is_null(until) ? 0 : json_integer_value(until);
        x->at = json_integer_value(json_object_get(e, "at"));
        return true;
}

/* Version 1, as 0.1.0 wrote it: the whole roster in one roster.json.
 * Read, never written: a county that upgrades writes version 2 on its
 * next change, and its chain holds both. */
int roster_parse_v1(const char *json, size_t len, const char *county, struct roster *ro, char *err, size_t errlen)
{
        static const char *const top_keys[] = { "format", "version", "county", "entries", NULL };
        json_error_t je;
        json_t *root, *entries, *e;
        size_t i;
        int r = -EINVAL;

        memset(ro, 0, sizeof *ro);
        if (len > ROSTER_V1_MAX_BYTES) {
                snprintf(err, errlen, "the roster is larger than %u MiB", ROSTER_V1_MAX_BYTES >> 20);
                return -EINVAL;
        }
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
                snprintf(err, errlen, "the roster is not JSON (line %d: %s)", je.line, je.text);
                return -EINVAL;
        }
        if (!json_is_object(root) || !only_keys(root, top_keys) ||
            !json_is_string(json_object_get(root, "format")) ||
            strcmp(json_string_value(json_object_get(root, "format")), "daiban-roster") != 0) {
                snprintf(err, errlen, "not a daiban roster (format daiban-roster, and only its four fields)");
                goto out;
        }
        if (json_integer_value(json_object_get(root, "version")) != 1 ||
            !json_is_integer(json_object_get(root, "version"))) {
                snprintf(err, errlen, "a roster of another version; upgrade daiban");
                goto out;
        }
        if (!copy_text(json_object_get(root, "county"), ro->county, sizeof ro->county, true) ||
            division_code_level(ro->county) != 1 || (county && strcmp(ro->county, county))) {
                snprintf(err, errlen, "the roster is not county %s's", county ? county : "?");
                goto out;
        }
        entries = json_object_get(root, "entries");
        if (!json_is_array(entries) || json_array_size(entries) > ROSTER_V1_MAX_ENTRIES) {
                snprintf(err, errlen, "the roster's entries are not a list of at most %d", ROSTER_V1_MAX_ENTRIES);
                goto out;
        }
        json_array_foreach(entries, i, e) {
                struct roster_entry x;
                if (!parse_entry(e, NULL, ro->county, &x)) {
                        snprintf(err, errlen, "entry %zu of the roster is malformed (node of this county, an"
                                 " ssh-ed25519 key, from, until, by, at)", i + 1);
                        goto out;
                }
                if (x.from < 1 || (x.until && x.until < x.from) || x.until < 0) {
                        snprintf(err, errlen, "entry %zu of the roster has a range of seqs that ends before it starts (%" PRId64
                                 "..%" PRId64 ")", i + 1, x.from, x.until);
                        goto out;
                }
                if (roster_add(ro, &x) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        r = 0;
out:
        json_decref(root);
        if (r < 0)
                roster_free(ro);
        return r;
}

int roster_head_parse(const char *json, size_t len, const char *county, struct roster *ro, char *err, size_t errlen)
{
        static const char *const keys[] = { "format", "version", "county", NULL };
        json_error_t je;
        json_t *root = len > 4096 ? NULL : json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        int r = -EINVAL;

        if (!root) {
                snprintf(err, errlen, "the roster's county.json is not JSON of at most 4 KiB");
                return -EINVAL;
        }
        if (!json_is_object(root) || !only_keys(root, keys) || !json_is_string(json_object_get(root, "format")) ||
            strcmp(json_string_value(json_object_get(root, "format")), "daiban-roster") != 0) {
                snprintf(err, errlen, "not a daiban roster (county.json: format daiban-roster, version, county)");
                goto out;
        }
        if (!json_is_integer(json_object_get(root, "version")) ||
            json_integer_value(json_object_get(root, "version")) != ROSTER_VERSION) {
                snprintf(err, errlen, "a roster of another version; upgrade daiban");
                goto out;
        }
        if (!copy_text(json_object_get(root, "county"), ro->county, sizeof ro->county, true) ||
            division_code_level(ro->county) != 1 || (county && strcmp(ro->county, county))) {
                snprintf(err, errlen, "the roster is not county %s's", county ? county : "?");
                goto out;
        }
        r = 0;
out:
        json_decref(root);
        return r;
}

int roster_head_build(const char *county, char **ret, size_t *ret_len)
{
        json_t *root = json_pack("{s:s, s:i, s:s}", "format", "daiban-roster", "version", ROSTER_VERSION, "county",
                                 county);
        char *s = root ? json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

        json_decref(root);
        *ret = s;
        *ret_len = s ? strlen(s) : 0;
        return s ? 0 : -ENOMEM;
}

int roster_node_parse(const char *json, size_t len, const char *node, struct roster *ro, char *err, size_t errlen)
{
        static const char *const top_keys[] = { "node", "entries", NULL };
        json_error_t je;
        json_t *root, *entries, *e;
        size_t i, n0 = ro->n;
        char named[16];
        int r = -EINVAL;

        if (!division_code_within(node, ro->county)) {
                snprintf(err, errlen, "the roster names %s, which is not a division of county %s", node, ro->county);
                return -EINVAL;
        }
        if (len > ROSTER_NODE_MAX_BYTES) {
                snprintf(err, errlen, "the roster's file of %s is larger than %u KiB", node, ROSTER_NODE_MAX_BYTES >> 10);
                return -EINVAL;
        }
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
                snprintf(err, errlen, "the roster's file of %s is not JSON (line %d: %s)", node, je.line, je.text);
                return -EINVAL;
        }
        entries = json_object_get(root, "entries");
        if (!json_is_object(root) || !only_keys(root, top_keys) ||
            !copy_text(json_object_get(root, "node"), named, sizeof named, true) || strcmp(named, node) != 0 ||
            !json_is_array(entries) || json_array_size(entries) < 1) {
                snprintf(err, errlen, "the roster's file of %s is malformed (its node, and a list of its entries)", node);
                goto out;
        }
        json_array_foreach(entries, i, e) {
                struct roster_entry x;
                if (!parse_entry(e, node, ro->county, &x)) {
                        snprintf(err, errlen, "entry %zu of %s on the roster is malformed (an ssh-ed25519 key, from,"
                                 " until, by, at)", i + 1, node);
                        goto out;
                }
                if (x.from < 1 || (x.until && x.until < x.from) || x.until < 0) {
                        snprintf(err, errlen, "entry %zu of %s on the roster has a range of seqs that ends before it"
                                 " starts (%" PRId64 "..%" PRId64 ")", i + 1, node, x.from, x.until);
                        goto out;
                }
                if (roster_add(ro, &x) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        r = 0;
out:
        json_decref(root);
        if (r < 0)
                ro->n = n0;
        return r;
}

int roster_node_build(const struct roster *ro, const char *node, char **ret, size_t *ret_len)
{
        json_t *root = json_object(), *entries = json_array();
        size_t count = 0;
        char *s;

        *ret = NULL;
        if (!root || !entries) {
                json_decref(root);
                json_decref(entries);
                return -ENOMEM;
        }
        json_object_set_new(root, "node", json_string(node));
        for (size_t i = 0; i < total(ro); i++) {
                const struct roster_entry *x = entry(ro, i);
                char key[160];
                json_t *e;
                if (strcmp(x->node, node) != 0)
                        continue;
                e = json_object();
                sshsig_pubkey_line(x->pk, NULL, key, sizeof key);
                json_object_set_new(e, "key", json_string(key));
                json_object_set_new(e, "from", json_integer(x->from));
                json_object_set_new(e, "until", x->until ? json_integer(x->until) : json_null());
                json_object_set_new(e, "by", json_string(x->by));
                json_object_set_new(e, "at", json_integer(x->at));
                if (x->note[0])
                        json_object_set_new(e, "note", json_string(x->note));
                json_array_append_new(entries, e);
                count++;
        }
        json_object_set_new(root, "entries", entries);
        s = count ? json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        json_decref(root);
        if (!count)
                return -ENOENT;
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_len = strlen(s);
        return 0;
}

static int read_node(git_repository *repo, const git_tree_entry *te, struct roster *into, char *err, size_t errlen);

/* A lazy roster reads node's file the first time node is asked for. A
 * file that cannot be read leaves node without entries, so its change
 * sets are refused, never taken (the chain was verified when it came:
 * this is a damaged repository, which git fsck shows), and marks the
 * roster failed, so that nothing is written on it (roster_commit,
 * roster_load_all: -EIO). */
static void need(const struct roster *ro, const char *node)
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
        else if ((te = git_tree_entry_byname(t, name)) && read_node(lz->repo, te, &lz->got, err, sizeof err) < 0)
                lz->failed = true;
        git_tree_free(t);
}

/* Every entry, the lazily read ones first: entry(ro, i) for i < total(ro). */
static size_t total(const struct roster *ro)
{
        return ro->n + (ro->lazy ? ro->lazy->got.n : 0);
}

static const struct roster_entry *entry(const struct roster *ro, size_t i)
{
        size_t nl = ro->lazy ? ro->lazy->got.n : 0;
        return i < nl ? &ro->lazy->got.e[i] : &ro->e[i - nl];
}

const struct roster_entry *roster_find(const struct roster *ro, const char *node, const uint8_t pk[SSHSIG_PK_BYTES])
{
        need(ro, node);
        for (size_t i = total(ro); i-- > 0;)
                if (strcmp(entry(ro, i)->node, node) == 0 && memcmp(entry(ro, i)->pk, pk, SSHSIG_PK_BYTES) == 0)
                        return entry(ro, i);
        return NULL;
}

bool roster_lists(const struct roster *ro, const char *node)
{
        return roster_began(ro, node) != INT64_MAX;
}

int64_t roster_began(const struct roster *ro, const char *node)
{
        int64_t began = INT64_MAX;

        need(ro, node);
        for (size_t i = 0; i < total(ro); i++)
                if (strcmp(entry(ro, i)->node, node) == 0 && entry(ro, i)->from < began)
                        began = entry(ro, i)->from;
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

        need(ro, writer);
        for (size_t i = 0; i < total(ro); i++) {
                const struct roster_entry *x = entry(ro, i);
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
        for (size_t i = 0; i < total(ro); i++) {
                const struct roster_entry *x = entry(ro, i);
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

/* ---- the chain ----------------------------------------------------------------- */

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
static int read_node(git_repository *repo, const git_tree_entry *te, struct roster *into, char *err, size_t errlen)
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
                r = read_node(repo, git_tree_entry_byindex(t, i), ro, err, errlen);
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
                        r = read_node(repo, eb, ro, err, errlen);
                        j++;
                } else {
                        if (!git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) ||
                            git_tree_entry_filemode(ea) != git_tree_entry_filemode(eb)) {
                                node_of(ea, node);
                                drop_node(ro, node);
                                r = read_node(repo, eb, ro, err, errlen);
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
        if ((te = git_tree_entry_byname(t, name)) && (r = read_node(repo, te, ro, err, errlen)) < 0)
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
                if (!seen && strcmp(node, ro->county) != 0 && read_node(lz->repo, te, &lz->got, err, errlen) < 0) {
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
        lazy_free(lz);
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
                                        r = read_node(repo, te, &head, err, errlen);
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
                need(ro, ro->e[i].node);        /* its entries in the file, then ours */
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
