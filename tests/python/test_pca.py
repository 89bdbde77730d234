"""mva.pca against NumPy on the same arrays, arrays against files, results saved and read."""
import subprocess

import numpy as np
import pytest

from conftest import BUILD, cov_eigh, need

import mva


def test_pca_eigenvalues_match_numpy_eigh_of_the_covariance(small_map):
    path, x = small_map
    x2 = x.reshape(-1, x.shape[2]).astype(float)
    w, v = cov_eigh(x2)
    r = mva.pca(x, k=5, method="exact")
    assert r.method == "exact"
    np.testing.assert_allclose(r.eigenvalues, w, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.explained, w / w.sum(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.mean, x2.mean(axis=0), rtol=0, atol=1e-10)
    for q in range(5):  # equal up to sign
        s = np.sign(r.components[q] @ v[:, q])
        np.testing.assert_allclose(r.components[q], s * v[:, q], rtol=0, atol=1e-8)
    proj = (x2 - x2.mean(axis=0)) @ r.components.T
    np.testing.assert_allclose(r.scores.reshape(5, -1).T, proj, rtol=0, atol=1e-8)


def test_pca_of_array_and_of_file_are_identical(small_map):
    path, x = small_map
    a = mva.pca(x, k=4, method="exact")
    f = mva.pca(path, k=4, method="exact")
    for name in ("eigenvalues", "components", "scores", "mean"):
        np.testing.assert_array_equal(getattr(a, name), getattr(f, name), err_msg=name)
    ar = mva.pca(x, k=4, method="randomized", seed=7)
    fr = mva.pca(path, k=4, method="randomized", seed=7)
    np.testing.assert_array_equal(ar.components, fr.components)
    np.testing.assert_array_equal(ar.scores, fr.scores)


def test_array_views_are_read_in_place_with_their_strides(small_map):
    _, x = small_map
    ref = mva.pca(np.ascontiguousarray(x[:, :, 10:200:2]), k=3, method="exact")
    cf = np.moveaxis(x, 2, 0)  # a (channels, rows, cols) view, no copy
    sliced = mva.pca(cf[10:200:2], k=3, method="exact", channel_axis="first")
    np.testing.assert_array_equal(sliced.eigenvalues, ref.eigenvalues)
    np.testing.assert_array_equal(sliced.scores, ref.scores)
    assert mva.open(cf[10:200:2], channel_axis="first").layout == "channels,rows,cols"
    rev = mva.pca(x[::-1, ::-1], k=3, method="exact")  # negative strides
    np.testing.assert_array_equal(rev.scores[0], mva.pca(np.ascontiguousarray(x[::-1, ::-1]),
                                                         k=3, method="exact").scores[0])
    flat = mva.pca(x.reshape(-1, x.shape[2]), k=3, method="exact", shape=x.shape[:2])
    assert flat.scores.shape == (3,) + x.shape[:2]
    for dt in (np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64, np.float32):
        s = mva.open((x % 100).astype(dt))
        assert s.dtype == np.dtype(dt) and s.storage.endswith("contiguous")
        np.testing.assert_array_equal(s.read(5, 2), (x % 100).reshape(-1, 256)[5:7])


def test_pca_result_saved_from_python_is_read_by_the_tools_and_h5py(small_map, tmp_path):
    h5py = need("h5py")
    path, x = small_map
    out = str(tmp_path / "res.h5")
    r = mva.pca(path, k=4, method="exact", poisson=True)
    assert r.save(out) == "mva_pca"
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["/mva_pca/eigenvalues"][()], r.eigenvalues)
        assert f["/mva_pca/eigenimages/data"].shape == (4, 20, 30)
    back = mva.read_result(out)
    np.testing.assert_array_equal(back.components, r.components)
    np.testing.assert_array_equal(back.scores, r.scores)
    # mva-select streams the recorded input again: the provenance is usable by the tools.
    sel = subprocess.run([BUILD + "/bin/mva-select", out, "--image", "eigenimages/data[1]",
                          "--top", "10%", "-q"], capture_output=True, text=True)
    assert sel.returncode == 0, sel.stderr
    with h5py.File(out, "r") as f:
        assert f["/mva_select/cumulative_spectrum/data"].shape == (256,)


def test_errors_raise_with_the_library_message(tmp_path):
    with pytest.raises(mva.NotFoundError) as e:
        mva.pca(str(tmp_path / "missing.h5"))
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, mva.Error)
    assert str(e.value) == "%s: cannot open: No such file or directory" % (tmp_path / "missing.h5")
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n")
    with pytest.raises(mva.InputError, match="not a recognised stack") as e:
        mva.open(str(bad))
    assert isinstance(e.value, ValueError) and e.value.code == mva.EFORMAT
    with pytest.raises(ValueError, match=r"k=0: expected at least 1 component"):
        mva.pca(np.ones((2, 3, 4)), k=0)
    with pytest.raises(mva.InputError, match="arrays of complex128 cannot be read"):
        mva.open(np.ones((2, 3, 4), dtype=complex))
    with pytest.raises(ValueError, match="mva.open: dataset, norm applies to files, not to an array"):
        mva.pca(np.ones((2, 3, 4)), dataset="/x", norm="i0")
    with pytest.raises(mva.Error, match="components"):
        mva.pca(np.ones((2, 3, 4)), k=9, method="exact")
