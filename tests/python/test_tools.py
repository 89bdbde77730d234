"""mva.roi, mva.select, mva.compress / mva.expand against NumPy on the same arrays."""
import numpy as np
import pytest

from conftest import need

import mva


def test_roi_images_and_spectra_match_numpy(small_map):
    path, x = small_map
    xf = x.astype(float)
    r = mva.roi(path, [("a", 10, 20), "b=100:120"])
    assert r.names == ["a", "b"]
    np.testing.assert_array_equal(r.raw[0], xf[:, :, 10:21].sum(axis=2))
    net = xf[:, :, 100:121].sum(axis=2) - 0.5 * 21 * (xf[:, :, 100] + xf[:, :, 120])
    np.testing.assert_allclose(r.net[1], net, rtol=1e-12)
    np.testing.assert_array_equal(r.total, xf.sum(axis=2))
    np.testing.assert_allclose(r.avg_spectrum, xf.reshape(-1, 256).mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(r.max_spectrum, xf.reshape(-1, 256).max(axis=0))
    a = mva.roi(x, {"a": (10, 20)})
    np.testing.assert_array_equal(a.raw[0], r.raw[0])


def test_select_spectra_match_numpy(small_map, tmp_path):
    h5py = need("h5py")
    path, x = small_map
    xf = x.astype(float).reshape(-1, 256)
    p = mva.pca(path, k=3, output=str(tmp_path / "res.h5"))
    mask, thr = mva.mask_top(p.scores[0], 0.1)
    assert mask.sum() == 60 and p.scores[0][mask].min() >= thr
    s = mva.select(str(tmp_path / "res.h5"), mask)  # the map recorded in the results file
    m = mask.ravel()
    np.testing.assert_allclose(s.sum, xf[m].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.avg, xf[m].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.map_avg, xf.mean(axis=0), rtol=1e-12)
    assert s.n_selected == 60
    assert s.save(str(tmp_path / "res.h5")) == "mva_select"
    with h5py.File(str(tmp_path / "res.h5"), "r") as f:
        np.testing.assert_array_equal(f["mva_select/cumulative_spectrum/data"][()], s.sum)
    img = mva.read_image(str(tmp_path / "res.h5"), "eigenimages/data[0]", entry="mva_pca")
    np.testing.assert_array_equal(img, p.scores[0])
    with pytest.raises(mva.InputError, match="mask is 2x2, the map is 20 x 30 pixels"):
        mva.select(path, np.ones((2, 2), bool))


def test_compress_expand_rebuild_matches_numpy(small_map, tmp_path):
    h5py = need("h5py")
    path, x = small_map
    xf = x.astype(float).reshape(-1, 256)
    out = str(tmp_path / "model.h5")
    c = mva.compress(path, k=4, method="exact", output=out)
    rec = c.mean + c.scores.reshape(4, -1).T @ c.components
    np.testing.assert_allclose(c.rel_frobenius,
                               np.linalg.norm(xf - rec) / np.linalg.norm(xf), rtol=1e-9)
    np.testing.assert_allclose(c.max_abs, np.abs(xf - rec).max(), rtol=1e-9)
    stack = str(tmp_path / "stack.h5")
    assert mva.expand(out, stack) == stack
    with h5py.File(stack, "r") as f:
        data = f["expanded/data/data"][()]
    np.testing.assert_allclose(data.reshape(-1, 256), rec, rtol=0, atol=1e-9)
    with h5py.File(out, "r") as f:
        assert "reconstruction" in f["mva_pca"]
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_pca_estimator_matches_numpy(small_map):
    path, x = small_map
    x2 = x.reshape(-1, x.shape[2]).astype(float)
    est = mva.PCA(n_components=5, method="exact")
    scores = est.fit_transform(x2)
    assert est.n_components_ == 5 and est.components_.shape == (5, 256)
    c = np.cov(x2, rowvar=False)
    w = np.linalg.eigvalsh(c)[::-1]
    np.testing.assert_allclose(est.explained_variance_, w[:5], rtol=0, atol=1e-10)
    np.testing.assert_allclose(est.explained_variance_ratio_, w[:5] / w.sum(), atol=1e-12)
    np.testing.assert_allclose(est.noise_variance_, w[5:].mean(), rtol=1e-9)
    np.testing.assert_allclose(est.mean_, x2.mean(axis=0), atol=1e-10)
    proj = (x2 - est.mean_) @ est.components_.T
    np.testing.assert_allclose(est.transform(x2), proj, rtol=0, atol=1e-8)
    np.testing.assert_allclose(scores, proj, rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.transform(path), proj, rtol=0, atol=1e-8)  # streamed
    back = est.inverse_transform(proj)
    full = mva.PCA(n_components=256, method="exact").fit(x2)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x2)), x2, atol=1e-8)
    assert back.shape == x2.shape
    sk = need("sklearn.decomposition")
    ref = sk.PCA(n_components=5, svd_solver="full").fit(x2)
    np.testing.assert_allclose(est.explained_variance_, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(est.components_), np.abs(ref.components_), atol=1e-8)


def test_poisson_pca_transform_equals_the_fits_scores(small_map):
    _, x = small_map
    est = mva.PCA(n_components=4, method="exact", poisson=True)
    fitted = est.fit_transform(x)
    np.testing.assert_allclose(est.transform(x), fitted, rtol=0, atol=1e-9)
    with pytest.raises(mva.InputError, match="Poisson-scaled model"):
        est.inverse_transform(fitted)


def test_pca_with_rois_in_the_same_pass(small_map, tmp_path):
    h5py = need("h5py")
    path, x = small_map
    r = mva.pca(path, k=3, rois=[("a", 10, 20)])
    alone = mva.roi(path, [("a", 10, 20)])
    np.testing.assert_array_equal(r.roi.raw, alone.raw)
    out = str(tmp_path / "r.h5")
    r.save(out)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["mva_pca/roi_raw/data"][()], alone.raw)


def test_select_reopens_the_map_as_the_tool_analysed_it(tmp_path):
    """A result of mva-pca on the real APS 2-ID-E file (four element datasets) with
    --detector, --norm and --snake: mva.select on it reads the map the PCA read."""
    import os
    import subprocess
    h5py = need("h5py")
    here = os.path.dirname(os.path.abspath(__file__))
    real = os.path.join(here, "..", "..", "..", "shared", "realdata", "2xfm_0011_2xfm3__0.h5")
    if not os.path.exists(real):
        pytest.skip("no ../shared/realdata")
    tool = os.path.join(os.environ.get("BUILD", "build"), "bin", "mva-pca")
    out = str(tmp_path / "res.h5")
    subprocess.run([tool, real, "-k", "2", "--method", "exact", "--detector", "0,1", "--norm",
                    "livetime", "--snake", "on", "-q", "-o", out], check=True)
    with h5py.File(out, "r") as f:
        mean = f["mva_pca/mean_spectrum/data"][()]
        img = f["mva_pca/eigenimages/data"][0]
    mask = img > np.median(img)
    s = mva.select(out, mask)
    np.testing.assert_allclose(s.map_avg, mean, rtol=1e-12, atol=1e-12)
    given = mva.select(real, mask, detector="0,1", norm="livetime", snake=True)
    np.testing.assert_array_equal(s.sum, given.sum)


def test_python_results_record_the_normalisation_factors(tmp_path):
    """mva.open gives the factors of --norm (Stack.norm_factors), and a result saved after the
    stack is closed still writes them in process/normalisation (= numpy from the live times)."""
    import os
    h5py = need("h5py")
    here = os.path.dirname(os.path.abspath(__file__))
    real = os.path.join(here, "..", "..", "..", "shared", "realdata", "2xfm_0011_2xfm3__0.h5")
    if not os.path.exists(real):
        pytest.skip("no ../shared/realdata")
    with h5py.File(real, "r") as f:
        lt = f["MAPS_RAW/livetime"][()].astype(float)      # (4, 11, 9), one per element
    want = lt[lt > 0].mean() / lt
    with mva.open(real, norm="livetime") as s:
        np.testing.assert_allclose(s.norm_factors, want, rtol=1e-12, atol=0)
        r = mva.pca(s, k=2, method="exact")
    out = str(tmp_path / "r.h5")
    r.save(out)
    with h5py.File(out, "r") as f:
        d = f["mva_pca/process/normalisation"]
        np.testing.assert_allclose(d["factor"][()], want, rtol=1e-12, atol=0)
        assert d["factor"].attrs["source"] == "/MAPS_RAW/livetime"
    mva.select(out, r.scores[0] > np.median(r.scores[0])).save(out)   # reopened with norm
    with h5py.File(out, "r") as f:
        got = f["mva_select/process/normalisation/factor"][()]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert mva.open(real).norm_factors is None


def test_python_results_record_the_reader_options(tmp_path):
    """A PCA written from Python records the reader options as mva-pca does (process/
    parameters/reader_*): mva-select on it, given no option, reopens the map with the same
    --detector, --norm and --snake (its map average is the PCA's mean spectrum)."""
    import os
    import subprocess
    h5py = need("h5py")
    here = os.path.dirname(os.path.abspath(__file__))
    real = os.path.join(here, "..", "..", "..", "shared", "realdata", "2xfm_0011_2xfm3__0.h5")
    if not os.path.exists(real):
        pytest.skip("no ../shared/realdata")
    bindir = os.path.join(os.environ.get("BUILD", "build"), "bin")
    py, c = str(tmp_path / "py.h5"), str(tmp_path / "c.h5")
    opts = dict(detector="0,1", norm="livetime", snake=True, calibration=(0.01, 0.02))
    mva.pca(real, k=2, method="exact", **opts).save(py)
    subprocess.run([os.path.join(bindir, "mva-pca"), real, "-k", "2", "--method", "exact",
                    "--detector", "0,1", "--norm", "livetime", "--snake", "on",
                    "--calib", "0.01,0.02", "-q", "-o", c], check=True)

    def reader(path):
        with h5py.File(path, "r") as f:
            g = f["mva_pca/process/parameters"]
            return {k: g[k].asstr()[()] for k in g if k.startswith("reader_")}
    assert reader(py) == reader(c), (reader(py), reader(c))
    assert reader(py)["reader_norm"] == "livetime" and reader(py)["reader_snake"] == "on"
    subprocess.run([os.path.join(bindir, "mva-select"), py, "--image", "eigenimages/data[0]",
                    "--top", "10%", "-q"], check=True)
    with h5py.File(py, "r") as f:
        mean = f["mva_pca/mean_spectrum/data"][()]
        np.testing.assert_allclose(f["mva_select/map_average_spectrum/data"][()], mean,
                                   rtol=1e-12, atol=1e-12)
