/* What sync/ does with the system where Windows differs from POSIX.
 *
 * sync/ is written against POSIX: open, flock, fsync, rename, mkdir,
 * opendir. On Linux this header includes the system headers and nothing
 * else: the same libc calls as before, the ones the fault shims under
 * tests/fault count and break. On Windows (mingw-w64) it maps those names
 * onto platform.c, which takes UTF-8 paths (libuv's synchronous uv_fs_*
 * with a NULL loop, or the wide Win32 API where libuv has nothing), so a
 * home under C:\Users\张三 works whatever the PC's ANSI code page.
 * Include it in place of <dirent.h>, <fcntl.h>, <sys/file.h>,
 * <sys/stat.h> and <unistd.h>, after every other header (on Windows its
 * names are macros: a later header declaring close or rename would see
 * them). See docs/windows.md ("What differs"). */
#ifndef DAIBAN_SYNC_PLATFORM_H
#define DAIBAN_SYNC_PLATFORM_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef _WIN32
#include <signal.h>
#include <sys/file.h>
#else
#include <direct.h>
#include <io.h>
#include <wchar.h>
#endif

/* fsync the file at path (dir false) or the directory (dir true), which
 * makes a new name in it durable. On Windows a directory is not synced
 * (0): NTFS journals its metadata, a rename is made durable by
 * MOVEFILE_WRITE_THROUGH (platform_rename), and FlushFileBuffers does not
 * take a directory handle opened without write access. 0, or -errno. */
int platform_sync_path(const char *path, bool dir);

#ifndef _WIN32
/* Stop this process at once, as a power cut would (a test's fault
 * point): SIGKILL here, TerminateProcess on Windows. */
static inline void platform_kill_self(void)
{
        raise(SIGKILL);
}
#endif

/* Whether dir is the root of a mounted volume, as a USB stick is where
 * the system mounts it: a folder of another device than its parent
 * here; on Windows a drive's root ("E:\\", or a volume mounted on a
 * folder), by GetVolumePathNameW. */
bool platform_volume_root(const char *dir);

/* Windows: path (a file beside a home) readable and writable only by
 * its owner, LocalService and the administrators (a protected access
 * list: what 0600 says here); dir's access list given again to what is
 * in it (entries moved in keep the list of where they came from).
 * Elsewhere nothing: modes do it (0, or -1). */
int platform_private_file(const char *path);
int platform_reinherit(const char *dir);

/* Whether a file that is open or mapped (a pack libgit2 reads) cannot be
 * removed: Windows refuses, POSIX removes the name and keeps the data
 * for whoever holds it. */
#ifdef _WIN32
#define PLATFORM_OPEN_FILES_STAY 1
#else
#define PLATFORM_OPEN_FILES_STAY 0
#endif

#ifdef _WIN32
#include "forms/port.h"         /* strndup */
/* POSIX names sync/ uses, on Windows; each sets errno like its POSIX
 * namesake. */
#define O_CLOEXEC 0             /* libuv opens handles not inherited */
#ifndef CLOCK_REALTIME
#define CLOCK_REALTIME 0
#endif
#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4

struct platform_dirent {
        unsigned char d_type;   /* DT_DIR, DT_REG or DT_UNKNOWN */
        char d_name[1024];      /* UTF-8 */
};
#define DT_UNKNOWN 0
#define DT_DIR 4
#define DT_REG 8
typedef struct platform_dir platform_dir;

int platform_open(const char *path, int flags, ...);
int platform_close(int fd);
int platform_fsync(int fd);
int platform_flock(int fd, int op);
FILE *platform_fopen(const char *path, const char *mode);
int platform_rename(const char *from, const char *to);
int platform_unlink(const char *path);
int platform_rmdir(const char *path);
int platform_mkdir(const char *path, int mode);
int platform_access(const char *path, int mode);
int platform_stat(const char *path, struct _stat64 *sb);
int platform_lstat(const char *path, struct _stat64 *sb);
platform_dir *platform_opendir(const char *path);
struct platform_dirent *platform_readdir(platform_dir *d);
int platform_closedir(platform_dir *d);
int platform_fstatat(platform_dir *d, const char *name, struct _stat64 *sb, int flags);
int platform_unlinkat(platform_dir *d, const char *name, int flags);
int platform_clock_gettime(int clock, struct timespec *ts);
ssize_t platform_getline(char **line, size_t *cap, FILE *f);

void platform_explicit_bzero(void *p, size_t n);    /* SecureZeroMemory */
int platform_link(const char *from, const char *to);        /* CreateHardLinkW */
char *platform_mkdtemp(char *tmpl);                         /* uv_fs_mkdtemp */
char *platform_strcasestr(const char *hay, const char *needle);
void *platform_memmem(const void *hay, size_t hlen, const void *needle, size_t nlen);
/* open_memstream: msvcrt has no FILE of memory, so the text goes to a
 * temporary file that deletes itself when closed; platform_fclose of
 * such a FILE reads it back into *buf (NUL-terminated) and *len. Only
 * the close updates them (POSIX's fflush does too: not used here). */
FILE *platform_open_memstream(char **buf, size_t *len);
int platform_fclose(FILE *f);
void platform_kill_self(void);  /* TerminateProcess: as a power cut stops it */

/* the bundle is copied to another PC by hand; Windows has no modes */
static inline int platform_fchmod(int fd, int mode)
{
        (void)fd;
        (void)mode;
        return 0;
}

#define O_NOFOLLOW 0            /* Windows has no symbolic links a user makes */
#define S_ISLNK(m) 0
#define link platform_link
#define mkdtemp platform_mkdtemp
#define strcasestr platform_strcasestr
#define memmem platform_memmem
#define open_memstream platform_open_memstream
#define fclose(f) platform_fclose(f)
#define malloc_usable_size _msize
#define explicit_bzero platform_explicit_bzero
#define open platform_open
#ifdef JANSSON_H
/* jansson opens a file by its ANSI name: through platform_fopen instead */
json_t *platform_json_load_file(const char *path, size_t flags, json_error_t *error);
#define json_load_file platform_json_load_file
#endif
#define close platform_close
#define fsync platform_fsync
#define flock platform_flock
#define fchmod platform_fchmod
#define fopen platform_fopen
#define rename platform_rename
#define unlink platform_unlink
#define rmdir platform_rmdir
#define mkdir platform_mkdir
#define access platform_access
/* <sys/stat.h> names stat _stat64 (64-bit sizes and times) */
#define _stat64(path, sb) platform_stat(path, sb)
#define lstat(path, sb) platform_lstat(path, sb)
#define dirent platform_dirent
#define DIR platform_dir
#define opendir platform_opendir
#define readdir platform_readdir
#define closedir platform_closedir
#define dirfd(d) (d)
#define fstatat platform_fstatat
#define unlinkat platform_unlinkat
#define clock_gettime platform_clock_gettime
#define getline platform_getline
#endif

#endif
