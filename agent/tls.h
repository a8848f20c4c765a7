/* TLS for agent/http.c with OpenSSL over memory BIOs: the socket stays
 * libuv's, OpenSSL only transforms bytes, so the same code runs wherever
 * libuv does. A station pins the hall's certificate by its SHA-256 (of the
 * DER encoding), so a county's self-signed certificate is safe to use. */
#ifndef DAIBAN_AGENT_TLS_H
#define DAIBAN_AGENT_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls_ctx;
struct tls_conn;

/* Load a PEM certificate (chain) and its key. NULL with a message. */
struct tls_ctx *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *t);
/* The SHA-256 of the first certificate in a PEM file, as 64 hex digits:
 * what `daiban remote set --pin` takes. 0, or -1 with a message. */
int tls_cert_pin(const char *cert, char hex[65], char *err, size_t errlen);

/* Make a self-signed P-256 certificate for name (CN), valid for days,
 * and its key (mode 0600); neither file may exist. 0, or -1 with err. */
int tls_make_cert(const char *cert, const char *key, const char *name, int days, char *err, size_t errlen);

typedef void (*tls_plain_fn)(void *ud, const char *data, size_t len);

struct tls_conn *tls_conn_new(struct tls_ctx *t);
void tls_conn_free(struct tls_conn *c);
/* Feed bytes read from the peer; decrypted data goes to plain(). Returns
 * 0, or -1 when the peer broke the protocol (close the connection). */
int tls_conn_input(struct tls_conn *c, const char *data, size_t len, tls_plain_fn plain, void *ud);
/* Encrypt application data. 0 or -1. */
int tls_conn_write(struct tls_conn *c, const void *data, size_t len);
/* Take the bytes to send to the peer (malloc'ed), or NULL when none. */
char *tls_conn_take_output(struct tls_conn *c, size_t *ret_len);

#endif
