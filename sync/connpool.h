/* One connection to the hall for all of a sync's steps.
 *
 * libgit2 1.5.1 opens a new connection for every fetch, push and
 * listing, each with a TCP and a TLS 1.2 handshake (its mbedTLS has no
 * TLS 1.3 and no session resumption): on a village's link at 600 ms a
 * round trip, a sync of 13 KB spent most of its 5 s shaking hands, and a
 * scan sent one piece per push paid three round trips of handshakes
 * per piece. connpool gives libgit2 TLS streams of its own (OpenSSL:
 * TLS 1.3, one round trip; sessions resumed within the process) and
 * keeps a connection whose step ended cleanly for the next step to the
 * same host and port. A step that failed may have left a response half
 * read: what it used is closed, not kept.
 *
 * Certificates are checked as before: the stream reports the chain's
 * verification against the system's authorities and the host name, and
 * libgit2 hands the certificate to the transfer's certificate_check
 * callback (sync/transfer.c: the pin decides when there is one); a kept
 * connection is checked again at each step. On Windows libgit2 uses
 * WinHTTP, which keeps its own connections: these are no-ops there. */
#ifndef DAIBAN_SYNC_CONNPOOL_H
#define DAIBAN_SYNC_CONNPOOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef _WIN32
/* Register the TLS streams with libgit2 (once per process, after
 * git_libgit2_init). 0, or -EIO when OpenSSL cannot be set up (libgit2's
 * own streams then serve, as before). */
int connpool_install(void);

/* The step that used the connections released since the last call has
 * ended: ok, they may serve the next step; otherwise they are closed. */
void connpool_settle(bool ok);

/* Connections made and reused so far in this process (for tests and the
 * benchmarks: DAIBAN_CONNPOOL_STATS prints them at exit). */
void connpool_counts(long *ret_made, long *ret_reused, long *ret_resumed);

/* The rate at which the link delivered the last settled step's bytes,
 * as the kernel measured it from the peer's acknowledgements (TCP_INFO's
 * delivery rate): what the link moves, whatever the server then does
 * with them. A lower bound when the step did not keep the link busy (a
 * small push on a fast link). 0 with *ret_bytes_per_s, or -ENOENT (no
 * step settled over this pool's TLS since the last call). */
int connpool_link_rate(uint64_t *ret_bytes_per_s);
#else
static inline int connpool_install(void) { return 0; }
static inline void connpool_settle(bool ok) { (void)ok; }
static inline void connpool_counts(long *m, long *r, long *s) { *m = *r = *s = 0; }
static inline int connpool_link_rate(uint64_t *r) { (void)r; return -ENOENT; }
#endif

#endif
