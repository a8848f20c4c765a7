/* Equivocation kept as evidence: a writer that signed two histories of
 * one feed. Whether a second history is one (its change sets signed as
 * the roster requires), keeping it at refs/evidence/<part>/<writer>/<head>,
 * and listing what is kept. See feed.h and docs/roster.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/feed.h"
#include "sync/feed-int.h"
#include "sync/incoming.h"

/* Where a second history of a feed parts from the one held, and whether
 * its change sets from there are signed as the roster requires. */
static int second_history(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                          const git_oid *other, char *part, char *writer, struct feed_pos *bpos, char *msg,
                          size_t msglen)
{
        char local[160];
        struct prepared p;
        git_oid base;
        int64_t first, last;

        if (!feed_parse_ref(ref, part, 32, writer, 32)) {
                snprintf(msg, msglen, "%s is not a feed", ref);
                return 0;
        }
        if (git_oid_equal(held, other) || git_graph_descendant_of(repo, held, other) == 1 ||
            git_graph_descendant_of(repo, other, held) == 1) {
                snprintf(msg, msglen, "it is the history held here, not a second one");
                return 0;
        }
        snprintf(local, sizeof local, FEED_PREFIX "%s/%s", part, writer);
        if (git_merge_base(&base, repo, held, other) == 0 && feed_commit_seqs(repo, &base, &first, &last) == 0) {
                bpos->have_done = true;
                bpos->done = base;
                bpos->last_seq = last;
        }
        struct feed_trust only_ro = { .ro = ro };
        prepare_feed(repo, &only_ro, local, other, part, writer, bpos, &p);
        if (p.r != 0 || !ro) {
                snprintf(msg, msglen, "it does not continue the feed held here, and %s",
                         p.r == -EINVAL ? p.err : p.r ? "it cannot be read" : "it is not a fast-forward");
                prepared_free(&p);
                return p.r == -EINVAL || p.r == 0 ? 0 : -EIO;
        }
        prepared_free(&p);
        return 1;
}

int feed_evidence_genuine(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                          const git_oid *other, char *msg, size_t msglen)
{
        char part[32], writer[32];
        struct feed_pos bpos = { 0 };

        return second_history(repo, ro, ref, held, other, part, writer, &bpos, msg, msglen);
}

int feed_equivocation(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *held,
                      const git_oid *other, bool copy_objects, char *msg, size_t msglen)
{
        char part[32], writer[32], hex[GIT_OID_HEXSZ + 1], ev[256];
        struct feed_pos bpos = { 0 };
        git_reference *nr = NULL;
        int r;

        if ((r = second_history(repo, ro, ref, held, other, part, writer, &bpos, msg, msglen)) != 1)
                return r < 0 ? 0 : r;
        git_oid_tostr(hex, sizeof hex, other);
        snprintf(ev, sizeof ev, FEED_EVIDENCE "%s/%s/%s", part, writer, hex);
        r = (!copy_objects || feed_copy_reachable(repo, held, other) == 0) && feed_quarantine_keep(repo, held, other) == 0 &&
                    git_reference_create(&nr, repo, ev, other, 1, "daiban: evidence") == 0
                ? 1
                : -EIO;
        git_reference_free(nr);
        snprintf(msg, msglen, "ALARM: %s signed two different histories of this feed from seq %" PRId64 " on; %s"
                 " (%s). The county should call the station, revoke the key from seq %" PRId64 " ('daiban roster"
                 " revoke %s --from %" PRId64 " --reason ...') and enroll a new one", writer, bpos.last_seq + 1,
                 r == 1 ? "both are kept, the other as evidence in" : "the other could not be kept as", ev,
                 bpos.last_seq + 1, writer, bpos.last_seq + 1);
        return r;
}

int feed_evidence_list(git_repository *repo, struct feed_evidence **ret, size_t *ret_n)
{
        char **names = NULL;
        size_t n = 0, k = 0;
        struct feed_evidence *ev;

        *ret = NULL;
        *ret_n = 0;
        if (feed_ref_names(repo, FEED_EVIDENCE "*", &names, &n) < 0)
                return -EIO;
        ev = n ? calloc(n, sizeof *ev) : NULL;
        for (size_t i = 0; i < n; i++) {
                struct feed_evidence *e = ev ? &ev[k] : NULL;
                char local[160], hex[GIT_OID_HEXSZ + 1];
                const char *rest = names[i] + strlen(FEED_EVIDENCE), *s1 = strchr(rest, '/'),
                           *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
                git_oid base;
                int64_t first, last;
                if (e && s1 && s2 && (size_t)(s1 - rest) < sizeof e->part && (size_t)(s2 - s1 - 1) < sizeof e->writer &&
                    strlen(s2 + 1) == GIT_OID_HEXSZ) {
                        snprintf(e->part, sizeof e->part, "%.*s", (int)(s1 - rest), rest);
                        snprintf(e->writer, sizeof e->writer, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
                        snprintf(hex, sizeof hex, "%s", s2 + 1);
                        snprintf(local, sizeof local, FEED_PREFIX "%s/%s", e->part, e->writer);
                        if (git_oid_fromstr(&e->other, hex) == 0 &&
                            git_reference_name_to_id(&e->held, repo, local) == 0) {
                                e->from_seq = git_merge_base(&base, repo, &e->held, &e->other) == 0 &&
                                                      feed_commit_seqs(repo, &base, &first, &last) == 0
                                                  ? last + 1
                                                  : 1;
                                int64_t a = 0, b = 0;
                                feed_commit_seqs(repo, &e->held, &first, &a);
                                feed_commit_seqs(repo, &e->other, &first, &b);
                                e->to_seq = a > b ? a : b;
                                k++;
                        }
                }
                free(names[i]);
        }
        free(names);
        *ret = ev;
        *ret_n = k;
        return 0;
}
