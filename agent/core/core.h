/* The core of a node: the rules of an application in one place, for
 * every front end (the CLI, agent/cmd-node.c and cmd-app.c; the station daemon,
 * agent/serve.c, on its writer thread). No argv, no printing, no HTTP:
 * every operation takes a context and its inputs, and answers a
 * core_result (agent/core/result.h).
 *
 * Every write is one transaction: check the rules against the current
 * state, append the events, fold the applications they touch, commit
 * (durable: WAL, synchronous=FULL), and only then answer CORE_OK. A
 * refusal writes nothing. See docs/lifecycle.md and docs/store.md. */
#ifndef DAIBAN_AGENT_CORE_CORE_H
#define DAIBAN_AGENT_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/core/result.h"
#include "agent/home.h"

/* Who acts, where and when. */
struct core_ctx {
        struct home *h;
        const char *node;               /* the acting node: h->node, or another division on a
                                         * standalone home (core_act) */
        const char *operator;           /* NULL when the front end has none */
        int32_t today;                  /* days since 1970, China time */
};

/* Fill c for home h. node: act as that division (NULL: the home's own
 * node); only a home that has never synced may write as another node (a
 * demo, a training home), since the same (node, seq) written twice would
 * be refused everywhere. */
int core_act(struct core_ctx *c, struct home *h, const char *node, const char *operator, int32_t today,
             struct core_result *res);

/* Every application key names (an id or receipt, or a bundle's id or
 * receipt: readmodel_app_rows), or CORE_NOT_FOUND / CORE_FAILED saying why. */
struct app_row;
int core_app_rows(struct home *h, const char *key, struct app_row **ret, size_t *n, struct core_result *res);

/* c's operator is registered and enabled at this node: CORE_OK, or
 * the refusal naming the operators there are. */
int core_check_operator(struct core_ctx *c, struct core_result *res);

/* Start a write transaction on h's store: refused while a restored home
 * waits for its first sync. */
int core_begin(struct home *h, struct core_result *res);

/* h's store failed: roll back and say why (the disk full, an I/O error,
 * anything else). Returns CORE_FAILED. */
int core_store_failed(struct home *h, struct core_result *res);

/* ---- capture (agent/core/capture.c) ---- */

struct core_new {
        const char *code;               /* a matter or a bundle of the current catalogue */
        const json_t *data;             /* the form's data, a JSON object */
        const json_t *materials;        /* NULL, or [{"material", "state", "promise"}] */
        const char *request;            /* NULL, or the request's key: a retry gets what the
                                         * first try made (res->repeated) */
        bool submit;                    /* accept it in the same transaction */
};

/* Start an application, or one per member of a bundle: res->id is its
 * id (the bundle's); with submit also res->receipt. A draft may be
 * incomplete (res->problems lists what is still to do) but may not hold
 * what the form does not have. */
int core_app_new(struct core_ctx *c, const struct core_new *in, struct core_result *res);

/* Replace a draft's or a returned application's data. */
int core_app_edit(struct core_ctx *c, const char *key, const json_t *data, struct core_result *res);

struct core_material {
        const char *material;           /* its code in the form */
        const char *state;              /* provided, missing or deficient */
        const char *promise;            /* NULL, or YYYY-MM-DD: a deficient one's promised day */
        const void *scan;               /* NULL, or the scan's bytes (with provided) */
        size_t scan_len;
};

/* The material's arguments alone: its state, a scan only with provided
 * (scan: one is given), a promise only with deficient and a real date
 * (into *promise, else -1). CORE_USAGE when one is wrong. */
int core_material_check(const struct core_material *in, bool scan, int32_t *promise, struct core_result *res);

/* Record a material's state on an application (each member of a bundle
 * whose form asks for it); a scan is stored as a blob first
 * (res->blob). */
int core_app_material(struct core_ctx *c, const char *key, const struct core_material *in, struct core_result *res);

/* Accept (receipt number, due date; res->receipt) or resubmit a
 * returned one (res->resubmitted). CORE_INVALID with the problems when
 * data or materials stop it. */
int core_app_submit(struct core_ctx *c, const char *key, struct core_result *res);

/* ---- the lifecycle's one-event steps (agent/core/lifecycle.c) ---- */

enum core_step_kind { CORE_WITHDRAW, CORE_DELIVER, CORE_RATE, CORE_REVIEW, CORE_DECIDE };

struct core_step {
        enum core_step_kind kind;
        const char *result;             /* review: pass|return; decide: approve|reject */
        const char *reason;             /* needed by withdraw, return and reject */
        long level;                     /* rate: 1 to 5 */
        const char *comment;            /* rate: optional */
};

/* The step's arguments alone (CORE_USAGE when one is missing or out of
 * range), before anything is opened. */
int core_step_check(const struct core_step *in, struct core_result *res);

int core_app_step(struct core_ctx *c, const char *key, const struct core_step *in, struct core_result *res);

/* What the step did, in both languages ("withdrawn", "已撤回"...). */
void core_step_done(const struct core_step *in, const char **en, const char **zh);

/* ---- operators (agent/core/operator.c) ---- */

/* Register operator id (name) at this node, by c->operator: the first
 * operator of a node registers itself (c->operator NULL or id). */
int core_operator_add(struct core_ctx *c, const char *id, const char *name, struct core_result *res);

/* Disable (no sign-in, no writes) or enable again operator id, by
 * c->operator. The last operator who can sign in stays. */
int core_operator_able(struct core_ctx *c, const char *id, bool disable, struct core_result *res);

#endif
