/* The roster's files (docs/roster.md): county.json and a node's file of
 * version 2, and 0.1.0's roster.json (version 1, read only). Strict:
 * anything not known is refused. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forms/division.h"
#include "sync/roster-int.h"

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

/* Entry i of a file, parsed: its range of seqs checked, then appended.
 * node: the file's (version 2), or NULL (version 1's one file). 0,
 * -EINVAL (err), -ENOMEM. */
static int add_checked(struct roster *ro, const struct roster_entry *x, size_t i, const char *node, char *err,
                       size_t errlen)
{
        if (x->from < 1 || (x->until && x->until < x->from) || x->until < 0) {
                snprintf(err, errlen, "entry %zu of %s%sthe roster has a range of seqs that ends before it starts"
                         " (%" PRId64 "..%" PRId64 ")", i + 1, node ? node : "", node ? " on " : "", x->from, x->until);
                return -EINVAL;
        }
        return roster_add(ro, x) < 0 ? -ENOMEM : 0;
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
                if ((r = add_checked(ro, &x, i, NULL, err, errlen)) < 0)
                        goto out;
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
                if ((r = add_checked(ro, &x, i, node, err, errlen)) < 0)
                        goto out;
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
        for (size_t i = 0; i < roster_total(ro); i++) {
                const struct roster_entry *x = roster_entry_at(ro, i);
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
