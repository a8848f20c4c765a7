/* The node's key in a backup, sealed with a passphrase (backup.h):
 * argon2id and secretbox, as JSON. */
#include "agent/backup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent/backup-int.h"

/* ---- the key, sealed with a passphrase -------------------------------------------- */

/* argon2id at libsodium's "interactive" cost (64 MiB): an old station PC
 * can open it; a guess costs the same */
char *backup_seal_key(const char *key, size_t klen, const char *pass)
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
        backup_hex_of(salt, sizeof salt, salt_hex);
        backup_hex_of(nonce, sizeof nonce, nonce_hex);
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
int backup_open_key(const char *text, const char *pass, char **ret, size_t *ret_len)
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
