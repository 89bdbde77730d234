"""Usage: same_input.py RESULTS REF_ENTRY ENTRY...  Each ENTRY's process group must record the
map exactly as REF_ENTRY's (an mva-pca entry of the same map) does: every input_* field, the
same values, none missing or extra.  Prints the fields compared."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
ref = f[sys.argv[2]]["process"]
fields = sorted(k for k in ref if k.startswith("input_"))
for must in ("input_file", "input_dataset", "input_format", "input_dtype", "input_shape",
             "input_axes", "input_layout"):
    assert must in fields, (sys.argv[2], must, fields)
for name in sys.argv[3:]:
    p = f[name]["process"]
    got = sorted(k for k in p if k.startswith("input_"))
    assert got == fields, (name, got, fields)
    for k in fields:
        assert np.array_equal(p[k][()], ref[k][()]), (name, k, p[k][()], ref[k][()])
print("same", ", ".join("%s=%s" % (k, ref[k][()].decode()) for k in
                        ("input_dataset", "input_layout", "input_axes")))
