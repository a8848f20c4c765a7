/* Tests of forms/csv.c: what Excel and WPS really write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "forms/csv.h"
#include "tests/harness.h"

static csv *parse(const char *s)
{
        struct csv_error err;
        csv *c = NULL;

        if (csv_decode(s, strlen(s), &c, &err) < 0) {
                fprintf(stderr, "parse failed: %d:%d: %s\n", err.line, err.col, err.msg);
                return NULL;
        }
        return c;
}

TEST(plain_and_crlf)
{
        csv *c = parse("a,b,c\r\n1,2,3\r\n");
        CHECK(c);
        CHECK_INT(csv_nrows(c), ==, 2);
        CHECK_INT(csv_row(c, 1)->ncells, ==, 3);
        CHECK_STR(csv_row(c, 1)->cells[2].text, "3");
        CHECK_INT(csv_row(c, 1)->line, ==, 2);
        csv_free(c);
}

TEST(bom_is_skipped)
{
        csv *c = parse("\xef\xbb\xbf" "code,name\nX,Y\n");
        CHECK(c);
        CHECK_STR(csv_row(c, 0)->cells[0].text, "code");
        CHECK_INT(csv_row(c, 0)->cells[0].col, ==, 1);
        CHECK(!csv_was_converted(c));
        csv_free(c);
}

TEST(quoted_commas_newlines_and_quotes)
{
        csv *c = parse("k,v\nA,\"one, two\"\nB,\"line1\r\nline2\"\nC,\"say \"\"hi\"\"\"\nD,after\n");
        CHECK(c);
        CHECK_INT(csv_nrows(c), ==, 5);
        CHECK_STR(csv_row(c, 1)->cells[1].text, "one, two");
        CHECK_STR(csv_row(c, 2)->cells[1].text, "line1\nline2");
        CHECK_STR(csv_row(c, 3)->cells[1].text, "say \"hi\"");
        /* the row after a two-line cell starts on line 5 */
        CHECK_INT(csv_row(c, 3)->line, ==, 5);
        CHECK_INT(csv_row(c, 4)->line, ==, 6);
        csv_free(c);
}

TEST(trailing_empty_columns_and_blank_rows_dropped)
{
        csv *c = parse("a,b,,,\n1,2,,,\n,,,,\n\n3,,\n");
        CHECK(c);
        CHECK_INT(csv_nrows(c), ==, 3);
        CHECK_INT(csv_row(c, 0)->ncells, ==, 2);
        CHECK_INT(csv_row(c, 1)->ncells, ==, 2);
        CHECK_INT(csv_row(c, 2)->ncells, ==, 1);
        CHECK_INT(csv_row(c, 2)->line, ==, 5);
        csv_free(c);
}

TEST(columns_count_characters_not_bytes)
{
        csv *c = parse("名称,代码,x\n");
        CHECK(c);
        CHECK_INT(csv_row(c, 0)->cells[1].col, ==, 4);
        CHECK_INT(csv_row(c, 0)->cells[2].col, ==, 7);
        csv_free(c);
        c = parse("a,\"b\",c\n");
        CHECK(c);
        CHECK_INT(csv_row(c, 0)->cells[1].col, ==, 4);   /* after the quote */
        csv_free(c);
}

TEST(no_final_newline)
{
        csv *c = parse("a,b\n1,2");
        CHECK(c);
        CHECK_INT(csv_nrows(c), ==, 2);
        CHECK_STR(csv_row(c, 1)->cells[1].text, "2");
        csv_free(c);
}

TEST(unterminated_quote_is_an_error_at_the_quote)
{
        struct csv_error err;
        csv *c = NULL;
        const char *s = "a,b\nx,\"never closed\n";

        CHECK_INT(csv_decode(s, strlen(s), &c, &err), ==, -EINVAL);
        CHECK(c == NULL);
        CHECK_INT(err.line, ==, 2);
        CHECK_INT(err.col, ==, 3);
        CHECK(strstr(err.msg, "never closed"));
}

TEST(text_after_closing_quote_is_an_error)
{
        struct csv_error err;
        csv *c = NULL;
        const char *s = "\"ab\"cd,e\n";

        CHECK_INT(csv_decode(s, strlen(s), &c, &err), ==, -EINVAL);
        CHECK_INT(err.line, ==, 1);
        CHECK_INT(err.col, ==, 5);
}

TEST(gb18030_is_converted)
{
        /* "代码,名称\n1,中文\n" in GBK */
        const char gbk[] = "\xb4\xfa\xc2\xeb,\xc3\xfb\xb3\xc6\n1,\xd6\xd0\xce\xc4\n";
        struct csv_error err;
        csv *c = NULL;

        CHECK_INT(csv_decode(gbk, sizeof gbk - 1, &c, &err), ==, 0);
        CHECK(csv_was_converted(c));
        CHECK_STR(csv_row(c, 0)->cells[0].text, "代码");
        CHECK_STR(csv_row(c, 1)->cells[1].text, "中文");
        csv_free(c);
}

TEST(binary_garbage_is_refused)
{
        const char bad[] = "a,b\n\xff\xfe\xff\x00\x01,\x80\x80\n";
        struct csv_error err;
        csv *c = NULL;

        CHECK_INT(csv_decode(bad, sizeof bad - 1, &c, &err), ==, -EINVAL);
        CHECK(strstr(err.msg, "CSV UTF-8"));
}

TEST(nul_bytes_and_utf16_are_refused_with_advice)
{
        /* a cell with a NUL would be cut short if read as a C string */
        const char nul[] = "a,b\n1,x\0y\n";
        const char utf16[] = "\xff\xfe" "a\0,\0b\0\n\0";
        struct csv_error err;
        csv *c = NULL;

        CHECK_INT(csv_decode(nul, sizeof nul - 1, &c, &err), ==, -EINVAL);
        CHECK(c == NULL);
        CHECK(strstr(err.msg, "NUL bytes"));
        CHECK(strstr(err.msg, "CSV UTF-8"));
        CHECK_INT(csv_decode(utf16, sizeof utf16 - 1, &c, &err), ==, -EINVAL);
        CHECK(strstr(err.msg, "UTF-16"));
        CHECK(strstr(err.msg, "CSV UTF-8"));
}

TEST(cell_size_limit)
{
        size_t n = CSV_MAX_CELL + 10;
        char *s = malloc(n + 1);
        struct csv_error err;
        csv *c = NULL;

        CHECK(s);
        memset(s, 'x', n);
        s[n] = '\0';
        CHECK_INT(csv_decode(s, n, &c, &err), ==, -EINVAL);
        CHECK(strstr(err.msg, "longer than"));
        free(s);
}

TEST(row_limit)
{
        /* CSV_MAX_ROWS records are read (the header is one of them, as in
         * the spreadsheet's row numbers); one more is refused at its line.
         * Blank rows do not count. */
        size_t n = (size_t)CSV_MAX_ROWS + 1;
        char *s = malloc(n * 3 + 8), *o = s;
        struct csv_error err;
        csv *c = NULL;

        CHECK(s);
        o += sprintf(o, "\n\n");
        for (size_t i = 0; i < (size_t)CSV_MAX_ROWS; i++) {
                *o++ = 'x';
                *o++ = '\n';
        }
        *o = '\0';
        CHECK_INT(csv_decode(s, (size_t)(o - s), &c, &err), ==, 0);
        CHECK_INT(csv_nrows(c), ==, CSV_MAX_ROWS);
        csv_free(c);
        c = NULL;
        o += sprintf(o, "y\n");
        CHECK_INT(csv_decode(s, (size_t)(o - s), &c, &err), ==, -EINVAL);
        CHECK(c == NULL);
        CHECK(strstr(err.msg, "more than"));
        CHECK_INT(err.line, ==, CSV_MAX_ROWS + 3);
        free(s);
}

TEST(column_limit)
{
        char *s = malloc((size_t)CSV_MAX_COLS * 2 + 8);
        struct csv_error err;
        csv *c = NULL;
        size_t n = 0;

        CHECK(s);
        for (int i = 0; i < CSV_MAX_COLS; i++)
                n += (size_t)sprintf(s + n, i ? ",x" : "x");
        s[n++] = '\n';
        s[n] = '\0';
        CHECK_INT(csv_decode(s, n, &c, &err), ==, 0);
        CHECK_INT(csv_row(c, 0)->ncells, ==, CSV_MAX_COLS);
        csv_free(c);
        c = NULL;
        n--;
        n += (size_t)sprintf(s + n, ",x\n");
        CHECK_INT(csv_decode(s, n, &c, &err), ==, -EINVAL);
        CHECK(strstr(err.msg, "columns"));
        CHECK_INT(err.line, ==, 1);
        free(s);
}

TEST(utf8_validation)
{
        CHECK(utf8_valid("abc", 3));
        CHECK(utf8_valid("中文", 6));
        CHECK(!utf8_valid("\xc0\xaf", 2));          /* overlong '/' */
        CHECK(!utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
        CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));  /* above U+10FFFF */
        CHECK(!utf8_valid("\xe4\xb8", 2));          /* truncated */
        CHECK_INT(utf8_length("a中b", 5), ==, 3);
}

TEST(real_sheet_loads)
{
        char path[4096];
        struct csv_error err;
        csv *c = NULL;

        snprintf(path, sizeof path, "%s/catalog-sample/fields.csv", test_data_dir());
        CHECK_INT(csv_load_file(path, &c, &err), ==, 0);
        CHECK_INT(csv_nrows(c), ==, 88);
        /* the quoted relevant expression of CL-CJZ-001.guardian_name */
        const struct csv_row *r = csv_row(c, 16);   /* line 17 */
        CHECK_STR(r->cells[1].text, "guardian_name");
        CHECK(strstr(r->cells[8].text, "selected(${disability_type}, 'intellectual')") == r->cells[8].text);
        csv_free(c);
}

#ifdef _WIN32
#include <windows.h>
#include <wchar.h>
/* the test makes its folder and file through the wide API, as a Windows
 * person's Explorer would; csv_load_file gets the same name in UTF-8 */
static int write_named(const char *dir, const char *file, const char *data)
{
        wchar_t wd[512], wf[512];
        char path[1024];
        FILE *f;

        snprintf(path, sizeof path, "%s\\%s", dir, file);
        if (!MultiByteToWideChar(CP_UTF8, 0, dir, -1, wd, 512) ||
            !MultiByteToWideChar(CP_UTF8, 0, path, -1, wf, 512))
                return -1;
        if (!CreateDirectoryW(wd, NULL) || !(f = _wfopen(wf, L"wb")))
                return -1;
        fputs(data, f);
        return fclose(f);
}
#else
#include <sys/stat.h>
static int write_named(const char *dir, const char *file, const char *data)
{
        char path[1024];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (mkdir(dir, 0700) < 0 || !(f = fopen(path, "wb")))
                return -1;
        fputs(data, f);
        return fclose(f);
}
#endif

TEST(chinese_path_loads)
{
        char dir[1024], path[1200];
        struct csv_error err;
        csv *c = NULL;

        /* a county's folder and sheet named in Chinese, as admins name
         * them; CRLF as Excel writes it */
        snprintf(dir, sizeof dir, "%s/象山县目录", test_tmpdir());
        CHECK_INT(write_named(dir, "事项.csv", "代码,名称\r\n1,\"两行\r\n文字\"\r\n"), ==, 0);
        snprintf(path, sizeof path, "%s/事项.csv", dir);
        CHECK_INT(csv_load_file(path, &c, &err), ==, 0);
        if (!c)
                return;
        CHECK_INT(csv_nrows(c), ==, 2);
        CHECK_STR(csv_row(c, 1)->cells[1].text, "两行\n文字");
        csv_free(c);
}
