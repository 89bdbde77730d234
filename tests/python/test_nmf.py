"""mva.nmf and mva.NMF against scikit-learn on the same array, arrays against files."""
import subprocess
import warnings

import numpy as np
import pytest

from conftest import BUILD, need

import mva


@pytest.mark.parametrize("k", [4, 6])
def test_nmf_error_at_most_scikit_learns(small_map, k):
    sk = need("sklearn.decomposition")
    _, x = small_map
    x2 = x.reshape(-1, x.shape[2]).astype(float)
    est = mva.NMF(n_components=k)
    W = est.fit_transform(x)
    ours = np.linalg.norm(x2 - W @ est.components_)
    np.testing.assert_allclose(est.reconstruction_err_, ours, rtol=1e-9)
    assert (W >= 0).all() and (est.components_ >= 0).all()
    np.testing.assert_allclose(est.components_.sum(axis=1), 1.0, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning at max_iter
        ref = sk.NMF(n_components=k, init="nndsvda", max_iter=400).fit(x2)
    assert ours <= ref.reconstruction_err_, (ours, ref.reconstruction_err_)
    assert est.n_iter_ == est.result_.iterations >= 1


def test_nmf_transform_and_inverse(small_map):
    _, x = small_map
    x2 = x.reshape(-1, x.shape[2]).astype(float)
    est = mva.NMF(n_components=4).fit(x2)
    W = est.transform(x2)
    # W with H fixed is a non-negative least-squares fit: no worse than the fit's own W.
    fit_w = est.result_.abundances.reshape(4, -1).T
    assert np.linalg.norm(x2 - W @ est.components_) <= np.linalg.norm(
        x2 - fit_w @ est.components_) * (1 + 1e-9)
    np.testing.assert_allclose(est.inverse_transform(W), W @ est.components_)


def test_nmf_kl_needs_mu():
    with pytest.raises(ValueError, match="beta_loss='kullback-leibler' needs solver='mu'"):
        mva.NMF(2, beta_loss="kullback-leibler").fit(np.ones((4, 5, 6)))
    est = mva.NMF(2, solver="mu", beta_loss="kullback-leibler", max_iter=30)
    rng = np.random.default_rng(1)
    x = rng.poisson(3.0, (200, 16)).astype(float) + 0.5
    est.fit(x)
    assert est.result_.method == "kl"
    np.testing.assert_allclose(est.reconstruction_err_, np.sqrt(2 * est.result_.objective))


def test_nmf_of_array_and_of_file_are_identical(small_map, tmp_path):
    h5py = need("h5py")
    path, x = small_map
    a = mva.nmf(x, k=3)
    f = mva.nmf(path, k=3)
    np.testing.assert_array_equal(a.spectra, f.spectra)
    np.testing.assert_array_equal(a.abundances, f.abundances)
    out = str(tmp_path / "nmf.h5")
    assert f.save(out) == "mva_nmf"
    back = mva.read_result(out)
    assert isinstance(back, mva.NMFResult)
    np.testing.assert_array_equal(back.spectra, f.spectra)
    with h5py.File(out, "r") as h:
        assert h.attrs["default"] in ("mva_nmf", b"mva_nmf")
    rep = subprocess.run([BUILD + "/bin/mva-report", out, "-o", str(tmp_path / "rep")],
                         capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "rep" / "index.html").exists()
