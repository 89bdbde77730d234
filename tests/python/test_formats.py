"""mva.open on every format the tools read: an EDF series (found from one file, given as a
list, or as a pattern), a 3-D EDF and a SPEC file give the same values as the HDF5 map and as
the array, and the same PCA."""
import os
import sys

import numpy as np
import pytest

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


@pytest.mark.parametrize("chunks", [(1, 3, 4, 64), (2, 5, 2, 64), (1, 1, 1, 64), None])
def test_elements_of_a_4d_dataset_are_read_together(tmp_path, chunks):
    """A 4-D (rows, cols, elements, channels) dataset: the element readers share one read per
    block (each chunk decoded once, read whole along the element axis).  Any selection and any
    sequence of blocks -- partial rows, repeats, out of order -- gives numpy's values."""
    h5py = need("h5py")
    rng = np.random.default_rng(4)
    x = rng.poisson(3.0, (6, 7, 4, 64)).astype(np.uint16)
    path = str(tmp_path / "x4.h5")
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        e = f.create_group("entry")
        e.attrs["NX_class"], e.attrs["default"] = "NXentry", "xspress3"
        g = e.create_group("xspress3")
        g.attrs["NX_class"], g.attrs["signal"] = "NXdata", "data"
        kw = dict(chunks=chunks, compression="gzip", shuffle=True) if chunks else {}
        g.create_dataset("data", data=x, **kw)
        g["dtc_factors"] = np.ones((6, 7, 4))
    flat = x.reshape(42, 4, 64).astype(float)
    for det, els in (("sum", [0, 1, 2, 3]), ("1,2", [1, 2]), ("3", [3]), ("0,3", [0, 3])):
        with mva.open(path, detector=det) as s:
            want = flat[:, els].sum(1)
            for first, count in ((0, 42), (3, 5), (3, 5), (10, 14), (0, 1), (41, 1), (8, 30)):
                np.testing.assert_array_equal(s.read(first, count), want[first:first + count])
