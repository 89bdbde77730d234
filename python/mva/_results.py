"""Result objects: NumPy views of the library's models, saving and reading NeXus entries."""
import ctypes
import os
from ctypes import byref

import numpy as np

from . import _lib as L
from ._core import InputError, _b, _s, check


class _Owner:
    """Frees a library-allocated object when the last NumPy view of it is gone."""

    def __init__(self, ptr, free):
        self.ptr, self._free = ptr, free

    def __del__(self):
        if self.ptr:
            self._free(self.ptr)
            self.ptr = None


def _view(owner, ptr, shape, ctype=ctypes.c_double):
    """A NumPy array over ptr[0 .. prod(shape)) that keeps owner alive (no copy); None for
    a NULL pointer."""
    if not ptr:
        return None
    count = int(np.prod(shape))
    buf = (ctype * count).from_address(ctypes.addressof(ptr.contents))
    buf._owner = owner
    return np.frombuffer(buf, dtype=np.dtype(ctype)).reshape(shape)


def _info_for(rows, cols, channels, source):
    """A stack description for a model read back from a file (no stack at hand)."""
    info = L.mva_stack_info()
    info.rows, info.cols, info.channels = rows, cols, channels
    src = _b(source or "(unknown)")
    file, _, path = src.partition(b"::")
    info.source = file[:4095]
    info.path = path[:1023]
    info.format = b"unknown"
    return info


def _write_parts(path, entry, program, parts, params=None, info=None, command_line=None):
    """mva_result_write of parts (an mva_result_parts with its result pointers set), with
    the provenance of a Python call; returns the entry's name."""
    keep = [(_b(k), _b(str(v))) for k, v in (params or {}).items()]
    arr = (L.mva_param * max(1, len(keep)))(*[L.mva_param(k, v) for k, v in keep])
    parts.entry = _b(entry)
    parts.program = _b(program)
    parts.command_line = command_line
    if info is not None:
        parts.input = ctypes.pointer(info)
    parts.params = arr
    parts.nparams = len(keep)
    out = ctypes.create_string_buffer(256)
    err = L.mva_error()
    check(L.mva_result_write(_b(os.fspath(path)), byref(parts), out, 256, byref(err)), err)
    return _s(out.value)


def _write_spec(path, entry, program, info, params, pca=None, roi=None, nmf=None,
                recon=None):
    """An analysis entry (PCA and/or ROI, or NMF; recon with PCA) as the tools write it."""
    parts = L.mva_result_parts(pca=pca, roi=roi, nmf=nmf, recon=recon)
    return _write_parts(path, entry, program, parts, params, info,
                        b"python: mva." + _b(program.replace("mva-", "")))


class Result:
    """Common to every result: save() and the input it came from."""

    program = "mva"

    def __repr__(self):
        return "<mva.%s %s>" % (type(self).__name__, ", ".join(
            "%s=%s" % (k, getattr(self, k)) for k in self._summary))


class ROIResult(Result):
    """Images and spectra of one ROI pass (mva.roi).

    names, ch0, ch1 (inclusive channel bounds), raw and net (nroi, rows, cols) ROI images
    (net: PyMca's straight-line background removed), total (rows, cols) counts image,
    sum_spectrum, avg_spectrum, max_spectrum (channels), mask (rows, cols; True = pixel left
    out for NaN/Inf), n_valid."""

    program = "mva-roi"
    _summary = ("names", "n_valid")

    def __init__(self, ptr, info, params=None):
        self._ptr, self._info, self.params = ptr, info, params or {}
        own = _Owner(ptr, L.mva_roi_result_free)
        r = ptr.contents
        n, shape = r.rows * r.cols, (r.rows, r.cols)
        self.rows, self.cols, self.p, self.nroi = r.rows, r.cols, r.p, r.nroi
        self.names = [_s(r.defs[i].name) for i in range(r.nroi)]
        self.ch0 = _view(own, r.ch0, (r.nroi,), ctypes.c_size_t) if r.nroi else np.zeros(0, int)
        self.ch1 = _view(own, r.ch1, (r.nroi,), ctypes.c_size_t) if r.nroi else np.zeros(0, int)
        self.raw = _view(own, r.raw, (r.nroi,) + shape) if r.nroi else np.zeros((0,) + shape)
        self.net = _view(own, r.net, (r.nroi,) + shape) if r.nroi else np.zeros((0,) + shape)
        self.total = _view(own, r.total, shape)
        self.sum_spectrum = _view(own, r.sum_spectrum, (r.p,))
        self.avg_spectrum = _view(own, r.avg_spectrum, (r.p,))
        self.max_spectrum = _view(own, r.max_spectrum, (r.p,))
        self.mask = _view(own, r.mask, shape, ctypes.c_ubyte).view(bool)
        self.n_valid = r.n_valid
        self._own = own

    def save(self, path, entry=None):
        """Writes the ROI images and spectra as an NXentry of path (a new file, or a new
        entry of an existing results file), as mva-roi does; returns the entry name."""
        return _write_spec(path, entry, self.program, self._info, self.params,
                           roi=self._ptr)


class PCAResult(Result):
    """A fitted PCA (mva.pca), as NumPy arrays over the library's model (no copies).

    components (k, p) eigenspectra; scores (k, rows, cols) eigenimages; eigenvalues and
    explained (ratio to the total variance; NaN beyond the ones computed); mean (p) spectrum;
    energy (p keV, or None); var_ch0 (first channel of each variable); k, p, method
    ('exact' or 'randomized'), n_valid, passes, total_variance, k_reason, mask (rows, cols;
    True = left out), var_weight / pix_weight (Poisson scaling, else None), roi (an
    ROIResult when ROIs were asked for in the same pass, else None), seconds."""

    program = "mva-pca"
    _stats = None  # mva.compress: the reconstruction statistics, saved with the model
    _summary = ("k", "p", "method", "n_valid")

    def __init__(self, ptr, info, params=None, roi=None):
        self._ptr, self._info, self.params, self.roi = ptr, info, params or {}, roi
        own = _Owner(ptr, L.mva_pca_model_free)
        m = ptr.contents
        n, shape = m.rows * m.cols, (m.rows, m.cols)
        self.rows, self.cols, self.channels, self.p, self.k = m.rows, m.cols, m.channels, m.p, m.k
        self.bin, self.poisson, self.uncentred = m.bin, bool(m.poisson), bool(m.uncentred)
        self.method = _s(L.mva_pca_method_name(m.method))
        self.n_valid, self.n_eigenvalues, self.passes = m.n_valid, m.n_eigenvalues, m.passes
        self.total_variance, self.k_reason = m.total_variance, _s(m.k_reason)
        self.final_change, self.seed, self.seconds = m.final_change, m.seed, m.seconds
        self.var_ch0 = _view(own, m.var_ch0, (m.p,), ctypes.c_size_t)
        self.energy = _view(own, m.var_energy, (m.p,))
        self.mean = _view(own, m.mean, (m.p,))
        self.eigenvalues = _view(own, m.eigenvalues, (m.p,))
        self.explained = _view(own, m.explained, (m.p,))
        self.components = _view(own, m.components, (m.k, m.p))
        self.scores = _view(own, m.scores, (m.k,) + shape)
        self.var_weight = _view(own, m.var_weight, (m.p,))
        self.pix_weight = _view(own, m.pix_weight, shape)
        self.scaled_mean = _view(own, m.scaled_mean, (m.p,))
        self.mask = _view(own, m.mask, shape, ctypes.c_ubyte).view(bool)
        self._own = own

    eigenimages = property(lambda self: self.scores)
    eigenspectra = property(lambda self: self.components)

    def save(self, path, entry=None):
        """Writes the model (with the ROIs computed in the same pass, if any) as an NXentry
        of path, the same entry mva-pca writes: a new file, or a new entry of an existing
        results file (written under a temporary name, renamed when complete).  Returns the
        entry name.

        Example:
            >>> r = mva.pca("map.h5", k=4)
            >>> r.save("map_pca.h5")
            'mva_pca'
        """
        return _write_spec(path, entry, self.program, self._info, self.params, pca=self._ptr,
                           roi=self.roi._ptr if self.roi is not None else None,
                           recon=self._stats)


class NMFResult(Result):
    """A fitted NMF (mva.nmf): X ~ sum_q abundances[q] spectra[q].

    spectra (k, p), each summing to 1; abundances (k, rows, cols) in counts; share (k) of the
    modelled counts; objective (||X - WH||^2, or the KL divergence), rel_error, history
    (objective after each pass), iterations, passes, converged, method, energy (or None),
    mask, n_valid, seconds."""

    program = "mva-nmf"
    _summary = ("k", "p", "method", "iterations", "rel_error")

    def __init__(self, ptr, info, params=None):
        self._ptr, self._info, self.params = ptr, info, params or {}
        own = _Owner(ptr, L.mva_nmf_model_free)
        m = ptr.contents
        shape = (m.rows, m.cols)
        self.rows, self.cols, self.p, self.k = m.rows, m.cols, m.p, m.k
        self.method = _s(L.mva_nmf_method_name(m.method))
        self.init = _s(L.mva_nmf_init_name(m.init))
        self.poisson, self.seed = bool(m.poisson), m.seed
        self.n_valid, self.iterations, self.passes = m.n_valid, m.iterations, m.passes
        self.converged = bool(m.converged)
        self.objective, self.norm_x2, self.rel_error = m.objective, m.norm_x2, m.rel_error
        self.seconds = m.seconds
        self.history = _view(own, m.history, (m.iterations,)) if m.iterations else np.zeros(0)
        self.energy = _view(own, m.energy, (m.p,))
        self.spectra = _view(own, m.spectra, (m.k, m.p))
        self.abundances = _view(own, m.abundances, (m.k,) + shape)
        self.share = _view(own, m.share, (m.k,))
        self.mask = _view(own, m.mask, shape, ctypes.c_ubyte).view(bool)
        self._own = own

    def save(self, path, entry=None):
        """Writes the model as an NXentry of path, the entry mva-nmf writes; returns its
        name."""
        return _write_spec(path, entry, self.program, self._info, self.params, nmf=self._ptr)


def _results_reopen(path, entry):
    """The map a results entry was computed from and the reader options it was opened with
    (as mva.open keywords), as mva-select reopens it; (None, {}) when path holds none."""
    buf = ctypes.create_string_buffer(5200)
    text = ctypes.create_string_buffer(8192)
    opts = L.mva_open_opts()
    err = L.mva_error()
    if L.mva_result_input_opts(_b(path), _b(entry), buf, len(buf), byref(opts), text,
                               len(text), byref(err)) != L.MVA_OK:
        return None, {}
    kw = {name: _s(getattr(opts, name)) for name in ("detector", "norm", "scan")
          if getattr(opts, name)}
    if opts.snake != L.SNAKES[None]:
        kw["snake"] = opts.snake == L.SNAKES[True]
    if opts.channel_axis != L.MVA_STACK_AXIS_AUTO:
        kw["channel_axis"] = "first" if opts.channel_axis == L.MVA_STACK_AXIS_FIRST else "last"
    if opts.rows or opts.cols:
        kw["shape"] = (opts.rows, opts.cols)
    if opts.calib.known:
        kw["calibration"] = (opts.calib.a, opts.calib.b, opts.calib.c)
    return _s(buf.value), kw


def _results_input(path, entry):
    buf = ctypes.create_string_buffer(5200)
    err = L.mva_error()
    if L.mva_result_input(_b(path), _b(entry), buf, len(buf), byref(err)) != L.MVA_OK:
        return None
    return _s(buf.value)


def read_result(path, entry=None, kind=None):
    """Reads a result back from a results file (written by the tools or by result.save()).

    kind: 'pca', 'nmf' or 'roi'; None tries them in that order (for entry None: the file's
    default entry when it holds that kind, else the first entry that does).  Returns a
    PCAResult, NMFResult or ROIResult; raises mva.NotFoundError (a FileNotFoundError) when
    there is no such file or entry.

    Example:
        >>> r = mva.read_result("map_pca.h5")
        >>> r.components.shape
        (4, 2000)
    """
    path = os.fspath(path)
    kinds = [kind] if kind else ["pca", "nmf", "roi"]
    first_err = None
    for kd in kinds:
        if kd not in ("pca", "nmf", "roi"):
            raise InputError("kind=%r: expected 'pca', 'nmf' or 'roi'" % (kd,), L.MVA_EINVAL)
        T = {"pca": L.mva_pca_model, "nmf": L.mva_nmf_model, "roi": L.mva_roi_result}[kd]
        fn = {"pca": L.mva_result_read_pca, "nmf": L.mva_result_read_nmf,
              "roi": L.mva_result_read_roi}[kd]
        ptr = ctypes.POINTER(T)()
        err = L.mva_error()
        rc = fn(_b(path), _b(entry), byref(ptr), byref(err))
        if rc != L.MVA_OK:
            if first_err is None or (rc != L.MVA_ENOTFOUND and first_err[0] == L.MVA_ENOTFOUND):
                first_err = (rc, err)
            if rc == L.MVA_ENOTFOUND or kind is None:
                continue
            check(rc, err)
        m = ptr.contents
        channels = getattr(m, "channels", m.p)
        info = _info_for(m.rows, m.cols, channels, _results_input(path, entry))
        cls = {"pca": PCAResult, "nmf": NMFResult, "roi": ROIResult}[kd]
        return cls(ptr, info)
    check(*first_err)
