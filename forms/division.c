/* Division codes: see division.h. */
#include "forms/division.h"

#include <string.h>

bool division_code_valid(const char *code)
{
        size_t n = code ? strlen(code) : 0;

        if (n != 6 && n != 9 && n != 12)
                return false;
        for (size_t i = 0; i < n; i++)
                if (code[i] < '0' || code[i] > '9')
                        return false;
        return true;
}
