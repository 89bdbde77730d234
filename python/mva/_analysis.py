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
        rc = L.mva_roi_compute(s.handle, defs, nroi, byref(run.popts), byref(ptr), byref(err))
        run.check(rc, err, lambda: L.mva_roi_result_free(ptr))
        res = ROIResult(ptr, s._info, {"rois": nroi})
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
                  memory_budget_bytes=memory or 64 << 20)
    roi_res = ROIResult(roi_ptr, s._info) if nroi else None
    return PCAResult(ptr, s._info, params, roi_res)


def pca(source, k=10, method="auto", poisson=False, uncentred=False, channels=None, bin=1,
        k_max=30, oversample=None, passes=None, tol=None, seed=None, rois=None,
        progress=None, memory=None, output=None, entry=None, **open_opts):
    """Principal component analysis of a map, streamed block by block (as mva-pca).

    source: a path, a NumPy array (read in place) or an mva.Stack; the options of mva.open
    are taken too.  k: components (default 10), or 'auto' (those above the Poisson noise
    edge; turns poisson on), 'elbow', or a variance fraction such as 0.99 (at most k_max).
    method: 'exact' (covariance + LAPACK, 2 passes), 'randomized' (subspace iteration) or
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

