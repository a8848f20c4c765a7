/* Tests of forms/ftype.c: the exact checks of each field type, with
 * published examples of GB 11643 and GB 32100 and exhaustive single-error
 * detection (a mod-11 or mod-31 check must catch every one-character
 * substitution, or the agent would register a mistyped ID). */
#include <errno.h>
#include <stdlib.h>

#include "forms/calendar.h"
#include "forms/ftype.h"
#include "tests/harness.h"

static int32_t today(void)
{
        int32_t d;
        cal_date_parse("2026-11-24", &d);
        return d;
}

static const char *code(enum ftype t, const char *v)
{
        const struct ftype_issue *is = ftype_check(t, v, today());
        return is ? is->code : "ok";
}

TEST(type_names_round_trip)
{
        for (int i = 0; i < FT__COUNT; i++) {
                enum ftype t;
                CHECK_INT(ftype_from_name(ftype_name((enum ftype)i), &t), ==, 0);
                CHECK_INT(t, ==, i);
        }
        enum ftype t = FT_TEXT;
        CHECK_INT(ftype_from_name("telephone", &t), ==, -EINVAL);
        CHECK_INT(ftype_from_name("Text", &t), ==, -EINVAL);
        CHECK_INT(ftype_from_name("", &t), ==, -EINVAL);
}

TEST(id_number_published_examples)
{
        /* GB 11643-1999's own examples */
        CHECK_STR(code(FT_ID_NUMBER, "11010519491231002X"), "ok");
        CHECK_STR(code(FT_ID_NUMBER, "11010519491231002x"), "ok");
        CHECK_STR(code(FT_ID_NUMBER, "440524188001010014"), "id_number_birth");  /* born 1880 */
        char c;
        CHECK_INT(idnum_check_char("44052418800101001", &c), ==, 0);
        CHECK_INT(c, ==, '4');
        CHECK_INT(idnum_check_char("11010519491231002", &c), ==, 0);
        CHECK_INT(c, ==, 'X');
        CHECK_INT(idnum_check_char("1101051949123100A", &c), ==, -EINVAL);

        int32_t birth;
        CHECK_INT(idnum_birth("11010519491231002X", &birth), ==, 0);
        char buf[11];
        cal_date_format(birth, buf);
        CHECK_STR(buf, "1949-12-31");
        char g;
        CHECK_INT(idnum_gender("11010519491231002X", &g), ==, 0);
        CHECK_INT(g, ==, 'F');          /* 17th digit 2 */
        CHECK_INT(idnum_gender("11010519491231001X", &g), ==, -EINVAL);
        CHECK_INT(idnum_birth("110105194912310021", &birth), ==, -EINVAL);
}

static void make_id(char *out, const char *first17)
{
        memcpy(out, first17, 17);
        idnum_check_char(first17, &out[17]);
        out[18] = '\0';
}

TEST(id_number_every_single_substitution_is_caught)
{
        char id[19], bad[19];
        make_id(id, "33022519650720131");
        CHECK_STR(code(FT_ID_NUMBER, id), "ok");
        char g;
        CHECK_INT(idnum_gender(id, &g), ==, 0);
        CHECK_INT(g, ==, 'M');
        for (int i = 0; i < 18; i++) {
                const char *alphabet = i == 17 ? "0123456789X" : "0123456789";
                for (const char *a = alphabet; *a; a++) {
                        if (*a == id[i])
                                continue;
                        memcpy(bad, id, 19);
                        bad[i] = *a;
                        const char *got = code(FT_ID_NUMBER, bad);
                        if (strcmp(got, "ok") == 0) {
                                test_fail(__FILE__, __LINE__, "accepted %s (from %s)", bad, id);
                                return;
                        }
                        if (i < 6 || i >= 14)
                                CHECK(strcmp(got, "id_number_check") == 0 || (i == 0 && *a == '0'));
                }
        }
        /* adjacent transpositions are caught too */
        for (int i = 0; i < 17; i++) {
                memcpy(bad, id, 19);
                if (bad[i] == bad[i + 1])
                        continue;
                char t = bad[i];
                bad[i] = bad[i + 1];
                bad[i + 1] = t;
                CHECK(strcmp(code(FT_ID_NUMBER, bad), "ok") != 0);
        }
}

TEST(id_number_format_and_birth)
{
        char id[19];
        CHECK_STR(code(FT_ID_NUMBER, ""), "id_number_format");
        CHECK_STR(code(FT_ID_NUMBER, "33022519650720131"), "id_number_format");
        CHECK_STR(code(FT_ID_NUMBER, "3302251965072013100"), "id_number_format");
        CHECK_STR(code(FT_ID_NUMBER, "33022519650720131A"), "id_number_format");
        CHECK_STR(code(FT_ID_NUMBER, "3302251965072O1314"), "id_number_format");
        CHECK_STR(code(FT_ID_NUMBER, "330225650720131"), "id_number_format");   /* old 15-digit */
        make_id(id, "03022519650720131");
        CHECK_STR(code(FT_ID_NUMBER, id), "id_number_format");
        make_id(id, "33022519650231131");       /* 31 February */
        CHECK_STR(code(FT_ID_NUMBER, id), "id_number_birth");
        make_id(id, "33022518991231131");       /* before 1900 */
        CHECK_STR(code(FT_ID_NUMBER, id), "id_number_birth");
        make_id(id, "33022520261124131");       /* born today: fine */
        CHECK_STR(code(FT_ID_NUMBER, id), "ok");
        make_id(id, "33022520261125131");       /* born tomorrow */
        CHECK_STR(code(FT_ID_NUMBER, id), "id_number_birth");
        make_id(id, "33022520000229131");       /* leap day */
        CHECK_STR(code(FT_ID_NUMBER, id), "ok");
        make_id(id, "33022519000229131");       /* 1900 was not a leap year */
        CHECK_STR(code(FT_ID_NUMBER, id), "id_number_birth");
}

TEST(uscc)
{
        char c, u[19], bad[19];
        const char *alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";

        CHECK_STR(code(FT_USCC, "91350100M000100Y43"), "ok");
        CHECK_INT(uscc_check_char("91350100M000100Y4", &c), ==, 0);
        CHECK_INT(c, ==, '3');
        CHECK_STR(code(FT_USCC, "91350100M000100Y44"), "uscc_check");
        CHECK_STR(code(FT_USCC, "91350100m000100Y43"), "uscc_format");   /* lower case */
        CHECK_STR(code(FT_USCC, "91350100I000100Y43"), "uscc_format");   /* I is not used */
        CHECK_STR(code(FT_USCC, "913501O0M000100Y43"), "uscc_format");   /* area code is digits */
        CHECK_STR(code(FT_USCC, "91350100M000100Y4"), "uscc_format");
        CHECK_STR(code(FT_USCC, ""), "uscc_format");
        CHECK_INT(uscc_check_char("91350100M000100YZ", &c), ==, -EINVAL);

        /* every single substitution over the alphabet is caught */
        memcpy(u, "91350100M000100Y43", 19);
        for (int i = 0; i < 18; i++)
                for (const char *a = alphabet; *a; a++) {
                        if (*a == u[i])
                                continue;
                        memcpy(bad, u, 19);
                        bad[i] = *a;
                        if (strcmp(code(FT_USCC, bad), "ok") == 0) {
                                test_fail(__FILE__, __LINE__, "accepted %s", bad);
                                return;
                        }
                }
        /* the check character of every prefix is in the alphabet and is
         * the unique one that satisfies the sum */
        srand(42);
        for (int n = 0; n < 2000; n++) {
                char p[19];
                for (int i = 0; i < 17; i++)
                        p[i] = (i >= 2 && i < 8) ? (char)('0' + rand() % 10) : alphabet[rand() % 31];
                p[18] = '\0';
                int hits = 0;
                for (const char *a = alphabet; *a; a++) {
                        p[17] = *a;
                        hits += strcmp(code(FT_USCC, p), "ok") == 0;
                }
                CHECK_INT(hits, ==, 1);
                CHECK_INT(uscc_check_char(p, &c), ==, 0);
                p[17] = c;
                CHECK_STR(code(FT_USCC, p), "ok");
        }
}

TEST(phones)
{
        static const char *good[] = {
                "13857412345", "19912345678", "010-62345678", "01062345678", "021-87654321",
                "0574-87654321", "0574-8765432", "05748765432", "057487654321", "0574-87654321-123",
                "010-22345678-1",
        };
        static const char *bad[] = {
                "", "12345", "12857412345", "1385741234", "138574123456", "1385741234a", "+8613857412345",
                "0574-0765432", "0574-1765432", "0574-876543", "0574-876543210", "010-1234567",
                "010-2345678", "011-22345678", "0574--8765432", "0574-87654321-", "0574-87654321-1234567",
                "574-87654321", "0074-87654321", "138 5741 2345", "０５７４-87654321",
        };
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
                if (strcmp(code(FT_PHONE, good[i]), "ok") != 0) {
                        test_fail(__FILE__, __LINE__, "refused %s", good[i]);
                        return;
                }
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (strcmp(code(FT_PHONE, bad[i]), "phone") != 0) {
                        test_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
                        return;
                }
}

TEST(numbers)
{
        CHECK_STR(code(FT_INTEGER, "0"), "ok");
        CHECK_STR(code(FT_INTEGER, "-12"), "ok");
        CHECK_STR(code(FT_INTEGER, "+12"), "ok");
        CHECK_STR(code(FT_INTEGER, "9223372036854775807"), "ok");
        CHECK_STR(code(FT_INTEGER, "-9223372036854775808"), "ok");
        CHECK_STR(code(FT_INTEGER, "0009223372036854775807"), "ok");
        CHECK_STR(code(FT_INTEGER, "9223372036854775808"), "integer");
        CHECK_STR(code(FT_INTEGER, "-9223372036854775809"), "integer");
        CHECK_STR(code(FT_INTEGER, "99999999999999999999"), "integer");
        CHECK_STR(code(FT_INTEGER, "1.0"), "integer");
        CHECK_STR(code(FT_INTEGER, "1e3"), "integer");
        CHECK_STR(code(FT_INTEGER, ""), "integer");
        CHECK_STR(code(FT_INTEGER, "-"), "integer");
        CHECK_STR(code(FT_INTEGER, " 1"), "integer");
        CHECK_STR(code(FT_INTEGER, "三"), "integer");

        CHECK_STR(code(FT_DECIMAL, "12.5"), "ok");
        CHECK_STR(code(FT_DECIMAL, "-0.125"), "ok");
        CHECK_STR(code(FT_DECIMAL, "7"), "ok");
        CHECK_STR(code(FT_DECIMAL, "12."), "decimal");
        CHECK_STR(code(FT_DECIMAL, ".5"), "decimal");
        CHECK_STR(code(FT_DECIMAL, "1e5"), "decimal");
        CHECK_STR(code(FT_DECIMAL, "1,000"), "decimal");
        CHECK_STR(code(FT_DECIMAL, "nan"), "decimal");
        CHECK_STR(code(FT_DECIMAL, "inf"), "decimal");

        CHECK_STR(code(FT_MONEY, "1234.50"), "ok");
        CHECK_STR(code(FT_MONEY, "12.5"), "ok");
        CHECK_STR(code(FT_MONEY, "0"), "ok");
        CHECK_STR(code(FT_MONEY, "-5"), "ok");
        CHECK_STR(code(FT_MONEY, "9999999999999.99"), "ok");
        CHECK_STR(code(FT_MONEY, "10000000000000"), "money");
        CHECK_STR(code(FT_MONEY, "800.505"), "money");
        CHECK_STR(code(FT_MONEY, "1,234.50"), "money");
        CHECK_STR(code(FT_MONEY, "¥12"), "money");
        CHECK_STR(code(FT_MONEY, "12元"), "money");

        CHECK(ftype_number("1234.50") == 1234.5);
        CHECK(ftype_number("-0.125") == -0.125);
        CHECK(ftype_number("+7") == 7);
}

TEST(dates_banks_text)
{
        CHECK_STR(code(FT_DATE, "2026-02-28"), "ok");
        CHECK_STR(code(FT_DATE, "2026-02-29"), "date");
        CHECK_STR(code(FT_DATE, "2026/02/28"), "date");
        CHECK_STR(code(FT_BANK_ACCOUNT, "6217001234567890"), "ok");
        CHECK_STR(code(FT_BANK_ACCOUNT, "6217001234567890123"), "ok");
        CHECK_STR(code(FT_BANK_ACCOUNT, "621700123456789"), "bank_account");
        CHECK_STR(code(FT_BANK_ACCOUNT, "62170012345678901234"), "bank_account");
        CHECK_STR(code(FT_BANK_ACCOUNT, "6217 0012 3456 7890"), "bank_account");
        CHECK_STR(code(FT_TEXT, "李建国"), "ok");
        CHECK_STR(code(FT_TEXT, ""), "ok");
        CHECK_STR(code(FT_TEXT, "\xc0\xaf"), "text_encoding");      /* overlong '/' */
        CHECK_STR(code(FT_TEXT, "\xed\xa0\x80"), "text_encoding");  /* surrogate */
        CHECK_STR(code(FT_TEXT, "李\x1b[2J建国"), "text_control");   /* a terminal escape */
        CHECK_STR(code(FT_TEXT, "李\xc2\x9b" "2J"), "text_control");     /* C1 CSI */
        CHECK_STR(code(FT_TEXT, "a\x7f"), "text_control");
        CHECK_STR(code(FT_TEXT, "第一行\n第二行\t完"), "ok");       /* tab and line break are text */
        CHECK_STR(code(FT_TEXT, "\xc2\xa0"), "ok");                  /* U+00A0 is not a control */
        CHECK_STR(code(FT_SELECT_ONE, "anything"), "ok");           /* checked by validate.c */
}

TEST(every_issue_has_both_languages)
{
        static const struct { enum ftype t; const char *v; } cases[] = {
                { FT_ID_NUMBER, "1" }, { FT_ID_NUMBER, "330225209901011420" },
                { FT_ID_NUMBER, "330225196507201310" }, { FT_USCC, "1" }, { FT_USCC, "91350100M000100Y44" },
                { FT_PHONE, "1" }, { FT_DATE, "1" }, { FT_MONEY, "x" }, { FT_INTEGER, "x" },
                { FT_DECIMAL, "x" }, { FT_BANK_ACCOUNT, "x" }, { FT_TEXT, "\xff" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const struct ftype_issue *is = ftype_check(cases[i].t, cases[i].v, today());
                CHECK(is);
                CHECK(is->code[0] && is->zh[0] && is->en[0]);
                CHECK(strcmp(is->zh, is->en) != 0);
        }
}
