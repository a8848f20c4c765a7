/* The core's result type: see result.h. */
#include "agent/core/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void core_result_init(struct core_result *res)
{
        memset(res, 0, sizeof *res);
        form_problems_init(&res->problems);
}

void core_result_finish(struct core_result *res)
{
        free(res->en);
        free(res->zh);
        form_problems_finish(&res->problems);
        memset(res, 0, sizeof *res);
}

int core_fail_both(struct core_result *res, enum core_status status, const char *code, const char *en,
                   const char *zh)
{
        if (res->status != CORE_OK && res->en)
                return res->status;
        res->status = status;
        res->code = code;
        free(res->en);
        free(res->zh);
        res->en = strdup(en);
        res->zh = strdup(zh);
        return status;
}

/* Both texts formatted with the same arguments: 0, or -1 out of memory. */
static int format2(char **a, char **b, const char *en, const char *zh, va_list ap)
{
        va_list aq;

        va_copy(aq, ap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (vasprintf(a, en, ap) < 0)
                *a = NULL;
        if (vasprintf(b, zh, aq) < 0)
                *b = NULL;
#pragma GCC diagnostic pop
        va_end(aq);
        return *a && *b ? 0 : -1;
}

void core_done(struct core_result *res, const char *en, const char *zh, ...)
{
        va_list ap;
        char *a, *b;

        va_start(ap, zh);
        format2(&a, &b, en, zh, ap);
        va_end(ap);
        free(res->en);
        free(res->zh);
        res->en = a;
        res->zh = b;
}

int core_fail(struct core_result *res, enum core_status status, const char *code, const char *en, const char *zh,
              ...)
{
        va_list ap;
        char *a = NULL, *b = NULL;
        int r;

        va_start(ap, zh);
        format2(&a, &b, en, zh, ap);
        va_end(ap);
        r = core_fail_both(res, status, code, a ? a : "out of memory", b ? b : "内存不足");
        free(a);
        free(b);
        return r;
}

int core_exit_code(enum core_status status)
{
        return status == CORE_OK ? 0 : status == CORE_USAGE ? 2 : 1;
}
