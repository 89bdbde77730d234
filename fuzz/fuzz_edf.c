/* libFuzzer target: the input is an EDF file (plain or gzip); open it and read it all. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("input.edf", data, size);
    mva_stack *s = NULL;
    mva_error err = {0};
    if (mva_edf_open(&s, path, NULL, &err) == MVA_OK) {
        fuzz_read_all(s);
        mva_stack_close(s);
    } else if (s != NULL || err.msg[0] == '\0') {
        abort();
    }
    unlink(path);
    return 0;
}
