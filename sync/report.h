/* A node's reports to the county: refs/reports/<node>, a linear chain
 * written by that node alone, one commit per report, whose tree holds
 * one file, refused.jsonl: the refusals the node made since its last
 * report (a forged change set on a village's USB stick, refused at its
 * township), one JSON object per line {"at","node","ref","why"} as
 * HOME/hall/refused.jsonl holds the hall's own. The hall takes a node's
 * chain only from that node, fast-forward and bounded; the county's
 * supervision then shows those refusals with who reported them.
 * docs/sync.md ("Reports"). */
#ifndef DAIBAN_SYNC_REPORT_H
#define DAIBAN_SYNC_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/sshsig.h"

#define REPORT_FILE "refused.jsonl"
#define REPORT_MAX_BYTES (64u * 1024u)
#define REPORT_MAX_COMMITS 100          /* new commits in one push */

/* Turn the lines waiting in pending_path into the next report commit on
 * REPORT_PREFIX<self> (signed with key) and remove the file. Nothing
 * waiting: 0 and nothing made. A report larger than REPORT_MAX_BYTES
 * keeps its first lines and says how many were left out. *ret_lines
 * counts the lines sent. 0 or -errno with err. */
int report_commit(git_repository *repo, const char *self, const struct sshsig_key *key, const char *pending_path,
                  long *ret_lines, char *err, size_t errlen);

/* Take the hall's copy of this node's chain (fetched to
 * REPORT_INCOMING<self>) when it is ahead of this home's, as it is after
 * a restore from an older backup: this home's chain then goes on from
 * it, so its reports are pushed again. Reports this home made that the
 * hall's chain lacks are put back into pending_path, to go in the next
 * report. 0, or -errno with err (nothing moved). */
int report_adopt(git_repository *repo, const char *self, const char *pending_path, char *err, size_t errlen);

/* Is the chain from old (zero: none) to new a report chain: linear,
 * at most REPORT_MAX_COMMITS new commits, each tree exactly one blob
 * REPORT_FILE of at most REPORT_MAX_BYTES? 0, or -EINVAL with err. */
int report_check(git_repository *repo, const git_oid *old, const git_oid *new, char *err, size_t errlen);

/* Call line for each line of the reports after from (NULL: all) up to
 * to, oldest first. 0 or -EIO. */
int report_read(git_repository *repo, const git_oid *from, const git_oid *to,
                void (*line)(void *ud, const char *text), void *ud);

#endif
