/* One round of taking in what came to a home, written once for `daiban
 * sync`, `daiban bundle import` and the hall's ingest: the county's
 * roster, then the catalogue, then the feeds and scans accepted from the
 * incoming refs, then the feeds ingested (against the roster read last)
 * and the scans assembled. Nothing here prints: every message goes to
 * the round's log callback, and what failed is counted on the round. */
#include "agent/round.h"

#include <string.h>

#include "agent/authority.h"
#include "agent/home.h"
#include "sync/scan.h"

void round_init(struct round *rd, struct home *h, struct git_repository *repo, struct feed_report *rep,
                bool catching_up, feed_log_fn log, void *ud)
{
        memset(rd, 0, sizeof *rd);
        rd->h = h;
        rd->repo = repo;
        rd->rep = rep;
        rd->catching_up = catching_up;
        rd->log = log;
        rd->ud = ud;
}

static int step(struct round *rd, bool ok)
{
        if (ok)
                return 0;
        rd->failed++;
        return -1;
}

static void trust(struct round *rd)
{
        authority_trust(rd->h, rd->have_ro ? &rd->ro : NULL, &rd->tr);
        rd->tr.catch_up_own = rd->catching_up;
        rd->reread = false;
}

int round_trust(struct round *rd)
{
        /* the county's roster first: the feeds are checked against it */
        rd->trusted = home_roster(rd->h, rd->repo, &rd->ro, &rd->have_ro, rd->log, rd->ud) == 0;
        int r = step(rd, rd->trusted);
        /* then the catalogue: applications are checked against the version they name */
        if (step(rd, home_sync_catalog(rd->h, rd->repo, &rd->ncat, rd->log, rd->ud) >= 0) < 0)
                r = -1;
        trust(rd);
        return r;
}

int round_reread(struct round *rd)
{
        roster_free(&rd->ro);
        rd->reread = true;
        if (home_roster(rd->h, rd->repo, &rd->ro, &rd->have_ro, rd->log, rd->ud) < 0)
                rd->trusted = false;
        return step(rd, rd->trusted);
}

int round_accept(struct round *rd)
{
        if (!rd->trusted)
                return 0;
        int r = step(rd, feed_accept_incoming(rd->repo, rd->h->node, &rd->tr, rd->rep, rd->log, rd->ud) >= 0);
        if (step(rd, scan_accept_incoming(rd->repo, rd->h->node, rd->have_ro ? &rd->ro : NULL, rd->catching_up,
                                          &rd->scan_refused, rd->log, rd->ud) >= 0 && !rd->scan_refused) < 0)
                r = -1;
        return r;
}

int round_ingest(struct round *rd)
{
        if (rd->reread)
                trust(rd);      /* the roster may have been read again */
        if (!rd->trusted)
                return 0;
        return step(rd, feed_ingest(rd->h->st, rd->repo, rd->h->node, &rd->tr, rd->rep, rd->log, rd->ud) >= 0);
}

int round_assemble(struct round *rd)
{
        return step(rd, scan_assemble(rd->h->st, rd->repo, rd->h->node, rd->catching_up, rd->assemble_ns, &rd->scans,
                                      &rd->scans_more, rd->log, rd->ud) >= 0);
}

void round_end(struct round *rd)
{
        roster_free(&rd->ro);
        memset(&rd->ro, 0, sizeof rd->ro);
        rd->have_ro = false;
}
