/* A home's locks: the repository's flock (and the stale git .lock
 * files it makes safe to remove), a path remote's, and one daemon of
 * each kind per home. See home.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "agent/home.h"
#include "agent/home-int.h"
#include "agent/core/result.h"
#include "forms/division.h"
#include "sync/blob.h"
#include "sync/catfeed.h"
#include "sync/durable.h"
#include "sync/feed.h"
#include "sync/roster.h"
#include "sync/scan.h"
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* Remove stale *.lock files below dir (depth-limited). */
static void remove_stale_locks(const char *dir, int depth, home_log_fn *log, void *ud)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[4096 + 300];

        if (!d)
                return;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (e->d_name[0] == '.' && (n == 1 || (n == 2 && e->d_name[1] == '.')))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (n > 5 && strcmp(e->d_name + n - 5, ".lock") == 0) {
                        if (unlink(path) == 0 && log)
                                log(ud, "removed %s, left by an interrupted run", path);
                        continue;
                }
                if (depth > 0 && e->d_type == DT_DIR && strcmp(e->d_name, "objects") != 0)
                        remove_stale_locks(path, depth - 1, log, ud);
        }
        closedir(d);
}

int home_repo_lock(const struct home *h, bool wait, home_log_fn *log, void *ud, struct core_result *res)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s/repo.flock", h->dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (!wait && errno == EWOULDBLOCK) {
                        close(fd);
                        return -2;
                }
                close(fd);
                fd = -1;
        }
        if (fd < 0) {
                core_fail(res, CORE_FAILED, "io_error", "cannot lock %s: %s", "无法锁定 %s：%s", path, strerror(errno));
                return -1;
        }
        snprintf(path, sizeof path, "%s/repo", h->dir);
        remove_stale_locks(path, 6, log, ud);
        durable_prepare_repo(path);     /* best effort: a failure shows at the write */
        return fd;
}

int home_daemon_lock(const struct home *h, const char *which, struct core_result *res)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s/%s.lock", h->dir, which);
        /* not inherited: a sync child outliving the daemon must not hold it */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                return fd;
        if (fd >= 0 && errno == EWOULDBLOCK)
                core_fail(res, CORE_REFUSED, "refused",
                          "another 'daiban %s' is running on %s: stop it first (systemctl stop %s)",
                          "已有另一个“daiban %s”进程在使用 %s：请先停止它（systemctl stop %s）",
                          strcmp(which, "hall") == 0 ? "hall serve" : "serve", h->dir,
                          strcmp(which, "hall") == 0 ? "daiban-hall" : "daiban-station");
        else
                core_fail(res, CORE_FAILED, "io_error", "cannot lock %s: %s", "无法锁定 %s：%s", path, strerror(errno));
        if (fd >= 0)
                close(fd);
        return -1;
}

bool home_daemon_running(const char *dir, const char *which)
{
        char path[4096];
        int fd;
        bool running;

        snprintf(path, sizeof path, "%s/%s.lock", dir, which);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return false;
        running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        close(fd);
        return running;
}

/* True when repo_dir is HOME/repo of a daiban home (store.db beside it). */
static bool is_home_repo(const char *repo_dir)
{
        char path[4096];
        size_t n = strlen(repo_dir);
        struct stat st;

        if (n < 5 || strcmp(repo_dir + n - 5, "/repo") != 0 || n - 5 + sizeof "/store.db" > sizeof path)
                return false;
        snprintf(path, sizeof path, "%.*s/store.db", (int)(n - 5), repo_dir);
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int home_lock_peer_repo(const char *repo_dir, home_log_fn *log, void *ud)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s.flock", repo_dir);      /* HOME/repo -> HOME/repo.flock */
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && is_home_repo(repo_dir))
                /* a home whose own node has not synced yet has no lock
                 * file: make it, or a .lock left in its repository by a
                 * peer killed mid-push would stay until that node syncs */
                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;      /* not a daiban home's repository: nothing to lock */
        if (flock(fd, LOCK_EX) < 0) {
                close(fd);
                return -1;
        }
        /* as for our own repository: with its lock held no daiban writes
         * there, so a .lock left by one killed mid-push is stale */
        remove_stale_locks(repo_dir, 6, log, ud);
        durable_prepare_repo(repo_dir);
        return fd;
}

void home_unlock_repo(int fd)
{
        if (fd >= 0)
                close(fd);
}
