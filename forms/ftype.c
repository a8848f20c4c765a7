/* Field types and their value checks. See ftype.h and docs/catalog.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forms/calendar.h"
#include "forms/csv.h"
#include "forms/ftype.h"

static const char *const type_names[FT__COUNT] = {
        [FT_TEXT] = "text",
        [FT_INTEGER] = "integer",
        [FT_DECIMAL] = "decimal",
        [FT_MONEY] = "money",
        [FT_DATE] = "date",
        [FT_PHONE] = "phone",
        [FT_ID_NUMBER] = "id_number",
        [FT_USCC] = "uscc",
        [FT_BANK_ACCOUNT] = "bank_account",
        [FT_SELECT_ONE] = "select_one",
        [FT_SELECT_MULTIPLE] = "select_multiple",
        [FT_BEGIN_REPEAT] = "begin_repeat",
        [FT_END_REPEAT] = "end_repeat",
};

int ftype_from_name(const char *name, enum ftype *ret)
{
        for (int i = 0; i < FT__COUNT; i++)
                if (strcmp(name, type_names[i]) == 0) {
                        *ret = (enum ftype)i;
                        return 0;
                }
        return -EINVAL;
}

const char *ftype_name(enum ftype t)
{
        return (unsigned)t < FT__COUNT ? type_names[t] : "?";
}

/* ---- the issues ---------------------------------------------------------- */

static const struct ftype_issue
        issue_id_format = { "id_number_format",
                "身份证号码应为18位：前17位是数字，最后一位是数字或X",
                "an ID number has 18 characters: 17 digits, then a digit or X" },
        issue_id_birth = { "id_number_birth",
                "身份证号码中的出生日期（第7至14位）不是真实日期、早于1900年或晚于今天",
                "the birth date in the ID number (characters 7-14) is not a real date, is before 1900 or is after today" },
        issue_id_check = { "id_number_check",
                "身份证号码校验位不符，请逐位核对证件",
                "the ID number's check character does not match; compare it with the card digit by digit" },
        issue_uscc_format = { "uscc_format",
                "统一社会信用代码应为18位大写字母或数字（不含I、O、Z、S、V），第3至8位是行政区划码",
                "a unified social credit code has 18 capital letters or digits (no I, O, Z, S, V), characters 3-8 being digits" },
        issue_uscc_check = { "uscc_check",
                "统一社会信用代码校验位不符，请对照营业执照核对",
                "the unified social credit code's check character does not match; compare it with the licence" },
        issue_phone = { "phone",
                "电话号码应为11位手机号（1开头），或带区号的固话，如0574-12345678",
                "a phone number is an 11-digit mobile number starting with 1, or a landline with area code such as 0574-12345678" },
        issue_date = { "date",
                "日期应写作“年-月-日”，如2026-03-01，且是真实日期",
                "a date is written YYYY-MM-DD, such as 2026-03-01, and must be a real day" },
        issue_money = { "money",
                "金额应为数字，最多两位小数，不带逗号或单位，如1234.50",
                "an amount of money is a number with at most two decimals and no commas or units, such as 1234.50" },
        issue_integer = { "integer",
                "应填写整数，如3",
                "expected a whole number, such as 3" },
        issue_decimal = { "decimal",
                "应填写数字，如12.5",
                "expected a number, such as 12.5" },
        issue_bank = { "bank_account",
                "银行账号应为16至19位数字，不含空格",
                "a bank account number has 16 to 19 digits, without spaces" },
        issue_text = { "text_encoding",
                "文字中含有无法识别的字符",
                "the text contains bytes that are not valid UTF-8" },
        issue_control = { "text_control",
                "文字中含有不可见的控制字符，请删除后重新输入",
                "the text contains control characters (other than tab and line break); remove them" };

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

/* ---- GB 11643 ID numbers ------------------------------------------------- */

int idnum_check_char(const char *first17, char *ret)
{
        static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
        static const char check[] = "10X98765432";
        int sum = 0;

        for (int i = 0; i < 17; i++) {
                if (!is_digit(first17[i]))
                        return -EINVAL;
                sum += (first17[i] - '0') * w[i];
        }
        *ret = check[sum % 11];
        return 0;
}

static bool id_shape(const char *id)
{
        if (strlen(id) != 18 || !all_digits(id, 17) || id[0] == '0')
                return false;
        return is_digit(id[17]) || id[17] == 'X' || id[17] == 'x';
}

static int id_birth_raw(const char *id, int32_t *ret)
{
        int y = atoi((char[5]){ id[6], id[7], id[8], id[9], 0 });
        int m = atoi((char[3]){ id[10], id[11], 0 });
        int d = atoi((char[3]){ id[12], id[13], 0 });
        return cal_date_from_ymd(y, m, d, ret);
}

static const struct ftype_issue *check_id(const char *id, int32_t today)
{
        int32_t birth;
        char c = 0;

        if (!id_shape(id))
                return &issue_id_format;
        if (id_birth_raw(id, &birth) < 0 || birth > today)
                return &issue_id_birth;
        idnum_check_char(id, &c);
        if (c != (id[17] == 'x' ? 'X' : id[17]))
                return &issue_id_check;
        return NULL;
}

static bool id_ok(const char *id)
{
        int32_t birth;
        char c = 0;         /* set by the check-character functions */

        if (!id_shape(id) || id_birth_raw(id, &birth) < 0)
                return false;
        idnum_check_char(id, &c);
        return c == (id[17] == 'x' ? 'X' : id[17]);
}

int idnum_birth(const char *id, int32_t *ret_days)
{
        if (!id_ok(id))
                return -EINVAL;
        return id_birth_raw(id, ret_days);
}

int idnum_gender(const char *id, char *ret_gender)
{
        if (!id_ok(id))
                return -EINVAL;
        *ret_gender = (id[16] - '0') % 2 ? 'M' : 'F';
        return 0;
}

/* ---- GB 32100 unified social credit codes -------------------------------- */

static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static int uscc_value(char c)
{
        const char *p;

        if (!c)
                return -1;
        p = strchr(uscc_alphabet, c);
        return p ? (int)(p - uscc_alphabet) : -1;
}

int uscc_check_char(const char *first17, char *ret)
{
        static const int w[17] = { 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28 };
        int sum = 0;

        for (int i = 0; i < 17; i++) {
                int v = uscc_value(first17[i]);
                if (v < 0)
                        return -EINVAL;
                sum += v * w[i];
        }
        *ret = uscc_alphabet[(31 - sum % 31) % 31];
        return 0;
}

static const struct ftype_issue *check_uscc(const char *s)
{
        char c = 0;         /* set by the check-character functions */

        if (strlen(s) != 18 || !all_digits(s + 2, 6))
                return &issue_uscc_format;
        for (int i = 0; i < 18; i++)
                if (uscc_value(s[i]) < 0)
                        return &issue_uscc_format;
        uscc_check_char(s, &c);
        return c == s[17] ? NULL : &issue_uscc_check;
}

/* ---- phones -------------------------------------------------------------- */

/* A landline: area code (010 and 02x have three digits, all others
 * four), an optional hyphen, a local number of 7 or 8 digits that does
 * not start with 0 or 1 (8 digits after a three-digit area code), and an
 * optional extension "-" followed by 1 to 6 digits. */
static bool landline_ok(const char *s)
{
        size_t area, n;
        const char *p;

        if (s[0] != '0' || !is_digit(s[1]) || !is_digit(s[2]))
                return false;
        area = (s[1] == '1' || s[1] == '2') ? 3 : 4;
        if (s[1] == '0' || (area == 4 && !is_digit(s[3])))
                return false;
        if (s[1] == '1' && s[2] != '0')
                return false;   /* 010 is the only 01x area code */
        p = s + area;
        if (*p == '-')
                p++;
        for (n = 0; is_digit(p[n]); n++)
                ;
        if (area == 3 ? n != 8 : (n != 7 && n != 8))
                return false;
        if (p[0] == '0' || p[0] == '1')
                return false;
        p += n;
        if (!*p)
                return true;
        if (*p != '-')
                return false;
        p++;
        for (n = 0; is_digit(p[n]); n++)
                ;
        return n >= 1 && n <= 6 && !p[n];
}

static const struct ftype_issue *check_phone(const char *s)
{
        if (strlen(s) == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9' && all_digits(s, 11))
                return NULL;
        return landline_ok(s) ? NULL : &issue_phone;
}

/* ---- numbers ------------------------------------------------------------- */

/* Optional sign, at least one digit, optionally "." and at least one
 * digit. Writes the number of integer and fraction digits. */
static bool number_shape(const char *s, size_t *ret_int, size_t *ret_frac)
{
        size_t i = 0, f = 0;

        if (*s == '+' || *s == '-')
                s++;
        while (is_digit(s[i]))
                i++;
        if (i == 0)
                return false;
        s += i;
        if (*s == '.') {
                s++;
                while (is_digit(s[f]))
                        f++;
                if (f == 0)
                        return false;
                s += f;
        }
        *ret_int = i;
        *ret_frac = f;
        return *s == '\0';
}

static const struct ftype_issue *check_integer(const char *s)
{
        size_t i, f;
        const char *d = s + (*s == '+' || *s == '-');

        if (!number_shape(s, &i, &f) || f)
                return &issue_integer;
        while (*d == '0' && d[1])
                d++, i--;
        /* int64 holds every 18-digit number and 19-digit ones up to
         * 9223372036854775807 (…808 when negative). */
        if (i > 19 || (i == 19 && strcmp(d, *s == '-' ? "9223372036854775808" : "9223372036854775807") > 0))
                return &issue_integer;
        return NULL;
}

static const struct ftype_issue *check_decimal(const char *s)
{
        size_t i, f;

        if (!number_shape(s, &i, &f) || i + f > 30)
                return &issue_decimal;
        return NULL;
}

static const struct ftype_issue *check_money(const char *s)
{
        size_t i, f;

        /* Thirteen integer digits is ten trillion yuan: anything longer
         * is a typing mistake, and a double stays exact to the fen. */
        if (!number_shape(s, &i, &f) || f > 2 || i > 13)
                return &issue_money;
        return NULL;
}

double ftype_number(const char *value)
{
        return strtod(value, NULL);
}

/* C0 controls but tab and line feed, DEL, and C1 controls (U+0080 to
 * U+009F): what could drive a terminal or hide text. */
static bool has_control(const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
                        return true;
        return false;
}

/* ---- dispatch ------------------------------------------------------------ */

const struct ftype_issue *ftype_check(enum ftype t, const char *value, int32_t today)
{
        int32_t d;
        size_t n;

        switch (t) {
        case FT_TEXT:
                if (!utf8_valid(value, strlen(value)))
                        return &issue_text;
                return has_control(value) ? &issue_control : NULL;
        case FT_INTEGER:
                return check_integer(value);
        case FT_DECIMAL:
                return check_decimal(value);
        case FT_MONEY:
                return check_money(value);
        case FT_DATE:
                return cal_date_parse(value, &d) == 0 ? NULL : &issue_date;
        case FT_PHONE:
                return check_phone(value);
        case FT_ID_NUMBER:
                return check_id(value, today);
        case FT_USCC:
                return check_uscc(value);
        case FT_BANK_ACCOUNT:
                n = strlen(value);
                return n >= 16 && n <= 19 && all_digits(value, n) ? NULL : &issue_bank;
        default:
                return NULL;
        }
}
