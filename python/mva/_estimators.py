"""scikit-learn-style estimators over the streamed analyses: mva.PCA and mva.NMF.

fit() takes an array ((pixels, channels) or (rows, cols, channels), read in place), a path
(streamed: the map is never loaded) or an mva.Stack.  The fitted attributes carry
scikit-learn's names; result_ holds the full mva result (eigenimages, provenance, save())."""
import numpy as np

from . import _lib as L
from ._analysis import nmf, pca
from ._core import InputError, _Opened


def _pixels(source, open_opts, fn):
    """Applies fn to every block of pixels of source (array or path), stacked: (n, ...)."""
    with _Opened(source, open_opts) as s:
        return np.concatenate([fn(b) for _, b in s.blocks()], axis=0)


class PCA:
    """Principal component analysis with scikit-learn's interface, computed by libmva.

    PCA(n_components=10, method='auto'|'exact'|'randomized', poisson=False, channels=None,
    bin=1, random_state=None, memory=None, progress=None).  n_components may also be 'auto',
    'elbow' or a variance fraction (as mva.pca's k).

    After fit: components_ (k, p), explained_variance_ (k; eigenvalues of the covariance,
    n - 1 normalisation), explained_variance_ratio_, singular_values_, mean_ (p),
    n_components_, n_features_in_, n_samples_ (valid pixels), noise_variance_ (mean of the
    eigenvalues beyond k when known, else NaN), result_ (the mva.PCAResult).

    Example:
        >>> import mva, numpy as np
        >>> x = np.random.default_rng(0).poisson(5.0, (600, 64)).astype(np.uint16)
        >>> est = mva.PCA(n_components=3, method="exact").fit(x)
        >>> scores = est.transform(x)          # (600, 3), (x - mean_) @ components_.T
        >>> est.explained_variance_ratio_.shape
        (3,)
    """

    def __init__(self, n_components=10, method="auto", poisson=False, channels=None, bin=1,
                 random_state=None, memory=None, progress=None):
        self.n_components = n_components
        self.method = method
        self.poisson = poisson
        self.channels = channels
        self.bin = bin
        self.random_state = random_state
        self.memory = memory
        self.progress = progress

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in ("n_components", "method", "poisson", "channels",
                                              "bin", "random_state", "memory", "progress")}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _fit(self, X, open_opts):
        r = pca(X, k=self.n_components, method=self.method, poisson=self.poisson,
                channels=self.channels, bin=self.bin, seed=self.random_state,
                memory=self.memory, progress=self.progress, **open_opts)
        k = r.k
        self.result_ = r
        self._open_opts = {}
        self.components_ = r.components
        self.explained_variance_ = r.eigenvalues[:k]
        self.explained_variance_ratio_ = r.explained[:k]
        self.singular_values_ = np.sqrt(np.maximum(self.explained_variance_, 0) *
                                        (r.n_valid - 1))
        rest = r.eigenvalues[k:r.n_eigenvalues]
        self.noise_variance_ = float(rest.mean()) if (r.method == "exact" and rest.size) \
            else float("nan")
        self.mean_ = r.mean
        self.n_components_ = k
        self.n_features_in_ = r.channels
        self.n_samples_ = r.n_valid
        return r

    def fit(self, X, y=None, **open_opts):
        """Fits the model to X: an array (pixels, channels) / (rows, cols, channels), a path
        (streamed) or an mva.Stack; open_opts as for mva.open.  Returns self."""
        self._fit(X, open_opts)
        return self

    def fit_transform(self, X, y=None, **open_opts):
        """Fits and returns the scores of X's pixels, (pixels, k): the eigenimages computed in
        the fit's last pass (no extra pass)."""
        r = self._fit(X, open_opts)
        return np.ascontiguousarray(r.scores.reshape(r.k, -1).T)

    def _check(self):
        if not hasattr(self, "result_"):
            raise InputError("this PCA is not fitted yet: call fit() first", L.MVA_EINVAL)
        return self.result_

    def _variables(self, block):
        """The model's variables (channel range, binning) of a block of stack channels."""
        r = self.result_
        v = np.zeros((block.shape[0], r.p))
        for t in range(r.bin):
            idx = r.var_ch0 + t
            ok = idx < block.shape[1]
            v[:, ok] += block[:, idx[ok]]
        return v

    def transform(self, X, **open_opts):
        """Scores of the pixels of X on the fitted components, (pixels, k): (x - mean_) @
        components_.T; with poisson, the same un-weighting as the fit (pixel weight from
        the pixel's own total).  X: array, path (streamed) or Stack, of the fit's channels."""
        r = self._check()
        c = r.var_weight if r.var_weight is not None else np.ones(r.p)
        W = r.components * (c * c)          # c * v_q, v_q the unit eigenvectors (scaled)
        off = np.zeros(r.k) if r.uncentred else (
            r.components * c) @ (r.scaled_mean if r.poisson else r.mean)

        def block_scores(b):
            x = self._variables(b)
            s = x @ W.T
            if r.poisson:
                return s - np.sqrt(np.maximum(x.sum(axis=1), 0))[:, None] * off
            return s - off
        return _pixels(X, open_opts, block_scores)

    def inverse_transform(self, Y):
        """Spectra (in the model's variables) from scores: Y @ components_ + mean_.  Not for
        Poisson-scaled models, whose rebuilding needs each pixel's weight."""
        r = self._check()
        if r.poisson:
            raise InputError("inverse_transform: a Poisson-scaled model rebuilds a pixel from "
                             "its own weight; use mva.expand on the saved model",
                             L.MVA_EUNSUPPORTED)
        Y = np.asarray(Y, dtype=float)
        out = Y @ r.components
        return out if r.uncentred else out + r.mean


class NMF:
    """Non-negative matrix factorisation with scikit-learn's interface, computed by libmva
    (streamed: one pass per iteration).

    NMF(n_components=6, solver='hals'|'mu' ('cd' = 'hals'), beta_loss='frobenius' |
    'kullback-leibler' (with solver='mu'), init='nndsvda'|'random', max_iter=200, tol=1e-4,
    random_state=None, poisson=False, memory=None, progress=None).

    After fit: components_ (k, p) = H, each row summing to 1 (so W holds counts);
    reconstruction_err_ (||X - WH||_F, or sqrt(2 KL) as scikit-learn reports it), n_iter_,
    n_components_, n_features_in_, result_ (the mva.NMFResult).

    Example:
        >>> x = np.random.default_rng(0).poisson(5.0, (600, 64)).astype(float)
        >>> est = mva.NMF(n_components=3)
        >>> W = est.fit_transform(x)           # (600, 3); x ~ W @ est.components_
    """

    def __init__(self, n_components=6, solver="hals", beta_loss="frobenius", init="nndsvda",
                 max_iter=200, tol=1e-4, random_state=None, poisson=False, memory=None,
                 progress=None):
        self.n_components = n_components
        self.solver = solver
        self.beta_loss = beta_loss
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.poisson = poisson
        self.memory = memory
        self.progress = progress

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in (
            "n_components", "solver", "beta_loss", "init", "max_iter", "tol", "random_state",
            "poisson", "memory", "progress")}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _method(self):
        solver = {"cd": "hals"}.get(self.solver, self.solver)
        kl = self.beta_loss in ("kullback-leibler", 1)
        if solver not in ("hals", "mu"):
            raise InputError("solver=%r: expected 'hals' (or 'cd') or 'mu'" % (self.solver,),
                             L.MVA_EINVAL)
        if not kl and self.beta_loss not in ("frobenius", 2):
            raise InputError("beta_loss=%r: expected 'frobenius' or 'kullback-leibler'"
                             % (self.beta_loss,), L.MVA_EINVAL)
        if kl and solver != "mu":
            raise InputError("beta_loss='kullback-leibler' needs solver='mu'", L.MVA_EINVAL)
        return "kl" if kl else solver

    def _fit(self, X, open_opts):
        method = self._method()
        r = nmf(X, k=self.n_components, method=method, init=self.init,
                seed=self.random_state, max_iter=self.max_iter, tol=self.tol,
                poisson=self.poisson, memory=self.memory, progress=self.progress, **open_opts)
        self.result_ = r
        self.components_ = r.spectra
        self.reconstruction_err_ = float(np.sqrt(2 * r.objective if method == "kl"
                                                 else r.objective))
        self.n_iter_ = r.iterations
        self.n_components_ = r.k
        self.n_features_in_ = r.p
        return r

    def fit(self, X, y=None, **open_opts):
        """Fits W and H to X (array, path streamed, or Stack).  Returns self."""
        self._fit(X, open_opts)
        return self

    def fit_transform(self, X, y=None, **open_opts):
        """Fits and returns W, (pixels, k): the abundances of the fit."""
        r = self._fit(X, open_opts)
        return np.ascontiguousarray(r.abundances.reshape(r.k, -1).T)

    def transform(self, X, sweeps=100, **open_opts):
        """W for new pixels with H = components_ fixed: non-negative least squares per pixel
        (HALS sweeps from the clipped unconstrained solution), block by block."""
        if not hasattr(self, "result_"):
            raise InputError("this NMF is not fitted yet: call fit() first", L.MVA_EINVAL)
        H = self.components_
        HHt = H @ H.T

        def block_w(x):
            XHt = x @ H.T
            W = np.maximum(np.linalg.lstsq(HHt, XHt.T, rcond=None)[0].T, 0)
            for _ in range(sweeps):
                for q in range(H.shape[0]):
                    if HHt[q, q] > 0:
                        W[:, q] = np.maximum(W[:, q] + (XHt[:, q] - W @ HHt[:, q]) / HHt[q, q],
                                             0)
            return W
        return _pixels(X, open_opts, block_w)

    def inverse_transform(self, W):
        """X ~ W @ components_."""
        return np.asarray(W, dtype=float) @ self.components_
