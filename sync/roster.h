/* The county's key roster: which Ed25519 key may sign change sets for
 * which node, over which range of that node's sequence numbers.
 *
 * It travels as its own chain, refs/roster/<county>, one commit per
 * change, each holding the whole roster as a file per node
 * (nodes/<node>.json, beside county.json) and signed by the county's key
 * as the roster before it names it (the first commit: as it names
 * itself, and that key must match the pin a station was installed with,
 * when it has one). A node accepts the chain only as a fast-forward whose
 * every new commit verifies; a commit is checked by the files it changes,
 * so an enrollment costs the same at 20 nodes as at 2,000. Feeds are then
 * checked against it on every path (sync/feedread.c). See docs/roster.md. */
#ifndef DAIBAN_SYNC_ROSTER_H
#define DAIBAN_SYNC_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/sshsig.h"
#include "sync/store.h"

#define ROSTER_NODE_MAX_BYTES (64u * 1024u)         /* one node's file */
#define ROSTER_MAX_NODES 20000                     /* files in nodes/ */

/* One key's right to sign for a node: change sets whose sequence
 * numbers all lie in [from, until) (until 0: no end yet; until == from:
 * a key revoked from its start, named so that its signatures read as
 * revoked rather than unknown). */
struct roster_entry {
        char node[16];
        uint8_t pk[SSHSIG_PK_BYTES];
        int64_t from, until;
        char by[64];            /* the operator who enrolled it */
        int64_t at;             /* when, Unix ms */
        char note[256];         /* how it was enrolled, or why it ended */
};

struct roster {
        char county[7];
        struct roster_entry *e;
        size_t n;
        /* the chain's commit it was read at (roster_open): roster_commit
         * writes a change of it only on that commit, so two writers that
         * read the same roster never lose one another's change */
        bool read_at_known;
        git_oid read_at;
        /* a roster read at the chain's verified tip holds the county's
         * entries (and any roster_add'ed) in e; the other nodes' files
         * are read on first use into this cache (NULL: e is the whole
         * roster) */
        struct roster_lazy *lazy;
};

void roster_free(struct roster *ro);

/* Read every node's file into e and drop the lazy cache (for a command
 * that lists or changes the roster as a whole). 0, -EIO, -ENOMEM. */
int roster_load_all(struct roster *ro, char *err, size_t errlen);

/* roster.json, the whole roster as 0.1.0 wrote it (version 1): read in
 * chains made before version 2, never written. Strict; -EINVAL with the
 * reason in err. */
int roster_parse_v1(const char *json, size_t len, const char *county, struct roster *ro, char *err, size_t errlen);

/* The chain's files, strict (docs/roster.md); -EINVAL with the reason
 * in err. county.json: the format, its version and the county, whose
 * code goes to ro->county (county: the one it must be, or NULL). */
int roster_head_parse(const char *json, size_t len, const char *county, struct roster *ro, char *err, size_t errlen);
int roster_head_build(const char *county, char **ret, size_t *ret_len);
/* One node's file of the chain (nodes/<node>.json): its entries,
 * appended to ro (whose county is set). -EINVAL with the reason in err. */
int roster_node_parse(const char *json, size_t len, const char *node, struct roster *ro, char *err, size_t errlen);
/* The file of node's entries in ro (in their order). 0, -ENOENT (node
 * has none), -ENOMEM. */
int roster_node_build(const struct roster *ro, const char *node, char **ret, size_t *ret_len);

/* Append an entry (copied). 0 or -ENOMEM. */
int roster_add(struct roster *ro, const struct roster_entry *e);

/* Lookups of a node read its file into a lazy roster: an entry pointer
 * they return holds until the next lookup of another node. */

/* The entry a key has for node, open or not (NULL: none). */
const struct roster_entry *roster_find(const struct roster *ro, const char *node, const uint8_t pk[SSHSIG_PK_BYTES]);
/* Does node have any entry? */
bool roster_lists(const struct roster *ro, const char *node);
/* The first seq node's signatures cover: the lowest `from` of its
 * entries (INT64_MAX: none). */
int64_t roster_began(const struct roster *ro, const char *node);
/* The county's key that signs the roster: its entry with no end (the
 * newest). NULL when there is none. */
const struct roster_entry *roster_county_key(const struct roster *ro);

/* May this change set of writer (seqs first..last) be accepted, signed
 * (is_signed) by pk? Change sets wholly before the writer's first entry
 * were written before signatures began and pass either way; after it,
 * the signature must be by a key whose range holds every seq. 0, or
 * -EINVAL with the reason in err (English; what to do). */
int roster_check(const struct roster *ro, const char *writer, int64_t first, int64_t last, bool is_signed,
                 const uint8_t pk[SSHSIG_PK_BYTES], char *err, size_t errlen);

/* ---- the chain in git -------------------------------------------------------- */

/* The roster this node trusts: the chain at refs/roster/<county of
 * self>. *ret_present is false when the node holds no roster (a county
 * that has not enrolled keys yet: feeds are then taken as before
 * signatures). Each commit is verified once; the store remembers the
 * newest it verified. Read at that commit, the roster holds the
 * county's entries and reads another node's file from repo the first
 * time that node is asked for: repo must outlive it. 0, -EINVAL (err:
 * the chain does not verify), -EIO. */
int roster_open(store *s, git_repository *repo, const char *self, struct roster *ro, bool *ret_present, char *err,
                size_t errlen);

/* Move a fetched or imported ROSTER_INCOMING<county> into place when it
 * is a fast-forward whose every new commit verifies, and the county's
 * key matches the node's pin (store meta roster.pin; a node without a
 * pin takes the first roster it is offered and pins its county key).
 * The incoming ref is dropped either way. *ret_moved says whether it
 * moved. 0; -EINVAL with the reason in err (nothing moved); -EIO. */
int roster_accept(store *s, git_repository *repo, const char *self, bool *ret_moved, char *err, size_t errlen);

/* Whether new continues the roster chain at old (NULL: none held) with
 * commits each signed by the county key of the roster before it: a node
 * returning the county's own roster to a hall restored from an older
 * backup (agent/hall-hook.c). 0, -EINVAL (err), -EIO. */
int roster_verify_update(git_repository *repo, const char *county, const char *pin, const git_oid *old,
                         const git_oid *new_tip, char *err, size_t errlen);
/* Verify the roster a fetch left at ROSTER_INCOMING<county> from its
 * root against pin (a county key line or fingerprint, as --county-key
 * gives it), for a node that holds no store yet (init --from-hall checks
 * the catalogue before it installs it). The incoming ref stays. 0 with
 * *ro filled (the whole roster); -ENOENT when none was offered; -EINVAL
 * (err). */
int roster_verify_offered(git_repository *repo, const char *county, const char *pin, struct roster *ro, char *err,
                          size_t errlen);

/* Write ro as the county's next roster commit, signed by key (the
 * county's; it must be the key the current roster gives the county, or
 * the first roster's own). msg: the commit message. 0, -EINVAL (err),
 * -EAGAIN (the chain moved meanwhile: read it again), -EIO. */
int roster_commit(store *s, git_repository *repo, const struct roster *ro, const struct sshsig_key *key,
                  const char *msg, char *err, size_t errlen);

#endif
