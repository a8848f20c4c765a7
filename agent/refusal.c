/* See refusal.h. The first pattern found in the line decides. */
#include "agent/refusal.h"

#include <stddef.h>
#include <string.h>

static const char *const known[][2] = {
        { "has no key on the county's roster",
          "有站点的密钥尚未登记在县级密钥名册中，其记录暂不接收；请联系县里登记密钥" },
        { "that the roster does not give", "收到的记录不是由名册登记的密钥签署的（可能是伪造），已拒收，本站数据未受影响" },
        { "that the roster ended at seq", "收到的记录由已吊销的密钥签署，已拒收" },
        { "is not signed, and", "收到的记录没有签名，已拒收" },
        { "has a bad signature", "收到的记录签名无效（内容被改动），已拒收" },
        { "ALARM:", "警报：有站点对同一记录签署了两份不同的版本，已留存为证据，请联系县里处理" },
        { "claims to be this node's own feed",
          "收到的“本站记录”与本机不一致（可能是伪造；如本机重装过系统，请用 daiban restore 或 daiban init --rejoin 重建数据目录）" },
        { "refused the county's roster", "收到的县级密钥名册无法验证，已拒收" },
        { "may not carry partition", "U 盘中含有不属于发送方的数据，已拒收该部分" },
        { "more than a day ahead of this computer's clock",
          "收到的记录时间比本机时钟快一天以上，已拒收；如本机时钟有误，请校准后重新同步" },
        { "beyond the largest a writer can reach", "收到的记录序号异常（超出上限），已拒收" },
        { "which has not reached this node yet", "收到的申请所用的目录清单版本本站尚未收到，待收到后自动接收" },
        { "follow from the county's catalogue", "收到的申请与县级目录清单规定的审核、决定机关或办理时限不符，已拒收" },
        { "the catalogue does not delegate", "收到的申请所属事项未下放给该站点，已拒收" },
        { "is not the tip of a ref this node may fetch", "请求了本站点无权获取的数据，已被拒绝" },
};

const char *refusal_zh(const char *en)
{
        for (size_t k = 0; en && k < sizeof known / sizeof known[0]; k++)
                if (strstr(en, known[k][0]))
                        return known[k][1];
        return NULL;
}
