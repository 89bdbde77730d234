#!/usr/bin/python3
"""Writes a map as EDF files the way PyMca writes XRF maps: one file per map row, each a 2-D
image of cols spectra x channels (Dim_2 = cols, Dim_1 = channels), headers padded to 1024
bytes with the calibration as "MCA a/b/c" keys.

    make_edf.py -i samples/out/map.h5 -o DIR/map_%04d.edf [--cube DIR/cube.edf]

--cube also writes the whole map as one 3-D EDF (Dim_3 = rows, 512-byte header).
"""
import argparse

import h5py
import numpy


def edf_header(arr, cal, pad):
    dims = "".join("Dim_%d = %d ;\n" % (i + 1, n) for i, n in enumerate(reversed(arr.shape)))
    head = ("{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\n"
            "DataType = UnsignedInteger ;\n%sSize = %d ;\n"
            "MCA a = %r ;\nMCA b = %r ;\nMCA c = %r ;\n"
            % (dims, arr.nbytes, float(cal[0]), float(cal[1]), float(cal[2])))
    head += " " * (pad - (len(head) + 2) % pad) + "}\n"
    return head.encode("ascii")


def write_edf(path, arr, cal, pad=1024):
    with open(path, "wb") as f:
        f.write(edf_header(arr, cal, pad))
        f.write(numpy.ascontiguousarray(arr, dtype="<u4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", default="samples/out/map.h5")
    ap.add_argument("-o", required=True, help="printf pattern of the row files")
    ap.add_argument("--cube")
    a = ap.parse_args()
    with h5py.File(a.i, "r") as f:
        d = f["/entry/data/data"]
        cal = f["/entry/data/calibration"][()]
        for r in range(d.shape[0]):
            write_edf(a.o % r, d[r], cal)
        if a.cube:
            write_edf(a.cube, d[()], cal, pad=512)


if __name__ == "__main__":
    main()
