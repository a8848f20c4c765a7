/* Durable steps on the file system; see durable.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sync/durable.h"
#include "sync/platform.h"

int durable_sync_dir(const char *dir)
{
        return platform_sync_path(dir, true);
}

int durable_sync_file(const char *path)
{
        return platform_sync_path(path, false);
}

void durable_remove_tree(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;

        if (!d) {
                unlink(path);
                return;
        }
        while ((e = readdir(d))) {
                char sub[4096];
                struct stat sb;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= sizeof sub)
                        continue;
                if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
                        durable_remove_tree(sub);
                else
                        unlink(sub);
        }
        closedir(d);
        rmdir(path);
}

int durable_sync_parent(const char *path)
{
        char dir[4096];
        const char *slash = strrchr(path, '/');

        if (!slash)
                return durable_sync_dir(".");
        if ((size_t)(slash - path) >= sizeof dir)
                return -ENAMETOOLONG;
        if (slash == path)
                return durable_sync_dir("/");
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        return durable_sync_dir(dir);
}

int durable_prepare_repo(const char *repo)
{
        char path[4096], mark[4096];
        int fd, r;

        /* the mark is written only after the directories are durable */
        if (snprintf(mark, sizeof mark, "%s/objects/info/daiban-fanout", repo) >= (int)sizeof mark)
                return -ENAMETOOLONG;
        if (access(mark, F_OK) == 0)
                return 0;
        for (int i = 0; i < 256; i++) {
                snprintf(path, sizeof path, "%s/objects/%02x", repo, i);
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        snprintf(path, sizeof path, "%s/objects/info", repo);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        snprintf(path, sizeof path, "%s/objects", repo);
        if ((r = durable_sync_dir(path)) < 0)
                return r;
        if ((fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
                return -errno;
        r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        return r < 0 ? r : durable_sync_parent(mark);
}

/* fsync dir if its entries changed at or after since. */
static int sync_if_changed(const char *dir, time_t since)
{
        struct stat st;

        if (since > 0) {
                if (stat(dir, &st) < 0)
                        return -errno;
                if (st.st_mtime < since)
                        return 0;
        }
        return durable_sync_dir(dir);
}

int durable_sync_objects(const char *repo, const unsigned char *fan, time_t since)
{
        char path[4096];
        int r = 0, k;

        for (int i = 0; i < 256; i++) {
                if (fan && !fan[i])
                        continue;
                snprintf(path, sizeof path, "%s/objects/%02x", repo, i);
                if ((k = durable_sync_dir(path)) < 0 && k != -ENOENT && r == 0)
                        r = k;
        }
        snprintf(path, sizeof path, "%s/objects/pack", repo);
        if ((k = sync_if_changed(path, since)) < 0 && k != -ENOENT && r == 0)
                r = k;
        snprintf(path, sizeof path, "%s/objects", repo);
        if ((k = sync_if_changed(path, since)) < 0 && r == 0)
                r = k;
        return r;
}

int durable_sync_ref_dirs(const char *repo, const char *ref_path, time_t since)
{
        char dir[4096], top[4096], *slash;
        struct stat st;
        int r, k;

        if (snprintf(dir, sizeof dir, "%s", ref_path) >= (int)sizeof dir ||
            snprintf(top, sizeof top, "%s/refs", repo) >= (int)sizeof top)
                return -ENAMETOOLONG;
        if ((slash = strrchr(dir, '/')))
                *slash = '\0';
        r = durable_sync_dir(dir);
        if (r == -ENOENT)
                r = 0;          /* the ref went into packed-refs */
        /* a new directory is durable once its parent is synced */
        while (strlen(dir) > strlen(top) && (slash = strrchr(dir, '/'))) {
                *slash = '\0';
                if ((k = sync_if_changed(dir, since)) < 0 && k != -ENOENT && r == 0)
                        r = k;
        }
        snprintf(dir, sizeof dir, "%s/packed-refs", repo);
        if (stat(dir, &st) == 0 && st.st_mtime >= since && (k = durable_sync_dir(repo)) < 0 && r == 0)
                r = k;
        return r;
}
