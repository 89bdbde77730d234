"""mva.open on every format the tools read: an EDF series (found from one file, given as a
list, or as a pattern), a 3-D EDF and a SPEC file give the same values as the HDF5 map and as
the array, and the same PCA."""
import os
import sys

import numpy as np

from conftest import ROOT, need

import mva

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))


def test_edf_and_spec_open_like_hdf5_and_the_array(small_map, tmp_path):
    need("h5py")
    import make_edf
    import make_spec
    path, x = small_map
    x = x[:6, :9, :96]  # small: SPEC is text
    cal = (0.0, 0.08, 0.0)
    for r in range(x.shape[0]):
        make_edf.write_edf(str(tmp_path / ("row_%04d.edf" % r)), x[r], cal)
    make_edf.write_edf(str(tmp_path / "cube.edf"), x, cal, pad=512)
    make_spec.write_spec(str(tmp_path / "map.spec"), x, per_line=16, calib=cal)
    want = x.reshape(-1, 96).astype(float)
    rows = [str(tmp_path / ("row_%04d.edf" % r)) for r in range(6)]
    stacks = {
        "series": mva.open(rows[2]),
        "list": mva.open(None, files=rows),
        "pattern": mva.open(str(tmp_path / "row_%04d.edf"), series=(0, 5)),
        "cube": mva.open(str(tmp_path / "cube.edf")),
        "spec": mva.open(str(tmp_path / "map.spec")),
        "array": mva.open(x, calibration=cal),
    }
    ref = mva.pca(x, k=3, method="exact")
    for name, s in stacks.items():
        assert s.shape == (6, 9, 96), name
        np.testing.assert_allclose(s.calibration, cal, err_msg=name)
        np.testing.assert_array_equal(s.read(), want, err_msg=name)
        r = mva.pca(s, k=3, method="exact")
        np.testing.assert_array_equal(r.eigenvalues, ref.eigenvalues, err_msg=name)
        s.close()
    assert stacks["spec"].format == "spec" and stacks["cube"].format == "edf"
