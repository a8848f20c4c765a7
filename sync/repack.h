/* Packing a repository's objects without losing one: the hall's
 * maintenance.
 *
 * receive-pack stores a small push as loose objects, one file each, and
 * git's own gc is off in every home because it prunes what no ref
 * reaches, and scans are exactly that: blobs named by an app.material
 * event, not by a tree (docs/change-set.md). So a county's repository
 * only grows in loose files. These steps pack them, reachable or not:
 *
 *   1. list the loose objects (and, to merge, the packs) there now;
 *   2. write them into a new pack with libgit2's pack builder (scans,
 *      blobs that do not compress, into a second one built with no
 *      delta search), and fsync the packs, their indexes and
 *      objects/pack;
 *   3. only then unlink what was listed: the loose files, and to merge
 *      the old packs (index first, so no reader finds a pack without
 *      its data).
 *
 * Safe beside pushes and fetches: what arrives after the listing is not
 * touched (a push's pack still carries receive-pack's .keep and is left
 * alone), and a reader that loses a loose file or an old pack looks the
 * object up again and finds it in a new pack (git and libgit2 both
 * rescan objects/pack on a miss). A power cut at any point leaves every
 * object in at least one durable place. */
#ifndef DAIBAN_SYNC_REPACK_H
#define DAIBAN_SYNC_REPACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

struct repack_report {
        size_t loose;           /* loose objects packed (and unlinked) */
        size_t merged;          /* old packs merged into the new one (and removed) */
        size_t objects;         /* objects in the new packs */
        size_t stored;          /* of them, scans: in a pack of their own, with no delta search */
        char pack[GIT_OID_HEXSZ + 1];   /* the other objects' pack, "" when none was written */
        char stored_pack[GIT_OID_HEXSZ + 1];    /* the scans' pack, "" when none */
};

/* How many loose objects and packs (not counting kept ones) the
 * repository at repo_dir holds now. 0, or -errno. */
int repack_count(const char *repo_dir, size_t *loose, size_t *packs);

/* Pack every loose object of repo into a new pack (and the scans into a
 * second, with no delta search); with merge, the objects of the packs
 * there too, into the same new packs, and remove those
 * packs: all of them, or all but the largest while the others together
 * are under half its size (so a big pack is rewritten only as often as
 * it doubles). cancel, when given, is read now and then: true stops
 * before anything is removed. Nothing is removed either while a listing
 * of every object holds repack_lock (the objects are then in the new
 * pack as well as where they were). One packing at a time: -EBUSY
 * when another runs. 0 (rep says what was done), -ECANCELED, or -errno
 * with err set. */
int repack_run(git_repository *repo, bool merge, const atomic_bool *cancel, struct repack_report *rep, char *err,
               size_t errlen);

/* Remove what a packing killed midway left in objects/pack, older than
 * ten minutes: libgit2's temporary packs (pack_git2_*) and a merged
 * pack whose index went first. For a hall's start. The number removed. */
size_t repack_clean(const char *repo_dir);

/* The lock between removing objects (a packing) and listing every
 * object of the repository at repo_dir (a backup): shared for a listing,
 * which waits; exclusive for a removal, which does not. The descriptor
 * to give repack_unlock, or -errno (-EWOULDBLOCK: a listing runs). */
int repack_lock(const char *repo_dir, bool exclusive);
void repack_unlock(int fd);

/* Remove the empty directories under repo_dir/refs/<kind>/ that packing
 * the refs left (refs/feeds/<partition>/ and the like): git and libgit2
 * walk every one of them for each listing of the refs, 13,000 getdents
 * calls for one sync at a county of 418 nodes. Only while nothing writes
 * a ref: a writer may find the folder it just made gone. refs/ and its
 * first level stay. The number removed. */
size_t repack_prune_ref_dirs(const char *repo_dir);

#endif
