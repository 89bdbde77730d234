#!/usr/bin/python3
"""EDF stacks written by PyMca's EdfFile read by mva exactly as PyMca reads them.

usage: edf_pymca.py TMPDIR [DUMP]

DUMP is the dump executable, or its source (default tests/interop/dump.c, compiled here
against $BUILD/lib/libmva.a).  For each EDF DataType and both byte orders, the same map is
written with EdfFile(name, 'wb').WriteImage(header, data, DataType=..., ByteOrder=...) as
one file per row (a numbered series with a gap after it), as one 3-D file, as one
multi-block file and as gzip.  The reference is what PyMca's EDFStack reads (the loader
behind PyMca's stack window, numbered series found by loadIndexedStack), including the
calibration from the "MCA a/b/c" keys.  Exits 1 on any difference.
"""
import gzip
import os
import shutil
import sys

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edf_common as ec  # noqa: E402

import PyMca5  # noqa: E402
from PyMca5.PyMcaIO import EdfFile, EDFStack  # noqa: E402

ROWS, COLS, P = 4, 6, 40
# EDF DataType written by PyMca, numpy type of the values, dtype name mva reports
TYPES = [("SignedByte", "int8", "int8"), ("UnsignedByte", "uint8", "uint8"),
         ("SignedShort", "int16", "int16"), ("UnsignedShort", "uint16", "uint16"),
         ("SignedInteger", "int32", "int32"), ("UnsignedInteger", "uint32", "uint32"),
         ("SignedLong", "int32", "int32"), ("UnsignedLong", "uint32", "uint32"),
         ("Signed64", "int64", "int64"), ("Unsigned64", "uint64", "uint64"),
         ("FloatValue", "float32", "float32"), ("DoubleValue", "float64", "float64")]
ORDERS = ["LowByteFirst", "HighByteFirst"]
CALIB = {"MCA a": -0.0123, "MCA b": 0.01, "MCA c": 1.5e-8}


def write(name, images, edf_type, order, header=None):
    f = EdfFile.EdfFile(name, "wb")
    for img in images:
        f.WriteImage(dict(header or {}), img, DataType=edf_type, ByteOrder=order)
    del f


def pymca_stack(first):
    s = EDFStack.EDFStack()
    s.loadIndexedStack(first)
    return s


def check(tmp, exe, edf_type, np_type, name, order, seed):
    d = os.path.join(tmp, "%s_%s" % (edf_type, order))
    os.makedirs(d)
    cube = ec.test_values(np_type, (ROWS, COLS, P), seed)

    # one file per row, numbered; a gap, then a stray file that is not part of it
    series = [os.path.join(d, "map_%04d.edf" % r) for r in range(ROWS)]
    for r, f in enumerate(series):
        write(f, [cube[r]], edf_type, order, CALIB)
    write(os.path.join(d, "map_%04d.edf" % (ROWS + 1)), [cube[0]], edf_type, order, CALIB)
    ref = pymca_stack(series[1])
    if not numpy.array_equal(ref.data, cube):
        ec.fail("%s %s: PyMca does not read its own series back" % (edf_type, order))
    if len(ref.info["SourceName"]) != ROWS:
        ec.fail("%s %s: PyMca finds %d files" % (edf_type, order, len(ref.info["SourceName"])))
    calib = " ".join(repr(float(v)) for v in ref.info["McaCalib"])
    info = ec.compare("PyMca %s %s series" % (edf_type, order), exe, [series[1]], d, ref.data,
                      name, {"source": series[0], "storage": "uncompressed, %d files" % ROWS})
    if info is not None:
        got = [float(v) for v in info.get("calib", "").split()]
        if got != [float(v) for v in calib.split()]:
            ec.fail("%s %s: calibration %s, PyMca has %s" % (edf_type, order, got, calib))

    # one 3-D file
    cube_file = os.path.join(d, "cube.edf")
    write(cube_file, [cube], edf_type, order)
    ref = pymca_stack(cube_file)
    ec.compare("PyMca %s %s 3-D" % (edf_type, order), exe, [cube_file], d, ref.data, name)

    # one file, one block per row
    blocks = os.path.join(d, "blocks.edf")
    write(blocks, list(cube), edf_type, order)
    ref = pymca_stack(blocks)
    ec.compare("PyMca %s %s blocks" % (edf_type, order), exe, [blocks], d, ref.data, name,
               {"path": "%d blocks" % ROWS})

    # whole-file gzip (EdfFile reads .gz names through Python's gzip)
    for src in (cube_file, blocks):
        dst = src + ".gz"
        with open(src, "rb") as f, gzip.open(dst, "wb") as g:
            shutil.copyfileobj(f, g)
        e = EdfFile.EdfFile(dst, "rb")
        ref = numpy.array([e.GetData(k) for k in range(e.GetNumImages())])
        ref = ref.reshape(ROWS, COLS, P)
        ec.compare("PyMca %s %s %s" % (edf_type, order, os.path.basename(dst)), exe, [dst], d,
                   ref, name, {"storage": "gzip"})


def check_long64(tmp, exe):
    """SignedLong/UnsignedLong with 8 bytes per value (PyMca reads them as 64-bit when
    Size / values == 8, but writes Longs as 32-bit), so the files are made by hand."""
    d = os.path.join(tmp, "long64")
    os.makedirs(d)
    for edf_type, np_type in (("SignedLong", "int64"), ("UnsignedLong", "uint64")):
        cube = ec.test_values(np_type, (ROWS, COLS, P), 99)
        name = os.path.join(d, "%s.edf" % edf_type)
        lines = ("{\nByteOrder = HighByteFirst ;\nDataType = %s ;\nDim_1 = %d ;\n"
                 "Dim_2 = %d ;\nDim_3 = %d ;\nSize = %d ;\n" % (edf_type, P, COLS, ROWS, cube.size * 8))
        with open(name, "wb") as f:
            f.write((lines.ljust(1022) + "}\n").encode("ascii"))
            f.write(cube.astype(">" + numpy.dtype(np_type).str[1:]).tobytes())
        e = EdfFile.EdfFile(name, "rb")
        ref = e.GetData(0)
        if ref.dtype != numpy.dtype(np_type) or not numpy.array_equal(ref, cube):
            ec.fail("%s as 8 bytes: PyMca reads %s" % (edf_type, ref.dtype))
        ec.compare("PyMca %s 8 bytes" % edf_type, exe, [name], d, ref, np_type)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    tmp = os.path.abspath(sys.argv[1])
    os.makedirs(tmp, exist_ok=True)
    exe = ec.build_dump(tmp, sys.argv[2] if len(sys.argv) > 2 else None)
    seed = 0
    for edf_type, np_type, name in TYPES:
        for order in ORDERS:
            check(tmp, exe, edf_type, np_type, name, order, seed)
            seed += 1
    check_long64(tmp, exe)
    ec.finish("edf_pymca (PyMca %s)" % PyMca5.version())


if __name__ == "__main__":
    main()
