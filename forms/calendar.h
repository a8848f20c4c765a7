/* Civil dates and the county's working-day calendar.
 *
 * A date is an int32_t count of days since 1970-01-01 (proleptic
 * Gregorian), so comparison and arithmetic are plain integer operations.
 * The calendar holds the county's exceptions to Monday-Friday working
 * days (holidays, and make-up workdays on weekends, 调休上班) and answers
 * due-date questions. Counting follows Chinese law on periods: the day of
 * acceptance is not counted, the period starts on the next day. See
 * docs/catalog.md ("calendar.csv"). */
#ifndef DAIBAN_FORMS_CALENDAR_H
#define DAIBAN_FORMS_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CAL_DATE_MIN_YEAR 1900
#define CAL_DATE_MAX_YEAR 2999

/* Parse a strict "YYYY-MM-DD" (exactly 10 bytes, a real day of a year in
 * [CAL_DATE_MIN_YEAR, CAL_DATE_MAX_YEAR]). Returns 0 and writes
 * *ret_days, or -EINVAL and leaves it alone. */
int cal_date_parse(const char *s, int32_t *ret_days);

/* Parse exactly len bytes (no NUL needed) as above. */
int cal_date_parse_n(const char *s, size_t len, int32_t *ret_days);

/* Build a date from its parts; -EINVAL if the day does not exist. */
int cal_date_from_ymd(int y, int m, int d, int32_t *ret_days);

/* Split a date into its parts (any of the out-pointers may be NULL). */
void cal_date_to_ymd(int32_t days, int *ret_y, int *ret_m, int *ret_d);

/* Write "YYYY-MM-DD" and a NUL into buf (at least 11 bytes). */
void cal_date_format(int32_t days, char *buf);

/* 1 = Monday ... 7 = Sunday (ISO 8601). */
int cal_weekday(int32_t days);

/* Whole years between birth and at (the age on date at). */
int cal_years_between(int32_t birth, int32_t at);

/* Today in local time, as the machine's clock says. */
int32_t cal_today(void);

/* A moment as the station's local time with its offset,
 * "2026-12-05T10:00:00+0800" (forms/port.h's local time). buf holds 32. */
void cal_stamp_format(time_t t, char buf[32]);

/* "YYYY-MM-DDTHH:MM:SS" and then "Z", "+hhmm", "+hh:mm" or "+hh" (or
 * "-") to seconds since 1970 UTC; -1 when s is not that. */
long long cal_stamp_parse(const char *s);

enum cal_kind {
        CAL_HOLIDAY = 1,  /* a day off, whatever its weekday */
        CAL_WORKDAY = 2,  /* a working day, even on a weekend (调休上班) */
};

typedef struct calendar calendar;

/* An empty calendar (plain Monday-Friday). NULL on out of memory. */
calendar *cal_new(void);
void cal_free(calendar *cal);

/* Record an exception. Returns 0, -EEXIST if the date already has one
 * (whatever its kind), -ENOMEM. */
int cal_add(calendar *cal, int32_t day, enum cal_kind kind);

/* Number of exceptions held; first and last date covered (both 0 when
 * empty). A date outside [first year, last year] is counted by weekdays
 * alone, and callers may want to warn about it. */
int cal_count(const calendar *cal);
bool cal_covers_year(const calendar *cal, int year);

bool cal_is_workday(const calendar *cal, int32_t day);

/* The date on which a period of n working days that starts the day after
 * from ends (n >= 1). n == 0 returns from itself. -EINVAL for n < 0 or
 * n > 3650, or a result beyond CAL_DATE_MAX_YEAR. */
int cal_add_workdays(const calendar *cal, int32_t from, int n, int32_t *ret_due);

/* Overdue: still undecided on a day after the due date. */
static inline bool cal_is_overdue(int32_t due, int32_t today) { return today > due; }

/* Working days from the day after `from` to `to` inclusive (0 if to <= from). */
int cal_workdays_between(const calendar *cal, int32_t from, int32_t to);

#endif
