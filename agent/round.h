/* One round of taking in what came to a home (agent/round.c): the
 * county's roster, then the catalogue, then the feeds and scans waiting
 * at the incoming refs accepted, then ingested and assembled. `daiban
 * sync`, `daiban bundle import` and the hall's ingest run the same steps
 * in this order. */
#ifndef DAIBAN_AGENT_ROUND_H
#define DAIBAN_AGENT_ROUND_H

#include <stdbool.h>
#include <stdint.h>

#include "sync/feed.h"
#include "sync/roster.h"

struct home;
struct git_repository;

struct round {
        struct home *h;
        struct git_repository *repo;
        feed_log_fn log;        /* every message of every step */
        void *ud;
        /* a home restored from a backup, taking back its own feeds */
        bool catching_up;
        struct roster ro;
        bool have_ro;           /* the node holds a roster (ro is it) */
        bool trusted;           /* the roster held can be trusted: feeds may go in */
        bool reread;            /* the roster was read again since trust was made */
        struct feed_trust tr;
        struct feed_report *rep;        /* the caller's: steps add to it */
        int ncat;               /* catalogue versions installed */
        int scan_refused;       /* scan chains refused at the accept */
        long scans;             /* scans assembled whole */
        uint64_t assemble_ns;   /* the time round_assemble may take (0: all it needs) */
        bool scans_more;        /* ...and scans it left for the next round */
        int failed;             /* steps that failed */
};

/* Start a round on h's repository (both stay the caller's); rep is added
 * to. Messages go to log(ud). Call round_end after. */
void round_init(struct round *rd, struct home *h, struct git_repository *repo, struct feed_report *rep,
                bool catching_up, feed_log_fn log, void *ud);

/* The county's roster first (the feeds are checked against it), then the
 * catalogue (applications are checked against the version they name).
 * 0, or -1 when either failed (both are tried); rd->trusted says
 * whether feeds may go in. */
int round_trust(struct round *rd);

/* Read the roster again (a fetch brought a newer one): rd->trusted
 * follows it, and round_ingest trusts it. 0, or -1 (not trusted). */
int round_reread(struct round *rd);

/* Accept the feeds, then the scans, waiting at the incoming refs, when
 * the roster is trusted. 0, or -1 when a step failed or a scan chain
 * was refused (both are tried). */
int round_accept(struct round *rd);

/* Ingest the feeds held, when the roster is trusted (against the roster
 * read last). 0 or -1. */
int round_ingest(struct round *rd);

/* Assemble the scans whose pieces are all held; rd->scans counts them.
 * With rd->assemble_ns, those not begun in that time are left for the
 * next round (rd->scans_more). 0 or -1. */
int round_assemble(struct round *rd);

/* Free what the round holds (its counters stay readable). */
void round_end(struct round *rd);

#endif
