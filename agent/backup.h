/* Backup and restore of a node's home as one file (docs/backup.md): the
 * store and station.db by SQLite's online backup API, every ref and
 * object as a git bundle, the installed catalogues, and the node's key
 * sealed with a passphrase or left out; a manifest with a SHA-256 per
 * file. A restored home refuses to write until a sync with the hall has
 * brought back what this node sent after the backup: it must never sign
 * a sequence number twice. Nothing here prints. */
#ifndef DAIBAN_AGENT_BACKUP_H
#define DAIBAN_AGENT_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKUP_FORMAT "daiban-backup"
#define BACKUP_VERSION 1
#define BACKUP_KEEP_DEFAULT 7

/* What went wrong, for a person, in both languages. */
struct backup_msg {
        char en[768], zh[768];
};

struct backup_result {
        char path[4096];                /* the file written */
        char node[32];
        long long events, apps, own_seq;
        long refs, objects, catalogs;
        bool key_sealed;
        uint64_t bytes;
        int removed;                    /* older backups removed to keep N */
};

/* Back up the home at home_dir into to_dir (made if missing) as
 * daiban-<node>-<UTC stamp>.tar.gz, written under a temporary name,
 * synced and renamed. passphrase NULL: the key is left out. keep > 0:
 * then remove this node's oldest backups in to_dir beyond keep. The
 * serving daemon and captures go on meanwhile (WAL readers never block
 * a writer). 0, or -errno with *m filled. */
int backup_write(const char *home_dir, const char *to_dir, const char *passphrase, int keep,
                 struct backup_result *res, struct backup_msg *m);

/* Copy the backup file into dir when a stick is mounted there (dir is a
 * mount point: its device is not its parent's), under a temporary name,
 * synced and renamed; then keep this node's newest `keep` backups there.
 * 1 copied (*ret_path, *ret_removed), 0 no stick mounted at dir (nothing
 * done), or -errno with *m filled (no temporary file left). */
int backup_copy(const char *file, const char *dir, const char *node, int keep, char *ret_path, size_t pathlen,
                int *ret_removed, struct backup_msg *m);

struct restore_result {
        char node[32], role[16], created[40];
        long long events, apps, own_seq;
        long refs, catalogs;
        bool key_from_backup;
        /* an offline restore: the new epoch's first seq and its new key */
        long long floor;
        char key_line[160], fingerprint[80], spoken[64];
};

/* Rebuild a home at home_dir (absent or an empty folder) from file. Every
 * file is checked against the manifest before the home appears; the home
 * is made under a temporary name beside it and renamed. The key comes
 * from the backup (sealed: passphrase needed) or from key_file. The new
 * home is marked restored: it refuses to write until `daiban sync`. 0,
 * -EINVAL (the input was refused: *m says why; nothing was written) or
 * another -errno. */
int backup_restore(const char *file, const char *home_dir, const char *passphrase, const char *key_file,
                   struct restore_result *res, struct backup_msg *m);

/* The same with no link to fetch from: the home gets a new key and a new
 * epoch of sequence numbers (store.h STORE_SEQ_FLOOR) above any its old
 * key could have signed, and writes at once; what it writes is committed
 * to its feeds only after its first sync with the hall, and is accepted
 * there once the county enrolls the new key from res->floor
 * (docs/backup.md, "An offline restore"). A key in the backup is not
 * used. */
int backup_restore_offline(const char *file, const char *home_dir, struct restore_result *res,
                           struct backup_msg *m);

#endif
