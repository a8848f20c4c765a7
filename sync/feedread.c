/* Reading a feed's change sets from git and checking them: the two
 * files of a change-set commit, the seqs it announces, and the first
 * step of ingest (prepare_feed: the new change sets after a position,
 * parsed strictly, signed as the roster requires, none stamped too far
 * ahead). Touches git only, never the store. See feed.h and
 * docs/change-set.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/blob.h"
#include "sync/chain.h"
#include "sync/changeset.h"
#include "sync/feed.h"
#include "sync/feed-int.h"
#include "sync/hlc.h"
#include "sync/roster.h"
#include "sync/signed.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

/* Read a change set's two files from a commit. */
static int read_commit(git_repository *repo, const git_commit *c, char **hdr, size_t *hlen, char **evs, size_t *elen,
                       char *err, size_t errlen)
{
        git_tree *tree = NULL;
        git_blob *b1 = NULL, *b2 = NULL;
        const git_tree_entry *h, *e;
        int r = -EINVAL;

        /* a missing object makes this feed bad (it is refused alone),
         * not the round */
        if (git_commit_tree(&tree, c) < 0) {
                snprintf(err, errlen, "cannot read the commit's tree: %s", gerr());
                return -EINVAL;
        }
        if (!blob_tree_pair(tree, "changeset.json", "events.jsonl", &h, &e)) {
                snprintf(err, errlen, "the commit's tree is not a change set (changeset.json and events.jsonl)");
                goto out;
        }
        /* sizes from the object headers, before anything is inflated */
        int r1 = blob_lookup_max(&b1, repo, git_tree_entry_id(h), CHANGESET_MAX_HEADER);
        int r2 = r1 == 0 ? blob_lookup_max(&b2, repo, git_tree_entry_id(e), CHANGESET_MAX_BYTES) : 0;
        if (r1 == -EFBIG || r2 == -EFBIG) {
                snprintf(err, errlen, "the change set is larger than allowed (changeset.json %u bytes, events.jsonl"
                         " %u MiB at most)", CHANGESET_MAX_HEADER, CHANGESET_MAX_BYTES >> 20);
                goto out;
        }
        if (r1 < 0 || r2 < 0) {
                snprintf(err, errlen, "cannot read the change set: %s", gerr());
                r = -EINVAL;
                goto out;
        }
        *hlen = (size_t)git_blob_rawsize(b1);
        *elen = (size_t)git_blob_rawsize(b2);
        *hdr = malloc(*hlen + 1);
        *evs = malloc(*elen + 1);
        if (!*hdr || !*evs) {
                free(*hdr);
                free(*evs);
                *hdr = *evs = NULL;
                r = -ENOMEM;
                goto out;
        }
        memcpy(*hdr, git_blob_rawcontent(b1), *hlen);
        memcpy(*evs, git_blob_rawcontent(b2), *elen);
        (*hdr)[*hlen] = (*evs)[*elen] = '\0';
        r = 0;
out:
        git_blob_free(b1);
        git_blob_free(b2);
        git_tree_free(tree);
        return r;
}

/* The last seq on feed ref (0 when it does not exist). */
int feed_last_seq(git_repository *repo, const char *ref, int64_t *ret, git_oid *head, bool *exists)
{
        git_commit *c = NULL;
        char *hdr = NULL, *evs = NULL, err[256];
        size_t hl, el;
        json_t *h;

        *ret = 0;
        *exists = false;
        if (git_reference_name_to_id(head, repo, ref) < 0)
                return 0;
        *exists = true;
        if (git_commit_lookup(&c, repo, head) < 0 || read_commit(repo, c, &hdr, &hl, &evs, &el, err, sizeof err) < 0) {
                git_commit_free(c);
                return -EIO;
        }
        h = json_loadb(hdr, hl, 0, NULL);
        *ret = json_integer_value(json_object_get(h, "last_seq"));
        json_decref(h);
        free(hdr);
        free(evs);
        git_commit_free(c);
        return *ret > 0 ? 0 : -EIO;
}

int feed_commit_seqs(git_repository *repo, const git_oid *id, int64_t *first, int64_t *last)
{
        git_commit *c = NULL;
        char *hdr = NULL, *evs = NULL, err[256];
        size_t hl, el;
        json_t *h;
        int r = -EINVAL;

        if (git_commit_lookup(&c, repo, id) < 0 || read_commit(repo, c, &hdr, &hl, &evs, &el, err, sizeof err) < 0) {
                git_commit_free(c);
                return -EINVAL;
        }
        if ((h = json_loadb(hdr, hl, 0, NULL)) && json_is_integer(json_object_get(h, "first_seq")) &&
            json_is_integer(json_object_get(h, "last_seq"))) {
                *first = json_integer_value(json_object_get(h, "first_seq"));
                *last = json_integer_value(json_object_get(h, "last_seq"));
                r = 0;
        }
        json_decref(h);
        free(hdr);
        free(evs);
        git_commit_free(c);
        return r;
}

void prepared_free(struct prepared *p)
{
        for (size_t i = 0; i < p->ncs; i++)
                changeset_free(&p->cs[i]);
        free(p->cs);
        free(p->ref);
        memset(p, 0, sizeof *p);
}

/* Is change set `id` (writer's seqs first..last) signed as the roster
 * requires? A signature that does not verify is refused even without a
 * roster. 0, or -EINVAL with the reason in err. */
static int check_signature(git_repository *repo, const struct roster *ro, const git_oid *id, const char *writer,
                           int64_t first, int64_t last, char *err, size_t errlen)
{
        uint8_t pk[SSHSIG_PK_BYTES];
        bool is_signed;
        char why[384];
        int r = signed_check(repo, id, &is_signed, pk, why, sizeof why);

        if (r < 0) {
                snprintf(err, errlen, "the change set (seq %" PRId64 "..%" PRId64 ") has a bad signature: %s", first,
                         last, why);
                return -EINVAL;
        }
        if (!ro)
                return 0;
        return roster_check(ro, writer, first, last, is_signed, pk, err, errlen);
}

/* Why an event stamped too far ahead is refused, with both times. */
static void stamp_ahead_msg(const struct cs_event *e, uint64_t now, char *err, size_t errlen)
{
        uint64_t stamp = hlc_ms(e->hlc) > (uint64_t)e->wall_ms ? e->hlc : hlc_make((uint64_t)e->wall_ms, 0);
        char at[48], here[48];

        if (hlc_ms(stamp) > UINT64_C(253402300799999))          /* past 9999-12-31: no calendar date */
                snprintf(at, sizeof at, "%" PRIu64 " (past the year 9999)", stamp);
        else
                hlc_format(stamp, at, sizeof at);
        hlc_format(hlc_make(now, 0), here, sizeof here);
        snprintf(err, errlen, "%s's event seq %" PRId64 " is stamped %s, more than a day ahead of this computer's"
                 " clock (%s); it is refused so that it cannot drag this node's clock forward. If this computer's"
                 " clock is wrong, set it right and sync again", e->node, e->seq, at, here);
}

/* Read and parse a feed's change sets after pos up to its head (want:
 * that commit instead of the ref's, for a proposed update). Fills p;
 * p->r says how it went. Touches git only. */
void prepare_feed(git_repository *repo, const struct feed_trust *tr, const char *ref, const git_oid *want,
                  const char *part, const char *writer, const struct feed_pos *pos, struct prepared *p)
{
        git_oid *chain = NULL;
        size_t nchain = 0;
        int64_t last_seq = pos->last_seq;
        uint64_t now = hlc_now_ms();
        int r = 0;

        memset(p, 0, sizeof *p);
        p->ref = strdup(ref);
        snprintf(p->part, sizeof p->part, "%s", part);
        snprintf(p->writer, sizeof p->writer, "%s", writer);
        p->pos = *pos;
        if (!p->ref) {
                p->r = -ENOMEM;
                return;
        }
        if (want) {
                p->head = *want;
        } else if (git_reference_name_to_id(&p->head, repo, ref) < 0) {
                p->up_to_date = true;
                return;
        }
        if (pos->have_done && git_oid_equal(&p->head, &pos->done)) {
                p->up_to_date = true;
                return;
        }
        /* walk back from the head to what was ingested: the first-parent
         * chain must reach it, or the feed was rewritten */
        {
                enum chain_fault why;
                r = chain_walk(repo, &p->head, pos->have_done ? &pos->done : NULL, 0, true, &chain, &nchain, &why);
                if (r == -EINVAL && why == CHAIN_MISSING)
                        snprintf(p->err, sizeof p->err, "a commit of the feed is missing: %s", gerr());
                else if (r == -EINVAL && why == CHAIN_REWRITTEN)
                        snprintf(p->err, sizeof p->err, "the feed was rewritten: its head does not"
                                 " descend from the change set ingested before; it is not followed");
                else if (r == -EINVAL)
                        snprintf(p->err, sizeof p->err, "a merge commit on a single-writer feed");
        }
        p->nchain = nchain;
        if (r == 0 && nchain && !(p->cs = calloc(nchain, sizeof *p->cs)))
                r = -ENOMEM;
        /* oldest first */
        for (size_t k = nchain; r == 0 && k-- > 0;) {
                git_commit *c = NULL;
                char *hdr = NULL, *evs = NULL;
                size_t hl = 0, el = 0;

                if (git_commit_lookup(&c, repo, &chain[k]) < 0) {
                        snprintf(p->err, sizeof p->err, "a commit of the feed is missing: %s", gerr());
                        r = -EINVAL;
                        break;
                }
                r = read_commit(repo, c, &hdr, &hl, &evs, &el, p->err, sizeof p->err);
                git_commit_free(c);
                if (r == 0)
                        r = changeset_parse(hdr, hl, evs, el, writer, part, last_seq, &p->cs[p->ncs], p->err,
                                            sizeof p->err);
                free(hdr);
                free(evs);
                if (r == 0) {
                        const struct changeset *cs = &p->cs[p->ncs];
                        r = check_signature(repo, tr ? tr->ro : NULL, &chain[k], writer, cs->n ? cs->ev[0].seq : cs->last_seq,
                                            cs->last_seq, p->err, sizeof p->err);
                        if (r < 0)
                                changeset_free(&p->cs[p->ncs]);
                }
                if (r == 0) {
                        /* stamps are checked before the ref can move, on every path */
                        const struct changeset *cs = &p->cs[p->ncs];
                        for (size_t i = 0; i < cs->n && r == 0; i++) {
                                if (hlc_too_far_ahead(cs->ev[i].hlc, cs->ev[i].wall_ms, now)) {
                                        stamp_ahead_msg(&cs->ev[i], now, p->err, sizeof p->err);
                                        r = -EINVAL;
                                } else if (tr && tr->admit && tr->admit(tr->ud, &cs->ev[i], p->err, sizeof p->err)) {
                                        /* the receiver's rules forbid it, or cannot judge it yet */
                                        r = -EINVAL;
                                }
                        }
                        if (r < 0)
                                changeset_free(&p->cs[p->ncs]);
                }
                if (r == 0)
                        last_seq = p->cs[p->ncs++].last_seq;
        }
        free(chain);
        p->r = r;
}
