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

#define ROSTER_FILE "roster.json"
#define MAX_CHAIN 1000000

void roster_free(struct roster *ro)
{
        free(ro->e);
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

int roster_parse(const char *json, size_t len, const char *county, struct roster *ro, char *err, size_t errlen)
{
        static const char *const top_keys[] = { "format", "version", "county", "entries", NULL };
        static const char *const entry_keys[] = { "node", "key", "from", "until", "by", "at", "note", NULL };
        json_error_t je;
        json_t *root, *entries, *e;
        size_t i;
        int r = -EINVAL;

        memset(ro, 0, sizeof *ro);
        if (len > ROSTER_MAX_BYTES) {
                snprintf(err, errlen, "the roster is larger than %u MiB", ROSTER_MAX_BYTES >> 20);
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
        if (!json_is_array(entries) || json_array_size(entries) > ROSTER_MAX_ENTRIES) {
                snprintf(err, errlen, "the roster's entries are not a list of at most %d", ROSTER_MAX_ENTRIES);
                goto out;
        }
        json_array_foreach(entries, i, e) {
                struct roster_entry x = { 0 };
                char key[160];
                json_t *until = json_object_get(e, "until");
                if (!json_is_object(e) || !only_keys(e, entry_keys) ||
                    !copy_text(json_object_get(e, "node"), x.node, sizeof x.node, true) ||
                    !division_code_within(x.node, ro->county) ||
                    !copy_text(json_object_get(e, "key"), key, sizeof key, true) || sshsig_pubkey_parse(key, x.pk) < 0 ||
                    !json_is_integer(json_object_get(e, "from")) || !(until && (json_is_null(until) || json_is_integer(until))) ||
                    !json_is_integer(json_object_get(e, "at")) ||
                    !copy_text(json_object_get(e, "by"), x.by, sizeof x.by, true) ||
                    !copy_text(json_object_get(e, "note"), x.note, sizeof x.note, false)) {
                        snprintf(err, errlen, "entry %zu of the roster is malformed (node of this county, an"
                                 " ssh-ed25519 key, from, until, by, at)", i + 1);
                        goto out;
                }
                x.from = json_integer_value(json_object_get(e, "from"));
                x.until = json_is_null(until) ? 0 : json_integer_value(until);
                x.at = json_integer_value(json_object_get(e, "at"));
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

int roster_build(const struct roster *ro, char **ret, size_t *ret_len)
{
        json_t *root = json_object(), *entries = json_array();
        char *s;

        *ret = NULL;
        if (!root || !entries) {
                json_decref(root);
                json_decref(entries);
                return -ENOMEM;
        }
        json_object_set_new(root, "format", json_string("daiban-roster"));
        json_object_set_new(root, "version", json_integer(1));
        json_object_set_new(root, "county", json_string(ro->county));
        for (size_t i = 0; i < ro->n; i++) {
                const struct roster_entry *x = &ro->e[i];
                char key[160];
                json_t *e = json_object();
                sshsig_pubkey_line(x->pk, NULL, key, sizeof key);
                json_object_set_new(e, "node", json_string(x->node));
                json_object_set_new(e, "key", json_string(key));
                json_object_set_new(e, "from", json_integer(x->from));
                json_object_set_new(e, "until", x->until ? json_integer(x->until) : json_null());
                json_object_set_new(e, "by", json_string(x->by));
                json_object_set_new(e, "at", json_integer(x->at));
                if (x->note[0])
                        json_object_set_new(e, "note", json_string(x->note));
                json_array_append_new(entries, e);
        }
        json_object_set_new(root, "entries", entries);
        /* one entry per line: a diff of two rosters reads as what changed */
        s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_COMPACT);
        json_decref(root);
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_len = strlen(s);
        return 0;
}

const struct roster_entry *roster_find(const struct roster *ro, const char *node, const uint8_t pk[SSHSIG_PK_BYTES])
{
        for (size_t i = ro->n; i-- > 0;)
                if (strcmp(ro->e[i].node, node) == 0 && memcmp(ro->e[i].pk, pk, SSHSIG_PK_BYTES) == 0)
                        return &ro->e[i];
        return NULL;
}

bool roster_lists(const struct roster *ro, const char *node)
{
        for (size_t i = 0; i < ro->n; i++)
                if (strcmp(ro->e[i].node, node) == 0)
                        return true;
        return false;
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

        for (size_t i = 0; i < ro->n; i++) {
                const struct roster_entry *x = &ro->e[i];
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
        for (size_t i = 0; i < ro->n; i++) {
                const struct roster_entry *x = &ro->e[i];
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

static int roster_copy(struct roster *dst, const struct roster *src)
{
        memset(dst, 0, sizeof *dst);
        memcpy(dst->county, src->county, sizeof dst->county);
        for (size_t i = 0; i < src->n; i++)
                if (roster_add(dst, &src->e[i]) < 0) {
                        roster_free(dst);
                        return -ENOMEM;
                }
        return 0;
}

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* The roster in commit id (not verified). */
static int read_roster(git_repository *repo, const git_oid *id, const char *county, struct roster *ro, char *err,
                       size_t errlen)
{
        git_commit *c = NULL;
        git_tree *t = NULL;
        git_blob *b = NULL;
        const git_tree_entry *te;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0) {
                snprintf(err, errlen, "a commit of the roster is missing: %s", gerr());
                goto out;
        }
        te = git_tree_entry_byname(t, ROSTER_FILE);
        if (git_tree_entrycount(t) != 1 || !te || git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
            blob_lookup_max(&b, repo, git_tree_entry_id(te), ROSTER_MAX_BYTES) < 0) {
                snprintf(err, errlen, "a commit of the roster holds something other than " ROSTER_FILE
                         " of at most %u MiB", ROSTER_MAX_BYTES >> 20);
                goto out;
        }
        r = roster_parse(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), county, ro, err, errlen);
out:
        git_blob_free(b);
        git_tree_free(t);
        git_commit_free(c);
        return r;
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

/* Verify the chain from its trusted commit `from` (roster `base`; NULL:
 * from the root) to `to`: linear, each commit signed by the county key
 * of the roster before it (the first by its own). With a pin, the chain
 * must name the pinned key (when verified from the root). Fills ro with
 * the roster at `to`. */
static int verify_chain(git_repository *repo, const char *county, const git_oid *from, const struct roster *base,
                        const git_oid *to, const char *pin, struct roster *ro, char *err, size_t errlen)
{
        git_oid *chain = NULL;
        size_t n = 0;
        struct roster prev = { 0 };
        bool have_prev = false, pinned = !pin || !*pin || from;
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
        if (r == 0 && base) {
                r = roster_copy(&prev, base);
                have_prev = r == 0;
        }
        for (size_t k = n; r == 0 && k-- > 0;) {
                struct roster cur_ro;
                uint8_t pk[SSHSIG_PK_BYTES];
                bool is_signed;
                const struct roster_entry *signer;
                char why[256];

                if ((r = read_roster(repo, &chain[k], county, &cur_ro, err, errlen)) < 0)
                        break;
                signer = roster_county_key(have_prev ? &prev : &cur_ro);
                r = signed_check(repo, &chain[k], &is_signed, pk, why, sizeof why);
                if (r == -EIO) {
                        snprintf(err, errlen, "%s", why);
                } else if (r < 0 || !is_signed) {
                        snprintf(err, errlen, "a roster commit is %s", r < 0 ? why : "not signed");
                        r = -EINVAL;
                } else if (!signer || memcmp(signer->pk, pk, SSHSIG_PK_BYTES) != 0) {
                        char fp[80];
                        sshsig_fingerprint(pk, fp, sizeof fp);
                        snprintf(err, errlen, "a roster commit is signed by %s, which is not the county's key; the"
                                 " roster is refused", fp);
                        r = -EINVAL;
                } else if (!roster_county_key(&cur_ro)) {
                        snprintf(err, errlen, "a roster commit leaves the county without a key");
                        r = -EINVAL;
                }
                if (r == 0 && !pinned)
                        pinned = pin_matches(&cur_ro, pin);
                roster_free(&prev);
                prev = cur_ro;
                have_prev = true;
        }
        if (r == 0 && !pinned) {
                snprintf(err, errlen, "the roster is not signed by the county key this node was installed with (%s);"
                         " it is refused", pin);
                r = -EINVAL;
        }
        if (r == 0)
                *ro = prev;
        else
                roster_free(&prev);
        free(chain);
        return r;
}

int roster_verify_update(git_repository *repo, const char *county, const char *pin, const git_oid *old,
                         const struct roster *held, const git_oid *new_tip, char *err, size_t errlen)
{
        struct roster got = { 0 };
        int r = verify_chain(repo, county, old, old ? held : NULL, new_tip, pin, &got, err, errlen);

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
        return verify_chain(repo, county, NULL, NULL, &want, pin, ro, err, errlen);
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
                r = read_roster(repo, &tip, county, ro, err, errlen);
        } else {
                /* verified from a commit verified before, else from the root */
                struct roster base = { 0 };
                bool from_done = cached && git_oid_fromstr(&done, cached) == 0 &&
                                 git_graph_descendant_of(repo, &tip, &done) == 1 &&
                                 read_roster(repo, &done, county, &base, err, errlen) == 0;
                r = verify_chain(repo, county, from_done ? &done : NULL, from_done ? &base : NULL, &tip, pin, ro, err,
                                 errlen);
                roster_free(&base);
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
        r = verify_chain(repo, county, have_local ? &have : NULL, have_local ? &held : NULL, &want, pin, &got, err,
                         errlen);
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

int roster_commit(store *s, git_repository *repo, const struct roster *ro, const struct sshsig_key *key,
                  const char *msg, char *err, size_t errlen)
{
        char ref[64], *json = NULL, hex[GIT_OID_HEXSZ + 1];
        size_t len = 0;
        git_oid tip, blob, tree_id, out;
        git_treebuilder *tb = NULL;
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
        r = -EIO;
        if (roster_build(ro, &json, &len) < 0)
                goto out;
        if (git_blob_create_from_buffer(&blob, repo, json, len) < 0 || git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, ROSTER_FILE, &blob, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0 ||
            git_signature_new(&sig, ro->county, "daiban@localhost", time(NULL), 0) < 0) {
                snprintf(err, errlen, "cannot write the roster: %s", gerr());
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
        git_treebuilder_free(tb);
        free(json);
        return r;
}
