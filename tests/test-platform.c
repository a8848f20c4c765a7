/* Tests of sync/platform.c: the POSIX calls sync/ makes behave the same
 * on Linux (libc) and on Windows (libuv and Win32, under Wine): UTF-8
 * names, a rename that replaces, an exclusive lock that excludes, a
 * durable sync of a file and of a folder; and the libc calls mingw lacks
 * (memmem, strcasestr, mkdtemp, link, open_memstream), a volume's root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/platform.h"
#include "tests/harness.h"

static int write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "wb");

        if (!f)
                return -1;
        fputs(text, f);
        return fclose(f);
}

TEST(chinese_names_are_made_listed_and_removed)
{
        char dir[1024], path[1200];
        struct dirent *e;
        struct stat sb;
        DIR *d;
        int seen = 0;

        snprintf(dir, sizeof dir, "%s/象山县", test_tmpdir());
        CHECK_INT(mkdir(dir, 0755), ==, 0);
        CHECK(mkdir(dir, 0755) < 0 && errno == EEXIST);
        snprintf(path, sizeof path, "%s/石浦镇.bundle", dir);
        CHECK_INT(write_text(path, "水产"), ==, 0);
        CHECK_INT(access(path, F_OK), ==, 0);
        CHECK_INT(stat(path, &sb), ==, 0);
        CHECK_INT((long)sb.st_size, ==, (long)strlen("水产"));
        CHECK(!S_ISDIR(sb.st_mode));
        CHECK_INT(lstat(dir, &sb), ==, 0);
        CHECK(S_ISDIR(sb.st_mode));
        CHECK((d = opendir(dir)));
        while ((e = readdir(d)))
                if (strcmp(e->d_name, "石浦镇.bundle") == 0)
                        seen++;
        closedir(d);
        CHECK_INT(seen, ==, 1);
        CHECK_INT(rmdir(dir), <, 0);    /* not empty */
        CHECK_INT(unlink(path), ==, 0);
        CHECK(unlink(path) < 0 && errno == ENOENT);
        CHECK(access(path, F_OK) < 0);
        CHECK_INT(rmdir(dir), ==, 0);
        CHECK(!opendir(dir) && errno == ENOENT);
}

TEST(a_rename_replaces_the_target)
{
        const char *dir = test_tmpdir();
        char from[1024], to[1024], text[8] = "";
        FILE *f;

        snprintf(from, sizeof from, "%s/村民.tmp", dir);
        snprintf(to, sizeof to, "%s/村民", dir);
        CHECK_INT(write_text(to, "old"), ==, 0);
        CHECK_INT(write_text(from, "new"), ==, 0);
        CHECK_INT(rename(from, to), ==, 0);
        CHECK((f = fopen(to, "rb")));
        CHECK(fgets(text, sizeof text, f));
        fclose(f);
        CHECK_STR(text, "new");
        CHECK(access(from, F_OK) < 0);
        CHECK(rename(from, to) < 0 && errno == ENOENT);
}

TEST(an_exclusive_lock_excludes_until_closed)
{
        char path[1024];
        int a, b, c;

        snprintf(path, sizeof path, "%s/daiban-pack.flock", test_tmpdir());
        CHECK((a = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0);
        CHECK((b = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0);
        CHECK((c = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0);
        CHECK_INT(flock(a, LOCK_EX | LOCK_NB), ==, 0);
        CHECK(flock(b, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
        CHECK_INT(close(a), ==, 0);
        CHECK_INT(flock(b, LOCK_SH), ==, 0);
        CHECK_INT(flock(c, LOCK_SH), ==, 0);  /* shared with shared */
        CHECK_INT(close(c), ==, 0);
        CHECK_INT(close(b), ==, 0);
        CHECK_INT(unlink(path), ==, 0);
}

TEST(a_file_and_a_folder_sync)
{
        const char *dir = test_tmpdir();
        char path[1024];
        struct stat sb;
        FILE *f;

        snprintf(path, sizeof path, "%s/备份.tar.gz", dir);
        CHECK((f = fopen(path, "wb")));
        CHECK_INT(fputs("x", f) >= 0, ==, 1);
        CHECK_INT(fflush(f), ==, 0);
        CHECK_INT(fsync(fileno(f)), ==, 0);
        CHECK_INT(fclose(f), ==, 0);
        CHECK_INT(platform_sync_path(path, false), ==, 0);
        CHECK_INT(platform_sync_path(dir, true), ==, 0);
        /* read-only, as libgit2 leaves a pack: still synced, still
         * read-only (an ASCII name: chmod is not mapped) */
        snprintf(path, sizeof path, "%s/pack-1.pack", dir);
        CHECK_INT(write_text(path, "PACK"), ==, 0);
        CHECK_INT(chmod(path, 0444), ==, 0);
        CHECK_INT(platform_sync_path(path, false), ==, 0);
        CHECK_INT(stat(path, &sb), ==, 0);
        CHECK_INT(sb.st_mode & 0222, ==, 0);
        chmod(path, 0644);      /* for the clean-up */
        snprintf(path, sizeof path, "%s/missing", dir);
        CHECK_INT(platform_sync_path(path, false), ==, -ENOENT);
}

TEST(string_searches)
{
        const char hay[] = "ab\0..cd";

        CHECK(memmem(hay, sizeof hay - 1, "..", 2) == hay + 3);
        CHECK(memmem(hay, sizeof hay - 1, "cd", 2) == hay + 5);
        CHECK(memmem(hay, sizeof hay - 1, "dx", 2) == NULL);
        CHECK(memmem(hay, 1, "ab", 2) == NULL);
        CHECK(strcasestr("/a/%2E%2e/b", "%2e") != NULL);
        CHECK(strcmp(strcasestr("x%2Fy", "%2f"), "%2Fy") == 0);
        CHECK(strcasestr("abc", "abd") == NULL);
}

TEST(a_temporary_folder_and_a_second_name)
{
        char tmpl[1024], a[1100], b[1100], text[8] = "";
        FILE *f;

        snprintf(tmpl, sizeof tmpl, "%s/目录-XXXXXX", test_tmpdir());
        CHECK(mkdtemp(tmpl) == tmpl);
        CHECK(strstr(tmpl, "XXXXXX") == NULL);
        snprintf(a, sizeof a, "%s/甲.key", tmpl);
        snprintf(b, sizeof b, "%s/乙.key", tmpl);
        CHECK_INT(write_text(a, "key"), ==, 0);
        CHECK_INT(link(a, b), ==, 0);
        CHECK(link(a, b) < 0 && errno == EEXIST);
        CHECK_INT(unlink(a), ==, 0);
        CHECK((f = fopen(b, "rb")));
        CHECK(fgets(text, sizeof text, f) != NULL);
        fclose(f);
        CHECK_STR(text, "key");
}

TEST(a_memory_stream_holds_what_was_written)
{
        char *buf = NULL;
        size_t len = 1;
        FILE *f = open_memstream(&buf, &len);

        CHECK(f);
        for (int i = 0; i < 1000; i++)
                fprintf(f, "受理回执 %d\n", i);
        CHECK_INT(fclose(f), ==, 0);
        CHECK(buf != NULL);
        CHECK_INT((long)len, ==, (long)strlen(buf));
        CHECK(strncmp(buf, "受理回执 0\n受理回执 1\n", strlen("受理回执 0\n受理回执 1\n")) == 0);
        CHECK(strstr(buf, "受理回执 999\n") == buf + len - strlen("受理回执 999\n"));
        free(buf);
}

TEST(a_folder_is_not_a_volumes_root)
{
        CHECK(!platform_volume_root(test_tmpdir()));
        CHECK(!platform_volume_root("/no/such/folder"));
#ifdef _WIN32
        CHECK(platform_volume_root("C:\\"));
        CHECK(platform_volume_root("C:/"));
#else
        CHECK(platform_volume_root("/proc"));   /* a mount of its own */
#endif
}
