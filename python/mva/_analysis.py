"""The functions that mirror the command-line tools: roi, pca, nmf, select, compress, expand."""
import ctypes
import os
from ctypes import byref

import numpy as np

from . import _lib as L
from ._core import InputError, Run, Stack, _b, _Opened, check, open as _open
from ._results import NMFResult, PCAResult, ROIResult, _Owner, _view, _write_spec, read_result

_OPEN_KEYS = ("dataset", "channel_axis", "shape", "calibration", "detector", "norm", "snake",
              "scan", "series", "files")


def _split_open(kw, fname):
    opts = {k: kw.pop(k) for k in list(kw) if k in _OPEN_KEYS}
    if kw:
        raise TypeError("mva.%s() got unexpected keyword arguments: %s"
                        % (fname, ", ".join(sorted(kw))))
    return opts


def _roi_defs(rois, calibrated=True):
    """"Fe=6.2:6.6keV" strings, (name, lo, hi[, 'keV']) tuples or a {name: (lo, hi)} dict
    (channels) into an array of mva_roi_def."""
    if rois is None:
        return None, 0
    if isinstance(rois, str):
        rois = [rois]
    if isinstance(rois, dict):
        rois = [(k,) + tuple(v) for k, v in rois.items()]
    defs = (L.mva_roi_def * max(1, len(rois)))()
    err = L.mva_error()
    for i, r in enumerate(rois):
        if isinstance(r, str):
            check(L.mva_roi_parse(_b(r), byref(defs[i]), byref(err)), err)
            continue
        name, lo, hi = r[0], r[1], r[2]
        unit = r[3] if len(r) > 3 else "channel"
        if unit not in ("channel", "keV"):
            raise InputError("ROI %r: unit %r: expected 'channel' or 'keV'" % (r, unit),
                             L.MVA_EINVAL)
        defs[i].name = _b(str(name))[:L.MVA_ROI_NAME_MAX - 1]
        defs[i].from_, defs[i].to = float(lo), float(hi)
        defs[i].unit = L.MVA_ROI_KEV if unit == "keV" else L.MVA_ROI_CHANNEL
    return defs, len(rois)


def roi(source, rois=None, progress=None, memory=None, output=None, entry=None, **open_opts):
    """ROI images and spectra in one pass over a map (as mva-roi).

    source: a path, a NumPy array or an mva.Stack (see mva.open, whose options are taken
    here too).  rois: "Fe=6.2:6.6keV" / "Cu=640:700" strings, (name, lo, hi[, 'keV'])
    tuples, or a {name: (lo, hi)} dict of channels (bounds inclusive).  Returns an
    mva.ROIResult: raw and net images (nroi, rows, cols), total counts image, sum, average
    and maximum spectrum.  output: also save it there (a new NXentry).

    Example:
        >>> r = mva.roi("map.h5", ["Fe=6.2:6.6keV", "Ca=3.6:3.8keV"])
        >>> r.raw.shape, r.names
        ((2, 101, 200), ['Fe', 'Ca'])
    """
    oo = _split_open(open_opts, "roi")
    defs, nroi = _roi_defs(rois)
    with _Opened(source, oo) as s, Run(progress, memory, "roi") as run:
        ptr = ctypes.POINTER(L.mva_roi_result)()
        err = L.mva_error()
        rc = L.mva_roi_fit(s.handle, defs, nroi, byref(run.popts), byref(ptr), byref(err))
        run.check(rc, err, lambda: L.mva_roi_result_free(ptr))
        res = ROIResult(ptr, s._info, dict(s.reader_params, rois=nroi))
    if output is not None:
        res.save(output, entry)
    return res


def _k_rule(o, k, k_max):
    """k: a number of components, 'auto' (Poisson noise edge), 'elbow', or a float in (0, 1)
    (explained-variance target)."""
    if isinstance(k, str):
        if k not in ("auto", "elbow"):
            raise InputError("k=%r: expected a number, 'auto', 'elbow' or a variance "
                             "fraction such as 0.99" % (k,), L.MVA_EINVAL)
        o.k_rule = L.K_RULES["noise" if k == "auto" else "elbow"]
        o.k = k_max
        if k == "auto":
            o.poisson = 1
        return k
    if isinstance(k, float) and not float(k).is_integer():
        if not 0 < k < 1:
            raise InputError("k=%r: a variance target must lie between 0 and 1" % k,
                             L.MVA_EINVAL)
        o.k_rule, o.k_variance, o.k = L.K_RULES["variance"], k, k_max
        return str(k)
    if int(k) < 1:
        raise InputError("k=%r: expected at least 1 component" % (k,), L.MVA_EINVAL)
    o.k = int(k)
    return "fixed"


def _pca_opts(k, method, poisson, uncentred, channels, bin, k_max, oversample, passes, tol,
              seed):
    o = L.mva_pca_opts_default()
    o.poisson = 1 if poisson else 0
    rule = _k_rule(o, k, k_max)
    if method not in L.PCA_METHODS:
        raise InputError("method=%r: expected 'exact', 'randomized' or 'auto'" % (method,),
                         L.MVA_EINVAL)
    o.method = L.PCA_METHODS[method]
    o.uncentred = 1 if uncentred else 0
    if channels is not None:
        lo, hi = channels
        o.ch_begin, o.ch_end = int(lo), int(hi) + 1
    o.bin = int(bin)
    if oversample is not None:
        o.oversample = int(oversample)
    if passes is not None:
        o.max_passes = int(passes)
    if tol is not None:
        o.tol = float(tol)
    if seed is not None:
        o.seed = int(seed)
    params = {"components_rule": rule, "method_requested": method,
              "max_passes": o.max_passes, "tolerance": repr(o.tol), "oversample": o.oversample,
              "seed": o.seed, "channels": "%d:%d" % tuple(channels) if channels else "all",
              "bin": o.bin, "poisson": "yes" if o.poisson else "no",
              "centred_scores": "no" if uncentred else "yes"}
    return o, params


def _fit_pca(s, o, params, rois, progress, memory):
    """mva_pca_fit on an open stack, with the ROIs (if any) accumulated in its first pass."""
    defs, nroi = _roi_defs(rois)
    acc = ctypes.c_void_p()
    roi_ptr = ctypes.POINTER(L.mva_roi_result)()
    ptr = ctypes.POINTER(L.mva_pca_model)()
    err = L.mva_error()
    try:
        if nroi:
            check(L.mva_roi_acc_new(byref(acc), byref(s._info), defs, nroi, byref(err)), err)
            extra = L.mva_roi_acc_accum(acc)
        with Run(progress, memory, "pca") as run:
            rc = L.mva_pca_fit(s.handle, byref(o), byref(extra) if nroi else None, nroi,
                               byref(run.popts), byref(ptr), byref(err))
            run.check(rc, err, lambda: L.mva_pca_model_free(ptr))
        if nroi:
            rc = L.mva_roi_acc_take(acc, byref(roi_ptr), byref(err))
            if rc != L.MVA_OK:
                L.mva_pca_model_free(ptr)
                check(rc, err)
    finally:
        L.mva_roi_acc_free(acc)
    m = ptr.contents
    params = dict(params, components=m.k, components_reason=m.k_reason.decode(),
                  method=L.mva_pca_method_name(m.method).decode(), rois=nroi,
                  memory_budget_bytes=memory or 64 << 20, **s.reader_params)
    roi_res = ROIResult(roi_ptr, s._info) if nroi else None
    return PCAResult(ptr, s._info, params, roi_res)


def pca(source, k=10, method="auto", poisson=False, uncentred=False, channels=None, bin=1,
        k_max=30, oversample=None, passes=None, tol=None, seed=None, rois=None,
        progress=None, memory=None, output=None, entry=None, **open_opts):
    """Principal component analysis of a map, streamed block by block (as mva-pca).

    source: a path, a NumPy array (read in place) or an mva.Stack; the options of mva.open
    are taken too.  k: components (default 10), or 'auto' (those above the Poisson noise
    edge; turns poisson on), 'elbow', or a variance fraction such as 0.99 (at most k_max).
    method: 'exact' (covariance + LAPACK, 2 passes), 'randomized' (block Krylov) or
    'auto'.  poisson: Keenan & Kotula scaling for counts.  uncentred: scores of the
    uncentred data.  channels: (first, last) inclusive; bin: sum adjacent channels.
    rois: ROI images computed in the same pass (as for mva.roi), in result.roi.
    progress: a callable f(fraction, pass_number) (return True to stop) or True for a tqdm
    bar; memory: block budget in bytes.  output: also save the result there.
    Returns an mva.PCAResult (components (k, p), scores (k, rows, cols), eigenvalues, ...).

    Example:
        >>> import mva, numpy as np
        >>> x = np.random.default_rng(0).poisson(5.0, (20, 30, 64)).astype(np.uint16)
        >>> r = mva.pca(x, k=3, method="exact")
        >>> r.components.shape, r.scores.shape
        ((3, 64), (3, 20, 30))
    """
    oo = _split_open(open_opts, "pca")
    o, params = _pca_opts(k, method, poisson, uncentred, channels, bin, k_max, oversample,
                          passes, tol, seed)
    with _Opened(source, oo) as s:
        res = _fit_pca(s, o, params, rois, progress, memory)
    if output is not None:
        res.save(output, entry)
    return res



def nmf(source, k=4, method="hals", init="nndsvda", seed=None, max_iter=200, tol=1e-4,
        inner=None, compressed_iter=None, poisson=False, scratch=None, progress=None,
        memory=None, output=None, entry=None, **open_opts):
    """Non-negative matrix factorisation X ~ W H of a map, streamed: one pass per iteration,
    only W (pixels x k) and H (k x channels) in memory (as mva-nmf).

    method: 'hals' (default), 'mu' (multiplicative, Frobenius) or 'kl' (multiplicative,
    Kullback-Leibler / Poisson).  init: 'nndsvda' or 'random' (seed).  tol: stop when the
    objective changes by less than this, relative, between passes.  poisson: scale as for
    PCA (not with 'kl').  scratch: directory for W when it exceeds the memory budget.
    Returns an mva.NMFResult: spectra (k, p) each summing to 1, abundances (k, rows, cols)
    in counts, share, objective, rel_error, iterations, history.

    Example:
        >>> r = mva.nmf("map.h5", k=4)
        >>> r.spectra.shape, r.abundances.shape
        ((4, 2000), (4, 101, 200))
    """
    oo = _split_open(open_opts, "nmf")
    o = L.mva_nmf_opts_default()
    o.k = int(k)
    if method not in L.NMF_METHODS:
        raise InputError("method=%r: expected 'hals', 'mu' or 'kl'" % (method,), L.MVA_EINVAL)
    if init not in ("nndsvda", "random"):
        raise InputError("init=%r: expected 'nndsvda' or 'random'" % (init,), L.MVA_EINVAL)
    o.method, o.init = L.NMF_METHODS[method], L.NMF_INITS[init]
    if seed is not None:
        o.seed = int(seed)
    o.max_iter, o.tol = int(max_iter), float(tol)
    if inner is not None:
        o.inner = int(inner)
    if compressed_iter is not None:
        o.compressed_iter = int(compressed_iter)
    o.poisson = 1 if poisson else 0
    o.scratch_dir = _b(scratch)
    params = {"components": o.k, "method": method, "init": init, "seed": o.seed,
              "max_iter": o.max_iter, "tolerance": repr(o.tol), "inner_sweeps": o.inner,
              "compressed_iter": o.compressed_iter, "poisson": "yes" if poisson else "no",
              "memory_budget_bytes": memory or 64 << 20}
    with _Opened(source, oo) as s, Run(progress, memory, "nmf") as run:
        ptr = ctypes.POINTER(L.mva_nmf_model)()
        err = L.mva_error()
        rc = L.mva_nmf_fit(s.handle, byref(o), byref(run.popts), byref(ptr), byref(err))
        run.check(rc, err, lambda: L.mva_nmf_model_free(ptr))
        res = NMFResult(ptr, s._info, dict(params, **s.reader_params))
    if output is not None:
        res.save(output, entry)
    return res


# ---- selections ----

def _image(img):
    a = np.ascontiguousarray(img, dtype=float)
    if a.ndim != 2:
        raise InputError("an image (rows, cols) was expected, got shape %r" % (a.shape,),
                         L.MVA_EINVAL)
    return a


def _mask_of(fn, img, *args):
    """Runs one of the library's selection tests on img: (mask, threshold)."""
    a = _image(img)
    mask = np.zeros(a.shape, dtype=np.uint8)
    thr = ctypes.c_double(np.nan)
    P = ctypes.POINTER
    tail = () if fn is L.mva_select_range else (byref(thr),)
    fn(a.ctypes.data_as(P(ctypes.c_double)), a.size, *args,
       mask.ctypes.data_as(P(ctypes.c_ubyte)), *tail)
    return mask.view(bool), thr.value


def mask_above(img, nsigma=3.0):
    """Pixels of img at or above median + nsigma standard deviations (finite pixels), as
    mva-select --above.  Returns (mask, threshold).

    Example:
        >>> mask, t = mva.mask_above(r.scores[3], 3)
    """
    return _mask_of(L.mva_select_sigma, img, ctypes.c_double(nsigma), 1)


def mask_below(img, nsigma=-3.0):
    """Pixels at or below median + nsigma standard deviations (mva-select --below)."""
    return _mask_of(L.mva_select_sigma, img, ctypes.c_double(nsigma), 0)


def mask_top(img, fraction):
    """The top `fraction` (0..1] of the finite pixels of img (mva-select --top); returns
    (mask, threshold).

    Example:
        >>> mask, t = mva.mask_top(r.scores[0], 0.05)   # the brightest 5%
    """
    return _mask_of(L.mva_select_top, img, ctypes.c_double(fraction))


def mask_range(img, lo, hi):
    """Pixels with lo <= value <= hi (NaN never selected); returns the mask."""
    return _mask_of(L.mva_select_range, img, ctypes.c_double(lo), ctypes.c_double(hi))[0]


def read_image(results, spec="eigenimages/data[0]", entry=None):
    """An image of a results file, as mva-select --image reads it: "eigenimages/data[1]",
    "roi_raw/data[0]", "total_counts/data".  Returns a (rows, cols) float64 array.

    Example:
        >>> img = mva.read_image("map_pca.h5", "eigenimages/data[3]")
        >>> mask, threshold = mva.mask_above(img, 3)
    """
    img = ctypes.POINTER(ctypes.c_double)()
    rows, cols = ctypes.c_size_t(), ctypes.c_size_t()
    err = L.mva_error()
    check(L.mva_result_image_read(_b(os.fspath(results)), _b(entry), _b(spec), byref(img),
                           byref(rows), byref(cols), byref(err)), err)
    own = _Owner(ctypes.cast(img, ctypes.c_void_p).value, L.libc.free)
    return _view(own, img, (rows.value, cols.value))


class SelectionResult:
    """Spectra of a pixel selection (mva.select): sum, avg, max (channels) over the selected
    pixels, map_avg over every valid pixel of the map, n_selected, n_valid, mask."""

    def __init__(self, ptr, mask, info, description, source):
        self._ptr, self._info = ptr, info
        self._mask = np.ascontiguousarray(mask, dtype=np.uint8)
        self.mask = self._mask.view(bool)
        self.description, self.source = description, source
        own = _Owner(ptr, L.mva_select_spectra_free)
        r = ptr.contents
        self.p, self.n_selected, self.n_valid = r.p, r.n_selected, r.n_valid
        self.sum = _view(own, r.sum, (r.p,))
        self.avg = _view(own, r.avg, (r.p,))
        self.max = _view(own, r.max, (r.p,))
        self.map_avg = _view(own, r.map_avg, (r.p,))
        self._own = own

    def __repr__(self):
        return "<mva.SelectionResult %d pixels selected, %d valid>" % (self.n_selected,
                                                                        self.n_valid)

    def save(self, path, entry=None):
        """Adds the selection as an NXentry (default mva_select) of path, as mva-select does:
        the four spectra over the energy axis and the mask as an image.  Returns the entry."""
        from ._results import _write_parts
        rows, cols = self.mask.shape
        sel = L.mva_select_output(
            spectra=self._ptr, mask=self._mask.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)),
            rows=rows, cols=cols, cal=ctypes.pointer(self._info.calib),
            description=_b(self.description))
        parts = L.mva_result_parts(input_name=_b(self.source), selection=ctypes.pointer(sel),
                                   input=ctypes.pointer(self._info))
        return _write_parts(path, entry, "mva-select", parts)


def select(source, mask, description=None, progress=None, memory=None, output=None,
           entry=None, **open_opts):
    """The spectra of the pixels selected in mask (a (rows, cols) boolean image), in one
    streamed pass over the map: their sum, average and maximum, and the map's average (as
    mva-select).  source: the map (path, array, Stack), or a results file whose recorded
    input is then the map, reopened with the reader options it was analysed with (detector,
    norm, snake, scan, ...; keywords given here win).  Build masks with mva.mask_above, mask_top, mask_range (on
    result images or mva.read_image) and NumPy's & | ~.

    Example:
        >>> r = mva.pca("map.h5", k=5, poisson=True)
        >>> mask, _ = mva.mask_above(r.scores[3], 3)
        >>> sel = mva.select("map.h5", mask)
        >>> sel.avg / sel.map_avg   # enrichment per channel
    """
    oo = _split_open(open_opts, "select")
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if isinstance(source, (str, bytes, os.PathLike)):
        from ._results import _results_reopen
        recorded, kw = _results_reopen(os.fspath(source), None)
        if recorded:  # a results file: its input is the map, opened as it was analysed
            source = recorded
            oo = dict(kw, **oo)
    with _Opened(source, oo) as s:
        if m.shape != (s.rows, s.cols):
            raise InputError("mask is %s, the map is %d x %d pixels"
                             % ("x".join(map(str, m.shape)), s.rows, s.cols), L.MVA_EINVAL)
        with Run(progress, memory, "select") as run:
            ptr = ctypes.POINTER(L.mva_select_spectra_result)()
            err = L.mva_error()
            rc = L.mva_select_spectra(s.handle, m.ctypes.data_as(
                ctypes.POINTER(ctypes.c_ubyte)), byref(run.popts), byref(ptr), byref(err))
            run.check(rc, err, lambda: L.mva_select_spectra_free(ptr))
        src = s.source + ("::" + s.path if s.path else "")
        res = SelectionResult(ptr, m, s._info, description or "mask given from Python", src)
    if output is not None:
        res.save(output, entry)
    return res


# ---- compression ----

class CompressResult(PCAResult):
    """A PCA model kept in place of the map (mva.compress) and how well it stands for it:
    rel_frobenius, max_abs, chi2_mean (reduced chi-square under Poisson statistics, 1 = the
    noise), chi2 (rows, cols), values_ratio and bytes_ratio (stack vs model).  save() writes
    the model and these statistics, as mva-compress."""

    program = "mva-compress"

    def _set_stats(self, sptr):
        self._stats = sptr
        own = _Owner(sptr, L.mva_compress_stats_free)
        r = sptr.contents
        self.rel_frobenius, self.max_abs, self.chi2_mean = r.rel_frobenius, r.max_abs, r.chi2_mean
        self.values_ratio, self.bytes_ratio = r.values_ratio, r.bytes_ratio
        self.chi2 = _view(own, r.chi2, (self.rows, self.cols))
        self._sown = own


def compress(source, k=10, progress=None, memory=None, output=None, entry=None, **kw):
    """Keeps a map as a PCA model and measures it against the map in one more pass (as
    mva-compress): the PCA options of mva.pca, then relative Frobenius error, largest error
    and reduced chi-square per pixel.  Returns an mva.CompressResult; output: save it there
    (mva.expand rebuilds the stack from it).

    Example:
        >>> c = mva.compress("map.h5", k=4, output="map_k4.h5")
        >>> c.rel_frobenius, c.bytes_ratio
    """
    pca_keys = ("method", "poisson", "uncentred", "channels", "bin", "k_max", "oversample",
                "passes", "tol", "seed")
    pk = {key: kw.pop(key) for key in list(kw) if key in pca_keys}
    oo = _split_open(kw, "compress")
    args = dict(method="auto", poisson=False, uncentred=False, channels=None, bin=1, k_max=30,
                oversample=None, passes=None, tol=None, seed=None)
    args.update(pk)
    o, params = _pca_opts(k, **args)
    with _Opened(source, oo) as s:
        res = _fit_pca(s, o, params, None, progress, memory)
        res.__class__ = CompressResult
        with Run(progress, memory, "measuring") as run:
            sptr = ctypes.POINTER(L.mva_compress_stats)()
            err = L.mva_error()
            rc = L.mva_compress_measure(s.handle, res._ptr, byref(o), byref(run.popts),
                                        byref(sptr), byref(err))
            run.check(rc, err, lambda: L.mva_compress_stats_free(sptr))
        res._set_stats(sptr)
    if output is not None:
        res.save(output, entry)
    return res


def expand(model, output, region=None, dtype="float64", round=False, entry=None):
    """Rebuilds the stack (or a region) from a PCA model into a NeXus file (as mva-expand),
    row by row.  model: a PCAResult / CompressResult, or a results file path.  region:
    ((r0, r1), (c0, c1)) rows and columns, end excluded.  dtype: 'float64', 'float32' or
    'uint32'; round: to the nearest integer.  Returns output.

    Example:
        >>> mva.expand("map_k4.h5", "map_k4_stack.h5", dtype="uint32", round=True)
    """
    if not isinstance(model, PCAResult):
        model = read_result(model, entry, kind="pca")
    o = L.mva_expand_opts()
    if region is not None:
        (o.r0, o.r1), (o.c0, o.c1) = region
    kinds = {t: L.DTYPES.index(t) for t in ("float64", "float32", "uint32")}
    if dtype not in kinds:
        raise InputError("dtype=%r: expected 'float64', 'float32' or 'uint32'" % (dtype,),
                         L.MVA_EINVAL)
    o.dtype, o.round = kinds[dtype], 1 if round else 0
    err = L.mva_error()
    with Run(None, None, "expand") as run:
        rc = L.mva_expand_write(model._ptr, byref(o), _b(os.fspath(output)), byref(err))
        run.check(rc, err, lambda: os.path.exists(output) and rc == 0 and os.unlink(output))
    return output
