/* Durable steps on the file system; see durable.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/durable.h"

int durable_sync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
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

int durable_sync_objects(const char *repo)
{
        char path[4096];
        int r = 0, k;

        for (int i = 0; i < 256; i++) {
                snprintf(path, sizeof path, "%s/objects/%02x", repo, i);
                if ((k = durable_sync_dir(path)) < 0 && k != -ENOENT && r == 0)
                        r = k;
        }
        snprintf(path, sizeof path, "%s/objects/pack", repo);
        if ((k = durable_sync_dir(path)) < 0 && k != -ENOENT && r == 0)
                r = k;
        snprintf(path, sizeof path, "%s/objects", repo);
        if ((k = durable_sync_dir(path)) < 0 && r == 0)
                r = k;
        return r;
}

static int sync_tree(const char *dir, int depth)
{
        DIR *d;
        struct dirent *e;
        char path[4096];
        int r = 0, k;

        if (depth > 8)
                return 0;
        if (!(d = opendir(dir)))
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d))) {
                struct stat st;

                if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
                        continue;
                if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
                        continue;
                if (e->d_type == DT_UNKNOWN && (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
                        continue;
                if ((k = sync_tree(path, depth + 1)) < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if ((k = durable_sync_dir(dir)) < 0 && r == 0)
                r = k;
        return r;
}

int durable_sync_refs(const char *repo)
{
        char path[4096];
        int r, k;

        snprintf(path, sizeof path, "%s/refs", repo);
        r = sync_tree(path, 0);
        if ((k = durable_sync_dir(repo)) < 0 && r == 0)
                r = k;
        return r;
}
