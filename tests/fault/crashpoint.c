/* An LD_PRELOAD shim that crashes a process at a counted write point,
 * for tests/fault/crash-points.py. Nothing in daiban knows about it: the
 * calls of SQLite, libgit2, git and daiban itself are interposed.
 *
 * A write point is a call that changes a file or directory under one of
 * the roots in CRASH_ROOT (colon-separated absolute paths): write,
 * pwrite, writev, ftruncate, fsync, fdatasync, rename, unlink, rmdir,
 * mkdir, link and an open that creates a file. Every process that has
 * the shim (children too: exec and posix_spawn pass it on, even where
 * the parent gave the child a clean environment) numbers the points it reaches
 * from one counter shared through the file CRASH_COUNTER. The process
 * that reaches point CRASH_AT dies by SIGKILL before making the call:
 * CRASH_KILL=self kills only it, CRASH_KILL=group its process group
 * (a daemon and its children). CRASH_AT_FILE, when set, names a file
 * holding the point as a decimal number, read again at every point: a
 * test running a daemon chooses the point while it runs, from the
 * counter's value then. The file may aim the kill instead: "N OPS PART"
 * kills at the first point from N on whose call is one of OPS
 * (comma-separated names as in the log, or "*" for any) on a path that
 * ends with PART (kill9-serve.py aims so at a window its random points
 * seldom hit). CRASH_LOG, when set, gets a line per point:
 * "N pid op path".
 *
 * Power cuts: with CRASH_SHADOW set to a directory, the shim also keeps
 * what a disk would still hold after losing every write not yet made
 * durable. Each inode has a generation: 0 for what existed before the
 * trial, one more each time the number is given to a new file or
 * directory (SHADOW/g-INODE holds it). At fsync or fdatasync of a file
 * the shim copies its contents to SHADOW/f-INODE-GEN; of a directory,
 * its listing to SHADOW/d-INODE-GEN ("name TAB inode TAB gen TAB d|f"
 * lines). tests/fault/crashpoints.py rebuilds the tree from these and
 * a snapshot taken before the trial. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

extern char **environ;

static int ready;               /* 1: set up; -1: not active */
static char roots[4096];
static long crash_at;
static int kill_group;
static long *counter;
static int log_fd = -1;
static int at_fd = -1;
static char shadow[4096];

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static void setup(void)
{
        const char *r = getenv("CRASH_ROOT"), *c = getenv("CRASH_COUNTER"), *a = getenv("CRASH_AT");
        const char *k = getenv("CRASH_KILL"), *l = getenv("CRASH_LOG"), *s = getenv("CRASH_SHADOW");
        const char *af = getenv("CRASH_AT_FILE");
        int fd;
        void *m;

        ready = -1;
        if (!r || !*r || !c || !*c)
                return;
        snprintf(roots, sizeof roots, "%s", r);
        crash_at = a ? atol(a) : 0;
        kill_group = k && strcmp(k, "group") == 0;
        if (s && *s)
                snprintf(shadow, sizeof shadow, "%s", s);
        fd = open(c, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return;
        m = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
                return;
        counter = m;
        if (l && *l)
                log_fd = open(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (af && *af)
                at_fd = open(af, O_RDONLY | O_CLOEXEC);
        ready = 1;
}

static int under_root(const char *path)
{
        const char *p = roots;

        while (*p) {
                const char *end = strchr(p, ':');
                size_t n = end ? (size_t)(end - p) : strlen(p);

                if (n > 0 && strncmp(path, p, n) == 0 && (path[n] == '/' || path[n] == '\0'))
                        return 1;
                if (!end)
                        break;
                p = end + 1;
        }
        return 0;
}

/* The absolute path of fd, or of path relative to dirfd; "" if unknown. */
static void resolve(int dirfd, const char *path, char *out, size_t size)
{
        char link[64];
        ssize_t n;

        out[0] = '\0';
        if (path && path[0] == '/') {
                snprintf(out, size, "%s", path);
                return;
        }
        if (path) {
                char base[4096];

                if (dirfd == AT_FDCWD) {
                        if (!getcwd(base, sizeof base))
                                return;
                } else {
                        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
                        n = readlink(link, base, sizeof base - 1);
                        if (n <= 0)
                                return;
                        base[n] = '\0';
                }
                snprintf(out, size, "%s/%s", base, path);
                return;
        }
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        n = readlink(link, out, size - 1);
        out[n > 0 ? n : 0] = '\0';
}

/* Whether point n (op on path) is the one CRASH_AT_FILE chooses: "N",
 * or "N OPS PART" (the header comment). Parsed into locals at every
 * point: threads reach points at once. */
static int at_file_chooses(long n, const char *op, const char *path)
{
        char spec[640], ops[128], part[512], *o, *save;
        ssize_t got = pread(at_fd, spec, sizeof spec - 1, 0);
        size_t len = strlen(path), plen;
        long at;
        int fields;

        spec[got > 0 ? got : 0] = '\0';
        fields = sscanf(spec, "%ld %127s %511s", &at, ops, part);
        if (fields < 1 || at <= 0)
                return 0;
        if (fields < 3)
                return n == at;
        plen = strlen(part);
        if (n < at || len < plen || strcmp(path + len - plen, part) != 0)
                return 0;
        for (o = strtok_r(ops, ",", &save); o; o = strtok_r(NULL, ",", &save))
                if (strcmp(o, "*") == 0 || strcmp(o, op) == 0)
                        return 1;
        return 0;
}

/* Count one point on path; die here if it is the chosen one. Returns 1
 * when the path is watched. */
static int point(const char *op, const char *path)
{
        long n;
        char line[4400];
        int len;

        if (!ready)
                setup();
        if (ready < 0 || !path[0] || !under_root(path))
                return 0;
        n = __atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
        if (log_fd >= 0) {
                REAL(write);
                len = snprintf(line, sizeof line, "%ld %d %s %s\n", n, (int)getpid(), op, path);
                /* a line lost to a full disk only shortens the log */
                if (len > 0 && real_write(log_fd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1) < 0)
                        len = 0;
        }
        if (at_fd >= 0 ? at_file_chooses(n, op, path) : crash_at > 0 && n == crash_at)
                kill(kill_group ? 0 : getpid(), SIGKILL);
        return 1;
}

static int fd_point(const char *op, int fd)
{
        char path[4096];

        if (!ready)
                setup();
        if (ready < 0)
                return 0;
        resolve(fd, NULL, path, sizeof path);
        return point(op, path);
}

/* ---- the power-cut shadow ---- */

/* An inode number is reused once its file is gone: its generation (0
 * for what existed before the trial) tells the two apart, so that an
 * old name that was never durably removed keeps the old file's data. */
static unsigned long shadow_gen(ino_t ino)
{
        char name[4200], buf[32];
        ssize_t n;
        int fd;

        snprintf(name, sizeof name, "%s/g-%llu", shadow, (unsigned long long)ino);
        fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        return strtoul(buf, NULL, 10);
}

static void shadow_put(const char *name, const char *data, size_t len)
{
        char tmp[4300];
        int fd;

        REAL(write);
        REAL(rename);
        snprintf(tmp, sizeof tmp, "%s.%d", name, (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        while (len > 0) {
                ssize_t w = real_write(fd, data, len);

                if (w <= 0)
                        break;
                data += w;
                len -= (size_t)w;
        }
        close(fd);
        real_rename(tmp, name);
}

/* A new file or directory on inode ino: a new generation, empty until
 * it is synced. */
static void shadow_new(ino_t ino)
{
        char name[4200], num[32];

        snprintf(name, sizeof name, "%s/g-%llu", shadow, (unsigned long long)ino);
        snprintf(num, sizeof num, "%lu", shadow_gen(ino) + 1);
        shadow_put(name, num, strlen(num));
}

static void shadow_state(char *out, size_t size, char kind, ino_t ino)
{
        snprintf(out, size, "%s/%c-%llu-%lu", shadow, kind, (unsigned long long)ino, shadow_gen(ino));
}

static void shadow_sync(int fd)
{
        struct stat st;

        if (!shadow[0] || fstat(fd, &st) < 0)
                return;
        if (S_ISREG(st.st_mode)) {
                size_t len = (size_t)st.st_size, got = 0;
                char *buf = malloc(len + 1), link[64];
                int rfd;

                if (!buf)
                        return;
                /* fd may be open for writing only: read it anew */
                snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
                rfd = open(link, O_RDONLY | O_CLOEXEC);
                while (rfd >= 0 && got < len) {
                        ssize_t r = pread(rfd, buf + got, len - got, (off_t)got);

                        if (r <= 0)
                                break;
                        got += (size_t)r;
                }
                if (rfd >= 0)
                        close(rfd);
                char name[4200];

                shadow_state(name, sizeof name, 'f', st.st_ino);
                shadow_put(name, buf, got);
                free(buf);
        } else if (S_ISDIR(st.st_mode)) {
                char path[4096], *out = NULL;
                size_t len = 0, cap = 0;
                DIR *d;
                struct dirent *e;

                resolve(fd, NULL, path, sizeof path);
                d = opendir(path);
                if (!d)
                        return;
                while ((e = readdir(d))) {
                        char line[600];
                        int n;

                        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                                continue;
                        n = snprintf(line, sizeof line, "%s\t%llu\t%lu\t%c\n", e->d_name,
                                     (unsigned long long)e->d_ino, shadow_gen(e->d_ino),
                                     e->d_type == DT_DIR ? 'd' : 'f');
                        if (len + (size_t)n + 1 > cap) {
                                char *b = realloc(out, cap = (len + (size_t)n + 1) * 2);

                                if (!b)
                                        break;
                                out = b;
                        }
                        memcpy(out + len, line, (size_t)n);
                        len += (size_t)n;
                }
                closedir(d);
                char name[4200];

                shadow_state(name, sizeof name, 'd', st.st_ino);
                shadow_put(name, out ? out : "", len);
                free(out);
        }
}

static void shadow_created(const char *path)
{
        struct stat st;

        if (shadow[0] && stat(path, &st) == 0)
                shadow_new(st.st_ino);
}

/* ---- interposed calls ---- */

ssize_t write(int fd, const void *buf, size_t n)
{
        REAL(write);
        if (fd > 2)
                fd_point("write", fd);
        return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
        REAL(pwrite);
        fd_point("pwrite", fd);
        return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
        REAL(pwrite64);
        fd_point("pwrite", fd);
        return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
        REAL(writev);
        if (fd > 2)
                fd_point("writev", fd);
        return real_writev(fd, iov, cnt);
}

int ftruncate(int fd, off_t len)
{
        REAL(ftruncate);
        fd_point("ftruncate", fd);
        return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
        REAL(ftruncate64);
        fd_point("ftruncate", fd);
        return real_ftruncate64(fd, len);
}

int fsync(int fd)
{
        int r;

        REAL(fsync);
        if (!fd_point("fsync", fd))
                return real_fsync(fd);
        if ((r = real_fsync(fd)) == 0)
                shadow_sync(fd);
        return r;
}

int fdatasync(int fd)
{
        int r;

        REAL(fdatasync);
        if (!fd_point("fdatasync", fd))
                return real_fdatasync(fd);
        if ((r = real_fdatasync(fd)) == 0)
                shadow_sync(fd);
        return r;
}

int rename(const char *from, const char *to)
{
        char p[4096];

        REAL(rename);
        resolve(AT_FDCWD, to, p, sizeof p);
        point("rename", p);
        return real_rename(from, to);
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
        char p[4096];

        REAL(renameat);
        resolve(fd2, to, p, sizeof p);
        point("rename", p);
        return real_renameat(fd1, from, fd2, to);
}

int unlink(const char *path)
{
        char p[4096];

        REAL(unlink);
        resolve(AT_FDCWD, path, p, sizeof p);
        point("unlink", p);
        return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
        char p[4096];

        REAL(unlinkat);
        resolve(dirfd, path, p, sizeof p);
        point("unlink", p);
        return real_unlinkat(dirfd, path, flags);
}

int rmdir(const char *path)
{
        char p[4096];

        REAL(rmdir);
        resolve(AT_FDCWD, path, p, sizeof p);
        point("rmdir", p);
        return real_rmdir(path);
}

int link(const char *from, const char *to)
{
        char p[4096];

        REAL(link);
        resolve(AT_FDCWD, to, p, sizeof p);
        point("link", p);
        return real_link(from, to);
}

int mkdir(const char *path, mode_t mode)
{
        char p[4096];
        int watched, r;

        REAL(mkdir);
        resolve(AT_FDCWD, path, p, sizeof p);
        watched = point("mkdir", p);
        r = real_mkdir(path, mode);
        if (r == 0 && watched)
                shadow_created(p);
        return r;
}

/* An open that may create: a point only when it creates or truncates. */
static int open_common(int dirfd, const char *path, int flags, mode_t mode, int at)
{
        REAL(open);
        REAL(openat);
        char p[4096];
        struct stat st;
        int existed = 1, fd;

        if (!ready)
                setup();
        if (ready > 0 && (flags & O_CREAT)) {
                resolve(dirfd, path, p, sizeof p);
                if (under_root(p)) {
                        existed = fstatat(AT_FDCWD, p, &st, 0) == 0;
                        if (!existed || (flags & O_TRUNC))
                                point("create", p);
                }
        }
        fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
        /* a new inode's durable state starts empty (a truncated one keeps
         * whatever was synced before, until its next sync) */
        if (fd >= 0 && !existed && shadow[0] && fstat(fd, &st) == 0)
                shadow_new(st.st_ino);
        return fd;
}

/* The mode argument of an open that may create. */
#define MODE_ARG(flags, mode)                                   \
        do {                                                    \
                if ((flags) & (O_CREAT | O_TMPFILE)) {          \
                        va_list ap;                             \
                        va_start(ap, flags);                    \
                        (mode) = va_arg(ap, mode_t);            \
                        va_end(ap);                             \
                }                                               \
        } while (0)

int open(const char *path, int flags, ...)
{
        mode_t mode = 0;

        MODE_ARG(flags, mode);
        return open_common(AT_FDCWD, path, flags, mode, 0);
}

int open64(const char *path, int flags, ...)
{
        mode_t mode = 0;

        MODE_ARG(flags, mode);
        return open_common(AT_FDCWD, path, flags | O_LARGEFILE, mode, 0);
}

int openat(int dirfd, const char *path, int flags, ...)
{
        mode_t mode = 0;

        MODE_ARG(flags, mode);
        return open_common(dirfd, path, flags, mode, 1);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
        mode_t mode = 0;

        MODE_ARG(flags, mode);
        return open_common(dirfd, path, flags | O_LARGEFILE, mode, 1);
}

/* ---- passing the shim on to children with a clean environment ---- */

static const char *const carried[] = {
        "LD_PRELOAD", "CRASH_ROOT", "CRASH_COUNTER", "CRASH_AT", "CRASH_AT_FILE", "CRASH_KILL", "CRASH_LOG",
        "CRASH_SHADOW",
};
#define NCARRIED (sizeof carried / sizeof carried[0])
static char carried_val[NCARRIED][4200];

__attribute__((constructor)) static void remember(void)
{
        for (size_t i = 0; i < NCARRIED; i++) {
                const char *v = getenv(carried[i]);

                if (v)
                        snprintf(carried_val[i], sizeof carried_val[i], "%s=%s", carried[i], v);
        }
}

/* envp plus whichever carried variables it lacks, into out (room for
 * cap pointers, the NULL included). */
static char **carry(char *const envp[], char **out, size_t cap)
{
        size_t n = 0;

        for (; envp && envp[n] && n < cap - NCARRIED - 1; n++)
                out[n] = envp[n];
        for (size_t i = 0; i < NCARRIED; i++) {
                size_t k = strlen(carried[i]);
                int have = 0;

                if (!carried_val[i][0])
                        continue;
                for (size_t j = 0; envp && envp[j]; j++)
                        if (strncmp(envp[j], carried[i], k) == 0 && envp[j][k] == '=')
                                have = 1;
                if (!have)
                        out[n++] = carried_val[i];
        }
        out[n] = NULL;
        return out;
}

/* For the exec wrappers: static storage (the caller is about to exec). */
static char **with_carried(char *const envp[])
{
        static char *out[4096];

        return carry(envp, out, 4096);
}

int execve(const char *file, char *const argv[], char *const envp[])
{
        REAL(execve);
        return real_execve(file, argv, with_carried(envp));
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
        REAL(execvpe);
        return real_execvpe(file, argv, with_carried(envp));
}

int execvp(const char *file, char *const argv[])
{
        REAL(execvpe);
        return real_execvpe(file, argv, with_carried(environ));
}

int execv(const char *file, char *const argv[])
{
        REAL(execve);
        return real_execve(file, argv, with_carried(environ));
}

/* posix_spawn execs inside glibc, past the wrappers above: its
 * environment gets the carried variables here, in a copy per call (the
 * hall's spawner threads call it at once). NULL: out of memory. */
static char **carried_copy(char *const envp[])
{
        size_t n = 0;
        char **out;

        while (envp && envp[n])
                n++;
        if (!(out = malloc((n + NCARRIED + 1) * sizeof *out)))
                return NULL;
        return carry(envp, out, n + NCARRIED + 1);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
                char *const argv[], char *const envp[])
{
        REAL(posix_spawn);
        char **env = carried_copy(envp);
        int r = real_posix_spawn(pid, path, fa, at, argv, env ? env : envp);
        free(env);
        return r;
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
                 char *const argv[], char *const envp[])
{
        REAL(posix_spawnp);
        char **env = carried_copy(envp);
        int r = real_posix_spawnp(pid, file, fa, at, argv, env ? env : envp);
        free(env);
        return r;
}
