#!/usr/bin/python3
"""Reads SPEC files with mva and with silx and PyMca, and checks that they agree exactly.

usage: tests/interop/spec_silx.py [--keep DIR] [--bench FILE.spec]

Run from the repository root after `make`.  Writes SPEC files the way beamline files look
(#F/#S/#@MCA/#@CHANN/#@CALIB/#@CTIME headers, "@A" lines of 16 values continued with '\\',
a counter line per point): a mesh scan of integer counts, a mesh of float values, two
detectors per point, one scan per map row, one long @A line per point.  Each is read with
silx.io.specfile.SpecFile (scan.mca[i]), with PyMca5.PyMcaIO.specfilewrapper (scan.mca(i))
and, for the single mesh, with PyMca's SpecFileStack; then the real APS 33-ID file of
../shared/realdata (and a copy of it with counts in its @A lines, its own being all zero)
against silx and our own numpy parse: points, --scan, the warning for the spectra after a
scan's last counter line, --norm COUNTER, an exact PCA (numpy eigh), a broken scan skipped or
refused, an unknown counter refused.  mva reads it through
tests/interop/dump.c (compiled here against build/lib/libmva.a).  Every value must be equal,
and so must the map shape where the other reader has one.  With --bench, times silx and mva
reading every spectrum of FILE.spec (see make_spec.py).  Exits 1 on the first difference.
"""
import argparse
import ctypes
import os
import re
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
            words = command.split()  # samy on the grid: its column of a mesh
            cols = int(words[4]) + 1 if words[0] == "mesh" else points
            for k in range(points):
                for d in range(ndet):
                    f.write(mca_lines(spectra[k, d], style, per_line))
                f.write("%d %d %d\n" % (k % cols, s, 100000 + k))
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

    # 5. scans of different lengths and motors (no rows of one map): one row
    parts = [rng.poisson(5, size=(k, 1, 20)) for k in (4, 7, 2)]
    path = os.path.join(tmp, "unequal.spec")
    write_spec(path, [("ascan %s 0 1 %d 0.1" % (m, len(a) - 1), a, [(0, 1, 0)])
                      for m, a in zip(("samy", "samz", "samx"), parts)])
    compare(dump, path, "unequal scans", (1, 13))


# ---- the real APS 33-ID file (../shared/realdata/33id_spec.dat) ----

REAL = os.path.join(os.path.dirname(ROOT), "shared", "realdata", "33id_spec.dat")
BIN = os.path.join(ROOT, os.environ.get("BUILD", "build"), "bin")


def numpy_parse(path):
    """Our own reading of a SPEC file, independent of mva and silx: per scan its number, #L
    labels, points (counter line + the @A spectra written just before it) and the spectra
    after its last counter line."""
    scans, cur = [], None
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#S "):
            cur = {"number": int(line.split()[1]), "labels": [], "points": [], "run": [],
                   "line": i + 1}
            scans.append(cur)
        elif cur is not None and line.startswith("#L"):
            cur["labels"] = re.split(r"\s{2,}", line[2:].strip())
        elif cur is not None and line.startswith("@"):
            text = line.split(None, 1)[1] if " " in line else ""
            while text.rstrip().endswith("\\"):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i]
            cur["run"].append(numpy.array(text.split(), dtype=float))
        elif cur is not None and re.match(r"\s*[-+.0-9]", line):
            cur["points"].append((numpy.array(line.split(), dtype=float), cur["run"]))
            cur["run"] = []
        i += 1
    for s in scans:
        s["extra"] = len(s.pop("run"))
        s["spectra"] = numpy.array([r[0] for _, r in s["points"]])   # one MCA per point
        s["counters"] = numpy.array([c for c, _ in s["points"]])
    return scans


def with_counts(src, dst, seed=33):
    """The real file with every value of every @A line replaced by counts (line structure,
    continuations, headers and counters as they are): the real file's spectra are all zero.
    Two peaks whose heights vary with the point, Poisson noise, so that PCA has something."""
    rng = numpy.random.default_rng(seed)
    ch = numpy.arange(91)
    a, b = numpy.exp(-0.5 * ((ch - 30) / 3.0) ** 2), numpy.exp(-0.5 * ((ch - 62) / 4.0) ** 2)
    out, k, spec = [], 0, None
    cont = False
    for line in open(src).read().split("\n"):
        if line.startswith("@") or cont:
            if not cont:
                t = rng.uniform(0, 1, 2)
                spec, k = rng.poisson(2 + 300 * t[0] * a + 150 * t[1] * b), 0
            head = line.split(None, 1)[0] + " " if line.startswith("@") else " "
            body = line.split(None, 1)[1] if line.startswith("@") else line
            n = len(body.replace("\\", " ").split())
            cont = body.rstrip().endswith("\\")
            vals = " ".join(str(v) for v in spec[k:k + n])
            k += n
            out.append(head + vals + ("\\" if cont else ""))
        else:
            out.append(line)
    open(dst, "w").write("\n".join(out))


def mva_run(dump, path, **opts):
    """(info dict with a list of warnings, n x p array) or raises with mva's message."""
    out = path + ".f64"
    args = [dump, out, path]
    for k, v in opts.items():
        args += ["--" + k, str(v)]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    info, warns = {}, []
    for line in r.stdout.splitlines():
        key, _, val = line.partition("=")
        if key == "warning":
            warns.append(val)
        else:
            info[key] = val
    info["warnings"] = warns
    data = numpy.fromfile(out, dtype=numpy.float64).reshape(-1, int(info["channels"]))
    os.unlink(out)
    return info, data


def mva_fails(dump, path, **opts):
    try:
        mva_run(dump, path, **opts)
    except RuntimeError as e:
        return str(e)
    return ""


def run_real_checks(dump, tmp):
    if not os.path.exists(REAL):
        print("skip  %s missing" % REAL)
        return
    mine = numpy_parse(REAL)
    sf = SpecFile(REAL)
    keys = sf.keys()
    # silx agrees with our reading: points = counter lines, their spectra = the first MCAs,
    # the others come after the last counter line
    ok = len(keys) == len(mine) == 106
    for key, s in zip(keys, mine):
        scan = sf[key]
        pts = scan.data.shape[1]
        ok = ok and pts == len(s["points"]) and len(scan.mca) == pts + s["extra"]
        ok = ok and all(numpy.array_equal(scan.mca[i], s["spectra"][i]) for i in range(pts))
        ok = ok and all(len(r) == 1 for _, r in s["points"])
    check(ok, "33id: silx == numpy parse (106 scans, one @A before each counter line)")
    extra = sum(s["extra"] for s in mine)
    check(extra == 130 and sum(1 for s in mine if s["extra"]) == 55,
          "33id: 130 spectra in 55 scans come after the last counter line")
    check(not numpy.any(numpy.concatenate([s["spectra"] for s in mine])),
          "33id: every MCA value of the real file is 0 (hence a copy with counts below)")

    # the whole file: every scan, the extra spectra said, 91 channels
    info, x = mva_run(dump, REAL)
    want = numpy.concatenate([s["spectra"] for s in mine])
    check(x.shape == (4130, 91) and numpy.array_equal(x, want),
          "33id: mva reads 4130 points x 91 channels (#@CHANN 1201 1110 1200 1)")
    w = info["warnings"]
    check(len(w) == 1 and w[0].startswith(
        "130 MCA spectra after the last counter line of their scans belong to no scan point "
        "(SPEC writes a spectrum for every count, also a 'ct' after the scan) and are not "
        "read: scans 26 (3 from line 9467), 27 (1 from line 10370)") and
        w[0].endswith("and 47 more scans"), "33id: the warning for the extra spectra: %s" % w)
    info, x = mva_run(dump, REAL, scan=102)
    check(x.shape == (21, 91) and info["warnings"] == [
        "2 MCA spectra after the last counter line of a scan belong to no scan point (SPEC "
        "writes a spectrum for every count, also a 'ct' after the scan) and are not read: "
        "scan 102 (2 from line 32783)"], "33id --scan 102: 21 points, 2 spectra said")

    # a copy with counts: values, mesh shape, PCA and normalisation against numpy and silx
    counts = os.path.join(tmp, "33id_counts.spec")
    with_counts(REAL, counts)
    mine = numpy_parse(counts)
    sf = SpecFile(counts)
    s22 = mine[21]
    info, x = mva_run(dump, counts, scan=22)
    silx22 = numpy.array([sf["22.1"].mca[i] for i in range(121)])
    check((info["rows"], info["cols"]) == ("11", "11") and numpy.array_equal(x, s22["spectra"])
          and numpy.array_equal(x, silx22), "33id counts --scan 22: 11 x 11 mesh == silx == numpy")
    # scan 29 is a mesh aborted after 81 of its 121 points: whole rows, the rest NaN (masked)
    info, x = mva_run(dump, counts, scan=29)
    s29 = mine[28]["spectra"]
    check((info["rows"], info["cols"]) == ("8", "11") and len(s29) == 81
          and numpy.array_equal(x[:81], s29) and numpy.isnan(x[81:]).all()
          and any("scan 29: the mesh stopped after 81 points, in row 8 of 11 points; the 7 "
                  "pixels it did not reach are masked (NaN)" in w for w in info["warnings"]),
          "33id counts --scan 29: aborted mesh as 8 x 11, the 7 pixels not reached NaN, said")
    info, x = mva_run(dump, counts, scan=29, norm="I0")
    i0 = mine[28]["counters"][:, mine[28]["labels"].index("I0")]
    check(numpy.allclose(x[:81], s29 * (i0.mean() / i0)[:, None], rtol=1e-12, atol=0)
          and numpy.isnan(x[81:]).all(), "33id counts --scan 29 --norm I0: reached pixels == numpy")
    info, x = mva_run(dump, counts, scan="26,28:30")
    want = numpy.concatenate([mine[k]["spectra"] for k in (25, 27, 28, 29)])
    check(numpy.array_equal(x, want) and info["path"].startswith("scans 26,28,29,30"),
          "33id counts --scan 26,28:30 == numpy (%d points)" % len(want))
    i0 = s22["counters"][:, s22["labels"].index("I0")]
    info, x = mva_run(dump, counts, scan=22, norm="I0")
    nx = s22["spectra"] * (i0.mean() / i0)[:, None]
    check(numpy.allclose(x, nx, rtol=1e-12, atol=0) and "counter I0" in info["norm"],
          "33id counts --scan 22 --norm I0 == numpy (x * mean(I0) / I0)")
    sec = s22["counters"][:, s22["labels"].index("seconds")]
    info, x = mva_run(dump, counts, scan=22, norm="seconds@2")
    check(numpy.allclose(x, s22["spectra"] * (2 / sec)[:, None], rtol=1e-12, atol=0),
          "33id counts --norm seconds@2 == numpy")
    msg = mva_fails(dump, counts, scan=22, norm="Foo")
    check("33id_counts.spec: line 5770 (scan 22): no counter 'Foo' in #L; its counters: eta, "
          "chi, H, K, L, elastic, Kalpha, Epoch, seconds, signal, I00, harmonic, signal2, I0, "
          "I0" in msg, "33id: an unknown counter is an error listing the counters: %s" % msg)

    # exact PCA of the normalised mesh against numpy eigh of the covariance
    out = os.path.join(tmp, "pca22.h5")
    r = subprocess.run([os.path.join(BIN, "mva-pca"), counts, "--scan", "22", "--norm", "I0",
                        "--method", "exact", "-k", "5", "-q", "-o", out],
                       capture_output=True, text=True)
    ok = r.returncode == 0
    if ok:
        import h5py
        xc = nx - nx.mean(0)
        ev, v = numpy.linalg.eigh(xc.T @ xc / (nx.shape[0] - 1))
        ev, v = ev[::-1][:5], v[:, ::-1][:, :5]
        with h5py.File(out, "r") as f:
            e = f[f.attrs["default"]]
            got, sp = e["eigenvalues"][()][:5], e["eigenspectra/data"][()][:5]
        ok = numpy.allclose(got, ev, rtol=1e-10, atol=0)
        for k in range(5):
            ok = ok and abs(abs(numpy.dot(sp[k], v[:, k])) / numpy.linalg.norm(sp[k]) - 1) < 1e-8
    check(ok, "33id counts --scan 22 --norm I0: exact PCA == numpy eigh (1e-10) %s"
          % r.stderr.strip())
    if ok:
        with h5py.File(out, "r") as f:
            d = f[f.attrs["default"]]["process/normalisation/factor"]
            fac, src, ref = d[()], d.attrs["source"], d.attrs["reference"]
        ok = (numpy.allclose(fac, (i0.mean() / i0).reshape(11, 11), rtol=1e-12, atol=0)
              and src.startswith("counter I0") and abs(ref - i0.mean()) <= 1e-12 * ref)
    check(ok, "33id counts --scan 22 --norm I0: the factors in the result == numpy (%s)"
          % ("written" if ok else "wrong or missing"))

    # a malformed scan: one spectrum taken out of scan 5 (its point at line L has none)
    lines = open(counts).read().split("\n")
    at = [i for i, l in enumerate(lines) if l.startswith("@")][mine[0]["counters"].shape[0] +
                                                              mine[1]["counters"].shape[0] +
                                                              mine[2]["counters"].shape[0] +
                                                              mine[3]["counters"].shape[0] + 10]
    end = at + 1
    while lines[end - 1].rstrip().endswith("\\"):
        end += 1
    bad = os.path.join(tmp, "33id_bad.spec")
    open(bad, "w").write("\n".join(lines[:at] + lines[end:]))
    info, x = mva_run(dump, bad)
    line = at + 1          # the counter line that lost its spectrum, 1-based, after the cut
    check(x.shape[0] == 4130 - 31 and info["warnings"][0] ==
          "line %d (scan 5): this counter line has 0 MCA spectra beside it, the points before "
          "it 1 (every point must have the same number): scan skipped" % line,
          "33id with scan 5 broken: skipped, the warning says where: %s" % info["warnings"][:1])
    msg = mva_fails(dump, bad, scan=5)
    check(msg.endswith("33id_bad.spec: line %d (scan 5): this counter line has 0 MCA spectra "
                       "beside it, the points before it 1 (every point must have the same "
                       "number)" % line), "33id with scan 5 broken, --scan 5: an error: %s" % msg)


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
        run_real_checks(dump, tmp)
        if a.bench:
            bench(dump, a.bench)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
