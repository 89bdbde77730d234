"""mva: multivariate analysis of X-ray fluorescence maps, streamed in bounded memory.

Python bindings of libmva (ctypes; nothing is compiled at import).  A map is a file (HDF5,
EDF, SPEC) or a NumPy array; files are read block by block, never loaded whole, and arrays
are read in place.  Functions mirror the command-line tools and return NumPy arrays:

    mva.open(source, ...)       -> Stack (shape, dtype, calibration, ...)
    mva.roi(source, rois)       -> ROIResult (raw/net ROI images, total, spectra)
    mva.pca(source, k=10)       -> PCAResult (components, scores, eigenvalues, mean)
    mva.nmf(source, k=4)        -> NMFResult (spectra, abundances)
    mva.select(source, mask)    -> SelectionResult (spectra of the selected pixels)
    mva.compress(source, k)     -> CompressResult (a PCA model and its reconstruction error)
    mva.expand(model, output)   rebuilds a stack file from a model
    mva.read_result(path)       reads a result file of the tools (or of result.save())
    mva.PCA, mva.NMF            scikit-learn-style estimators

Errors raise mva.Error (subclasses of ValueError, OSError, MemoryError... by kind) with the
library's message.  Example:

    >>> import mva, numpy as np
    >>> x = np.random.default_rng(0).poisson(5.0, (20, 30, 64)).astype(np.uint16)
    >>> r = mva.pca(x, k=3)
    >>> r.scores.shape
    (3, 20, 30)
"""
from . import _lib
from ._analysis import (CompressResult, SelectionResult, compress, expand, mask_above,
                        mask_below, mask_range, mask_top, nmf, pca, read_image, roi, select)
from ._core import (Cancelled, CopyWarning, Error, FileError, InputError, NotFoundError,
                    NumericError, OutOfMemoryError, Stack, open)
from ._estimators import NMF, PCA
from ._results import NMFResult, PCAResult, ROIResult, read_result

__version__ = _lib.mva_version().decode()
library = _lib.LIBRARY

EIO, EFORMAT, ENOMEM, EINVAL, ERANGE = (_lib.MVA_EIO, _lib.MVA_EFORMAT, _lib.MVA_ENOMEM,
                                        _lib.MVA_EINVAL, _lib.MVA_ERANGE)
ENOTFOUND, EUNSUPPORTED, ECANCELED, ENUMERIC = (_lib.MVA_ENOTFOUND, _lib.MVA_EUNSUPPORTED,
                                                _lib.MVA_ECANCELED, _lib.MVA_ENUMERIC)
