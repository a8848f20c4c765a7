/* The harness's runner: see harness.h. One process runs the cases in
 * registration order, each isolated only by discipline (no shared state
 * between cases), which keeps the binaries simple under the sanitizers. */
#include "tests/harness.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef _WIN32
#include <dirent.h>
#include <windows.h>
#else
#include <ftw.h>
#endif

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

#ifdef _WIN32
/* Windows has no nftw or mkdtemp: the tree is walked with mingw's dirent */
static void rm_tree(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;
        char sub[1024];
        struct stat st;

        if (!d) {
                remove(path);
                return;
        }
        while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                        rm_tree(sub);
                else
                        remove(sub);
        }
        closedir(d);
        rmdir(path);
}

static void tmp_cleanup(void)
{
        if (tmp_root && !getenv("DAIBAN_TEST_KEEP"))
                rm_tree(tmp_root);
}

static char *make_tmp_root(void)
{
        char base[MAX_PATH], path[MAX_PATH + 64];

        if (!GetTempPathA(sizeof base, base))
                return NULL;
        for (unsigned i = 0; i < 100; i++) {
                snprintf(path, sizeof path, "%sdaiban-test-%lu-%u", base,
                         (unsigned long)GetCurrentProcessId(), i);
                if (mkdir(path) == 0)
                        return strdup(path);
        }
        return NULL;
}
#define mkdir(p, mode) mkdir(p)
#else
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

static char *make_tmp_root(void)
{
        char tmpl[] = "/tmp/daiban-test-XXXXXX";

        return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}
#endif

const char *test_tmpdir(void)
{
        static unsigned n;
        static char path[512];

        if (!tmp_root) {
                if (!(tmp_root = make_tmp_root())) {
                        perror("a temporary directory");
                        exit(2);
                }
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
