/* A small test harness in the style of systemd's and libuv's.
 *
 * A test file defines cases with TEST(name) { ... }; the cases register
 * themselves at load time, and harness.c's main() runs all of them, or
 * only those named on the command line. A failing CHECK prints
 * FILE:LINE and the expression, marks the case failed and returns from
 * it. SKIP("why") marks it skipped. Exit status: 0 all passed, 1 some
 * failed, 77 all skipped (meson's "skip"). */
#ifndef DAIBAN_TESTS_HARNESS_H
#define DAIBAN_TESTS_HARNESS_H

#include <stdio.h>
#include <string.h>
#include <inttypes.h>

#ifdef _WIN32
/* system() returns the command's exit code on Windows */
#define WIFEXITED(status) ((status) != -1)
#define WEXITSTATUS(status) (status)
#endif

struct test_case {
        const char *name;
        void (*fn)(void);
        struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);

/* Path of the test data folder (tests/data), from DAIBAN_TEST_DATA or the
 * build-time default. */
const char *test_data_dir(void);
/* A fresh empty temporary directory, removed at exit. */
const char *test_tmpdir(void);

#define TEST(tname)                                                     \
        static void test_##tname(void);                                 \
        static struct test_case tc_##tname = { #tname, test_##tname, NULL }; \
        __attribute__((constructor)) static void reg_##tname(void)      \
        { test_register(&tc_##tname); }                                 \
        static void test_##tname(void)

#define CHECK(cond) do {                                                \
        if (!(cond)) { test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); return; } \
} while (0)

#define CHECK_INT(a, op, b) do {                                        \
        long long _a = (long long)(a), _b = (long long)(b);             \
        if (!(_a op _b)) {                                              \
                test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", \
                          #a, #op, #b, _a, _b);                         \
                return;                                                 \
        }                                                               \
} while (0)

#define CHECK_STR(a, b) do {                                            \
        const char *_a = (a), *_b = (b);                                \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                        \
                test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", \
                          #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
                return;                                                 \
        }                                                               \
} while (0)

#define SKIP(why) do { test_skip(why); return; } while (0)

#endif
