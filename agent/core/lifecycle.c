/* The lifecycle's one-event steps: withdraw, deliver, rate, review,
 * decide. Each is checked against the fold's rules on every application
 * it names (a bundle's members all, or none) and written as one
 * transaction. See core.h and docs/lifecycle.md. */
#include <stdio.h>
#include <string.h>

#include "agent/core/act.h"

static const struct {
        const char *type;
        const char *done_en, *done_zh;          /* the first result's, or the only */
        const char *done2_en, *done2_zh;        /* the second result's */
        /* an office's step: its two results, the second needing a reason */
        const char *result, *result2;
        const char *bad_en, *bad_zh;            /* neither result given */
        const char *why_en, *why_zh;            /* the second without its reason */
} steps[] = {
        [CORE_WITHDRAW] = { "app.withdrawn", "withdrawn", "已撤回", NULL, NULL },
        [CORE_DELIVER] = { "app.delivered", "result delivered", "结果已送达", NULL, NULL },
        [CORE_RATE] = { "app.rated", "rated", "已评价", NULL, NULL },
        [CORE_REVIEW] = { "app.reviewed", "passed up", "已审核通过并上报", "returned for correction", "已退回补正",
                          "pass", "return", "a review is pass or return", "审核结果应为 pass 或 return",
                          "a return needs its reason: everything the station must correct, at once (--reason)",
                          "退回需要说明理由：一次性列明所有需补正的内容（--reason）" },
        [CORE_DECIDE] = { "app.decided", "approved", "已批准", "rejected", "不予批准",
                          "approve", "reject", "a decision is approve or reject", "决定应为 approve 或 reject",
                          "a rejection needs its reason (--reason)", "不予批准需要说明理由（--reason）" },
};

int core_step_check(const struct core_step *in, struct core_result *res)
{
        bool reason = in->reason && *in->reason;

        switch (in->kind) {
        case CORE_WITHDRAW:
                if (!reason)
                        return core_fail_both(res, CORE_USAGE, "bad_request", "a withdrawal needs its reason (--reason)",
                                              "撤回需要说明原因（--reason）");
                break;
        case CORE_DELIVER:
                break;
        case CORE_RATE:
                if (in->level < 1 || in->level > 5)
                        return core_fail_both(res, CORE_USAGE, "bad_request",
                                              "a rating is a level from 1 to 5 (5 very satisfied, 1 very dissatisfied; --level)",
                                              "评价等级为 1 至 5（5 非常满意，1 非常不满意；--level）");
                break;
        case CORE_REVIEW:
        case CORE_DECIDE:
                if (!in->result || (strcmp(in->result, steps[in->kind].result) && strcmp(in->result, steps[in->kind].result2)))
                        return core_fail_both(res, CORE_USAGE, "bad_request", steps[in->kind].bad_en, steps[in->kind].bad_zh);
                if (!strcmp(in->result, steps[in->kind].result2) && !reason)
                        return core_fail_both(res, CORE_USAGE, "bad_request", steps[in->kind].why_en, steps[in->kind].why_zh);
                break;
        default:
                return core_fail_both(res, CORE_USAGE, "bad_request", "no such step", "没有这一办理环节");
        }
        return CORE_OK;
}

void core_step_done(const struct core_step *in, const char **en, const char **zh)
{
        bool second = (in->kind == CORE_REVIEW && in->result && !strcmp(in->result, "return")) ||
                      (in->kind == CORE_DECIDE && in->result && !strcmp(in->result, "reject"));

        *en = second ? steps[in->kind].done2_en : steps[in->kind].done_en;
        *zh = second ? steps[in->kind].done2_zh : steps[in->kind].done_zh;
}

/* The event's body: what the step says beyond its type. */
static json_t *step_body(const struct core_ctx *c, const struct core_step *in)
{
        switch (in->kind) {
        case CORE_WITHDRAW:
                return json_pack("{s:s}", "reason", in->reason);
        case CORE_RATE:
                return json_pack("{s:I,s:s?}", "level", (json_int_t)in->level, "comment",
                                 in->comment && *in->comment ? in->comment : NULL);
        case CORE_REVIEW:
                return json_pack("{s:s,s:s?}", "result", in->result, "reason",
                                 in->reason && *in->reason ? in->reason : NULL);
        case CORE_DECIDE:
                /* the day of the decision, for the on-time rate (按时办结率) */
                return json_pack("{s:s,s:I,s:s?}", "result", in->result, "decided_on", (json_int_t)c->today, "reason",
                                 in->reason && *in->reason ? in->reason : NULL);
        default:
                return json_object();
        }
}

int core_app_step(struct core_ctx *c, const char *key, const struct core_step *in, struct core_result *res)
{
        struct app_row *t = NULL;
        size_t n = 0;
        const char *type;
        const char *result = in->kind == CORE_REVIEW || in->kind == CORE_DECIDE ? in->result : NULL;
        json_t *body = NULL;
        int r;

        if ((r = core_step_check(in, res)) || (r = core_check_operator(c, res)))
                return r;
        type = steps[in->kind].type;
        if ((r = act_begin(c, res)))
                return r;
        if ((r = core_app_rows(c->h, key, &t, &n, res)))
                goto fail;
        for (size_t i = 0; i < n; i++)
                if ((r = act_check_rule(c, &t[i], type, result, res)))
                        goto fail;
        body = step_body(c, in);
        for (size_t i = 0; i < n; i++)
                if (act_emit(c, type, t[i].id, t[i].origin, json_deep_copy(body)) < 0) {
                        r = act_store_failed(c, res);
                        goto fail;
                }
        if ((r = act_commit(c, res)))
                goto fail;
        snprintf(res->id, sizeof res->id, "%s", key);
        r = CORE_OK;
        goto out;
fail:
        store_rollback(c->h->st);
out:
        json_decref(body);
        app_rows_free(t, n);
        return r;
}
