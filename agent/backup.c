/* Backup and restore of a home as one tar.gz file (backup.h). */
#include "agent/backup.h"
#include "agent/home.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

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

#define MANIFEST "MANIFEST.json"
#define SEALED_KEY "node.key.sealed"
#define MAX_FILES 10000
#define MAX_SMALL (1u << 20)    /* the manifest and a sealed key */
/* What a backup may inflate to: a store and packs compress a few times,
 * never hundreds; and the disk keeps a reserve for the rest of the PC */
#define MAX_INFLATE 200u
#define MIN_INFLATE_CAP (256ull << 20)
#define DISK_RESERVE (256ull << 20)

__attribute__((format(printf, 3, 4))) static void say_en(struct backup_msg *m, const char *zh, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(m->en, sizeof m->en, fmt, ap);
        va_end(ap);
        snprintf(m->zh, sizeof m->zh, "%s", zh);
}

/* Both languages with the same arguments. */
#define SAY(m, fen, fzh, ...)                                                     \
        do {                                                                      \
                snprintf((m)->en, sizeof (m)->en, fen, __VA_ARGS__);              \
                snprintf((m)->zh, sizeof (m)->zh, fzh, __VA_ARGS__);              \
        } while (0)

/* ---- small helpers ------------------------------------------------------------ */


static int mkdir_p(const char *dir, mode_t mode)
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

static void hex_of(const unsigned char *b, size_t n, char *out)
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
        hex_of(h, sizeof h, hex);
        return r;
}


static int read_small(const char *path, char **ret, size_t *len)
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

static int write_file(const char *path, const void *data, size_t len)
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

/* ---- the key, sealed with a passphrase -------------------------------------------- */

/* argon2id at libsodium's "interactive" cost (64 MiB): an old station PC
 * can open it; a guess costs the same */
static char *seal_key(const char *key, size_t klen, const char *pass)
{
        unsigned char salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES], k[crypto_secretbox_KEYBYTES];
        unsigned char *box = malloc(klen + crypto_secretbox_MACBYTES);
        char salt_hex[sizeof salt * 2 + 1], nonce_hex[sizeof nonce * 2 + 1], *b64, *out = NULL;
        size_t blen = klen + crypto_secretbox_MACBYTES;

        if (!box)
                return NULL;
        randombytes_buf(salt, sizeof salt);
        randombytes_buf(nonce, sizeof nonce);
        if (crypto_pwhash(k, sizeof k, pass, strlen(pass), salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
                free(box);
                return NULL;
        }
        crypto_secretbox_easy(box, (const unsigned char *)key, klen, nonce, k);
        sodium_memzero(k, sizeof k);
        hex_of(salt, sizeof salt, salt_hex);
        hex_of(nonce, sizeof nonce, nonce_hex);
        size_t b64len = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
        if ((b64 = malloc(b64len))) {
                sodium_bin2base64(b64, b64len, box, blen, sodium_base64_VARIANT_ORIGINAL);
                json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "format", "daiban-sealed-key", "kdf",
                                      "argon2id13", "opslimit", (json_int_t)crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                      "memlimit", (json_int_t)crypto_pwhash_MEMLIMIT_INTERACTIVE, "salt", salt_hex,
                                      "nonce", nonce_hex, "box", b64);
                out = j ? json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
                json_decref(j);
                free(b64);
        }
        free(box);
        return out;
}

/* 0 and the key in *ret (malloc'ed, wipe it), -EACCES for a wrong
 * passphrase, -EINVAL for a file that is not a sealed key. The costs it
 * names are bounded (at most libsodium's "moderate", 256 MiB): a backup
 * cannot make a restore take a gigabyte. */
static int open_key(const char *text, const char *pass, char **ret, size_t *ret_len)
{
        json_t *j = json_loads(text, 0, NULL);
        const char *fmt = NULL, *kdf = NULL, *salt_hex = NULL, *nonce_hex = NULL, *b64 = NULL;
        json_int_t ops = 0, mem = 0;
        unsigned char salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES], k[crypto_secretbox_KEYBYTES];
        size_t sl = 0, nl = 0, blen = 0;
        int r = -EINVAL;

        if (!j || json_unpack(j, "{s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "format", &fmt, "kdf", &kdf, "opslimit", &ops,
                              "memlimit", &mem, "salt", &salt_hex, "nonce", &nonce_hex, "box", &b64) < 0 ||
            strcmp(fmt, "daiban-sealed-key") != 0 || strcmp(kdf, "argon2id13") != 0 ||
            ops < (json_int_t)crypto_pwhash_OPSLIMIT_MIN || ops > (json_int_t)crypto_pwhash_OPSLIMIT_MODERATE ||
            mem < (json_int_t)crypto_pwhash_MEMLIMIT_MIN || mem > (json_int_t)crypto_pwhash_MEMLIMIT_MODERATE ||
            sodium_hex2bin(salt, sizeof salt, salt_hex, strlen(salt_hex), NULL, &sl, NULL) != 0 || sl != sizeof salt ||
            sodium_hex2bin(nonce, sizeof nonce, nonce_hex, strlen(nonce_hex), NULL, &nl, NULL) != 0 ||
            nl != sizeof nonce || strlen(b64) > 64 * 1024)
                goto out;
        unsigned char *box = malloc(strlen(b64));
        if (!box || sodium_base642bin(box, strlen(b64), b64, strlen(b64), NULL, &blen, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
            blen <= crypto_secretbox_MACBYTES) {
                free(box);
                goto out;
        }
        char *key = malloc(blen - crypto_secretbox_MACBYTES + 1);
        r = -ENOMEM;
        if (key && crypto_pwhash(k, sizeof k, pass, strlen(pass), salt, (unsigned long long)ops, (size_t)mem,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0) {
                r = crypto_secretbox_open_easy((unsigned char *)key, box, blen, nonce, k) == 0 ? 0 : -EACCES;
                sodium_memzero(k, sizeof k);
        }
        free(box);
        if (r == 0) {
                key[blen - crypto_secretbox_MACBYTES] = '\0';
                *ret = key;
                *ret_len = blen - crypto_secretbox_MACBYTES;
        } else {
                free(key);
        }
out:
        json_decref(j);
        return r;
}

/* ---- backup --------------------------------------------------------------------- */

struct member {
        char name[160];                 /* in the archive */
        char path[PATH_MAX];            /* on disk */
        char sha[65];
        uint64_t size;
};

struct members {
        struct member *v;
        size_t n;
};

static struct member *add_member(struct members *ms, const char *name, const char *path)
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
static bool is_version(const char *s)
{
        return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* A sheet's name inside a version: plain, no path, no hidden file. */
static bool is_sheet_name(const char *s)
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
                if (!is_version(e->d_name))
                        continue;
                snprintf(vdir, sizeof vdir, "%s/%s", dir, e->d_name);
                if (!(vd = opendir(vdir)))
                        continue;
                (*nver)++;
                while ((f = readdir(vd))) {
                        char name[160], path[PATH_MAX];
                        struct stat sb;
                        snprintf(path, sizeof path, "%s/%s", vdir, f->d_name);
                        if (!is_sheet_name(f->d_name) || lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
                                continue;
                        snprintf(name, sizeof name, "catalogs/%s/%s", e->d_name, f->d_name);
                        if (!add_member(ms, name, path)) {
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
        char parent[PATH_MAX], tmp[PATH_MAX + 32], buf[65536];
        struct stat ds, ps;
        const char *base = strrchr(file, '/');
        int in = -1, out = -1, r = 0;
        ssize_t n;

        *ret_removed = 0;
        snprintf(parent, sizeof parent, "%s/..", dir);
        /* no stick: the folder is absent, or the mount is not there */
        if (stat(dir, &ds) < 0 || !S_ISDIR(ds.st_mode) || stat(parent, &ps) < 0 || ds.st_dev == ps.st_dev)
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
        if ((r = mkdir_p(stage, 0700)) < 0) {
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
        add_member(&ms, "store.db", tmp);
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
                add_member(&ms, "station.db", tmp);
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
        add_member(&ms, "repo.bundle", tmp);
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
                if ((r = read_small(path, &key, &klen)) < 0) {
                        SAY(m, "cannot read %s: %s", "无法读取 %s：%s", path, strerror(-r));
                        goto out;
                }
                sealed = seal_key(key, klen, passphrase);
                sodium_memzero(key, klen);
                free(key);
                snprintf(tmp, sizeof tmp, "%s/" SEALED_KEY, stage);
                if (!sealed || (r = write_file(tmp, sealed, strlen(sealed))) < 0) {
                        say_en(m, "无法加密节点密钥", "cannot seal the node's key");
                        free(sealed);
                        r = -EIO;
                        goto out;
                }
                free(sealed);
                add_member(&ms, SEALED_KEY, tmp);
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
            write_file(tmp, mtext, strlen(mtext)) < 0) {
                SAY(m, "cannot write %s", "无法写入 %s", tmp);
                r = -EIO;
                goto out;
        }
        struct member manifest = { .size = strlen(mtext) };
        snprintf(manifest.name, sizeof manifest.name, MANIFEST);
        snprintf(manifest.path, sizeof manifest.path, "%s", tmp);
        /* 6. the archive, under a temporary name, synced, renamed */
        if ((r = mkdir_p(to_dir, 0700)) < 0) {
                SAY(m, "cannot make the folder %s: %s", "无法创建文件夹 %s：%s", to_dir, strerror(-r));
                goto out;
        }
        snprintf(res->path, sizeof res->path, "%s/daiban-%s-%s.tar.gz", to_dir, node, stamp);
        snprintf(tmp, sizeof tmp, "%s/.daiban-%s-%s.tar.gz.tmp", to_dir, node, stamp);
        a = archive_write_new();
        if (!a || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
            archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
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

/* ---- restore ------------------------------------------------------------------- */

/* Names a backup may hold, and nothing else. */
static bool allowed_name(const char *n)
{
        if (strcmp(n, MANIFEST) == 0 || strcmp(n, "store.db") == 0 || strcmp(n, "station.db") == 0 ||
            strcmp(n, "repo.bundle") == 0 || strcmp(n, SEALED_KEY) == 0)
                return true;
        if (strncmp(n, "catalogs/", 9) != 0 || strlen(n) < 9 + 41)
                return false;
        char v[41];
        memcpy(v, n + 9, 40);
        v[40] = '\0';
        return is_version(v) && n[49] == '/' && is_sheet_name(n + 50);
}

static int extract(const char *file, const char *stage, struct members *got, struct backup_msg *m)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        struct stat sb;
        struct statvfs vfs;
        uint64_t total = 0, cap = MIN_INFLATE_CAP, room = UINT64_MAX;
        int r = 0, rc;

        if (!a)
                return -ENOMEM;
        /* a file that inflates past reason, or past the free disk, stops
         * at that point: a bomb neither fills the disk nor takes hours */
        if (stat(file, &sb) == 0 && (uint64_t)sb.st_size * MAX_INFLATE > cap)
                cap = (uint64_t)sb.st_size * MAX_INFLATE;
        if (statvfs(stage, &vfs) == 0) {
                uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
                room = avail > DISK_RESERVE ? avail - DISK_RESERVE : 0;
        }
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, file, 65536) != ARCHIVE_OK) {
                SAY(m, "%s is not a daiban backup (not a tar.gz file: %s)", "%s 不是 daiban 备份文件（不是 tar.gz：%s）", file,
                    archive_error_string(a));
                archive_read_free(a);
                return -EINVAL;
        }
        while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                struct member *mb;
                if (!name || archive_entry_filetype(e) != AE_IFREG || !allowed_name(name)) {
                        SAY(m, "%s holds '%.100s', which no daiban backup holds: it was not made by daiban backup, or was altered",
                            "%s 中含有“%.100s”，daiban 备份不应含有此项：它不是 daiban backup 生成的，或已被改动", file,
                            name ? name : "?");
                        r = -EINVAL;
                        break;
                }
                for (size_t i = 0; i < got->n; i++)
                        if (strcmp(got->v[i].name, name) == 0) {
                                SAY(m, "%s holds '%.100s' twice", "%s 中“%.100s”出现了两次", file, name);
                                r = -EINVAL;
                        }
                if (r < 0)
                        break;
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", stage, name);
                if (strncmp(name, "catalogs/", 9) == 0) {
                        char dir[PATH_MAX];
                        snprintf(dir, sizeof dir, "%s/%.49s", stage, name);
                        if ((r = mkdir_p(dir, 0700)) < 0) {
                                SAY(m, "cannot make %s: %s", "无法创建 %s：%s", dir, strerror(-r));
                                break;
                        }
                }
                if (!(mb = add_member(got, name, path))) {
                        SAY(m, "%s holds too many files", "%s 中文件过多", file);
                        r = -EINVAL;
                        break;
                }
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                crypto_hash_sha256_state st;
                unsigned char h[crypto_hash_sha256_BYTES];
                if (fd < 0) {
                        SAY(m, "cannot write %s: %s", "无法写入 %s：%s", path, strerror(errno));
                        r = -EIO;
                        break;
                }
                crypto_hash_sha256_init(&st);
                for (;;) {
                        char buf[65536];
                        la_ssize_t n = archive_read_data(a, buf, sizeof buf);
                        if (n == 0)
                                break;
                        if (n < 0) {
                                SAY(m, "%s is damaged or cut short (at '%.100s': %s)", "%s 已损坏或不完整（在“%.100s”处：%s）",
                                    file, name, archive_error_string(a));
                                r = -EINVAL;
                                break;
                        }
                        total += (uint64_t)n;
                        if (total > cap) {
                                SAY(m, "%s inflates to more than %u times its size: it is damaged or not a daiban backup",
                                    "%s 解压后超过自身大小的 %u 倍：文件已损坏或不是 daiban 备份", file, MAX_INFLATE);
                                r = -EINVAL;
                                break;
                        }
                        if (total > room) {
                                SAY(m, "restoring %s needs more free disk than the %llu MiB there is (beyond a reserve of"
                                    " %llu MiB); free some space and restore again",
                                    "恢复 %s 所需磁盘空间超过现有的 %llu MiB（另需保留 %llu MiB）；请清理磁盘后重新恢复", file,
                                    (unsigned long long)((room + DISK_RESERVE) >> 20),
                                    (unsigned long long)(DISK_RESERVE >> 20));
                                r = -ENOSPC;
                                break;
                        }
                        crypto_hash_sha256_update(&st, (unsigned char *)buf, (size_t)n);
                        mb->size += (uint64_t)n;
                        if (write(fd, buf, (size_t)n) != n) {
                                SAY(m, "cannot write %s (is the disk full?): %s", "无法写入 %s（磁盘已满？）：%s", path,
                                    strerror(errno));
                                r = -EIO;
                                break;
                        }
                }
                if (r == 0 && fsync(fd) < 0) {
                        SAY(m, "cannot write %s: %s", "无法写入 %s：%s", path, strerror(errno));
                        r = -EIO;
                }
                close(fd);
                crypto_hash_sha256_final(&st, h);
                hex_of(h, sizeof h, mb->sha);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != ARCHIVE_EOF) {
                SAY(m, "%s is damaged or cut short: %s", "%s 已损坏或不完整：%s", file, archive_error_string(a));
                r = -EINVAL;
        }
        archive_read_free(a);
        return r;
}

static const struct member *find_member(const struct members *ms, const char *name)
{
        for (size_t i = 0; i < ms->n; i++)
                if (strcmp(ms->v[i].name, name) == 0)
                        return &ms->v[i];
        return NULL;
}

/* The manifest names every other file with its size and SHA-256, and
 * nothing else is there. */
static int check_manifest(const char *file, const struct members *got, json_t **ret, struct backup_msg *m)
{
        const struct member *mf = find_member(got, MANIFEST);
        json_error_t je;
        json_t *man, *files, *f;
        const char *format = NULL, *node = NULL;
        int version = 0;
        size_t i;

        if (!mf) {
                SAY(m, "%s has no MANIFEST.json: it is not a daiban backup", "%s 中没有 MANIFEST.json：不是 daiban 备份文件", file);
                return -EINVAL;
        }
        if (!(man = json_load_file(mf->path, JSON_REJECT_DUPLICATES, &je)) ||
            json_unpack(man, "{s:s,s:i,s:s,s:o}", "format", &format, "version", &version, "node", &node, "files",
                        &files) < 0 ||
            strcmp(format, BACKUP_FORMAT) != 0 || !json_is_array(files) || !division_code_valid(node)) {
                SAY(m, "%s: MANIFEST.json is not a daiban backup's manifest", "%s：MANIFEST.json 不是 daiban 备份清单", file);
                json_decref(man);
                return -EINVAL;
        }
        if (version != BACKUP_VERSION) {
                SAY(m, "%s is a backup of format version %d; this daiban reads version %d: restore it with the daiban that made it",
                    "%s 的备份格式版本为 %d，本程序只能读取版本 %d：请用生成它的 daiban 版本恢复", file, version, BACKUP_VERSION);
                json_decref(man);
                return -EINVAL;
        }
        json_array_foreach(files, i, f) {
                const char *p = NULL, *sha = NULL;
                json_int_t size = -1;
                const struct member *mb;
                if (json_unpack(f, "{s:s,s:I,s:s}", "path", &p, "size", &size, "sha256", &sha) < 0) {
                        SAY(m, "%s: MANIFEST.json's file %zu is malformed", "%s：MANIFEST.json 第 %zu 项格式错误", file, i + 1);
                        json_decref(man);
                        return -EINVAL;
                }
                if (!(mb = find_member(got, p))) {
                        SAY(m, "%s lacks %.100s, which its manifest lists: the file is incomplete",
                            "%s 缺少清单中列出的 %.100s：文件不完整", file, p);
                        json_decref(man);
                        return -EINVAL;
                }
                if ((uint64_t)size != mb->size || strcmp(sha, mb->sha) != 0) {
                        SAY(m, "%s: %.100s does not match its checksum: the backup is damaged; use another copy",
                            "%s：%.100s 与校验和不符，备份已损坏；请换用另一份备份", file, p);
                        json_decref(man);
                        return -EINVAL;
                }
        }
        for (i = 0; i < got->n; i++) {
                bool listed = strcmp(got->v[i].name, MANIFEST) == 0;
                size_t k;
                json_array_foreach(files, k, f) if (!listed && strcmp(json_string_value(json_object_get(f, "path")),
                                                                      got->v[i].name) == 0) listed = true;
                if (!listed) {
                        SAY(m, "%s holds %.100s, which its manifest does not list: it was altered",
                            "%s 含有清单未列出的 %.100s：文件已被改动", file, got->v[i].name);
                        json_decref(man);
                        return -EINVAL;
                }
        }
        if (!find_member(got, "store.db") || !find_member(got, "repo.bundle")) {
                SAY(m, "%s lacks the store or the repository", "%s 缺少数据库或仓库", file);
                json_decref(man);
                return -EINVAL;
        }
        *ret = man;
        return 0;
}

static int place_key(const char *file, const char *stage, const struct members *got, const char *pass,
                     const char *key_file, bool *from_backup, struct backup_msg *m)
{
        const struct member *sk = find_member(got, SEALED_KEY);
        char path[PATH_MAX], *text = NULL, *key = NULL;
        size_t len = 0, klen = 0;
        struct sshsig_key k;
        char kerr[256];
        int r;

        if (key_file) {
                if ((r = read_small(key_file, &key, &klen)) < 0) {
                        SAY(m, "cannot read the key %s: %s", "无法读取密钥 %s：%s", key_file, strerror(-r));
                        return r == -EFBIG ? -EINVAL : r;
                }
        } else if (sk) {
                if (!pass) {
                        SAY(m, "the node's key in %s is sealed: give its passphrase (--key-passphrase - reads it from stdin)",
                            "%s 中的节点密钥已加密：请提供口令（--key-passphrase - 从标准输入读取）", file);
                        return -EINVAL;
                }
                if ((r = read_small(sk->path, &text, &len)) < 0)
                        return r;
                r = open_key(text, pass, &key, &klen);
                free(text);
                if (r == -EACCES) {
                        say_en(m, "口令错误：无法解开备份中的节点密钥；请核对口令后重试",
                               "wrong passphrase: the node's key in the backup cannot be opened; check it and try again");
                        return -EINVAL;
                }
                if (r < 0) {
                        SAY(m, "%s: the sealed key is malformed", "%s：加密密钥格式错误", file);
                        return -EINVAL;
                }
                *from_backup = true;
        } else {
                SAY(m, "%s holds no key (it was made without --key-passphrase): give --key FILE, the node.key kept from "
                       "the old machine. Without it this node cannot sign: the county must issue a new key",
                    "%s 中没有节点密钥（备份时未用 --key-passphrase）：请用 --key FILE 提供旧电脑上的 node.key；"
                    "没有它本节点无法签名，需由县里换发新密钥", file);
                return -EINVAL;
        }
        r = sshsig_key_decode(key, klen, &k, kerr, sizeof kerr);
        sodium_memzero(&k, sizeof k);
        if (r < 0) {
                sodium_memzero(key, klen);
                free(key);
                SAY(m, "the key is not a daiban node key: %s", "该密钥不是 daiban 节点密钥：%s", kerr);
                return -EINVAL;
        }
        snprintf(path, sizeof path, "%s/node.key", stage);
        r = write_file(path, key, klen);
        sodium_memzero(key, klen);
        free(key);
        if (r < 0)
                SAY(m, "cannot write %s: %s", "无法写入 %s：%s", path, strerror(-r));
        return r;
}

/* An offline restore: numbers from the next epoch, and a new key to sign
 * them (the old one's entry on the roster ends where they start). */
static int new_epoch(const char *stage, const char *node, store *st, bool new_key, struct restore_result *res,
                     struct backup_msg *m)
{
        char path[PATH_MAX], kerr[256], *text = NULL;
        size_t len = 0;
        struct sshsig_key k;
        int64_t floor = store_seq_floor(st);
        int r;

        /* above this node's every number, and above the floor of an
         * epoch begun before (a backup of a home restored offline) */
        res->floor = ((res->own_seq > floor ? res->own_seq : floor) / STORE_EPOCH_SPAN + 1) * STORE_EPOCH_SPAN;
        if (res->floor > CHANGESET_MAX_SEQ) {
                SAY(m, "this node has used up its epochs of sequence numbers (%lld): it cannot be restored offline; sync it instead",
                    "本节点的序号周期已用尽（%lld）：不能离线恢复，请联网同步恢复", res->floor);
                return -EINVAL;
        }
        if (!new_key)
                return 0;
        if ((r = home_key_create(stage, node, kerr, sizeof kerr)) < 0) {
                SAY(m, "cannot make the new key: %s", "无法生成新密钥：%s", kerr);
                return r;
        }
        snprintf(path, sizeof path, "%s/node.key", stage);
        if ((r = read_small(path, &text, &len)) < 0 || (r = sshsig_key_decode(text, len, &k, kerr, sizeof kerr)) < 0) {
                SAY(m, "cannot read the new key back: %s", "无法读回新密钥：%s", r == -EINVAL ? kerr : strerror(-r));
                if (text)
                        sodium_memzero(text, len);
                free(text);
                return r < 0 ? r : -EIO;
        }
        sodium_memzero(text, len);
        free(text);
        sshsig_pubkey_line(k.pk, node, res->key_line, sizeof res->key_line);
        sshsig_fingerprint(k.pk, res->fingerprint, sizeof res->fingerprint);
        sshsig_fingerprint_spoken(k.pk, res->spoken, sizeof res->spoken);
        sodium_memzero(&k, sizeof k);
        return 0;
}

/* The home dir may be made: absent, or an empty folder. */
static int home_is_free(const char *dir, bool *exists)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        *exists = d != NULL;
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                        closedir(d);
                        return -EEXIST;
                }
        closedir(d);
        return 0;
}

static int restore(const char *file, const char *home_dir, const char *passphrase, const char *key_file, bool offline,
                   struct restore_result *res, struct backup_msg *m)
{
        char stage[PATH_MAX], path[PATH_MAX], err[1024] = "";
        struct members got = { 0 };
        json_t *man = NULL;
        store *st = NULL;
        git_repository *repo = NULL;
        bool exists = false;
        int r;

        memset(res, 0, sizeof *res);
        if ((r = home_is_free(home_dir, &exists)) < 0) {
                if (r == -EEXIST)
                        SAY(m, "%s already holds files: restore into a new folder, or move it away first (nothing was changed)",
                            "%s 中已有文件：请恢复到新文件夹，或先把它移走（未做任何改动）", home_dir);
                else
                        SAY(m, "cannot read %s: %s", "无法读取 %s：%s", home_dir, strerror(-r));
                return r == -EEXIST ? -EINVAL : r;
        }
        if (access(file, R_OK) < 0) {
                SAY(m, "cannot read %s: %s", "无法读取 %s：%s", file, strerror(errno));
                return -EINVAL;
        }
        snprintf(stage, sizeof stage, "%s.restoring-%ld", home_dir, (long)getpid());
        durable_remove_tree(stage);
        if ((r = mkdir_p(stage, 0700)) < 0) {
                SAY(m, "cannot make %s: %s", "无法创建 %s：%s", stage, strerror(-r));
                return r;
        }
        chmod(stage, 0700);
        if ((r = extract(file, stage, &got, m)) < 0 || (r = check_manifest(file, &got, &man, m)) < 0)
                goto out;
        const char *node = json_string_value(json_object_get(man, "node"));
        const char *created = json_string_value(json_object_get(man, "created"));
        snprintf(res->node, sizeof res->node, "%s", node);
        snprintf(res->created, sizeof res->created, "%s", created ? created : "?");
        if (!offline && (r = place_key(file, stage, &got, passphrase, key_file, &res->key_from_backup, m)) < 0)
                goto out;
        /* the store: migrated if older, refused if newer; its node must be
         * the manifest's */
        snprintf(path, sizeof path, "%s/store.db", stage);
        if ((r = store_open(path, false, &st, err, sizeof err)) < 0) {
                SAY(m, "%s: the store cannot be opened: %s", "%s：无法打开数据库：%s", file, err);
                r = -EINVAL;
                goto out;
        }
        char *snode = NULL, *role = NULL;
        store_meta_get(st, "node", &snode);
        store_meta_get(st, "role", &role);
        struct store_summary sum;
        store_summary_of(st, &sum);
        bool same = snode && strcmp(snode, node) == 0;
        snprintf(res->role, sizeof res->role, "%s", role ? role : "?");
        free(snode);
        free(role);
        if (!same) {
                SAY(m, "%s: its store is not node %s's, as its manifest says: it was altered", "%s：数据库不属于清单所写的节点 %s，文件已被改动",
                    file, node);
                r = -EINVAL;
                goto out;
        }
        if (!sum.quick_ok) {
                SAY(m, "%s: the store in it is damaged (quick_check failed); use another backup", "%s：其中的数据库已损坏（quick_check 未通过）；请换用另一份备份",
                    file);
                r = -EINVAL;
                goto out;
        }
        res->events = sum.events;
        res->apps = sum.apps;
        res->own_seq = sum.own_seq;
        /* restored: no writing until a sync has brought back what this
         * node sent after the backup */
        /* a county syncs with no one: it always starts a new epoch, with
         * its own key (every station pins it), and takes back from the
         * nodes' syncs what it wrote after the backup */
        bool county = strcmp(res->role, "county") == 0;
        if (county && offline) {
                say_en(m, "县级服务端恢复时不用 --offline：它保留原密钥（请提供口令或 --key），并总是开始新的序号周期",
                       "a county hall is restored without --offline: it keeps its key (give its passphrase or --key) and "
                       "always starts a new epoch");
                r = -EINVAL;
                goto out;
        }
        if ((offline || county) && (r = new_epoch(stage, node, st, !county, res, m)) < 0)
                goto out;
        char floor_s[24], day_s[24];
        snprintf(floor_s, sizeof floor_s, "%lld", res->floor);
        snprintf(day_s, sizeof day_s, "%ld", (long)home_today(NULL, &(bool){ false }));
        if (store_begin(st) < 0 || store_meta_set(st, STORE_RESTORE_PENDING, res->created) < 0 ||
            /* a plain restore writes nothing before catching up, even of
             * a backup taken during an epoch's wait */
            store_meta_set(st, STORE_RESTORE_EPOCH, offline || county ? res->created : NULL) < 0 ||
            ((offline || county) && (store_meta_set(st, STORE_SEQ_FLOOR, floor_s) < 0 ||
                         store_meta_set(st, HOME_EPOCH_DAY, day_s) < 0)) ||
            store_commit(st) < 0) {
                SAY(m, "cannot write the restored store: %s", "无法写入恢复的数据库：%s", store_errmsg(st));
                store_rollback(st);
                r = -EIO;
                goto out;
        }
        store_close(st);
        st = NULL;
        /* the repository */
        snprintf(path, sizeof path, "%s/repo", stage);
        struct repobackup_report rb;
        if (git_repository_init(&repo, path, 1) < 0) {
                SAY(m, "cannot make the repository %s: %s", "无法创建仓库 %s：%s", path,
                    git_error_last() ? git_error_last()->message : "?");
                r = -EIO;
                goto out;
        }
        durable_prepare_repo(path);
        snprintf(path, sizeof path, "%s/repo.bundle", stage);
        if ((r = repobackup_restore(repo, path, &rb, err, sizeof err)) < 0) {
                SAY(m, "%s: %s", "%s：%s", file, err);
                goto out;
        }
        unlink(path);
        res->refs = rb.refs;
        snprintf(path, sizeof path, "%s/" MANIFEST, stage);
        unlink(path);
        snprintf(path, sizeof path, "%s/" SEALED_KEY, stage);
        unlink(path);
        for (size_t i = 0; i < got.n; i++)
                if (strncmp(got.v[i].name, "catalogs/", 9) == 0 && got.v[i].name[49] == '/' &&
                    (i == 0 || strncmp(got.v[i - 1].name, got.v[i].name, 50) != 0))
                        res->catalogs++;
        /* every folder synced, then the home appears whole */
        snprintf(path, sizeof path, "%s/catalogs", stage);
        if (access(path, F_OK) == 0) {
                DIR *d = opendir(path);
                struct dirent *e;
                while (d && (e = readdir(d))) {
                        char sub[PATH_MAX];
                        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                        if (is_version(e->d_name))
                                durable_sync_dir(sub);
                }
                if (d)
                        closedir(d);
                durable_sync_dir(path);
        }
        if ((r = durable_sync_dir(stage)) < 0 || (exists && rmdir(home_dir) < 0) || rename(stage, home_dir) < 0 ||
            (r = durable_sync_parent(home_dir)) < 0) {
                SAY(m, "cannot move the restored home into place at %s: %s", "无法把恢复的数据目录放到 %s：%s", home_dir,
                    strerror(r < 0 ? -r : errno));
                r = r < 0 ? r : -EIO;
                goto out;
        }
        r = 0;
out:
        if (st)
                store_close(st);
        git_repository_free(repo);
        json_decref(man);
        free(got.v);
        if (r < 0)
                durable_remove_tree(stage);
        return r;
}

int backup_restore(const char *file, const char *home_dir, const char *passphrase, const char *key_file,
                   struct restore_result *res, struct backup_msg *m)
{
        return restore(file, home_dir, passphrase, key_file, false, res, m);
}

int backup_restore_offline(const char *file, const char *home_dir, struct restore_result *res, struct backup_msg *m)
{
        return restore(file, home_dir, NULL, NULL, true, res, m);
}
