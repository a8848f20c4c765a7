/* TLS over memory BIOs with OpenSSL. See tls.h. The read BIO takes what
 * the socket delivered, the write BIO collects what must be sent; the
 * caller moves bytes between them and libuv. */
#include "agent/tls.h"

#include "agent/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_ctx {
        SSL_CTX *ctx;
};

struct tls_conn {
        SSL *ssl;
        BIO *rbio, *wbio;       /* owned by ssl */
};

static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
        unsigned long e = ERR_get_error();
        char buf[256] = "";

        if (e)
                ERR_error_string_n(e, buf, sizeof buf);
        snprintf(err, errlen, "%s %s: %s", what, file, buf[0] ? buf : "unknown TLS error");
        ERR_clear_error();
}

struct tls_ctx *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
        struct tls_ctx *t = calloc(1, sizeof *t);

        if (!t || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
                snprintf(err, errlen, "out of memory");
                free(t);
                return NULL;
        }
        SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
        SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* Every byte counts on a 2G link: a station's `daiban sync` is a
         * new process that cannot resume a session, so a session ticket
         * (about 200 bytes) is never used; X25519 keys are half the size
         * of P-256's. */
        SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(t->ctx, 0);     /* nor TLS 1.3's (two, 250 bytes) */
        /* decrypted requests carry passwords, tokens and ID numbers:
         * OpenSSL wipes its copy of the plaintext once it is handed over
         * (OpenSSL 3.0), and tls_conn_input wipes its own */
        SSL_CTX_set_options(t->ctx, SSL_OP_CLEANSE_PLAINTEXT);
        SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set1_groups_list(t->ctx, "X25519:P-256:P-384");
        if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
                ssl_err(err, errlen, "cannot use the certificate", cert);
                goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
                ssl_err(err, errlen, "cannot use the key", key);
                goto fail;
        }
        if (SSL_CTX_check_private_key(t->ctx) != 1) {
                ssl_err(err, errlen, "the key does not match the certificate", cert);
                goto fail;
        }
        return t;
fail:
        tls_ctx_free(t);
        return NULL;
}

void tls_ctx_free(struct tls_ctx *t)
{
        if (!t)
                return;
        SSL_CTX_free(t->ctx);
        free(t);
}

int tls_cert_pin(const char *cert, char hex[65], char *err, size_t errlen)
{
        FILE *f = fopen(cert, "r");
        X509 *x = NULL;
        unsigned char *der = NULL;
        int len, r = -1;

        if (!f) {
                snprintf(err, errlen, "cannot open %s", cert);
                return -1;
        }
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        if (!x) {
                ssl_err(err, errlen, "no PEM certificate in", cert);
                return -1;
        }
        len = i2d_X509(x, &der);
        if (len > 0) {
                sha256_hex(der, (size_t)len, hex);
                r = 0;
        } else {
                ssl_err(err, errlen, "cannot encode the certificate", cert);
        }
        OPENSSL_free(der);
        X509_free(x);
        return r;
}

int tls_make_cert(const char *cert, const char *key, const char *name, int days, char *err, size_t errlen)
{
        EVP_PKEY *pk = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        X509_NAME *nm;
        FILE *f = NULL;
        unsigned char serial[16];
        BIGNUM *bn = NULL;
        int r = -1;

        if (!pk || !x || RAND_bytes(serial, sizeof serial) != 1) {
                ssl_err(err, errlen, "cannot make a key for", cert);
                goto out;
        }
        serial[0] &= 0x7f;      /* a positive serial */
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        /* no extensions: a small certificate is a small handshake, and the
         * stations pin it rather than check a chain */
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || X509_set_version(x, 2) != 1 ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) || X509_set_pubkey(x, pk) != 1 ||
            !(nm = X509_get_subject_name(x)) ||
            X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) != 1 ||
            X509_set_issuer_name(x, nm) != 1 || X509_sign(x, pk, EVP_sha256()) <= 0) {
                ssl_err(err, errlen, "cannot make the certificate", cert);
                goto out;
        }
        if (!(f = fopen(key, "wx")) || fchmod(fileno(f), 0600) < 0 || PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1) {
                snprintf(err, errlen, "cannot write %s (it must not exist yet): %s", key, strerror(errno));
                goto out;
        }
        fclose(f);
        if (!(f = fopen(cert, "wx")) || PEM_write_X509(f, x) != 1) {
                snprintf(err, errlen, "cannot write %s (it must not exist yet): %s", cert, strerror(errno));
                goto out;
        }
        r = 0;
out:
        if (f && fclose(f) != 0 && r == 0) {
                snprintf(err, errlen, "cannot write %s: %s", cert, strerror(errno));
                r = -1;
        }
        BN_free(bn);
        X509_free(x);
        EVP_PKEY_free(pk);
        return r;
}

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
        struct tls_conn *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        c->ssl = SSL_new(t->ctx);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (!c->ssl || !c->rbio || !c->wbio) {
                SSL_free(c->ssl);
                BIO_free(c->rbio);
                BIO_free(c->wbio);
                free(c);
                return NULL;
        }
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
        return c;
}

void tls_conn_free(struct tls_conn *c)
{
        if (!c)
                return;
        SSL_free(c->ssl);
        free(c);
}

int tls_conn_input(struct tls_conn *c, const char *data, size_t len, tls_plain_fn plain, void *ud)
{
        char buf[16384];
        int n;

        if (len && BIO_write(c->rbio, data, (int)len) != (int)len)
                return -1;
        for (;;) {
                n = SSL_read(c->ssl, buf, sizeof buf);
                if (n > 0) {
                        plain(ud, buf, (size_t)n);
                        OPENSSL_cleanse(buf, (size_t)n);
                        continue;
                }
                switch (SSL_get_error(c->ssl, n)) {
                case SSL_ERROR_WANT_READ:
                case SSL_ERROR_WANT_WRITE:
                case SSL_ERROR_ZERO_RETURN:     /* close_notify: the socket's EOF follows */
                        return 0;
                default:
                        ERR_clear_error();
                        return -1;
                }
        }
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t len)
{
        const char *p = data;

        while (len) {
                int n = SSL_write(c->ssl, p, len > 65536 ? 65536 : (int)len);
                if (n <= 0) {
                        ERR_clear_error();
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

char *tls_conn_take_output(struct tls_conn *c, size_t *ret_len)
{
        size_t n = (size_t)BIO_pending(c->wbio);
        char *buf;

        if (!n)
                return NULL;
        if (!(buf = malloc(n)))
                return NULL;
        if (BIO_read(c->wbio, buf, (int)n) != (int)n) {
                free(buf);
                return NULL;
        }
        *ret_len = n;
        return buf;
}
