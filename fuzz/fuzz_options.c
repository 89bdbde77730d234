/* libFuzzer target: the option parsers.  The input is split at NUL bytes into strings given
 * to mva_roi_parse (+ mva_roi_resolve), and the tools' --shape, --calib, channel range,
 * integer and number parsers (tools/cli.c). */
#include <math.h>

#include "fuzz_common.h"
#include "../tools/cli.h"

static void one(const char *s)
{
    mva_roi_def def;
    mva_error err = {0};
    if (mva_roi_parse(s, &def, &err) == MVA_OK) {
        if (def.name[0] == '\0' || memchr(def.name, '\0', sizeof def.name) == NULL)
            abort();
        mva_calib cal = {1, 0.0, 0.01, 0.0};
        size_t c0, c1;
        if (mva_roi_resolve(&def, &cal, 4096, &c0, &c1, &err) == MVA_OK && !(c0 <= c1 && c1 < 4096))
            abort();
    } else if (err.msg[0] == '\0') {
        abort();
    }
    size_t a, b;
    double d;
    mva_calib cal;
    mva_stack_axis axis;
    if (cli_parse_shape("fuzz", s, &a, &b) == 0 && (a == 0 || b == 0))
        abort();
    if (cli_parse_calib("fuzz", s, &cal) == 0 && !cal.known)
        abort();
    if (cli_parse_range("fuzz", "--range", s, &a, &b) == 0 && b < a)
        abort();
    (void)cli_parse_size("fuzz", "-k", s, 1, &a);
    if (cli_parse_double("fuzz", "--x", s, 0.0, &d) == 0 && !(d >= 0.0))
        abort();
    (void)cli_parse_axis("fuzz", s, &axis);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (size_t i = 0; i <= size;) {
        one(buf + i);
        i += strlen(buf + i) + 1;
    }
    free(buf);
    return 0;
}
