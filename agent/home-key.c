/* A home's keys: this node's signing key (HOME/node.key, mode 0600,
 * never replicated; a county's rotation cut short finished here), the
 * county key pinned at setup, and the county's roster as the node
 * trusts it. See home.h. */
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

int home_key_create(const char *dir, const char *node, char *err, size_t errlen)
{
        char path[4096], tmp[4200], *text = NULL;
        struct sshsig_key k;
        int fd, r;
        size_t len;

        snprintf(path, sizeof path, "%s/node.key", dir);
        if (access(path, F_OK) == 0)
                return 0;
        if ((r = sshsig_keygen(&k)) < 0 || (r = sshsig_key_encode(&k, node, &text)) < 0) {
                snprintf(err, errlen, "cannot make a key: %s", strerror(-r));
                return r;
        }
        sodium_memzero(&k, sizeof k);
        /* written whole under a private name, then linked: two processes
         * that both find no key keep the one that landed first */
        snprintf(tmp, sizeof tmp, "%s/node.key.%ld.tmp", dir, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        len = strlen(text);
        r = fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ? -errno : 0;
        if (fd >= 0 && close(fd) < 0 && r == 0)
                r = -errno;
        sodium_memzero(text, len);
        free(text);
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        unlink(tmp);
        if (r == 0)
                r = durable_sync_dir(dir);
        if (r < 0)
                snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
        return r < 0 ? r : 0;
}

/* A county's key rotation cut short (`daiban key rotate`): the new key
 * waits in node.key.next. When the roster names it as the county's key,
 * finish the swap; else the rotation never happened: drop it. */
static void finish_rotation(struct home *h)
{
        char next[4200], cur[4200], *text = NULL, err[256];
        struct sshsig_key k;
        git_repository *repo = NULL;
        struct roster ro = { 0 };
        bool present = false;
        FILE *f;

        snprintf(next, sizeof next, "%s/node.key.next", h->dir);
        if (access(next, F_OK) < 0)
                return;
        snprintf(cur, sizeof cur, "%s/node.key", h->dir);
        /* a rotation running now holds the repository: leave it be */
        struct core_result res;
        core_result_init(&res);
        int lockfd = home_repo_lock(h, false, NULL, NULL, &res);
        core_result_finish(&res);
        if (lockfd < 0)
                return;
        if ((f = fopen(next, "r")) && (text = calloc(1, 8192)) && fread(text, 1, 8191, f) > 0 &&
            sshsig_key_decode(text, strlen(text), &k, err, sizeof err) == 0) {
                char path[4200];
                git_libgit2_init();
                snprintf(path, sizeof path, "%s/repo", h->dir);
                const struct roster_entry *ck = NULL;
                if (git_repository_open_bare(&repo, path) == 0 &&
                    roster_open(h->st, repo, h->node, &ro, &present, err, sizeof err) == 0 && present)
                        ck = roster_county_key(&ro);
                /* the roster names it: finish; names another: the rotation
                 * never happened; cannot say: leave it for the next time */
                if (ck && memcmp(ck->pk, k.pk, SSHSIG_PK_BYTES) == 0) {
                        if (rename(next, cur) == 0)
                                durable_sync_dir(h->dir);
                } else if (ck) {
                        unlink(next);
                }
                roster_free(&ro);
                git_repository_free(repo);
                git_libgit2_shutdown();
                sodium_memzero(&k, sizeof k);
        }
        if (f)
                fclose(f);
        if (text) {
                sodium_memzero(text, 8192);
                free(text);
        }
        home_unlock_repo(lockfd);
}

int home_key_load(struct home *h, const struct sshsig_key **ret, struct core_result *res)
{
        char path[4096], err[512], buf[4096];
        struct stat sb;
        ssize_t n;
        int fd, r;

        if (h->key) {
                *ret = h->key;
                return 0;
        }
        if (h->role && strcmp(h->role, "county") == 0)
                finish_rotation(h);
        snprintf(path, sizeof path, "%s/node.key", h->dir);
        if (access(path, F_OK) < 0 && home_key_create(h->dir, h->node, err, sizeof err) < 0) {
                return core_fail_both(res, CORE_FAILED, "io_error", err, err);
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0) {
                core_fail(res, CORE_FAILED, "io_error", "cannot read this node's key %s: %s",
                          "无法读取本站点的密钥 %s：%s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return CORE_FAILED;
        }
#ifndef _WIN32
        /* (on Windows a file's mode bits say nothing of who may read it:
         * the home's ACL does, as doctor.c's check_private says) */
        if (sb.st_mode & 077) {
                close(fd);
                return core_fail(res, CORE_REFUSED, "refused",
                                 "%s can be read by other users; run 'chmod 600 %s' (and, if others did read it, ask "
                                 "the county to replace this node's key)",
                                 "%s 可被其他用户读取；请运行“chmod 600 %s”（如已被他人读取，请联系县里更换本站点密钥）",
                                 path, path);
        }
#endif
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (!(h->key = malloc(sizeof *h->key)))
                return core_fail_both(res, CORE_FAILED, "internal", "out of memory", "out of memory");
        r = n < 0 ? -EIO : sshsig_key_decode(buf, (size_t)n, h->key, err, sizeof err);
        sodium_memzero(buf, sizeof buf);
        if (r < 0) {
                core_fail(res, CORE_FAILED, "io_error",
                          "this node's key %s is damaged: %s; restore it from a backup, or ask the county "
                          "to enroll a new one",
                          "本站点的密钥 %s 已损坏：%s；请从备份恢复，或联系县里登记新密钥", path,
                          n < 0 ? strerror(errno) : err);
                free(h->key);
                h->key = NULL;
                return CORE_FAILED;
        }
        *ret = h->key;
        return 0;
}

/* --county-key: a public key line, a file holding one, or a fingerprint;
 * kept as given (a file: its line) in the store's roster.pin. */
int home_county_pin(const char *arg, char *pin, size_t len)
{
        FILE *f;
        uint8_t pk[SSHSIG_PK_BYTES];

        if (sshsig_pubkey_parse(arg, pk) == 0 || strncmp(arg, "SHA256:", 7) == 0) {
                snprintf(pin, len, "%s", arg);
                return 0;
        }
        if ((f = fopen(arg, "r"))) {
                bool ok = fgets(pin, (int)len, f) != NULL;
                fclose(f);
                pin[strcspn(pin, "\r\n")] = '\0';
                return ok && sshsig_pubkey_parse(pin, pk) == 0 ? 0 : -EINVAL;
        }
        /* the spoken form: 32 digits and letters, dashes and spaces aside */
        size_t digits = 0;
        for (const char *p = arg; *p; p++)
                if (*p != '-' && *p != ' ')
                        digits++;
        if (digits != 32)
                return -EINVAL;
        snprintf(pin, len, "%s", arg);
        return 0;
}

int home_roster(struct home *h, git_repository *repo, struct roster *ro, bool *ret_present,
                void (*log)(void *, const char *, ...), void *ud)
{
        char err[512];
        bool moved = false;

        memset(ro, 0, sizeof *ro);
        *ret_present = false;
        if (roster_accept(h->st, repo, h->node, &moved, err, sizeof err) < 0)
                log(ud, "refused the county's roster: %s", err);
        else if (moved)
                log(ud, "%s", "the county's roster advanced");
        if (roster_open(h->st, repo, h->node, ro, ret_present, err, sizeof err) < 0) {
                log(ud, "the county's roster held here cannot be trusted: %s; nothing is ingested until it is"
                    " repaired (restore this home from a backup)", err);
                return -1;
        }
        return 0;
}

json_t *home_keys(struct home *h)
{
        json_t *j = json_object();
        git_repository *repo = NULL;
        struct roster ro = { 0 };
        bool present = false;
        char path[4096], err[512], fp[80], *pin = NULL;
        const struct sshsig_key *key = NULL;

        snprintf(path, sizeof path, "%s/node.key", h->dir);
        struct core_result res;
        core_result_init(&res);
        /* a key that cannot be read shows as none: `daiban doctor` says why */
        if (access(path, F_OK) == 0 && home_key_load(h, &key, &res) == 0) {
                sshsig_fingerprint(key->pk, fp, sizeof fp);
                json_object_set_new(j, "fingerprint", json_string(fp));
        }
        core_result_finish(&res);
        store_meta_get(h->st, "roster.pin", &pin);
        json_object_set_new(j, "county_key_pinned", pin && *pin ? json_string(pin) : json_null());
        free(pin);
        git_libgit2_init();
        snprintf(path, sizeof path, "%s/repo", h->dir);
        if (git_repository_open_bare(&repo, path) == 0 &&
            roster_open(h->st, repo, h->node, &ro, &present, err, sizeof err) == 0 && present) {
                const struct roster_entry *e = key ? roster_find(&ro, h->node, key->pk) : NULL;
                json_object_set_new(j, "roster", json_true());
                json_object_set_new(j, "enrolled",
                                    e ? json_pack("{s:I,s:o}", "from", (json_int_t)e->from, "until",
                                                  e->until ? json_integer(e->until) : json_null())
                                      : json_null());
        } else {
                json_object_set_new(j, "roster", json_false());
                json_object_set_new(j, "enrolled", json_null());
        }
        roster_free(&ro);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return j;
}
