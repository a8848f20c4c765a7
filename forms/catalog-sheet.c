/* One sheet of the catalogue as the loader reads it: the header mapped to
 * the columns a sheet has (a missing, doubled or unknown column is
 * reported), cells trimmed and positioned, the parsers of cell values,
 * and the diagnostics every check records. See catalog-int.h and
 * docs/catalog.md ("Files and encoding"). */
#include "forms/catalog-int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- diagnostics ------------------------------------------------------ */

int cat_map_put(catalog *cat, struct map *m, const char *key, void *val)
{
        int r = cat_map_add(m, key, val);

        if (r == -ENOMEM)
                cat->arena.oom = true;
        return r;
}

void cat_diagf(catalog *cat, enum cat_severity sev, const char *sheet, int line, int col,
               const char *fmt_zh, const char *fmt_en, ...)
{
        struct cat_diag *d;
        char zh[512], en[512], path[1024];
        va_list ap, ap2;

        va_start(ap, fmt_en);
        va_copy(ap2, ap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(zh, sizeof zh, fmt_zh, ap);
#pragma GCC diagnostic pop
        vsnprintf(en, sizeof en, fmt_en, ap2);
        va_end(ap2);
        va_end(ap);
        snprintf(path, sizeof path, "%s/%s", cat->dir, sheet);

        d = cat_vec_push(&cat->diags);
        if (!d) {
                cat->arena.oom = true;
                return;
        }
        d->severity = sev;
        d->file = cat_arena_strndup(&cat->arena, path, strlen(path));
        d->line = line;
        d->col = col;
        d->msg_zh = cat_arena_strndup(&cat->arena, zh, strlen(zh));
        d->msg_en = cat_arena_strndup(&cat->arena, en, strlen(en));
        if (sev == CAT_ERROR)
                cat->nerrors++;
}

void cat_index_code(catalog *cat, struct map *m, const char *code, void *row, const struct cat_pos *pos,
                    const char *what_zh, const char *what_en)
{
        /* both formats read one argument list: %.0s skips the other
         * language's name */
        if (cat_map_put(cat, m, code, row) == -EEXIST)
                cat_diagf(cat, CAT_ERROR, pos->sheet, pos->line, pos->col,
                          "%s%.0s“%s”重复", "duplicate %.0s%s '%s'", what_zh, what_en, code);
}

/* ---- sheets ----------------------------------------------------------- */

static bool is_space_at(const char *s, size_t len, size_t i, size_t *ret_w)
{
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
                *ret_w = 1;
                return true;
        }
        if (len - i >= 3 && memcmp(s + i, "\xe3\x80\x80", 3) == 0) {
                *ret_w = 3;
                return true;
        }
        return false;
}

struct cell cat_get_cell(catalog *cat, const struct sheet *sh, const struct csv_row *row, int k)
{
        struct cell c = { "", 0, row->line, 1 };
        int idx = sh->col[k];
        size_t b = 0, e, w;
        const struct csv_cell *cc;

        if (idx < 0 || (size_t)idx >= row->ncells)
                return c;
        cc = &row->cells[idx];
        c.line = cc->line;
        c.col = cc->col;
        e = cc->len;
        while (b < e && is_space_at(cc->text, e, b, &w)) {
                b += w;
                c.col++;
        }
        while (e > b) {
                if (cc->text[e - 1] == ' ' || cc->text[e - 1] == '\t' ||
                    cc->text[e - 1] == '\r' || cc->text[e - 1] == '\n')
                        e--;
                else if (e - b >= 3 && memcmp(cc->text + e - 3, "\xe3\x80\x80", 3) == 0)
                        e -= 3;
                else
                        break;
        }
        c.len = e - b;
        c.s = cat_arena_strndup(&cat->arena, cc->text + b, c.len);
        if (!c.s)
                c.s = "";
        return c;
}

char *cat_cell_str(catalog *cat, const struct cell *c)
{
        return c->len ? (char *)c->s : NULL;
}

bool cat_sheet_load(catalog *cat, struct sheet *sh, const char *name, const char *const *cols)
{
        char path[1024];
        struct csv_error err = { 0 };
        const struct csv_row *hdr;
        bool ok = true;

        memset(sh, 0, sizeof *sh);
        sh->name = name;
        for (size_t k = 0; k < 16; k++)
                sh->col[k] = -1;
        snprintf(path, sizeof path, "%s/%s", cat->dir, name);
        int lr = csv_load_file(path, &sh->csv, &err);
        if (lr == -ENOMEM) {
                cat->arena.oom = true;
                return false;
        }
        if (lr < 0) {
                cat_diagf(cat, CAT_ERROR, name, err.line, err.col, "无法读取：%s", "cannot read: %s", err.msg);
                return false;
        }
        if (csv_was_converted(sh->csv))
                cat_diagf(cat, CAT_WARNING, name, 0, 0,
                          "该文件不是 UTF-8 编码，已按 GB18030/GBK 转换读取；请在 Excel 或 WPS 中“另存为”并选择“CSV UTF-8”格式",
                          "%s", "the file is not UTF-8; it was read as GB18030/GBK. "
                          "In Excel or WPS use \"Save As\" and choose \"CSV UTF-8\"");
        hdr = csv_row(sh->csv, 0);
        if (!hdr) {
                cat_diagf(cat, CAT_ERROR, name, 1, 1, "工作表为空，缺少表头行", "%s",
                          "the sheet is empty: the header row is missing");
                return false;
        }
        for (sh->ncols = 0; cols[sh->ncols]; sh->ncols++)
                ;
        for (size_t i = 0; i < hdr->ncells; i++) {
                const struct csv_cell *hc = &hdr->cells[i];
                bool known = false;
                for (size_t k = 0; k < sh->ncols; k++) {
                        const char *cn = cols[k][0] == '?' ? cols[k] + 1 : cols[k];
                        if (strcmp(hc->text, cn) == 0) {
                                if (sh->col[k] >= 0)
                                        cat_diagf(cat, CAT_ERROR, name, hc->line, hc->col,
                                                  "表头列“%s”重复", "column '%s' appears twice in the header", cn);
                                sh->col[k] = (int)i;
                                known = true;
                        }
                }
                if (!known && hc->len)
                        cat_diagf(cat, CAT_WARNING, name, hc->line, hc->col,
                                  "未知的列“%s”，已忽略", "unknown column '%s' is ignored", hc->text);
        }
        for (size_t k = 0; k < sh->ncols; k++) {
                if (sh->col[k] < 0 && cols[k][0] != '?') {
                        cat_diagf(cat, CAT_ERROR, name, hdr->line, 1,
                                  "缺少列“%s”", "missing column '%s' in the header", cols[k]);
                        ok = false;
                }
        }
        /* Cells to the right of the header are a shifted row. */
        for (size_t r = 1; r < csv_nrows(sh->csv); r++) {
                const struct csv_row *row = csv_row(sh->csv, r);
                if (row->ncells > hdr->ncells) {
                        const struct csv_cell *x = &row->cells[hdr->ncells];
                        cat_diagf(cat, CAT_ERROR, name, x->line, x->col,
                                  "此行的单元格比表头多（是否多了一个逗号？）",
                                  "%s", "this row has more cells than the header (a stray comma?)");
                }
        }
        return ok;
}

void cat_sheet_free(struct sheet *sh)
{
        csv_free(sh->csv);
        sh->csv = NULL;
}

/* ---- cell parsers --------------------------------------------------- */

int cat_parse_bool(const char *s, bool dflt, bool *ret)
{
        static const char *const yes[] = { "yes", "y", "true", "1", "是", NULL };
        static const char *const no[] = { "no", "n", "false", "0", "否", NULL };

        if (!*s) {
                *ret = dflt;
                return 0;
        }
        for (size_t i = 0; yes[i]; i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; no[i]; i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

int cat_parse_int(const char *s, int lo, int hi, int *ret)
{
        long v = 0;

        if (!*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                v = v * 10 + (*p - '0');
                if (v > hi)
                        return -ERANGE;
        }
        if (v < lo)
                return -ERANGE;
        *ret = (int)v;
        return 0;
}

enum cat_level cat_parse_level(const char *s)
{
        if (strcmp(s, "county") == 0)
                return LEVEL_COUNTY;
        if (strcmp(s, "township") == 0)
                return LEVEL_TOWNSHIP;
        if (strcmp(s, "village") == 0)
                return LEVEL_VILLAGE;
        return LEVEL_NONE;
}

bool cat_is_name(const char *s)
{
        if (!(isalpha((unsigned char)*s) || *s == '_'))
                return false;
        for (s++; *s; s++)
                if (!(isalnum((unsigned char)*s) || *s == '_'))
                        return false;
        return true;
}

bool cat_is_code(const char *s)
{
        size_t n = 0;

        for (; *s; s++, n++)
                if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return n > 0 && n <= 64;
}
