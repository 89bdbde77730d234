"""Every ctypes declaration of libmva in one place: struct mirrors and function prototypes.

The struct mirrors must match include/mva/*.h field for field: tests/python/test_layout.py
compiles a C program from the _fields_ below and compares every offset and size with the
C compiler's, so a change on either side fails loudly.  When a C struct or prototype changes,
change it here, and nowhere else.
"""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int,
                    c_size_t, c_ssize_t, c_uint64, c_ubyte, c_void_p)

c_ptrdiff_t = c_ssize_t


def _find_library():
    """MVA_LIBRARY, else the path recorded at `make install`, else build/lib of the source
    tree this package sits in (PYTHONPATH=python after make), else the system's libmva."""
    env = os.environ.get("MVA_LIBRARY")
    if env:
        return env
    try:
        from . import _installed  # written by `make install`
        if os.path.exists(_installed.LIBRARY):
            return _installed.LIBRARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("MVA_BUILD", "build")
    cand = os.path.join(here, "..", "..", build, "lib", "libmva.so")
    if os.path.exists(cand):
        return os.path.normpath(cand)
    import ctypes.util
    found = ctypes.util.find_library("mva")
    if found:
        return found
    raise ImportError("mva: libmva.so not found: build it with `make` (the package looks in "
                      "build/lib/ beside python/), install it with `make install`, or set "
                      "MVA_LIBRARY=/path/to/libmva.so")


LIBRARY = _find_library()
lib = ctypes.CDLL(LIBRARY)  # CDLL: the GIL is released during every call

# ---- error.h ----
MVA_OK, MVA_EIO, MVA_EFORMAT, MVA_ENOMEM, MVA_EINVAL, MVA_ERANGE = 0, -1, -2, -3, -4, -5
MVA_ENOTFOUND, MVA_EUNSUPPORTED, MVA_ECANCELED, MVA_ENUMERIC = -6, -7, -8, -9
MVA_ERROR_MSG_MAX = 1024


class mva_error(Structure):
    _fields_ = [("code", c_int), ("msg", c_char * MVA_ERROR_MSG_MAX)]


# ---- stack.h ----
DTYPES = ["unknown", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float32", "float64"]
MVA_STACK_AXIS_AUTO, MVA_STACK_AXIS_LAST, MVA_STACK_AXIS_FIRST = 0, 1, 2
SNAKES = {None: 0, "auto": 0, False: 1, "off": 1, True: 2, "on": 2}


class mva_calib(Structure):
    _fields_ = [("known", c_int), ("a", c_double), ("b", c_double), ("c", c_double)]


class mva_open_opts(Structure):
    _fields_ = [("channel_axis", c_int), ("rows", c_size_t), ("cols", c_size_t),
                ("calib", mva_calib), ("files", POINTER(c_char_p)), ("nfiles", c_size_t),
                ("first", ctypes.c_long), ("last", ctypes.c_long), ("use_pattern", c_int),
                ("detector", c_char_p), ("norm", c_char_p), ("snake", c_int),
                ("scan", c_char_p)]


class mva_norm_source(Structure):
    _fields_ = [("kind", c_char * 24), ("source", c_char * 1200), ("reference", c_double)]


class mva_norm_factors(Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("nel", c_size_t),
                ("element", POINTER(c_size_t)), ("factor", POINTER(c_double)),
                ("nterms", c_size_t), ("term", mva_norm_source * 4)]


class mva_stack_info(Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("channels", c_size_t),
                ("dtype", c_int), ("calib", mva_calib), ("format", c_char * 16),
                ("source", c_char * 4096), ("path", c_char * 1024), ("layout", c_char * 64),
                ("storage", c_char * 256), ("chunk_pixels", c_size_t),
                ("stored_bytes", c_uint64), ("layout_name", c_char * 64),
                ("elements", c_char * 256), ("norm", c_char * 512),
                ("warnings", c_char * 1024), ("snake", c_int),
                ("norm_factors", POINTER(mva_norm_factors))]


# ---- pass.h ----
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_double)
PASS_DONE_FN = CFUNCTYPE(None, c_void_p, c_double, c_double)


class mva_accum(Structure):
    _fields_ = [("self", c_void_p), ("begin", c_void_p), ("consume", c_void_p),
                ("finish", c_void_p)]


class mva_pass_opts(Structure):
    _fields_ = [("mem_budget", c_size_t), ("block_pixels", c_size_t), ("no_readahead", c_int),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("pass_done", PASS_DONE_FN), ("has_range", c_int), ("range_first", c_size_t),
                ("range_count", c_size_t), ("comm", c_void_p)]


# ---- pca.h ----
PCA_METHODS = {"exact": 0, "randomized": 1, "auto": 2}
K_RULES = {"fixed": 0, "noise": 1, "variance": 2, "elbow": 3}


class mva_pca_opts(Structure):
    _fields_ = [("k", c_size_t), ("k_rule", c_int), ("k_variance", c_double),
                ("ch_begin", c_size_t), ("ch_end", c_size_t), ("ch_mask", POINTER(c_ubyte)),
                ("bin", c_size_t), ("poisson", c_int), ("uncentred", c_int), ("method", c_int),
                ("oversample", c_size_t), ("max_passes", c_size_t), ("tol", c_double),
                ("seed", c_uint64)]


class mva_pca_model(Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("channels", c_size_t),
                ("p", c_size_t), ("k", c_size_t), ("bin", c_size_t), ("poisson", c_int),
                ("uncentred", c_int), ("method", c_int), ("n_valid", c_size_t),
                ("n_eigenvalues", c_size_t), ("passes", c_size_t), ("oversample", c_size_t),
                ("final_change", c_double), ("n_exact", c_size_t), ("seed", c_uint64),
                ("k_rule", c_int), ("noise_edge", c_double), ("k_reason", c_char * 256),
                ("var_ch0", POINTER(c_size_t)), ("var_energy", POINTER(c_double)),
                ("mean", POINTER(c_double)), ("eigenvalues", POINTER(c_double)),
                ("explained", POINTER(c_double)), ("total_variance", c_double),
                ("components", POINTER(c_double)), ("scores", POINTER(c_double)),
                ("var_weight", POINTER(c_double)), ("pix_weight", POINTER(c_double)),
                ("scaled_mean", POINTER(c_double)), ("mask", POINTER(c_ubyte)),
                ("seconds", c_double), ("converged", c_int), ("auto_passes", c_size_t),
                ("auto_change", c_double), ("final_error", c_double)]


# ---- nmf.h ----
NMF_METHODS = {"hals": 0, "mu": 1, "kl": 2}
NMF_INITS = {"nndsvda": 0, "random": 1, "custom": 2}
ITER_FN = CFUNCTYPE(None, c_void_p, c_size_t, c_double)


class mva_nmf_opts(Structure):
    _fields_ = [("k", c_size_t), ("method", c_int), ("init", c_int), ("seed", c_uint64),
                ("max_iter", c_size_t), ("tol", c_double), ("inner", c_size_t),
                ("compressed_iter", c_size_t), ("poisson", c_int),
                ("w_init", POINTER(c_double)), ("h_init", POINTER(c_double)),
                ("scratch_dir", c_char_p), ("on_iter", ITER_FN), ("iter_user", c_void_p)]


class mva_nmf_model(Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("p", c_size_t), ("k", c_size_t),
                ("method", c_int), ("init", c_int), ("poisson", c_int), ("seed", c_uint64),
                ("max_iter", c_size_t), ("inner", c_size_t), ("tol", c_double),
                ("n_valid", c_size_t), ("iterations", c_size_t), ("passes", c_size_t),
                ("converged", c_int), ("objective", c_double), ("norm_x2", c_double),
                ("rel_error", c_double), ("history", POINTER(c_double)),
                ("energy", POINTER(c_double)), ("spectra", POINTER(c_double)),
                ("abundances", POINTER(c_double)), ("share", POINTER(c_double)),
                ("mask", POINTER(c_ubyte)), ("seconds", c_double), ("w_scratch", c_int)]


# ---- roi.h ----
MVA_ROI_CHANNEL, MVA_ROI_KEV = 0, 1
MVA_ROI_NAME_MAX = 64


class mva_roi_def(Structure):
    _fields_ = [("name", c_char * MVA_ROI_NAME_MAX), ("from_", c_double), ("to", c_double),
                ("unit", c_int)]


class mva_roi_result(Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("p", c_size_t), ("nroi", c_size_t),
                ("defs", POINTER(mva_roi_def)), ("ch0", POINTER(c_size_t)),
                ("ch1", POINTER(c_size_t)), ("raw", POINTER(c_double)),
                ("net", POINTER(c_double)), ("total", POINTER(c_double)),
                ("sum_spectrum", POINTER(c_double)), ("avg_spectrum", POINTER(c_double)),
                ("max_spectrum", POINTER(c_double)), ("mask", POINTER(c_ubyte)),
                ("n_valid", c_size_t)]


# ---- result.h ----
class mva_param(Structure):
    _fields_ = [("key", c_char_p), ("value", c_char_p)]


# ---- select.h ----
SEL_OPS = {"and": 0, "or": 1, "and_not": 2, "set": 3}


class mva_select_spectra_result(Structure):
    _fields_ = [("p", c_size_t), ("n_selected", c_size_t), ("n_valid", c_size_t),
                ("sum", POINTER(c_double)), ("avg", POINTER(c_double)),
                ("max", POINTER(c_double)), ("map_avg", POINTER(c_double))]


class mva_select_output(Structure):
    _fields_ = [("spectra", POINTER(mva_select_spectra_result)), ("mask", POINTER(c_ubyte)),
                ("rows", c_size_t), ("cols", c_size_t), ("cal", POINTER(mva_calib)),
                ("description", c_char_p), ("source", c_char_p)]


# ---- compress.h ----
class mva_compress_stats(Structure):
    _fields_ = [("rel_frobenius", c_double), ("max_abs", c_double), ("chi2_mean", c_double),
                ("chi2", POINTER(c_double)), ("n_valid", c_size_t),
                ("values_ratio", c_double), ("bytes_ratio", c_double)]


# ---- result.h (after the parts it points to) ----
class mva_result_parts(Structure):
    _fields_ = [("entry", c_char_p), ("program", c_char_p), ("command_line", c_char_p),
                ("input", POINTER(mva_stack_info)), ("input_name", c_char_p),
                ("params", POINTER(mva_param)), ("nparams", c_size_t),
                ("pca", POINTER(mva_pca_model)), ("roi", POINTER(mva_roi_result)),
                ("nmf", POINTER(mva_nmf_model)), ("recon", POINTER(mva_compress_stats)),
                ("selection", POINTER(mva_select_output)),
                ("cluster", c_void_p)]  # mva_cluster_output: not written from Python


class mva_expand_opts(Structure):
    _fields_ = [("r0", c_size_t), ("r1", c_size_t), ("c0", c_size_t), ("c1", c_size_t),
                ("dtype", c_int), ("round", c_int)]


# The mirrors the layout test checks, with the C type each stands for.
STRUCTS = {
    "mva_error": mva_error, "mva_calib": mva_calib, "mva_open_opts": mva_open_opts,
    "mva_stack_info": mva_stack_info, "mva_norm_source": mva_norm_source,
    "mva_norm_factors": mva_norm_factors, "mva_pass_opts": mva_pass_opts, "mva_accum": mva_accum,
    "mva_pca_opts": mva_pca_opts, "mva_pca_model": mva_pca_model,
    "mva_nmf_opts": mva_nmf_opts, "mva_nmf_model": mva_nmf_model,
    "mva_roi_def": mva_roi_def, "mva_roi_result": mva_roi_result, "mva_param": mva_param,
    "mva_result_parts": mva_result_parts, "mva_select_spectra_result": mva_select_spectra_result,
    "mva_select_output": mva_select_output,
    "mva_compress_stats": mva_compress_stats, "mva_expand_opts": mva_expand_opts,
}
# C field names that are Python keywords, spelled with a trailing underscore here.
C_FIELD_NAMES = {"from_": "from"}

# ---- prototypes ----
P = POINTER
_stack_pp = P(c_void_p)
_err = P(mva_error)


PROTOS = {}  # name -> (restype, argtypes), for the test that reads them against the headers


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    PROTOS[name] = (restype, list(argtypes))
    return f


mva_strerror = _proto("mva_strerror", c_char_p, c_int)
mva_version = _proto("mva_version", c_char_p)
mva_stack_open = _proto("mva_stack_open", c_int, _stack_pp, c_char_p, P(mva_open_opts), _err)
mva_memory_open = _proto("mva_memory_open", c_int, _stack_pp, c_void_p, c_int, c_size_t,
                         c_size_t, c_size_t, P(c_ptrdiff_t), P(mva_calib), _err)
mva_stack_get_info = _proto("mva_stack_get_info", P(mva_stack_info), c_void_p)
mva_stack_read = _proto("mva_stack_read", c_int, c_void_p, c_size_t, c_size_t, P(c_double),
                        _err)
mva_stack_close = _proto("mva_stack_close", None, c_void_p)
mva_stack_spill = _proto("mva_stack_spill", c_int, c_void_p, c_char_p, _err)
mva_pass_block_pixels = _proto("mva_pass_block_pixels", c_size_t, c_void_p, P(mva_pass_opts))

mva_pca_opts_default = _proto("mva_pca_opts_default", mva_pca_opts)
mva_pca_fit = _proto("mva_pca_fit", c_int, c_void_p, P(mva_pca_opts), c_void_p, c_size_t,
                     P(mva_pass_opts), P(P(mva_pca_model)), _err)
mva_pca_model_free = _proto("mva_pca_model_free", None, P(mva_pca_model))
mva_pca_method_name = _proto("mva_pca_method_name", c_char_p, c_int)

mva_nmf_opts_default = _proto("mva_nmf_opts_default", mva_nmf_opts)
mva_nmf_fit = _proto("mva_nmf_fit", c_int, c_void_p, P(mva_nmf_opts), P(mva_pass_opts),
                     P(P(mva_nmf_model)), _err)
mva_nmf_model_free = _proto("mva_nmf_model_free", None, P(mva_nmf_model))
mva_nmf_method_name = _proto("mva_nmf_method_name", c_char_p, c_int)
mva_nmf_init_name = _proto("mva_nmf_init_name", c_char_p, c_int)

mva_roi_parse = _proto("mva_roi_parse", c_int, c_char_p, P(mva_roi_def), _err)
mva_roi_fit = _proto("mva_roi_fit", c_int, c_void_p, P(mva_roi_def), c_size_t,
                     P(mva_pass_opts), P(P(mva_roi_result)), _err)
mva_roi_acc_new = _proto("mva_roi_acc_new", c_int, P(c_void_p), P(mva_stack_info),
                          P(mva_roi_def), c_size_t, _err)
mva_roi_acc_accum = _proto("mva_roi_acc_accum", mva_accum, c_void_p)
mva_roi_acc_take = _proto("mva_roi_acc_take", c_int, c_void_p, P(P(mva_roi_result)), _err)
mva_roi_acc_free = _proto("mva_roi_acc_free", None, c_void_p)
mva_roi_result_free = _proto("mva_roi_result_free", None, P(mva_roi_result))

mva_result_write = _proto("mva_result_write", c_int, c_char_p, P(mva_result_parts), c_char_p,
                          c_size_t, _err)
mva_result_read_pca = _proto("mva_result_read_pca", c_int, c_char_p, c_char_p,
                             P(P(mva_pca_model)), _err)
mva_result_read_roi = _proto("mva_result_read_roi", c_int, c_char_p, c_char_p,
                             P(P(mva_roi_result)), _err)
mva_result_read_nmf = _proto("mva_result_read_nmf", c_int, c_char_p, c_char_p,
                             P(P(mva_nmf_model)), _err)

mva_result_image_read = _proto("mva_result_image_read", c_int, c_char_p, c_char_p, c_char_p,
                        P(P(c_double)), P(c_size_t), P(c_size_t), _err)
mva_result_input = _proto("mva_result_input", c_int, c_char_p, c_char_p, c_char_p, c_size_t,
                           _err)
mva_result_input_opts = _proto("mva_result_input_opts", c_int, c_char_p, c_char_p, c_char_p,
                               c_size_t, P(mva_open_opts), c_char_p, c_size_t, _err)
mva_select_mask_read = _proto("mva_select_mask_read", c_int, c_char_p, c_size_t, c_size_t,
                              P(c_ubyte), _err)
mva_select_range = _proto("mva_select_range", c_size_t, P(c_double), c_size_t, c_double,
                          c_double, P(c_ubyte))
mva_select_sigma = _proto("mva_select_sigma", c_size_t, P(c_double), c_size_t, c_double, c_int,
                          P(c_ubyte), P(c_double))
mva_select_top = _proto("mva_select_top", c_size_t, P(c_double), c_size_t, c_double,
                        P(c_ubyte), P(c_double))
mva_select_spectra = _proto("mva_select_spectra", c_int, c_void_p, P(c_ubyte),
                            P(mva_pass_opts), P(P(mva_select_spectra_result)), _err)
mva_select_spectra_free = _proto("mva_select_spectra_free", None,
                                    P(mva_select_spectra_result))

mva_compress_measure = _proto("mva_compress_measure", c_int, c_void_p, P(mva_pca_model),
                           P(mva_pca_opts), P(mva_pass_opts), P(P(mva_compress_stats)), _err)
mva_compress_stats_free = _proto("mva_compress_stats_free", None, P(mva_compress_stats))
mva_expand_write = _proto("mva_expand_write", c_int, P(mva_pca_model), P(mva_expand_opts),
                          c_char_p, _err)

libc = ctypes.CDLL(None)
libc.free.argtypes = [c_void_p]
libc.free.restype = None
