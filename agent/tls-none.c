/* The Windows station's agent/tls.h: no TLS server.
 *
 * The station daemon serves the browser on the same PC, on 127.0.0.1,
 * where TLS adds nothing; HTTPS to the hall is libgit2's WinHTTP (the
 * pin is checked in sync/transfer.c). Building OpenSSL for Windows only
 * to offer `daiban serve --cert` on a station is not worth its upkeep
 * (docs/windows.md, "HTTPS to the hall"). So a certificate given to the
 * Windows build is refused with a message, and no connection is ever
 * made with a context: the connection functions are never reached. */
#include "agent/tls.h"

#include <stdio.h>

#define NO_TLS "HTTPS for the station daemon is not part of the Windows build: serve on 127.0.0.1 (the default)"

struct tls_ctx *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
        (void)cert;
        (void)key;
        snprintf(err, errlen, "%s", NO_TLS);
        return NULL;
}

void tls_ctx_free(struct tls_ctx *t)
{
        (void)t;
}

int tls_cert_pin(const char *cert, char hex[65], char *err, size_t errlen)
{
        (void)cert;
        hex[0] = '\0';
        snprintf(err, errlen, "%s", "reading a certificate file is not part of the Windows build: give the pin itself");
        return -1;
}

int tls_make_cert(const char *cert, const char *key, const char *name, int days, char *err, size_t errlen)
{
        (void)cert, (void)key, (void)name, (void)days;
        snprintf(err, errlen, "%s", NO_TLS);
        return -1;
}

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
        (void)t;
        return NULL;
}

void tls_conn_free(struct tls_conn *c)
{
        (void)c;
}

int tls_conn_input(struct tls_conn *c, const char *data, size_t len, tls_plain_fn plain, void *ud)
{
        (void)c, (void)data, (void)len, (void)plain, (void)ud;
        return -1;
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t len)
{
        (void)c, (void)data, (void)len;
        return -1;
}

char *tls_conn_take_output(struct tls_conn *c, size_t *ret_len)
{
        (void)c;
        *ret_len = 0;
        return NULL;
}
