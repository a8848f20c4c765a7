/* libFuzzer target for the CSV reader: any bytes, as a whole file
 * (BOM, encoding detection, GB18030 conversion, quoting). The reader
 * must return a sheet or an error, never crash, leak or hang, and every
 * cell it returns must be NUL-terminated at its stated length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forms/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct csv_error err;
        csv *c = NULL;

        if (csv_decode((const char *)data, size, &c, &err) == 0) {
                for (size_t r = 0; r < csv_nrows(c); r++) {
                        const struct csv_row *row = csv_row(c, r);
                        for (size_t k = 0; k < row->ncells; k++)
                                if (strlen(row->cells[k].text) != row->cells[k].len)
                                        abort();
                        if (row->ncells == 0 || row->cells[row->ncells - 1].len == 0)
                                abort();   /* trailing empty cells must be dropped */
                }
                csv_free(c);
        }
        return 0;
}
