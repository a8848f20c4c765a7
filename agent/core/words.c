/* The words of the lifecycle: its states and their Chinese names, the
 * Chinese of the fold's rules, and the keys a client may give. See
 * agent/app.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/app.h"
#include "agent/cli.h"
#include "sync/fold.h"

/* ---- the rules, in both languages ---------------------------------------------- */

static const struct {
        const char *en, *zh;
} reasons_zh[] = {
        { "only the station that took the application may edit it", "只有受理该申请的站点可以修改" },
        { "only a draft or a returned application can be edited", "只有草稿或被退回的申请可以修改" },
        { "only the station that took the application records its materials", "只有受理该申请的站点可以登记材料" },
        { "materials can no longer change after the decision", "办结后不能再修改材料" },
        { "only the station that took the application may submit it", "只有受理该申请的站点可以提交" },
        { "only a draft can be submitted (a returned one is resubmitted)", "只有草稿可以提交（被退回的申请请重新提交）" },
        { "only the station that took the application may resubmit it", "只有受理该申请的站点可以重新提交" },
        { "only a returned application can be resubmitted", "只有被退回的申请可以重新提交" },
        { "this matter has no separate review", "该事项没有单独的审核环节" },
        { "only the reviewing office may pass the application", "只有审核机关可以审核通过" },
        { "the reviewing office decides this matter itself: decide instead of passing", "审核机关即决定机关，请直接作出决定" },
        { "only an accepted application can be passed up", "只有已受理的申请可以上报" },
        { "only the reviewing or deciding office may return the application", "只有审核或决定机关可以退回" },
        { "the application is not waiting for this office", "该申请当前不在本机关办理" },
        { "a review is either pass or return", "审核结果只能是通过（pass）或退回（return）" },
        { "a decision is either approve or reject", "决定只能是批准（approve）或不予批准（reject）" },
        { "only the deciding office may decide", "只有决定机关可以作出决定" },
        { "the application has not passed its review yet", "该申请尚未通过审核" },
        { "the application is not waiting for a decision", "该申请当前不等待决定" },
        { "only the station that took the application delivers the result", "只有受理站点可以送达结果" },
        { "there is no decision to deliver yet", "尚无可送达的决定" },
        { "only the station that took the application records the rating", "只有受理站点可以登记评价" },
        { "the application was already rated", "该申请已经评价过" },
        { "an application is rated after its result was delivered", "结果送达后才能评价" },
        { "only the station that took the application may withdraw it", "只有受理站点可以撤回" },
        { "it is too late to withdraw: the application was decided", "已经办结，不能撤回" },
        { "the application already exists", "该申请已存在（重复创建）" },
        { "a creation must name its matter, origin (the writer) and decider", "创建申请须写明事项、受理站点（写入者）和决定机关" },
        { "the application was not created (yet)", "该申请尚未创建（或尚未同步到本站）" },
        { "a rating is a level from 1 to 5", "评价应为 1 至 5 级" },
        { "a material event must name the material", "材料记录须写明材料" },
        { "an acceptance must give its date", "受理记录须写明受理日期" },
        { "the due date does not follow from the matter's time limit", "办结期限与该事项的承诺时限不符" },
        { "the receipt number is not the accepting station's own for that day", "受理编号不是受理站点当日的编号" },
};

const char *app_rule_zh(const char *en)
{
        for (size_t i = 0; en && i < sizeof reasons_zh / sizeof reasons_zh[0]; i++)
                if (strcmp(reasons_zh[i].en, en) == 0)
                        return reasons_zh[i].zh;
        return en;
}

/* Every state of the lifecycle, with its Chinese name. */
static const char *const statuses[][2] = {
        { ST_DRAFT, "草稿" }, { ST_ACCEPTED, "已受理" }, { ST_RETURNED, "退回补正" }, { ST_PASSED, "已上报" },
        { ST_APPROVED, "已批准" }, { ST_REJECTED, "不予批准" }, { ST_DELIVERED, "已送达" },
        { ST_RATED, "已评价" }, { ST_WITHDRAWN, "已撤回" },
};

bool app_status_known(const char *s)
{
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
                if (strcmp(statuses[i][0], s) == 0)
                        return true;
        return false;
}

const char *app_status_nth(size_t i)
{
        return i < sizeof statuses / sizeof statuses[0] ? statuses[i][0] : NULL;
}

const char *app_status_name(const char *s, bool zh)
{
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
                if (strcmp(statuses[i][0], s) == 0)
                        return zh ? statuses[i][1] : s;
        return s;
}

bool app_status_open(const char *status)
{
        return !strcmp(status, ST_ACCEPTED) || !strcmp(status, ST_RETURNED) || !strcmp(status, ST_PASSED);
}

bool app_key_ok(const char *s, size_t n)
{
        if (!n || n > 64 || s[0] == '-')        /* never an option to a command */
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}
