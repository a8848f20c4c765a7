/* The shared steps of the core's writes: see act.h. */
#include "agent/core/act.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/fold.h"
#include "sync/readmodel.h"

int core_act(struct core_ctx *c, struct home *h, const char *node, const char *operator, int32_t today,
             struct core_result *res)
{
        c->h = h;
        c->node = h->node;
        c->operator = operator;
        c->today = today;
        if (!node || !strcmp(node, h->node))
                return CORE_OK;
        /* A standalone home (a demo, a trial, training) may write the
         * township's and the county's events as those nodes. A home that
         * syncs must not: those nodes write their own events, and the
         * same (node, seq) written twice would be refused as an
         * equivocation everywhere. */
        char *remote = NULL;
        bool synced = store_meta_get(h->st, "remote.url", &remote) == 0 && remote;
        free(remote);
        if (!synced)
                synced = readmodel_has_feeds(h->st);
        if (synced)
                return core_fail(res, CORE_REFUSED, "refused",
                                 "--node %s: this home syncs with other nodes, so it writes only as itself (%s);"
                                 " review and decide on that node's own home",
                                 "--node %s：本节点与其他节点同步，只能以本节点（%s）身份写入；请在该节点上审核或决定",
                                 node, h->node);
        if (!catalog_find_division(h->cat, node))
                return core_fail(res, CORE_REFUSED, "refused", "--node %s is not a division of the catalogue",
                                 "--node %s 不是目录清单中的区划", node);
        c->node = node;
        return CORE_OK;
}

int core_check_operator(struct core_ctx *c, struct core_result *res)
{
        if (!c->operator || !*c->operator) {
                /* name the operators there are: "add one" is no answer when
                 * adding one is what is being done */
                char ids[256] = "";
                size_t n = 0, nops = 0, shown = 0;
                struct readmodel_operator *ops = NULL;
                if (readmodel_operators(c->h->st, c->h->node, &ops, &nops) == 0)
                        for (size_t i = 0; i < nops && shown < 8 && n < sizeof ids - 40; i++)
                                if (!ops[i].disabled) {
                                        n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%s", n ? ", " : "", ops[i].id);
                                        shown++;
                                }
                free(ops);
                if (ids[0])
                        return core_fail(res, CORE_USAGE, "bad_request",
                                         "who is doing this? give --operator ID (or set DAIBAN_OPERATOR), one of the"
                                         " operators registered here: %s",
                                         "请用 --operator ID（或环境变量 DAIBAN_OPERATOR）说明经办人，须为本站已登记的经办人：%s",
                                         ids);
                return core_fail_both(res, CORE_USAGE, "bad_request",
                                      "who is doing this? give --operator ID (or set DAIBAN_OPERATOR); "
                                      "add operators with 'daiban operator add ID --name NAME'",
                                      "请用 --operator ID（或环境变量 DAIBAN_OPERATOR）说明经办人；"
                                      "用“daiban operator add ID --name 姓名”添加经办人");
        }
        /* operators are registered per node: this home's */
        int state = home_operator_state(c->h, c->operator);
        if (state == HOME_OP_DISABLED)
                return core_fail(res, CORE_REFUSED, "refused",
                                 "operator '%s' is disabled here; 'daiban operator enable %s' by another operator"
                                 " undoes it",
                                 "经办人“%s”已停用；可由其他经办人用“daiban operator enable %s”恢复", c->operator,
                                 c->operator);
        if (state < 0)
                return core_fail(res, CORE_FAILED, "internal", "cannot read the operators: %s",
                                 "无法读取经办人：%s", store_errmsg(c->h->st));
        if (state != HOME_OP_ACTIVE)
                return core_fail(res, CORE_REFUSED, "refused",
                                 "operator '%s' is not known here; add it with 'daiban operator add %s --name NAME'",
                                 "经办人“%s”未登记；请用“daiban operator add %s --name 姓名”添加", c->operator,
                                 c->operator);
        return CORE_OK;
}

int core_store_failed(struct home *h, struct core_result *res)
{
        int code = store_error(h->st);

        if (code == -ENOSPC)
                core_fail_both(res, CORE_FAILED, "disk_full",
                               "the disk is full: nothing was saved; free some space and run the command again",
                               "磁盘已满：本次操作未保存；请清理磁盘空间后重新执行");
        else if (code == -EIO)
                core_fail_both(res, CORE_FAILED, "io_error",
                               "the disk reported an I/O error: nothing was saved; check the disk "
                               "(and its cable) and run the command again",
                               "磁盘读写出错：本次操作未保存；请检查硬盘（及连线）后重新执行");
        else
                core_fail(res, CORE_FAILED, "internal", "the store refused the write, nothing was saved: %s",
                          "数据库写入失败，未保存任何内容：%s", store_errmsg(h->st));
        store_rollback(h->st);
        return CORE_FAILED;
}

int act_store_failed(struct core_ctx *c, struct core_result *res)
{
        return core_store_failed(c->h, res);
}

int core_begin(struct home *h, struct core_result *res)
{
        if (store_begin(h->st) < 0) {
                bool busy = store_error(h->st) == -EBUSY;
                return core_fail(res, CORE_FAILED, busy ? "busy" : "internal", "cannot start a transaction: %s",
                                 "无法开始事务：%s", store_errmsg(h->st));
        }
        if (store_writes_held(h->st)) {
                store_rollback(h->st);
                return core_fail_both(res, CORE_REFUSED, "refused",
                                      "this home was restored from a backup (or made with --rejoin) and has not synced"
                                      " since: nothing was saved. Run `daiban sync` first, so that this node goes on"
                                      " after what it sent before (a number used twice would be refused by every office)",
                                      "本站数据是从备份恢复（或用 --rejoin 重建）的，之后尚未同步：本次操作未保存。请先运行同步（daiban sync），"
                                      "使本站接着此前已发出的内容继续编号（同一序号使用两次会被各级拒收）");
        }
        return CORE_OK;
}

int act_commit(struct core_ctx *c, struct core_result *res)
{
        return store_commit(c->h->st) < 0 ? act_store_failed(c, res) : CORE_OK;
}

int act_begin(struct core_ctx *c, struct core_result *res)
{
        return core_begin(c->h, res);
}

char *act_dump(const json_t *j)
{
        return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
}

int act_emit(struct core_ctx *c, const char *type, const char *app, const char *part, json_t *body)
{
        const char *k;
        json_t *v;
        void *tmp;
        char *text;
        int r;

        if (!body)
                return -ENOMEM;
        /* absent, not null: bodies stay small and canonical */
        json_object_foreach_safe(body, tmp, k, v)
                if (json_is_null(v))
                        json_object_del(body, k);
        text = act_dump(body);
        json_decref(body);
        if (!text)
                return -ENOMEM;
        struct event ev = { .node = c->node, .operator = c->operator, .type = type, .app = app, .part = part,
                            .body = text };
        r = store_append(c->h->st, &ev);
        free(text);
        if (r == 0 && app)
                r = fold_app(c->h->st, app);
        return r;
}

int core_app_rows(struct home *h, const char *key, struct app_row **ret, size_t *n, struct core_result *res)
{
        int r = readmodel_app_rows(h->st, key, ret, n);

        if (r == -ENOENT)
                return core_fail(res, CORE_NOT_FOUND, "not_found", "no application or bundle '%s' here; see 'daiban app list'",
                                 "这里没有申请或一件事“%s”；请查看“daiban app list”", key);
        if (r < 0)
                return core_fail(res, CORE_FAILED, "internal", "cannot read the store: %s", "无法读取数据库：%s",
                                 store_errmsg(h->st));
        return CORE_OK;
}

int act_check_rule(struct core_ctx *c, const struct app_row *r, const char *type, const char *result,
                   struct core_result *res)
{
        const char *why = fold_check(type, result, c->node, r->status, r->origin, r->reviewer[0] ? r->reviewer : NULL,
                                     r->decider, r->rating);
        const char *who = r->receipt[0] ? r->receipt : r->id;

        char en[1024], zh[1024];

        if (!why)
                return CORE_OK;
        /* both languages whole: the state and the rule translated too */
        snprintf(en, sizeof en, "%s (%s): %s", who, app_status_name(r->status, false), why);
        snprintf(zh, sizeof zh, "%s（%s）：%s", who, app_status_name(r->status, true), app_rule_zh(why));
        return core_fail_both(res, CORE_REFUSED, "refused", en, zh);
}

const struct cat_matter *act_matter_of(struct core_ctx *c, const struct app_row *r, struct core_result *res)
{
        const catalog *cat = home_catalog_for(c->h, r->catalog);
        const struct cat_matter *m = cat ? catalog_find_matter(cat, r->matter) : NULL;

        if (!cat)
                core_fail(res, CORE_REFUSED, "refused",
                          "%s was captured under catalogue version %.12s, which has not reached this node yet;"
                          " it can be shown but not checked until it arrives",
                          "%s 按目录清单版本 %.12s 受理，本站尚未收到该版本；可以查看，但须等该版本到达后才能校验", r->id,
                          r->catalog);
        else if (!m)
                core_fail(res, CORE_REFUSED, "refused", "matter %s is not in catalogue version %.12s",
                          "目录清单版本 %2$.12s 中没有事项 %1$s", r->matter, r->catalog);
        return m;
}

const char *act_material_state(store *st, const struct app_row *r, const char *material, long long *promise,
                               char state[32])
{
        struct readmodel_material m;

        state[0] = '\0';
        *promise = -1;
        if (readmodel_material(st, r->id, material, &m) == 0) {
                snprintf(state, 32, "%s", m.state);
                *promise = m.promise;
        }
        return state;
}
