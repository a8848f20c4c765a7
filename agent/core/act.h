/* The core's shared steps of a write (private to agent/core/): the
 * operator, the transaction, one event appended and folded, the
 * lifecycle's rule checked, the store's failure told. Each takes the
 * operation's result and fills it when it refuses. */
#ifndef DAIBAN_AGENT_CORE_ACT_H
#define DAIBAN_AGENT_CORE_ACT_H

#include <jansson.h>

#include "agent/app.h"
#include "agent/core/core.h"

/* core_begin on c's home. */
int act_begin(struct core_ctx *c, struct core_result *res);

/* Commit the write transaction: CORE_OK, or CORE_FAILED (rolled back). */
int act_commit(struct core_ctx *c, struct core_result *res);

/* core_store_failed on c's home. */
int act_store_failed(struct core_ctx *c, struct core_result *res);

/* Append one event (body is consumed; null members are dropped) and fold
 * its application. 0 or negative (the store failed, or body is NULL: a
 * json_pack that ran out of memory). */
int act_emit(struct core_ctx *c, const char *type, const char *app, const char *part, json_t *body);

/* The lifecycle allows this event on r now (sync/fold.h fold_check),
 * else CORE_REFUSED with the rule in both languages. */
int act_check_rule(struct core_ctx *c, const struct app_row *r, const char *type, const char *result,
                   struct core_result *res);

/* r's matter in the catalogue version it was captured under; NULL with
 * the refusal in res (that version has not reached this node yet, or it
 * lacks the matter). */
const struct cat_matter *act_matter_of(struct core_ctx *c, const struct app_row *r, struct core_result *res);

/* A material's recorded state on application r ("provided", "missing",
 * "deficient" or "" when none) into state[32], and its promised day
 * (-1 when none). */
const char *act_material_state(store *st, const struct app_row *r, const char *material, long long *promise,
                               char state[32]);

/* Canonical JSON text (sorted keys, compact); free() it. */
char *act_dump(const json_t *j);

#endif
