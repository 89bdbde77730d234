#!/usr/bin/python3
"""Checks that an mva result file is NeXus that silx, PyMca and h5py users can open.

usage: check_nexus.py FILE.h5 [--entry NAME] [--expect-k N] [--expect-roi N]

Every NXentry and every NXdata of the file is checked; --expect-k / --expect-roi apply to
the entry named by --entry, else to the root's @default entry.  Prints one line per failure
and exits 1, or exits 0 when everything holds.  Needs h5py and numpy; uses silx's own NXdata
validator as well when silx is installed.
"""
import argparse
import datetime
import sys

import h5py
import numpy

try:
    from silx.io import nxdata as silx_nxdata
except ImportError:  # silx is optional
    silx_nxdata = None

failures = []


def fail(msg):
    failures.append(msg)


def text(v):
    """An attribute or string dataset value as str (h5py gives str, bytes or 0-d arrays)."""
    if isinstance(v, numpy.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v if isinstance(v, str) else None


def names(v):
    """@axes / @auxiliary_signals as a list of str (a single string is one name)."""
    if v is None:
        return []
    if isinstance(v, (str, bytes)):
        return [text(v)]
    return [text(x) for x in numpy.asarray(v).ravel()]


def nx_class(obj):
    return text(obj.attrs.get("NX_class"))


def check_iso8601(path, value):
    s = text(value)
    if s is None:
        fail("%s: not a string" % path)
        return
    try:
        datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        fail("%s: %r is not ISO 8601" % (path, s))


def check_nxdata(g):
    """@signal and @axes name existing datasets whose lengths match the signal's dims."""
    sig_name = text(g.attrs.get("signal"))
    if sig_name is None:
        fail("%s: NXdata without @signal" % g.name)
        return
    sig = g.get(sig_name)
    if not isinstance(sig, h5py.Dataset):
        fail("%s: @signal %r is not a dataset" % (g.name, sig_name))
        return
    if not numpy.issubdtype(sig.dtype, numpy.number):
        fail("%s/%s: signal is not numeric (%s)" % (g.name, sig_name, sig.dtype))
    axes = names(g.attrs.get("axes"))
    if "axes" in g.attrs and len(axes) != sig.ndim:
        fail("%s: @axes has %d names for a %d-D signal" % (g.name, len(axes), sig.ndim))
    for i, a in enumerate(axes[: sig.ndim]):
        if a == ".":
            continue
        ax = g.get(a)
        if not isinstance(ax, h5py.Dataset):
            fail("%s: axis %r is not a dataset" % (g.name, a))
        elif ax.ndim != 1 or ax.shape[0] != sig.shape[i]:
            fail("%s: axis %r has shape %s, signal dimension %d has length %d"
                 % (g.name, a, ax.shape, i, sig.shape[i]))
    for a in names(g.attrs.get("auxiliary_signals")):
        aux = g.get(a)
        if not isinstance(aux, h5py.Dataset) or aux.shape != sig.shape:
            fail("%s: auxiliary signal %r missing or not shaped like the signal" % (g.name, a))
    if silx_nxdata is not None and not silx_nxdata.is_valid_nxdata(g):
        fail("%s: silx does not accept this NXdata: %s"
             % (g.name, "; ".join(silx_nxdata.NXdata(g).issues)))


def check_process(entry):
    proc = entry.get("process")
    if not isinstance(proc, h5py.Group) or nx_class(proc) != "NXprocess":
        fail("%s/process: missing or not an NXprocess" % entry.name)
        return
    for name in ("program", "version", "date", "input_file"):
        if not isinstance(proc.get(name), h5py.Dataset):
            fail("%s/process/%s missing" % (entry.name, name))
    if "date" in proc:
        check_iso8601(proc["date"].name, proc["date"][()])
    if not isinstance(proc.get("parameters"), h5py.Group):
        fail("%s/process/parameters missing" % entry.name)


def check_pca(entry, expect_k):
    img = entry.get("eigenimages/data")
    spec = entry.get("eigenspectra/data")
    if img is None or spec is None:
        if expect_k is not None:
            fail("%s: no PCA (eigenimages/data or eigenspectra/data missing)" % entry.name)
        return
    if img.ndim != 3:
        fail("%s: shape %s, expected (k, rows, cols)" % (img.name, img.shape))
        return
    k, rows, cols = img.shape
    if expect_k is not None and k != expect_k:
        fail("%s: k = %d, expected %d" % (img.name, k, expect_k))
    if spec.ndim != 2 or spec.shape[0] != k:
        fail("%s: shape %s, expected (%d, p)" % (spec.name, spec.shape, k))
    if "mask" in entry and entry["mask"].shape != (rows, cols):
        fail("%s/mask: shape %s, expected %s" % (entry.name, entry["mask"].shape, (rows, cols)))
    ratio = entry.get("explained_variance_ratio")
    if ratio is None:
        fail("%s/explained_variance_ratio missing" % entry.name)
    else:
        r = numpy.asarray(ratio[()], dtype=float)
        if r.sum() > 1 + 1e-9:
            fail("%s: sums to %.17g > 1" % (ratio.name, r.sum()))
        if r.size > 1 and numpy.any(numpy.diff(r) > 0):
            fail("%s: not non-increasing" % ratio.name)
        if spec.ndim == 2 and r.shape != (spec.shape[1],):
            fail("%s: shape %s, expected (p,) = (%d,)" % (ratio.name, r.shape, spec.shape[1]))


def check_roi(entry, expect_roi):
    defs = entry.get("roi_definitions/names")
    if defs is None:
        if expect_roi is not None:
            fail("%s: no ROI result (roi_definitions/names missing)" % entry.name)
        return
    n = defs.shape[0]
    if expect_roi is not None and n != expect_roi:
        fail("%s: %d ROIs, expected %d" % (defs.name, n, expect_roi))
    total = entry.get("total_counts/data")
    if total is None or total.ndim != 2:
        fail("%s/total_counts/data missing or not 2-D" % entry.name)
        return
    for name in ("roi_raw", "roi_net"):
        d = entry.get(name + "/data")
        if n > 0 and (d is None or d.shape != (n,) + total.shape):
            fail("%s/%s/data: expected shape %s" % (entry.name, name, (n,) + total.shape))


def check_entry(entry, expect_k, expect_roi):
    default = text(entry.attrs.get("default"))
    if default is None:
        fail("%s: no @default" % entry.name)
    else:
        g = entry.get(default)
        if not isinstance(g, h5py.Group) or nx_class(g) != "NXdata":
            fail("%s: @default %r is not an NXdata group" % (entry.name, default))
        else:
            sig = text(g.attrs.get("signal"))
            if sig is None or not isinstance(g.get(sig), h5py.Dataset):
                fail("%s: the signal of its default NXdata is missing" % entry.name)
    for name in ("start_time", "end_time"):
        if name in entry:
            check_iso8601(entry[name].name, entry[name][()])
    check_process(entry)
    check_pca(entry, expect_k)
    check_roi(entry, expect_roi)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--entry", help="entry the expectations apply to (default: root @default)")
    ap.add_argument("--expect-k", type=int)
    ap.add_argument("--expect-roi", type=int)
    args = ap.parse_args()
    try:
        f = h5py.File(args.file, "r")
    except OSError as e:
        print("%s: cannot open: %s" % (args.file, e))
        return 1
    with f:
        root_default = text(f.attrs.get("default"))
        if root_default is None:
            fail("/: no @default")
        elif not isinstance(f.get(root_default), h5py.Group) \
                or nx_class(f[root_default]) != "NXentry":
            fail("/: @default %r is not an NXentry" % root_default)
        target = args.entry or root_default
        if target is not None and target not in f:
            fail("/%s: no such entry" % target)
        entries = [f[n] for n in f if isinstance(f[n], h5py.Group) and nx_class(f[n]) == "NXentry"]
        if not entries:
            fail("/: no NXentry")
        for e in entries:
            own = e.name.lstrip("/") == target
            check_entry(e, args.expect_k if own else None, args.expect_roi if own else None)

        def visit(_, obj):
            if isinstance(obj, h5py.Group) and nx_class(obj) == "NXdata":
                check_nxdata(obj)
        f.visititems(visit)
        if silx_nxdata is not None and silx_nxdata.get_default(f) is None:
            fail("/: silx finds no default NXdata")
    for msg in failures:
        print("%s: %s" % (args.file, msg))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
