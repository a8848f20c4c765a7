/* CSV reader for the catalogue sheets: see csv.h and docs/catalog.md.
 *
 * One pass over the bytes produces every cell, unquoted, into a single
 * arena: a cell's text is never longer than its raw bytes and each raw
 * cell is followed by at least one separator byte (or the end), so
 * len + 1 bytes of arena hold them all. Positions are tracked as we go
 * (line, and column in characters) so that every later error can point
 * at the exact cell. */
#include "forms/csv.h"

#include "forms/port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct csv {
        char *arena;
        struct csv_row *rows;
        size_t nrows;
        struct csv_cell *cells;   /* all cells, rows point into it */
        bool converted;
};

static void set_err(struct csv_error *err, int line, int col, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void set_err(struct csv_error *err, int line, int col, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return;
        err->line = line;
        err->col = col;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
}

bool utf8_valid(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned c = s[i];
                size_t n;
                unsigned cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xc2 && c <= 0xdf) {
                        n = 1; cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2; cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3; cp = c & 0x07;
                } else {
                        return false;
                }
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

size_t utf8_length(const char *s, size_t len)
{
        size_t n = 0;

        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xc0) != 0x80;
        return n;
}

size_t csv_nrows(const csv *c)
{
        return c->nrows;
}

const struct csv_row *csv_row(const csv *c, size_t i)
{
        return i < c->nrows ? &c->rows[i] : NULL;
}

bool csv_was_converted(const csv *c)
{
        return c->converted;
}

void csv_free(csv *c)
{
        if (!c)
                return;
        free(c->arena);
        free(c->rows);
        free(c->cells);
        free(c);
}

/* Growable arrays of cells and rows; rows keep indexes until the end,
 * when they are turned into pointers (the cell array may move). */
struct builder {
        struct csv_cell *cells;
        size_t ncells, capcells;
        struct csv_row *rows;
        size_t nrows, caprows;
        size_t row_first;        /* index of the current row's first cell */
};

/* Array p of *cap elements of size bytes, n of them used, with room for
 * one more: p itself, or p moved to twice the room (first when empty).
 * NULL out of memory, p still valid. */
static void *grow(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
        size_t c = *cap ? *cap * 2 : first;

        if (n < *cap)
                return p;
        p = realloc(p, c * size);
        if (p)
                *cap = c;
        return p;
}

static int push_cell(struct builder *b, const char *text, size_t len, int line, int col)
{
        struct csv_cell *cells = grow(b->cells, b->ncells, &b->capcells, sizeof *cells, 64);

        if (!cells)
                return -ENOMEM;
        b->cells = cells;
        b->cells[b->ncells++] = (struct csv_cell){ text, len, line, col };
        return 0;
}

/* End the current record: drop trailing empty cells, and the record
 * itself if nothing is left. */
static int end_row(struct builder *b, int line)
{
        while (b->ncells > b->row_first && b->cells[b->ncells - 1].len == 0)
                b->ncells--;
        if (b->ncells > b->row_first) {
                struct csv_row *rows = grow(b->rows, b->nrows, &b->caprows, sizeof *rows, 32);
                if (!rows)
                        return -ENOMEM;
                b->rows = rows;
                b->rows[b->nrows++] = (struct csv_row){
                        .cells = (struct csv_cell *)(uintptr_t)b->row_first,
                        .ncells = b->ncells - b->row_first,
                        .line = line,
                };
        }
        b->row_first = b->ncells;
        return 0;
}

int csv_parse(const char *data, size_t len, csv **ret, struct csv_error *err)
{
        struct builder b = { 0 };
        csv *c = NULL;
        char *arena = NULL, *out;
        size_t i = 0;
        int line = 1, col = 1, r = -ENOMEM;

        if (len > CSV_MAX_FILE) {
                set_err(err, 0, 0, "file is larger than %u MiB", CSV_MAX_FILE >> 20);
                return -EINVAL;
        }
        arena = malloc(len + 2);
        if (!arena)
                goto fail;
        out = arena;

        while (i <= len) {
                /* Start of a cell. */
                int cell_line = line, cell_col = col;
                char *start = out;
                int row_line = line;
                size_t ncols = b.ncells - b.row_first;

                if (ncols >= CSV_MAX_COLS) {
                        set_err(err, line, col, "more than %d columns in one row", CSV_MAX_COLS);
                        r = -EINVAL;
                        goto fail;
                }
                if (i < len && data[i] == '"') {
                        int q_line = line, q_col = col;
                        i++; col++;
                        cell_col = col;
                        for (;;) {
                                if (i >= len) {
                                        set_err(err, q_line, q_col,
                                                "quoted cell is never closed (missing '\"')");
                                        r = -EINVAL;
                                        goto fail;
                                }
                                if (data[i] == '"') {
                                        if (i + 1 < len && data[i + 1] == '"') {
                                                *out++ = '"';
                                                i += 2; col += 2;
                                                continue;
                                        }
                                        i++; col++;
                                        break;
                                }
                                if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
                                        i++;  /* CRLF inside a cell is one line break */
                                        continue;
                                }
                                if (data[i] == '\n') {
                                        line++;
                                        col = 1;
                                } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
                                        col++;
                                }
                                *out++ = data[i++];
                        }
                        /* After the closing quote only a separator may follow
                         * (spaces are tolerated, Excel never writes them). */
                        while (i < len && (data[i] == ' ' || data[i] == '\t')) {
                                i++; col++;
                        }
                        if (i < len && data[i] != ',' && data[i] != '\n' && data[i] != '\r') {
                                set_err(err, line, col,
                                        "unexpected text after a closing quote; "
                                        "write a quote inside a quoted cell as \"\"");
                                r = -EINVAL;
                                goto fail;
                        }
                } else {
                        while (i < len && data[i] != ',' && data[i] != '\n' && data[i] != '\r') {
                                if (((unsigned char)data[i] & 0xc0) != 0x80)
                                        col++;
                                *out++ = data[i++];
                        }
                }
                if ((size_t)(out - start) > CSV_MAX_CELL) {
                        set_err(err, cell_line, cell_col, "cell is longer than %u KiB",
                                CSV_MAX_CELL >> 10);
                        r = -EINVAL;
                        goto fail;
                }
                *out++ = '\0';
                if (push_cell(&b, start, (size_t)(out - start - 1), cell_line, cell_col) < 0)
                        goto fail;

                /* Separator. */
                if (i < len && data[i] == ',') {
                        i++; col++;
                        continue;
                }
                if (i < len && data[i] == '\r') {
                        i++;
                        if (i < len && data[i] == '\n')
                                i++;
                } else if (i < len && data[i] == '\n') {
                        i++;
                } else {
                        i++;  /* end of data: leave the loop after this row */
                }
                if (end_row(&b, row_line) < 0)
                        goto fail;
                if (b.nrows > CSV_MAX_ROWS) {
                        set_err(err, line, 1, "more than %d rows", CSV_MAX_ROWS);
                        r = -EINVAL;
                        goto fail;
                }
                line++;
                col = 1;
                if (i == len)
                        break;
        }

        c = calloc(1, sizeof *c);
        if (!c)
                goto fail;
        for (size_t k = 0; k < b.nrows; k++)
                b.rows[k].cells = b.cells + (uintptr_t)b.rows[k].cells;
        c->arena = arena;
        c->cells = b.cells;
        c->rows = b.rows;
        c->nrows = b.nrows;
        *ret = c;
        return 0;

fail:
        if (r == -ENOMEM)
                set_err(err, line, col, "out of memory");
        free(arena);
        free(b.cells);
        free(b.rows);
        return r;
}

int csv_decode(const char *data, size_t len, csv **ret, struct csv_error *err)
{
        const char *p = data;
        char *conv = NULL;
        size_t plen = len;
        bool converted = false;
        int r;

        if (plen >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
                p += 3;
                plen -= 3;
        }
        if (len >= 2 && (memcmp(data, "\xff\xfe", 2) == 0 || memcmp(data, "\xfe\xff", 2) == 0)) {
                set_err(err, 0, 0, "the file is UTF-16 (Excel's \"Unicode text\"); "
                        "open it in Excel or WPS and save it as \"CSV UTF-8\"");
                return -EINVAL;
        }
        if (memchr(p, '\0', plen)) {
                set_err(err, 0, 0, "the file contains NUL bytes, so it is not a CSV text file "
                        "(a renamed .xls or .xlsx?); open it in Excel or WPS and save it as \"CSV UTF-8\"");
                return -EINVAL;
        }
        if (!utf8_valid(p, plen)) {
                size_t clen;
                r = port_gb18030_to_utf8(data, len, &conv, &clen);
                if (r == -ENOMEM) {
                        set_err(err, 0, 0, "out of memory");
                        return r;
                }
                if (r < 0 || !utf8_valid(conv, clen) || memchr(conv, '\0', clen)) {
                        free(conv);
                        set_err(err, 0, 0,
                                "the file is neither UTF-8 nor GB18030/GBK text; "
                                "open it in Excel or WPS and save it as \"CSV UTF-8\"");
                        return -EINVAL;
                }
                p = conv;
                plen = clen;
                converted = true;
        }
        r = csv_parse(p, plen, ret, err);
        free(conv);
        if (r == 0)
                (*ret)->converted = converted;
        return r;
}

int csv_load_file(const char *path, csv **ret, struct csv_error *err)
{
        struct stat st;
        char *data;
        size_t len = 0;
        int fd, r;

        fd = port_open_read(path);
        if (fd < 0) {
                r = -errno;
                set_err(err, 0, 0, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                set_err(err, 0, 0, "not a regular file");
                return -EINVAL;
        }
        if ((unsigned long long)st.st_size > CSV_MAX_FILE) {
                close(fd);
                set_err(err, 0, 0, "file is larger than %u MiB", CSV_MAX_FILE >> 20);
                return -EFBIG;
        }
        data = malloc((size_t)st.st_size + 1);
        if (!data) {
                close(fd);
                set_err(err, 0, 0, "out of memory");
                return -ENOMEM;
        }
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        close(fd);
                        free(data);
                        set_err(err, 0, 0, "read error: %s", strerror(-r));
                        return r;
                }
                len += (size_t)n;
        }
        close(fd);
        r = csv_decode(data, len, ret, err);
        free(data);
        return r;
}
