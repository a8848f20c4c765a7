/* What the files of backup and restore (backup.c, backup-key.c,
 * backup-restore.c) share: the archive's names and caps, a member of
 * the archive, the messages' helpers and the small file helpers. */
#ifndef DAIBAN_AGENT_BACKUP_INT_H
#define DAIBAN_AGENT_BACKUP_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#include "agent/backup.h"

#define MANIFEST "MANIFEST.json"
#define SEALED_KEY "node.key.sealed"
#define MAX_FILES 10000
#define MAX_SMALL (1u << 20)    /* the manifest and a sealed key */
/* What a backup may inflate to: a store and packs compress a few times,
 * never hundreds; and the disk keeps a reserve for the rest of the PC */
#define MAX_INFLATE 200u
#define MIN_INFLATE_CAP (256ull << 20)
#define DISK_RESERVE (256ull << 20)

struct member {
        char name[160];                 /* in the archive */
        char path[PATH_MAX];            /* on disk */
        char sha[65];
        uint64_t size;
};

struct members {
        struct member *v;
        size_t n;
};

/* A message in English with arguments and its Chinese without. */
__attribute__((format(printf, 3, 4))) void backup_say_en(struct backup_msg *m, const char *zh, const char *fmt, ...);

/* Both languages with the same arguments. */
#define SAY(m, fen, fzh, ...)                                                     \
        do {                                                                      \
                snprintf((m)->en, sizeof (m)->en, fen, __VA_ARGS__);              \
                snprintf((m)->zh, sizeof (m)->zh, fzh, __VA_ARGS__);              \
        } while (0)

/* Make dir and its parents with mode. 0 or -errno. */
int backup_mkdir_p(const char *dir, mode_t mode);

struct archive;

/* Open the archive a for reading from, or writing to, the file at path
 * (UTF-8 on every platform): libarchive's archive_*_open_filename. */
int backup_archive_open_read(struct archive *a, const char *path);
int backup_archive_open_write(struct archive *a, const char *path);

/* n bytes as lowercase hex into out (2n+1 bytes). */
void backup_hex_of(const unsigned char *b, size_t n, char *out);

/* A small file (at most MAX_SMALL bytes, else -EFBIG) into *ret, malloc'ed. 0 or -errno. */
int backup_read_small(const char *path, char **ret, size_t *len);

/* Write a file (mode 0600) and fsync it. 0 or -errno. */
int backup_write_file(const char *path, const void *data, size_t len);

/* The key sealed with pass (backup-key.c): malloc'ed text, or NULL. */
char *backup_seal_key(const char *key, size_t klen, const char *pass);

/* The sealed key opened (backup-key.c): 0 and the key in *ret (malloc'ed, wipe it), -EACCES for a wrong
 * passphrase, or -EINVAL. */
int backup_open_key(const char *text, const char *pass, char **ret, size_t *ret_len);

/* A new member of ms, or NULL when there are too many (or out of memory). */
struct member *backup_add_member(struct members *ms, const char *name, const char *path);

/* A catalogue version's folder name: 40 hex digits. */
bool backup_is_version(const char *s);

/* A sheet's name inside a version: plain, no path, no hidden file. */
bool backup_is_sheet_name(const char *s);

#endif
