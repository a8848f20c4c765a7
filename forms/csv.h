/* Reading the county's spreadsheets saved as CSV (RFC 4180 as Excel and
 * WPS write it).
 *
 * Accepted: UTF-8 with or without a byte-order mark, LF or CRLF line ends,
 * quoted cells with commas, doubled quotes and line breaks, trailing
 * empty columns. A file that is not valid UTF-8 is converted from
 * GB18030 (a superset of GBK, what WPS and Chinese Excel save by default)
 * with iconv, and the conversion is reported so that `catalog check` can
 * tell the admin to save it as "CSV UTF-8" next time. A file that is
 * neither is refused. See docs/catalog.md ("Encoding"). */
#ifndef DAIBAN_FORMS_CSV_H
#define DAIBAN_FORMS_CSV_H

#include <stdbool.h>
#include <stddef.h>

#define CSV_MAX_FILE   (64u << 20)   /* bytes in one sheet */
#define CSV_MAX_CELL   (64u << 10)   /* bytes in one cell */
#define CSV_MAX_ROWS   200000        /* records in one sheet */
#define CSV_MAX_COLS   256           /* cells in one record */

struct csv_cell {
        const char *text;   /* NUL-terminated, unquoted, owned by the csv */
        size_t len;
        int line;           /* 1-based line where the cell starts */
        int col;            /* 1-based column (in characters) of its first
                             * content character, after an opening quote */
};

struct csv_row {
        struct csv_cell *cells;
        size_t ncells;      /* trailing empty cells are dropped */
        int line;
};

struct csv_error {
        int line;
        int col;
        char msg[256];
};

typedef struct csv csv;

/* Parse len bytes of data. Returns 0 and *ret, or -EINVAL with *err
 * (position and an English message), or -ENOMEM. Blank records (no cell
 * with any text) are dropped. */
int csv_parse(const char *data, size_t len, csv **ret, struct csv_error *err);

/* Decode the bytes of a whole file (BOM, UTF-8 or GB18030, see above)
 * and parse them. Same results as csv_parse. */
int csv_decode(const char *data, size_t len, csv **ret, struct csv_error *err);

/* Read and parse a file, handling the BOM and the encoding as described
 * above. -ENOENT/-EACCES/... for I/O errors (err->msg says so). */
int csv_load_file(const char *path, csv **ret, struct csv_error *err);

size_t csv_nrows(const csv *c);
const struct csv_row *csv_row(const csv *c, size_t i);

/* True when csv_load_file converted the file from GB18030. */
bool csv_was_converted(const csv *c);

void csv_free(csv *c);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t len);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s, size_t len);

#endif
