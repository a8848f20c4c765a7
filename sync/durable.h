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

/* fsync the directory dir. 0, or -errno. */
int durable_sync_dir(const char *dir);

/* fsync the directory that holds path. 0, or -errno. */
int durable_sync_parent(const char *path);

/* Make every fan-out directory objects/00..ff of the git repository
 * repo exist, durably, so that writing a loose object never creates a
 * directory whose name a power cut could lose while a ref that names the
 * object survives. A mark (objects/info/daiban-fanout) says it was done.
 * 0, or -errno. */
int durable_prepare_repo(const char *repo);

/* fsync repo/objects/00..ff, repo/objects/pack and repo/objects: where
 * a stock git that does not sync directories renamed objects. 0, or
 * -errno. */
int durable_sync_objects(const char *repo);

/* fsync repo/refs and every directory below it (new partitions' ref
 * directories), and repo itself (packed-refs). 0, or -errno. */
int durable_sync_refs(const char *repo);

#endif
