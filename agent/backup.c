/* Making a backup of a home as one tar.gz file (backup.h,
 * docs/backup.md): the databases by SQLite's online backup, the
 * repository as a bundle, the catalogues, the sealed key and the
 * manifest; copying it to a stick; keeping the newest N. The small file
 * helpers the restore shares are here too. */
#include "agent/backup.h"
#include "agent/home.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <git2.h>
#include <jansson.h>
#include <sodium.h>

#include "forms/division.h"
#include "sync/changeset.h"
#include "sync/durable.h"
#include "sync/repobackup.h"
#include "sync/sshsig.h"
#include "sync/store.h"
#include "agent/backup-int.h"
#include "sync/platform.h"      /* last: on Windows its names are macros */

void backup_say_en(struct backup_msg *m, const char *zh, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(m->en, sizeof m->en, fmt, ap);
        va_end(ap);
        snprintf(m->zh, sizeof m->zh, "%s", zh);
}

/* ---- small helpers ------------------------------------------------------------ */


int backup_mkdir_p(const char *dir, mode_t mode)
{
        char buf[PATH_MAX];

        if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* libarchive takes a file's name in the locale's code page; daiban's
 * names are UTF-8, which Windows' libarchive takes only as UTF-16 (a
 * home under C:\Users\张三, whatever the PC's ANSI code page). */
#ifdef _WIN32
static wchar_t *widen(struct archive *a, const char *path)
{
        wchar_t *w = port_widen(path);

        if (!w)
                archive_set_error(a, errno, "%s: not a UTF-8 name", path);
        return w;
}

int backup_archive_open_read(struct archive *a, const char *path)
{
        wchar_t *w = widen(a, path);
        int r = w ? archive_read_open_filename_w(a, w, 65536) : ARCHIVE_FATAL;

        free(w);
        return r;
}

int backup_archive_open_write(struct archive *a, const char *path)
{
        wchar_t *w = widen(a, path);
        int r = w ? archive_write_open_filename_w(a, w) : ARCHIVE_FATAL;

        free(w);
        return r;
}
#else
int backup_archive_open_read(struct archive *a, const char *path)
{
        return archive_read_open_filename(a, path, 65536);
}

int backup_archive_open_write(struct archive *a, const char *path)
{
        return archive_write_open_filename(a, path);
}
#endif

void backup_hex_of(const unsigned char *b, size_t n, char *out)
{
        sodium_bin2hex(out, n * 2 + 1, b, n);
}

/* SHA-256 and size of a file. */
static int file_sha256(const char *path, char hex[65], uint64_t *size)
{
        crypto_hash_sha256_state st;
        unsigned char buf[65536], h[crypto_hash_sha256_BYTES];
        FILE *f = fopen(path, "rb");
        size_t n;

        if (!f)
                return -errno;
        crypto_hash_sha256_init(&st);
        *size = 0;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
                crypto_hash_sha256_update(&st, buf, n);
                *size += n;
        }
        int r = ferror(f) ? -EIO : 0;
        fclose(f);
        crypto_hash_sha256_final(&st, h);
        backup_hex_of(h, sizeof h, hex);
        return r;
}


int backup_read_small(const char *path, char **ret, size_t *len)
{
        struct stat sb;
        FILE *f = fopen(path, "rb");
        char *buf;

        if (!f)
                return -errno;
        if (fstat(fileno(f), &sb) < 0 || sb.st_size > (off_t)MAX_SMALL) {
                fclose(f);
                return -EFBIG;
        }
        buf = malloc((size_t)sb.st_size + 1);
        if (!buf || fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        buf[sb.st_size] = '\0';
        *ret = buf;
        *len = (size_t)sb.st_size;
        return 0;
}

int backup_write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0)
                r = errno ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

/* ---- backup --------------------------------------------------------------------- */


struct member *backup_add_member(struct members *ms, const char *name, const char *path)
{
        struct member *nv;

        if (ms->n >= MAX_FILES || !(nv = realloc(ms->v, (ms->n + 1) * sizeof *nv)))
                return NULL;
        ms->v = nv;
        memset(&nv[ms->n], 0, sizeof *nv);
        snprintf(nv[ms->n].name, sizeof nv[ms->n].name, "%s", name);
        snprintf(nv[ms->n].path, sizeof nv[ms->n].path, "%s", path);
        return &nv[ms->n++];
}

/* A catalogue version's folder name: 40 hex digits. */
bool backup_is_version(const char *s)
{
        return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* A sheet's name inside a version: plain, no path, no hidden file. */
bool backup_is_sheet_name(const char *s)
{
        size_t l = strlen(s);
        return l > 0 && l < 100 && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static int add_catalogs(struct members *ms, const char *home, long *nver)
{
        char dir[PATH_MAX];
        DIR *d;
        struct dirent *e;

        snprintf(dir, sizeof dir, "%s/catalogs", home);
        if (!(d = opendir(dir)))
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d))) {
                char vdir[PATH_MAX];
                DIR *vd;
                struct dirent *f;
                if (!backup_is_version(e->d_name))
                        continue;
                snprintf(vdir, sizeof vdir, "%s/%s", dir, e->d_name);
                if (!(vd = opendir(vdir)))
                        continue;
                (*nver)++;
                while ((f = readdir(vd))) {
                        char name[160], path[PATH_MAX];
                        struct stat sb;
                        snprintf(path, sizeof path, "%s/%s", vdir, f->d_name);
                        if (!backup_is_sheet_name(f->d_name) || lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
                                continue;
                        snprintf(name, sizeof name, "catalogs/%s/%s", e->d_name, f->d_name);
                        if (!backup_add_member(ms, name, path)) {
                                closedir(vd);
                                closedir(d);
                                return -ENOMEM;
                        }
                }
                closedir(vd);
        }
        closedir(d);
        return 0;
}

static int archive_member(struct archive *a, const struct member *mb, time_t when)
{
        struct archive_entry *e = archive_entry_new();
        char buf[65536];
        FILE *f = fopen(mb->path, "rb");
        size_t n;
        int r = 0;

        if (!e || !f) {
                r = f ? -ENOMEM : -errno;
                goto out;
        }
        archive_entry_set_pathname(e, mb->name);
        archive_entry_set_size(e, (la_int64_t)mb->size);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_mtime(e, when, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
                r = -EIO;
                goto out;
        }
        uint64_t left = mb->size;
        while (left && (n = fread(buf, 1, left < sizeof buf ? left : sizeof buf, f)) > 0) {
                if (archive_write_data(a, buf, n) != (la_ssize_t)n) {
                        r = -EIO;
                        goto out;
                }
                left -= n;
        }
        if (left)
                r = -EIO;       /* the file shrank after it was hashed */
out:
        if (f)
                fclose(f);
        archive_entry_free(e);
        return r;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep this node's newest `keep` backups in dir. */
static int prune(const char *dir, const char *node, int keep)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char prefix[64], **names = NULL;
        size_t n = 0;
        int removed = 0;

        if (!d)
                return 0;
        snprintf(prefix, sizeof prefix, "daiban-%s-", node);
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                char **nn;
                if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || l < 8 || strcmp(e->d_name + l - 7, ".tar.gz") != 0)
                        continue;
                if (!(nn = realloc(names, (n + 1) * sizeof *names)))
                        break;
                names = nn;
                if ((names[n] = strdup(e->d_name)))
                        n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, cmp_names);     /* the stamp sorts by time */
        for (size_t i = 0; i < n; i++) {
                if ((long)(n - i) > keep) {
                        char path[PATH_MAX];
                        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                        removed += unlink(path) == 0;
                }
                free(names[i]);
        }
        free(names);
        return removed;
}

int backup_copy(const char *file, const char *dir, const char *node, int keep, char *ret_path, size_t pathlen,
                int *ret_removed, struct backup_msg *m)
{
        char tmp[PATH_MAX + 32], buf[65536];
        const char *base = strrchr(file, '/');
        int in = -1, out = -1, r = 0;
        ssize_t n;

        *ret_removed = 0;
        /* no stick: the folder is absent, or the mount is not there */
        if (!platform_volume_root(dir))
                return 0;
        base = base ? base + 1 : file;
        snprintf(ret_path, pathlen, "%s/%s", dir, base);
        snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, base, (long)getpid());
        if ((in = open(file, O_RDONLY | O_CLOEXEC)) < 0 ||
            (out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
                r = -errno;
                goto fail;
        }
        while ((n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)n) != n) {
                        r = errno ? -errno : -EIO;
                        goto fail;
                }
        if (n < 0 || fsync(out) < 0) {
                r = -errno;
                goto fail;
        }
        close(out);
        out = -1;
        if (rename(tmp, ret_path) < 0) {
                r = -errno;
                goto fail;
        }
        durable_sync_parent(ret_path);
        close(in);
        if (keep > 0)
                *ret_removed = prune(dir, node, keep);
        return 1;
fail:
        SAY(m, "the backup %s is written, but its copy to the stick at %s failed (%s): is the stick full or"
            " read-only? Free some space on it, or use another",
            "备份 %s 已写入，但复制到 %s 的U盘失败（%s）：U盘是否已满或只读？请清理空间或换一个U盘", file, dir,
            strerror(-r));
        if (in >= 0)
                close(in);
        if (out >= 0)
                close(out);
        unlink(tmp);
        return r;
}

int backup_write(const char *home_dir, const char *to_dir, const char *passphrase, int keep,
                 struct backup_result *res, struct backup_msg *m)
{
        char stage[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], err[1024] = "", stamp[32], created[32];
        struct members ms = { 0 };
        struct archive *a = NULL;
        git_repository *repo = NULL;
        struct store_summary sum;
        json_t *man = NULL;
        char *node = NULL, *role = NULL, *name = NULL, *mtext = NULL;
        time_t now = time(NULL);
        struct tm tm;
        int r, fd = -1;

        struct timespec ts;

        memset(res, 0, sizeof *res);
        clock_gettime(CLOCK_REALTIME, &ts);
        now = ts.tv_sec;
        gmtime_r(&now, &tm);
        /* milliseconds: two backups in one second keep both */
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
        snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp), ".%03ldZ", ts.tv_nsec / 1000000);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(path, sizeof path, "%s/store.db", home_dir);
        if (access(path, F_OK) < 0) {
                SAY(m, "%s is not a daiban home (it has no store.db): give --home", "%s 不是 daiban 数据目录（没有 store.db）：请用 --home 指定",
                    home_dir);
                return -EINVAL;
        }
        snprintf(stage, sizeof stage, "%s/tmp/backup-%ld-%ld", home_dir, (long)getpid(), (long)now);
        if ((r = backup_mkdir_p(stage, 0700)) < 0) {
                SAY(m, "cannot make %s: %s", "无法创建 %s：%s", stage, strerror(-r));
                return r;
        }
        /* 1. the store first: the repository taken after it holds at
         * least what the store's events were committed as */
        snprintf(tmp, sizeof tmp, "%s/store.db", stage);
        if ((r = store_copy_file(path, tmp, err, sizeof err)) < 0) {
                SAY(m, "cannot copy the store: %s", "无法复制数据库：%s", err);
                goto out;
        }
        backup_add_member(&ms, "store.db", tmp);
        if (store_summary_read(tmp, &sum) < 0 || !(node = strdup(sum.node)) || !(role = strdup(sum.role)) ||
            !division_code_valid(node)) {
                SAY(m, "the store in %s names no node: is it a daiban home?", "%s 中的数据库没有节点编码：这是 daiban 数据目录吗？",
                    home_dir);
                r = -EINVAL;
                goto out;
        }
        name = sum.name[0] ? strdup(sum.name) : NULL;
        snprintf(res->node, sizeof res->node, "%s", node);
        res->events = sum.events;
        res->apps = sum.apps;
        res->own_seq = sum.own_seq;
        long long schema = sum.schema;
        snprintf(path, sizeof path, "%s/station.db", home_dir);
        if (access(path, F_OK) == 0) {
                snprintf(tmp, sizeof tmp, "%s/station.db", stage);
                if ((r = store_copy_file(path, tmp, err, sizeof err)) < 0) {
                        SAY(m, "cannot copy station.db: %s", "无法复制 station.db：%s", err);
                        goto out;
                }
                backup_add_member(&ms, "station.db", tmp);
        }
        /* 2. every ref and object */
        snprintf(path, sizeof path, "%s/repo", home_dir);
        snprintf(tmp, sizeof tmp, "%s/repo.bundle", stage);
        struct repobackup_report rb;
        if (git_repository_open_bare(&repo, path) < 0) {
                SAY(m, "cannot open the repository %s: %s", "无法打开仓库 %s：%s", path,
                    git_error_last() ? git_error_last()->message : "?");
                r = -EIO;
                goto out;
        }
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
            (r = repobackup_write(repo, fd, &rb, err, sizeof err)) < 0) {
                if (fd < 0)
                        snprintf(err, sizeof err, "%s: %s", tmp, strerror(errno));
                SAY(m, "cannot write the repository's bundle: %s", "无法写出仓库的 git 包：%s", err);
                r = r < 0 ? r : -EIO;
                goto out;
        }
        close(fd);
        fd = -1;
        res->refs = rb.refs;
        res->objects = rb.objects;
        backup_add_member(&ms, "repo.bundle", tmp);
        /* 3. the catalogues */
        if ((r = add_catalogs(&ms, home_dir, &res->catalogs)) < 0) {
                SAY(m, "cannot read %s/catalogs: %s", "无法读取 %s/catalogs：%s", home_dir, strerror(-r));
                goto out;
        }
        /* 4. the key, sealed, or left out */
        if (passphrase) {
                char *key = NULL, *sealed;
                size_t klen = 0;
                snprintf(path, sizeof path, "%s/node.key", home_dir);
                if ((r = backup_read_small(path, &key, &klen)) < 0) {
                        SAY(m, "cannot read %s: %s", "无法读取 %s：%s", path, strerror(-r));
                        goto out;
                }
                sealed = backup_seal_key(key, klen, passphrase);
                sodium_memzero(key, klen);
                free(key);
                snprintf(tmp, sizeof tmp, "%s/" SEALED_KEY, stage);
                if (!sealed || (r = backup_write_file(tmp, sealed, strlen(sealed))) < 0) {
                        backup_say_en(m, "无法加密节点密钥", "cannot seal the node's key");
                        free(sealed);
                        r = -EIO;
                        goto out;
                }
                free(sealed);
                backup_add_member(&ms, SEALED_KEY, tmp);
                res->key_sealed = true;
        }
        for (size_t i = 0; i < ms.n; i++) {
                if ((r = file_sha256(ms.v[i].path, ms.v[i].sha, &ms.v[i].size)) < 0) {
                        SAY(m, "cannot read %s: %s", "无法读取 %s：%s", ms.v[i].path, strerror(-r));
                        goto out;
                }
        }
        /* 5. the manifest, first in the archive */
        json_t *files = json_array();
        for (size_t i = 0; i < ms.n; i++)
                json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "path", ms.v[i].name, "size",
                                                       (json_int_t)ms.v[i].size, "sha256", ms.v[i].sha));
        man = json_pack("{s:s,s:i,s:s,s:s,s:s?,s:s,s:I,s:I,s:I,s:I,s:s,s:o}", "format", BACKUP_FORMAT, "version",
                        BACKUP_VERSION, "node", node, "role", role, "name", name, "created", created, "schema",
                        (json_int_t)schema, "events", (json_int_t)res->events, "applications", (json_int_t)res->apps,
                        "own_seq", (json_int_t)res->own_seq, "key", passphrase ? "sealed" : "absent", "files", files);
        snprintf(tmp, sizeof tmp, "%s/" MANIFEST, stage);
        if (!man || !(mtext = json_dumps(man, JSON_INDENT(1) | JSON_SORT_KEYS)) ||
            backup_write_file(tmp, mtext, strlen(mtext)) < 0) {
                SAY(m, "cannot write %s", "无法写入 %s", tmp);
                r = -EIO;
                goto out;
        }
        struct member manifest = { .size = strlen(mtext) };
        snprintf(manifest.name, sizeof manifest.name, MANIFEST);
        snprintf(manifest.path, sizeof manifest.path, "%s", tmp);
        /* 6. the archive, under a temporary name, synced, renamed */
        if ((r = backup_mkdir_p(to_dir, 0700)) < 0) {
                SAY(m, "cannot make the folder %s: %s", "无法创建文件夹 %s：%s", to_dir, strerror(-r));
                goto out;
        }
        snprintf(res->path, sizeof res->path, "%s/daiban-%s-%s.tar.gz", to_dir, node, stamp);
        snprintf(tmp, sizeof tmp, "%s/.daiban-%s-%s.tar.gz.tmp", to_dir, node, stamp);
        a = archive_write_new();
        if (!a || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
            archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            backup_archive_open_write(a, tmp) != ARCHIVE_OK) {
                SAY(m, "cannot write %s: %s", "无法写入 %s：%s", tmp, a ? archive_error_string(a) : "out of memory");
                r = -EIO;
                goto out_tmp;
        }
        r = archive_member(a, &manifest, now);
        for (size_t i = 0; r == 0 && i < ms.n; i++)
                r = archive_member(a, &ms.v[i], now);
        if (r < 0 || archive_write_close(a) != ARCHIVE_OK) {
                SAY(m, "cannot write %s (is the disk full?): %s", "无法写入 %s（磁盘已满？）：%s", tmp,
                    archive_error_string(a) ? archive_error_string(a) : strerror(r < 0 ? -r : EIO));
                r = -EIO;
                goto out_tmp;
        }
        chmod(tmp, 0600);
        /* never over another backup (a rename: a stick's FAT has no links) */
        bool taken = access(res->path, F_OK) == 0;
        errno = EEXIST;
        if ((r = durable_sync_file(tmp)) < 0 || taken || rename(tmp, res->path) < 0 || (r = durable_sync_parent(res->path)) < 0) {
                SAY(m, "cannot write %s: %s", "无法写入 %s：%s", res->path, strerror(r < 0 ? -r : errno));
                r = r < 0 ? r : -errno;
                goto out_tmp;
        }
        struct stat sb;
        if (stat(res->path, &sb) == 0)
                res->bytes = (uint64_t)sb.st_size;
        if (keep > 0)
                res->removed = prune(to_dir, node, keep);
        r = 0;
        goto out;
out_tmp:
        unlink(tmp);
out:
        if (a)
                archive_write_free(a);
        if (fd >= 0)
                close(fd);
        git_repository_free(repo);
        json_decref(man);
        free(mtext);
        free(node);
        free(role);
        free(name);
        free(ms.v);
        durable_remove_tree(stage);
        return r;
}
