/* Durable steps on the file system: what a power cut cannot undo.
 *
 * A file's data survives a power cut once the file is fsynced; its name
 * (a new file, a rename, an unlink) once the directory holding it is
 * fsynced. SQLite and libgit2 (with GIT_OPT_ENABLE_FSYNC_GITDIR) do both
 * for the files they write, but libgit2 does not sync the parent of a
 * directory it creates: a loose object's fan-out directory objects/xx,
 * a ref's new refs/feeds/<partition>. These helpers close those gaps.
 * See docs/store.md ("Durability"). */
#ifndef DAIBAN_SYNC_DURABLE_H
#define DAIBAN_SYNC_DURABLE_H

#include <time.h>

/* fsync the directory dir. 0, or -errno. */
int durable_sync_dir(const char *dir);

/* fsync the directory that holds path. 0, or -errno. */
int durable_sync_parent(const char *path);

/* fsync the file at path. 0, or -errno. */
int durable_sync_file(const char *path);

/* Remove path and, for a directory, everything under it (best effort:
 * a temporary folder's leftovers). */
void durable_remove_tree(const char *path);

/* Make every fan-out directory objects/00..ff of the git repository
 * repo exist, durably, so that writing a loose object never creates a
 * directory whose name a power cut could lose while a ref that names the
 * object survives. A mark (objects/info/daiban-fanout) says it was done.
 * 0, or -errno. */
int durable_prepare_repo(const char *repo);

/* fsync the fan-out directories repo/objects/xx whose first byte xx is
 * marked in fan (NULL: all 256), and repo/objects/pack and repo/objects
 * when their entries changed at or after since (their mtime; 0:
 * always): where a stock git that does not sync directories renamed
 * objects. 0, or -errno. */
int durable_sync_objects(const char *repo, const unsigned char *fan, time_t since);

/* fsync the directory holding the ref file ref_path, and each directory
 * above it up to repo/refs whose entries changed at or after since (a
 * new partition's directory), and repo itself if packed-refs changed
 * since then. 0, or -errno. */
int durable_sync_ref_dirs(const char *repo, const char *ref_path, time_t since);

#endif
