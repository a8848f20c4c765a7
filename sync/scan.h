/* Scanned materials on the wire. A scan is a git blob in the home's
 * repository (agent/home.c stores it; an app.material event names it by
 * id). To cross a link that drops every few seconds, a scan travels in
 * pieces of at most SCAN_PIECE bytes, one commit per piece, on the
 * writer's scan chain refs/scans/<partition>/<writer>, pushed a piece
 * per push on a slow link (more on a fast one, as scan_push says): an
 * interrupted transfer loses at most the push in flight,
 * and the next sync resumes where the far side stands. The receiver
 * reassembles each scan whose pieces have all arrived and checks that it
 * hashes to its id. The format is in docs/change-set.md ("Scans"). */
#ifndef DAIBAN_SYNC_SCAN_H
#define DAIBAN_SYNC_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/roster.h"
#include "sync/sshsig.h"
#include "sync/store.h"
#include "sync/transfer.h"

#define SCAN_PIECE (48u * 1024u)
/* a push of pieces takes about this long at the rate the last one showed
 * (one piece at least, SCAN_PUSH_MAX at most), longer (up to
 * SCAN_PUSH_S_MAX) where a push's fixed cost is more than a quarter of
 * it: scan_next_batch */
#define SCAN_PUSH_S 8.0
#define SCAN_PUSH_MAX 32u
#define SCAN_PUSH_S_MAX 30.0
#define SCAN_MAX_BYTES (64u * 1024u * 1024u)
#define SCAN_FORMAT "daiban-scan"
#define SCAN_VERSION 1

/* Append the pieces of every scan this node attached (its app.material
 * events that name a blob) and that its chains do not carry yet. 0 or
 * negative with a message logged; *ret_pieces counts new pieces. */
int scan_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key, long *ret_pieces,
                      feed_log_fn log, void *ud);

/* Push this node's scan chains (and those it relays, as feed_push) from
 * where the remote stands: a piece per push on a slow link, up to
 * SCAN_PUSH_MAX when the pushes show it moves more in SCAN_PUSH_S. 0; -EIO/-EPERM as
 * feed_push, after what did go through. *ret_pieces counts pieces sent. */
int scan_push(git_repository *repo, const struct feed_remote *rm, const char *self, long *ret_pieces,
              feed_log_fn log, void *ud);

/* The pieces the push after one of m pieces carries: that one's upload
 * took up_ns (its start to the hall's first word) of took_ns in all, and
 * the kernel saw the link deliver rate bytes/s (0: not known). */
size_t scan_next_batch(size_t m, uint64_t up_ns, uint64_t took_ns, uint64_t rate);

/* Check the pieces that moving ref from old (zero: new chain) to new
 * would add: the strict format, in order, within the limits. pushed: the
 * objects a push brought (git's quarantine), or NULL; when given, every
 * new piece's bytes must be among them or already on the chain, so a
 * push cannot name an object of the hall's it may not read. Every piece
 * must be signed by a key the roster ro gives the chain's writer (ro
 * NULL: without a roster; a signature present must still verify). 0 or
 * -EINVAL with the reason in err. */
int scan_verify(git_repository *repo, const struct roster *ro, const char *ref, const git_oid *old,
                const git_oid *new_head, git_odb *pushed, uint64_t *ret_added, char *err, size_t errlen);

/* The bytes of scan pieces that the chains written by writer hold here,
 * in every partition, counted from the pieces' object headers (the
 * hall's storage quota per node). How far each chain was counted is kept
 * in the store's meta (scan.bytes.<partition>/<writer>: "<tip> <bytes>"),
 * so only the pieces added since are read. 0, or negative (-EIO). */
int scan_usage(store *s, git_repository *repo, const char *writer, uint64_t *ret_bytes);

/* Move fetched or imported SCAN_INCOMING refs of partitions this node may
 * hold into SCAN_PREFIX, fast-forward only, after scan_verify. This
 * node's own chains only with own_too (a restored home catching up). */
int scan_accept_incoming(git_repository *repo, const char *self, const struct roster *ro, bool own_too,
                         int *ret_refused, feed_log_fn log, void *ud);

/* Reassemble every scan on the chains this node holds whose pieces have
 * all arrived and whose blob is not in the repository yet; a scan that
 * does not hash to its id is reported and not stored, its pieces are
 * taken off the chain and removed when nothing else needs them
 * (sync/prune.h: s names the scans events need), and the chain is
 * marked refused: it takes no more pieces. *ret_scans counts scans
 * stored. With budget_ns (0: none), no scan is begun once that long has
 * passed since the call, and *ret_more says scans were left for a later
 * call, which goes on where this one stopped (the hall's round: the
 * feeds it ingests must not wait behind hundreds of scans). */
int scan_assemble(store *s, git_repository *repo, const char *self, bool own_too, uint64_t budget_ns, long *ret_scans,
                  bool *ret_more, feed_log_fn log, void *ud);

#endif
