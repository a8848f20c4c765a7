/* Loading and checking the county catalogue: see catalog.h and
 * docs/catalog.md, which lists every sheet, column and rule.
 *
 * The loader never stops at the first problem: each sheet is read in
 * full, every row that can be understood is kept, and every problem is
 * recorded as a diagnostic with file, line and column, because an admin
 * fixing a spreadsheet wants the whole list at once. Rows with errors are
 * skipped so later checks do not pile consequential errors on top.
 *
 * Memory: everything the model points to lives in one arena owned by the
 * catalogue (freed at once); parsed expressions are freed one by one. */
#include "forms/catalog.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/applicant.h"
#include "forms/csv.h"

/* ---- arena -------------------------------------------------------- */

struct arena_block {
        struct arena_block *next;
        size_t used, size;
        max_align_t data[];
};

struct arena {
        struct arena_block *head;
        bool oom;
};

static void *arena_alloc(struct arena *a, size_t n)
{
        struct arena_block *b = a->head;

        n = (n + 15) & ~(size_t)15;
        if (!b || b->size - b->used < n) {
                size_t size = n > 65536 ? n : 65536;
                b = malloc(sizeof *b + size);
                if (!b) {
                        a->oom = true;
                        return NULL;
                }
                b->next = a->head;
                b->used = 0;
                b->size = size;
                a->head = b;
        }
        void *p = (char *)b->data + b->used;
        b->used += n;
        memset(p, 0, n);
        return p;
}

/* A copy of s in the arena. Out of memory, it returns an empty string
 * and marks the arena: the loader then goes on harmlessly to its end,
 * where catalog_load sees the mark and fails with -ENOMEM. */
static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
        static char empty[1];
        char *p = arena_alloc(a, n + 1);

        if (!p)
                return empty;
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

static void *arena_dup(struct arena *a, const void *src, size_t n)
{
        void *p = n ? arena_alloc(a, n) : NULL;

        if (p)
                memcpy(p, src, n);
        return p;
}

static void arena_free(struct arena *a)
{
        while (a->head) {
                struct arena_block *n = a->head->next;
                free(a->head);
                a->head = n;
        }
}

/* ---- a string-keyed hash map (open addressing) --------------------- */

struct map {
        const char **keys;
        void **vals;
        size_t n, cap;
};

static uint64_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ull;   /* FNV-1a */

        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211ull;
        return h;
}

static void *map_get(const struct map *m, const char *key)
{
        if (!m->cap)
                return NULL;
        for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (!m->keys[i])
                        return NULL;
                if (strcmp(m->keys[i], key) == 0)
                        return m->vals[i];
        }
}

/* Insert key (borrowed, must outlive the map). Returns 0, -EEXIST, -ENOMEM. */
static int map_put(struct map *m, const char *key, void *val)
{
        if ((m->n + 1) * 2 > m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                struct map nm = { calloc(cap, sizeof(char *)), calloc(cap, sizeof(void *)), 0, cap };
                if (!nm.keys || !nm.vals) {
                        free(nm.keys);
                        free(nm.vals);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < m->cap; i++)
                        if (m->keys[i])
                                map_put(&nm, m->keys[i], m->vals[i]);
                free(m->keys);
                free(m->vals);
                *m = nm;
        }
        size_t i = hash_str(key) & (m->cap - 1);
        for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
                if (strcmp(m->keys[i], key) == 0)
                        return -EEXIST;
        m->keys[i] = key;
        m->vals[i] = val;
        m->n++;
        return 0;
}

static void map_free(struct map *m)
{
        free(m->keys);
        free(m->vals);
        memset(m, 0, sizeof *m);
}

/* ---- growable vectors ------------------------------------------------ */

struct vec {
        void *v;
        size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 8;
                void *nv = realloc(v->v, cap * v->size);
                if (!nv)
                        return NULL;
                v->v = nv;
                v->cap = cap;
        }
        void *p = (char *)v->v + v->n++ * v->size;
        memset(p, 0, v->size);
        return p;
}

/* Undo the last vec_push (when a push that goes with it failed). */
static void vec_unpush(struct vec *v, const void *p)
{
        if (p)
                v->n--;
}

#define VEC(type) { NULL, 0, 0, sizeof(type) }

/* ---- the catalogue ---------------------------------------------------- */

struct catalog {
        char *dir;
        struct arena arena;
        struct vec diags;                   /* struct cat_diag */
        size_t nerrors;

        struct cat_division *divisions;
        size_t ndivisions;
        struct cat_material *materials;
        size_t nmaterials;
        struct cat_list *lists;
        size_t nlists;
        struct cat_matter *matters;
        size_t nmatters;
        struct cat_bundle *bundles;
        size_t nbundles;
        size_t nfields;
        calendar *cal;
        struct vec exprs;                   /* expr *, for freeing */

        struct map by_division, by_material, by_list, by_matter, by_bundle;
};

/* Both messages take the same arguments: the compiler checks them
 * against the English format; the Chinese one must use the same
 * conversions in the same order (tests/test-catalog.c compares them). */
static void diag(catalog *cat, enum cat_severity sev, const char *sheet, int line, int col,
                 const char *fmt_zh, const char *fmt_en, ...)
        __attribute__((format(printf, 7, 8)));

/* map_put into one of the catalogue's maps, noting out of memory. */
static int cat_map_put(catalog *cat, struct map *m, const char *key, void *val)
{
        int r = map_put(m, key, val);

        if (r == -ENOMEM)
                cat->arena.oom = true;
        return r;
}

static void diag(catalog *cat, enum cat_severity sev, const char *sheet, int line, int col,
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

        d = vec_push(&cat->diags);
        if (!d) {
                cat->arena.oom = true;
                return;
        }
        d->severity = sev;
        d->file = arena_strndup(&cat->arena, path, strlen(path));
        d->line = line;
        d->col = col;
        d->msg_zh = arena_strndup(&cat->arena, zh, strlen(zh));
        d->msg_en = arena_strndup(&cat->arena, en, strlen(en));
        if (sev == CAT_ERROR)
                cat->nerrors++;
}

#define ERR(cat, cell_, sheet, zh, en, ...) \
        diag(cat, CAT_ERROR, sheet, (cell_)->line, (cell_)->col, zh, en, ##__VA_ARGS__)
#define WARN(cat, cell_, sheet, zh, en, ...) \
        diag(cat, CAT_WARNING, sheet, (cell_)->line, (cell_)->col, zh, en, ##__VA_ARGS__)

/* ---- sheets ----------------------------------------------------------- */

/* A loaded sheet with its header mapped to the columns we know. */
struct sheet {
        const char *name;
        csv *csv;
        int col[16];            /* index of each known column, -1 if absent */
        size_t ncols;
};

/* A cell of row r, column k (one of the sheet's known columns), trimmed of
 * surrounding white space (ASCII and the full-width space U+3000). An
 * absent cell is empty, positioned at the row's line. */
struct cell {
        const char *s;          /* arena copy, NUL-terminated */
        size_t len;
        int line, col;
};

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

static struct cell get_cell(catalog *cat, const struct sheet *sh, const struct csv_row *row, int k)
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
        c.s = arena_strndup(&cat->arena, cc->text + b, c.len);
        if (!c.s)
                c.s = "";
        return c;
}

static char *cell_str(catalog *cat, const struct cell *c)
{
        return c->len ? (char *)c->s : NULL;
}

/* Load sheet `name` from the catalogue folder. cols lists the known
 * columns; those marked with a leading '?' are optional. Returns false
 * when the sheet cannot be used at all (a diagnostic says why). */
static bool sheet_load(catalog *cat, struct sheet *sh, const char *name, const char *const *cols)
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
                diag(cat, CAT_ERROR, name, err.line, err.col, "无法读取：%s", "cannot read: %s", err.msg);
                return false;
        }
        if (csv_was_converted(sh->csv))
                diag(cat, CAT_WARNING, name, 0, 0,
                     "该文件不是 UTF-8 编码，已按 GB18030/GBK 转换读取；请在 Excel 或 WPS 中“另存为”并选择“CSV UTF-8”格式",
                     "%s", "the file is not UTF-8; it was read as GB18030/GBK. "
                     "In Excel or WPS use \"Save As\" and choose \"CSV UTF-8\"");
        hdr = csv_row(sh->csv, 0);
        if (!hdr) {
                diag(cat, CAT_ERROR, name, 1, 1, "工作表为空，缺少表头行", "%s",
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
                                        diag(cat, CAT_ERROR, name, hc->line, hc->col,
                                             "表头列“%s”重复", "column '%s' appears twice in the header", cn);
                                sh->col[k] = (int)i;
                                known = true;
                        }
                }
                if (!known && hc->len)
                        diag(cat, CAT_WARNING, name, hc->line, hc->col,
                             "未知的列“%s”，已忽略", "unknown column '%s' is ignored", hc->text);
        }
        for (size_t k = 0; k < sh->ncols; k++) {
                if (sh->col[k] < 0 && cols[k][0] != '?') {
                        diag(cat, CAT_ERROR, name, hdr->line, 1,
                             "缺少列“%s”", "missing column '%s' in the header", cols[k]);
                        ok = false;
                }
        }
        /* Cells to the right of the header are a shifted row. */
        for (size_t r = 1; r < csv_nrows(sh->csv); r++) {
                const struct csv_row *row = csv_row(sh->csv, r);
                if (row->ncells > hdr->ncells) {
                        const struct csv_cell *x = &row->cells[hdr->ncells];
                        diag(cat, CAT_ERROR, name, x->line, x->col,
                             "此行的单元格比表头多（是否多了一个逗号？）",
                             "%s", "this row has more cells than the header (a stray comma?)");
                }
        }
        return ok;
}

static void sheet_free(struct sheet *sh)
{
        csv_free(sh->csv);
        sh->csv = NULL;
}

/* ---- cell parsers --------------------------------------------------- */

static int parse_bool(const char *s, bool dflt, bool *ret)
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

static int parse_int(const char *s, int lo, int hi, int *ret)
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

static enum cat_level parse_level(const char *s)
{
        if (strcmp(s, "county") == 0)
                return LEVEL_COUNTY;
        if (strcmp(s, "township") == 0)
                return LEVEL_TOWNSHIP;
        if (strcmp(s, "village") == 0)
                return LEVEL_VILLAGE;
        return LEVEL_NONE;
}

static bool is_name(const char *s)
{
        if (!(isalpha((unsigned char)*s) || *s == '_'))
                return false;
        for (s++; *s; s++)
                if (!(isalnum((unsigned char)*s) || *s == '_'))
                        return false;
        return true;
}

/* Codes: ASCII letters, digits, '-', '_' and '.'; 1..64 bytes. */
static bool is_code(const char *s)
{
        size_t n = 0;

        for (; *s; s++, n++)
                if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return n > 0 && n <= 64;
}

const char *cat_level_name(enum cat_level l)
{
        switch (l) {
        case LEVEL_COUNTY: return "county";
        case LEVEL_TOWNSHIP: return "township";
        case LEVEL_VILLAGE: return "village";
        default: return "none";
        }
}

const char *cat_level_name_zh(enum cat_level l)
{
        switch (l) {
        case LEVEL_COUNTY: return "县";
        case LEVEL_TOWNSHIP: return "乡镇";
        case LEVEL_VILLAGE: return "村";
        default: return "无";
        }
}

const char *cat_mkind_name(enum cat_mkind k)
{
        static const char *const n[] = { "original", "copy", "scan", "commitment" };
        return (unsigned)k < 4 ? n[k] : "?";
}

const char *cat_mkind_name_zh(enum cat_mkind k)
{
        static const char *const n[] = { "原件", "复印件", "扫描件", "承诺书" };
        return (unsigned)k < 4 ? n[k] : "?";
}

/* ---- divisions.csv ------------------------------------------------------ */

static void load_divisions(catalog *cat)
{
        static const char *const cols[] = { "code", "name", "level", "parent", "?phone", NULL };
        enum { C_CODE, C_NAME, C_LEVEL, C_PARENT, C_PHONE };
        struct sheet sh;
        struct vec v = VEC(struct cat_division);
        struct vec parents = VEC(struct cell);
        size_t ncounty = 0;

        if (!sheet_load(cat, &sh, "divisions.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = get_cell(cat, &sh, row, C_CODE);
                struct cell name = get_cell(cat, &sh, row, C_NAME);
                struct cell level = get_cell(cat, &sh, row, C_LEVEL);
                struct cell parent = get_cell(cat, &sh, row, C_PARENT);
                struct cell phone = get_cell(cat, &sh, row, C_PHONE);
                enum cat_level l = parse_level(level.s);
                size_t want;
                bool ok = true;

                if (l == LEVEL_NONE) {
                        ERR(cat, &level, sh.name, "未知的区划层级“%s”（应为 county、township 或 village）",
                            "unknown division level '%s' (use county, township or village)", level.s);
                        ok = false;
                }
                want = l == LEVEL_COUNTY ? 6 : l == LEVEL_TOWNSHIP ? 9 : 12;
                bool digits = code.len > 0;
                for (size_t i = 0; i < code.len; i++)
                        digits = digits && isdigit((unsigned char)code.s[i]);
                if (!digits || (l != LEVEL_NONE && code.len != want)) {
                        ERR(cat, &code, sh.name, "区划代码“%s”无效：%s级应为 %zu 位数字",
                            "division code '%s' is invalid: a %s code has %zu digits",
                            code.s, l ? cat_level_name_zh(l) : "?", want);
                        ok = false;
                }
                if (!name.len) {
                        ERR(cat, &name, sh.name, "区划名称为空", "%s", "the division name is empty");
                        ok = false;
                }
                if (phone.len && ftype_check(FT_PHONE, phone.s, 0)) {
                        ERR(cat, &phone, sh.name, "电话“%s”无效（手机 11 位，或区号-号码，如 0574-65123456）",
                            "phone '%s' is invalid (a mobile number, or area code-number such as 0574-65123456)",
                            phone.s);
                        ok = false;
                }
                if (!ok)
                        continue;
                struct cat_division *d = vec_push(&v);
                struct cell *pc = vec_push(&parents);
                if (!d || !pc) {
                        vec_unpush(&v, d);
                        vec_unpush(&parents, pc);
                        cat->arena.oom = true;
                        break;
                }
                d->code = (char *)code.s;
                d->name = (char *)name.s;
                d->level = l;
                d->phone = cell_str(cat, &phone);
                d->pos = (struct cat_pos){ sh.name, code.line, code.col };
                *pc = parent;
                if (l == LEVEL_COUNTY)
                        ncounty++;
        }
        cat->divisions = arena_dup(&cat->arena, v.v, v.n * v.size);
        cat->ndivisions = cat->divisions ? v.n : 0;
        for (size_t i = 0; i < cat->ndivisions; i++) {
                struct cat_division *d = &cat->divisions[i];
                if (cat_map_put(cat, &cat->by_division, d->code, d) == -EEXIST)
                        diag(cat, CAT_ERROR, sh.name, d->pos.line, d->pos.col,
                             "区划代码“%s”重复", "duplicate division code '%s'", d->code);
        }
        for (size_t i = 0; i < cat->ndivisions; i++) {
                struct cat_division *d = &cat->divisions[i];
                struct cell *pc = &((struct cell *)parents.v)[i];
                const struct cat_division *p;

                if (d->level == LEVEL_COUNTY) {
                        if (pc->len)
                                ERR(cat, pc, sh.name, "县级区划不应有上级", "%s",
                                    "a county has no parent");
                        continue;
                }
                p = pc->len ? map_get(&cat->by_division, pc->s) : NULL;
                if (!p) {
                        ERR(cat, pc, sh.name, "上级区划“%s”不存在", "parent division '%s' does not exist",
                            pc->s);
                } else if (p->level != d->level - 1) {
                        ERR(cat, pc, sh.name, "上级区划“%s”是%s级，应为%s级",
                            "parent '%s' is a %s, expected a %s", pc->s,
                            cat_level_name(p->level), cat_level_name(d->level - 1));
                } else if (strncmp(p->code, d->code, strlen(p->code)) != 0) {
                        ERR(cat, pc, sh.name, "区划代码“%s”与上级“%s”不相符（应以上级代码开头）",
                            "division code '%s' does not start with its parent's code '%s'",
                            d->code, p->code);
                } else {
                        d->parent = p;
                }
        }
        if (ncounty != 1 && sh.csv)
                diag(cat, CAT_ERROR, sh.name, 0, 0, "应有且只有一个县级区划（现有 %zu 个）",
                     "there must be exactly one county (found %zu)", ncounty);
out:
        free(v.v);
        free(parents.v);
        sheet_free(&sh);
}

/* ---- materials.csv ------------------------------------------------------ */

static void load_materials(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", NULL };
        struct sheet sh;
        struct vec v = VEC(struct cat_material);

        if (!sheet_load(cat, &sh, "materials.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = get_cell(cat, &sh, row, 0);
                struct cell zh = get_cell(cat, &sh, row, 1);
                struct cell en = get_cell(cat, &sh, row, 2);

                if (!is_code(code.s)) {
                        ERR(cat, &code, sh.name, "材料代码“%s”无效（只能用字母、数字、-、_、.）",
                            "material code '%s' is invalid (letters, digits, - _ . only)", code.s);
                        continue;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "材料“%s”缺少中文名称", "material '%s' has no Chinese name",
                            code.s);
                        continue;
                }
                struct cat_material *m = vec_push(&v);
                if (!m) {
                        cat->arena.oom = true;
                        break;
                }
                m->code = (char *)code.s;
                m->name_zh = (char *)zh.s;
                m->name_en = en.len ? (char *)en.s : m->name_zh;
                m->pos = (struct cat_pos){ sh.name, code.line, code.col };
        }
        cat->materials = arena_dup(&cat->arena, v.v, v.n * v.size);
        cat->nmaterials = cat->materials ? v.n : 0;
        for (size_t i = 0; i < cat->nmaterials; i++) {
                struct cat_material *m = &cat->materials[i];
                if (cat_map_put(cat, &cat->by_material, m->code, m) == -EEXIST)
                        diag(cat, CAT_ERROR, sh.name, m->pos.line, m->pos.col,
                             "材料代码“%s”重复", "duplicate material code '%s'", m->code);
        }
out:
        free(v.v);
        sheet_free(&sh);
}

/* ---- choices.csv ---------------------------------------------------------- */

static void load_choices(catalog *cat)
{
        static const char *const cols[] = { "list", "value", "label_zh", "label_en", NULL };
        struct sheet sh;
        struct vec lists = VEC(struct cat_list);
        struct vec items = VEC(struct vec);   /* one vec of cat_choice per list */
        struct map idx = { 0 };

        if (!sheet_load(cat, &sh, "choices.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell list = get_cell(cat, &sh, row, 0);
                struct cell value = get_cell(cat, &sh, row, 1);
                struct cell zh = get_cell(cat, &sh, row, 2);
                struct cell en = get_cell(cat, &sh, row, 3);
                struct vec *iv;
                size_t li;

                if (!is_name(list.s)) {
                        ERR(cat, &list, sh.name, "选项列表名“%s”无效（字母开头，只含字母、数字、_）",
                            "choice list name '%s' is invalid (a letter, then letters, digits, _)", list.s);
                        continue;
                }
                if (!value.len || strpbrk(value.s, " \t")) {
                        ERR(cat, &value, sh.name, "选项值“%s”无效：不能为空，也不能含空格",
                            "choice value '%s' is invalid: it must be non-empty without spaces", value.s);
                        continue;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "选项“%s”缺少中文标签", "choice '%s' has no Chinese label",
                            value.s);
                        continue;
                }
                void *found = map_get(&idx, list.s);
                if (found) {
                        li = (size_t)(uintptr_t)found - 1;
                } else {
                        struct cat_list *l = vec_push(&lists);
                        struct vec *nv = vec_push(&items);
                        if (!l || !nv || map_put(&idx, list.s, (void *)(uintptr_t)lists.n) < 0) {
                                vec_unpush(&lists, l);
                                vec_unpush(&items, nv);
                                cat->arena.oom = true;
                                break;
                        }
                        l->name = (char *)list.s;
                        l->pos = (struct cat_pos){ sh.name, list.line, list.col };
                        nv->size = sizeof(struct cat_choice);
                        li = lists.n - 1;
                }
                iv = &((struct vec *)items.v)[li];
                for (size_t k = 0; k < iv->n; k++)
                        if (strcmp(((struct cat_choice *)iv->v)[k].value, value.s) == 0) {
                                ERR(cat, &value, sh.name, "列表“%s”中选项值“%s”重复",
                                    "duplicate value '%s' in list '%s'", list.s, value.s);
                                goto next;
                        }
                struct cat_choice *c = vec_push(iv);
                if (!c) {
                        cat->arena.oom = true;
                        break;
                }
                c->value = (char *)value.s;
                c->label_zh = (char *)zh.s;
                c->label_en = en.len ? (char *)en.s : c->label_zh;
        next:;
        }
        cat->lists = arena_dup(&cat->arena, lists.v, lists.n * lists.size);
        cat->nlists = cat->lists ? lists.n : 0;
        for (size_t i = 0; i < cat->nlists; i++) {
                struct vec *iv = &((struct vec *)items.v)[i];
                cat->lists[i].items = arena_dup(&cat->arena, iv->v, iv->n * iv->size);
                cat->lists[i].nitems = cat->lists[i].items ? iv->n : 0;
                cat_map_put(cat, &cat->by_list, cat->lists[i].name, &cat->lists[i]);
        }
out:
        for (size_t i = 0; i < items.n; i++)
                free(((struct vec *)items.v)[i].v);
        free(items.v);
        free(lists.v);
        map_free(&idx);
        sheet_free(&sh);
}

/* ---- calendar.csv --------------------------------------------------------- */

static void load_calendar(catalog *cat)
{
        static const char *const cols[] = { "date", "kind", "name_zh", NULL };
        struct sheet sh;

        if (!sheet_load(cat, &sh, "calendar.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell date = get_cell(cat, &sh, row, 0);
                struct cell kind = get_cell(cat, &sh, row, 1);
                enum cal_kind k;
                int32_t day;
                int rc;

                if (cal_date_parse(date.s, &day) < 0) {
                        ERR(cat, &date, sh.name, "日期“%s”无效（格式为 YYYY-MM-DD，且须是真实的日期）",
                            "bad date '%s' (use YYYY-MM-DD, a real day)", date.s);
                        continue;
                }
                if (strcmp(kind.s, "holiday") == 0) {
                        k = CAL_HOLIDAY;
                } else if (strcmp(kind.s, "workday") == 0) {
                        k = CAL_WORKDAY;
                } else {
                        ERR(cat, &kind, sh.name, "日期类型“%s”无效（应为 holiday 或 workday）",
                            "unknown day kind '%s' (use holiday or workday)", kind.s);
                        continue;
                }
                if (k == CAL_WORKDAY && cal_weekday(day) <= 5)
                        WARN(cat, &kind, sh.name, "%s 本来就是工作日，调休上班标记无效果",
                             "%s is already a weekday; marking it a workday changes nothing", date.s);
                rc = cal_add(cat->cal, day, k);
                if (rc == -EEXIST)
                        ERR(cat, &date, sh.name, "日期“%s”重复", "duplicate date '%s'", date.s);
                else if (rc < 0)
                        cat->arena.oom = true;
        }
out:
        sheet_free(&sh);
}

/* ---- matters.csv ------------------------------------------------------------ */

static int parse_levels(const char *s, unsigned *ret)
{
        unsigned mask = 0;
        char buf[128];

        if (strlen(s) >= sizeof buf)
                return -EINVAL;
        strcpy(buf, s);
        for (char *save = NULL, *t = strtok_r(buf, ";；,", &save); t; t = strtok_r(NULL, ";；,", &save)) {
                while (*t == ' ')
                        t++;
                for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
                        *--e = '\0';
                enum cat_level l = parse_level(t);
                if (l == LEVEL_NONE)
                        return -EINVAL;
                mask |= 1u << l;
        }
        if (!mask)
                return -EINVAL;
        *ret = mask;
        return 0;
}

static void load_matters(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", "department", "type", "basis",
                                            "time_limit_days", "fee", "accept_at", "decide_at", "review_at",
                                            NULL };
        enum { C_CODE, C_ZH, C_EN, C_DEPT, C_TYPE, C_BASIS, C_LIMIT, C_FEE, C_ACCEPT, C_DECIDE, C_REVIEW };
        struct sheet sh;
        struct vec v = VEC(struct cat_matter);

        if (!sheet_load(cat, &sh, "matters.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[11];
                bool ok = true;
                int limit = 0;
                unsigned accept = 0;
                enum cat_level decide, review = LEVEL_NONE;

                for (int k = 0; k < 11; k++)
                        c[k] = get_cell(cat, &sh, row, k);
                if (!is_code(c[C_CODE].s)) {
                        ERR(cat, &c[C_CODE], sh.name, "事项编码“%s”无效（只能用字母、数字、-、_、.）",
                            "matter code '%s' is invalid (letters, digits, - _ . only)", c[C_CODE].s);
                        continue;
                }
                if (!c[C_ZH].len) {
                        ERR(cat, &c[C_ZH], sh.name, "事项缺少中文名称", "%s", "the matter has no Chinese name");
                        ok = false;
                }
                if (parse_int(c[C_LIMIT].s, 1, 3650, &limit) < 0) {
                        ERR(cat, &c[C_LIMIT], sh.name, "承诺时限“%s”无效：应为 1 到 3650 之间的工作日天数",
                            "time limit '%s' is invalid: use a number of working days from 1 to 3650",
                            c[C_LIMIT].s);
                        ok = false;
                }
                if (c[C_FEE].len && ftype_check(FT_MONEY, c[C_FEE].s, 0)) {
                        ERR(cat, &c[C_FEE], sh.name, "收费金额“%s”无效（应为金额，最多两位小数）",
                            "fee '%s' is invalid (an amount in yuan with at most two decimals)", c[C_FEE].s);
                        ok = false;
                }
                if (parse_levels(c[C_ACCEPT].s, &accept) < 0) {
                        ERR(cat, &c[C_ACCEPT], sh.name,
                            "受理层级“%s”无效（用 ; 分隔的 county、township、village）",
                            "accept_at '%s' is invalid (county;township;village, separated by ';')",
                            c[C_ACCEPT].s);
                        ok = false;
                }
                decide = parse_level(c[C_DECIDE].s);
                if (decide == LEVEL_NONE || decide == LEVEL_VILLAGE) {
                        ERR(cat, &c[C_DECIDE], sh.name, "决定层级“%s”无效（应为 county 或 township）",
                            "decide_at '%s' is invalid (use county or township)", c[C_DECIDE].s);
                        ok = false;
                }
                if (c[C_REVIEW].len) {
                        review = parse_level(c[C_REVIEW].s);
                        if (review == LEVEL_NONE || review == LEVEL_VILLAGE) {
                                ERR(cat, &c[C_REVIEW], sh.name, "初审层级“%s”无效（应为 township，或留空）",
                                    "review_at '%s' is invalid (use township, or leave it empty)",
                                    c[C_REVIEW].s);
                                ok = false;
                        } else if (ok && review <= decide) {
                                ERR(cat, &c[C_REVIEW], sh.name, "初审层级（%s）须低于决定层级（%s）",
                                    "review_at (%s) must be below decide_at (%s)",
                                    c[C_REVIEW].s, c[C_DECIDE].s);
                                ok = false;
                        }
                }
                if (ok) {
                        for (int l = LEVEL_COUNTY; l <= LEVEL_VILLAGE; l++)
                                if ((accept & (1u << l)) && l < (int)decide) {
                                        ERR(cat, &c[C_ACCEPT], sh.name,
                                            "受理层级 %s 高于决定层级 %s", "accept_at %s is above decide_at %s",
                                            cat_level_name(l), cat_level_name(decide));
                                        ok = false;
                                }
                }
                /* A row with a bad cell is still kept under its code (the
                 * catalogue is unusable anyway), so its fields and
                 * materials do not pile up "unknown matter" errors. */
                if (!ok && decide == LEVEL_NONE)
                        decide = LEVEL_COUNTY;
                struct cat_matter *m = vec_push(&v);
                if (!m) {
                        cat->arena.oom = true;
                        break;
                }
                m->code = (char *)c[C_CODE].s;
                m->name_zh = (char *)c[C_ZH].s;
                m->name_en = c[C_EN].len ? (char *)c[C_EN].s : m->name_zh;
                m->department = (char *)c[C_DEPT].s;
                m->type = (char *)c[C_TYPE].s;
                m->basis = (char *)c[C_BASIS].s;
                m->time_limit_days = limit;
                m->fee = c[C_FEE].len ? (char *)c[C_FEE].s : "0";
                m->accept_at = accept;
                m->decide_at = decide;
                m->review_at = review;
                m->pos = (struct cat_pos){ sh.name, c[C_CODE].line, c[C_CODE].col };
        }
        cat->matters = arena_dup(&cat->arena, v.v, v.n * v.size);
        cat->nmatters = cat->matters ? v.n : 0;
        for (size_t i = 0; i < cat->nmatters; i++) {
                struct cat_matter *m = &cat->matters[i];
                if (cat_map_put(cat, &cat->by_matter, m->code, m) == -EEXIST)
                        diag(cat, CAT_ERROR, sh.name, m->pos.line, m->pos.col,
                             "事项编码“%s”重复", "duplicate matter code '%s'", m->code);
        }
out:
        free(v.v);
        sheet_free(&sh);
}

/* ---- fields.csv ----------------------------------------------------------- */

#define MAX_FIELDS_PER_MATTER 500

/* Fields of one matter while its rows are read: a flat list in file order
 * with the index of each field's enclosing repeat (-1 at top level). */
struct fbuild {
        struct vec fields;      /* struct cat_field */
        struct vec parent;      /* int */
        int open;               /* index of the open begin_repeat, or -1 */
};


/* Line and column of byte offset `off` inside a cell that starts at pos. */
static struct cat_pos pos_in_cell(struct cat_pos pos, const char *src, size_t off)
{
        size_t line_start = 0;
        int extra_lines = 0;

        for (size_t i = 0; i < off && src[i]; i++)
                if (src[i] == '\n') {
                        extra_lines++;
                        line_start = i + 1;
                }
        pos.col = (extra_lines ? 1 : pos.col) + (int)utf8_length(src + line_start, off - line_start);
        pos.line += extra_lines;
        return pos;
}

static expr *parse_expr_cell(catalog *cat, const struct cell *c, const char *sheet, const char *what)
{
        struct expr_error err = { 0 };
        expr *e = NULL;
        int r;

        if (!c->len)
                return NULL;
        r = expr_parse(c->s, &e, &err);
        if (r == -ENOMEM) {
                cat->arena.oom = true;
                return NULL;
        }
        if (r < 0) {
                struct cat_pos p = pos_in_cell((struct cat_pos){ sheet, c->line, c->col }, c->s, err.offset);
                diag(cat, CAT_ERROR, sheet, p.line, p.col, "%s 表达式有误：%s", "bad %s expression: %s",
                     what, err.msg);
                return NULL;
        }
        expr **slot = vec_push(&cat->exprs);
        if (!slot) {
                expr_free(e);
                cat->arena.oom = true;
                return NULL;
        }
        *slot = e;
        return e;
}

/* fields.csv's role cell: applicant_name (a text field) or applicant_id
 * (an ID number, a credit code or text), at most one of each per matter.
 * Where in the form they may stand is checked on the built form
 * (check_applicant). */
static bool parse_role(catalog *cat, const struct sheet *sh, const struct cell *c, enum ftype t,
                       const struct fbuild *b, enum cat_role *ret)
{
        if (strcmp(c->s, "applicant_name") == 0 || strcmp(c->s, "申请人姓名") == 0)
                *ret = ROLE_APPLICANT_NAME;
        else if (strcmp(c->s, "applicant_id") == 0 || strcmp(c->s, "申请人证件号码") == 0)
                *ret = ROLE_APPLICANT_ID;
        else {
                ERR(cat, c, sh->name, "role 应为 applicant_name（申请人姓名）或 applicant_id（申请人证件号码），而不是“%s”",
                    "role must be applicant_name or applicant_id, not '%s'", c->s);
                return false;
        }
        if (*ret == ROLE_APPLICANT_NAME && t != FT_TEXT) {
                ERR(cat, c, sh->name, "申请人姓名须为 text 类型的字段%s", "the applicant's name must be a text field%s", "");
                return false;
        }
        if (*ret == ROLE_APPLICANT_ID && t != FT_ID_NUMBER && t != FT_USCC && t != FT_TEXT) {
                ERR(cat, c, sh->name, "申请人证件号码须为 id_number、uscc 或 text 类型的字段%s",
                    "the applicant's ID must be an id_number, uscc or text field%s", "");
                return false;
        }
        for (size_t k = 0; k < b->fields.n; k++) {
                const struct cat_field *o = &((const struct cat_field *)b->fields.v)[k];
                if (o->role == *ret) {
                        ERR(cat, c, sh->name, "本事项已有字段“%s”声明为 %s，每个事项只能有一个",
                            "field '%s' of this matter already has role %s; a matter has one", o->name, c->s);
                        return false;
                }
        }
        return true;
}

static void load_fields(catalog *cat)
{
        static const char *const cols[] = { "matter", "name", "type", "label_zh", "label_en", "required",
                                            "constraint", "constraint_msg_zh", "relevant", "choices",
                                            "hint_zh", "?min_rows", "?max_rows", "?role", NULL };
        enum { C_MATTER, C_NAME, C_TYPE, C_ZH, C_EN, C_REQ, C_CONS, C_MSG, C_REL, C_CHOICES, C_HINT,
               C_MIN, C_MAX, C_ROLE, C_N };
        struct sheet sh;
        struct fbuild *fb = calloc(cat->nmatters ? cat->nmatters : 1, sizeof *fb);

        if (!fb) {
                cat->arena.oom = true;
                return;
        }
        for (size_t i = 0; i < cat->nmatters; i++) {
                fb[i].fields.size = sizeof(struct cat_field);
                fb[i].parent.size = sizeof(int);
                fb[i].open = -1;
        }
        if (!sheet_load(cat, &sh, "fields.csv", cols))
                goto freeze;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[C_N];
                struct cat_matter *m;
                struct fbuild *b;
                enum ftype t;
                bool ok = true, req = false;

                for (int k = 0; k < C_N; k++)
                        c[k] = get_cell(cat, &sh, row, k);
                m = map_get(&cat->by_matter, c[C_MATTER].s);
                if (!m) {
                        ERR(cat, &c[C_MATTER], sh.name, "事项“%s”不存在（matters.csv 中没有此编码）",
                            "unknown matter '%s' (not in matters.csv)", c[C_MATTER].s);
                        continue;
                }
                b = &fb[m - cat->matters];
                if (ftype_from_name(c[C_TYPE].s, &t) < 0) {
                        ERR(cat, &c[C_TYPE], sh.name, "未知的字段类型“%s”", "unknown field type '%s'",
                            c[C_TYPE].s);
                        continue;
                }
                if (!is_name(c[C_NAME].s)) {
                        ERR(cat, &c[C_NAME], sh.name,
                            "字段名“%s”无效（字母或 _ 开头，只含字母、数字、_）",
                            "field name '%s' is invalid (a letter or _, then letters, digits, _)",
                            c[C_NAME].s);
                        continue;
                }
                if (t == FT_END_REPEAT) {
                        struct cat_field *open = b->open >= 0 ? &((struct cat_field *)b->fields.v)[b->open] : NULL;
                        if (!open)
                                ERR(cat, &c[C_TYPE], sh.name, "end_repeat 没有对应的 begin_repeat",
                                    "%s", "end_repeat without a matching begin_repeat");
                        else if (strcmp(open->name, c[C_NAME].s) != 0)
                                ERR(cat, &c[C_NAME], sh.name, "end_repeat“%s”与 begin_repeat“%s”不对应",
                                    "end_repeat '%s' does not match begin_repeat '%s'", c[C_NAME].s,
                                    open->name);
                        b->open = -1;
                        continue;
                }
                for (size_t k = 0; k < b->fields.n; k++)
                        if (strcmp(((struct cat_field *)b->fields.v)[k].name, c[C_NAME].s) == 0) {
                                ERR(cat, &c[C_NAME], sh.name, "事项“%s”中字段名“%s”重复",
                                    "duplicate field '%s' in matter '%s'", c[C_NAME].s, m->code);
                                ok = false;
                                break;
                        }
                if (b->fields.n >= MAX_FIELDS_PER_MATTER) {
                        ERR(cat, &c[C_NAME], sh.name, "一个事项最多 %d 个字段", "a matter has at most %d fields",
                            MAX_FIELDS_PER_MATTER);
                        ok = false;
                }
                if (!c[C_ZH].len) {
                        ERR(cat, &c[C_ZH], sh.name, "字段“%s”缺少中文标签", "field '%s' has no Chinese label",
                            c[C_NAME].s);
                        ok = false;
                }
                if (parse_bool(c[C_REQ].s, false, &req) < 0) {
                        ERR(cat, &c[C_REQ], sh.name, "required 应为 yes 或 no，而不是“%s”",
                            "required must be yes or no, not '%s'", c[C_REQ].s);
                        ok = false;
                }
                const struct cat_list *list = NULL;
                if (t == FT_SELECT_ONE || t == FT_SELECT_MULTIPLE) {
                        list = c[C_CHOICES].len ? map_get(&cat->by_list, c[C_CHOICES].s) : NULL;
                        if (!list) {
                                if (c[C_CHOICES].len)
                                        ERR(cat, &c[C_CHOICES], sh.name,
                                            "选项列表“%s”不存在（choices.csv 中没有）",
                                            "unknown choice list '%s' (not in choices.csv)", c[C_CHOICES].s);
                                else
                                        ERR(cat, &c[C_CHOICES], sh.name, "%s 字段“%s”须指定选项列表",
                                            "%s field '%s' needs a choice list", c[C_TYPE].s, c[C_NAME].s);
                                ok = false;
                        }
                } else if (c[C_CHOICES].len) {
                        WARN(cat, &c[C_CHOICES], sh.name, "%s 类型的字段不使用选项列表，已忽略",
                             "a %s field does not use a choice list; it is ignored", c[C_TYPE].s);
                }
                int minr = req ? 1 : 0, maxr = 50;
                if (t == FT_BEGIN_REPEAT) {
                        if (b->open >= 0) {
                                ERR(cat, &c[C_TYPE], sh.name, "不支持嵌套的重复组（“%s”尚未结束）",
                                    "nested repeats are not supported ('%s' is still open)",
                                    ((struct cat_field *)b->fields.v)[b->open].name);
                                ok = false;
                        }
                        if (c[C_MIN].len && parse_int(c[C_MIN].s, 0, CAT_REPEAT_MAX_ROWS, &minr) < 0) {
                                ERR(cat, &c[C_MIN], sh.name, "min_rows 应为 0 到 %d 的整数",
                                    "min_rows must be an integer from 0 to %d", CAT_REPEAT_MAX_ROWS);
                                ok = false;
                        }
                        if (c[C_MAX].len && parse_int(c[C_MAX].s, 1, CAT_REPEAT_MAX_ROWS, &maxr) < 0) {
                                ERR(cat, &c[C_MAX], sh.name, "max_rows 应为 1 到 %d 的整数",
                                    "max_rows must be an integer from 1 to %d", CAT_REPEAT_MAX_ROWS);
                                ok = false;
                        }
                        if (ok && minr > maxr) {
                                ERR(cat, &c[C_MIN], sh.name, "min_rows（%d）大于 max_rows（%d）",
                                    "min_rows (%d) is larger than max_rows (%d)", minr, maxr);
                                ok = false;
                        }
                } else if (c[C_MIN].len || c[C_MAX].len) {
                        struct cell *x = c[C_MIN].len ? &c[C_MIN] : &c[C_MAX];
                        ERR(cat, x, sh.name, "min_rows/max_rows 只用于 begin_repeat",
                            "%s", "min_rows/max_rows apply to begin_repeat only");
                        ok = false;
                }
                enum cat_role role = ROLE_NONE;
                if (c[C_ROLE].len && !parse_role(cat, &sh, &c[C_ROLE], t, b, &role))
                        ok = false;
                expr *cons = parse_expr_cell(cat, &c[C_CONS], sh.name, "constraint");
                expr *rel = parse_expr_cell(cat, &c[C_REL], sh.name, "relevant");
                if ((c[C_CONS].len && !cons) || (c[C_REL].len && !rel))
                        ok = false;
                if (!ok)
                        continue;

                struct cat_field *f = vec_push(&b->fields);
                int *par = vec_push(&b->parent);
                if (!f || !par) {
                        vec_unpush(&b->fields, f);
                        vec_unpush(&b->parent, par);
                        cat->arena.oom = true;
                        break;
                }
                f->name = (char *)c[C_NAME].s;
                f->type = t;
                f->label_zh = (char *)c[C_ZH].s;
                f->label_en = c[C_EN].len ? (char *)c[C_EN].s : f->label_zh;
                f->required = req;
                f->constraint_src = cell_str(cat, &c[C_CONS]);
                f->constraint = cons;
                f->constraint_msg_zh = cell_str(cat, &c[C_MSG]);
                f->relevant_src = cell_str(cat, &c[C_REL]);
                f->relevant = rel;
                f->choices = list;
                f->hint_zh = cell_str(cat, &c[C_HINT]);
                f->min_rows = minr;
                f->max_rows = maxr;
                f->role = role;
                f->pos = (struct cat_pos){ sh.name, c[C_NAME].line, c[C_NAME].col };
                f->constraint_pos = (struct cat_pos){ sh.name, c[C_CONS].line, c[C_CONS].col };
                f->relevant_pos = (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col };
                *par = b->open;
                if (t == FT_BEGIN_REPEAT)
                        b->open = (int)b->fields.n - 1;
        }
        for (size_t i = 0; i < cat->nmatters; i++)
                if (fb[i].open >= 0) {
                        struct cat_field *f = &((struct cat_field *)fb[i].fields.v)[fb[i].open];
                        diag(cat, CAT_ERROR, sh.name, f->pos.line, f->pos.col,
                             "重复组“%s”缺少 end_repeat", "repeat '%s' has no end_repeat", f->name);
                }

freeze:
        /* Top-level fields and each repeat's children become arena arrays. */
        for (size_t i = 0; i < cat->nmatters; i++) {
                struct cat_matter *m = &cat->matters[i];
                struct cat_field *all = fb[i].fields.v;
                int *par = fb[i].parent.v;
                size_t ntop = 0;

                for (size_t k = 0; k < fb[i].fields.n; k++)
                        ntop += par[k] < 0;
                m->fields = arena_alloc(&cat->arena, (ntop ? ntop : 1) * sizeof *m->fields);
                if (!m->fields)
                        break;
                for (size_t k = 0; k < fb[i].fields.n; k++) {
                        if (par[k] >= 0)
                                continue;
                        struct cat_field *f = &m->fields[m->nfields++];
                        *f = all[k];
                        if (f->type != FT_BEGIN_REPEAT)
                                continue;
                        size_t nch = 0;
                        for (size_t j = k + 1; j < fb[i].fields.n; j++)
                                nch += par[j] == (int)k;
                        f->children = arena_alloc(&cat->arena, (nch ? nch : 1) * sizeof *f->children);
                        if (!f->children)
                                break;
                        for (size_t j = k + 1; j < fb[i].fields.n; j++)
                                if (par[j] == (int)k)
                                        f->children[f->nchildren++] = all[j];
                        if (!nch)
                                diag(cat, CAT_ERROR, sh.name, f->pos.line, f->pos.col,
                                     "重复组“%s”中没有字段", "repeat '%s' has no fields", f->name);
                }
                cat->nfields += fb[i].fields.n;
                free(fb[i].fields.v);
                free(fb[i].parent.v);
        }
        free(fb);
        sheet_free(&sh);
}

/* ---- expression checking ------------------------------------------------------ */

static enum expr_type field_expr_type(enum ftype t)
{
        switch (t) {
        case FT_INTEGER:
        case FT_DECIMAL:
        case FT_MONEY:
                return ET_NUMBER;
        case FT_DATE:
                return ET_DATE;
        case FT_BEGIN_REPEAT:
                return ET_REPEAT;
        default:
                return ET_STRING;
        }
}

/* What an expression of field `self` (inside repeat `scope`, or at the top
 * level when scope is NULL) of matter m can see. */
struct check_env {
        const struct cat_matter *m;
        const struct cat_field *scope;
        const struct cat_field *self;    /* NULL: "." is not allowed */
};

static const struct cat_field *find_in(const struct cat_field *f, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(f[i].name, name) == 0)
                        return &f[i];
        return NULL;
}

static int check_type_of(void *ud, const char *name, enum expr_type *ret)
{
        const struct check_env *ce = ud;
        const struct cat_field *f;

        if (!name) {
                if (!ce->self)
                        return -ENOENT;
                *ret = field_expr_type(ce->self->type);
                return 0;
        }
        f = ce->scope ? find_in(ce->scope->children, ce->scope->nchildren, name) : NULL;
        if (!f)
                f = find_in(ce->m->fields, ce->m->nfields, name);
        if (!f)
                return -ENOENT;
        *ret = field_expr_type(f->type);
        return 0;
}

/* Report references to fields that live inside a repeat, seen from
 * outside it: expr_check would only call them unknown. */
struct ref_ctx {
        catalog *cat;
        const struct check_env *ce;
        const char *src;
        struct cat_pos pos;
        bool bad;
};

static void check_ref(void *ud, const char *name, size_t offset)
{
        struct ref_ctx *rc = ud;
        enum expr_type t;

        if (check_type_of((void *)rc->ce, name, &t) == 0)
                return;
        for (size_t i = 0; i < rc->ce->m->nfields; i++) {
                const struct cat_field *f = &rc->ce->m->fields[i];
                if (f->type == FT_BEGIN_REPEAT && find_in(f->children, f->nchildren, name)) {
                        struct cat_pos p = pos_in_cell(rc->pos, rc->src, offset);
                        diag(rc->cat, CAT_ERROR, p.sheet, p.line, p.col,
                             "字段“%s”在重复组“%s”内，不能在组外引用",
                             "field '%s' is inside repeat '%s' and cannot be used outside it",
                             name, f->name);
                        rc->bad = true;
                        return;
                }
        }
}

static void check_expr(catalog *cat, const expr *e, const char *src, struct cat_pos pos,
                       const struct check_env *ce, const char *what)
{
        struct expr_env env = { .userdata = (void *)ce, .type_of = check_type_of };
        struct ref_ctx rc = { cat, ce, src, pos, false };
        struct expr_error err = { 0 };
        enum expr_type t;

        if (!e)
                return;
        expr_foreach_ref(e, check_ref, &rc);
        if (rc.bad)
                return;
        if (expr_check(e, &env, &t, &err) < 0) {
                struct cat_pos p = pos_in_cell(pos, src, err.offset);
                diag(cat, CAT_ERROR, p.sheet, p.line, p.col, "%s 表达式有误：%s", "bad %s expression: %s",
                     what, err.msg);
        } else if (t != ET_BOOL) {
                diag(cat, CAT_ERROR, pos.sheet, pos.line, pos.col,
                     "%s 表达式的结果应为真/假，而不是%s", "a %s expression must give true or false, not a %s",
                     what, expr_type_name(t));
        }
}

static const char *field_label(void *ud, const char *name, bool zh)
{
        const struct check_env *ce = ud;
        const struct cat_field *f = name ? NULL : ce->self;

        if (name) {
                f = ce->scope ? find_in(ce->scope->children, ce->scope->nchildren, name) : NULL;
                if (!f)
                        f = find_in(ce->m->fields, ce->m->nfields, name);
        }
        return f ? (zh || !f->label_en ? f->label_zh : f->label_en) : NULL;
}

/* A constraint without a message is told in plain words, never as its
 * expression; one that cannot be put in words needs its message. */
static void constraint_words(catalog *cat, const struct check_env *ce, struct cat_field *f)
{
        struct expr_env env = { .userdata = (void *)ce, .type_of = check_type_of };
        char zh[512], en[512];

        if (!f->constraint || f->constraint_msg_zh)
                return;
        if (expr_describe(f->constraint, &env, field_label, (void *)ce, zh, sizeof zh, en, sizeof en) == 0) {
                f->constraint_words_zh = arena_strndup(&cat->arena, zh, strlen(zh));
                f->constraint_words_en = arena_strndup(&cat->arena, en, strlen(en));
        } else {
                diag(cat, CAT_WARNING, f->constraint_pos.sheet, f->constraint_pos.line, f->constraint_pos.col,
                     "字段“%s”的约束无法自动说明，也没有提示语：请在 constraint_msg_zh 列写明填写要求（如“请按身份证号码格式填写”）",
                     "field '%s': its constraint has no message and cannot be put in plain words: write what is"
                     " asked in constraint_msg_zh (people never see the expression)", f->name);
        }
}

static void check_field_exprs(catalog *cat, const struct cat_matter *m, const struct cat_field *scope,
                              const struct cat_field *f)
{
        struct check_env ce = { m, scope, f };
        size_t errors = cat->nerrors;

        check_expr(cat, f->constraint, f->constraint_src, f->constraint_pos, &ce, "constraint");
        if (cat->nerrors == errors)
                constraint_words(cat, &ce, (struct cat_field *)f);
        /* relevant: "." is the field itself too, as in XLSForm. */
        check_expr(cat, f->relevant, f->relevant_src, f->relevant_pos, &ce, "relevant");
}

static void check_all_field_exprs(catalog *cat)
{
        for (size_t i = 0; i < cat->nmatters; i++) {
                const struct cat_matter *m = &cat->matters[i];
                for (size_t k = 0; k < m->nfields; k++) {
                        const struct cat_field *f = &m->fields[k];
                        check_field_exprs(cat, m, NULL, f);
                        for (size_t j = 0; j < f->nchildren; j++)
                                check_field_exprs(cat, m, f, &f->children[j]);
                }
        }
}

/* ---- matter_materials.csv ---------------------------------------------------- */

static void load_matter_materials(catalog *cat)
{
        static const char *const cols[] = { "matter", "material", "kind", "copies", "required",
                                            "deficiency_ok", "deficiency_days", "relevant", "note_zh", NULL };
        enum { C_MATTER, C_MAT, C_KIND, C_COPIES, C_REQ, C_DOK, C_DDAYS, C_REL, C_NOTE };
        struct sheet sh;
        struct vec *per = calloc(cat->nmatters ? cat->nmatters : 1, sizeof *per);

        if (!per) {
                cat->arena.oom = true;
                return;
        }
        for (size_t i = 0; i < cat->nmatters; i++)
                per[i].size = sizeof(struct cat_matter_material);
        if (!sheet_load(cat, &sh, "matter_materials.csv", cols))
                goto freeze;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell c[9];
                struct cat_matter *m;
                const struct cat_material *mat;
                enum cat_mkind kind = MK_ORIGINAL;
                int copies = 1, ddays = 0;
                bool ok = true, req = true, dok = false;

                for (int k = 0; k < 9; k++)
                        c[k] = get_cell(cat, &sh, row, k);
                m = map_get(&cat->by_matter, c[C_MATTER].s);
                if (!m) {
                        ERR(cat, &c[C_MATTER], sh.name, "事项“%s”不存在（matters.csv 中没有此编码）",
                            "unknown matter '%s' (not in matters.csv)", c[C_MATTER].s);
                        continue;
                }
                mat = map_get(&cat->by_material, c[C_MAT].s);
                if (!mat) {
                        ERR(cat, &c[C_MAT], sh.name, "材料“%s”不存在（materials.csv 中没有此编码）",
                            "unknown material '%s' (not in materials.csv)", c[C_MAT].s);
                        ok = false;
                }
                if (strcmp(c[C_KIND].s, "original") == 0)
                        kind = MK_ORIGINAL;
                else if (strcmp(c[C_KIND].s, "copy") == 0)
                        kind = MK_COPY;
                else if (strcmp(c[C_KIND].s, "scan") == 0)
                        kind = MK_SCAN;
                else if (strcmp(c[C_KIND].s, "commitment") == 0)
                        kind = MK_COMMITMENT;
                else {
                        ERR(cat, &c[C_KIND], sh.name,
                            "材料形式“%s”无效（应为 original、copy、scan 或 commitment）",
                            "material kind '%s' is invalid (original, copy, scan or commitment)", c[C_KIND].s);
                        ok = false;
                }
                if (c[C_COPIES].len && parse_int(c[C_COPIES].s, 1, 99, &copies) < 0) {
                        ERR(cat, &c[C_COPIES], sh.name, "份数“%s”无效（1 到 99）",
                            "copies '%s' is invalid (1 to 99)", c[C_COPIES].s);
                        ok = false;
                }
                if (parse_bool(c[C_REQ].s, true, &req) < 0) {
                        ERR(cat, &c[C_REQ], sh.name, "required 应为 yes 或 no，而不是“%s”",
                            "required must be yes or no, not '%s'", c[C_REQ].s);
                        ok = false;
                }
                if (parse_bool(c[C_DOK].s, false, &dok) < 0) {
                        ERR(cat, &c[C_DOK], sh.name, "deficiency_ok 应为 yes 或 no，而不是“%s”",
                            "deficiency_ok must be yes or no, not '%s'", c[C_DOK].s);
                        ok = false;
                }
                if (dok && parse_int(c[C_DDAYS].s, 1, 365, &ddays) < 0) {
                        ERR(cat, &c[C_DDAYS], sh.name, "允许容缺时须填写补交期限（1 到 365 个工作日），而不是“%s”",
                            "a deficiency needs a deadline of 1 to 365 working days, not '%s'", c[C_DDAYS].s);
                        ok = false;
                } else if (!dok && c[C_DDAYS].len) {
                        WARN(cat, &c[C_DDAYS], sh.name, "不允许容缺时补交期限无意义，已忽略",
                             "%s", "deficiency_days is ignored when deficiency_ok is no");
                }
                expr *rel = parse_expr_cell(cat, &c[C_REL], sh.name, "relevant");
                if (c[C_REL].len && !rel)
                        ok = false;
                struct vec *v = &per[m - cat->matters];
                for (size_t k = 0; ok && k < v->n; k++)
                        if (((struct cat_matter_material *)v->v)[k].material == mat) {
                                ERR(cat, &c[C_MAT], sh.name, "事项“%s”中材料“%s”重复",
                                    "material '%s' is listed twice for matter '%s'", c[C_MAT].s, m->code);
                                ok = false;
                        }
                if (!ok)
                        continue;
                if (rel) {
                        struct check_env ce = { m, NULL, NULL };
                        size_t before = cat->nerrors;
                        check_expr(cat, rel, c[C_REL].s, (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col },
                                   &ce, "relevant");
                        if (cat->nerrors != before)
                                continue;
                }
                struct cat_matter_material *mm = vec_push(v);
                if (!mm) {
                        cat->arena.oom = true;
                        break;
                }
                mm->material = mat;
                mm->kind = kind;
                mm->copies = copies;
                mm->required = req;
                mm->deficiency_ok = dok;
                mm->deficiency_days = ddays;
                mm->relevant_src = cell_str(cat, &c[C_REL]);
                mm->relevant = rel;
                mm->note_zh = cell_str(cat, &c[C_NOTE]);
                mm->pos = (struct cat_pos){ sh.name, c[C_MAT].line, c[C_MAT].col };
                mm->relevant_pos = (struct cat_pos){ sh.name, c[C_REL].line, c[C_REL].col };
        }
freeze:
        for (size_t i = 0; i < cat->nmatters; i++) {
                cat->matters[i].materials = arena_dup(&cat->arena, per[i].v, per[i].n * per[i].size);
                cat->matters[i].nmaterials = cat->matters[i].materials ? per[i].n : 0;
                free(per[i].v);
        }
        free(per);
        sheet_free(&sh);
}

/* ---- forms: a matter's own, and a bundle's merged one --------------------------- */

/* Items while merging: every vector is malloc'd and turned into arena
 * arrays by freeze_items(). */
struct titem {
        struct vec defs;        /* const struct cat_field * */
        struct vec dmatters;    /* const struct cat_matter * */
        struct vec children;    /* struct titem */
};

static void titems_free(struct vec *items)
{
        for (size_t i = 0; i < items->n; i++) {
                struct titem *t = &((struct titem *)items->v)[i];
                free(t->defs.v);
                free(t->dmatters.v);
                titems_free(&t->children);
        }
        free(items->v);
        items->v = NULL;
        items->n = items->cap = 0;
}

static bool same_list(const struct cat_list *a, const struct cat_list *b)
{
        if (a == b)
                return true;
        if (!a || !b || a->nitems != b->nitems)
                return false;
        for (size_t i = 0; i < a->nitems; i++)
                if (strcmp(a->items[i].value, b->items[i].value) != 0)
                        return false;
        return true;
}

/* Merge fields f[0..n) of matter m into items. Conflicts are reported at
 * the bundle's row (pos). Returns false on a conflict. */
static bool merge_fields(catalog *cat, struct vec *items, const struct cat_field *f, size_t n,
                         const struct cat_matter *m, const struct cat_pos *pos)
{
        bool ok = true;

        for (size_t i = 0; i < n; i++) {
                struct titem *t = NULL;
                for (size_t k = 0; k < items->n; k++) {
                        struct titem *x = &((struct titem *)items->v)[k];
                        if (x->defs.n == 0)
                                continue;       /* left empty by an allocation failure */
                        if (strcmp((*(const struct cat_field **)x->defs.v)->name, f[i].name) == 0) {
                                t = x;
                                break;
                        }
                }
                if (t) {
                        const struct cat_field *first = *(const struct cat_field **)t->defs.v;
                        const struct cat_matter *fm = *(const struct cat_matter **)t->dmatters.v;
                        if (first->type != f[i].type) {
                                diag(cat, CAT_ERROR, pos->sheet, pos->line, pos->col,
                                     "共用字段“%s”类型不一致：事项 %s 中为 %s，事项 %s 中为 %s",
                                     "shared field '%s' has conflicting types: in %s it is %s, in %s it is %s",
                                     f[i].name, fm->code, ftype_name(first->type), m->code,
                                     ftype_name(f[i].type));
                                ok = false;
                                continue;
                        }
                        if (!same_list(first->choices, f[i].choices)) {
                                diag(cat, CAT_ERROR, pos->sheet, pos->line, pos->col,
                                     "共用字段“%s”的选项列表不一致：事项 %s 用“%s”，事项 %s 用“%s”",
                                     "shared field '%s' has conflicting choice lists: %s uses '%s', %s uses '%s'",
                                     f[i].name, fm->code, first->choices ? first->choices->name : "-",
                                     m->code, f[i].choices ? f[i].choices->name : "-");
                                ok = false;
                                continue;
                        }
                } else {
                        t = vec_push(items);
                        if (!t) {
                                cat->arena.oom = true;
                                return false;
                        }
                        t->defs.size = sizeof(const struct cat_field *);
                        t->dmatters.size = sizeof(const struct cat_matter *);
                        t->children.size = sizeof(struct titem);
                }
                const struct cat_field **d = vec_push(&t->defs);
                const struct cat_matter **dm = vec_push(&t->dmatters);
                if (!d || !dm) {
                        vec_unpush(&t->defs, d);
                        vec_unpush(&t->dmatters, dm);
                        cat->arena.oom = true;
                        return false;
                }
                *d = &f[i];
                *dm = m;
                if (f[i].type == FT_BEGIN_REPEAT)
                        ok = merge_fields(cat, &t->children, f[i].children, f[i].nchildren, m, pos) && ok;
        }
        return ok;
}

static struct cat_item *freeze_items(catalog *cat, struct vec *items, size_t *ret_n)
{
        struct cat_item *out = arena_alloc(&cat->arena, (items->n ? items->n : 1) * sizeof *out);

        if (!out)
                return NULL;
        for (size_t i = 0; i < items->n; i++) {
                struct titem *t = &((struct titem *)items->v)[i];
                out[i].defs = arena_dup(&cat->arena, t->defs.v, t->defs.n * t->defs.size);
                out[i].def_matters = arena_dup(&cat->arena, t->dmatters.v, t->dmatters.n * t->dmatters.size);
                out[i].ndefs = out[i].defs && out[i].def_matters ? t->defs.n : 0;
                out[i].field = out[i].defs ? out[i].defs[0] : NULL;
                out[i].children = freeze_items(cat, &t->children, &out[i].nchildren);
        }
        *ret_n = items->n;
        return out;
}

static bool merge_materials(catalog *cat, struct vec *mats, const struct cat_matter *m)
{
        for (size_t i = 0; i < m->nmaterials; i++) {
                const struct cat_matter_material *mm = &m->materials[i];
                struct cat_form_material *fm = NULL;
                for (size_t k = 0; k < mats->n; k++) {
                        struct cat_form_material *x = &((struct cat_form_material *)mats->v)[k];
                        if (x->material == mm->material) {
                                fm = x;
                                break;
                        }
                }
                if (!fm) {
                        fm = vec_push(mats);
                        if (!fm) {
                                cat->arena.oom = true;
                                return false;
                        }
                        fm->material = mm->material;
                        fm->kind = mm->kind;
                        fm->deficiency_ok = true;
                        fm->deficiency_days = 0;
                        /* defs are collected in per-material vectors below */
                }
                if (mm->copies > fm->copies)
                        fm->copies = mm->copies;
                fm->required = fm->required || mm->required;
                if (mm->required) {
                        fm->deficiency_ok = fm->deficiency_ok && mm->deficiency_ok;
                        if (mm->deficiency_ok &&
                            (fm->deficiency_days == 0 || mm->deficiency_days < fm->deficiency_days))
                                fm->deficiency_days = mm->deficiency_days;
                }
                fm->ndefs++;
        }
        return true;
}

/* Build the form of a list of matters (one for a matter, several for a
 * bundle). Returns NULL on a merge conflict (reported) or out of memory. */
static const struct cat_form *build_form(catalog *cat, const char *code, const char *zh, const char *en,
                                         bool is_bundle, const struct cat_matter **ms, size_t nms,
                                         const struct cat_pos *pos)
{
        struct vec items = VEC(struct titem);
        struct vec mats = VEC(struct cat_form_material);
        struct cat_form *form = NULL;
        bool ok = true;

        for (size_t i = 0; i < nms; i++)
                ok = merge_fields(cat, &items, ms[i]->fields, ms[i]->nfields, ms[i], pos) && ok;
        for (size_t i = 0; ok && i < nms; i++)
                if (!merge_materials(cat, &mats, ms[i]))
                        ok = false;
        if (!ok)
                goto out;
        form = arena_alloc(&cat->arena, sizeof *form);
        if (!form)
                goto out;
        form->code = code;
        form->name_zh = zh;
        form->name_en = en;
        form->is_bundle = is_bundle;
        form->matters = arena_dup(&cat->arena, ms, nms * sizeof *ms);
        form->nmatters = form->matters ? nms : 0;
        form->items = freeze_items(cat, &items, &form->nitems);
        form->materials = arena_dup(&cat->arena, mats.v, mats.n * mats.size);
        form->nmaterials = form->materials ? mats.n : 0;
        for (size_t k = 0; k < form->nmaterials; k++) {
                struct cat_form_material *fm = &form->materials[k];
                size_t nd = 0;
                if (!fm->required)
                        fm->deficiency_ok = false;
                fm->defs = arena_alloc(&cat->arena, fm->ndefs * sizeof *fm->defs);
                fm->def_matters = arena_alloc(&cat->arena, fm->ndefs * sizeof *fm->def_matters);
                if (!fm->defs || !fm->def_matters)
                        break;
                for (size_t i = 0; i < nms; i++)
                        for (size_t j = 0; j < ms[i]->nmaterials; j++)
                                if (ms[i]->materials[j].material == fm->material) {
                                        fm->defs[nd] = &ms[i]->materials[j];
                                        fm->def_matters[nd++] = ms[i];
                                }
        }
out:
        titems_free(&items);
        free(mats.v);
        return form;
}

/* What the applicant's roles of a built form allow (forms/applicant.c):
 * an impossible placement is an error at the field; a form that says
 * nothing about its applicant is warned about at pos, for the paperwork
 * will leave 申请人 blank. */
static void check_applicant(catalog *cat, const struct cat_form *form, const struct cat_pos *pos)
{
        struct form_applicant a;
        const char *zh, *en;

        form_applicant_fields(form, &a);
        if ((en = form_applicant_misplaced(form, &a, &zh))) {
                const struct cat_field *f = a.name ? a.name->field : a.id ? a.id->field : NULL;
                struct cat_pos at = f ? f->pos : *pos;
                diag(cat, CAT_ERROR, at.sheet, at.line, at.col, "“%s”：%s%.0s", "'%s': %.0s%s", form->code, zh, en);
                return;
        }
        if (!a.name)
                diag(cat, CAT_WARNING, pos->sheet, pos->line, pos->col,
                     "“%s”未说明哪个字段是申请人姓名：回执、告知单和列表的“申请人”将留空；请在 fields.csv 的 role 列为该字段填 applicant_name（证件号码字段填 applicant_id）",
                     "'%s' does not say which field is the applicant's name: receipts, notices and lists will leave the applicant blank; give that field role applicant_name in fields.csv (and its ID field applicant_id)",
                     form->code);
}

/* ---- bundles.csv ------------------------------------------------------------------ */

static void load_bundles(catalog *cat)
{
        static const char *const cols[] = { "code", "name_zh", "name_en", "matters", NULL };
        struct sheet sh;
        struct vec v = VEC(struct cat_bundle);

        if (!sheet_load(cat, &sh, "bundles.csv", cols))
                goto out;
        for (size_t r = 1; r < csv_nrows(sh.csv); r++) {
                const struct csv_row *row = csv_row(sh.csv, r);
                struct cell code = get_cell(cat, &sh, row, 0);
                struct cell zh = get_cell(cat, &sh, row, 1);
                struct cell en = get_cell(cat, &sh, row, 2);
                struct cell ml = get_cell(cat, &sh, row, 3);
                const struct cat_matter *ms[64];
                size_t nms = 0;
                bool ok = true;

                if (!is_code(code.s)) {
                        ERR(cat, &code, sh.name, "一件事编码“%s”无效", "bundle code '%s' is invalid", code.s);
                        ok = false;
                } else if (map_get(&cat->by_matter, code.s)) {
                        ERR(cat, &code, sh.name, "一件事编码“%s”与事项编码重复",
                            "bundle code '%s' is also a matter code", code.s);
                        ok = false;
                }
                if (!zh.len) {
                        ERR(cat, &zh, sh.name, "一件事缺少中文名称", "%s", "the bundle has no Chinese name");
                        ok = false;
                }
                char *buf = strdup(ml.s);
                if (!buf) {
                        cat->arena.oom = true;
                        break;
                }
                for (char *save = NULL, *t = strtok_r(buf, ";；", &save); t; t = strtok_r(NULL, ";；", &save)) {
                        while (*t == ' ')
                                t++;
                        for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
                                *--e = '\0';
                        const struct cat_matter *m = map_get(&cat->by_matter, t);
                        if (!m) {
                                ERR(cat, &ml, sh.name, "一件事中的事项“%s”不存在",
                                    "bundle lists unknown matter '%s'", t);
                                ok = false;
                                continue;
                        }
                        for (size_t k = 0; k < nms; k++)
                                if (ms[k] == m) {
                                        ERR(cat, &ml, sh.name, "一件事中事项“%s”重复",
                                            "bundle lists matter '%s' twice", t);
                                        ok = false;
                                }
                        if (nms == 64) {
                                ERR(cat, &ml, sh.name, "一件事最多包含 64 个事项", "%s",
                                    "a bundle has at most 64 matters");
                                ok = false;
                                break;
                        }
                        ms[nms++] = m;
                }
                free(buf);
                if (ok && nms < 2) {
                        ERR(cat, &ml, sh.name, "一件事至少包含两个事项", "%s",
                            "a bundle joins at least two matters");
                        ok = false;
                }
                if (!ok)
                        continue;
                struct cat_pos pos = { sh.name, ml.line, ml.col };
                const struct cat_form *form = build_form(cat, code.s, zh.s, en.len ? en.s : zh.s, true,
                                                         ms, nms, &pos);
                if (!form)
                        continue;
                check_applicant(cat, form, &(struct cat_pos){ sh.name, code.line, code.col });
                struct cat_bundle *b = vec_push(&v);
                if (!b) {
                        cat->arena.oom = true;
                        break;
                }
                b->code = (char *)code.s;
                b->name_zh = (char *)zh.s;
                b->name_en = en.len ? (char *)en.s : b->name_zh;
                b->matters = form->matters;
                b->nmatters = nms;
                b->form = form;
                b->pos = (struct cat_pos){ sh.name, code.line, code.col };
        }
        cat->bundles = arena_dup(&cat->arena, v.v, v.n * v.size);
        cat->nbundles = cat->bundles ? v.n : 0;
        for (size_t i = 0; i < cat->nbundles; i++) {
                struct cat_bundle *b = &cat->bundles[i];
                if (cat_map_put(cat, &cat->by_bundle, b->code, b) == -EEXIST)
                        diag(cat, CAT_ERROR, sh.name, b->pos.line, b->pos.col,
                             "一件事编码“%s”重复", "duplicate bundle code '%s'", b->code);
        }
out:
        free(v.v);
        sheet_free(&sh);
}

/* ---- the public face -------------------------------------------------------------------- */

int catalog_load(const char *dir, catalog **ret)
{
        catalog *cat = calloc(1, sizeof *cat);

        if (!cat)
                return -ENOMEM;
        cat->dir = strdup(dir);
        cat->cal = cal_new();
        cat->diags.size = sizeof(struct cat_diag);
        cat->exprs.size = sizeof(expr *);
        if (!cat->dir || !cat->cal) {
                catalog_free(cat);
                return -ENOMEM;
        }
        /* Order matters: each sheet refers only to sheets read before it. */
        load_divisions(cat);
        load_materials(cat);
        load_choices(cat);
        load_calendar(cat);
        load_matters(cat);
        load_fields(cat);
        check_all_field_exprs(cat);
        load_matter_materials(cat);
        for (size_t i = 0; i < cat->nmatters && !cat->arena.oom; i++) {
                struct cat_matter *m = &cat->matters[i];
                const struct cat_matter *one = m;
                m->form = build_form(cat, m->code, m->name_zh, m->name_en, false, &one, 1, &m->pos);
                if (m->form)
                        check_applicant(cat, m->form, &m->pos);
        }
        load_bundles(cat);
        if (cat->arena.oom) {
                catalog_free(cat);
                return -ENOMEM;
        }
        *ret = cat;
        return 0;
}

void catalog_free(catalog *cat)
{
        if (!cat)
                return;
        for (size_t i = 0; i < cat->exprs.n; i++)
                expr_free(((expr **)cat->exprs.v)[i]);
        free(cat->exprs.v);
        free(cat->diags.v);
        map_free(&cat->by_division);
        map_free(&cat->by_material);
        map_free(&cat->by_list);
        map_free(&cat->by_matter);
        map_free(&cat->by_bundle);
        cal_free(cat->cal);
        arena_free(&cat->arena);
        free(cat->dir);
        free(cat);
}

size_t catalog_ndiags(const catalog *cat) { return cat->diags.n; }
const struct cat_diag *catalog_diag(const catalog *cat, size_t i)
{
        return i < cat->diags.n ? &((const struct cat_diag *)cat->diags.v)[i] : NULL;
}
size_t catalog_nerrors(const catalog *cat) { return cat->nerrors; }
size_t catalog_nmatters(const catalog *cat) { return cat->nmatters; }
const struct cat_matter *catalog_matter(const catalog *cat, size_t i)
{
        return i < cat->nmatters ? &cat->matters[i] : NULL;
}
size_t catalog_nbundles(const catalog *cat) { return cat->nbundles; }
const struct cat_bundle *catalog_bundle(const catalog *cat, size_t i)
{
        return i < cat->nbundles ? &cat->bundles[i] : NULL;
}
size_t catalog_ndivisions(const catalog *cat) { return cat->ndivisions; }
const struct cat_division *catalog_division(const catalog *cat, size_t i)
{
        return i < cat->ndivisions ? &cat->divisions[i] : NULL;
}
size_t catalog_nmaterials(const catalog *cat) { return cat->nmaterials; }
size_t catalog_nfields(const catalog *cat) { return cat->nfields; }
const calendar *catalog_calendar(const catalog *cat) { return cat->cal; }

const struct cat_matter *catalog_find_matter(const catalog *cat, const char *code)
{
        return map_get(&cat->by_matter, code);
}

const struct cat_bundle *catalog_find_bundle(const catalog *cat, const char *code)
{
        return map_get(&cat->by_bundle, code);
}

const struct cat_division *catalog_find_division(const catalog *cat, const char *code)
{
        return map_get(&cat->by_division, code);
}

const struct cat_form *catalog_find_form(const catalog *cat, const char *code)
{
        const struct cat_matter *m = catalog_find_matter(cat, code);
        const struct cat_bundle *b;

        if (m)
                return m->form;
        b = catalog_find_bundle(cat, code);
        return b ? b->form : NULL;
}

bool catalog_may_accept(const struct cat_matter *m, const struct cat_division *div)
{
        return div && (m->accept_at & (1u << div->level)) && m->form;
}

bool catalog_bundle_may_accept(const struct cat_bundle *b, const struct cat_division *div)
{
        for (size_t i = 0; i < b->nmatters; i++)
                if (!catalog_may_accept(b->matters[i], div))
                        return false;
        return b->nmatters > 0;
}

const struct cat_division *catalog_division_at(const struct cat_division *div, enum cat_level level)
{
        while (div && div->level != level)
                div = div->parent;
        return div;
}
