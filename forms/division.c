/* Division codes: see division.h. */
#include "forms/division.h"

#include <string.h>

bool division_code_valid(const char *code)
{
        return division_code_level(code) != 0;
}

int division_code_level(const char *code)
{
        size_t n = code ? strlen(code) : 0;

        if (n != 6 && n != 9 && n != 12)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (code[i] < '0' || code[i] > '9')
                        return 0;
        return (int)(n / 3) - 1;
}

bool division_code_within(const char *code, const char *above)
{
        return division_code_valid(code) && division_code_valid(above) &&
               strncmp(code, above, strlen(above)) == 0;
}

void division_county(const char *code, char county[7])
{
        memcpy(county, code, 6);
        county[6] = '\0';
}
