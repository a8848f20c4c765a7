/* The harness's runner: see harness.h. One process runs the cases in
 * registration order, each isolated only by discipline (no shared state
 * between cases), which keeps the binaries simple under the sanitizers. */
#include "tests/harness.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static struct test_case *cases, **cases_tail = &cases;
static int cur_failed, cur_skipped;
static char *tmp_root;

void test_register(struct test_case *tc)
{
        *cases_tail = tc;
        cases_tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cur_failed = 1;
}

void test_skip(const char *why)
{
        fprintf(stderr, "skip: %s\n", why);
        cur_skipped = 1;
}

const char *test_data_dir(void)
{
        const char *d = getenv("DAIBAN_TEST_DATA");
#ifdef TEST_DATA_DIR
        if (!d)
                d = TEST_DATA_DIR;
#endif
        return d ? d : "tests/data";
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb; (void)flag; (void)ftw;
        remove(path);
        return 0;
}

static void tmp_cleanup(void)
{
        if (tmp_root && !getenv("DAIBAN_TEST_KEEP"))
                nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
        static unsigned n;
        static char path[512];

        if (!tmp_root) {
                char tmpl[] = "/tmp/daiban-test-XXXXXX";
                if (!mkdtemp(tmpl)) {
                        perror("mkdtemp");
                        exit(2);
                }
                tmp_root = strdup(tmpl);
                atexit(tmp_cleanup);
        }
        snprintf(path, sizeof path, "%s/%u", tmp_root, n++);
        if (mkdir(path, 0700) < 0) {
                perror("mkdir");
                exit(2);
        }
        return path;
}

int main(int argc, char **argv)
{
        int passed = 0, failed = 0, skipped = 0;

        for (struct test_case *tc = cases; tc; tc = tc->next) {
                bool wanted = argc < 2;
                for (int i = 1; i < argc && !wanted; i++)
                        wanted = strcmp(argv[i], tc->name) == 0;
                if (!wanted)
                        continue;
                cur_failed = cur_skipped = 0;
                tc->fn();
                if (cur_failed) {
                        printf("FAIL %s\n", tc->name);
                        failed++;
                } else if (cur_skipped) {
                        printf("skip %s\n", tc->name);
                        skipped++;
                } else {
                        printf("ok   %s\n", tc->name);
                        passed++;
                }
                fflush(stdout);
        }
        printf("# %d passed, %d failed, %d skipped\n", passed, failed, skipped);
        if (passed + failed + skipped == 0) {
                fprintf(stderr, "no test matched\n");
                return 2;
        }
        if (failed)
                return 1;
        return passed == 0 ? 77 : 0;
}
