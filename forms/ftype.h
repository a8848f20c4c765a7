/* Field types of the catalogue and their exact value checks.
 *
 * Each check takes the value as text (the way it was typed) and returns
 * NULL when it is valid, or a static issue with a machine code and a
 * message in Chinese and English. The rules are documented in
 * docs/catalog.md ("Field types"):
 *   id_number     GB 11643-1999: 17 digits + mod-11 check (0-9 or X,
 *                 upper case; lower-case x is accepted and means X),
 *                 a real birth date not after today and not before 1900.
 *   uscc          GB 32100-2015: 18 characters over the 31-symbol
 *                 alphabet 0-9 A-H J-N P-R T-U W-Y (no I O Z S V), the
 *                 last a mod-31 check character.
 *   phone         mainland mobile 1[3-9]xxxxxxxxx (11 digits), or a
 *                 landline with area code 0xx-xxxxxxxx / 0xxx-xxxxxxx(x),
 *                 hyphen optional, optional extension "-123".
 *   date          YYYY-MM-DD, a real day.
 *   money         non-negative or negative decimal with at most two
 *                 decimals, no exponent, no thousands separators.
 *   integer       optional sign, digits, fits in int64.
 *   decimal       optional sign, digits, optional fraction; no exponent.
 *   bank_account  16 to 19 digits (cards and passbooks; no Luhn check,
 *                 since passbook numbers do not carry one).
 */
#ifndef DAIBAN_FORMS_FTYPE_H
#define DAIBAN_FORMS_FTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ftype {
        FT_TEXT,
        FT_INTEGER,
        FT_DECIMAL,
        FT_MONEY,
        FT_DATE,
        FT_PHONE,
        FT_ID_NUMBER,
        FT_USCC,
        FT_BANK_ACCOUNT,
        FT_SELECT_ONE,
        FT_SELECT_MULTIPLE,
        FT_BEGIN_REPEAT,
        FT_END_REPEAT,
        FT__COUNT
};

/* 0 and *ret on a known type name ("text", "id_number", ...), else -EINVAL. */
int ftype_from_name(const char *name, enum ftype *ret);
const char *ftype_name(enum ftype t);

/* A problem with one value: a machine code ("id_number_check"), and a
 * message for the agent's screen (zh) and the log/CLI (en). */
struct ftype_issue {
        const char *code;
        const char *zh;
        const char *en;
};

/* Check value (NUL-terminated, UTF-8) against type t. today is used by
 * id_number (birth date not in the future). select and repeat types are
 * not checked here (their rules need the choice list or the rows): they
 * return NULL. */
const struct ftype_issue *ftype_check(enum ftype t, const char *value, int32_t today);

/* The pieces of a valid ID number. Both return -EINVAL on a value that
 * ftype_check would refuse (today is not consulted). */
int idnum_birth(const char *id, int32_t *ret_days);
/* 'M' or 'F' from the 17th digit (odd = male). */
int idnum_gender(const char *id, char *ret_gender);

/* Check characters, exposed for tests and for generating valid samples:
 * the 18th character for the first 17 digits of an ID number, and the
 * 18th character for the first 17 characters of a USCC. -EINVAL when the
 * prefix has a character outside its alphabet. */
int idnum_check_char(const char *first17, char *ret);
int uscc_check_char(const char *first17, char *ret);

/* Parse a value that passed ftype_check for FT_INTEGER, FT_DECIMAL or
 * FT_MONEY into a double. */
double ftype_number(const char *value);

#endif
