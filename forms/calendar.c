/* Civil dates and the working-day calendar. See calendar.h.
 *
 * Date arithmetic uses Howard Hinnant's days_from_civil / civil_from_days
 * algorithms (public domain), which are exact for the proleptic Gregorian
 * calendar. The calendar keeps one byte per day for the years it covers,
 * so a lookup is an index, and a due date is a short walk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forms/calendar.h"
#include "forms/port.h"

static int32_t days_from_civil(int y, int m, int d)
{
        y -= m <= 2;
        int era = (y >= 0 ? y : y - 399) / 400;
        int yoe = y - era * 400;
        int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return (int32_t)(era * 146097 + doe - 719468);
}

void cal_date_to_ymd(int32_t days, int *ret_y, int *ret_m, int *ret_d)
{
        int32_t z = days + 719468;
        int32_t era = (z >= 0 ? z : z - 146096) / 146097;
        int32_t doe = z - era * 146097;
        int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int32_t y = yoe + era * 400;
        int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int32_t mp = (5 * doy + 2) / 153;
        int32_t d = doy - (153 * mp + 2) / 5 + 1;
        int32_t m = mp < 10 ? mp + 3 : mp - 9;

        if (ret_y)
                *ret_y = (int)(y + (m <= 2));
        if (ret_m)
                *ret_m = (int)m;
        if (ret_d)
                *ret_d = (int)d;
}

static bool is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
        static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

int cal_date_from_ymd(int y, int m, int d, int32_t *ret_days)
{
        if (y < CAL_DATE_MIN_YEAR || y > CAL_DATE_MAX_YEAR || m < 1 || m > 12 || d < 1 ||
            d > days_in_month(y, m))
                return -EINVAL;
        *ret_days = days_from_civil(y, m, d);
        return 0;
}

static int digits(const char *s, size_t n)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int cal_date_parse_n(const char *s, size_t len, int32_t *ret_days)
{
        int y, m, d;

        if (!s || len != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        y = digits(s, 4);
        m = digits(s + 5, 2);
        d = digits(s + 8, 2);
        if (y < 0 || m < 0 || d < 0)
                return -EINVAL;
        return cal_date_from_ymd(y, m, d, ret_days);
}

int cal_date_parse(const char *s, int32_t *ret_days)
{
        if (!s)
                return -EINVAL;
        return cal_date_parse_n(s, strlen(s), ret_days);
}

void cal_date_format(int32_t days, char *buf)
{
        int y, m, d;

        cal_date_to_ymd(days, &y, &m, &d);
        /* Years are 1900..2999 for parsed dates; clamp the digits anyway
         * so the output is always 10 bytes. */
        y = ((y % 10000) + 10000) % 10000;
        buf[0] = (char)('0' + y / 1000);
        buf[1] = (char)('0' + y / 100 % 10);
        buf[2] = (char)('0' + y / 10 % 10);
        buf[3] = (char)('0' + y % 10);
        buf[4] = '-';
        buf[5] = (char)('0' + m / 10);
        buf[6] = (char)('0' + m % 10);
        buf[7] = '-';
        buf[8] = (char)('0' + d / 10);
        buf[9] = (char)('0' + d % 10);
        buf[10] = '\0';
}

int cal_weekday(int32_t days)
{
        /* 1970-01-01 was a Thursday (4). */
        int32_t w = (days % 7 + 7 + 3) % 7;
        return (int)w + 1;
}

int cal_years_between(int32_t birth, int32_t at)
{
        int by, bm, bd, ay, am, ad, years;

        if (at < birth)
                return 0;
        cal_date_to_ymd(birth, &by, &bm, &bd);
        cal_date_to_ymd(at, &ay, &am, &ad);
        years = ay - by;
        if (am < bm || (am == bm && ad < bd))
                years--;
        /* Someone born on 29 February comes of age on 1 March in common
         * years: the comparison above already does that. */
        return years;
}

int32_t cal_today(void)
{
        int y, m, d;

        if (port_civil_date(time(NULL), &y, &m, &d) < 0)
                return 0;
        return days_from_civil(y, m, d);
}

void cal_stamp_format(time_t t, char buf[32])
{
        struct tm tm;
        long off;

        if (port_local_time(t, &tm, &off) < 0) {
                buf[0] = '\0';
                return;
        }
        snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld%02ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
}

long long cal_stamp_parse(const char *s)
{
        int y, mo, d, h, mi, sec, oh = 0, om = 0;
        int32_t days;
        long long off = 0;

        if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
                return -1;
        y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
        if (y < 0 || mo < 0 || d < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 ||
            cal_date_from_ymd(y, mo, d, &days) < 0)
                return -1;
        s += 19;
        if (!strcmp(s, "Z"))
                ;
        else if ((*s == '+' || *s == '-') && (oh = digits(s + 1, 2)) >= 0 &&
                 (!s[3] || (s[3] == ':' ? (om = digits(s + 4, 2)) >= 0 && !s[6] : (om = digits(s + 3, 2)) >= 0 && !s[5])) &&
                 oh <= 23 && om <= 59)
                off = (*s == '-' ? -1 : 1) * (oh * 3600LL + om * 60);
        else
                return -1;
        return (long long)days * 86400 + h * 3600LL + mi * 60 + sec - off;
}

/* ---- the calendar -------------------------------------------------------- */

struct calendar {
        int first_year;         /* 0 when empty */
        int last_year;
        int32_t base;           /* day number of first_year-01-01 */
        uint8_t *kind;          /* one byte per day from base: 0 or enum cal_kind */
        size_t ndays;
        int count;
};

calendar *cal_new(void)
{
        return calloc(1, sizeof(calendar));
}

void cal_free(calendar *cal)
{
        if (!cal)
                return;
        free(cal->kind);
        free(cal);
}

/* Make the byte map cover year y. */
static int cover(calendar *cal, int y)
{
        int fy, ly;
        int32_t base, end;
        size_t n;
        uint8_t *k;

        if (cal->first_year && y >= cal->first_year && y <= cal->last_year)
                return 0;
        fy = cal->first_year && cal->first_year < y ? cal->first_year : y;
        ly = cal->first_year && cal->last_year > y ? cal->last_year : y;
        base = days_from_civil(fy, 1, 1);
        end = days_from_civil(ly + 1, 1, 1);
        n = (size_t)(end - base);
        k = calloc(n, 1);
        if (!k)
                return -ENOMEM;
        if (cal->kind)
                memcpy(k + (cal->base - base), cal->kind, cal->ndays);
        free(cal->kind);
        cal->kind = k;
        cal->ndays = n;
        cal->base = base;
        cal->first_year = fy;
        cal->last_year = ly;
        return 0;
}

int cal_add(calendar *cal, int32_t day, enum cal_kind kind)
{
        int y, r;

        if (kind != CAL_HOLIDAY && kind != CAL_WORKDAY)
                return -EINVAL;
        cal_date_to_ymd(day, &y, NULL, NULL);
        if (y < CAL_DATE_MIN_YEAR || y > CAL_DATE_MAX_YEAR)
                return -EINVAL;
        r = cover(cal, y);
        if (r < 0)
                return r;
        if (cal->kind[day - cal->base])
                return -EEXIST;
        cal->kind[day - cal->base] = (uint8_t)kind;
        cal->count++;
        return 0;
}

int cal_count(const calendar *cal)
{
        return cal->count;
}

bool cal_covers_year(const calendar *cal, int year)
{
        return cal->first_year && year >= cal->first_year && year <= cal->last_year;
}

bool cal_is_workday(const calendar *cal, int32_t day)
{
        if (cal->kind && day >= cal->base && (size_t)(day - cal->base) < cal->ndays) {
                uint8_t k = cal->kind[day - cal->base];
                if (k == CAL_HOLIDAY)
                        return false;
                if (k == CAL_WORKDAY)
                        return true;
        }
        return cal_weekday(day) <= 5;
}

int cal_add_workdays(const calendar *cal, int32_t from, int n, int32_t *ret_due)
{
        static const int32_t max_day = 376199;   /* 2999-12-31 */
        int32_t d = from;

        if (n < 0 || n > 3650)
                return -EINVAL;
        while (n > 0) {
                if (d >= max_day)
                        return -EINVAL;
                d++;
                if (cal_is_workday(cal, d))
                        n--;
        }
        *ret_due = d;
        return 0;
}

int cal_workdays_between(const calendar *cal, int32_t from, int32_t to)
{
        int n = 0;

        for (int32_t d = from + 1; d <= to; d++)
                n += cal_is_workday(cal, d);
        return n;
}
