/* What runs between the hall and git for every request: the gate in
 * front of git http-backend, and git's reference-transaction hook.
 *
 * Built into daiban and into the small `daiban-hall-helper`, which the
 * hall runs instead of itself for the requests and hooks that need no
 * more than this: a sync is several requests and a push three hooks, and
 * each exec of daiban costs its 37 shared libraries and libgit2's
 * start-up (docs/BENCHMARKS.md, "A county on one hall"). So nothing
 * here may use more than libc, sync/durable.c and agent/log.c (libc
 * only itself). */
#ifndef DAIBAN_AGENT_HALLCGI_H
#define DAIBAN_AGENT_HALLCGI_H

#include <stdbool.h>
#include <sys/types.h>

#define HALLCGI_HELPER "daiban-hall-helper"
/* how much lower than the hall's a fetch's CPU priority is (nice) */
#define HALLCGI_NICE 10

/* Answer the CGI request with status and a reason in both languages,
 * and say so on stderr (the hall's log). */
void hallcgi_refuse(int status, const char *en, const char *zh);

/* The start of `hall cgi`: die with the hall (even when it is killed),
 * and not start at all when it is gone. 0, or -1 (gone). */
int hallcgi_start(void);

/* A fetch (and the git it runs) yields the CPU to the hall: HALLCGI_NICE
 * below it. Not a push: its check holds the county store's write lock,
 * and at a lower priority it kept the ingest and every other check
 * waiting behind it (docs/BENCHMARKS.md). */
void hallcgi_yield(void);

/* A push (a POST other than a fetch) must not be content-encoded: git
 * would inflate it without the hall's caps. true when the request may
 * go on; false when it was refused (answered). */
bool hallcgi_push_ok(void);

/* Run the backend in place of this process; returns only on failure. */
void hallcgi_exec(const char *backend);

/* git's reference-transaction hook, for state ("prepared", "committed",
 * "aborted"), reading "<old> <new> <ref>" lines on stdin, with the hall's
 * home in DAIBAN_HOME. Before the refs move the fan-out directories of
 * the push's objects are synced (the pre-receive check noted them:
 * hallcgi_note_push; all 256 when there is no note of this very
 * receive-pack), once per push: receive-pack has moved every object out
 * of the quarantine before its first transaction, and a push from
 * libgit2 is one transaction per ref. Once the refs moved, their
 * directories. 0, or 1 (the push is refused). */
int hallcgi_ref_sync(const char *state);

/* Note, for the reference-transaction hook of the same receive-pack
 * (the parent of both, told apart from a later process with the same
 * pid by its start time), which fan-out directories this push's objects
 * are in: fan, the first bytes of what the pushed commits reach (the
 * pre-receive check's walk: objects the repository held already, perhaps
 * not yet durably, count too), and the quarantine's own folders. fan NULL
 * (the walk failed) or a quarantine that cannot be read: no note, and
 * the hook syncs all 256. 0, or -errno. */
int hallcgi_note_push(const char *home, const char *quarantine, const unsigned char fan[256]);

/* Remove notes left by receive-packs that died (at the hall's start). */
void hallcgi_clear_notes(const char *home);

#endif
