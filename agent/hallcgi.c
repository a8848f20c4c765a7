/* What runs between the hall and git for every request: see hallcgi.h.
 * libc, sync/durable.c and agent/log.c only. */
#include "agent/hallcgi.h"
#include "agent/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync/durable.h"

#define NOTES "hall/pushes"             /* under the home: <receive-pack pid>, 256 bytes */
#define NOTE_MAX_AGE 600                /* s: a note older than this is a dead push's */

void hallcgi_refuse(int status, const char *en, const char *zh)
{
        printf("Status: %d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\n%s\n", status, en, zh);
        fflush(stdout);
        log_line("refused a request of %s: %s", getenv("DAIBAN_PUSHER"), en);
}

int hallcgi_start(void)
{
        log_open("hall", 2);    /* a request's stderr is the hall's */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        return getppid() == 1 ? -1 : 0;         /* the hall is gone already */
}

void hallcgi_yield(void)
{
        errno = 0;
        if (nice(HALLCGI_NICE) == -1 && errno)
                log_line("cannot lower this request's priority: %s", strerror(errno));
}

bool hallcgi_push_ok(void)
{
        const char *method = getenv("REQUEST_METHOD"), *enc = getenv("HTTP_CONTENT_ENCODING");

        if (method && strcmp(method, "POST") == 0 && enc && *enc && strcasecmp(enc, "identity") != 0) {
                hallcgi_refuse(415, "a push must not be content-encoded", "推送请求不能压缩编码");
                return false;
        }
        return true;
}

void hallcgi_exec(const char *backend)
{
        execv(backend, (char *[]){ (char *)backend, NULL });
        log_line("cannot run %s: %s", backend, strerror(errno));
}

static void note_path(char *out, size_t len, const char *home, long pid, const char *suffix)
{
        snprintf(out, len, "%s/" NOTES "/%ld%s", home, pid, suffix);
}

/* A note: which receive-pack (its start time, in clock ticks since
 * boot), whether its objects were synced already, and the fan-out
 * folders to sync. */
struct note {
        char magic[4];
        unsigned char done;
        unsigned char pad[3];
        unsigned long long started;
        unsigned char fan[256];
};

#define NOTE_MAGIC "DBN1"

/* When process pid started (field 22 of /proc/pid/stat). 0, or -1. */
static int proc_started(long pid, unsigned long long *out)
{
        char path[64], buf[1024], *p;
        int fd, field = 2;
        ssize_t n;

        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return -1;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        if (!(p = strrchr(buf, ')')))           /* the name may hold spaces and parentheses */
                return -1;
        for (p++; *p && field < 22; p++)
                if (*p == ' ')
                        field++;
        return field == 22 && sscanf(p, "%llu", out) == 1 ? 0 : -1;
}

int hallcgi_note_push(const char *home, const char *quarantine, const unsigned char fan[256])
{
        char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 40];
        struct note nt;
        struct dirent *e;
        long parent = (long)getppid();
        DIR *d;
        int fd;

        snprintf(dir, sizeof dir, "%s/" NOTES, home);
        mkdir(dir, 0700);
        note_path(path, sizeof path, home, parent, "");
        unlink(path);                   /* a note of an earlier receive-pack with this pid */
        /* notes of pushes long over (a receive-pack that died) */
        if ((d = opendir(dir))) {
                time_t now = time(NULL);
                struct stat sb;
                while ((e = readdir(d)))
                        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
                            now - sb.st_mtime > NOTE_MAX_AGE)
                                unlinkat(dirfd(d), e->d_name, 0);
                closedir(d);
        }
        if (!fan || !quarantine)
                return -EINVAL;
        memset(&nt, 0, sizeof nt);
        memcpy(nt.magic, NOTE_MAGIC, 4);
        memcpy(nt.fan, fan, sizeof nt.fan);
        if (proc_started(parent, &nt.started) < 0)
                return -ESRCH;
        /* the quarantine holds objects/xx of this push's new loose objects
         * (and pack/ for a big push, synced by its mtime) */
        if (!(d = opendir(quarantine)))
                return -errno;
        while ((e = readdir(d))) {
                unsigned v;
                if (strlen(e->d_name) == 2 && sscanf(e->d_name, "%2x", &v) == 1)
                        nt.fan[v & 0xff] = 1;
        }
        closedir(d);
        note_path(tmp, sizeof tmp, home, parent, ".tmp");
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
                return -errno;
        ssize_t w = write(fd, &nt, sizeof nt);
        close(fd);
        if (w != (ssize_t)sizeof nt || rename(tmp, path) < 0) {
                unlink(tmp);
                return -EIO;
        }
        return 0;
}

void hallcgi_clear_notes(const char *home)
{
        char dir[PATH_MAX];

        snprintf(dir, sizeof dir, "%s/" NOTES, home);
        durable_remove_tree(dir);
        mkdir(dir, 0700);
}

/* The note of the receive-pack running this hook, or -1 (sync all 256):
 * its descriptor, open for marking it done. */
static int read_note(const char *home, struct note *nt)
{
        char path[PATH_MAX + 32];
        unsigned long long started;
        int fd;

        note_path(path, sizeof path, home, (long)getppid(), "");
        if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
                return -1;
        if (read(fd, nt, sizeof *nt) != (ssize_t)sizeof *nt || memcmp(nt->magic, NOTE_MAGIC, 4) != 0 ||
            proc_started((long)getppid(), &started) < 0 || started != nt->started) {
                close(fd);
                return -1;
        }
        return fd;
}

int hallcgi_ref_sync(const char *state)
{
        const char *home = getenv("DAIBAN_HOME");
        char repo_dir[PATH_MAX], line[1024], path[PATH_MAX + 300];
        int r = 0;

        if (!home || !state) {
                fprintf(stderr, "this is the hall's reference-transaction hook; git receive-pack runs it, behind"
                                " 'daiban hall serve'\n");
                return 2;
        }
        snprintf(repo_dir, sizeof repo_dir, "%s/repo", home);
        if (strcmp(state, "prepared") == 0) {
                /* git has moved the pushed objects out of the quarantine */
                struct note nt;
                int fd = read_note(home, &nt);
                while (fgets(line, sizeof line, stdin))
                        ;
                if (fd < 0 || !nt.done) {
                        r = durable_sync_objects(repo_dir, fd >= 0 ? nt.fan : NULL, time(NULL) - 120);
                        if (r == 0 && fd >= 0) {
                                nt.done = 1;    /* the next transactions of this push need not */
                                if (pwrite(fd, &nt.done, 1, offsetof(struct note, done)) != 1)
                                        r = 0;  /* they sync again: slower, not wrong */
                        }
                }
                if (fd >= 0)
                        close(fd);
        } else if (strcmp(state, "committed") == 0) {
                /* "<old> <new> <ref>" for every ref of the transaction */
                while (fgets(line, sizeof line, stdin)) {
                        char old_hex[64], new_hex[64], ref[900];
                        int k;
                        if (sscanf(line, "%63s %63s %899s", old_hex, new_hex, ref) != 3 ||
                            strncmp(ref, "refs/", 5) != 0 || strstr(ref, ".."))
                                continue;
                        snprintf(path, sizeof path, "%s/%s", repo_dir, ref);
                        if ((k = durable_sync_ref_dirs(repo_dir, path, time(NULL) - 120)) < 0 && r == 0)
                                r = k;
                }
        } else {
                while (fgets(line, sizeof line, stdin))
                        ;
        }
        if (r < 0) {
                /* a hook's stderr is the pusher's: the hall's log is fd 3 */
                log_open("hall", getenv("DAIBAN_HALL_LOG") && fcntl(3, F_GETFD) >= 0 ? 3 : -1);
                log_line("cannot sync %s (%s): %s", repo_dir, state, strerror(-r));
                return 1;
        }
        return 0;
}
