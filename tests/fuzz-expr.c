/* libFuzzer target for the expression language: any bytes as an
 * expression. Whatever parses is type-checked against a small form (one
 * field of each type) and evaluated, checked or not, with empty and with
 * filled values. Nothing may crash, leak or hang; an error must point
 * inside the source. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forms/calendar.h"
#include "forms/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
        const char *name;
        enum expr_type type;
} form[] = {
        { "n", ET_NUMBER }, { "s", ET_STRING }, { "d", ET_DATE }, { "r", ET_REPEAT }, { "id", ET_STRING },
};

static int type_of(void *ud, const char *name, enum expr_type *ret)
{
        (void)ud;
        if (!name) {
                *ret = ET_STRING;
                return 0;
        }
        for (size_t i = 0; i < sizeof form / sizeof form[0]; i++)
                if (strcmp(form[i].name, name) == 0) {
                        *ret = form[i].type;
                        return 0;
                }
        return -ENOENT;
}

static int value_of(void *ud, const char *name, struct expr_value *ret)
{
        bool filled = *(bool *)ud;
        enum expr_type t;

        memset(ret, 0, sizeof *ret);
        if (type_of(NULL, name, &t) < 0)
                return -ENOENT;
        if (!filled)
                return 0;
        switch (t) {
        case ET_NUMBER: ret->kind = EV_NUMBER; ret->num = 42.5; break;
        case ET_DATE: ret->kind = EV_DATE; ret->date = 20416; break;
        case ET_REPEAT: ret->kind = EV_REPEAT; ret->rows = 3; break;
        default:
                ret->kind = EV_STRING;
                ret->str = name && strcmp(name, "id") == 0 ? "11010519491231002X" : "a b 李";
                break;
        }
        return 0;
}

static void ref(void *ud, const char *name, size_t off)
{
        size_t len = *(size_t *)ud;
        if (!name[0] || off >= len)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *src = malloc(size + 1);
        struct expr_error err;
        expr *e = NULL;
        bool filled;
        struct expr_env env = { .userdata = &filled, .type_of = type_of, .value_of = value_of, .today = 20416 };
        struct expr_value v;
        size_t len;

        if (!src)
                return 0;
        memcpy(src, data, size);
        src[size] = '\0';
        len = strlen(src);
        if (expr_parse(src, &e, &err) == 0) {
                expr_foreach_ref(e, ref, &len);
                if (expr_check(e, &env, NULL, &err) < 0 && err.offset > len)
                        abort();
                for (int k = 0; k < 2; k++) {
                        filled = k;
                        if (expr_eval(e, &env, &v) != 0)
                                abort();
                }
                /* its plain words: any tree, small buffers; words are
                 * never empty, and never the expression's own text */
                char zh[64], en[64];
                if (expr_describe(e, &env, NULL, NULL, zh, sizeof zh, en, sizeof en) == 0 && (!zh[0] || !en[0]))
                        abort();
                expr_free(e);
        } else if (err.offset > len || !err.msg[0]) {
                abort();
        }
        free(src);
        return 0;
}
