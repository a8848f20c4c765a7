/* Tests of forms/calendar.c: civil dates against an independent day
 * count, strict parsing, ages, and due dates in working days across the
 * sample's 2026 National Day and Spring Festival, make-up Saturdays
 * included (the sheet is loaded through the catalogue). */
#include <errno.h>
#include <stdlib.h>

#include "forms/calendar.h"
#include "forms/catalog.h"
#include "tests/harness.h"

static int32_t D(const char *s)
{
        int32_t d;
        if (cal_date_parse(s, &d) < 0) {
                fprintf(stderr, "bad test date %s\n", s);
                abort();
        }
        return d;
}

TEST(known_day_numbers)
{
        CHECK_INT(D("1970-01-01"), ==, 0);
        CHECK_INT(D("1970-01-02"), ==, 1);
        CHECK_INT(D("1969-12-31"), ==, -1);
        CHECK_INT(D("2000-03-01"), ==, 11017);
        CHECK_INT(D("2026-11-24"), ==, 20781);
        CHECK_INT(D("1900-01-01"), ==, -25567);
        CHECK_INT(D("2999-12-31"), ==, 376199);
}

/* Walk every day from 1900 to 2999 with a plain month/day counter and
 * check parse, format and split agree with it. */
TEST(every_day_round_trips)
{
        static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int32_t n = -25567;
        char buf[11], want[40];

        for (int y = 1900; y <= 2999; y++) {
                bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                for (int m = 1; m <= 12; m++) {
                        int days = dim[m - 1] + (m == 2 && leap);
                        for (int d = 1; d <= days; d++, n++) {
                                int32_t got;
                                int yy, mm, dd;
                                snprintf(want, sizeof want, "%04d-%02d-%02d", y, m, d);
                                CHECK_INT(cal_date_parse(want, &got), ==, 0);
                                CHECK_INT(got, ==, n);
                                cal_date_format(n, buf);
                                CHECK_STR(buf, want);
                                cal_date_to_ymd(n, &yy, &mm, &dd);
                                CHECK(yy == y && mm == m && dd == d);
                        }
                        /* the day after the last is refused */
                        int32_t x = 12345;
                        CHECK_INT(cal_date_from_ymd(y, m, days + 1, &x), ==, -EINVAL);
                        CHECK_INT(x, ==, 12345);
                }
        }
        CHECK_INT(n, ==, 376200);
}

TEST(parse_is_strict)
{
        static const char *bad[] = {
                "", "2026-1-01", "2026-01-1", "2026/01/01", "20260101", "2026-13-01", "2026-00-10",
                "2026-02-29", "2100-02-29", "1899-12-31", "3000-01-01", " 2026-01-01", "2026-01-01 ",
                "2026-01-0a", "+026-01-01", "2026-02-30", "2026-04-31", "２０２６-01-01",
        };
        int32_t d = 7;

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                if (cal_date_parse(bad[i], &d) != -EINVAL) {
                        test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
                        return;
                }
                CHECK_INT(d, ==, 7);
        }
        CHECK_INT(cal_date_parse("2024-02-29", &d), ==, 0);
        CHECK_INT(cal_date_parse("2000-02-29", &d), ==, 0);
        CHECK_INT(cal_date_parse_n("2026-03-01xyz", 10, &d), ==, 0);
        CHECK_INT(d, ==, D("2026-03-01"));
        CHECK_INT(cal_date_parse_n("2026-03-01", 9, &d), ==, -EINVAL);
}

/* The stamps of the last sync and backup: an instant with its offset. */
TEST(stamps_parse_with_their_offset)
{
        CHECK(cal_stamp_parse("1970-01-01T00:00:00Z") == 0);
        CHECK(cal_stamp_parse("1970-01-01T08:00:00+0800") == 0);
        CHECK(cal_stamp_parse("1970-01-01T08:00:00+08:00") == 0);
        CHECK(cal_stamp_parse("1970-01-01T08:00:00+08") == 0);
        CHECK(cal_stamp_parse("1969-12-31T19:00:00-0500") == 0);
        CHECK(cal_stamp_parse("2026-12-05T10:00:00+0800") == 1796436000LL);
        CHECK(cal_stamp_parse("2026-12-05T02:00:00Z") == 1796436000LL);
        const char *bad[] = { NULL, "", "2026-12-05", "2026-12-05T10:00:00", "2026-12-05T10:00:00 +0800",
                              "2026-13-05T10:00:00Z", "2026-02-30T10:00:00Z", "2026-12-05T24:00:00Z",
                              "2026-12-05T10:60:00Z", "2026-12-05T10:00:00+0860", "2026-12-05T10:00:00+08000",
                              "2026-12-05T10:00:00Zx", "2026-12-05t10:00:00Z", "2026-12-05T10:00:00+8" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                CHECK(cal_stamp_parse(bad[i]) == -1);
}

TEST(stamps_round_trip)
{
        char buf[32];

        for (time_t t = 0; t < 4000000000LL; t += 86400 * 37 + 3607) {
                cal_stamp_format(t, buf);
                CHECK_INT((int)strlen(buf), ==, 24);
                CHECK(cal_stamp_parse(buf) == (long long)t);
        }
}

TEST(weekdays)
{
        CHECK_INT(cal_weekday(D("1970-01-01")), ==, 4);
        CHECK_INT(cal_weekday(D("2026-11-24")), ==, 2);
        CHECK_INT(cal_weekday(D("2026-10-10")), ==, 6);
        CHECK_INT(cal_weekday(D("2026-02-15")), ==, 7);
        CHECK_INT(cal_weekday(D("1969-12-29")), ==, 1);
        CHECK_INT(cal_weekday(D("1900-01-01")), ==, 1);
}

TEST(ages)
{
        CHECK_INT(cal_years_between(D("1946-11-25"), D("2026-11-24")), ==, 79);
        CHECK_INT(cal_years_between(D("1946-11-25"), D("2026-11-25")), ==, 80);
        CHECK_INT(cal_years_between(D("2008-02-29"), D("2026-02-28")), ==, 17);
        CHECK_INT(cal_years_between(D("2008-02-29"), D("2026-03-01")), ==, 18);
        CHECK_INT(cal_years_between(D("2008-02-29"), D("2028-02-29")), ==, 20);
        CHECK_INT(cal_years_between(D("2026-11-24"), D("2026-11-24")), ==, 0);
        CHECK_INT(cal_years_between(D("2026-11-25"), D("2026-11-24")), ==, 0);
}

TEST(plain_weeks_without_exceptions)
{
        calendar *cal = cal_new();
        int32_t due;

        CHECK(cal);
        CHECK(!cal_covers_year(cal, 2026));
        /* Wednesday + 5 working days = next Wednesday */
        CHECK_INT(cal_add_workdays(cal, D("2026-11-18"), 5, &due), ==, 0);
        CHECK_INT(due, ==, D("2026-11-25"));
        /* Friday + 1 = Monday */
        CHECK_INT(cal_add_workdays(cal, D("2026-11-20"), 1, &due), ==, 0);
        CHECK_INT(due, ==, D("2026-11-23"));
        /* accepted on a Saturday: the period starts Monday */
        CHECK_INT(cal_add_workdays(cal, D("2026-11-21"), 1, &due), ==, 0);
        CHECK_INT(due, ==, D("2026-11-23"));
        CHECK_INT(cal_add_workdays(cal, D("2026-11-24"), 0, &due), ==, 0);
        CHECK_INT(due, ==, D("2026-11-24"));
        CHECK_INT(cal_add_workdays(cal, D("2026-11-24"), -1, &due), ==, -EINVAL);
        CHECK_INT(cal_add_workdays(cal, D("2026-11-24"), 3651, &due), ==, -EINVAL);
        CHECK_INT(cal_add_workdays(cal, D("2999-12-30"), 5, &due), ==, -EINVAL);
        /* 3650 working days is 730 weeks */
        CHECK_INT(cal_add_workdays(cal, D("2026-11-23"), 3650, &due), ==, 0);
        CHECK_INT(due, ==, D("2026-11-23") + 730 * 7);
        CHECK_INT(cal_workdays_between(cal, D("2026-11-18"), D("2026-11-25")), ==, 5);
        CHECK_INT(cal_workdays_between(cal, D("2026-11-25"), D("2026-11-18")), ==, 0);
        cal_free(cal);
}

TEST(exceptions_and_duplicates)
{
        calendar *cal = cal_new();

        CHECK(cal);
        CHECK_INT(cal_add(cal, D("2026-10-01"), CAL_HOLIDAY), ==, 0);
        CHECK_INT(cal_add(cal, D("2026-10-10"), CAL_WORKDAY), ==, 0);
        CHECK_INT(cal_add(cal, D("2026-10-01"), CAL_WORKDAY), ==, -EEXIST);
        CHECK_INT(cal_add(cal, D("2024-05-01"), CAL_HOLIDAY), ==, 0);   /* grows backwards */
        CHECK_INT(cal_add(cal, D("2028-01-01"), CAL_HOLIDAY), ==, 0);   /* and forwards */
        CHECK_INT(cal_count(cal), ==, 4);
        CHECK(cal_covers_year(cal, 2024) && cal_covers_year(cal, 2027) && cal_covers_year(cal, 2028));
        CHECK(!cal_covers_year(cal, 2023) && !cal_covers_year(cal, 2029));
        CHECK(!cal_is_workday(cal, D("2026-10-01")));     /* Thursday, holiday */
        CHECK(cal_is_workday(cal, D("2026-10-10")));      /* Saturday, make-up */
        CHECK(!cal_is_workday(cal, D("2026-10-11")));     /* Sunday */
        CHECK(cal_is_workday(cal, D("2026-10-02")));      /* not marked here */
        CHECK(!cal_is_workday(cal, D("2024-05-01")));     /* kept across the regrowth */
        CHECK(!cal_is_workday(cal, D("2028-01-01")));
        cal_free(cal);
}

/* The sample's 2026 calendar, as the county keeps it. */
static catalog *sample(void)
{
        static catalog *cat;
        char dir[4096];

        if (!cat) {
                snprintf(dir, sizeof dir, "%s/catalog-sample", test_data_dir());
                if (catalog_load(dir, &cat) < 0 || catalog_nerrors(cat))
                        abort();
        }
        return cat;
}

static const char *due(const char *from, int n)
{
        static char buf[11];
        int32_t d;

        if (cal_add_workdays(catalog_calendar(sample()), D(from), n, &d) < 0)
                return "error";
        cal_date_format(d, buf);
        return buf;
}

TEST(national_day_2026)
{
        const calendar *cal = catalog_calendar(sample());

        /* 1-7 October off, Saturday 10 October is a make-up workday */
        CHECK(cal_covers_year(cal, 2026));
        for (int32_t d = D("2026-10-01"); d <= D("2026-10-07"); d++)
                CHECK(!cal_is_workday(cal, d));
        CHECK(cal_is_workday(cal, D("2026-10-08")));
        CHECK(cal_is_workday(cal, D("2026-10-10")));
        CHECK_STR(due("2026-09-30", 1), "2026-10-08");
        CHECK_STR(due("2026-09-30", 3), "2026-10-10");
        CHECK_STR(due("2026-09-30", 5), "2026-10-13");
        CHECK_STR(due("2026-09-29", 1), "2026-09-30");
        CHECK_STR(due("2026-10-03", 2), "2026-10-09");
        CHECK_INT(cal_workdays_between(cal, D("2026-09-30"), D("2026-10-13")), ==, 5);
}

TEST(spring_festival_2026)
{
        /* The sample: Saturday 14 and Saturday 28 February are make-up
         * workdays; 15-23 February are off. */
        CHECK_STR(due("2026-02-13", 1), "2026-02-14");
        CHECK_STR(due("2026-02-13", 2), "2026-02-24");
        CHECK_STR(due("2026-02-14", 1), "2026-02-24");
        CHECK_STR(due("2026-02-27", 1), "2026-02-28");
        CHECK_STR(due("2026-02-27", 2), "2026-03-02");
        CHECK_STR(due("2026-11-18", 5), "2026-11-25");
}

TEST(overdue)
{
        CHECK(!cal_is_overdue(D("2026-11-25"), D("2026-11-24")));
        CHECK(!cal_is_overdue(D("2026-11-25"), D("2026-11-25")));
        CHECK(cal_is_overdue(D("2026-11-25"), D("2026-11-26")));
}
