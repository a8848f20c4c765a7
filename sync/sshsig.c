/* OpenSSH key and signature formats for Ed25519. See sshsig.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sshsig.h"

#define KEYTYPE "ssh-ed25519"
#define SIG_MAGIC "SSHSIG"
#define SIG_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define SIG_END "-----END SSH SIGNATURE-----"
#define KEY_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define KEY_END "-----END OPENSSH PRIVATE KEY-----"
#define KEY_MAGIC "openssh-key-v1"  /* followed by a NUL */
#define WRAP 70                     /* ssh-keygen's armor width */

/* ---- SSH wire encoding: uint32 and length-prefixed strings ----------------- */

struct wbuf {
        uint8_t *p;
        size_t n, cap;
        bool oom;
};

static void put(struct wbuf *b, const void *d, size_t n)
{
        if (b->oom)
                return;
        if (b->n + n > b->cap) {
                size_t cap = (b->n + n) * 2 + 64;
                uint8_t *np = realloc(b->p, cap);
                if (!np) {
                        b->oom = true;
                        return;
                }
                b->p = np;
                b->cap = cap;
        }
        memcpy(b->p + b->n, d, n);
        b->n += n;
}

static void put_u32(struct wbuf *b, uint32_t v)
{
        uint8_t d[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        put(b, d, 4);
}

static void put_str(struct wbuf *b, const void *d, size_t n)
{
        put_u32(b, (uint32_t)n);
        put(b, d, n);
}

static void put_cstr(struct wbuf *b, const char *s)
{
        put_str(b, s, strlen(s));
}

struct rbuf {
        const uint8_t *p;
        size_t n, off;
};

static bool get_u32(struct rbuf *r, uint32_t *v)
{
        if (r->n - r->off < 4)
                return false;
        const uint8_t *d = r->p + r->off;
        *v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        r->off += 4;
        return true;
}

static bool get_str(struct rbuf *r, const uint8_t **d, size_t *n)
{
        uint32_t l;
        if (!get_u32(r, &l) || r->n - r->off < l)
                return false;
        *d = r->p + r->off;
        *n = l;
        r->off += l;
        return true;
}

static bool get_is(struct rbuf *r, const char *want)
{
        const uint8_t *d;
        size_t n;
        return get_str(r, &d, &n) && n == strlen(want) && memcmp(d, want, n) == 0;
}

/* The public key blob: string "ssh-ed25519", string pk. */
static void put_pubkey(struct wbuf *b, const uint8_t pk[SSHSIG_PK_BYTES])
{
        struct wbuf k = { 0 };
        put_cstr(&k, KEYTYPE);
        put_str(&k, pk, SSHSIG_PK_BYTES);
        if (k.oom)
                b->oom = true;
        else
                put_str(b, k.p, k.n);
        free(k.p);
}

static bool get_pubkey(struct rbuf *r, uint8_t pk[SSHSIG_PK_BYTES])
{
        const uint8_t *d, *k;
        size_t n, kn;
        if (!get_str(r, &d, &n))
                return false;
        struct rbuf in = { d, n, 0 };
        if (!get_is(&in, KEYTYPE) || !get_str(&in, &k, &kn) || kn != SSHSIG_PK_BYTES || in.off != in.n)
                return false;
        memcpy(pk, k, SSHSIG_PK_BYTES);
        return true;
}

/* ---- base64 armor -------------------------------------------------------------- */

static char *armor(const char *begin, const char *end, const uint8_t *d, size_t n, bool final_nl)
{
        size_t b64len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        size_t l, lines, cap;
        char *out, *o;

        if (!b64)
                return NULL;
        sodium_bin2base64(b64, b64len, d, n, sodium_base64_VARIANT_ORIGINAL);
        l = strlen(b64);
        lines = (l + WRAP - 1) / WRAP;
        cap = strlen(begin) + strlen(end) + l + lines + 4;
        if (!(out = malloc(cap))) {
                free(b64);
                return NULL;
        }
        o = out + sprintf(out, "%s\n", begin);
        for (size_t i = 0; i < l; i += WRAP) {
                size_t k = l - i < WRAP ? l - i : WRAP;
                memcpy(o, b64 + i, k);
                o += k;
                *o++ = '\n';
        }
        o += sprintf(o, "%s%s", end, final_nl ? "\n" : "");
        free(b64);
        return out;
}

/* The bytes between begin and end lines (whitespace ignored), malloc'ed. */
static int dearmor(const char *text, size_t len, const char *begin, const char *end, uint8_t **ret, size_t *ret_n,
                   char *err, size_t errlen)
{
        size_t bl = strlen(begin), el = strlen(end), off = 0;
        const char *b = NULL, *e;
        char *b64;
        size_t n = 0, cap;

        /* the begin line, at the start after optional whitespace */
        while (off < len && isspace((unsigned char)text[off]))
                off++;
        if (len - off < bl || memcmp(text + off, begin, bl) != 0) {
                snprintf(err, errlen, "does not start with %s", begin);
                return -EINVAL;
        }
        b = text + off + bl;
        e = NULL;
        for (const char *p = b; (size_t)(p - text) + el <= len; p++)
                if (*p == '-' && memcmp(p, end, el) == 0) {
                        e = p;
                        break;
                }
        if (!e) {
                snprintf(err, errlen, "has no %s line", end);
                return -EINVAL;
        }
        for (const char *p = e + el; (size_t)(p - text) < len; p++)
                if (!isspace((unsigned char)*p)) {
                        snprintf(err, errlen, "has text after %s", end);
                        return -EINVAL;
                }
        cap = (size_t)(e - b);
        if (!(b64 = malloc(cap + 1)))
                return -ENOMEM;
        for (const char *p = b; p < e; p++)
                if (!isspace((unsigned char)*p))
                        b64[n++] = *p;
        b64[n] = '\0';
        if (!(*ret = malloc(n / 4 * 3 + 3))) {
                free(b64);
                return -ENOMEM;
        }
        if (sodium_base642bin(*ret, n / 4 * 3 + 3, b64, n, NULL, ret_n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
                free(b64);
                free(*ret);
                *ret = NULL;
                snprintf(err, errlen, "its base64 is damaged");
                return -EINVAL;
        }
        free(b64);
        return 0;
}

/* ---- keys ---------------------------------------------------------------------- */

int sshsig_keygen(struct sshsig_key *k)
{
        if (sodium_init() < 0)
                return -EIO;
        crypto_sign_ed25519_keypair(k->pk, k->sk);
        return 0;
}

int sshsig_key_encode(const struct sshsig_key *k, const char *comment, char **ret)
{
        struct wbuf b = { 0 }, priv = { 0 };
        uint32_t check;

        *ret = NULL;
        if (sodium_init() < 0)
                return -EIO;
        check = randombytes_random();
        put_u32(&priv, check);
        put_u32(&priv, check);
        put_cstr(&priv, KEYTYPE);
        put_str(&priv, k->pk, SSHSIG_PK_BYTES);
        put_str(&priv, k->sk, SSHSIG_SK_BYTES);
        put_cstr(&priv, comment ? comment : "");
        for (uint8_t pad = 1; priv.n % 8; pad++)
                put(&priv, &pad, 1);
        put(&b, KEY_MAGIC, sizeof KEY_MAGIC);   /* with its NUL */
        put_cstr(&b, "none");
        put_cstr(&b, "none");
        put_cstr(&b, "");
        put_u32(&b, 1);
        put_pubkey(&b, k->pk);
        if (!priv.oom)
                put_str(&b, priv.p, priv.n);
        if (!b.oom && !priv.oom)
                *ret = armor(KEY_BEGIN, KEY_END, b.p, b.n, true);
        if (priv.p)
                sodium_memzero(priv.p, priv.cap);
        if (b.p)
                sodium_memzero(b.p, b.cap);
        free(priv.p);
        free(b.p);
        return *ret ? 0 : -ENOMEM;
}

int sshsig_key_decode(const char *text, size_t len, struct sshsig_key *k, char *err, size_t errlen)
{
        uint8_t *raw = NULL, pk[SSHSIG_PK_BYTES];
        size_t n = 0;
        const uint8_t *pd, *kd, *sd, *cd;
        size_t pn, kn, sn, cn;
        uint32_t nkeys, c1, c2;
        int r = dearmor(text, len, KEY_BEGIN, KEY_END, &raw, &n, err, errlen);

        if (r < 0)
                return r;
        struct rbuf b = { raw, n, 0 };
        r = -EINVAL;
        if (n < sizeof KEY_MAGIC || memcmp(raw, KEY_MAGIC, sizeof KEY_MAGIC) != 0) {
                snprintf(err, errlen, "not an OpenSSH private key");
                goto out;
        }
        b.off = sizeof KEY_MAGIC;
        if (!get_is(&b, "none") || !get_is(&b, "none") || !get_is(&b, "")) {
                snprintf(err, errlen, "the key is encrypted; daiban needs it without a passphrase");
                goto out;
        }
        if (!get_u32(&b, &nkeys) || nkeys != 1 || !get_pubkey(&b, pk) || !get_str(&b, &pd, &pn) || b.off != b.n) {
                snprintf(err, errlen, "not a single Ed25519 key");
                goto out;
        }
        struct rbuf p = { pd, pn, 0 };
        if (!get_u32(&p, &c1) || !get_u32(&p, &c2) || c1 != c2 || !get_is(&p, KEYTYPE) || !get_str(&p, &kd, &kn) ||
            kn != SSHSIG_PK_BYTES || !get_str(&p, &sd, &sn) || sn != SSHSIG_SK_BYTES || !get_str(&p, &cd, &cn) ||
            memcmp(kd, pk, SSHSIG_PK_BYTES) != 0 || memcmp(sd + 32, pk, SSHSIG_PK_BYTES) != 0) {
                snprintf(err, errlen, "the key's private part is damaged");
                goto out;
        }
        /* the padding: 1, 2, 3, ... */
        for (uint8_t want = 1; p.off < p.n; want++)
                if (p.p[p.off++] != want) {
                        snprintf(err, errlen, "the key's private part is damaged");
                        goto out;
                }
        /* the secret must give the public key */
        {
                uint8_t pk2[SSHSIG_PK_BYTES], sk2[SSHSIG_SK_BYTES];
                if (sodium_init() < 0) {
                        r = -EIO;
                        goto out;
                }
                crypto_sign_ed25519_seed_keypair(pk2, sk2, sd);
                bool same = memcmp(pk2, pk, SSHSIG_PK_BYTES) == 0;
                sodium_memzero(sk2, sizeof sk2);
                if (!same) {
                        snprintf(err, errlen, "the key's secret does not match its public key");
                        goto out;
                }
        }
        memcpy(k->pk, pk, SSHSIG_PK_BYTES);
        memcpy(k->sk, sd, SSHSIG_SK_BYTES);
        r = 0;
out:
        sodium_memzero(raw, n);
        free(raw);
        return r;
}

void sshsig_pubkey_line(const uint8_t pk[SSHSIG_PK_BYTES], const char *comment, char *buf, size_t len)
{
        struct wbuf b = { 0 };
        char b64[128];

        put_cstr(&b, KEYTYPE);
        put_str(&b, pk, SSHSIG_PK_BYTES);
        if (b.oom) {
                free(b.p);
                snprintf(buf, len, "?");
                return;
        }
        sodium_bin2base64(b64, sizeof b64, b.p, b.n, sodium_base64_VARIANT_ORIGINAL);
        snprintf(buf, len, KEYTYPE " %s%s%s", b64, comment && *comment ? " " : "", comment ? comment : "");
        free(b.p);
}

int sshsig_pubkey_parse(const char *line, uint8_t pk[SSHSIG_PK_BYTES])
{
        uint8_t raw[64];
        size_t n = 0, l;
        const char *p = line, *e;

        while (*p == ' ' || *p == '\t')
                p++;
        if (strncmp(p, KEYTYPE " ", strlen(KEYTYPE) + 1) != 0)
                return -EINVAL;
        p += strlen(KEYTYPE) + 1;
        while (*p == ' ')
                p++;
        for (e = p; *e && !isspace((unsigned char)*e); e++)
                ;
        l = (size_t)(e - p);
        if (l == 0 || l > 80 ||
            sodium_base642bin(raw, sizeof raw, p, l, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
                return -EINVAL;
        struct rbuf r = { raw, n, 0 };
        const uint8_t *k;
        size_t kn;
        if (!get_is(&r, KEYTYPE) || !get_str(&r, &k, &kn) || kn != SSHSIG_PK_BYTES || r.off != r.n)
                return -EINVAL;
        memcpy(pk, k, SSHSIG_PK_BYTES);
        return 0;
}

static void key_hash(const uint8_t pk[SSHSIG_PK_BYTES], uint8_t h[crypto_hash_sha256_BYTES])
{
        struct wbuf b = { 0 };

        put_cstr(&b, KEYTYPE);
        put_str(&b, pk, SSHSIG_PK_BYTES);
        memset(h, 0, crypto_hash_sha256_BYTES);
        if (!b.oom)
                crypto_hash_sha256(h, b.p, b.n);
        free(b.p);
}

void sshsig_fingerprint(const uint8_t pk[SSHSIG_PK_BYTES], char *buf, size_t len)
{
        uint8_t h[crypto_hash_sha256_BYTES];
        char b64[64];

        key_hash(pk, h);
        sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        snprintf(buf, len, "SHA256:%s", b64);
}

/* Crockford's base32: no I, L, O or U to mishear. */
static const char spoken_digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void sshsig_fingerprint_spoken(const uint8_t pk[SSHSIG_PK_BYTES], char *buf, size_t len)
{
        uint8_t h[crypto_hash_sha256_BYTES];
        char out[48];
        size_t o = 0;

        key_hash(pk, h);
        /* the first 160 bits as 32 digits, in groups of four */
        for (int i = 0; i < 32; i++) {
                int bit = i * 5, v = 0;
                for (int j = 0; j < 5; j++, bit++)
                        v = v << 1 | (h[bit / 8] >> (7 - bit % 8) & 1);
                if (i && i % 4 == 0)
                        out[o++] = '-';
                out[o++] = spoken_digits[v];
        }
        out[o] = '\0';
        snprintf(buf, len, "%s", out);
}

static void spoken_normal(const char *in, char *out, size_t len)
{
        size_t o = 0;

        for (; *in && o + 1 < len; in++) {
                int c = toupper((unsigned char)*in);
                if (c == '-' || c == ' ')
                        continue;
                if (c == 'O')
                        c = '0';
                else if (c == 'I' || c == 'L')
                        c = '1';
                out[o++] = (char)c;
        }
        out[o] = '\0';
}

bool sshsig_key_matches(const uint8_t pk[SSHSIG_PK_BYTES], const char *text)
{
        uint8_t other[SSHSIG_PK_BYTES];
        char fp[80], a[80], b[80];

        if (sshsig_pubkey_parse(text, other) == 0)
                return memcmp(other, pk, SSHSIG_PK_BYTES) == 0;
        sshsig_fingerprint(pk, fp, sizeof fp);
        if (strcmp(text, fp) == 0)
                return true;
        sshsig_fingerprint_spoken(pk, fp, sizeof fp);
        spoken_normal(fp, a, sizeof a);
        spoken_normal(text, b, sizeof b);
        return strlen(b) == 32 && strcmp(a, b) == 0;
}

/* ---- signatures ---------------------------------------------------------------- */

/* What is signed: the magic, the namespace, reserved, the hash's name and
 * the hash of the message. */
static int signed_blob(const void *msg, size_t len, struct wbuf *b)
{
        uint8_t h[crypto_hash_sha512_BYTES];

        crypto_hash_sha512(h, msg, len);
        put(b, SIG_MAGIC, 6);
        put_cstr(b, SSHSIG_NAMESPACE);
        put_cstr(b, "");
        put_cstr(b, "sha512");
        put_str(b, h, sizeof h);
        return b->oom ? -ENOMEM : 0;
}

int sshsig_sign(const struct sshsig_key *k, const void *msg, size_t len, char **ret)
{
        struct wbuf tbs = { 0 }, sig = { 0 }, out = { 0 };
        uint8_t s[crypto_sign_BYTES];

        *ret = NULL;
        if (sodium_init() < 0)
                return -EIO;
        if (signed_blob(msg, len, &tbs) < 0)
                goto out;
        crypto_sign_detached(s, NULL, tbs.p, tbs.n, k->sk);
        put_cstr(&sig, KEYTYPE);
        put_str(&sig, s, sizeof s);
        put(&out, SIG_MAGIC, 6);
        put_u32(&out, 1);
        put_pubkey(&out, k->pk);
        put_cstr(&out, SSHSIG_NAMESPACE);
        put_cstr(&out, "");
        put_cstr(&out, "sha512");
        if (!sig.oom)
                put_str(&out, sig.p, sig.n);
        if (!out.oom && !sig.oom)
                *ret = armor(SIG_BEGIN, SIG_END, out.p, out.n, false);
out:
        free(tbs.p);
        free(sig.p);
        free(out.p);
        return *ret ? 0 : -ENOMEM;
}

int sshsig_verify(const char *armor_text, size_t alen, const void *msg, size_t len, uint8_t pk[SSHSIG_PK_BYTES],
                  char *err, size_t errlen)
{
        uint8_t *raw = NULL;
        size_t n = 0;
        uint32_t version;
        const uint8_t *sd, *s, *hd;
        size_t sn, slen, hn;
        struct wbuf tbs = { 0 };
        int r;

        if (alen > SSHSIG_MAX_ARMOR) {
                snprintf(err, errlen, "the signature is too long");
                return -EINVAL;
        }
        if ((r = dearmor(armor_text, alen, SIG_BEGIN, SIG_END, &raw, &n, err, errlen)) < 0)
                return r;
        if (sodium_init() < 0) {
                free(raw);
                return -EIO;
        }
        struct rbuf b = { raw, n, 0 };
        r = -EINVAL;
        if (n < 6 || memcmp(raw, SIG_MAGIC, 6) != 0) {
                snprintf(err, errlen, "not an SSH signature");
                goto out;
        }
        b.off = 6;
        if (!get_u32(&b, &version) || version != 1) {
                snprintf(err, errlen, "an SSH signature of an unknown version");
                goto out;
        }
        if (!get_pubkey(&b, pk)) {
                snprintf(err, errlen, "the signature's key is not an Ed25519 key");
                goto out;
        }
        if (!get_is(&b, SSHSIG_NAMESPACE)) {
                snprintf(err, errlen, "the signature is not in namespace \"" SSHSIG_NAMESPACE "\"");
                goto out;
        }
        if (!get_is(&b, "") || !get_str(&b, &hd, &hn) || hn != 6 || memcmp(hd, "sha512", 6) != 0) {
                snprintf(err, errlen, "the signature does not use SHA-512");
                goto out;
        }
        if (!get_str(&b, &sd, &sn) || b.off != b.n) {
                snprintf(err, errlen, "the signature is malformed");
                goto out;
        }
        struct rbuf sb = { sd, sn, 0 };
        if (!get_is(&sb, KEYTYPE) || !get_str(&sb, &s, &slen) || slen != crypto_sign_BYTES || sb.off != sb.n) {
                snprintf(err, errlen, "the signature is malformed");
                goto out;
        }
        if (signed_blob(msg, len, &tbs) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (crypto_sign_verify_detached(s, tbs.p, tbs.n, pk) != 0) {
                snprintf(err, errlen, "the signature does not match the content (altered, or signed for other data)");
                goto out;
        }
        r = 0;
out:
        free(tbs.p);
        free(raw);
        return r;
}
