/* Locale-independent number parsing: strtod under a thread-local "C" locale (POSIX 2008
 * uselocale), so a program that called setlocale(LC_ALL, "de_DE") still reads "6.4". */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>

#include "numparse.h"

static int only_blanks(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

int mva_parse_double(const char *s, double *out)
{
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c == (locale_t)0)
        return -1;
    locale_t old = uselocale(c);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    int bad = end == s || errno == ERANGE || !only_blanks(end);
    uselocale(old);
    freelocale(c);
    if (bad)
        return -1;
    *out = v;
    return 0;
}

int mva_parse_size(const char *s, size_t *out)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || !only_blanks(end) || v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}
