"""Shared by edf_fabio.py and edf_pymca.py: build tests/interop/dump.c, run it, compare.

dump writes every pixel of a stack as raw float64 and its description as key=value lines;
the scripts compare those with what fabio or PyMca read from the same files.
"""
import os
import subprocess
import sys

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

failures = []
checks = [0]


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def build_dump(tmpdir, dump=None):
    """The dump executable: DUMP when it is one, else tests/interop/dump.c (or DUMP, a .c
    file) compiled against $BUILD/lib/libmva.a (BUILD defaults to build)."""
    if dump and not dump.endswith(".c"):
        return os.path.abspath(dump)
    src = os.path.abspath(dump or os.path.join(ROOT, "tests", "interop", "dump.c"))
    exe = os.path.join(os.path.abspath(tmpdir), "dump")
    build = os.environ.get("BUILD", "build")
    cmd = ("cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -o '%s' '%s' %s/lib/libmva.a "
           "$(pkg-config --libs hdf5-serial lapacke openblas zlib) "
           "$(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm %s"
           % (exe, src, build, os.environ.get("MVA_LINK_EXTRA", "")))
    subprocess.run(cmd, shell=True, check=True, cwd=ROOT)
    return exe


def dump(exe, args, tmpdir):
    """Runs dump on args; returns (info dict, pixels as an n x p float64 array) or
    (None, error text)."""
    raw = os.path.join(tmpdir, "dump.raw")
    r = subprocess.run([exe, raw] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    info = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    p = int(info["channels"])
    data = numpy.fromfile(raw, dtype=numpy.float64).reshape(-1, p)
    return info, data


def compare(what, exe, args, tmpdir, expected, dtype=None, extra=None):
    """Dumps args and checks the shape (rows, cols, channels), the values (exactly) and,
    when given, the dtype name and other info fields."""
    checks[0] += 1
    info, got = dump(exe, args, tmpdir)
    if info is None:
        fail("%s: dump failed: %s" % (what, got))
        return None
    expected = numpy.asarray(expected)
    rows, cols, p = expected.shape
    shape = (int(info["rows"]), int(info["cols"]), int(info["channels"]))
    if shape != (rows, cols, p):
        fail("%s: shape %s, expected %s" % (what, shape, (rows, cols, p)))
        return info
    want = expected.reshape(rows * cols, p).astype(numpy.float64)
    if not numpy.array_equal(got, want):
        bad = numpy.argwhere(got != want)[0]
        fail("%s: pixel %d channel %d is %r, expected %r (%d values differ)"
             % (what, bad[0], bad[1], got[bad[0], bad[1]], want[bad[0], bad[1]],
                int(numpy.count_nonzero(got != want))))
    if dtype is not None and info.get("dtype") != dtype:
        fail("%s: dtype %s, expected %s" % (what, info.get("dtype"), dtype))
    for key, value in (extra or {}).items():
        if info.get(key) != value:
            fail("%s: %s = %r, expected %r" % (what, key, info.get(key), value))
    return info


def test_values(dtype, shape, seed):
    """Values spanning most of an integer type's range (both ends included), or floats
    of several magnitudes with negative values."""
    rng = numpy.random.default_rng(seed)
    dt = numpy.dtype(dtype)
    if dt.kind in "iu":
        lo, hi = numpy.iinfo(dt).min, numpy.iinfo(dt).max
        if dt.itemsize == 8:  # keep values exact in float64 for the comparison
            lo, hi = max(lo, -2**53), min(hi, 2**53)
        a = rng.integers(lo, hi, size=shape, dtype=dt, endpoint=True)
        a.flat[0], a.flat[-1] = lo, hi
        return a
    return (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 6, size=shape)).astype(dt)


def _item_size(datatype):
    return {"signedbyte": 1, "unsignedbyte": 1, "signedshort": 2, "unsignedshort": 2,
            "signedinteger": 4, "unsignedinteger": 4, "signedlong": 4, "unsignedlong": 4,
            "signed64": 8, "unsigned64": 8, "floatvalue": 4, "doublevalue": 8}[datatype.lower()]


def rewrite_edf(src, dst, edit_header, swap=False):
    """Copies an EDF file block by block, passing each header text through edit_header
    (the padding before the closing brace is adjusted so that the header keeps its length
    when it can) and byte-swapping the data when swap."""
    with open(src, "rb") as f:
        blob = f.read()
    out = bytearray()
    pos = 0
    while pos < len(blob):
        start = blob.index(b"{", pos)
        end = blob.index(b"}\n", start) + 2
        header = blob[start:end].decode("ascii")
        keys = {}
        for line in header.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                keys[k.strip().lower()] = v.split(";", 1)[0].strip()
        size = int(keys["size"])
        new = edit_header(header)
        body = new[:-2].rstrip(" ")
        pad = len(header) - 2 - len(body)
        new = body + " " * max(pad, 0) + "}\n"
        out += blob[pos:start] + new.encode("ascii")
        data = blob[end:end + size]
        if swap:
            item = _item_size(keys["datatype"])
            data = numpy.frombuffer(data, dtype="u%d" % item).byteswap().tobytes()
        out += data
        pos = end + size
    with open(dst, "wb") as f:
        f.write(bytes(out))


def byteswap_edf(src, dst):
    """Rewrites an EDF file written LowByteFirst as HighByteFirst."""
    rewrite_edf(src, dst, lambda h: h.replace("LowByteFirst", "HighByteFirst"), swap=True)


def finish(name):
    if failures:
        print("%s: %d of %d checks failed" % (name, len(failures), checks[0]))
        sys.exit(1)
    print("%s: all %d checks passed" % (name, checks[0]))
    sys.exit(0)
