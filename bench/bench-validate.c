/* Benchmark: validations per second of one application against a form,
 * on one core, with the JSON already parsed (as the store and the HTTP
 * API hold it), and separately including jansson's parse of the text.
 * Prints the median of R rounds. Usage: bench-validate DIR CODE APP.json
 * [SECONDS_PER_ROUND] [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "forms/catalog.h"
#include "forms/validate.h"

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        double secs = argc > 4 ? atof(argv[4]) : 1.0;
        int rounds = argc > 5 ? atoi(argv[5]) : 7;
        struct form_problems p;
        json_error_t jerr;
        const struct cat_form *form;
        catalog *cat;
        json_t *data;
        char *text;
        int32_t today;
        double rate[2][64];

        if (argc < 4 || rounds < 1 || rounds > 64) {
                fprintf(stderr, "usage: bench-validate DIR CODE APP.json [SECONDS] [ROUNDS]\n");
                return 2;
        }
        if (catalog_load(argv[1], &cat) < 0 || catalog_nerrors(cat)) {
                fprintf(stderr, "catalogue has errors\n");
                return 1;
        }
        form = catalog_find_form(cat, argv[2]);
        data = json_load_file(argv[3], 0, &jerr);
        if (!form || !data) {
                fprintf(stderr, "no form or bad JSON\n");
                return 1;
        }
        text = json_dumps(data, JSON_COMPACT);
        cal_date_parse("2026-11-24", &today);
        form_problems_init(&p);
        form_validate(form, data, today, &p, NULL);
        if (p.n) {
                fprintf(stderr, "the application is not valid: %s %s\n", p.v[0].path, p.v[0].msg_en);
                return 1;
        }
        size_t nfields = 0;
        for (size_t i = 0; i < form->nitems; i++)
                nfields += 1 + form->items[i].nchildren;
        for (int mode = 0; mode < 2; mode++)
                for (int r = 0; r < rounds; r++) {
                        long n = 0;
                        double t0 = now_s(), t;
                        do {
                                for (int k = 0; k < 1000; k++) {
                                        json_t *d = data;
                                        if (mode == 1)
                                                d = json_loads(text, 0, &jerr);
                                        form_validate(form, d, today, &p, NULL);
                                        form_problems_reset(&p);
                                        if (mode == 1)
                                                json_decref(d);
                                }
                                n += 1000;
                                t = now_s() - t0;
                        } while (t < secs);
                        rate[mode][r] = n / t;
                }
        qsort(rate[0], (size_t)rounds, sizeof(double), cmp);
        qsort(rate[1], (size_t)rounds, sizeof(double), cmp);
        printf("validate %s (%zu fields), one core, median of %d rounds of %.1f s:\n", form->code, nfields, rounds, secs);
        printf("  parsed JSON:        %.0f applications/s (min %.0f, max %.0f)\n", rate[0][rounds / 2], rate[0][0],
               rate[0][rounds - 1]);
        printf("  including parsing:  %.0f applications/s (min %.0f, max %.0f)\n", rate[1][rounds / 2], rate[1][0],
               rate[1][rounds - 1]);
        form_problems_finish(&p);
        free(text);
        json_decref(data);
        catalog_free(cat);
        return 0;
}
