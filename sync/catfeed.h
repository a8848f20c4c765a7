/* The county's catalogue as a feed: refs/catalog/<county>, a linear
 * chain written only by the county, one commit per published version,
 * whose tree holds the version's sheets (*.csv) and nothing else. The
 * version id is the SHA-1 that home_catalog_version computes over the
 * sheets, so every node can check what it received. Nodes fetch the
 * chain with their feeds (or on a USB stick) and install every version
 * they lack. See docs/change-set.md ("The catalogue feed"). */
#ifndef DAIBAN_SYNC_CATFEED_H
#define DAIBAN_SYNC_CATFEED_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/sshsig.h"

#define CATFEED_MAX_SHEET (64u * 1024u * 1024u)
#define CATFEED_MAX_SHEETS 64
#define CATFEED_MAX_VERSIONS 10000

/* Publish: append the sheets of dir (version id `version`, 40 hex) on
 * refs/catalog/<county> unless the chain's tip already is that version.
 * *ret_published tells whether a commit was made. 0 or negative with a
 * message in err. The commit is signed with key, the county's. */
int catfeed_publish(git_repository *repo, const char *county, const struct sshsig_key *key, const char *dir,
                    const char *version, bool *ret_published, char *err, size_t errlen);

/* The versions on the chain, oldest first: ids (41 bytes each) and their
 * commits, malloc'ed. 0 (n = 0 without a chain) or negative with err. */
int catfeed_list(git_repository *repo, const char *ref, char (**ret_versions)[41], git_oid **ret_commits,
                 size_t *ret_n, char *err, size_t errlen);

/* Write a version's sheets into dir (which must not exist; created).
 * Refuses a tree with anything but plain *.csv blobs, or too large. */
int catfeed_extract(git_repository *repo, const git_oid *commit, const char *dir, char *err, size_t errlen);

/* Move a fetched or imported CATFEED_INCOMING<county> into
 * CATFEED_PREFIX<county> when it is a fast-forward whose new commits are
 * signed by a key the roster ro gives the county (ro NULL: a node without
 * a roster; signatures present must still verify); a rewrite or a bad
 * signer is refused (err) and the incoming ref dropped. *ret_moved tells
 * whether it moved. */
struct roster;
/* Whether the catalogue a fetch left at CATFEED_INCOMING<county> is
 * signed, every version of it, by a key the roster ro gives the county
 * (before it is installed anywhere). 0, -ENOENT (none offered), -EINVAL
 * (err). The incoming ref stays. */
/* The same for versions old..new_tip of the county's chain (old NULL:
 * from its root): a node returning them to a restored hall. */
int catfeed_verify_update(git_repository *repo, const char *county, const struct roster *ro, const git_oid *old,
                          const git_oid *new_tip, char *err, size_t errlen);
int catfeed_verify_offered(git_repository *repo, const char *county, const struct roster *ro, char *err,
                           size_t errlen);
int catfeed_accept(git_repository *repo, const char *county, const struct roster *ro, bool *ret_moved, char *err,
                   size_t errlen);

#endif
