#!/usr/bin/python3
"""Writes a map as a SPEC file of MCA spectra, the way beamline files look.

    make_spec.py [-i samples/out/map.h5] [-o samples/out/map.spec] [--per-line 16]
                 [--no-counters] [--calib A,B,C] [--snake]

The map (rows x cols x channels, /entry/data/data of mva-gen's output by default) becomes one
mesh scan "#S 1 mesh samy 0 1 <cols-1> samz 0 1 <rows-1> 0.1" with #@MCA/#@CHANN/#@CALIB/
#@CTIME headers and, per point, one "@A" line (PyMca's layout: --per-line values per line,
each line but the last ending in '\\'; --per-line 0 writes one long line) followed by a
counter line "samy samz Seconds I0" (--snake: odd rows recorded right to left).  The default
101 x 200 x 2000 map of mva-gen gives 88 MB (83 MB with --per-line 0).
"""
import argparse
import time

import h5py
import numpy


def mca_text(row, per_line):
    vals = [str(v) for v in row.tolist()]
    if per_line <= 0 or len(vals) <= per_line:
        return "@A " + " ".join(vals) + "\n"
    lines = [" ".join(vals[k:k + per_line]) for k in range(0, len(vals), per_line)]
    return "@A " + "\\\n ".join(lines) + "\n"


def write_spec(out, data, per_line=16, counters=True, calib=(0.0, 0.01, 0.0), snake=False,
               jitter=0.0):
    """snake: odd rows recorded right to left (spectra and samy positions); jitter: samy off
    its grid point by up to that many steps (alternating signs), as a real motor is."""
    rows, cols, p = data.shape
    now = time.strftime("%a %b %d %H:%M:%S %Y")
    with open(out, "w", newline="\n") as f:
        f.write("#F %s\n#E %d\n#D %s\n#C mva synthetic XRF map\n#O0 samy  samz\n\n"
                % (out, int(time.time()), now))
        f.write("#S 1 mesh samy 0 1 %d samz 0 1 %d 0.1\n" % (cols - 1, rows - 1))
        f.write("#D %s\n#T 0.1  (Seconds)\n#P0 0 0\n" % now)
        f.write("#@MCA %dC\n" % (per_line if per_line > 0 else p))
        f.write("#@CHANN %d 0 %d 1\n" % (p, p - 1))
        f.write("#@CALIB %.9g %.9g %.9g\n" % tuple(calib))
        f.write("#@CTIME 0.1 0.1 0.1\n")
        if counters:
            f.write("#N 4\n#L samy  samz  Seconds  I0\n")
        for r in range(rows):
            block = data[r]
            for k in range(cols):
                c = cols - 1 - k if snake and r % 2 else k
                f.write(mca_text(block[c], per_line))
                if counters:
                    x = c + jitter * (1 if (r + c) % 2 else -1)
                    f.write("%.6g %g 0.1 %d\n" % (x, r * 1.0, 100000))


def read_map(path, dataset="/entry/data/data"):
    """The (rows, cols, channels) map of an HDF5 file (mva-gen's output by default)."""
    with h5py.File(path, "r") as h:
        return numpy.asarray(h[dataset][()])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--input", default="samples/out/map.h5")
    ap.add_argument("-d", "--dataset", default="/entry/data/data")
    ap.add_argument("-o", "--output", default="samples/out/map.spec")
    ap.add_argument("--per-line", type=int, default=16,
                    help="values per line, continued with '\\' (0: one line per spectrum)")
    ap.add_argument("--no-counters", action="store_true", help="no counter line per point")
    ap.add_argument("--calib", default="0,0.01,0", help="A,B,C of #@CALIB")
    ap.add_argument("--snake", action="store_true", help="odd rows recorded right to left")
    a = ap.parse_args()
    data = read_map(a.input, a.dataset)
    calib = [float(x) for x in a.calib.split(",")]
    write_spec(a.output, numpy.asarray(data), a.per_line, not a.no_counters, calib, a.snake)
    print("%s: %d x %d x %d" % (a.output, *data.shape))


if __name__ == "__main__":
    main()
