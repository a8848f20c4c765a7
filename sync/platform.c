/* The system calls of sync/ where Windows differs: see platform.h.
 *
 * On POSIX only platform_sync_path is here (open and fsync, as
 * durable.c always did). On Windows: files, directories and time
 * through libuv's synchronous uv_fs_* (NULL loop: UTF-8 names, the wide
 * API, handles shared for delete so git can rename an open file), and
 * what libuv has nothing for in Win32: LockFileEx for flock,
 * MoveFileExW for a durable replace, _wfopen for stdio. */
#include <errno.h>
#include <stdarg.h>
#ifdef _WIN32
#include <jansson.h>
#include <uv.h>
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#endif

#include "forms/port.h"
#include "sync/platform.h"

#ifndef _WIN32

int platform_private_file(const char *path)
{
        (void)path;
        return 0;
}

int platform_reinherit(const char *dir)
{
        (void)dir;
        return 0;
}

bool platform_volume_root(const char *dir)
{
        char parent[4096];
        struct stat ds, ps;

        snprintf(parent, sizeof parent, "%s/..", dir);
        return stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode) && stat(parent, &ps) == 0 && ds.st_dev != ps.st_dev;
}

int platform_sync_path(const char *path, bool dir)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0)), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

#else

/* the errno of a libuv error (negative; Windows' UV_E* are not -E*) */
static int uv_to_errno(int r)
{
        static const struct { int uv, e; } map[] = {
                { UV_ENOENT, ENOENT }, { UV_EEXIST, EEXIST }, { UV_EACCES, EACCES },
                { UV_EPERM, EPERM }, { UV_EBUSY, EBUSY }, { UV_ENOTEMPTY, ENOTEMPTY },
                { UV_ENOTDIR, ENOTDIR }, { UV_EISDIR, EISDIR }, { UV_ENOSPC, ENOSPC },
                { UV_ENAMETOOLONG, ENAMETOOLONG }, { UV_EINVAL, EINVAL }, { UV_ENOMEM, ENOMEM },
                { UV_EMFILE, EMFILE }, { UV_EXDEV, EXDEV }, { UV_EBADF, EBADF },
        };

        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (map[i].uv == r)
                        return map[i].e;
        return EIO;
}

/* r from a uv_fs_* call: r itself when not negative, else -1 and errno */
static int uv_result(uv_fs_t *req, int r)
{
        uv_fs_req_cleanup(req);
        if (r >= 0)
                return r;
        errno = uv_to_errno(r);
        return -1;
}

/* the errno of GetLastError() */
static int win_errno(void)
{
        switch (GetLastError()) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
                return ENOENT;
        case ERROR_ACCESS_DENIED:
        case ERROR_SHARING_VIOLATION:
                return EACCES;
        case ERROR_ALREADY_EXISTS:
        case ERROR_FILE_EXISTS:
                return EEXIST;
        case ERROR_LOCK_VIOLATION:
        case ERROR_IO_PENDING:
                return EWOULDBLOCK;
        case ERROR_NOT_ENOUGH_MEMORY:
        case ERROR_OUTOFMEMORY:
                return ENOMEM;
        case ERROR_DISK_FULL:
                return ENOSPC;
        default:
                return EIO;
        }
}

int platform_sync_path(const char *path, bool dir)
{
        wchar_t *w;
        DWORD attr;
        int fd, r = 0;

        if (dir)
                return 0;
        /* FlushFileBuffers needs a handle with write access, which a
         * read-only file (libgit2 makes its packs so) refuses: the
         * attribute is lifted for the flush and put back */
        if (!(w = port_widen(path)))
                return -errno;
        attr = GetFileAttributesW(w);
        if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_READONLY))
                SetFileAttributesW(w, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY);
        if ((fd = platform_open(path, O_RDWR)) < 0)
                r = -errno;
        else if (platform_fsync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                platform_close(fd);
        if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_READONLY))
                SetFileAttributesW(w, attr);
        free(w);
        return r;
}

int platform_open(const char *path, int flags, ...)
{
        uv_fs_t req;
        int mode = 0;

        if (flags & O_CREAT) {
                va_list ap;
                va_start(ap, flags);
                mode = va_arg(ap, int);
                va_end(ap);
        }
        return uv_result(&req, uv_fs_open(NULL, &req, path, flags, mode, NULL));
}

int platform_close(int fd)
{
        HANDLE h = (HANDLE)_get_osfhandle(fd);
        OVERLAPPED ov = { 0 };
        uv_fs_t req;

        /* a lock goes with its handle at once, not when Windows gets to it */
        if (h != INVALID_HANDLE_VALUE)
                UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov);
        return uv_result(&req, uv_fs_close(NULL, &req, fd, NULL));
}

int platform_fsync(int fd)
{
        uv_fs_t req;

        return uv_result(&req, uv_fs_fsync(NULL, &req, fd, NULL));
}

int platform_flock(int fd, int op)
{
        HANDLE h = (HANDLE)_get_osfhandle(fd);
        OVERLAPPED ov = { 0 };
        DWORD how = ((op & LOCK_EX) ? LOCKFILE_EXCLUSIVE_LOCK : 0) | ((op & LOCK_NB) ? LOCKFILE_FAIL_IMMEDIATELY : 0);

        if (h == INVALID_HANDLE_VALUE) {
                errno = EBADF;
                return -1;
        }
        /* the whole file; nobody reads or writes a lock file, so that the
         * lock is mandatory on Windows does not matter */
        if (!LockFileEx(h, how, 0, MAXDWORD, MAXDWORD, &ov)) {
                errno = win_errno();
                return -1;
        }
        return 0;
}

FILE *platform_fopen(const char *path, const char *mode)
{
        wchar_t *wp = port_widen(path), *wm = port_widen(mode);
        FILE *f = NULL;

        if (wp && wm)
                f = _wfopen(wp, wm);
        free(wp);
        free(wm);
        return f;
}

int platform_rename(const char *from, const char *to)
{
        wchar_t *wf = port_widen(from), *wt = port_widen(to);
        int r = -1;

        /* replace the target as rename(2) does, and be on disk on return */
        if (wf && wt && MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
                r = 0;
        else if (wf && wt)
                errno = win_errno();
        free(wf);
        free(wt);
        return r;
}

int platform_unlink(const char *path)
{
        uv_fs_t req;

        return uv_result(&req, uv_fs_unlink(NULL, &req, path, NULL));
}

int platform_rmdir(const char *path)
{
        uv_fs_t req;

        return uv_result(&req, uv_fs_rmdir(NULL, &req, path, NULL));
}

int platform_mkdir(const char *path, int mode)
{
        uv_fs_t req;

        return uv_result(&req, uv_fs_mkdir(NULL, &req, path, mode, NULL));
}

int platform_access(const char *path, int mode)
{
        uv_fs_t req;

        return uv_result(&req, uv_fs_access(NULL, &req, path, mode, NULL));
}

static int stat_result(uv_fs_t *req, int r, struct _stat64 *sb)
{
        if (r == 0) {
                memset(sb, 0, sizeof *sb);
                sb->st_mode = (unsigned short)req->statbuf.st_mode;
                sb->st_size = (__int64)req->statbuf.st_size;
                sb->st_mtime = (__time64_t)req->statbuf.st_mtim.tv_sec;
                sb->st_atime = (__time64_t)req->statbuf.st_atim.tv_sec;
                sb->st_ctime = (__time64_t)req->statbuf.st_ctim.tv_sec;
        }
        return uv_result(req, r);
}

int platform_stat(const char *path, struct _stat64 *sb)
{
        uv_fs_t req;

        return stat_result(&req, uv_fs_stat(NULL, &req, path, NULL), sb);
}

int platform_lstat(const char *path, struct _stat64 *sb)
{
        uv_fs_t req;

        return stat_result(&req, uv_fs_lstat(NULL, &req, path, NULL), sb);
}

/* A directory read whole by uv_fs_scandir, handed out entry by entry. */
struct platform_dir {
        uv_fs_t req;
        struct platform_dirent ent;
        char path[];
};

platform_dir *platform_opendir(const char *path)
{
        size_t n = strlen(path) + 1;
        platform_dir *d = malloc(sizeof *d + n);
        int r;

        if (!d) {
                errno = ENOMEM;
                return NULL;
        }
        memcpy(d->path, path, n);
        if ((r = uv_fs_scandir(NULL, &d->req, path, 0, NULL)) < 0) {
                uv_fs_req_cleanup(&d->req);
                free(d);
                errno = uv_to_errno(r);
                return NULL;
        }
        return d;
}

struct platform_dirent *platform_readdir(platform_dir *d)
{
        uv_dirent_t e;

        if (uv_fs_scandir_next(&d->req, &e) < 0)
                return NULL;
        snprintf(d->ent.d_name, sizeof d->ent.d_name, "%s", e.name);
        d->ent.d_type = e.type == UV_DIRENT_DIR ? DT_DIR : e.type == UV_DIRENT_FILE ? DT_REG : DT_UNKNOWN;
        return &d->ent;
}

int platform_closedir(platform_dir *d)
{
        uv_fs_req_cleanup(&d->req);
        free(d);
        return 0;
}

/* name under d's directory; -1 and errno when it does not fit */
static int join(const platform_dir *d, const char *name, char *buf, size_t len)
{
        if ((size_t)snprintf(buf, len, "%s/%s", d->path, name) >= len) {
                errno = ENAMETOOLONG;
                return -1;
        }
        return 0;
}

int platform_fstatat(platform_dir *d, const char *name, struct _stat64 *sb, int flags)
{
        char path[4096];

        (void)flags;
        return join(d, name, path, sizeof path) < 0 ? -1 : platform_stat(path, sb);
}

int platform_unlinkat(platform_dir *d, const char *name, int flags)
{
        char path[4096];

        (void)flags;
        return join(d, name, path, sizeof path) < 0 ? -1 : platform_unlink(path);
}

int platform_clock_gettime(int clock, struct timespec *ts)
{
        uv_timeval64_t tv;
        int r;

        (void)clock;            /* CLOCK_REALTIME only */
        if ((r = uv_gettimeofday(&tv)) < 0) {
                errno = uv_to_errno(r);
                return -1;
        }
        ts->tv_sec = (time_t)tv.tv_sec;
        ts->tv_nsec = (long)tv.tv_usec * 1000;
        return 0;
}

void platform_explicit_bzero(void *p, size_t n)
{
        SecureZeroMemory(p, n);
}

int platform_link(const char *from, const char *to)
{
        wchar_t *wf = port_widen(from), *wt = port_widen(to);
        int r = 0;

        if (!wf || !wt) {
                errno = ENOMEM;
                r = -1;
        } else if (!CreateHardLinkW(wt, wf, NULL)) {
                errno = win_errno();
                r = -1;
        }
        free(wf);
        free(wt);
        return r;
}

char *platform_mkdtemp(char *tmpl)
{
        uv_fs_t req;
        int r = uv_fs_mkdtemp(NULL, &req, tmpl, NULL);

        if (r == 0)
                memcpy(tmpl, req.path, strlen(tmpl));  /* the Xs filled in, same length */
        uv_fs_req_cleanup(&req);
        if (r < 0) {
                errno = uv_to_errno(r);
                return NULL;
        }
        return tmpl;
}

char *platform_strcasestr(const char *hay, const char *needle)
{
        size_t n = strlen(needle);

        for (; *hay; hay++)
                if (_strnicmp(hay, needle, n) == 0)
                        return (char *)hay;
        return n ? NULL : (char *)hay;
}

void *platform_memmem(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
        const char *h = hay;

        if (nlen == 0)
                return (void *)h;
        for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
                if (h[i] == *(const char *)needle && memcmp(h + i, needle, nlen) == 0)
                        return (void *)(h + i);
        return NULL;
}

/* the memory streams open: their FILE and where the text goes */
static struct memstream {
        FILE *f;
        char **buf;
        size_t *len;
} memstreams[16];
static uv_mutex_t memstreams_lock;
static uv_once_t memstreams_once = UV_ONCE_INIT;

static void memstreams_init(void)
{
        if (uv_mutex_init(&memstreams_lock) != 0)
                abort();
}

FILE *platform_open_memstream(char **buf, size_t *len)
{
        wchar_t dir[MAX_PATH + 1], path[MAX_PATH + 1];
        FILE *f = NULL;
        size_t i;

        uv_once(&memstreams_once, memstreams_init);
        /* T: kept in the cache if it can be; D: deleted when closed */
        DWORD nd = GetTempPathW(MAX_PATH + 1, dir);

        if (!nd || nd > MAX_PATH - 14 || !GetTempFileNameW(dir, L"dbn", 0, path) ||
            !(f = _wfopen(path, L"w+bTD"))) {
                errno = EIO;
                return NULL;
        }
        uv_mutex_lock(&memstreams_lock);
        for (i = 0; i < sizeof memstreams / sizeof memstreams[0] && memstreams[i].f; i++)
                ;
        if (i < sizeof memstreams / sizeof memstreams[0])
                memstreams[i] = (struct memstream){ f, buf, len };
        uv_mutex_unlock(&memstreams_lock);
        if (i == sizeof memstreams / sizeof memstreams[0]) {
                (fclose)(f);
                errno = EMFILE;
                return NULL;
        }
        *buf = NULL;
        *len = 0;
        return f;
}

int platform_fclose(FILE *f)
{
        struct memstream m = { 0 };
        long n;

        uv_once(&memstreams_once, memstreams_init);
        uv_mutex_lock(&memstreams_lock);
        for (size_t i = 0; i < sizeof memstreams / sizeof memstreams[0]; i++)
                if (f && memstreams[i].f == f) {
                        m = memstreams[i];
                        memstreams[i].f = NULL;
                }
        uv_mutex_unlock(&memstreams_lock);
        if (!m.f)
                return (fclose)(f);
        /* a write that failed (a full disk) fails the close, as it
         * would fail open_memstream's on POSIX */
        if (fflush(f) != 0 || ferror(f) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
            !(*m.buf = malloc((size_t)n + 1)) || fread(*m.buf, 1, (size_t)n, f) != (size_t)n) {
                free(*m.buf);
                *m.buf = NULL;
                (fclose)(f);
                errno = ENOMEM;
                return EOF;
        }
        (*m.buf)[n] = '\0';
        *m.len = (size_t)n;
        return (fclose)(f);
}

bool platform_volume_root(const char *dir)
{
        wchar_t *w = port_widen(dir), root[MAX_PATH + 1], full[MAX_PATH + 1];
        bool yes = false;
        size_t n;

        DWORD nf = w ? GetFullPathNameW(w, MAX_PATH + 1, full, NULL) : 0;

        /* (a longer path than MAX_PATH is no drive's root) */
        if (w && nf && nf <= MAX_PATH && GetVolumePathNameW(w, root, MAX_PATH + 1)) {
                /* both with a trailing separator: "E:\\" */
                n = wcslen(full);
                if (n && n < MAX_PATH && full[n - 1] != L'\\' && full[n - 1] != L'/')
                        full[n] = L'\\', full[n + 1] = 0;
                for (wchar_t *p = full; *p; p++)
                        if (*p == L'/')
                                *p = L'\\';
                DWORD a = GetFileAttributesW(full);
                yes = _wcsicmp(root, full) == 0 && a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
        }
        free(w);
        return yes;
}

json_t *platform_json_load_file(const char *path, size_t flags, json_error_t *error)
{
        FILE *f = platform_fopen(path, "rb");
        json_t *j;

        if (!f) {
                /* as jansson says it, with no position */
                memset(error, 0, sizeof *error);
                error->line = error->column = -1;
                error->position = 0;
                snprintf(error->source, sizeof error->source, "%.*s", (int)sizeof error->source - 1, path);
                snprintf(error->text, sizeof error->text, "unable to open %s: %s", path, strerror(errno));
                return NULL;
        }
        j = json_loadf(f, flags, error);
        fclose(f);
        return j;
}

/* protected: owner rights, LocalService, Administrators; OICI: what is
 * made inside a folder inherits it */
static int set_dacl(const char *path, const wchar_t *sddl)
{
        wchar_t *w = port_widen(path);
        PSECURITY_DESCRIPTOR sd = NULL;
        PACL dacl = NULL;
        BOOL present = FALSE, defaulted = FALSE;
        DWORD e = ERROR_INVALID_PARAMETER;

        if (w && ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL) &&
            GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) && present)
                e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
                                          DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL,
                                          dacl, NULL);
        LocalFree(sd);
        free(w);
        if (e != ERROR_SUCCESS) {
                SetLastError(e);
                errno = win_errno();
                return -1;
        }
        return 0;
}

int platform_private_file(const char *path)
{
        return set_dacl(path, L"D:P(A;;FA;;;OW)(A;;FA;;;LS)(A;;FA;;;BA)");
}

int platform_reinherit(const char *dir)
{
        wchar_t *w = port_widen(dir);
        PSECURITY_DESCRIPTOR sd = NULL;
        PACL dacl = NULL;
        DWORD e = ERROR_INVALID_PARAMETER;

        /* the folder's own list set again: Windows then gives its
         * inheritable entries to everything inside (SetNamedSecurityInfo
         * propagates), replacing what moved-in entries inherited before */
        if (w)
                e = GetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
        if (e == ERROR_SUCCESS)
                e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, dacl, NULL);
        LocalFree(sd);
        free(w);
        if (e != ERROR_SUCCESS) {
                errno = EIO;
                return -1;
        }
        return 0;
}

void platform_kill_self(void)
{
        TerminateProcess(GetCurrentProcess(), 137);     /* 128 + SIGKILL, as a shell reports it */
}

ssize_t platform_getline(char **line, size_t *cap, FILE *f)
{
        size_t n = 0;
        int c;

        while ((c = getc(f)) != EOF) {
                if (n + 2 > *cap) {
                        size_t ncap = *cap ? *cap * 2 : 128;
                        char *p = realloc(*line, ncap);
                        if (!p) {
                                errno = ENOMEM;
                                return -1;
                        }
                        *line = p, *cap = ncap;
                }
                (*line)[n++] = (char)c;
                if (c == '\n')
                        break;
        }
        if (n == 0)
                return -1;
        (*line)[n] = '\0';
        return (ssize_t)n;
}

#endif
