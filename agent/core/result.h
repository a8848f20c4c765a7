/* What every operation of the core (agent/core/) answers: one result
 * type for the CLI, the station daemon and the hall alike. The core
 * never prints: a front end turns a result into its own form (the CLI's
 * text and exit code, the daemon's JSON and HTTP status).
 *
 * A result carries a status, a machine code, the message in both
 * languages and the list of problems (a form's, or what stops an
 * acceptance), and what the operation made: an id, a receipt number, a
 * scan's blob. Problems may come with CORE_OK too: a draft saved with
 * fields still to complete. */
#ifndef DAIBAN_AGENT_CORE_RESULT_H
#define DAIBAN_AGENT_CORE_RESULT_H

#include <stdbool.h>

#include "forms/validate.h"

enum core_status {
        CORE_OK = 0,
        CORE_REFUSED,           /* a rule of the lifecycle or of the catalogue said no */
        CORE_INVALID,           /* the data or the materials do not pass: see problems */
        CORE_NOT_FOUND,         /* no such application, matter or operator */
        CORE_USAGE,             /* the request itself is malformed (a missing reason...) */
        CORE_FAILED,            /* the store or the disk failed: nothing was saved */
};

struct core_result {
        enum core_status status;
        const char *code;               /* "refused", "invalid", "not_found", "bad_request",
                                         * "disk_full", "io_error", "internal"; NULL when ok */
        char *en, *zh;                  /* the message (owned): why it failed, or what it did
                                         * (core_done); NULL when there is none */
        struct form_problems problems;
        char id[80];                    /* the application (or bundle) made or touched */
        char receipt[64];               /* the acceptance's receipt number, if it gave one */
        char blob[41];                  /* a scan's blob id, if one was stored */
        bool repeated;                  /* a request key already done: nothing new was made */
        bool resubmitted;               /* an acceptance that was a resubmission */
        bool at_acceptance;             /* it got as far as the acceptance's checks */
};

void core_result_init(struct core_result *res);
void core_result_finish(struct core_result *res);

/* Set the result's status, code and message (both languages take the
 * same arguments, or positional %1$s forms; the compiler checks them
 * against the English). Returns status, so that `return core_fail(...)`
 * ends an operation. A second failure keeps the first message. */
__attribute__((format(printf, 4, 6))) int core_fail(struct core_result *res, enum core_status status,
                                                    const char *code, const char *en, const char *zh, ...);

/* What an operation did, in both languages, on success (status stays
 * CORE_OK): the front end shows it. */
__attribute__((format(printf, 2, 4))) void core_done(struct core_result *res, const char *en, const char *zh, ...);

/* core_fail with both texts formatted by the caller. */
int core_fail_both(struct core_result *res, enum core_status status, const char *code, const char *en,
                   const char *zh);

/* The CLI's exit code for a status: 0, 1 (refused), 2 (usage). */
int core_exit_code(enum core_status status);

#endif
