"""Errors, progress and cancellation, and opening stacks (files or NumPy arrays)."""
import ctypes
import os
import signal
import threading
import warnings
from ctypes import byref

import numpy as np

from . import _lib as L


class Error(Exception):
    """An error reported by libmva; str(e) is the library's message (file, place, what was
    expected), e.code the status code (mva.EIO, ...).  Each kind also subclasses the built-in
    exception a Python caller expects: ValueError for bad input or options, OSError for
    files, MemoryError, ArithmeticError."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message


class InputError(Error, ValueError):
    """Bad input or options: format errors, invalid arguments, sizes out of range,
    unsupported input."""


class FileError(Error, OSError):
    """The system or HDF5 failed to read or write a file."""


class NotFoundError(Error, FileNotFoundError):
    """A file, dataset or entry does not exist."""


class OutOfMemoryError(Error, MemoryError):
    """The library could not allocate memory."""


class NumericError(Error, ArithmeticError):
    """A numerical routine (LAPACK) failed."""


class Cancelled(Error):
    """The progress callback asked to stop."""


class CopyWarning(UserWarning):
    """An array had to be copied before the library could read it (the reason is given)."""


_KINDS = {L.MVA_EIO: FileError, L.MVA_EFORMAT: InputError, L.MVA_ENOMEM: OutOfMemoryError,
          L.MVA_EINVAL: InputError, L.MVA_ERANGE: InputError, L.MVA_ENOTFOUND: NotFoundError,
          L.MVA_EUNSUPPORTED: InputError, L.MVA_ECANCELED: Cancelled,
          L.MVA_ENUMERIC: NumericError}


def raise_error(rc, err):
    """Raises the Error subclass for status rc with the message in err (an mva_error)."""
    msg = err.msg.decode("utf-8", "replace") if err is not None else ""
    if not msg:
        msg = L.mva_strerror(rc).decode()
    raise _KINDS.get(rc, Error)(msg, rc)


def check(rc, err):
    if rc != L.MVA_OK:
        raise_error(rc, err)


def _b(s):
    return None if s is None else os.fsencode(s) if not isinstance(s, bytes) else s


def _s(b):
    return b.decode("utf-8", "replace")


# ---- progress, tqdm, Ctrl-C ----

class Run:
    """One library call that passes over a stack: the pass options (memory budget, progress
    callback) and, around the call, Ctrl-C turned into a cancellation of the pass.

    progress: None; a callable f(fraction, pass_number) called after each block (return
    True to stop: the call raises mva.Cancelled); True or "tqdm" for a tqdm bar (when tqdm
    is installed; ignored otherwise).  While the call runs in the main thread, SIGINT sets a
    flag that the next block's progress report sees: the pass stops where it is, nothing is
    written, and KeyboardInterrupt is raised when the library has returned."""

    def __init__(self, progress=None, memory=None, label="mva"):
        self.popts = L.mva_pass_opts()
        if memory is not None:
            self.popts.mem_budget = int(memory)
        self.user = progress if callable(progress) else None
        self.bar = None
        if progress is True or progress == "tqdm":
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=100, desc=label, unit="%", leave=False)
            except ImportError:
                pass
        self.interrupted = False
        self.exc = None
        self.npass = 0
        self.last = 1.0
        self.cb = L.PROGRESS_FN(self._progress)  # kept alive as long as the run
        self.popts.progress = self.cb
        self._old = None

    def _progress(self, _user, fraction):
        try:
            if fraction <= self.last:
                self.npass += 1
                if self.bar is not None:
                    self.bar.reset()
                    self.bar.set_description("pass %d" % self.npass)
            self.last = fraction
            if self.bar is not None:
                self.bar.n = round(100 * fraction)
                self.bar.refresh()
            if self.user is not None and self.user(fraction, self.npass):
                return 1
        except KeyboardInterrupt:
            self.interrupted = True
        except BaseException as e:  # noqa: B902 - handed back to the caller after the call
            self.exc = e
            return 1
        return 1 if self.interrupted else 0

    def _sigint(self, signum, frame):
        self.interrupted = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread() and
                signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._sigint)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        if self.bar is not None:
            self.bar.close()
        return False

    def check(self, rc, err, cleanup=None):
        """After the call: KeyboardInterrupt when Ctrl-C came, the callback's own exception,
        else mva.Error for a failed status.  cleanup() runs first on any of these."""
        if self.interrupted or self.exc is not None or rc != L.MVA_OK:
            if cleanup is not None:
                cleanup()
        if self.interrupted:
            raise KeyboardInterrupt("mva: pass interrupted; nothing was written")
        if self.exc is not None:
            raise self.exc
        check(rc, err)


# ---- stacks ----

_NP_DTYPES = {np.dtype(n): i for i, n in enumerate(L.DTYPES) if n != "unknown"}


def _calib_struct(calibration):
    cal = L.mva_calib()
    if calibration is not None:
        c = list(calibration) + [0.0] * (3 - len(calibration))
        if len(calibration) not in (2, 3):
            raise InputError("calibration: expected (a, b) or (a, b, c) for "
                             "E(keV) = a + b*ch + c*ch^2, got %r" % (calibration,),
                             L.MVA_EINVAL)
        cal.known, cal.a, cal.b, cal.c = 1, float(c[0]), float(c[1]), float(c[2])
    return cal


def _axis(channel_axis):
    if channel_axis in (None, "auto"):
        return L.MVA_STACK_AXIS_AUTO
    if channel_axis in ("last", -1):
        return L.MVA_STACK_AXIS_LAST
    if channel_axis in ("first", 0):
        return L.MVA_STACK_AXIS_FIRST
    raise InputError("channel_axis=%r: expected 'first', 'last' or None (from the file)"
                     % (channel_axis,), L.MVA_EINVAL)


def _own_factors(f, info):
    """The normalisation factors f (mva_norm_factors, owned by the stack) copied into memory
    Python owns, info.norm_factors pointed at the copy (result files written after the stack
    is closed still record them).  Returns them as an (elements, rows, cols) array, or (rows,
    cols) when one factor a pixel serves every element."""
    shape = (f.nel, f.rows, f.cols) if f.nel > 1 else (f.rows, f.cols)
    n = f.nel * f.rows * f.cols
    factor = np.ctypeslib.as_array(f.factor, (n,)).copy()
    element = np.ctypeslib.as_array(f.element, (f.nel,)).copy()
    g = L.mva_norm_factors()
    ctypes.memmove(byref(g), byref(f), ctypes.sizeof(g))
    g.factor = factor.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    g.element = element.ctypes.data_as(ctypes.POINTER(ctypes.c_size_t))
    info.norm_factors = ctypes.pointer(g)
    info._keep = (g, factor, element)
    out = factor.reshape(shape)
    out.flags.writeable = False
    return out


class Stack:
    """An opened map: rows x cols pixels of `channels` values, read block by block.

    Attributes: shape (rows, cols, channels), rows, cols, channels, dtype (NumPy dtype of the
    stored values), calibration ((a, b, c) keV or None), energy (keV of each channel, or
    None), layout ("rows,cols,channels", ...), format ("hdf5", "edf", "spec", "memory"),
    source, path (dataset or scan), storage, layout_name (recognised facility layout),
    elements (detector elements used), norm (normalisation applied), norm_factors (the
    factors each pixel was multiplied by, (rows, cols) or (elements, rows, cols), or None),
    reader_params (the options mva.open was given, recorded with every result as the tools
    record them: reader_input, reader_detector, reader_norm, ...), snake, warnings (what
    the reader skipped).  Use as a context manager or call close();
    every analysis function takes a Stack, a path or an array."""

    def __init__(self, handle, keep=None, layout=None):
        self._h = ctypes.c_void_p(handle)
        self._keep = keep  # the array a memory stack reads, kept alive with the stack
        info = L.mva_stack_get_info(self._h).contents
        self._info = L.mva_stack_info()  # a copy: result files record it
        ctypes.memmove(byref(self._info), byref(info), ctypes.sizeof(info))
        self.rows, self.cols, self.channels = info.rows, info.cols, info.channels
        self.shape = (self.rows, self.cols, self.channels)
        self.dtype = np.dtype(L.DTYPES[info.dtype]) if info.dtype else None
        c = info.calib
        self.calibration = (c.a, c.b, c.c) if c.known else None
        self.format = _s(info.format)
        self.source = _s(info.source)
        self.path = _s(info.path)
        self.layout = layout or _s(info.layout)
        self.storage = _s(info.storage)
        self.layout_name = _s(info.layout_name)
        self.elements = _s(info.elements)
        self.norm = _s(info.norm)
        self.snake = info.snake == L.SNAKES["on"]
        self.warnings = [w for w in _s(info.warnings).split("\n") if w]
        self.reader_params = {}  # mva.open sets the reader options it was given
        self.norm_factors = None
        if info.norm_factors:
            self.norm_factors = _own_factors(info.norm_factors.contents, self._info)

    @property
    def energy(self):
        if self.calibration is None:
            return None
        a, b, c = self.calibration
        ch = np.arange(self.channels, dtype=float)
        return a + ch * (b + ch * c)

    @property
    def handle(self):
        if not self._h:
            raise InputError("the stack is closed", L.MVA_EINVAL)
        return self._h

    def read(self, first=0, count=None):
        """Pixels [first, first + count) as a (count, channels) float64 array (one block;
        the whole map only if you ask for it)."""
        n = self.rows * self.cols
        count = n - first if count is None else count
        out = np.empty((count, self.channels))
        err = L.mva_error()
        rc = L.mva_stack_read(self.handle, first, count,
                              out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), byref(err))
        check(rc, err)
        return out

    def blocks(self, pixels=65536):
        """Yields (first, block) over the map, block a (npix, channels) float64 array."""
        n = self.rows * self.cols
        pixels = max(1, min(pixels, max(1, (64 << 20) // (8 * self.channels))))
        for first in range(0, n, pixels):
            yield first, self.read(first, min(pixels, n - first))

    def close(self):
        if self._h:
            L.mva_stack_close(self._h)
            self._h = ctypes.c_void_p()
        self._keep = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        where = self.source + ("::" + self.path if self.path else "")
        return "<mva.Stack %s: %d x %d pixels x %d channels, %s, %s>" % (
            where, self.rows, self.cols, self.channels,
            self.dtype.name if self.dtype is not None else "?", self.layout)


def _array_dtype(a):
    """The array itself when the library reads its dtype in place, else a copy (with the
    reason, as a CopyWarning)."""
    dt = a.dtype
    if dt.kind in "iuf" and dt.isnative and dt.newbyteorder("=") in _NP_DTYPES:
        return a
    if dt.kind == "b" or (dt.kind in "iu" and dt.itemsize <= 8) or \
            (dt.kind == "f" and dt.itemsize <= 8):
        target = np.float32 if dt.kind == "f" and dt.itemsize <= 4 else \
            (np.uint8 if dt.kind == "b" else dt.newbyteorder("="))
        why = ("byte order %s is not the machine's" % dt.byteorder if not dt.isnative
               else "dtype %s has no reader" % dt)
        warnings.warn("mva.open: array copied as %s (%s)" % (np.dtype(target), why),
                      CopyWarning, stacklevel=4)
        return a.astype(target)
    raise InputError("mva.open: arrays of %s cannot be read: expected an integer or float "
                     "dtype" % dt, L.MVA_EINVAL)


def _open_array(a, channel_axis=None, shape=None, calibration=None):
    a = _array_dtype(np.asarray(a))
    st = a.strides
    first = channel_axis in ("first", 0)
    if a.ndim == 3:
        if first:  # (channels, rows, cols)
            p, rows, cols = a.shape
            strides = (st[1], st[2], st[0])
            layout = "channels,rows,cols"
        else:
            rows, cols, p = a.shape
            strides = st
            layout = "rows,cols,channels"
        if shape is not None and tuple(shape) != (rows, cols):
            raise InputError("shape=%r: a 3-D array is %d x %d pixels" % (shape, rows, cols),
                             L.MVA_EINVAL)
    elif a.ndim == 2:
        if first:
            p, n = a.shape
            spix, sch = st[1], st[0]
            layout = "channels,pixels"
        else:
            n, p = a.shape
            spix, sch = st
            layout = "pixels,channels"
        rows, cols = (1, n) if shape is None else tuple(int(v) for v in shape)
        if rows * cols != n:
            raise InputError("shape=%r: %d x %d = %d pixels, the array has %d"
                             % (shape, rows, cols, rows * cols, n), L.MVA_EINVAL)
        strides = (cols * spix, spix, sch)
    else:
        raise InputError("mva.open: a %d-D array: expected (rows, cols, channels) or "
                         "(pixels, channels)" % a.ndim, L.MVA_EINVAL)
    h = ctypes.c_void_p()
    err = L.mva_error()
    cst = (L.c_ptrdiff_t * 3)(*strides)
    cal = _calib_struct(calibration)
    rc = L.mva_memory_open(byref(h), ctypes.c_void_p(a.ctypes.data), _NP_DTYPES[
        a.dtype.newbyteorder("=")], rows, cols, p, cst, byref(cal), byref(err))
    check(rc, err)
    return Stack(h.value, keep=a, layout=layout)


def open(source, dataset=None, channel_axis=None, shape=None, calibration=None,
         detector=None, norm=None, snake=None, scan=None, series=None, files=None):
    """Opens a map for analysis and returns an mva.Stack (nothing is read yet).

    source: a file (HDF5/NeXus, EDF, SPEC; the format is read from the content), a
    "file.h5::/path" string, or a NumPy array (rows, cols, channels) or (pixels, channels)
    of any integer or float dtype, read in place without a copy (views, transposes and
    slices included).  Options, as the command-line tools take them:
      dataset        HDF5 dataset path (same as "file.h5::/path")
      channel_axis   'first' or 'last' (default: from the file; for arrays, 'last')
      shape          (rows, cols) of the map, e.g. for (pixels, channels) data
      calibration    (a, b[, c]): E(keV) = a + b*ch + c*ch^2
      detector       multi-element detectors: 'sum', an element (0, 1, ...), a list
                     "0,2,3" or a range "0-3" (summed); default: all elements summed
      norm           normalisation, as mva-pca --norm: "i0", "livetime", "dtc",
                     "monitor:/path", several joined by commas
      snake          True (odd rows recorded right to left), False, or None (from the file)
      scan           which scan(s): SPEC "N", "N,M", "N:M"; BLISS "2" or "2.1"
      series         (first, last): source is a printf pattern ("map_%04d.edf"), one EDF
                     file per map row
      files          EDF files, one per map row, in order

    Example:
        >>> import mva, numpy as np
        >>> s = mva.open(np.ones((4, 5, 16), dtype=np.uint16))
        >>> s.shape, s.dtype.name
        ((4, 5, 16), 'uint16')
    """
    if isinstance(source, Stack):
        return source
    if isinstance(source, np.ndarray) or hasattr(source, "__array_interface__"):
        files_only = {"dataset": dataset, "detector": detector, "norm": norm, "snake": snake,
                      "scan": scan, "series": series, "files": files}
        given = sorted(k for k, v in files_only.items() if v is not None)
        if given:
            raise InputError("mva.open: %s applies to files, not to an array" % ", ".join(given),
                             L.MVA_EINVAL)
        return _open_array(source, channel_axis, shape, calibration)
    opts = L.mva_open_opts()
    opts.channel_axis = _axis(channel_axis)
    if shape is not None:
        opts.rows, opts.cols = (int(v) for v in shape)
    opts.calib = _calib_struct(calibration)
    keep = []
    for name, value in (("detector", detector), ("norm", norm), ("scan", scan)):
        if value is not None:
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            keep.append(_b(str(value)))
            setattr(opts, name, keep[-1])
    if snake not in L.SNAKES:
        raise InputError("snake=%r: expected True, False or None (from the file)" % (snake,),
                         L.MVA_EINVAL)
    opts.snake = L.SNAKES[snake]
    if series is not None:
        opts.use_pattern = 1
        opts.first, opts.last = (int(v) for v in series)
    if files is not None:
        keep.append((ctypes.c_char_p * len(files))(*[_b(f) for f in files]))
        opts.files = ctypes.cast(keep[-1], ctypes.POINTER(ctypes.c_char_p))
        opts.nfiles = len(files)
    src = os.fspath(source) if source is not None else (files[0] if files else "")
    if dataset is not None:
        src = "%s::%s" % (src, dataset)
    h = ctypes.c_void_p()
    err = L.mva_error()
    rc = L.mva_stack_open(byref(h), _b(src), byref(opts), byref(err))
    check(rc, err)
    s = Stack(h.value)
    s.reader_params = _reader_params(src if series is None and files is None else None, opts)
    return s


def _reader_params(src, opts):
    """The reader options as the tools record them with a result (process/parameters/
    reader_input, reader_detector, reader_norm, reader_snake, reader_scan,
    reader_channel_axis, reader_shape, reader_calib; those set), so that mva-select and
    mva.select reopen the map as it was analysed.  src: the input as given (None for an EDF
    series, as the tools)."""
    p = {}
    if src:
        p["reader_input"] = src
    for name in ("detector", "norm", "scan"):
        v = getattr(opts, name)
        if v is not None:
            p["reader_" + name] = _s(v)
    if opts.snake != L.SNAKES[None]:
        p["reader_snake"] = "on" if opts.snake == L.SNAKES[True] else "off"
    if opts.channel_axis != L.MVA_STACK_AXIS_AUTO:
        first = opts.channel_axis == L.MVA_STACK_AXIS_FIRST
        p["reader_channel_axis"] = "first" if first else "last"
    if opts.rows or opts.cols:
        p["reader_shape"] = "%dx%d" % (opts.rows, opts.cols)
    if opts.calib.known:
        p["reader_calib"] = "%.17g,%.17g,%.17g" % (opts.calib.a, opts.calib.b, opts.calib.c)
    return p


class _Opened:
    """`with _Opened(source, opts) as s`: opens source unless it is a Stack already, and
    closes only what it opened."""

    def __init__(self, source, open_opts):
        self.own = not isinstance(source, Stack)
        self.stack = open(source, **open_opts) if self.own else source

    def __enter__(self):
        return self.stack

    def __exit__(self, *exc):
        if self.own:
            self.stack.close()
