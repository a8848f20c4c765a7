/* libFuzzer target for `daiban restore`'s reader: any bytes as a backup
 * file (docs/backup.md), read by libarchive, then the member names, the
 * manifest and its checksums, the sealed key, the store and the
 * repository's bundle. Whatever the input: a refusal says why and leaves
 * neither the home nor its temporary folder, nothing is written outside
 * them, and an input taken yields a home with its store. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "agent/backup.h"
#include "sync/durable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[PATH_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char file[PATH_MAX + 16], home[PATH_MAX + 16], stage[PATH_MAX + 48], path[PATH_MAX + 16];
        struct restore_result res;
        struct backup_msg m;
        FILE *f;

        static bool ready;

        if (!ready) {
                if (sodium_init() < 0)
                        abort();
                git_libgit2_init();
                ready = true;
        }
        /* a folder of its own for each input, gone when it returns:
         * libFuzzer ends with _Exit, so nothing may be left for exit */
        snprintf(root, sizeof root, "%s/daiban-fuzz-restore-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(root))
                abort();
        snprintf(file, sizeof file, "%s/in.tar.gz", root);
        snprintf(home, sizeof home, "%s/sub/home", root);
        snprintf(path, sizeof path, "%s/sub", root);
        mkdir(path, 0700);
        if (!(f = fopen(file, "wb")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();
        memset(&m, 0, sizeof m);
        int r = backup_restore(file, home, "passphrase", NULL, &res, &m);
        snprintf(stage, sizeof stage, "%s.restoring-%ld", home, (long)getpid());
        if (access(stage, F_OK) == 0)
                abort();                        /* the temporary folder left behind */
        snprintf(path, sizeof path, "%s/store.db", home);
        if (r < 0 && (!m.en[0] || !m.zh[0] || access(home, F_OK) == 0))
                abort();                        /* refused without a reason, or half a home */
        if (r == 0 && access(path, F_OK) != 0)
                abort();
        /* nothing escaped through a member's name ("../evil") */
        snprintf(path, sizeof path, "%s/sub/evil", root);
        if (access(path, F_OK) == 0)
                abort();
        snprintf(path, sizeof path, "%s/evil", root);
        if (access(path, F_OK) == 0)
                abort();
        durable_remove_tree(root);
        return 0;
}
