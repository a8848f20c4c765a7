/* Restoring a home from a backup (backup.h, docs/backup.md): the
 * archive extracted under caps and checked against its manifest, the
 * key placed, an offline restore's new epoch, the home renamed into
 * place. */
#include "agent/backup.h"
#include "agent/home.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* uv.h first: on Windows its winsock2.h must come before the windows.h
 * of archive_entry.h */
#include <uv.h>
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
        return backup_is_version(v) && n[49] == '/' && backup_is_sheet_name(n + 50);
}

static int extract(const char *file, const char *stage, struct members *got, struct backup_msg *m)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        struct stat sb;
        uv_fs_t req;
        uint64_t total = 0, cap = MIN_INFLATE_CAP, room = UINT64_MAX;
        int r = 0, rc;

        if (!a)
                return -ENOMEM;
        /* a file that inflates past reason, or past the free disk, stops
         * at that point: a bomb neither fills the disk nor takes hours */
        if (stat(file, &sb) == 0 && (uint64_t)sb.st_size * MAX_INFLATE > cap)
                cap = (uint64_t)sb.st_size * MAX_INFLATE;
        /* libuv's statfs: statfs(2) here, GetDiskFreeSpaceExW on Windows */
        if (uv_fs_statfs(NULL, &req, stage, NULL) == 0) {
                const uv_statfs_t *fs = req.ptr;
                uint64_t avail = (uint64_t)fs->f_bavail * fs->f_bsize;
                room = avail > DISK_RESERVE ? avail - DISK_RESERVE : 0;
        }
        uv_fs_req_cleanup(&req);
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        if (backup_archive_open_read(a, file) != ARCHIVE_OK) {
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
                        if ((r = backup_mkdir_p(dir, 0700)) < 0) {
                                SAY(m, "cannot make %s: %s", "无法创建 %s：%s", dir, strerror(-r));
                                break;
                        }
                }
                if (!(mb = backup_add_member(got, name, path))) {
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
                backup_hex_of(h, sizeof h, mb->sha);
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
                if ((r = backup_read_small(key_file, &key, &klen)) < 0) {
                        SAY(m, "cannot read the key %s: %s", "无法读取密钥 %s：%s", key_file, strerror(-r));
                        return r == -EFBIG ? -EINVAL : r;
                }
        } else if (sk) {
                if (!pass) {
                        SAY(m, "the node's key in %s is sealed: give its passphrase (--key-passphrase - reads it from stdin)",
                            "%s 中的节点密钥已加密：请提供口令（--key-passphrase - 从标准输入读取）", file);
                        return -EINVAL;
                }
                if ((r = backup_read_small(sk->path, &text, &len)) < 0)
                        return r;
                r = backup_open_key(text, pass, &key, &klen);
                free(text);
                if (r == -EACCES) {
                        backup_say_en(m, "口令错误：无法解开备份中的节点密钥；请核对口令后重试",
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
        r = backup_write_file(path, key, klen);
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
        if ((r = backup_read_small(path, &text, &len)) < 0 || (r = sshsig_key_decode(text, len, &k, kerr, sizeof kerr)) < 0) {
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
        if ((r = backup_mkdir_p(stage, 0700)) < 0) {
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
                backup_say_en(m, "县级服务端恢复时不用 --offline：它保留原密钥（请提供口令或 --key），并总是开始新的序号周期",
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
                        if (backup_is_version(e->d_name))
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
