/* What a refusal of sync, a stick or the hall means, in Chinese, for the
 * agents' screens and a CLI under LANG=zh_CN (agent/refusal.c). The
 * reasons themselves are English (logs); this gives the meaning of the
 * known kinds. */
#ifndef DAIBAN_AGENT_REFUSAL_H
#define DAIBAN_AGENT_REFUSAL_H

/* The Chinese meaning of an English refusal line, or NULL when its kind
 * is not known. */
const char *refusal_zh(const char *en);

#endif
