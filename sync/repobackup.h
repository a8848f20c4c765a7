/* A whole repository as one git bundle, for a backup: every object in
 * its object database (reachable or not: a scan stored before its first
 * sync is referenced only from the store) and every ref outside
 * refs/incoming/. Stock `git bundle verify` and `git clone` read it.
 * The format is docs/backup.md's "repo.bundle". */
#ifndef DAIBAN_SYNC_REPOBACKUP_H
#define DAIBAN_SYNC_REPOBACKUP_H

#include <stddef.h>

#include <git2.h>

struct repobackup_report {
        long refs, objects;
};

/* Write the bundle to f (its position at the end after). 0, or -errno
 * with a message in err. */
int repobackup_write(git_repository *repo, int fd, struct repobackup_report *rep, char *err, size_t errlen);

/* Index the bundle at path into repo (a fresh repository) and create
 * every ref it names, each checked to name an object the pack held. A
 * bundle that is not one, or a truncated or corrupt pack, is refused
 * before any ref is made. 0, -EINVAL (refused, err says why) or
 * -EIO/-ENOMEM. */
int repobackup_restore(git_repository *repo, const char *path, struct repobackup_report *rep, char *err,
                       size_t errlen);

#endif
