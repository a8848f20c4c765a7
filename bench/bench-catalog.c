/* Benchmark: load and check a catalogue folder (all eight sheets, every
 * expression parsed and type-checked, every form and bundle built).
 * Prints the median and the spread of R runs in milliseconds.
 * Usage: bench-catalog DIR [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "forms/catalog.h"

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        int runs = argc > 2 ? atoi(argv[2]) : 21;
        double *t = calloc((size_t)runs, sizeof *t);
        size_t nm = 0, nf = 0, nb = 0, ne = 0;

        if (argc < 2 || !t || runs < 1) {
                fprintf(stderr, "usage: bench-catalog DIR [RUNS]\n");
                return 2;
        }
        for (int i = 0; i < runs; i++) {
                catalog *cat;
                double t0 = now_ms();
                if (catalog_load(argv[1], &cat) < 0)
                        return 1;
                t[i] = now_ms() - t0;
                nm = catalog_nmatters(cat);
                nf = catalog_nfields(cat);
                nb = catalog_nbundles(cat);
                ne = catalog_nerrors(cat);
                catalog_free(cat);
        }
        qsort(t, (size_t)runs, sizeof *t, cmp);
        printf("catalog load+check: %zu matters, %zu fields, %zu bundles, %zu errors\n", nm, nf, nb, ne);
        printf("  runs %d  median %.1f ms  min %.1f ms  max %.1f ms\n", runs, t[runs / 2], t[0], t[runs - 1]);
        free(t);
        return ne ? 1 : 0;
}
