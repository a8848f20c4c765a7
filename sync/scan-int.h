/* The scan files' shared pieces, private to them (scanpiece.c,
 * scanwrite.c, scanreceive.c): a piece as read, the local marker refs
 * more than one of them moves, and the readers of pieces and chains
 * (all in scanpiece.c). */
#ifndef DAIBAN_SYNC_SCAN_INT_H
#define DAIBAN_SYNC_SCAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#define ASSEMBLED_PREFIX "refs/daiban/assembled/scans/"
/* a chain whose pieces do not make the scans they name, at this tip:
 * not hashed again (nor logged) until the chain moves */
#define UNASSEMBLED_PREFIX "refs/daiban/unassembled/scans/"
#define MAX_CHAIN 1000000

struct piece {
        char blob[41];
        int64_t size, index, count;
        git_oid piece_blob;
};

/* The bytes of piece index of a scan of size bytes. */
int64_t piece_len(int64_t size, int64_t index);
/* Read and check one piece commit strictly. 0 or -EINVAL (err). */
int read_piece(git_repository *repo, const git_oid *id, struct piece *p, char *err, size_t errlen);
/* The commits after `from` (NULL: from the root) up to `to`, oldest
 * first; -EINVAL when `to` does not descend from `from`. */
int chain_since(git_repository *repo, const git_oid *from, const git_oid *to, git_oid **ret, size_t *ret_n,
                char *err, size_t errlen);
/* The scans already on a chain (from the commit messages; malloc'ed). */
int chain_blobs(git_repository *repo, const char *ref, char (**ret)[41], size_t *ret_n);

#endif
