/* libFuzzer target: the input is a SPEC file; open it (the default, then the sum of all
 * detectors) and read it all. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("input.spec", data, size);
    for (int pass = 0; pass < 2; pass++) {
        mva_open_opts o = {0};
        o.detector = pass ? "sum" : NULL;
        mva_stack *s = NULL;
        mva_error err = {0};
        if (mva_spec_open(&s, path, &o, &err) == MVA_OK) {
            fuzz_read_all(s);
            mva_stack_close(s);
        } else if (s != NULL || err.msg[0] == '\0') {
            abort();
        }
    }
    unlink(path);
    return 0;
}
