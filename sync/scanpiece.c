/* Scan pieces read and checked: the strict format of a piece commit
 * (docs/change-set.md, "Scans"), a chain's commits since a point, the
 * check of what an update would add to a chain (scan_verify: the hall's
 * pre-receive and a node's accept), and the bytes a writer's chains hold
 * (scan_usage). See scan.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sync/blob.h"
#include "sync/chain.h"
#include "sync/roster.h"
#include "sync/scan.h"
#include "sync/scan-int.h"
#include "sync/signed.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

int64_t piece_len(int64_t size, int64_t index)
{
        int64_t off = index * (int64_t)SCAN_PIECE;
        return size - off < (int64_t)SCAN_PIECE ? size - off : (int64_t)SCAN_PIECE;
}

/* Read and check one piece commit strictly. */
int read_piece(git_repository *repo, const git_oid *id, struct piece *p, char *err, size_t errlen)
{
        git_commit *c = NULL;
        git_tree *tree = NULL;
        git_blob *meta = NULL;
        git_odb *odb = NULL;
        const git_tree_entry *m, *pc;
        json_t *j = NULL;
        size_t plen;
        git_object_t ptype;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&tree, c) < 0) {
                snprintf(err, errlen, "a piece of a scan chain is missing: %s", gerr());
                r = -EINVAL;
                goto out;
        }
        if (git_commit_parentcount(c) > 1) {
                snprintf(err, errlen, "a merge commit on a scan chain");
                goto out;
        }
        if (!blob_tree_pair(tree, "scan.json", "piece", &m, &pc)) {
                snprintf(err, errlen, "a scan piece's tree must hold scan.json and piece, nothing else");
                goto out;
        }
        if (blob_lookup_max(&meta, repo, git_tree_entry_id(m), 512) < 0) {
                snprintf(err, errlen, "a scan piece's scan.json is missing or too large");
                goto out;
        }
        j = json_loadb(git_blob_rawcontent(meta), (size_t)git_blob_rawsize(meta), JSON_REJECT_DUPLICATES, NULL);
        const char *fmt = json_string_value(json_object_get(j, "format"));
        const char *blob = json_string_value(json_object_get(j, "blob"));
        json_t *v = json_object_get(j, "version"), *sz = json_object_get(j, "size"), *ix = json_object_get(j, "index"),
               *ct = json_object_get(j, "count");
        if (!json_is_object(j) || json_object_size(j) != 6 || !fmt || strcmp(fmt, SCAN_FORMAT) != 0) {
                snprintf(err, errlen, "scan.json is not a daiban scan piece");
                goto out;
        }
        if (!json_is_integer(v) || json_integer_value(v) != SCAN_VERSION) {
                snprintf(err, errlen, "scan.json: unsupported version (this daiban reads version %d; upgrade it)",
                         SCAN_VERSION);
                goto out;
        }
        if (!blob || strlen(blob) != 40 || strspn(blob, "0123456789abcdef") != 40 || !json_is_integer(sz) ||
            !json_is_integer(ix) || !json_is_integer(ct)) {
                snprintf(err, errlen, "scan.json: bad blob, size, index or count");
                goto out;
        }
        p->size = json_integer_value(sz);
        p->index = json_integer_value(ix);
        p->count = json_integer_value(ct);
        if (p->size < 1 || p->size > (int64_t)SCAN_MAX_BYTES ||
            p->count != (p->size + (int64_t)SCAN_PIECE - 1) / (int64_t)SCAN_PIECE || p->index < 0 ||
            p->index >= p->count) {
                snprintf(err, errlen, "scan.json: size, index and count do not agree (or the scan is over %u MiB)",
                         SCAN_MAX_BYTES >> 20);
                goto out;
        }
        /* the piece's size from the object header, without reading it */
        if (git_repository_odb(&odb, repo) < 0 || git_odb_read_header(&plen, &ptype, odb, git_tree_entry_id(pc)) < 0 ||
            (int64_t)plen != piece_len(p->size, p->index)) {
                snprintf(err, errlen, "a scan piece has the wrong length");
                goto out;
        }
        memcpy(p->blob, blob, 41);
        p->piece_blob = *git_tree_entry_id(pc);
        r = 0;
out:
        json_decref(j);
        git_odb_free(odb);
        git_blob_free(meta);
        git_tree_free(tree);
        git_commit_free(c);
        return r;
}

/* The commits after `from` (NULL: from the root) up to `to`, oldest
 * first; -EINVAL when `to` does not descend from `from`. */
int chain_since(git_repository *repo, const git_oid *from, const git_oid *to, git_oid **ret, size_t *ret_n,
                char *err, size_t errlen)
{
        git_oid *ids = NULL;
        size_t n = 0;
        enum chain_fault why;
        int r = chain_walk(repo, to, from, MAX_CHAIN, false, &ids, &n, &why);

        if (r == -EINVAL) {
                snprintf(err, errlen, why == CHAIN_REWRITTEN ? "the scan chain was rewritten"
                                                             : "a scan chain is broken or too long");
                return r;
        }
        if (r < 0)
                return r;
        for (size_t i = 0; i < n / 2; i++) {
                git_oid t = ids[i];
                ids[i] = ids[n - 1 - i];
                ids[n - 1 - i] = t;
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}

/* Is blob the piece of a commit on the chain up to old? */
static bool piece_on_chain(git_repository *repo, const git_oid *old, const git_oid *blob)
{
        git_oid *ids = NULL;
        size_t n = 0;
        char err[256];
        bool found = false;

        if (chain_since(repo, NULL, old, &ids, &n, err, sizeof err) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++) {
                struct piece p;
                found = read_piece(repo, &ids[i], &p, err, sizeof err) == 0 && git_oid_equal(&p.piece_blob, blob);
        }
        free(ids);
        return found;
}

/* Is a scan piece signed as the roster requires? Pieces carry no seqs:
 * the key must be one the roster gives the writer (any range); unsigned
 * pieces pass only for a writer whose signatures began after its first
 * events (an upgraded node). */
static int check_piece_signer(git_repository *repo, const struct roster *ro, const char *writer, const git_oid *id,
                              char *err, size_t errlen)
{
        uint8_t pk[SSHSIG_PK_BYTES];
        bool is_signed;
        char why[384];

        if (signed_check(repo, id, &is_signed, pk, why, sizeof why) < 0) {
                snprintf(err, errlen, "a scan piece has a bad signature: %s", why);
                return -EINVAL;
        }
        if (!ro)
                return 0;
        if (is_signed && roster_find(ro, writer, pk))
                return 0;
        if (!is_signed) {
                int64_t began = roster_began(ro, writer);
                if (began != INT64_MAX && began > 1)
                        return 0;
        }
        if (is_signed) {
                char fp[80];
                sshsig_fingerprint(pk, fp, sizeof fp);
                snprintf(err, errlen, "a scan piece is signed with a key (%s) that the roster does not give %s", fp,
                         writer);
        } else {
                snprintf(err, errlen, "a scan piece is not signed by its writer %s", writer);
        }
        return -EINVAL;
}

int scan_verify(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *old,
                const git_oid *new_head, git_odb *pushed, uint64_t *ret_added, char *err, size_t errlen)
{
        char part[32], writer[32];
        struct piece prev = { .index = -1, .count = 0 };
        bool has_old = old && !git_oid_is_zero(old);
        git_oid *ids = NULL;
        size_t n = 0;
        uint64_t added = 0;
        int r;

        if (ret_added)
                *ret_added = 0;
        if (!scan_parse_ref(ref, part, sizeof part, writer, sizeof writer)) {
                snprintf(err, errlen, "%s is not a scan chain", ref);
                return -EINVAL;
        }
        /* a chain whose pieces did not make their scans takes no more: a
         * station cannot fill the hall with pieces nobody can use */
        char bad[160];
        git_oid failed;
        snprintf(bad, sizeof bad, UNASSEMBLED_PREFIX "%s/%s", part, writer);
        if (git_reference_name_to_id(&failed, repo, bad) == 0) {
                snprintf(err, errlen, "%s: this chain sent scan pieces that do not make the scans they name; it takes"
                         " no more until the county has looked at it", ref);
                return -EINVAL;
        }
        if (has_old && (r = read_piece(repo, old, &prev, err, errlen)) < 0)
                return r;
        if ((r = chain_since(repo, has_old ? old : NULL, new_head, &ids, &n, err, errlen)) < 0)
                return r;
        for (size_t i = 0; i < n && r == 0; i++) {
                struct piece p;
                if ((r = read_piece(repo, &ids[i], &p, err, errlen)) < 0 ||
                    (r = check_piece_signer(repo, ro, writer, &ids[i], err, errlen)) < 0)
                        break;
                /* pieces in order: the next of an unfinished scan, or the
                 * first of a new one */
                bool next = prev.index >= 0 && prev.index + 1 < prev.count;
                if (next ? (strcmp(p.blob, prev.blob) != 0 || p.index != prev.index + 1 || p.size != prev.size)
                         : p.index != 0) {
                        snprintf(err, errlen, "%s: scan pieces out of order", ref);
                        r = -EINVAL;
                        break;
                }
                /* a piece is bytes the pusher sends, or one its chain already
                 * had: never an object of the hall's that it may not read */
                if (pushed && !git_odb_exists(pushed, &p.piece_blob) &&
                    !(has_old && piece_on_chain(repo, old, &p.piece_blob))) {
                        snprintf(err, errlen, "%s: a scan piece names an object the push does not carry", ref);
                        r = -EINVAL;
                        break;
                }
                added += (uint64_t)piece_len(p.size, p.index);
                prev = p;
        }
        free(ids);
        if (r == 0 && ret_added)
                *ret_added = added;
        return r;
}

/* The bytes of one chain's pieces up to tip: from the count kept for an
 * earlier tip of the same chain when there is one. */
static int chain_bytes(store *s, git_repository *repo, const char *part, const char *writer, const git_oid *tip,
                       uint64_t *ret)
{
        char key[96], *kept = NULL, hex[GIT_OID_HEXSZ + 1], val[96], err[256];
        git_oid from, *ids = NULL;
        unsigned long long base = 0;
        size_t n = 0;
        bool have = false;
        int r;

        snprintf(key, sizeof key, "scan.bytes.%s/%s", part, writer);
        if (store_meta_get(s, key, &kept) == 0 && kept && strlen(kept) > GIT_OID_HEXSZ &&
            sscanf(kept + GIT_OID_HEXSZ, " %llu", &base) == 1) {
                kept[GIT_OID_HEXSZ] = 0;
                have = git_oid_fromstr(&from, kept) == 0;
        }
        free(kept);
        if (have && git_oid_equal(&from, tip)) {
                *ret = base;
                return 0;
        }
        /* from the kept tip when the chain grew from it, else from the root */
        if (!have || chain_since(repo, &from, tip, &ids, &n, err, sizeof err) < 0) {
                base = 0;
                if ((r = chain_since(repo, NULL, tip, &ids, &n, err, sizeof err)) < 0)
                        return r == -ENOMEM ? r : -EIO;
        }
        for (size_t i = 0; i < n; i++) {
                struct piece p;
                if (read_piece(repo, &ids[i], &p, err, sizeof err) < 0) {
                        free(ids);
                        return -EIO;
                }
                base += (unsigned long long)piece_len(p.size, p.index);
        }
        free(ids);
        git_oid_tostr(hex, sizeof hex, tip);
        snprintf(val, sizeof val, "%s %llu", hex, base);
        /* only a shortcut: a count that is not kept is made again */
        if (store_begin(s) < 0 || store_meta_set(s, key, val) < 0 || store_commit(s) < 0)
                store_rollback(s);
        *ret = base;
        return 0;
}

int scan_usage(store *s, git_repository *repo, const char *writer, uint64_t *ret_bytes)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        int r = 0;

        *ret_bytes = 0;
        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        while (r == 0 && git_reference_next(&ref, it) == 0) {
                char part[32], w[32];
                uint64_t b;
                const git_oid *tip = git_reference_target(ref);
                if (tip && scan_parse_ref(git_reference_name(ref), part, sizeof part, w, sizeof w) &&
                    strcmp(w, writer) == 0 && (r = chain_bytes(s, repo, part, w, tip, &b)) == 0)
                        *ret_bytes += b;
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        return r;
}

/* The scans already on a chain (from the commit messages). */
int chain_blobs(git_repository *repo, const char *ref, char (**ret)[41], size_t *ret_n)
{
        git_oid cur;
        char (*v)[41] = NULL;
        size_t n = 0;

        *ret = NULL;
        *ret_n = 0;
        if (git_reference_name_to_id(&cur, repo, ref) < 0)
                return 0;
        for (size_t k = 0; k < MAX_CHAIN; k++) {
                git_commit *c = NULL;
                const char *m;
                if (git_commit_lookup(&c, repo, &cur) < 0)
                        break;
                m = git_commit_message(c);
                long pi = 0, pk = -1;
                /* a scan counts once its last piece is on the chain */
                if (m && strncmp(m, "scan ", 5) == 0 && strspn(m + 5, "0123456789abcdef") == 40 &&
                    sscanf(m + 45, " piece %ld/%ld", &pi, &pk) == 2 && pi == pk) {
                        void *nv = realloc(v, (n + 1) * sizeof *v);
                        if (!nv) {
                                git_commit_free(c);
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                        memcpy(v[n], m + 5, 40);
                        v[n++][40] = '\0';
                }
                if (git_commit_parentcount(c) == 0) {
                        git_commit_free(c);
                        break;
                }
                cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
