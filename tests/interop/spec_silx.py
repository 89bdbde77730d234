#!/usr/bin/python3
"""Reads SPEC files with mva and with silx and PyMca, and checks that they agree exactly.

usage: tests/interop/spec_silx.py [--keep DIR] [--bench FILE.spec]

Run from the repository root after `make`.  Writes SPEC files the way beamline files look
(#F/#S/#@MCA/#@CHANN/#@CALIB/#@CTIME headers, "@A" lines of 16 values continued with '\\',
a counter line per point): a mesh scan of integer counts, a mesh of float values, two
detectors per point, one scan per map row, one long @A line per point.  Each is read with
silx.io.specfile.SpecFile (scan.mca[i]), with PyMca5.PyMcaIO.specfilewrapper (scan.mca(i))
and, for the single mesh, with PyMca's SpecFileStack; mva reads it through
tests/interop/dump.c (compiled here against build/lib/libmva.a).  Every value must be equal,
and so must the map shape where the other reader has one.  With --bench, times silx and mva
reading every spectrum of FILE.spec (see make_spec.py).  Exits 1 on the first difference.
"""
import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy
from PyMca5.PyMcaIO import specfilewrapper
from silx.io.specfile import SpecFile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = 0


def check(ok, what):
    global failures
    print("%s  %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures += 1


def build_dump(tmp):
    exe = os.path.join(tmp, "dump")
    # BUILD and MVA_LINK_EXTRA as make sets them (make sanitize links with the sanitizers).
    cmd = ("cc -O2 -Iinclude -Isrc -o %s tests/interop/dump.c %s/lib/libmva.a "
           "$(pkg-config --libs hdf5-serial lapacke openblas zlib) "
           "$(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm %s"
           % (exe, os.environ.get("BUILD", "build"), os.environ.get("MVA_LINK_EXTRA", "")))
    subprocess.run(cmd, shell=True, check=True, cwd=ROOT)
    return exe


def mva_read(dump, path, detector=None, shape=None):
    """(rows, cols, n x p array) as mva reads it; detector "sum" for the sum."""
    out = path + ".f64"
    args = [dump, out, path]
    if detector is not None:
        args += ["--detector", str(detector)]
    if shape is not None:
        args += ["--shape", "%dx%d" % shape]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("mva: %s" % r.stderr.strip())
    info = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    rows, cols, p = int(info["rows"]), int(info["cols"]), int(info["channels"])
    data = numpy.fromfile(out, dtype=numpy.float64).reshape(rows * cols, p)
    os.unlink(out)
    return rows, cols, data


# ---- writing SPEC files ----

def fmt_values(v, style):
    if style == "int":
        return [str(int(x)) for x in v]
    if style == "repr":
        return [repr(float(x)) for x in v]
    return ["%.6e" % x for x in v]


def mca_lines(v, style, per_line):
    vals = fmt_values(v, style)
    if per_line <= 0:
        return "@A " + " ".join(vals) + "\n"
    chunks = [" ".join(vals[k:k + per_line]) for k in range(0, len(vals), per_line)]
    return "@A " + "\\\n ".join(chunks) + "\n"


def write_spec(path, scans, style="int", per_line=16):
    """scans: list of (command, spectra[points][detectors][channels], calibs per detector)."""
    with open(path, "w", newline="\n") as f:
        f.write("#F %s\n#E 1700000000\n#D Thu Nov 14 10:00:00 2024\n#C interop test\n"
                "#O0 samy  samz\n\n" % path)
        for s, (command, spectra, calibs) in enumerate(scans):
            points, ndet, p = spectra.shape
            f.write("#S %d %s\n#D Thu Nov 14 10:00:00 2024\n#T 0.1  (Seconds)\n" % (s + 1, command))
            f.write("#G0 0\n#Q\n#P0 0 0\n")
            for d in range(ndet):
                f.write("#@MCA %dC\n#@CHANN %d 0 %d 1\n#@CALIB %.9g %.9g %.9g\n"
                        "#@CTIME 0.1 0.0987 0.1\n" % ((per_line or p), p, p - 1, *calibs[d]))
            f.write("#N 3\n#L samy  samz  I0\n")
            for k in range(points):
                for d in range(ndet):
                    f.write(mca_lines(spectra[k, d], style, per_line))
                f.write("%d %d %d\n" % (k, s, 100000 + k))
            f.write("\n")


def mesh(n1, n2):
    return "mesh samy 0 1 %d samz 0 1 %d 0.1" % (n1, n2)


# ---- the other readers ----

def silx_spectra(path):
    """Per scan with MCA data: array points x detectors x channels, from silx."""
    out = []
    sf = SpecFile(path)
    for scan in sf:
        n = len(scan.mca)
        if n == 0:
            continue
        lines = scan.data.shape[1] if scan.data.ndim == 2 else 0
        ndet = n // lines if lines and n % lines == 0 else len(scan.mca.channels)
        a = numpy.array([scan.mca[i] for i in range(n)])
        out.append(a.reshape(n // ndet, ndet, -1))
    sf.close()
    return out


def pymca_spectra(path):
    """The same from PyMca's specfilewrapper (MCA numbers start at 1)."""
    out = []
    sf = specfilewrapper.Specfile(path)
    for i in range(sf.scanno()):
        scan = sf[i]
        n = scan.nbmca()
        if n == 0:
            continue
        lines = scan.lines()
        ndet = n // lines if lines and n % lines == 0 else n
        a = numpy.array([scan.mca(k + 1) for k in range(n)])
        out.append(a.reshape(n // ndet, ndet, -1))
    return out


def pymca_stack(path):
    from PyMca5.PyMcaIO.SpecFileStack import SpecFileStack
    st = SpecFileStack()
    st.loadIndexedStack(path)
    return numpy.asarray(st.data)


def same(a, b):
    return a.shape == b.shape and numpy.array_equal(a, b)


def compare(dump, path, name, expect_shape=None, ref=None):
    """mva against silx and PyMca for every detector and their sum."""
    sx = silx_spectra(path)
    pm = pymca_spectra(path)
    check(len(sx) == len(pm) and all(same(a, b) for a, b in zip(sx, pm)),
          "%s: silx and PyMca agree" % name)
    if ref is not None:
        check(all(same(a, b) for a, b in zip(sx, ref)), "%s: silx reads what was written" % name)
    allpts = numpy.concatenate(sx)          # pixels x detectors x channels
    ndet = allpts.shape[1]
    # --detector applies to several MCAs per point only; the default is their sum
    for d in (list(range(ndet)) + ["sum", None]) if ndet > 1 else [None]:
        rows, cols, data = mva_read(dump, path, detector=d)
        want = allpts.sum(axis=1) if d in ("sum", None) else allpts[:, d, :]
        check(same(data, want), "%s, detector %s: mva == silx (%d spectra x %d channels)"
              % (name, d, data.shape[0], data.shape[1]))
        if expect_shape is not None:
            check((rows, cols) == expect_shape, "%s, detector %s: shape %dx%d (expected %dx%d)"
                  % (name, d, rows, cols, *expect_shape))
    return allpts


def run_checks(dump, tmp):
    rng = numpy.random.default_rng(20240611)

    # 1. mesh scan of integer counts, 16 values a line, 2000 channels is not a multiple of 16
    n1, n2, p = 8, 5, 1000
    counts = rng.poisson(rng.uniform(0, 40, p), size=((n1 + 1) * (n2 + 1), 1, p))
    counts[3, 0, :] = 0
    counts[4, 0, 7] = 4000000000            # beyond int32
    path = os.path.join(tmp, "mesh.spec")
    write_spec(path, [(mesh(n1, n2), counts, [(0.0, 0.01, 1e-7)])])
    allpts = compare(dump, path, "mesh, integers", (n2 + 1, n1 + 1), [counts.astype(float)])
    try:
        st = pymca_stack(path)
        check(same(st.reshape(-1, p).astype(float), allpts[:, 0, :]),
              "mesh, integers: mva == PyMca SpecFileStack %s" % (st.shape,))
    except Exception as e:   # SpecFileStack is an optional extra
        print("skip  PyMca SpecFileStack: %s" % e)

    # 2. mesh of floats, shortest round-trip repr and %.6e
    vals = rng.normal(0, 1e3, size=(12, 1, 37)) * 10.0 ** rng.integers(-30, 30, size=(12, 1, 37))
    vals[0, 0, :5] = [0.1, -0.0, 1e-310, 123456789.123456789, 2.5]
    for style in ("repr", "sci"):
        path = os.path.join(tmp, "float_%s.spec" % style)
        write_spec(path, [(mesh(3, 2), vals, [(0.1, 0.02, 0)])], style=style)
        ref = [vals] if style == "repr" else None     # %.6e rounds what was written
        compare(dump, path, "mesh, floats (%s)" % style, (3, 4), ref)

    # 3. two detectors per point, a counter line after each point
    two = rng.poisson(20, size=(15, 2, 300))
    path = os.path.join(tmp, "two.spec")
    write_spec(path, [(mesh(4, 2), two, [(0, 0.01, 0), (0.05, 0.011, 0)])])
    compare(dump, path, "two detectors", (3, 5), [two.astype(float)])

    # 4. one scan per map row, a long single @A line per point
    rows = [rng.poisson(5, size=(11, 1, 64)) for _ in range(6)]
    path = os.path.join(tmp, "rows.spec")
    write_spec(path, [("ascan samy 0 1 10 0.1", r, [(0, 0.01, 0)]) for r in rows], per_line=0)
    compare(dump, path, "one scan per row", (6, 11), [r.astype(float) for r in rows])

    # 5. scans of different lengths: one row
    parts = [rng.poisson(5, size=(k, 1, 20)) for k in (4, 7, 2)]
    path = os.path.join(tmp, "unequal.spec")
    write_spec(path, [("ascan samy 0 1 %d 0.1" % (len(a) - 1), a, [(0, 1, 0)]) for a in parts])
    compare(dump, path, "unequal scans", (1, 13))


def mva_timings(path, block=256):
    """Index (open) and parse (read every pixel) times of mva_spec_open through ctypes."""
    lib = ctypes.CDLL(os.path.join(ROOT, "build/lib/libmva.so"))
    err = ctypes.create_string_buffer(4 + 1024)          # struct mva_error
    stack = ctypes.c_void_p()
    lib.mva_stack_get_info.restype = ctypes.POINTER(ctypes.c_size_t)
    t0 = time.perf_counter()
    if lib.mva_spec_open(ctypes.byref(stack), path.encode(), None, err) != 0:
        raise RuntimeError(err.raw[4:].split(b"\0")[0].decode())
    t1 = time.perf_counter()
    info = lib.mva_stack_get_info(stack)                # rows, cols, channels come first
    n, p = info[0] * info[1], info[2]
    buf = numpy.empty((block, p))
    for first in range(0, n, block):
        count = min(block, n - first)
        if lib.mva_stack_read(stack, ctypes.c_size_t(first), ctypes.c_size_t(count),
                              buf.ctypes.data_as(ctypes.c_void_p), err) != 0:
            raise RuntimeError(err.raw[4:].split(b"\0")[0].decode())
    t2 = time.perf_counter()
    lib.mva_stack_close(stack)
    return t1 - t0, t2 - t1


def bench(dump, path):
    size = os.path.getsize(path) / 1e6
    with open(path, "rb") as f:          # into the page cache
        while f.read(1 << 24):
            pass
    t0 = time.perf_counter()
    sf = SpecFile(path)
    t1 = time.perf_counter()
    s = 0.0
    for scan in sf:
        for i in range(len(scan.mca)):
            s += scan.mca[i][0]
    t2 = time.perf_counter()
    print("silx  %s (%.1f MB): open %.3f s, every spectrum %.3f s, total %.3f s = %.0f MB/s"
          % (path, size, t1 - t0, t2 - t1, t2 - t0, size / (t2 - t0)))
    ti, tp = mva_timings(path)
    print("mva   %s (%.1f MB): index %.3f s = %.0f MB/s, parse %.3f s = %.0f MB/s, "
          "total %.3f s = %.0f MB/s" % (path, size, ti, size / ti, tp, size / tp, ti + tp,
                                        size / (ti + tp)))
    out = os.path.join(os.path.dirname(dump), "bench.f64")
    t0 = time.perf_counter()
    subprocess.run([dump, out, path, "--block", "256"], check=True, capture_output=True)
    t1 = time.perf_counter()
    written = os.path.getsize(out) / 1e6
    os.unlink(out)
    print("mva   dump process (open, read, write %.0f MB of float64): %.3f s" % (written, t1 - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="write the test files into this directory and keep them")
    ap.add_argument("--bench", help="time silx and mva on this SPEC file")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="mva-spec-interop-")
    os.makedirs(tmp, exist_ok=True)
    try:
        dump = build_dump(tmp)
        run_checks(dump, tmp)
        if a.bench:
            bench(dump, a.bench)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
