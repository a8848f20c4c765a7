/* Operators, the people at the window: registered per node by an
 * operator.added event (the first registers itself, later ones are let
 * in by a registered operator: 电子监察, who let whom in), disabled and
 * enabled by the same event with "disabled" set or not (an older daiban
 * reads it as the operator added again, which changes nothing there).
 * See core.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/act.h"
#include "sync/fold.h"

/* Write and fold the operator.added event for operator id (name),
 * disabled or not, and commit the open transaction. */
static int operator_event(struct core_ctx *c, const char *id, const char *name, bool disabled,
                          struct core_result *res)
{
        json_t *body = json_pack("{s:s,s:s}", "id", id, "name", name);
        char *text;
        int r = CORE_OK;

        if (body && disabled)
                json_object_set_new(body, "disabled", json_true());
        text = body ? act_dump(body) : NULL;
        json_decref(body);
        struct event ev = { .node = c->node, .operator = c->operator, .type = "operator.added", .part = c->node,
                            .body = text };
        if (!text || store_append(c->h->st, &ev) < 0 || fold_operator(c->h->st, c->node, ev.hlc, text) < 0 ||
            store_commit(c->h->st) < 0)
                r = act_store_failed(c, res);
        free(text);
        return r;
}

int core_operator_add(struct core_ctx *c, const char *id, const char *name, struct core_result *res)
{
        char *had = NULL;
        bool off = false;
        int r;

        if (!id || !*id || strlen(id) > 32 || !name || !*name)
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "operator add needs an ID (at most 32 characters) and --name NAME",
                                      "operator add 需要 ID（最多 32 个字符）和 --name 姓名");
        if ((r = act_begin(c, res)))
                return r;
        struct readmodel_operator *ops = NULL;
        size_t nops = 0;
        if (readmodel_operators(c->h->st, c->node, &ops, &nops) == 0)
                for (size_t i = 0; i < nops; i++)
                        if (strcmp(ops[i].id, id) == 0) {
                                had = strdup(ops[i].name);
                                off = ops[i].disabled;
                        }
        free(ops);
        if (off)
                r = core_fail(res, CORE_REFUSED, "refused",
                              "operator %s (%s) is disabled; 'daiban operator enable %s' brings them back",
                              "经办人 %s（%s）已停用；用“daiban operator enable %s”恢复", id, had ? had : "", id);
        else if (had && strcmp(had, name) == 0)
                r = core_fail(res, CORE_REFUSED, "refused", "operator %s (%s) is registered already; nothing to do",
                              "经办人 %s（%s）已登记，无需重复添加", id, had);
        else if (nops > 0)
                r = core_check_operator(c, res);
        free(had);
        if (r) {
                store_rollback(c->h->st);
                return r;
        }
        if (!c->operator || !*c->operator)
                c->operator = id;
        if ((r = operator_event(c, id, name, false, res)))
                return r;
        core_done(res, "operator %s (%s) added", "已添加经办人 %s（%s）", id, name);
        return CORE_OK;
}

int core_operator_able(struct core_ctx *c, const char *id, bool disable, struct core_result *res)
{
        char *name = NULL;
        long long was = -1, others = 0;
        int r;

        if ((r = act_begin(c, res)))
                return r;
        if ((r = core_check_operator(c, res))) {
                store_rollback(c->h->st);
                return r;
        }
        struct readmodel_operator *ops = NULL;
        size_t nops = 0;
        if (readmodel_operators(c->h->st, c->node, &ops, &nops) == 0)
                for (size_t i = 0; i < nops; i++) {
                        if (strcmp(ops[i].id, id) == 0) {
                                name = strdup(ops[i].name);
                                was = ops[i].disabled;
                        } else {
                                others += !ops[i].disabled;
                        }
                }
        free(ops);
        if (was < 0 || !name)
                r = core_fail(res, CORE_NOT_FOUND, "not_found", "operator '%s' is not registered here ('daiban operator list')",
                              "本站没有经办人“%s”（见“daiban operator list”）", id);
        else if ((was != 0) == disable)
                r = disable ? core_fail(res, CORE_REFUSED, "refused", "operator %s (%s) is disabled already; nothing to do",
                                        "经办人 %s（%s）已停用，无需重复操作", id, name)
                            : core_fail(res, CORE_REFUSED, "refused", "operator %s (%s) is not disabled; nothing to do",
                                        "经办人 %s（%s）未停用，无需操作", id, name);
        else if (disable && others == 0)
                r = core_fail(res, CORE_REFUSED, "refused",
                              "operator %s (%s) is the last one who can sign in here: add another first",
                              "经办人 %s（%s）是本站最后一位可登录的经办人，请先添加其他经办人", id, name);
        if (r) {
                store_rollback(c->h->st);
                free(name);
                return r;
        }
        if (!(r = operator_event(c, id, name, disable, res))) {
                if (disable)
                        core_done(res, "operator %s (%s) disabled: no sign-in, no writes",
                                  "已停用经办人 %s（%s）：不能登录，不能办理", id, name);
                else
                        core_done(res, "operator %s (%s) enabled again", "已恢复经办人 %s（%s）", id, name);
        }
        free(name);
        return r;
}
