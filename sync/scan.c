/* Scanned materials in pieces on scan chains. See scan.h; the format is
 * in docs/change-set.md ("Scans").
 *
 * Two local marker refs keep the work of a sync proportional to what is
 * new: refs/daiban/pushed/scans/<p>/<w> (how far the remote is known to
 * hold a chain, so a sync with nothing new opens no connection for
 * scans) and refs/daiban/assembled/scans/<p>/<w> (how far a chain has
 * been reassembled). */
#include "forms/division.h"
#include "sync/store-int.h"
#include "sync/blob.h"
#include "sync/roster.h"
#include "sync/durable.h"
#include "sync/scan.h"
#include "sync/signed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sync/prune.h"

#define PUSHED_PREFIX "refs/daiban/pushed/scans/"
#define ASSEMBLED_PREFIX "refs/daiban/assembled/scans/"
/* a chain whose pieces do not make the scans they name, at this tip:
 * not hashed again (nor logged) until the chain moves */
#define UNASSEMBLED_PREFIX "refs/daiban/unassembled/scans/"
#define OUTGOING_PREFIX "refs/daiban/outgoing/scans/"
#define MAX_CHAIN 1000000

struct piece {
        char blob[41];
        int64_t size, index, count;
        git_oid piece_blob;
};

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

bool scan_parse_ref(const char *ref, char *partition, size_t plen, char *writer, size_t wlen)
{
        return feed_split_ref(ref, SCAN_PREFIX, SCAN_INCOMING, partition, plen, writer, wlen);
}

static int64_t piece_len(int64_t size, int64_t index)
{
        int64_t off = index * (int64_t)SCAN_PIECE;
        return size - off < (int64_t)SCAN_PIECE ? size - off : (int64_t)SCAN_PIECE;
}

/* Read and check one piece commit strictly. */
static int read_piece(git_repository *repo, const git_oid *id, struct piece *p, char *err, size_t errlen)
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
        m = git_tree_entry_byname(tree, "scan.json");
        pc = git_tree_entry_byname(tree, "piece");
        if (git_tree_entrycount(tree) != 2 || !m || !pc || git_tree_entry_type(m) != GIT_OBJECT_BLOB ||
            git_tree_entry_type(pc) != GIT_OBJECT_BLOB) {
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
static int chain_since(git_repository *repo, const git_oid *from, const git_oid *to, git_oid **ret, size_t *ret_n,
                       char *err, size_t errlen)
{
        git_oid *ids = NULL, cur = *to;
        size_t n = 0;

        for (;;) {
                git_commit *c = NULL;
                git_oid *ni;
                if (from && git_oid_equal(&cur, from))
                        break;
                if (n >= MAX_CHAIN || git_commit_lookup(&c, repo, &cur) < 0) {
                        snprintf(err, errlen, "a scan chain is broken or too long");
                        free(ids);
                        return -EINVAL;
                }
                if (!(ni = realloc(ids, (n + 1) * sizeof *ids))) {
                        git_commit_free(c);
                        free(ids);
                        return -ENOMEM;
                }
                ids = ni;
                ids[n++] = cur;
                if (git_commit_parentcount(c) == 0) {
                        git_commit_free(c);
                        if (from) {
                                snprintf(err, errlen, "the scan chain was rewritten");
                                free(ids);
                                return -EINVAL;
                        }
                        break;
                }
                cur = *git_commit_parent_id(c, 0);
                git_commit_free(c);
        }
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
                int64_t began = INT64_MAX;
                for (size_t i = 0; i < ro->n; i++)
                        if (strcmp(ro->e[i].node, writer) == 0 && ro->e[i].from < began)
                                began = ro->e[i].from;
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

/* ---- committing ------------------------------------------------------------------- */

/* The scans already on a chain (from the commit messages). */
static int chain_blobs(git_repository *repo, const char *ref, char (**ret)[41], size_t *ret_n)
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

/* The chain's tip: a scan interrupted while its pieces were written
 * (a crash) is to be finished before anything else is appended. */
static bool tip_unfinished(git_repository *repo, const git_oid *tip, char hex[41], int64_t *ret_next)
{
        git_commit *c = NULL;
        const char *m;
        long pi = 0, pk = 0;
        bool r = false;

        if (git_commit_lookup(&c, repo, tip) < 0)
                return false;
        m = git_commit_message(c);
        if (m && strncmp(m, "scan ", 5) == 0 && strspn(m + 5, "0123456789abcdef") == 40 &&
            sscanf(m + 45, " piece %ld/%ld", &pi, &pk) == 2 && pi < pk) {
                memcpy(hex, m + 5, 40);
                hex[40] = '\0';
                *ret_next = pi;         /* 1-based in the message: the next index */
                r = true;
        }
        git_commit_free(c);
        return r;
}

static int append_scan(git_repository *repo, const char *ref, const char *writer, const struct sshsig_key *key,
                       const char *hex, long *ret_pieces, char *err, size_t errlen)
{
        git_blob *b = NULL;
        git_oid id, tip;
        bool has_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
        int64_t size, count, first = 0;
        char pending[41];
        int r = 0;

        if (has_tip && tip_unfinished(repo, &tip, pending, &first)) {
                if (strcmp(pending, hex) != 0) {
                        /* finish the interrupted one first */
                        if ((r = append_scan(repo, ref, writer, key, pending, ret_pieces, err, errlen)) < 0)
                                return r;
                        has_tip = git_reference_name_to_id(&tip, repo, ref) == 0;
                        first = 0;
                }
        }

        if (git_oid_fromstr(&id, hex) < 0 || git_blob_lookup(&b, repo, &id) < 0) {
                snprintf(err, errlen, "scan %.12s is not in this node's repository", hex);
                return -ENOENT;
        }
        size = (int64_t)git_blob_rawsize(b);
        if (size < 1 || size > (int64_t)SCAN_MAX_BYTES) {
                git_blob_free(b);
                snprintf(err, errlen, "scan %.12s is empty or larger than %u MiB", hex, SCAN_MAX_BYTES >> 20);
                return -EINVAL;
        }
        count = (size + SCAN_PIECE - 1) / SCAN_PIECE;
        for (int64_t i = first; i < count && r == 0; i++) {
                const char *data = (const char *)git_blob_rawcontent(b) + i * (int64_t)SCAN_PIECE;
                json_t *j = json_pack("{s:s,s:i,s:s,s:I,s:I,s:I}", "format", SCAN_FORMAT, "version", SCAN_VERSION, "blob",
                                      hex, "size", (json_int_t)size, "index", (json_int_t)i, "count", (json_int_t)count);
                char *meta = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), msg[128];
                git_oid mb, pb, tree_id, cid;
                git_treebuilder *tb = NULL;
                git_tree *tree = NULL;
                git_signature *sig = NULL;
                json_decref(j);
                r = -EIO;
                snprintf(msg, sizeof msg, "scan %s piece %" PRId64 "/%" PRId64 "\n", hex, i + 1, count);
                if (meta && git_blob_create_from_buffer(&mb, repo, meta, strlen(meta)) == 0 &&
                    git_blob_create_from_buffer(&pb, repo, data, (size_t)piece_len(size, i)) == 0 &&
                    git_treebuilder_new(&tb, repo, NULL) == 0 &&
                    git_treebuilder_insert(NULL, tb, "scan.json", &mb, GIT_FILEMODE_BLOB) == 0 &&
                    git_treebuilder_insert(NULL, tb, "piece", &pb, GIT_FILEMODE_BLOB) == 0 &&
                    git_treebuilder_write(&tree_id, tb) == 0 && git_tree_lookup(&tree, repo, &tree_id) == 0 &&
                    git_signature_new(&sig, writer, "daiban@localhost", 0, 0) == 0 &&
                    signed_commit(repo, ref, has_tip ? &tip : NULL, sig, msg, tree, key, &cid) == 0) {
                        tip = cid;
                        has_tip = true;
                        (*ret_pieces)++;
                        r = 0;
                } else {
                        snprintf(err, errlen, "cannot write a piece of scan %.12s: %s", hex, gerr());
                }
                free(meta);
                git_signature_free(sig);
                git_tree_free(tree);
                git_treebuilder_free(tb);
        }
        git_blob_free(b);
        return r;
}

int scan_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key, long *ret_pieces,
                      feed_log_fn log, void *ud)
{
        sqlite3_stmt *st;
        char lastpart[32] = "", ref[128], err[512];
        char (*have)[41] = NULL;
        size_t nhave = 0;

        if (store_restore_pending(s)) {         /* as feed_commit_local */
                *ret_pieces = 0;
                return 0;
        }
        int r = 0;

        *ret_pieces = 0;
        if (sqlite3_prepare_v2(store_db(s),
                               "SELECT DISTINCT part, json_extract(body, '$.blob') AS b FROM events"
                               " WHERE node = ? AND type = 'app.material' AND b IS NOT NULL ORDER BY part",
                               -1, &st, NULL) != SQLITE_OK) {
                if (log)
                        log(ud, "cannot list scans: %s", store_errmsg(s));
                return -EIO;
        }
        sqlite3_bind_text(st, 1, self, -1, SQLITE_STATIC);
        while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
                const char *part = (const char *)sqlite3_column_text(st, 0);
                const char *hex = (const char *)sqlite3_column_text(st, 1);
                bool held = false;
                if (!part || !hex || strlen(hex) != 40 || !division_code_valid(part))
                        continue;
                snprintf(ref, sizeof ref, SCAN_PREFIX "%s/%s", part, self);
                if (strcmp(part, lastpart) != 0) {
                        free(have);
                        if (chain_blobs(repo, ref, &have, &nhave) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        snprintf(lastpart, sizeof lastpart, "%s", part);
                }
                for (size_t i = 0; i < nhave && !held; i++)
                        held = strcmp(have[i], hex) == 0;
                if (held)
                        continue;
                int ar = append_scan(repo, ref, self, key, hex, ret_pieces, err, sizeof err);
                if (ar == -ENOENT || ar == -EINVAL) {
                        if (log)
                                log(ud, "%s", err);     /* reported, the rest goes on */
                        continue;
                }
                if (ar < 0) {
                        if (log)
                                log(ud, "%s", err);
                        r = ar;
                        break;
                }
                void *nh = realloc(have, (nhave + 1) * sizeof *have);
                if (nh) {
                        have = nh;
                        memcpy(have[nhave++], hex, 41);
                }
        }
        sqlite3_finalize(st);
        free(have);
        return r;
}

/* ---- pushing ---------------------------------------------------------------------- */

struct remote_tips {
        char (*names)[128];
        git_oid *ids;
        size_t n;
};

static int collect_tip(const char *name, const git_oid *id, void *payload)
{
        struct remote_tips *t = payload;
        void *nn = realloc(t->names, (t->n + 1) * sizeof *t->names);
        void *ni = nn ? realloc(t->ids, (t->n + 1) * sizeof *t->ids) : NULL;

        if (nn)
                t->names = nn;
        if (!ni)
                return -ENOMEM;
        t->ids = ni;
        snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
        t->ids[t->n++] = *id;
        return 0;
}

int scan_push(git_repository *repo, const struct feed_remote *rm, const char *self, long *ret_pieces,
              feed_log_fn log, void *ud)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        char (*todo)[128] = NULL;
        size_t ntodo = 0;
        struct remote_tips tips = { 0 };
        int r = 0;

        *ret_pieces = 0;
        /* the chains whose tip is past what the remote is known to hold */
        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char part[32], writer[32], marker[160];
                git_oid pushed;
                const git_oid *tip = git_reference_target(ref);
                if (tip && scan_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                    feed_may_write(self, part, writer)) {
                        snprintf(marker, sizeof marker, PUSHED_PREFIX "%s/%s", part, writer);
                        if (git_reference_name_to_id(&pushed, repo, marker) < 0 || !git_oid_equal(&pushed, tip)) {
                                void *nt = realloc(todo, (ntodo + 1) * sizeof *todo);
                                if (nt) {
                                        todo = nt;
                                        snprintf(todo[ntodo++], sizeof todo[0], "%s", git_reference_name(ref));
                                }
                        }
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        if (!ntodo)
                return 0;
        if ((r = feed_remote_ls(repo, rm, SCAN_PREFIX, collect_tip, &tips, log, ud)) < 0)
                goto out;
        for (size_t k = 0; k < ntodo && r == 0; k++) {
                const git_oid *from = NULL;
                git_oid tip, *ids = NULL;
                size_t n = 0;
                char part[32], writer[32], marker[160], err[256];
                scan_parse_ref(todo[k], part, sizeof part, writer, sizeof writer);
                snprintf(marker, sizeof marker, PUSHED_PREFIX "%s/%s", part, writer);
                for (size_t i = 0; i < tips.n; i++)
                        if (strcmp(tips.names[i], todo[k]) == 0)
                                from = &tips.ids[i];
                if (git_reference_name_to_id(&tip, repo, todo[k]) < 0)
                        continue;
                if (chain_since(repo, from, &tip, &ids, &n, err, sizeof err) < 0) {
                        /* the remote holds something this chain does not descend
                         * from: push it whole and let the far side refuse */
                        if (chain_since(repo, NULL, &tip, &ids, &n, err, sizeof err) < 0) {
                                if (log)
                                        log(ud, "%s: %s", todo[k], err);
                                r = -EIO;
                                break;
                        }
                }
                /* one piece per push: a dropped link loses one piece */
                for (size_t i = 0; i < n && r == 0; i++) {
                        char out[160], spec[320], *specs[1] = { spec };
                        git_reference *mref = NULL, *oref = NULL;
                        /* libgit2 pushes refs, not ids: stage the piece on a
                         * ref of our own */
                        snprintf(out, sizeof out, OUTGOING_PREFIX "%s/%s", part, writer);
                        if (git_reference_create(&oref, repo, out, &ids[i], 1, "daiban: scan piece to push") < 0) {
                                if (log)
                                        log(ud, "cannot stage a scan piece: %s", gerr());
                                r = -EIO;
                                break;
                        }
                        git_reference_free(oref);
                        snprintf(spec, sizeof spec, "%s:%s", out, todo[k]);
                        if ((r = feed_push_specs(repo, rm, specs, 1, log, ud)) < 0)
                                break;
                        (*ret_pieces)++;
                        git_reference_create(&mref, repo, marker, &ids[i], 1, "daiban: scan piece pushed");
                        git_reference_free(mref);
                        if (feed_show_progress)
                                fprintf(stderr, "\rscans: piece %zu/%zu of %s%s", i + 1, n, todo[k], i + 1 == n ? "\n" : "");
                }
                if (r == 0 && n == 0) {
                        git_reference *mref = NULL;
                        git_reference_create(&mref, repo, marker, &tip, 1, "daiban: scans held by the remote");
                        git_reference_free(mref);
                }
                free(ids);
        }
out:
        free(todo);
        free(tips.names);
        free(tips.ids);
        return r;
}

/* ---- receiving -------------------------------------------------------------------- */

int scan_accept_incoming(git_repository *repo, const char *self, const struct roster *ro, bool own_too,
                         int *ret_refused, feed_log_fn log, void *ud)
{
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        *ret_refused = 0;
        if (feed_incoming_names(repo, SCAN_INCOMING "*", &names, &n) < 0)
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                char part[32], writer[32], local[160], err[512];
                git_oid inc, cur;
                bool moved;
                if (scan_parse_ref(names[i], part, sizeof part, writer, sizeof writer) &&
                    (own_too || strcmp(writer, self) != 0) && feed_entitled(self, part) &&
                    feed_incoming_id(repo, names[i], &inc) == 0) {
                        bool has = false;
                        snprintf(local, sizeof local, SCAN_PREFIX "%s/%s", part, writer);
                        has = git_reference_name_to_id(&cur, repo, local) == 0;
                        if (has && (git_oid_equal(&cur, &inc) || git_graph_descendant_of(repo, &cur, &inc) == 1)) {
                                /* held already */
                        } else if (scan_verify(repo, ro, local, has ? &cur : NULL, &inc, NULL, NULL, err, sizeof err) < 0 ||
                                   feed_ff_update(repo, local, &inc, &moved, err, sizeof err) < 0) {
                                if (log)
                                        log(ud, "refused %s: %s", local, err);
                                (*ret_refused)++;
                        }
                }
                feed_incoming_drop(repo, names[i]);
                free(names[i]);
        }
        free(names);
        return r;
}

/* Reassemble the complete scans of one chain that the repository lacks. */
static int assemble_chain(git_repository *repo, const char *ref, const git_oid *tip, long *ret_scans,
                          size_t *ret_cut, feed_log_fn log, void *ud)
{
        git_oid *ids = NULL;
        size_t n = 0, start = 0;
        char err[512];
        git_odb *odb = NULL;
        int r;

        /* Only what the pieces themselves say is held against them (a
         * scan they do not make, pieces out of order): they were checked
         * when they came, so a piece that cannot be read now is this
         * machine's trouble (descriptors, memory, a disk error), and the
         * chain is tried again next round, never refused for it. */
        if ((r = chain_since(repo, NULL, tip, &ids, &n, err, sizeof err)) < 0) {
                if (log)
                        log(ud, "%s: %s (tried again later)", ref, err);
                return -EIO;
        }
        if (git_repository_odb(&odb, repo) < 0) {
                free(ids);
                return -EIO;
        }
        for (size_t i = 0; i < n && r == 0; i++) {
                struct piece p;
                git_oid want, got;
                char *buf;
                size_t off = 0;
                bool ok;
                if (read_piece(repo, &ids[i], &p, err, sizeof err) < 0) {
                        if (log)
                                log(ud, "%s: %s (tried again later)", ref, err);
                        r = -EIO;
                        break;
                }
                if (p.index == 0)
                        start = i;
                if (p.index + 1 != p.count || git_oid_fromstr(&want, p.blob) < 0 || git_odb_exists(odb, &want))
                        continue;
                if (i + 1 - start != (size_t)p.count) {
                        if (log)
                                log(ud, "%s: scan pieces out of order", ref);
                        *ret_cut = start;
                        r = -EINVAL;
                        break;
                }
                buf = malloc((size_t)p.size);
                if (!buf) {
                        r = -ENOMEM;    /* tried again next time; the pieces are not to blame */
                        break;
                }
                ok = true;
                bool unread = false;
                for (size_t k = start; ok && k <= i; k++) {
                        struct piece q;
                        git_blob *b = NULL;
                        ok = read_piece(repo, &ids[k], &q, err, sizeof err) == 0 &&
                             blob_lookup_max(&b, repo, &q.piece_blob, (size_t)p.size - off) == 0;
                        if (ok) {
                                memcpy(buf + off, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
                                off += (size_t)git_blob_rawsize(b);
                        }
                        unread = !ok;
                        git_blob_free(b);
                }
                if (unread) {
                        if (log)
                                log(ud, "%s: a piece of scan %.12s cannot be read now (tried again later)", ref,
                                    p.blob);
                        free(buf);
                        r = -EIO;
                        break;
                }
                /* hash before storing: a forged scan never enters the odb */
                if (ok && off == (size_t)p.size && git_odb_hash(&got, buf, off, GIT_OBJECT_BLOB) == 0 &&
                    git_oid_equal(&got, &want)) {
                        if (git_blob_create_from_buffer(&got, repo, buf, off) == 0) {
                                (*ret_scans)++;
                        } else {
                                if (log)
                                        log(ud, "cannot store scan %.12s: %s", p.blob, gerr());
                                r = -EIO;       /* a full disk: tried again next time */
                        }
                } else {
                        if (log)
                                log(ud, "refused scan %.12s on %s: its pieces do not make the scan they name", p.blob,
                                    ref);
                        *ret_cut = start;
                        r = -EINVAL;
                }
                free(buf);
        }
        git_odb_free(odb);
        free(ids);
        return r;
}

/* The scans named by every chain's commit messages: blobs no ref reaches
 * that a prune must leave (a lying message only keeps more). */
static int chain_names(git_repository *repo, git_oid **ret, size_t *ret_n)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_oid *v = NULL;
        size_t n = 0;
        int r = 0;

        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        while (r == 0 && git_reference_next(&ref, it) == 0) {
                char (*names)[41] = NULL;
                size_t k = 0;
                if ((r = chain_blobs(repo, git_reference_name(ref), &names, &k)) == 0) {
                        git_oid *nv = realloc(v, (n + k + 1) * sizeof *v);
                        if (!nv)
                                r = -ENOMEM;
                        for (size_t i = 0; nv && i < k; i++)
                                if (git_oid_fromstr(&nv[n], names[i]) == 0)
                                        n++;
                        if (nv)
                                v = nv;
                }
                free(names);
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* A chain whose scan starting at piece `cut` did not assemble: every ref
 * on that scan's pieces (the chain, this node's markers) goes back to the
 * piece before it, the refusal mark is set there (on the empty blob when
 * nothing was before it), and the pieces' objects are removed when
 * nothing else needs them. The mark is written first: a crash leaves the
 * chain refused, never taking more. */
static void prune_chain(store *s, git_repository *repo, const char *ref, const char *bad, const git_oid *tip, size_t cut,
                        feed_log_fn log, void *ud)
{
        git_oid *ids = NULL, *cand = NULL, *names = NULL, mark;
        size_t n = 0, nc = 0, nn = 0;
        char err[256];
        git_reference *m = NULL;
        git_reference_iterator *it = NULL;
        git_reference *r;

        if (chain_since(repo, NULL, tip, &ids, &n, err, sizeof err) < 0 || cut >= n)
                goto out;
        if (cut > 0)
                mark = ids[cut - 1];
        else if (git_blob_create_from_buffer(&mark, repo, "", 0) < 0)
                goto out;
        time_t t0 = time(NULL) - 1;
        char gitdir[4096], path[4352];
        snprintf(gitdir, sizeof gitdir, "%s", git_repository_path(repo));
        if (*gitdir && gitdir[strlen(gitdir) - 1] == '/')
                gitdir[strlen(gitdir) - 1] = '\0';
        if (git_reference_create(&m, repo, bad, &mark, 1, "daiban: scans refused") < 0)
                goto out;
        snprintf(path, sizeof path, "%s/%s", gitdir, bad);
        durable_sync_ref_dirs(gitdir, path, t0);
        /* the refs on the refused pieces, moved back or deleted; each
         * folder synced, so that the change survives a power cut */
        if (git_reference_iterator_new(&it, repo) < 0)
                goto out;
        while (git_reference_next(&r, it) == 0) {
                const git_oid *t = git_reference_target(r);
                bool on = false;
                for (size_t i = cut; t && i < n && !on; i++)
                        on = git_oid_equal(t, &ids[i]);
                if (on && strcmp(git_reference_name(r), bad) != 0) {
                        git_reference *moved = NULL;
                        snprintf(path, sizeof path, "%s/%s", gitdir, git_reference_name(r));
                        if (cut > 0)
                                git_reference_set_target(&moved, r, &ids[cut - 1], "daiban: refused scan pieces removed");
                        else
                                git_reference_delete(r);
                        durable_sync_ref_dirs(gitdir, path, t0);
                        git_reference_free(moved);
                }
                git_reference_free(r);
        }
        git_reference_iterator_free(it);
        /* the pieces' objects: commit, tree, scan.json and piece */
        if (!(cand = calloc((n - cut) * 4, sizeof *cand)))
                goto out;
        for (size_t i = cut; i < n; i++) {
                git_commit *c = NULL;
                git_tree *t = NULL;
                cand[nc++] = ids[i];
                if (git_commit_lookup(&c, repo, &ids[i]) == 0 && git_commit_tree(&t, c) == 0) {
                        cand[nc++] = *git_tree_id(t);
                        for (size_t e = 0; e < git_tree_entrycount(t) && e < 2; e++)
                                cand[nc++] = *git_tree_entry_id(git_tree_entry_byindex(t, e));
                }
                git_tree_free(t);
                git_commit_free(c);
        }
        struct prune_result pr;
        if (chain_names(repo, &names, &nn) == 0 && prune_objects(repo, s, cand, nc, names, nn, &pr) == 0) {
                if (log)
                        log(ud, "%s: %zu refused scan pieces taken off the chain; %zu objects removed, %zu kept (needed"
                            " elsewhere), %zu left in packs", ref, n - cut, pr.removed, pr.needed, pr.packed);
        } else if (log) {
                log(ud, "%s: %zu refused scan pieces taken off the chain; their objects stay (the repository could"
                    " not be read whole)", ref, n - cut);
        }
out:
        free(names);
        free(cand);
        free(ids);
        git_reference_free(m);
}

int scan_assemble(store *s, git_repository *repo, const char *self, bool own_too, long *ret_scans, feed_log_fn log,
                  void *ud)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        struct refused {
                char name[160];
                size_t cut;
        } *pruned = NULL;
        size_t npruned = 0;
        int r = 0;

        *ret_scans = 0;
        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        while (git_reference_next(&ref, it) == 0) {
                char part[32], writer[32], marker[160], bad[160];
                git_oid done, failed;
                const git_oid *tip = git_reference_target(ref);
                if (tip && scan_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                    feed_entitled(self, part) && (own_too || strcmp(writer, self) != 0)) {
                        snprintf(marker, sizeof marker, ASSEMBLED_PREFIX "%s/%s", part, writer);
                        snprintf(bad, sizeof bad, UNASSEMBLED_PREFIX "%s/%s", part, writer);
                        bool has = git_reference_name_to_id(&done, repo, marker) == 0;
                        bool refused = git_reference_name_to_id(&failed, repo, bad) == 0;
                        if ((!has || !git_oid_equal(&done, tip)) && !refused) {
                                git_reference *m = NULL;
                                size_t cut = 0;
                                int ar = assemble_chain(repo, git_reference_name(ref), tip, ret_scans, &cut, log, ud);
                                if (ar == 0) {
                                        git_reference_create(&m, repo, marker, tip, 1, "daiban: scans assembled");
                                } else if (ar == -EINVAL) {
                                        /* only the pieces' own fault is remembered; they
                                         * are taken off once the walk is over */
                                        void *np = realloc(pruned, (npruned + 1) * sizeof *pruned);
                                        if (np) {
                                                pruned = np;
                                                snprintf(pruned[npruned].name, sizeof pruned[npruned].name, "%s",
                                                         git_reference_name(ref));
                                                pruned[npruned++].cut = cut;
                                        }
                                        git_reference_create(&m, repo, bad, tip, 1, "daiban: scans refused");
                                }
                                if (ar < 0)
                                        r = ar == -EINVAL ? -EINVAL : -EIO;
                                git_reference_free(m);
                        }
                }
                git_reference_free(ref);
        }
        git_reference_iterator_free(it);
        for (size_t i = 0; i < npruned; i++) {
                const char *name = pruned[i].name;
                char part[32], writer[32], bad[160];
                git_oid tip;
                if (scan_parse_ref(name, part, sizeof part, writer, sizeof writer) &&
                    git_reference_name_to_id(&tip, repo, name) == 0) {
                        snprintf(bad, sizeof bad, UNASSEMBLED_PREFIX "%s/%s", part, writer);
                        prune_chain(s, repo, name, bad, &tip, pruned[i].cut, log, ud);
                }
        }
        free(pruned);
        return r;
}
