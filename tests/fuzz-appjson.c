/* libFuzzer target for application data: any bytes are parsed as JSON
 * (jansson) and, when they parse, validated against every form of the
 * sample catalogue, bundles included, with the clean copy, the split per
 * matter and the material list. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "forms/catalog.h"
#include "forms/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static catalog *cat;

static void load_once(void)
{
        char dir[4096];
        const char *base = getenv("DAIBAN_TEST_DATA");

#ifdef TEST_DATA_DIR
        if (!base)
                base = TEST_DATA_DIR;
#endif
        snprintf(dir, sizeof dir, "%s/catalog-sample", base ? base : "tests/data");
        if (catalog_load(dir, &cat) < 0 || catalog_nerrors(cat))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct form_problems probs;
        json_error_t jerr;
        json_t *j;
        int32_t today;

        if (!cat)
                load_once();
        j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return 0;
        cal_date_parse("2026-11-24", &today);
        form_problems_init(&probs);
        for (size_t i = 0; i < catalog_nmatters(cat) + catalog_nbundles(cat); i++) {
                const struct cat_form *f = i < catalog_nmatters(cat)
                        ? catalog_matter(cat, i)->form
                        : catalog_bundle(cat, i - catalog_nmatters(cat))->form;
                json_t *clean = NULL;
                bool asked[64];
                if (form_validate(f, j, today, &probs, &clean) == 0)
                        json_decref(clean);
                form_problems_reset(&probs);
                if (f->nmaterials <= 64)
                        form_materials_asked(f, j, today, asked);
                for (size_t m = 0; m < f->nmatters; m++)
                        json_decref(form_split(f->matters[m], j, today));
        }
        form_problems_finish(&probs);
        json_decref(j);
        return 0;
}
