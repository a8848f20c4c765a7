/* libFuzzer target for the catalogue loader (forms/catalog*.c): any bytes
 * as the county's eight sheets, split at the byte 0x1E in the order of
 * SHEETS below (a sheet past the last split is absent). The loader must
 * report problems, never crash, leak or hang; a catalogue it loads
 * without errors must give every form's applicant fields consistently
 * (forms/applicant.c) and validate an empty application without fault.
 * Seeds in tests/data/fuzz/catalog/: the sample and the second county,
 * joined the same way. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forms/applicant.h"
#include "forms/catalog.h"
#include "forms/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SHEETS[] = { "divisions.csv", "materials.csv", "matters.csv", "fields.csv",
                                      "choices.csv", "matter_materials.csv", "bundles.csv", "calendar.csv" };
#define NSHEETS (sizeof SHEETS / sizeof *SHEETS)

static char dir[256];

static void cleanup(void)
{
        for (size_t i = 0; i < NSHEETS; i++) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", dir, SHEETS[i]);
                unlink(path);
        }
        rmdir(dir);
}

static void write_sheet(const char *name, const uint8_t *p, size_t n)
{
        char path[512];
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
                abort();
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w <= 0)
                        abort();
                p += w;
                n -= (size_t)w;
        }
        close(fd);
}

static void check_form(const struct cat_form *f)
{
        struct form_applicant a;
        struct form_problems p;
        const char *zh, *name, *id;
        json_t *empty = json_object();

        form_applicant_fields(f, &a);
        if (a.repeat && a.repeat->field->type != FT_BEGIN_REPEAT)
                abort();
        if (a.name && a.name->field->type != FT_TEXT)
                abort();               /* the name is text: by role (checked) or by label */
        if (form_applicant_misplaced(f, &a, &zh))
                abort();               /* a catalogue without errors places them where they work */
        form_applicant_of(f, empty, &name, &id);
        if (name || id)
                abort();               /* nothing in, no one out */
        form_problems_init(&p);
        if (form_validate(f, empty, 20781, &p, NULL) < 0)
                abort();
        form_problems_finish(&p);
        json_decref(empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        catalog *cat = NULL;
        size_t k = 0, start = 0;

        if (!dir[0]) {
                const char *t = getenv("TMPDIR");
                snprintf(dir, sizeof dir, "%s/daiban-fuzz-catalog-%ld", t && *t ? t : "/tmp", (long)getpid());
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        abort();
                atexit(cleanup);
        }
        for (size_t i = 0; i < NSHEETS; i++) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", dir, SHEETS[i]);
                unlink(path);
        }
        for (size_t i = 0; i <= size && k < NSHEETS; i++)
                if (i == size || data[i] == 0x1e) {
                        write_sheet(SHEETS[k++], data + start, i - start);
                        start = i + 1;
                }
        if (catalog_load(dir, &cat) < 0)
                return 0;
        for (size_t i = 0; i < catalog_ndiags(cat); i++) {
                const struct cat_diag *d = catalog_diag(cat, i);
                if (!d->msg_en || !d->msg_zh || !*d->msg_en || !*d->msg_zh)
                        abort();       /* every problem said in both languages */
        }
        if (catalog_nerrors(cat) == 0) {
                for (size_t i = 0; i < catalog_nmatters(cat); i++)
                        if (catalog_matter(cat, i)->form)
                                check_form(catalog_matter(cat, i)->form);
                for (size_t i = 0; i < catalog_nbundles(cat); i++)
                        check_form(catalog_bundle(cat, i)->form);
        }
        catalog_free(cat);
        return 0;
}
