/* Internal: numbers in text, parsed independent of the process locale. */
#ifndef MVA_NUMPARSE_H
#define MVA_NUMPARSE_H

#include <stddef.h>

/* Parses all of s (surrounding blanks allowed) as a double in the C locale ("1.5", "2e3"),
 * whatever setlocale() the program made.  Returns 0 on success, -1 when s is not one number. */
int mva_parse_double(const char *s, double *out);

/* Parses all of s as a non-negative integer that fits size_t.  0 on success, -1 otherwise. */
int mva_parse_size(const char *s, size_t *out);

#endif
