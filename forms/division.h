/* Division codes: a county's 6 digits, a township's 9, a village's 12,
 * each beginning with the code of the division above it. The catalogue's
 * divisions sheet, the feeds' partitions and writers, the roster and the
 * hall's tokens all name nodes by them; this is the one place their rules
 * live. */
#ifndef DAIBAN_FORMS_DIVISION_H
#define DAIBAN_FORMS_DIVISION_H

#include <stdbool.h>

/* Is code a division code: 6, 9 or 12 ASCII digits? (NULL: no.) */
bool division_code_valid(const char *code);

/* The level a division code names by its length: 1 for a county's 6
 * digits, 2 for a township's 9, 3 for a village's 12 (the numbers of
 * enum cat_level in forms/catalog.h); 0 when code is not a division code
 * (NULL: 0). */
int division_code_level(const char *code);

/* Is code the division `above` or one beneath it: both are division codes
 * and code begins with above's? (A county's code heads every code in the
 * county, a township's those of its villages; a village holds only
 * itself.) NULL: no. */
bool division_code_within(const char *code, const char *above);

/* The county's code of division code `code`: its first 6 digits, with
 * the NUL, in county. code must be a division code. */
void division_county(const char *code, char county[7]);

#endif
