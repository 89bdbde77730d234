#!/usr/bin/python3
"""EDF files written by fabio read by mva exactly as fabio reads them.

usage: edf_fabio.py TMPDIR [DUMP]

DUMP is the dump executable, or its source (default tests/interop/dump.c, compiled here
against $BUILD/lib/libmva.a).  For every dtype fabio writes, the same map is written as
one file per row (a numbered series), as one 3-D file, as one multi-frame file (one frame
per row) and as gzip; fabio writes only the host byte order, so big-endian copies are made
by rewriting the headers and swapping the data, and 3-D files (which fabio reads but does
not write) by rewriting the dimensions of a 2-D file.  Each is compared exactly with the array
fabio reads back and with the original.  Exits 1 on any difference.
"""
import gzip
import os
import shutil
import sys

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edf_common as ec  # noqa: E402

import fabio  # noqa: E402
from fabio.edfimage import EdfImage  # noqa: E402

ROWS, COLS, P = 5, 7, 33
DTYPES = ["uint16", "int32", "uint32", "float32", "float64", "int8", "uint8", "int16",
          "int64", "uint64"]


def fabio_stack(files):
    """The map as fabio reads it: each file's frames stacked as rows (3-D data as is)."""
    rows = []
    for name in files:
        img = fabio.open(name)
        for k in range(img.nframes):
            d = img.getframe(k).data if img.nframes > 1 else img.data
            rows.extend(d if d.ndim == 3 else [d.reshape(-1, d.shape[-1])])
    return numpy.array(rows)


def check_dtype(tmp, exe, dtype, seed):
    d = os.path.join(tmp, dtype)
    os.makedirs(d)
    cube = ec.test_values(dtype, (ROWS, COLS, P), seed)
    dname = str(numpy.dtype(dtype))
    header = {"MCA a": "0.01", "MCA b": "0.02", "MCA c": "0"}

    # one file per row, with a gap after the last one and a stray file beyond it
    series = [os.path.join(d, "row_%04d.edf" % r) for r in range(ROWS)]
    for r, name in enumerate(series):
        EdfImage(data=cube[r], header=dict(header)).write(name)
    EdfImage(data=cube[0]).write(os.path.join(d, "row_%04d.edf" % (ROWS + 1)))
    ref = fabio_stack(series)
    if not numpy.array_equal(ref, cube):
        ec.fail("%s: fabio does not read its own series back" % dtype)
    ec.compare("fabio %s series" % dtype, exe, [series[2]], d, ref, dname,
               {"path": "series row_0000.edf..row_%04d.edf (%d files)" % (ROWS - 1, ROWS),
                "calib": "0.01 0.02 0"})
    ec.compare("fabio %s pattern 1..3" % dtype, exe,
               [os.path.join(d, "row_%04d.edf"), "--pattern", "1", "3"], d, ref[1:4], dname)
    ec.compare("fabio %s list" % dtype, exe, ["--list"] + series[::-1], d, ref[::-1], dname)

    # one 3-D file: fabio reads them but writes only 2-D, so its 2-D header of the
    # (rows*cols, channels) array gets Dim_2 = cols and Dim_3 = rows
    cube_file = os.path.join(d, "cube.edf")
    flat = os.path.join(d, "flat.edf")
    EdfImage(data=cube.reshape(ROWS * COLS, P)).write(flat)
    ec.rewrite_edf(flat, cube_file, lambda h: h.replace(
        "Dim_2 = %d ;" % (ROWS * COLS), "Dim_2 = %d ;\nDim_3 = %d ;" % (COLS, ROWS)))
    ref = fabio.open(cube_file).data
    if not numpy.array_equal(ref, cube):
        ec.fail("%s: fabio does not read its own 3-D file back" % dtype)
    ec.compare("fabio %s 3-D" % dtype, exe, [cube_file], d, ref, dname, {"path": "3-D block"})

    # one file, one frame per row
    multi = os.path.join(d, "frames.edf")
    img = EdfImage(data=cube[0])
    for r in range(1, ROWS):
        img.append_frame(data=cube[r])
    img.write(multi)
    ref = fabio_stack([multi])
    if not numpy.array_equal(ref, cube):
        ec.fail("%s: fabio does not read its own frames back" % dtype)
    ec.compare("fabio %s frames" % dtype, exe, [multi], d, ref, dname,
               {"path": "%d blocks" % ROWS})

    # big-endian copies
    swapped = [os.path.join(d, "be_%04d.edf" % r) for r in range(ROWS)]
    for src, dst in zip(series, swapped):
        ec.byteswap_edf(src, dst)
    ref = fabio_stack(swapped)
    if not numpy.array_equal(ref, cube):
        ec.fail("%s: fabio reads the big-endian series differently" % dtype)
    ec.compare("fabio %s series HighByteFirst" % dtype, exe, [swapped[0]], d, ref, dname)
    for src in (cube_file, multi):
        dst = src.replace(".edf", "_be.edf")
        ec.byteswap_edf(src, dst)
        ref = fabio_stack([dst])
        if not numpy.array_equal(ref, cube):
            ec.fail("%s: fabio reads %s differently" % (dtype, os.path.basename(dst)))
        ec.compare("fabio %s %s" % (dtype, os.path.basename(dst)), exe, [dst], d, ref, dname)

    # whole-file gzip
    for src in (cube_file, multi):
        dst = src + ".gz"
        with open(src, "rb") as f, gzip.open(dst, "wb") as g:
            shutil.copyfileobj(f, g)
        ref = fabio_stack([dst])
        ec.compare("fabio %s %s" % (dtype, os.path.basename(dst)), exe, [dst], d, ref, dname,
                   {"storage": "gzip"})


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    tmp = os.path.abspath(sys.argv[1])
    os.makedirs(tmp, exist_ok=True)
    exe = ec.build_dump(tmp, sys.argv[2] if len(sys.argv) > 2 else None)
    for seed, dtype in enumerate(DTYPES):
        check_dtype(tmp, exe, dtype, seed)
    ec.finish("edf_fabio (fabio %s)" % fabio.version)


if __name__ == "__main__":
    main()
