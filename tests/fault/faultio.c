/* An LD_PRELOAD shim that injects I/O errors into the store's files, for
 * tests/fault/io-errors.py: after FAULT_AFTER successful write or sync
 * calls on a file whose path contains FAULT_PATH (default "store.db"),
 * every later one fails with FAULT_ERRNO (ENOSPC, EIO or EDQUOT; default
 * ENOSPC), as a full or failing disk does. Nothing in daiban knows about
 * it: SQLite's own calls to write/pwrite/fsync are interposed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* Both pwrite and pwrite64 are defined here: keep the headers from
 * renaming one into the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long budget = -2;        /* -2: not read yet; -1: unlimited */
static int fail_errno = ENOSPC;
static const char *match = "store.db";

static void setup(void)
{
        const char *a = getenv("FAULT_AFTER"), *e = getenv("FAULT_ERRNO"), *p = getenv("FAULT_PATH");

        budget = a ? atol(a) : -1;
        if (e && strcmp(e, "EIO") == 0)
                fail_errno = EIO;
        else if (e && strcmp(e, "EDQUOT") == 0)
                fail_errno = EDQUOT;
        if (p && *p)
                match = p;
}

/* True when this call on fd must fail. */
static int inject(int fd)
{
        char link[64], path[4096];
        ssize_t n;

        if (budget == -2)
                setup();
        if (budget < 0)
                return 0;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof path - 1);
        if (n <= 0)
                return 0;
        path[n] = '\0';
        if (!strstr(path, match))
                return 0;
        if (budget > 0) {
                budget--;
                return 0;
        }
        errno = fail_errno;
        return 1;
}

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n)
{
        REAL(write);
        return inject(fd) ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
        REAL(pwrite);
        return inject(fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
        REAL(pwrite64);
        return inject(fd) ? -1 : real_pwrite64(fd, buf, n, off);
}

int fsync(int fd)
{
        REAL(fsync);
        return inject(fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
        REAL(fdatasync);
        return inject(fd) ? -1 : real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
        REAL(ftruncate);
        return inject(fd) ? -1 : real_ftruncate(fd, len);
}
