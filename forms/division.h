/* Division codes: a county's 6 digits, a township's 9, a village's 12,
 * each beginning with the code of the division above it. The catalogue's
 * divisions sheet, the feeds' partitions and writers, the roster and the
 * hall's tokens all name nodes by them. */
#ifndef DAIBAN_FORMS_DIVISION_H
#define DAIBAN_FORMS_DIVISION_H

#include <stdbool.h>

/* Is code a division code: 6, 9 or 12 ASCII digits? (NULL: no.) */
bool division_code_valid(const char *code);

#endif
