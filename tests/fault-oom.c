/* Fault test: out of memory at every point of loading a catalogue and of
 * validating an application.
 *
 * The test replaces malloc, calloc and realloc (glibc lets a program do
 * that, and routes its own internal allocations, iconv's, regcomp's and
 * jansson's included, through them) with versions that fail the Nth call.
 * For every N until the operation no longer needs to fail, it must
 * return -ENOMEM (never crash, never report success with a half-built
 * catalogue) and free everything it allocated: the bytes live after the
 * call (counted by the wrappers, free included) must equal those before. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>

#include "forms/catalog.h"
#include "forms/validate.h"
#include "tests/harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long countdown = -1;     /* fail when it reaches 0; -1: never */
static long calls;
static long long live;          /* bytes handed out and not yet freed */

static bool fail_now(void)
{
        calls++;
        if (countdown < 0)
                return false;
        return countdown-- == 0;
}

void *malloc(size_t n)
{
        if (fail_now()) {
                errno = ENOMEM;
                return NULL;
        }
        void *p = __libc_malloc(n);
        if (p)
                live += (long long)malloc_usable_size(p);
        return p;
}

void *calloc(size_t n, size_t size)
{
        if (fail_now()) {
                errno = ENOMEM;
                return NULL;
        }
        void *p = __libc_calloc(n, size);
        if (p)
                live += (long long)malloc_usable_size(p);
        return p;
}

void *realloc(void *p, size_t n)
{
        if (fail_now()) {
                errno = ENOMEM;
                return NULL;
        }
        size_t old = p ? malloc_usable_size(p) : 0;
        void *q = __libc_realloc(p, n);
        if (q || n == 0)
                live -= (long long)old;
        if (q)
                live += (long long)malloc_usable_size(q);
        return q;
}

void free(void *p)
{
        if (p)
                live -= (long long)malloc_usable_size(p);
        __libc_free(p);
}

static long long in_use(void)
{
        return live;
}

static char dir[4096];

static int load_once(long fail_at)
{
        catalog *cat = NULL;
        int r;

        countdown = fail_at;
        r = catalog_load(dir, &cat);
        countdown = -1;
        if (r == 0) {
                if (catalog_nerrors(cat) != 0) {
                        /* an allocation failure must never look like a
                         * problem in the admin's sheets */
                        const struct cat_diag *d = catalog_diag(cat, 0);
                        fprintf(stderr, "# reported instead: %s:%d:%d: %s\n", d->file, d->line, d->col, d->msg_en);
                        catalog_free(cat);
                        return -EBADMSG;
                }
                catalog_free(cat);
        }
        return r;
}

TEST(catalog_load_survives_every_allocation_failure)
{
        long total, step, runs = 0;

        snprintf(dir, sizeof dir, "%s/catalog-sample", test_data_dir());
        CHECK_INT(load_once(-1), ==, 0);        /* warm up iconv's caches */
        calls = 0;
        CHECK_INT(load_once(-1), ==, 0);
        total = calls;
        CHECK(total > 100);
        /* every failure point up to 3000, then a stride: about 4000 loads
         * (OOM_AT=N tries point N only, to debug it) */
        long first = getenv("OOM_AT") ? atol(getenv("OOM_AT")) : 0;
        for (long n = first; n < total; n += step) {
                long long before = in_use();
                int r = load_once(n);
                if (r != -ENOMEM) {
                        test_fail(__FILE__, __LINE__, "failing allocation %ld of %ld: got %d, want -ENOMEM",
                                  n, total, r);
                        return;
                }
                if (in_use() != before) {
                        test_fail(__FILE__, __LINE__, "failing allocation %ld of %ld leaked %lld bytes", n,
                                  total, in_use() - before);
                        return;
                }
                runs++;
                step = n < 3000 ? 1 : total / 1000 + 1;
        }
        printf("# %ld allocations per load, %ld failure points tried\n", total, runs);
}

TEST(validate_survives_every_allocation_failure)
{
        catalog *cat = NULL;
        json_t *data;
        json_error_t jerr;
        char path[4096];
        int32_t today;
        long total;

        snprintf(dir, sizeof dir, "%s/catalog-sample", test_data_dir());
        CHECK_INT(catalog_load(dir, &cat), ==, 0);
        snprintf(path, sizeof path, "%s/apps/MZ-DB-001-broken.json", test_data_dir());
        data = json_load_file(path, 0, &jerr);
        CHECK(data);
        cal_date_parse("2026-11-24", &today);
        const struct cat_form *form = catalog_find_form(cat, "MZ-DB-001");
        CHECK(form);

        struct form_problems p;
        form_problems_init(&p);
        calls = 0;
        CHECK_INT(form_validate(form, data, today, &p, NULL), ==, 0);
        total = calls;
        size_t nproblems = p.n;
        CHECK(nproblems > 5);
        form_problems_finish(&p);

        for (long n = 0; n < total; n++) {
                long long before = in_use();
                form_problems_init(&p);
                countdown = n;
                int r = form_validate(form, data, today, &p, NULL);
                countdown = -1;
                /* either the whole list, or -ENOMEM: never a short list */
                if (!(r == -ENOMEM || (r == 0 && p.n == nproblems))) {
                        test_fail(__FILE__, __LINE__, "failing allocation %ld of %ld: r=%d, %zu problems", n,
                                  total, r, p.n);
                        return;
                }
                form_problems_finish(&p);
                if (in_use() != before) {
                        test_fail(__FILE__, __LINE__, "failing allocation %ld leaked", n);
                        return;
                }
        }
        json_decref(data);
        catalog_free(cat);
}
#else
TEST(skipped_under_asan)
{
        SKIP("allocation failure injection replaces malloc, which AddressSanitizer owns");
}
#endif
