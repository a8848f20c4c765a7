/* Scan chains received: incoming chains accepted after scan_verify, and
 * every scan whose pieces have all arrived reassembled and checked
 * against its id; a chain whose pieces do not make their scan is cut
 * back and its pieces removed when nothing needs them. A local marker
 * ref, refs/daiban/assembled/scans/<p>/<w>, keeps how far a chain has
 * been reassembled. See scan.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sync/blob.h"
#include "sync/durable.h"
#include "sync/incoming.h"
#include "sync/prune.h"
#include "sync/scan.h"
#include "sync/scan-int.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
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

/* Reassemble the complete scans of one chain that the repository lacks.
 * 0 when every whole scan on the chain is stored, 1 when the deadline
 * (uv_hrtime; 0: none) came first, after the call's first scan (the
 * next call goes on: what is stored is skipped), or negative. */
static int assemble_chain(git_repository *repo, const char *ref, const git_oid *tip, uint64_t deadline,
                          long *ret_scans, size_t *ret_cut, feed_log_fn log, void *ud)
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
                if (deadline && *ret_scans > 0 && uv_hrtime() >= deadline) {    /* one at least: progress */
                        r = 1;
                        break;
                }
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

int scan_assemble(store *s, git_repository *repo, const char *self, bool own_too, uint64_t budget_ns, long *ret_scans,
                  bool *ret_more, feed_log_fn log, void *ud)
{
        uint64_t deadline = budget_ns ? uv_hrtime() + budget_ns : 0;
        git_reference_iterator *it = NULL;
        git_reference *ref;
        struct refused {
                char name[160];
                size_t cut;
        } *pruned = NULL;
        size_t npruned = 0;
        int r = 0;

        *ret_scans = 0;
        *ret_more = false;
        if (git_reference_iterator_glob_new(&it, repo, SCAN_PREFIX "*") < 0)
                return -EIO;
        /* once the time is up, the chains not reached are the next call's */
        while (!*ret_more && git_reference_next(&ref, it) == 0) {
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
                                int ar = assemble_chain(repo, git_reference_name(ref), tip, deadline, ret_scans, &cut,
                                                        log, ud);
                                if (ar == 1) {
                                        *ret_more = true;
                                } else if (ar == 0) {
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
